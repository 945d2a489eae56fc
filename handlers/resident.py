"""Residents on Telegram: the commands, translated and handed to the conversation
(bot/conversation/resident.py decides). Only the "/" menus are Telegram's own affordance."""

from __future__ import annotations

from telegram import Update

from handlers.common import Context, command, converse, current_user, deps
from handlers.menu import publish_work_menu


async def start(update: Update, context: Context) -> None:
    answer = await converse(update, context, command="start", args=list(context.args or ()))
    user = await current_user(update, context)
    if answer is None or user is None:
        return
    # Deputies and staff get their commands in the "/" menu of their own chat.
    d = deps(context)
    actor = await d.liaison.actor(user)
    await publish_work_menu(context.bot, d.catalog, int(user.chat_id), actor)


help_command = command("help")
new_wish = command("new")
my_wishes = command("my")
wall = command("wall")
withdraw_command = command("withdraw")
cancel = command("cancel")
