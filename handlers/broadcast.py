"""Following a wish on the wall (我也关注): the ☆/★ button relabelled in place.

Broadcasts themselves (/broadcast, its scope, preview, confirmation and report) and /stop are
the conversation's (bot/conversation/broadcast.py, resident.py), reached through the router's
catch-alls like every other command and button."""

from __future__ import annotations

import re

from telegram import Update
from telegram.ext import Application, CallbackQueryHandler

from bot import actions as act
from bot.broadcasts import BroadcastService
from bot.domain.model import InvalidInput
from bot.i18n import Catalog
from bot.messages import Button, keyboard
from handlers.common import (
    Context,
    deps,
    drop_keyboard,
    guarded,
    pressed,
)
from storage.repositories import UserRow

SERVICE_KEY = "broadcasts"
RECEIPT_IN_LABEL = re.compile(r"[A-Z][A-Z0-9]{0,9}-\d{4}-\d{4,}")


def service(context: Context) -> BroadcastService:
    return context.application.bot_data[SERVICE_KEY]


@guarded
async def follow(update: Update, context: Context, user: UserRow) -> str | None:
    query = update.callback_query
    assert query is not None
    wish_id = pressed(update).wish_id
    if wish_id is None:
        raise InvalidInput("stale")
    following = await service(context).toggle_follow(user, wish_id)
    c = deps(context).catalog
    await _relabel_follow(update, c, following)
    return c.plain("follow.on" if following else "follow.off")


async def _relabel_follow(update: Update, c: Catalog, following: bool) -> None:
    """The pressed ☆/★ button on the wall shows what is true now, so pressing it again does
    what its label says (the rest of the keyboard is kept as it is)."""
    query = update.callback_query
    assert query is not None
    current = getattr(query.message, "reply_markup", None)  # None for an inaccessible message
    if current is None:
        return
    rows = []
    for row in current.inline_keyboard:
        buttons = []
        for b in row:
            if not isinstance(b.callback_data, str):
                return  # not a keyboard this bot built
            label = b.text
            found = RECEIPT_IN_LABEL.search(label) if b.callback_data == query.data else None
            if found:
                key = "btn.unfollow" if following else "btn.follow"
                label = c.plain(key, receipt=found.group(0))
            buttons.append(Button(label, b.callback_data))
        rows.append(buttons)
    await drop_keyboard(update, keyboard(*rows))


def register(application: Application) -> None:
    application.add_handler(CallbackQueryHandler(follow, pattern=act.matches(act.FOLLOW)))
