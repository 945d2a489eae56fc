"""Routes Telegram updates to handlers; registers everything on the PTB Application."""

from __future__ import annotations

import logging
import re
import sqlite3
import traceback

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot.cards import ACT_RATE, ACT_SUPPLEMENT, ACT_VIEW, ACT_WITHDRAW
from bot.domain.draft import Step
from bot.domain.model import InvalidInput
from bot.domain.receipts import normalize_receipt
from handlers import broadcast, membership, reports, resident, supervision, work
from handlers import faq as faq_handlers
from handlers.common import CHANNEL, Context, deps, guarded, is_private, reply
from storage.repositories import UserRow

log = logging.getLogger(__name__)

RESIDENT_VERBS = {ACT_SUPPLEMENT, ACT_WITHDRAW, ACT_RATE}
WISH_ACTION = re.compile(r"a:([a-z]{1,8}):([0-9]{1,9})(?::([a-z0-9]{1,9}))?", re.ASCII)
MAX_MESSAGE = 4096
# Exceptions whose message is about the database or Telegram, never what a person typed.
SAFE_MESSAGES = (sqlite3.Error, TelegramError, TimeoutError)


@guarded
async def on_text(update: Update, context: Context, user: UserRow) -> None:
    """Free text: a reply about a wish, the body of a pending action, a draft step, or the FAQ."""
    message = update.effective_message
    assert message is not None and message.text is not None
    d = deps(context)
    text = message.text
    await tell_expired(update, context, user)
    target = message.reply_to_message
    if target is not None and target.from_user is not None and target.from_user.is_bot:
        wish_id = await d.liaison.linked_wish(CHANNEL, str(message.chat.id), str(target.message_id))
        if wish_id is not None:
            await work.relay_reply(update, context, user, wish_id, text)
            return
    if await d.liaison.pending_input(user) is not None:
        await work.finish_input(update, context, user, text)
        return
    if await broadcast.handle_text(update, context, user, text):
        return
    draft = await d.liaison.draft(user)
    if draft is not None:
        await resident.draft_text(update, context, user, draft, text)
        return
    receipt = normalize_receipt(text)
    if receipt is not None:  # a receipt number on its own opens that wish (if one may see it)
        wish = await d.liaison.find_receipt(user, receipt)
        await work.view_wish(update, context, user, wish.id)
        return
    await faq_handlers.answer_question(update, context, user, text)


