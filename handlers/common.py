"""What every Telegram handler shares: who is acting, how to answer, how to refuse politely."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from telegram import Message, Update
from telegram.constants import ChatType
from telegram.error import BadRequest
from telegram.ext import ContextTypes

from bot.domain.model import DomainError, InvalidInput
from bot.faq_service import FaqService
from bot.i18n import Catalog, Markup
from bot.messages import Button, Keyboard, OutMessage, keyboard
from bot.services import Identity, Liaison
from handlers.telegram_io import markup, send
from storage.repositories import UserRow

log = logging.getLogger(__name__)

CHANNEL = "telegram"
Context = ContextTypes.DEFAULT_TYPE


@dataclass
class Deps:
    """What the composition root hands to the handlers (stored in `bot_data`)."""

    liaison: Liaison
    catalog: Catalog
    faq: FaqService
    bot_username: str = ""


def deps(context: Context) -> Deps:
    return context.application.bot_data["deps"]


def identity(update: Update) -> Identity | None:
    user = update.effective_user
    if user is None or user.is_bot:
        return None
    name = " ".join(p for p in (user.first_name, user.last_name) if p)
    return Identity(
        channel=CHANNEL, external_id=str(user.id), chat_id=str(user.id), display_name=name
    )


async def current_user(update: Update, context: Context) -> UserRow | None:
    ident = identity(update)
    if ident is None:
        return None
    return await deps(context).liaison.identify(ident)


def idempotency_key(update: Update) -> str:
    """What makes a repeated request recognisable: this person, in this chat, this update.

    The update id alone is not enough: Telegram starts update ids again at a random number
    after a week without updates, and a key shared by everyone would then return one person's
    result (a receipt) to another. Keys are forgotten with the inbox (see inbox_prune), so a
    reused id can only meet a key of the same week, which is a real redelivery."""
    user = update.effective_user
    chat = update.effective_chat
    who = user.id if user is not None else "-"
    where = chat.id if chat is not None else "-"
    return f"tg:{who}:{where}:{update.update_id}"


def is_private(update: Update) -> bool:
    chat = update.effective_chat
    return chat is not None and chat.type == ChatType.PRIVATE


async def reply(
    update: Update,
    context: Context,
    text: Markup | str,
    buttons: Keyboard = (),
    wish_id: int | None = None,
) -> Message | None:
    chat = update.effective_chat
    if chat is None:
        return None
    return await send(
        context.bot,
        chat.id,
        OutMessage(text=text, buttons=buttons, wish_id=wish_id),
        thread_id=topic_of(update),
    )


def topic_of(update: Update) -> int | None:
    """The forum topic the update came from, so the answer goes there, not to General."""
    message = update.effective_message
    if message is None or not isinstance(message, Message) or not message.is_topic_message:
        return None
    return message.message_thread_id


BUTTONS_PER_PAGE = 20  # Telegram refuses an inline keyboard of more than 100 buttons


def paged(catalog: Catalog, rows: list[list[Button]], page: int, nav: str) -> Keyboard:
    """One page of a long list of button rows, with « / » buttons whose data is `nav:<page>`:
    a county may have more stations than one keyboard can carry."""
    pages = max(1, -(-len(rows) // BUTTONS_PER_PAGE))
    page = min(max(page, 0), pages - 1)
    chunk = rows[page * BUTTONS_PER_PAGE : (page + 1) * BUTTONS_PER_PAGE]
    arrows = []
    if page > 0:
        arrows.append(Button(catalog.plain("btn.prev"), f"{nav}:{page - 1}"))
    if page + 1 < pages:
        arrows.append(Button(catalog.plain("btn.next_page"), f"{nav}:{page + 1}"))
    return keyboard(*chunk, arrows)


def error_text(catalog: Catalog, exc: DomainError) -> str:
    for key in (f"error.{exc.detail}", f"error.{exc.code}"):
        if catalog.has(key):
            return catalog.plain(key)
    return catalog.plain("error.generic")


Handler = Callable[[Update, Context, UserRow], Awaitable[Any]]


def guarded(fn: Handler) -> Callable[[Update, Context], Awaitable[None]]:
    """Identify the actor and turn domain refusals into a polite answer that changes nothing.

    For button presses the handler returns the short text shown on the press (or None), and
    the press is always answered exactly once, so the client never spins.
    """

    @wraps(fn)
    async def wrapper(update: Update, context: Context) -> None:
        user = await current_user(update, context)
        if user is None:
            return
        query = update.callback_query
        catalog = deps(context).catalog
        try:
            if query is not None and not is_private(update) and not _group_safe(query.data):
                # A wish's buttons answer where they are pressed: in a group (pressed there by
                # forging) a timeline, a draft or a wish list would be posted for all to read.
                raise InvalidInput("private_only")
            toast = await fn(update, context, user)
        except DomainError as exc:
            text = error_text(catalog, exc)
            log.info("update %s refused: %s", update.update_id, exc.code)
            if query is not None:
                await _answer(query, text, alert=True)
            else:
                await reply(update, context, Markup(catalog.t("error.wrap", text=text)))
            return
        if query is not None:
            await _answer(query, toast if isinstance(toast, str) else None)

    return wrapper


GROUP_SAFE_PRESSES = ("fq:", "fp:", "fw:", "m:faq")  # the FAQ, public knowledge


def _group_safe(data: str | None) -> bool:
    return bool(data) and (data or "").startswith(GROUP_SAFE_PRESSES)


async def _answer(query: Any, text: str | None, alert: bool = False) -> None:
    try:
        await query.answer(text[:200] if text else None, show_alert=alert and bool(text))
    except BadRequest as exc:  # too old: the client gave up waiting; nothing to fix
        log.info("callback answer failed: %s", exc)


async def drop_keyboard(update: Update, buttons: Keyboard = ()) -> None:
    """Replace the pressed message's buttons, so a stale button cannot be pressed twice."""
    query = update.callback_query
    if query is None or query.message is None:
        return
    try:
        # Not query.edit_message_reply_markup(): PTB refuses (TypeError) when Telegram sent an
        # InaccessibleMessage (date 0, for a message too old to show), though editing it by
        # chat and message id may still work.
        await query.get_bot().edit_message_reply_markup(
            chat_id=query.message.chat.id,
            message_id=query.message.message_id,
            reply_markup=markup(buttons),
        )
    except BadRequest as exc:
        if "not modified" not in str(exc).lower():
            log.info("could not edit buttons: %s", exc)
