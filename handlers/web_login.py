"""/web in a deputy's or staff member's private chat: a one-time login link to the web desk."""

from __future__ import annotations

from collections.abc import Callable

from telegram import Update
from telegram.ext import Application, ApplicationHandlerStop, CommandHandler, filters

from bot.i18n import Markup
from bot.logins import LOGIN_LINK_MINUTES, create_link_code, create_login_link, is_worker
from handlers.common import Context, deps, guarded, reply
from storage.repositories import UserRow

WEB_URL = "web_url"  # bot_data key: () -> the public URL (known once the server listens)
LINK_CODES = "link_codes"  # bot_data key: True when WeChat is on (a link code comes too)


@guarded
async def web_command(update: Update, context: Context, user: UserRow) -> None:
    d = deps(context)
    liaison = d.liaison
    if not await is_worker(liaison.core.db, user.id):
        await reply(update, context, d.catalog.t("web.login_not_worker"))
    else:
        link = await create_login_link(
            liaison.core.db, liaison.core.clock, context.bot_data[WEB_URL](), user.id
        )
        text = d.catalog.t("web.login_link", minutes=LOGIN_LINK_MINUTES, link=link)
        if context.bot_data.get(LINK_CODES):
            # the same person's WeChat: a code they send to the service account (bot/logins.py)
            code = await create_link_code(liaison.core.db, liaison.core.clock, user.id)
            text = Markup(
                text + "\n\n" + d.catalog.t("web.link_code", code=code, minutes=LOGIN_LINK_MINUTES)
            )
        await reply(update, context, text)


async def web_then_stop(update: Update, context: Context) -> None:
    await web_command(update, context)
    raise ApplicationHandlerStop  # the catch-all for unknown commands must not answer too


def register(
    application: Application, web_url: Callable[[], str], link_codes: bool = False
) -> None:
    application.bot_data[WEB_URL] = web_url
    application.bot_data[LINK_CODES] = link_codes
    private = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    # a group of its own, before the router's: no edit to its list of commands needed
    application.add_handler(CommandHandler("web", web_then_stop, filters=private), group=-1)