async def tell_expired(update: Update, context: Context, user: UserRow) -> None:
    """Pending input left too long is dropped, with a note; the message is then handled as if
    nothing were pending (a receipt opens its wish, a question gets the FAQ)."""
    d = deps(context)
    minutes = int(d.liaison.input_timeout.total_seconds() // 60)
    for kind, receipt in await d.liaison.expire_input(user):
        key = "privacy.input_expired" if kind == "input" else "privacy.broadcast_expired"
        await reply(update, context, d.catalog.t(key, receipt=receipt, minutes=minutes))


@guarded
async def on_photo(update: Update, context: Context, user: UserRow) -> None:
    message = update.effective_message
    assert message is not None and message.photo
    d = deps(context)
    await tell_expired(update, context, user)
    file_id = message.photo[-1].file_id  # the largest size
    if await broadcast.handle_text(update, context, user, message.caption or "", photo=file_id):
        return
    draft = await d.liaison.draft(user)
    if draft is None or draft.step not in (Step.TEXT, Step.MORE):
        await reply(update, context, d.catalog.t("media.photo_outside_flow"))
        return
    new = await d.liaison.update_draft(user, lambda dr: dr.with_photo(file_id, message.caption))
    await resident.prompt(update, context, new)


@guarded
async def on_location(update: Update, context: Context, user: UserRow) -> None:
    message = update.effective_message
    assert message is not None and message.location is not None
    d = deps(context)
    draft = await d.liaison.draft(user)
    if draft is None or draft.step not in (Step.TEXT, Step.MORE):
        await reply(update, context, d.catalog.t("media.location_outside_flow"))
        return
    loc = message.location
    new = await d.liaison.update_draft(
        user, lambda dr: dr.with_location(loc.latitude, loc.longitude)
    )
    await resident.prompt(update, context, new)


@guarded
async def on_contact(update: Update, context: Context, user: UserRow) -> None:
    message = update.effective_message
    assert message is not None and message.contact is not None
    d = deps(context)
    draft = await d.liaison.draft(user)
    if draft is None or draft.step is not Step.PHONE:
        await reply(update, context, d.catalog.t("media.unsupported"))
        return
    phone = message.contact.phone_number
    new = await d.liaison.update_draft(user, lambda dr: dr.with_phone(phone))
    await resident.prompt(update, context, new)


@guarded
async def on_unsupported(update: Update, context: Context, user: UserRow) -> None:
    await reply(update, context, deps(context).catalog.t("media.unsupported"))


@guarded
async def on_button(update: Update, context: Context, user: UserRow) -> str | None:
    """Every button press: the data is client input, so it is parsed strictly here and each
    use case re-checks the actor's rights and the wish's state on the server."""
    query = update.callback_query
    assert query is not None
    data = query.data or ""
    if data.startswith("a:"):
        # ASCII digits of a sane length only: "²" passes str.isdigit() but not int(), and a
        # 60-digit id overflows SQLite; both must be a polite refusal, not a crash.
        match = WISH_ACTION.fullmatch(data)
        if match is None:
            raise InvalidInput("stale")
        verb, wish_id, arg = match.group(1), int(match.group(2)), match.group(3) or ""
        if verb == ACT_VIEW:
            await work.view_wish(update, context, user, wish_id)
            return None
        if verb in RESIDENT_VERBS:
            return await resident.resident_action(update, context, user, verb, wish_id, arg)
        return await work.handler_action(update, context, user, verb, wish_id, arg)
    raise InvalidInput("stale")


async def on_menu(update: Update, context: Context) -> None:
    query = update.callback_query
    assert query is not None
    target = {
        "m:new": resident.new_wish,
        "m:my": resident.my_wishes,
        "m:wall": resident.wall,
        "m:faq": faq_handlers.topics,
    }.get(query.data or "")
    if target is None:
        await on_button(update, context)
        return
    await target(update, context)


async def on_error(update: object, context: Context) -> None:
    # Ids only: the update itself may carry personal data.
    update_id = update.update_id if isinstance(update, Update) else None
    log.error("update %s failed: %s", update_id, _stack_only(context.error))
    if isinstance(update, Update) and update.callback_query is not None:
        # The handler failed before answering the press: answer it now, or the client shows
        # a spinner until Telegram gives up. A second answer only gets a harmless 400.
        try:
            await update.callback_query.answer()
        except Exception:
            log.info("could not answer the failed button press")
    if isinstance(update, Update) and update.effective_chat is not None and is_private(update):
        try:
            await reply(update, context, deps(context).catalog.t("error.internal"))
        except Exception:  # the answer is a courtesy; the failure is already logged
            log.info("could not tell the user about the error")


def _stack_only(error: BaseException | None) -> str:
    """The exception's types and stack without their messages: a message may quote what the
    person typed (a ValueError from int(), an f-string), and logs carry ids only."""
    parts: list[str] = []
    seen: set[int] = set()
    while error is not None and id(error) not in seen and len(parts) < 10:
        seen.add(id(error))
        stack = "".join(traceback.format_tb(error.__traceback__))
        name = f"{type(error).__module__}.{type(error).__qualname__}"
        if isinstance(error, SAFE_MESSAGES):  # about the database or Telegram, not the person
            name += f": {error}"
        parts.append(f"{name}\n{stack}")
        error = error.__cause__ or error.__context__
    return "\ncaused by: ".join(parts) or "unknown error"


def register(application: Application) -> None:
    private = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    commands = [
        ("start", resident.start),
        ("help", resident.help_command),
        ("new", resident.new_wish),
        ("my", resident.my_wishes),
        ("wall", resident.wall),
        ("withdraw", resident.withdraw_command),
        ("cancel", resident.cancel),
        ("faq", faq_handlers.topics),
        ("queue", work.queue),
        ("assign", work.assign),
        ("unassigned", work.unassigned),
        ("faq_gaps", faq_handlers.gaps),
        ("faq_add", faq_handlers.add),
        ("faq_reload", faq_handlers.reload),
    ]
    for name, callback in commands:
        application.add_handler(CommandHandler(name, callback, filters=private))
    # before the catch-alls below (unknown commands, on_menu), or they would never be reached
    broadcast.register(application)
    reports.register(application)  # /stats, /mywork, /export, /qr
    supervision.register(application)  # /overdue, 催办, follow-up answers
    membership.register(application)  # my_chat_member: blocked/unblocked, added/removed
    # In groups the bot speaks only when addressed (a command, or a mention).
    application.add_handler(
        MessageHandler(
            filters.ChatType.GROUPS & (filters.COMMAND | filters.Entity("mention")),
            faq_handlers.in_group,
        )
    )
    application.add_handler(
        CallbackQueryHandler(resident.choose_station, pattern=r"^st:[a-z0-9_-]{1,32}$")
    )
    application.add_handler(
        CallbackQueryHandler(resident.station_page, pattern=r"^sp:(st|ds):\d{1,3}$")
    )
    application.add_handler(
        CallbackQueryHandler(
            resident.draft_button, pattern=r"^(ds|dc|dv):[a-z0-9_-]{1,32}$|^(dn|dk|dp|do|dx)$"
        )
    )
    application.add_handler(CallbackQueryHandler(resident.my_wishes, pattern=r"^my:\d{1,4}$"))
    application.add_handler(CallbackQueryHandler(resident.wall, pattern=r"^wl:\d{1,4}$"))
    application.add_handler(CallbackQueryHandler(faq_handlers.topics, pattern=r"^fp:\d{1,3}$"))
    application.add_handler(CallbackQueryHandler(faq_handlers.on_button, pattern=r"^f[qw]:"))
    application.add_handler(
        CallbackQueryHandler(
            faq_handlers.learn_button, pattern=r"^(fg|fn):\d{1,12}$|^ft:\d{1,12}:[0-9a-f]{10}$"
        )
    )
    application.add_handler(CallbackQueryHandler(on_menu))
    application.add_handler(MessageHandler(private & filters.COMMAND, faq_handlers.unknown_command))
    application.add_handler(MessageHandler(private & filters.TEXT & ~filters.COMMAND, on_text))
    application.add_handler(MessageHandler(private & filters.PHOTO, on_photo))
    application.add_handler(MessageHandler(private & filters.LOCATION, on_location))
    application.add_handler(MessageHandler(private & filters.CONTACT, on_contact))
    application.add_handler(MessageHandler(private & ~filters.StatusUpdate.ALL, on_unsupported))
    application.add_error_handler(on_error)
