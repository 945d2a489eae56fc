"""/web in a deputy's or staff member's private chat: a one-time login link to the web desk."""

from __future__ import annotations

from collections.abc import Callable

from telegram import Update
from telegram.ext import Application, ApplicationHandlerStop, CommandHandler, filters

from bot.logins import LOGIN_LINK_MINUTES, create_login_link, is_worker
from handlers.common import Context, deps, guarded, reply
from storage.repositories import UserRow

WEB_URL = "web_url"  # bot_data key: () -> the public URL (known once the server listens)


@guarded
async def web_command(update: Update, context: Context, user: UserRow) -> None:
    d = deps(context)
    liaison = d.liaison
    if not await is_worker(liaison.db, user.id):
        await reply(update, context, d.catalog.t("web.login_not_worker"))
    else:
        link = await create_login_link(
            liaison.db, liaison.clock, context.bot_data[WEB_URL](), user.id
        )
        await reply(
            update, context, d.catalog.t("web.login_link", minutes=LOGIN_LINK_MINUTES, link=link)
        )


async def web_then_stop(update: Update, context: Context) -> None:
    await web_command(update, context)
    raise ApplicationHandlerStop  # the catch-all for unknown commands must not answer too


def register(application: Application, web_url: Callable[[], str]) -> None:
    application.bot_data[WEB_URL] = web_url
    private = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    # a group of its own, before the router's: no edit to its list of commands needed
    application.add_handler(CommandHandler("web", web_then_stop, filters=private), group=-1)
