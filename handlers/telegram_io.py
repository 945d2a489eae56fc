"""Rendering transport-neutral messages as Telegram calls, and Telegram errors as failures."""

from __future__ import annotations

import asyncio
import datetime as dtm
import functools
import json
import logging
import math
import sys
import warnings
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    InputMediaPhoto,
    Message,
)
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
from telegram.ext import BaseRateLimiter
from telegram.warnings import PTBUserWarning

from bot.dispatcher import DeliveryError, Failure
from bot.media import MediaRegistry, is_local_ref
from bot.messages import Keyboard, OutMessage
from bot.pacing import INTERACTIVE, Pacer
from bot.textfit import split_html, truncate_plain, visible_length

log = logging.getLogger(__name__)

try:
    import sniffio  # noqa: F401
except ImportError:
    # httpcore imports sniffio on every request and, when it is not installed, Python searches
    # sys.path again each time (failed imports are not cached): about 2 ms of CPU per Bot API
    # call, a third of the dispatcher's budget at 300 messages/s. None in sys.modules makes the
    # import fail at once, and httpcore then assumes asyncio, which is what runs here.
    sys.modules["sniffio"] = None  # type: ignore[assignment]

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


@functools.lru_cache(maxsize=512)
def markup_json(buttons: Keyboard) -> str:
    """`markup(buttons)` as the Bot API's JSON, made once per keyboard: the same few keyboards
    (an FAQ answer's 更多问题 / 留言给代表) go with most answers, and building PTB's objects
    to serialise them again each time was a measurable part of an answer's cost."""
    rows = [
        [{"text": truncate_plain(b.text, BUTTON_TEXT_LIMIT), "callback_data": b.action} for b in row]
        for row in buttons
    ]
    return json.dumps({"inline_keyboard": rows}, ensure_ascii=False, separators=(",", ":"))


MAX_INTERACTIVE_WAIT = 10.0  # seconds a direct reply may wait for a 429 to pass

# Passed as rate_limit_args by the dispatcher: its calls are paced already.
PACED: dict[str, Any] = {"paced": True}
CAPTION_LIMIT = 1024
SEND_ENDPOINTS = frozenset(
    {"sendMessage", "sendPhoto", "sendMediaGroup", "sendLocation", "sendDocument", "copyMessage", "forwardMessage"}
)


class Photos:
    """How a message's photos reach Telegram, whatever channel they came from.

    A Telegram file id is passed as it is; a `web:` or `wechat-media:` reference is not
    something Telegram knows (a 400 "wrong file identifier"), so its bytes are fetched through
    the media registry and uploaded, and the file id Telegram gives back is remembered for the
    next time. A photo that cannot be had, or that Telegram refuses, is left out and `note`
    (the catalog's "N photos could not be shown") goes with the text instead: a photo never
    costs the card its text."""

    REMEMBER = 2048  # foreign references whose Telegram file id is kept (in memory)

    def __init__(self, media: MediaRegistry, note: Callable[[int], str]) -> None:
        self.media = media
        self.note = note
        self._file_ids: OrderedDict[str, str] = OrderedDict()

    async def resolve(self, refs: Sequence[str]) -> tuple[list[tuple[str, str | bytes]], int]:
        """(ref, a file id or the bytes to upload) for each photo that can be sent, and how
        many cannot."""
        out: list[tuple[str, str | bytes]] = []
        missing = 0
        for ref in refs:
            if not is_local_ref(ref):
                out.append((ref, ref))
                continue
            known = self._file_ids.get(ref)
            if known is not None:
                self._file_ids.move_to_end(ref)
                out.append((ref, known))
                continue
            data = await self.media.fetch(ref)
            if data is None:
                log.info("photo %s could not be fetched", ref.split(":", 1)[0])
                missing += 1
                continue
            out.append((ref, data))
        return out, missing

    def remember(self, ref: str, sent: Message) -> None:
        if not is_local_ref(ref) or not sent.photo:
            return
        self._file_ids[ref] = sent.photo[-1].file_id
        self._file_ids.move_to_end(ref)
        while len(self._file_ids) > self.REMEMBER:
            self._file_ids.popitem(last=False)

    def forget(self, refs: Sequence[str]) -> None:
        for ref in refs:
            self._file_ids.pop(ref, None)


