"""The command menu Telegram shows behind the "/" button in private chats.

Residents type on phones; a menu of the few commands they need beats remembering them. Staff
and deputies see theirs in /help, which keeps the menu short for the many residents.
"""

from __future__ import annotations

import logging

from telegram import Bot, BotCommand, BotCommandScopeAllPrivateChats
from telegram.error import TelegramError

from bot.i18n import Catalog

log = logging.getLogger(__name__)

RESIDENT_COMMANDS = ("start", "new", "my", "wall", "faq", "withdraw", "cancel", "stop", "help")


def resident_menu(catalog: Catalog) -> list[BotCommand]:
    return [BotCommand(name, catalog.plain(f"menu.{name}")) for name in RESIDENT_COMMANDS]


async def publish_commands(bot: Bot, catalog: Catalog) -> None:
    """Set the menu; a failure only costs the convenience, so it is logged, not raised."""
    try:
        await bot.set_my_commands(resident_menu(catalog), scope=BotCommandScopeAllPrivateChats())
    except TelegramError as exc:
        log.warning("could not set the command menu: %s", exc)
