"""Broadcasts (群发) by staff, /stop and /start for residents, following a wish (我也关注)."""

from __future__ import annotations

import re

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, filters

from bot import actions as act
from bot.actions import button
from bot.broadcasts import COUNTY, BroadcastDraft, BroadcastService
from bot.domain.model import InvalidInput
from bot.i18n import Catalog
from bot.messages import Button, Keyboard, keyboard
from handlers.common import (
    Context,
    conversation,
    deps,
    drop_keyboard,
    guarded,
    idempotency_key,
    paged,
    pressed,
    render_messages,
    reply,
)
from handlers.telegram_io import edit
from handlers.translate import inbound
from storage.repositories import UserRow

SERVICE_KEY = "broadcasts"
RECEIPT_IN_LABEL = re.compile(r"[A-Z][A-Z0-9]{0,9}-\d{4}-\d{4,}")


def service(context: Context) -> BroadcastService:
    return context.application.bot_data[SERVICE_KEY]


async def _prompt(update: Update, context: Context, user: UserRow, draft: BroadcastDraft) -> None:
    """What the draft needs next, as the conversation words it (bot/conversation/broadcast.py)."""
    event = inbound(update)
    if event is None:
        return
    answer = await conversation(context).broadcast_prompt(event, user, draft)
    await render_messages(update, context, answer)


@guarded
async def broadcast_command(update: Update, context: Context, user: UserRow) -> str | None:
    c = deps(context).catalog
    stations, county = await service(context).scopes(user)
    if len(stations) == 1 and not county:
        draft = await service(context).begin(user, stations[0][0])
        await _prompt(update, context, user, draft)
        return None
    await reply(update, context, c.t("broadcast.scope"), await _scope_buttons(context, user, 0))
    return None


async def _scope_buttons(context: Context, user: UserRow, page: int) -> Keyboard:
    c = deps(context).catalog
    stations, county = await service(context).scopes(user)
    rows = [[Button(name, button(act.BROADCAST_SCOPE, arg=sid))] for sid, name in stations]
    if county:
        rows.insert(0, [Button(c.plain("btn.scope_county"), button(act.BROADCAST_SCOPE, arg=COUNTY))])
    return paged(c, rows, page, act.BROADCAST_PAGE)


@guarded
async def on_button(update: Update, context: Context, user: UserRow) -> str | None:
    query = update.callback_query
    assert query is not None
    action = pressed(update)
    head, arg = action.verb, action.arg
    svc = service(context)
    c = deps(context).catalog
    if head == act.BROADCAST_PAGE:  # another page of the station list
        await drop_keyboard(update, await _scope_buttons(context, user, int(arg)))
        return None
    if head == act.BROADCAST_SCOPE:
        draft = await svc.begin(user, arg)
        await drop_keyboard(update)
        await _prompt(update, context, user, draft)
        return None
    if head == act.BROADCAST_CANCEL:
        cancelled = await svc.cancel(user, int(arg))
        progress = await svc.progress(int(arg))
        report = svc.render_progress(progress, svc.clock.now())
        b = progress.broadcast
        if b.progress_chat_id and b.progress_message_id:
            # the progress message becomes the final report, without its 取消 button
            try:
                await edit(context.bot, int(b.progress_chat_id), int(b.progress_message_id), report)
            except TelegramError:
                await reply(update, context, report.text)
        else:
            await reply(update, context, report.text)
        return c.plain("broadcast.cancel_toast", cancelled=cancelled)
    if head == act.BROADCAST_AUDIENCE:
        if arg == "x":
            await svc.cancel_draft(user)
            await drop_keyboard(update)
            await reply(update, context, c.t("cancel.done"))
            return None
        if arg == "ok":
            row = await svc.confirm(user, idempotency_key(update))
            await drop_keyboard(update)
            report = svc.render_progress(await svc.progress(row.id), svc.clock.now())
            sent = await reply(update, context, report.text, report.buttons)
            if sent is not None:
                await svc.attach_progress(row.id, str(sent.chat_id), str(sent.message_id))
            return c.plain("broadcast.started_toast")
        draft = await svc.set_audience(user, arg)
        await drop_keyboard(update)
        await _prompt(update, context, user, draft)
        return None
    raise InvalidInput("stale")


async def handle_text(
    update: Update, context: Context, user: UserRow, text: str, photo: str | None = None
) -> bool:
    """Text or a photo for a broadcast being written; False if no broadcast is being written."""
    svc = service(context)
    draft = await svc.draft(user)
    if draft is None:
        return False
    if draft.step == "text":
        draft = await svc.set_text(user, text, photo)
    elif draft.step == "receipt":
        draft = await svc.set_wish(user, text)
    else:
        await reply(update, context, deps(context).catalog.t("new.use_buttons"))
        return True
    await _prompt(update, context, user, draft)
    return True


@guarded
async def stop(update: Update, context: Context, user: UserRow) -> None:
    d = deps(context)
    await d.liaison.set_stopped(user, True)
    await reply(update, context, d.catalog.t("stop.done"))


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
    private = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    application.add_handler(CommandHandler("broadcast", broadcast_command, filters=private))
    application.add_handler(CommandHandler("stop", stop, filters=private))
    application.add_handler(
        CallbackQueryHandler(
            on_button,
            pattern=act.matches(
                act.BROADCAST_SCOPE,
                act.BROADCAST_PAGE,
                act.BROADCAST_CANCEL,
                act.BROADCAST_AUDIENCE,
            ),
        )
    )
    application.add_handler(CallbackQueryHandler(follow, pattern=act.matches(act.FOLLOW)))
