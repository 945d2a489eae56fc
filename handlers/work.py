"""Deputies and station staff on Telegram: /queue, /assign, /unassigned (the card buttons are
the conversation's: bot/conversation/work.py)."""

from __future__ import annotations

from telegram import Update

from bot import actions as act
from bot.actions import Action as ButtonAction
from bot.cards import ACT_ASSIGN, ACT_VIEW, wish_action
from bot.domain.model import NotAllowed
from bot.domain.receipts import normalize_receipt
from bot.i18n import Markup
from bot.messages import Button, keyboard
from bot.services import NotFound
from handlers.common import Context, converse, deps, guarded, reply
from handlers.supervision import due_suffixes
from storage.repositories import UserRow


@guarded
async def queue(update: Update, context: Context, user: UserRow) -> None:
    d = deps(context)
    actor = await d.liaison.actor(user)
    if not (actor.deputy_ids or actor.staff_of or actor.is_admin):
        raise NotAllowed("queue")
    items = await d.liaison.queue(user)
    if not items:
        await reply(update, context, d.catalog.t("queue.empty"))
        return
    now = d.liaison.clock.now()
    cards = d.liaison.cards
    dues = await due_suffixes(context, [w for w, _ in items[:30]])  # 受理/办结时限
    lines = [
        d.catalog.t(
            "my.line",
            receipt=w.receipt,
            category=cat,
            status=cards.status(w.status),
            age=cards.age(w.created_at, now),
        )
        + dues.get(w.id, "")
        for w, cat in items[:30]
    ]
    buttons = [
        [Button(f"{w.receipt} · {cards.status(w.status)}", wish_action(ACT_VIEW, w.id))]
        for w, _ in items[:30]
    ]
    await reply(
        update,
        context,
        Markup(d.catalog.t("queue.header", count=len(items)) + "\n" + "\n".join(lines)),
        keyboard(*buttons),
    )


@guarded
async def assign(update: Update, context: Context, user: UserRow) -> None:
    d = deps(context)
    if not await d.liaison.is_staff(user):
        raise NotAllowed("assign")
    receipt = normalize_receipt(context.args[0]) if context.args else None
    if receipt is None:
        await _list_unassigned(update, context, user)
        return
    try:
        wish = await d.liaison.find_receipt(user, receipt)
    except NotFound:
        await reply(update, context, d.catalog.t("error.receipt_not_found", receipt=receipt))
        return
    # The same as pressing 转办/分派 on the wish's card.
    await converse(update, context, action=ButtonAction(act.ASSIGN, wish.id))


@guarded
async def unassigned(update: Update, context: Context, user: UserRow) -> None:
    if not await deps(context).liaison.is_staff(user):
        raise NotAllowed("unassigned")
    await _list_unassigned(update, context, user)


async def _list_unassigned(update: Update, context: Context, user: UserRow) -> None:
    d = deps(context)
    items = await d.liaison.unassigned(user)
    if not items:
        await reply(update, context, d.catalog.t("assign.none"))
        return
    buttons = [
        [Button(f"{w.receipt} · {cat}", wish_action(ACT_ASSIGN, w.id))] for w, cat in items[:30]
    ]
    await reply(update, context, d.catalog.t("assign.choose", count=len(items)), keyboard(*buttons))


# /stats lives in handlers.reports (counts by status, the period's figures and the chart).