def _photo_input(photo: str | bytes, *, attach: bool = False) -> str | InputFile:
    return photo if isinstance(photo, str) else InputFile(photo, filename="photo.jpg", attach=attach)


def _refused_photo(exc: BadRequest) -> bool:
    """A 400 about the photo (a wrong or foreign file id, an image Telegram cannot process),
    not about the chat: the text can still go."""
    return classify(exc).failure is Failure.BAD_REQUEST


async def send(
    bot: Bot,
    chat_id: int | str,
    message: OutMessage,
    *,
    paced: bool = False,
    thread_id: int | None = None,
    photos: Photos | None = None,
) -> Message:
    """Send one neutral message; long text goes in several parts, the buttons on the last.

    `thread_id` is the forum topic to answer in (a supergroup's topics, where a message without
    it would land in the General topic). `photos` resolves other channels' photo references
    (without it, references are passed to Telegram as they are)."""
    rl = PACED if paced else None
    if message.attachment is not None:
        return await _send_file(bot, chat_id, message, thread_id=thread_id, rl=rl)
    if message.photos:
        if photos is not None:
            items, missing = await photos.resolve(message.photos)
        else:
            items, missing = [(p, p) for p in message.photos], 0
        sent: Message | None = None
        try:
            # bytes go as an upload; in an album each is its own attach:// part
            single = _photo_input(items[0][1]) if len(items) == 1 else None
            if len(items) == 1 and not missing and message.text and visible_length(message.text) <= CAPTION_LIMIT:
                sent = await bot.send_photo(
                    chat_id,
                    single,
                    caption=message.text,
                    parse_mode=ParseMode.HTML,
                    reply_markup=markup(message.buttons),
                    message_thread_id=thread_id,
                    rate_limit_args=rl,
                )
                if photos is not None:
                    photos.remember(items[0][0], sent)
                return sent
            if len(items) == 1:
                sent = await bot.send_photo(
                    chat_id, single, message_thread_id=thread_id, rate_limit_args=rl
                )
                if photos is not None:
                    photos.remember(items[0][0], sent)
            elif items:
                album = [InputMediaPhoto(_photo_input(p, attach=True)) for _, p in items[:10]]
                group = await bot.send_media_group(
                    chat_id, album, message_thread_id=thread_id, rate_limit_args=rl
                )
                if photos is not None:
                    for (ref, _), one in zip(items, group, strict=False):
                        photos.remember(ref, one)
                sent = group[-1]
        except BadRequest as exc:
            if photos is None or not _refused_photo(exc):
                raise
            log.info("photos refused by Telegram, the text goes without them: %s", exc)
            photos.forget([ref for ref, _ in items])  # a remembered file id may have gone stale
            missing += len(items)
            sent = None
        text = message.text
        if missing and photos is not None:
            note = photos.note(missing)
            text = f"{text}\n\n{note}" if text else note
        if not text:
            assert sent is not None
            return sent
        # An album cannot carry a long caption or buttons: the text follows on its own.
        message = OutMessage(text=text, buttons=message.buttons, wish_id=message.wish_id)
    if message.location is not None:
        return await bot.send_location(
            chat_id,
            latitude=message.location[0],
            longitude=message.location[1],
            message_thread_id=thread_id,
            rate_limit_args=rl,
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
            message_thread_id=thread_id,
            rate_limit_args=rl,
        )
    assert last is not None
    return last


def is_plain_text(message: OutMessage) -> bool:
    """Text and buttons only: what `send_text` sends."""
    return message.attachment is None and not message.photos and message.location is None


async def send_text(
    bot: Bot, chat_id: int | str, message: OutMessage, *, thread_id: int | None = None
) -> int:
    """A text message (see is_plain_text) as `send` sends it, in parts at Telegram's limit and
    the buttons on the last, paced as a direct reply; the last part's message id.

    sendMessage goes without building a Message object from Telegram's answer (as in
    TelegramTransport._text): a direct reply needs only its id, and parsing the rest was
    about a tenth of the CPU an FAQ answer costs under load."""
    parts = split_html(message.text, TEXT_LIMIT)
    message_id = 0
    for i, part in enumerate(parts):
        kwargs: dict[str, Any] = {"chat_id": chat_id, "text": part, "parse_mode": ParseMode.HTML}
        if message.buttons and i == len(parts) - 1:
            kwargs["reply_markup"] = markup_json(message.buttons)  # sent as it is
        if thread_id is not None:
            kwargs["message_thread_id"] = thread_id
        result = await bot.do_api_request("sendMessage", api_kwargs=kwargs)
        message_id = int(result["message_id"])
    return message_id


