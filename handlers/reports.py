"""/qr [station] in Telegram: the station's QR code for the bot's t.me deep link.

It stays a Telegram command: the code encodes this bot's @username (the web's QR code is
`liaison-bot qr --web`). /stats, /mywork and /export moved to the conversation
(bot/conversation/desk.py), which every channel shares.
"""

from __future__ import annotations

from telegram import InputFile, Update
from telegram.constants import ChatAction, ParseMode
from telegram.ext import Application, CommandHandler, filters

from bot.domain.model import NotAllowed
from bot.reporting import Reporting
from handlers.common import Context, deps, guarded, reply
from handlers.telegram_io import CAPTION_LIMIT
from storage.repositories import UserRow


def reporting(context: Context) -> Reporting:
    found = context.application.bot_data.get("reporting")
    if found is None:  # wired lazily, so the composition root needs no change to use it
        found = Reporting(deps(context).liaison)
        context.application.bot_data["reporting"] = found
    return found


def _caption(text: str) -> str:
    return text if len(text) <= CAPTION_LIMIT else text[: CAPTION_LIMIT - 1] + "…"


@guarded
async def qr(update: Update, context: Context, user: UserRow) -> None:
    d = deps(context)
    c = d.catalog
    if not await d.liaison.people.is_staff(user):
        raise NotAllowed("qr")
    if not d.bot_username:
        await reply(update, context, c.t("reports.qr_no_username"))
        return
    station_id = context.args[0].lower() if context.args else None
    chat = update.effective_chat
    assert chat is not None
    await context.bot.send_chat_action(chat.id, ChatAction.UPLOAD_PHOTO)
    for code in await reporting(context).qr_codes(user, d.bot_username, station_id):
        await context.bot.send_photo(
            chat.id,
            InputFile(code.png, filename=f"qr-{code.station.id}.png"),
            caption=_caption(c.t("reports.qr_caption", station=code.station.name, link=code.link)),
            parse_mode=ParseMode.HTML,
        )


def register(application: Application) -> None:
    """Called by handlers.router before its catch-all handlers."""
    private = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    application.add_handler(CommandHandler("qr", qr, filters=private))
