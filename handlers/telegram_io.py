"""Rendering transport-neutral messages as Telegram calls, and Telegram errors as failures."""

from __future__ import annotations

import datetime as dtm
import logging

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, InputMediaPhoto, Message
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)

from bot.dispatcher import DeliveryError, Failure
from bot.messages import Keyboard, OutMessage
from bot.textfit import split_html, truncate_plain

log = logging.getLogger(__name__)

TEXT_LIMIT = 4096
BUTTON_TEXT_LIMIT = 64  # Telegram accepts more, but a phone screen does not


def markup(buttons: Keyboard) -> InlineKeyboardMarkup | None:
    if not buttons:
        return None
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    truncate_plain(b.text, BUTTON_TEXT_LIMIT), callback_data=b.action
                )
                for b in row
            ]
            for row in buttons
        ]
    )


async def send(bot: Bot, chat_id: int | str, message: OutMessage) -> Message:
    """Send one neutral message; long text goes in several parts, the buttons on the last."""
    if message.photos:
        if len(message.photos) == 1:
            return await bot.send_photo(chat_id, message.photos[0])
        sent = await bot.send_media_group(
            chat_id, [InputMediaPhoto(p) for p in message.photos[:10]]
        )
        return sent[-1]
    if message.location is not None:
        return await bot.send_location(
            chat_id, latitude=message.location[0], longitude=message.location[1]
        )
    parts = split_html(message.text, TEXT_LIMIT)
    last: Message | None = None
    for i, part in enumerate(parts):
        is_last = i == len(parts) - 1
        last = await bot.send_message(
            chat_id,
            part,
            parse_mode=ParseMode.HTML,
            reply_markup=markup(message.buttons) if is_last else None,
            link_preview_options=None,
        )
    assert last is not None
    return last


def seconds_of(value: int | dtm.timedelta) -> float:
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)


def classify(exc: TelegramError) -> DeliveryError:
    """Map a Bot API error to what the dispatcher should do about it."""
    text = str(exc)
    if isinstance(exc, RetryAfter):
        return DeliveryError(Failure.RETRY_AFTER, text, seconds_of(exc.retry_after))
    if isinstance(exc, Forbidden):
        return DeliveryError(Failure.UNREACHABLE, text)
    if isinstance(exc, ChatMigrated):
        return DeliveryError(Failure.BAD_REQUEST, f"chat migrated to {exc.new_chat_id}")
    if isinstance(exc, BadRequest):
        lowered = text.lower()
        if (
            "chat not found" in lowered
            or "user not found" in lowered
            or "peer_id_invalid" in lowered
        ):
            return DeliveryError(Failure.UNREACHABLE, text)
        return DeliveryError(Failure.BAD_REQUEST, text)
    if isinstance(exc, TimedOut | NetworkError):
        return DeliveryError(Failure.TRANSIENT, text or type(exc).__name__)
    return DeliveryError(Failure.TRANSIENT, text or type(exc).__name__)


class TelegramTransport:
    channel = "telegram"

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    def is_group(self, chat_id: str) -> bool:
        return chat_id.startswith("-") or chat_id.startswith("@")

    async def deliver(self, chat_id: str, message: OutMessage) -> str | None:
        target: int | str = int(chat_id) if chat_id.lstrip("-").isdigit() else chat_id
        try:
            sent = await send(self.bot, target, message)
        except TelegramError as exc:
            raise classify(exc) from exc
        return str(sent.message_id)