async def _send_file(
    bot: Bot,
    chat_id: int | str,
    message: OutMessage,
    *,
    thread_id: int | None,
    rl: dict[str, Any] | None,
) -> Message:
    """A generated file (chart: sendPhoto, export: sendDocument) with its text as the caption;
    a text too long for a caption follows on its own."""
    file = message.attachment
    assert file is not None
    fits = visible_length(message.text) <= CAPTION_LIMIT
    caption = message.text if message.text and fits else None
    common: dict[str, Any] = {
        "caption": caption,
        "parse_mode": ParseMode.HTML if caption else None,
        "reply_markup": markup(message.buttons) if caption or not message.text else None,
        "message_thread_id": thread_id,
        "rate_limit_args": rl,
    }
    upload = InputFile(file.data, filename=file.filename)
    if file.is_image:
        sent = await bot.send_photo(chat_id, upload, **common)
    else:
        sent = await bot.send_document(chat_id, upload, **common)
    if message.text and not fits:
        rest = OutMessage(text=message.text, buttons=message.buttons, wish_id=message.wish_id)
        return await send(bot, chat_id, rest, paced=rl is not None, thread_id=thread_id)
    return sent


async def edit(bot: Bot, chat_id: int | str, message_id: int, message: OutMessage) -> None:
    """Replace a message's text and buttons (progress reports); unchanged content is fine."""
    try:
        await bot.edit_message_text(
            split_html(message.text, TEXT_LIMIT)[0],
            chat_id=chat_id,
            message_id=message_id,
            parse_mode=ParseMode.HTML,
            reply_markup=markup(message.buttons),
        )
    except BadRequest as exc:
        if "not modified" not in str(exc).lower():
            raise


def seconds_of(value: int | dtm.timedelta) -> float:
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)


def retry_seconds(exc: RetryAfter) -> float:
    """Telegram's retry_after, without PTB 22's deprecation warning about its future type."""
    raw = getattr(exc, "_retry_after", None)
    if raw is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            raw = exc.retry_after
    return seconds_of(raw)


def quiet_send_message_warning() -> None:
    """PTB's "Please use 'Bot.sendMessage' instead of do_api_request" (TelegramTransport._text
    and send_text mean it), and the same for getUpdates (handlers.polling reads the raw
    updates): ignored, those messages only."""
    warnings.filterwarnings(
        "ignore",
        message=r"Please use 'Bot\.(sendMessage|getUpdates)' instead",
        category=PTBUserWarning,
    )


quiet_send_message_warning()  # send_text and TelegramTransport._text mean it, from the start


def _retry_after(seconds: int) -> RetryAfter:
    with warnings.catch_warnings():  # PTB 22 warns about the future type of retry_after
        warnings.simplefilter("ignore")
        return RetryAfter(seconds)


def classify(exc: TelegramError) -> DeliveryError:
    """Map a Bot API error to what the dispatcher should do about it."""
    text = str(exc)
    if isinstance(exc, RetryAfter):
        return DeliveryError(Failure.RETRY_AFTER, text, retry_seconds(exc))
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


MigrationHook = Callable[[str, str], Coroutine[Any, Any, None]]


