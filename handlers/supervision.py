"""Telegram side of supervision (督办): /overdue, the 催办 button, the follow-up answers."""

from __future__ import annotations

from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, filters

from bot import actions as act
from bot.cards import ACT_ASSIGN, ACT_TRANSFER, ACT_VIEW, wish_action
from bot.domain.deadlines import FOLLOW_UP_CODES, FollowUpAnswer
from bot.domain.model import InvalidInput, Status, Wish
from bot.i18n import Markup
from bot.messages import Button, keyboard
from bot.supervision import Supervisor
from handlers.common import (
    Context,
    deps,
    drop_keyboard,
    guarded,
    idempotency_key,
    pressed,
    reply,
)
from storage.repositories import UserRow

MAX_LISTED = 30
# Strict shapes; anything else is refused before it reaches a use case.


def supervisor(context: Context) -> Supervisor:
    return context.application.bot_data["supervision"]


async def due_suffixes(context: Context, wishes: list[Wish]) -> dict[int, str]:
    """' · 办结时限 …' for each open wish of a list (/queue); empty without supervision."""
    sup: Supervisor | None = context.application.bot_data.get("supervision")
    if sup is None or not wishes:
        return {}
    dues = await sup.due_dates([w.id for w in wishes])
    now = sup.clock.now()
    return {w.id: sup.due_label(w, dues[w.id], now) for w in wishes if w.id in dues}


@guarded
async def overdue(update: Update, context: Context, user: UserRow) -> None:
    sup = supervisor(context)
    c = deps(context).catalog
    items = await sup.overdue(user)  # NotAllowed for anyone who is not staff
    if not items:
        await reply(update, context, c.t("supervision.overdue_none"))
        return
    now = sup.clock.now()
    shown = items[:MAX_LISTED]
    lines = [sup.overdue_line(item, now) for item in shown]
    buttons = []
    for item in shown:
        row = [Button(item.wish.receipt, wish_action(ACT_VIEW, item.wish.id))]
        if item.wish.deputy_id is not None:
            row.append(Button(c.plain("supervision.btn_push"), act.button(act.PUSH, item.wish.id)))
        verb = ACT_TRANSFER if item.wish.status is not Status.SUBMITTED else ACT_ASSIGN
        row.append(Button(c.plain("supervision.btn_reassign"), wish_action(verb, item.wish.id)))
        buttons.append(row)
    text = Markup(c.t("supervision.overdue_header", count=len(items)) + "\n" + "\n".join(lines))
    await reply(update, context, text, keyboard(*buttons))


@guarded
async def on_button(update: Update, context: Context, user: UserRow) -> str | None:
    """催办 and follow-up presses: client input, parsed strictly and re-authorized server-side."""
    query = update.callback_query
    assert query is not None
    action = pressed(update)
    c = deps(context).catalog
    sup = supervisor(context)
    if action.verb == act.PUSH and action.wish_id is not None:
        wish, deputy = await sup.push(user, action.wish_id)
        await reply(update, context, c.t("supervision.pushed", receipt=wish.receipt, deputy=deputy))
        return c.plain("supervision.pushed_toast")
    if action.verb == act.FOLLOW_UP and action.wish_id is not None:
        answer = FOLLOW_UP_CODES.get(action.arg)
        if answer is None:
            raise InvalidInput("stale")
        wish = await sup.answer_follow_up(
            user, action.wish_id, answer, key=idempotency_key(update)
        )
        await drop_keyboard(update)
        key = (
            "supervision.followup_reopened"
            if answer is FollowUpAnswer.UNRESOLVED
            else "supervision.followup_thanks"
        )
        await reply(update, context, c.t(key, receipt=wish.receipt))
        return c.plain("supervision.answer_toast")
    raise InvalidInput("stale")


def register(application: Application) -> None:
    """Call before the router's catch-alls (unknown commands, unknown buttons)."""
    private = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    application.add_handler(CommandHandler("overdue", overdue, filters=private))
    application.add_handler(CallbackQueryHandler(on_button, pattern=act.matches(act.PUSH, act.FOLLOW_UP)))
