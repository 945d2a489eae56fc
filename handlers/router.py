"""Routes Telegram updates to handlers; registers everything on the PTB Application."""

from __future__ import annotations

import logging
import traceback

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot import actions as act
from bot.conversation.router import COMMANDS
from handlers import broadcast, membership, reports, resident
from handlers import faq as faq_handlers
from handlers.common import Context, command, converse, deps, is_private, reply
from storage.db import database_errors

log = logging.getLogger(__name__)

MAX_MESSAGE = 4096
# Exceptions whose message is about the database or Telegram, never what a person typed.
SAFE_MESSAGES = (*database_errors(), TelegramError, TimeoutError)


async def on_input(update: Update, context: Context) -> None:
    """Free text, media, locations, contacts and every button press the modules registered
    before this one did not claim: translated, decided by the conversation, rendered."""
    await converse(update, context)


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
        *((name, command(name)) for name in sorted(COMMANDS - {"start"})),
        ("faq_gaps", faq_handlers.gaps),
        ("faq_add", faq_handlers.add),
        ("faq_reload", faq_handlers.reload),
    ]
    for name, callback in commands:
        application.add_handler(CommandHandler(name, callback, filters=private))
    # before the catch-alls below (unknown commands, on_menu), or they would never be reached
    broadcast.register(application)
    reports.register(application)  # /qr (the desk's commands and buttons are the conversation's)
    membership.register(application)  # my_chat_member: blocked/unblocked, added/removed
    # In groups the bot speaks only when addressed (a command, or a mention).
    application.add_handler(
        MessageHandler(
            filters.ChatType.GROUPS & (filters.COMMAND | filters.Entity("mention")),
            faq_handlers.in_group,
        )
    )
    application.add_handler(
        CallbackQueryHandler(
            faq_handlers.learn_button,
            pattern=act.matches(act.FAQ_TEACH, act.FAQ_TEACH_TO, act.FAQ_NEW_ENTRY),
        )
    )
    application.add_handler(CallbackQueryHandler(on_input))  # every other button
    application.add_handler(MessageHandler(private & filters.COMMAND, faq_handlers.unknown_command))
    # text, photos, locations, contacts, and anything else (answered as unsupported)
    application.add_handler(MessageHandler(private & ~filters.StatusUpdate.ALL, on_input))
    application.add_error_handler(on_error)
