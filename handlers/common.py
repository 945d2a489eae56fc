"""What every Telegram handler shares: who is acting, how to answer, how to refuse politely."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from telegram import Message, Update
from telegram.constants import ChatType
from telegram.error import BadRequest, TelegramError
from telegram.ext import ContextTypes

from bot import actions as act
from bot.conversation import Conversation, Inbound, Reply, error_text
from bot.conversation.faq import group_safe
from bot.domain.model import DomainError, InvalidInput
from bot.faq_service import FaqService
from bot.i18n import Catalog, Markup
from bot.messages import Keyboard, OutMessage
from bot.services import Identity, Liaison
from handlers.telegram_io import Photos, edit, is_plain_text, markup, send, send_text
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
    photos: Photos | None = None  # other channels' photos, uploaded (see telegram_io.Photos)


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
    return await deps(context).liaison.people.identify(ident)


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


def _group_safe(data: str | None) -> bool:
    """The FAQ's buttons are the only ones that work in a group (the conversation decides)."""
    return group_safe(act.try_decode(data))


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


# -- the seam: Update -> Inbound -> Conversation.handle -> Reply -> Telegram calls -------------


def conversation(context: Context) -> Conversation:
    """The conversation over this application's services, made once (the composition root
    and the test harness both fill `bot_data` with `deps` and `broadcasts`)."""
    data = context.application.bot_data
    found: Conversation | None = data.get("conversation")
    d: Deps = data["deps"]
    if found is None or found.bot_name != d.bot_username:
        found = Conversation(
            d.liaison,
            d.catalog,
            d.faq,
            broadcasts=data.get("broadcasts"),
            bot_name=d.bot_username,
            supervisor=data.get("supervision"),
        )
        data["conversation"] = found
    return found


async def converse(
    update: Update,
    context: Context,
    *,
    command: str = "",
    args: list[str] | None = None,
    event: Inbound | None = None,
) -> Reply | None:
    """Translate (or take the `event` already translated), let the conversation decide,
    render. Returns what was rendered (None when the update has no person to answer)."""
    from handlers.translate import inbound  # translate imports this module's helpers

    user = await current_user(update, context)
    if event is None:
        event = inbound(update, command=command, args=args)
    if user is None or event is None:
        return None
    answer = await conversation(context).handle(event, user)
    await render(update, context, answer)
    return answer


async def render_messages(update: Update, context: Context, answer: Reply) -> None:
    """Only the messages of a Reply (the caller answers the press itself): the first one in
    place of the pressed message when the Reply says so (sent anew if that cannot be edited)."""
    chat = update.effective_chat
    if chat is None:
        return
    messages = list(answer.messages)
    query = update.callback_query
    if answer.replace and messages and query is not None and query.message is not None:
        try:
            await edit(context.bot, query.message.chat.id, query.message.message_id, messages[0])
            messages.pop(0)
        except TelegramError as exc:
            log.info("could not replace the pressed message: %s", exc)
    sent: int | None = None  # the last message's id
    for message in messages:
        if is_plain_text(message):  # nearly every answer: the lean path
            sent = await send_text(context.bot, chat.id, message, thread_id=topic_of(update))
            continue
        sent = (
            await send(
                context.bot,
                chat.id,
                message,
                thread_id=topic_of(update),
                photos=deps(context).photos,
            )
        ).message_id
    if answer.broadcast_progress is not None and sent is not None:
        # the live progress report: the broadcast monitor edits it from now on
        await conversation(context).progress_shown(answer, str(chat.id), str(sent))


async def render(update: Update, context: Context, answer: Reply) -> None:
    """A Reply as Telegram calls: new buttons on the pressed message, the messages in order
    (in the forum topic asked in), then the press answered exactly once."""
    query = update.callback_query
    if answer.rebutton is not None:
        await drop_keyboard(update, answer.rebutton)
    await render_messages(update, context, answer)
    if query is not None:
        await _answer(query, answer.toast, alert=answer.alert)
    elif answer.alert and answer.toast:
        # A refusal of an action that came as a command (/assign R): said in the chat.
        await reply(update, context, Markup(deps(context).catalog.t("error.wrap", text=answer.toast)))
