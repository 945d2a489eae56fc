"""/start on Telegram: handed to the conversation (bot/conversation/resident.py decides), then
the "/" menu of a deputy's or staff member's chat, Telegram's own affordance. Every other
command reaches the conversation through the router's catch-all (handlers/router.py)."""

from __future__ import annotations

from telegram import Update

from handlers.common import Context, converse, current_user, deps
from handlers.menu import publish_work_menu


async def start(update: Update, context: Context) -> None:
    answer = await converse(update, context, command="start", args=list(context.args or ()))
    user = await current_user(update, context)
    if answer is None or user is None:
        return
    # Deputies and staff get their commands in the "/" menu of their own chat.
    d = deps(context)
    actor = await d.liaison.people.actor(user)
    await publish_work_menu(context.bot, d.catalog, int(user.chat_id), actor)

