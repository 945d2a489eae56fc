"""The command menus Telegram shows behind the "/" button.

Residents type on phones; a menu of the few commands they need beats remembering them. Deputies
and staff get a menu of their own in their private chat (scope: that chat), set when they open the
bot and at every start-up, so the many residents never see work commands.
"""

from __future__ import annotations

import logging

from telegram import Bot, BotCommand, BotCommandScopeAllPrivateChats, BotCommandScopeChat
from telegram.error import TelegramError

from bot.domain.model import Actor
from bot.i18n import Catalog
from bot.services import Liaison
from handlers.common import CHANNEL

log = logging.getLogger(__name__)

RESIDENT_COMMANDS = ("start", "new", "my", "wall", "faq", "withdraw", "cancel", "stop", "help")
DEPUTY_COMMANDS = ("queue", "mywork")
STAFF_COMMANDS = (
    "unassigned", "assign", "overdue", "stats", "broadcast", "export", "qr", "faq_gaps",
    "faq_add", "faq_reload",
)  # fmt: skip


def is_worker(actor: Actor) -> bool:
    return bool(actor.deputy_ids or actor.staff_of or actor.is_admin)


def menu_for(catalog: Catalog, actor: Actor | None = None) -> list[BotCommand]:
    names = list(RESIDENT_COMMANDS)
    if actor is not None and actor.deputy_ids:
        names += DEPUTY_COMMANDS
    if actor is not None and (actor.staff_of or actor.is_admin):
        if "queue" not in names:
            names.append("queue")  # staff see every open wish of their stations there
        names += STAFF_COMMANDS
    return [BotCommand(name, catalog.plain(f"menu.{name}")) for name in names]


async def publish_commands(bot: Bot, catalog: Catalog) -> None:
    """Set the residents' menu; a failure only costs the convenience, so it is logged."""
    try:
        await bot.set_my_commands(menu_for(catalog), scope=BotCommandScopeAllPrivateChats())
    except TelegramError as exc:
        log.warning("could not set the command menu: %s", exc)


async def publish_work_menus(bot: Bot, catalog: Catalog, liaison: Liaison) -> None:
    """Each deputy's and staff member's own menu (also refreshes it after a role change)."""
    try:
        workers = await liaison.people.workers(CHANNEL)
    except Exception as exc:  # a convenience: never let it take the bot down
        log.warning("could not list deputies and staff for their menus: %s", type(exc).__name__)
        return
    for user, actor in workers:
        await publish_work_menu(bot, catalog, int(user.chat_id), actor)


async def publish_work_menu(bot: Bot, catalog: Catalog, chat_id: int, actor: Actor) -> None:
    if not is_worker(actor):
        return
    try:
        await bot.set_my_commands(menu_for(catalog, actor), scope=BotCommandScopeChat(chat_id))
    except TelegramError as exc:  # e.g. they blocked the bot since; the menu can wait
        log.info("could not set the work menu for chat %s: %s", chat_id, type(exc).__name__)