class TelegramTransport:
    channel = "telegram"

    def __init__(
        self, bot: Bot, on_migrated: MigrationHook | None = None, photos: Photos | None = None
    ) -> None:
        self.bot = bot
        self.on_migrated = on_migrated
        self.photos = photos
        quiet_send_message_warning()

    @staticmethod
    def is_group(chat_id: str) -> bool:
        # Private chats have the user's (positive) id; groups and channels negative ids or @names.
        return chat_id.startswith("-") or chat_id.startswith("@")

    async def deliver(self, chat_id: str, message: OutMessage) -> str | None:
        try:
            return await self._deliver(chat_id, message)
        except ChatMigrated as exc:
            # A group upgraded to a supergroup has a new id (Telegram's migrate_to_chat_id):
            # the message goes there, and the stored id follows (see on_migrated).
            new_id = str(exc.new_chat_id)
            log.warning(
                "chat %s was upgraded to a supergroup with id %s; following it "
                "(put wall_chat_id: %s in the stations file)",
                chat_id,
                new_id,
                new_id,
            )
            if self.on_migrated is not None:
                await self.on_migrated(chat_id, new_id)
            try:
                return await self._deliver(new_id, message)
            except TelegramError as again:
                raise classify(again) from again
        except TelegramError as exc:
            raise classify(exc) from exc

    async def _deliver(self, chat_id: str, message: OutMessage) -> str:
        if not message.photos and message.location is None:
            parts = split_html(message.text, TEXT_LIMIT)
            if len(parts) == 1:
                return await self._text(_target(chat_id), parts[0], message.buttons)
        sent = await send(self.bot, _target(chat_id), message, paced=True, photos=self.photos)
        return str(sent.message_id)

    async def _text(self, chat_id: int | str, text: str, buttons: Keyboard) -> str:
        """sendMessage without building a Message object from the answer: only its id is needed,
        and at hundreds of messages a second parsing the rest is a tenth of the CPU spent.

        The method is named as the Bot API documents it, "sendMessage": Telegram matches names
        case-insensitively, a stricter server (or an emulator) need not. PTB warns when
        do_api_request is given the name of a method it wraps (to steer people to the typed
        one), which is exactly what is not wanted here: that one warning is filtered out."""
        kwargs: dict[str, Any] = {"chat_id": chat_id, "text": text, "parse_mode": ParseMode.HTML}
        reply_markup = markup(buttons)
        if reply_markup is not None:
            kwargs["reply_markup"] = reply_markup
        result = await self.bot.do_api_request(
            "sendMessage", api_kwargs=kwargs, rate_limit_args=PACED
        )
        return str(result["message_id"])

    async def edit(self, chat_id: str, message_id: str, message: OutMessage) -> None:
        try:
            await edit(self.bot, _target(chat_id), int(message_id), message)
        except TelegramError as exc:
            raise classify(exc) from exc

    async def retract(self, chat_id: str, message_id: str, note: OutMessage) -> None:
        """Take back a 回音壁 post (the core decided: its wish was reopened). Deleted; a post
        Telegram no longer lets the bot delete (older than 48 hours) has its text replaced by
        the core's note instead; one already gone is done."""
        try:
            await self.bot.delete_message(
                _target(chat_id), int(message_id), rate_limit_args=PACED
            )
            return
        except BadRequest as exc:
            if "not found" in str(exc).lower():
                return
            if not note.text:
                raise classify(exc) from exc
        except TelegramError as exc:
            raise classify(exc) from exc
        try:
            await edit(self.bot, _target(chat_id), int(message_id), OutMessage(text=note.text))
        except TelegramError as exc:
            raise classify(exc) from exc


def _target(chat_id: str) -> int | str:
    return int(chat_id) if chat_id.lstrip("-").isdigit() else chat_id


class PacedRateLimiter(BaseRateLimiter[dict[str, Any]]):
    """Direct replies draw from the same budget as the outbox, ahead of it (see bot.pacing)."""

    def __init__(self, pacer: Pacer, is_group: Callable[[str], bool]) -> None:
        self.pacer = pacer
        self.is_group = is_group

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: dict[str, Any] | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        paced = bool(rate_limit_args and rate_limit_args.get("paced"))
        chat = str(data.get("chat_id", ""))
        if endpoint in SEND_ENDPOINTS and not paced and chat:
            group = self.is_group(chat)
            paused = self.pacer.chat_paused(chat)
            if paused > MAX_INTERACTIVE_WAIT:
                # Telegram paused this chat (a 429) for longer than a person waits. Only this
                # chat's queue waits here (see handlers.polling), but it holds one of the
                # processing slots meanwhile: better to give up at once.
                raise _retry_after(math.ceil(paused))
            await self.pacer.acquire_chat(chat, group)
            await self.pacer.acquire_global(INTERACTIVE)
        try:
            return await callback(*args, **kwargs)
        except RetryAfter as exc:
            seconds = retry_seconds(exc)
            if chat:
                self.pacer.pause_chat(chat, seconds)
            if paced or seconds > MAX_INTERACTIVE_WAIT:
                raise  # the dispatcher reschedules; a person should not wait longer than this
            await asyncio.sleep(seconds)
            return await callback(*args, **kwargs)
