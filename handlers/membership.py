"""my_chat_member: the bot's own membership changed (Telegram sends it when a user blocks or
unblocks the bot, and when the bot is added to or removed from a group or channel)."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.constants import ChatMemberStatus, ChatType
from telegram.ext import Application, ChatMemberHandler

from handlers.common import Context, deps, identity

log = logging.getLogger(__name__)

GONE = (ChatMemberStatus.BANNED, ChatMemberStatus.LEFT)  # "kicked", "left"


async def on_my_chat_member(update: Update, context: Context) -> None:
    change = update.my_chat_member
    if change is None:
        return
    status = change.new_chat_member.status
    chat = change.chat
    if chat.type == ChatType.PRIVATE:
        ident = identity(update)
        if ident is None:
            return
        liaison = deps(context).liaison
        if status in GONE:
            await liaison.people.on_blocked(ident.channel, ident.external_id)
        else:  # unblocked: reachable again (identify records that)
            await liaison.people.identify(ident)
        return
    # A group or channel (a station's 回音壁): ids only in the log, never titles.
    if status in GONE:
        log.warning(
            "the bot was removed from %s %s (now %s): posts there will fail until it is added "
            "back",
            chat.type,
            chat.id,
            status,
        )
    elif chat.type == ChatType.CHANNEL and status != ChatMemberStatus.ADMINISTRATOR:
        log.warning("the bot is no longer an admin of channel %s and cannot post there", chat.id)
    else:
        log.info("the bot is now %s in %s %s", status, chat.type, chat.id)


def register(application: Application) -> None:
    application.add_handler(
        ChatMemberHandler(on_my_chat_member, ChatMemberHandler.MY_CHAT_MEMBER)
    )
