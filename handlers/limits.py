"""The one polite notice a person gets when they send faster than the per-person limits."""

from __future__ import annotations

from telegram import Update
from telegram.ext import Application

from bot.messages import OutMessage
from handlers.common import Deps, is_private
from handlers.telegram_io import send


async def tell_limited(update: Update, application: Application) -> None:
    """A press gets the notice on the button (no message: the chat stays clean); a message
    in a private chat gets it as a message; in a group the bot keeps quiet."""
    deps: Deps = application.bot_data["deps"]
    text = deps.catalog.plain("limits.slow_down")
    query = update.callback_query
    if query is not None:
        await query.answer(text[:200], show_alert=True)
        return
    chat = update.effective_chat
    if chat is None or not is_private(update):
        return
    await send(application.bot, chat.id, OutMessage(text=deps.catalog.t("limits.slow_down")))
