"""Deputies and station staff: the card buttons, /queue, /assign, /unassigned."""

from __future__ import annotations

from telegram import Update

from bot.cards import (
    ACT_ACCEPT,
    ACT_ASSIGN,
    ACT_DECLINE,
    ACT_REPLY,
    ACT_RESOLVE,
    ACT_TRANSFER,
    ACT_VIEW,
    wish_action,
)
from bot.domain.model import Action, InvalidInput, NotAllowed, Role
from bot.domain.receipts import normalize_receipt
from bot.i18n import Markup
from bot.messages import Button, keyboard
from bot.services import NotFound
from handlers.common import Context, deps, drop_keyboard, guarded, idempotency_key, reply
from handlers.supervision import due_suffixes
from storage.repositories import UserRow

INPUT_ACTIONS = {ACT_REPLY: Action.REPLY, ACT_RESOLVE: Action.RESOLVE, ACT_DECLINE: Action.DECLINE}
INPUT_PROMPTS = {
    Action.REPLY: "input.reply",
    Action.RESOLVE: "input.resolve",
    Action.DECLINE: "input.decline",
}


async def handler_action(
    update: Update, context: Context, user: UserRow, verb: str, wish_id: int, arg: str
) -> str | None:
    d = deps(context)
    c = d.catalog
    liaison = d.liaison
    if verb == ACT_ACCEPT:
        wish = await liaison.act(
            user, wish_id, Action.ACCEPT, idempotency_key=idempotency_key(update)
        )
        await drop_keyboard(update, liaison.cards.handler_buttons(wish))
        await reply(update, context, c.t("work.accepted", receipt=wish.receipt))
        return c.plain("work.accepted_toast")
    if verb in INPUT_ACTIONS:
        action = INPUT_ACTIONS[verb]
        wish = await liaison.begin_input(user, action, wish_id)
        await reply(update, context, c.t(INPUT_PROMPTS[action], receipt=wish.receipt))
        return None
    if verb in (ACT_TRANSFER, ACT_ASSIGN):
        wish, deputies = await liaison.assign_options(user, wish_id)
        if not deputies:
            await reply(update, context, c.t("work.no_deputies", receipt=wish.receipt))
            return None
        buttons = [[Button(dep.name, wish_action("to", wish.id, dep.id))] for dep in deputies]
        await reply(
            update, context, c.t("work.choose_deputy", receipt=wish.receipt), keyboard(*buttons)
        )
        return None
    if verb == "to":
        try:
            deputy_id = int(arg)
        except ValueError as exc:
            raise InvalidInput("stale") from exc
        wish = await liaison.act(
            user,
            wish_id,
            Action.ASSIGN,
            deputy_id=deputy_id,
            idempotency_key=idempotency_key(update),
        )
        await drop_keyboard(update)
        name = await liaison.deputy_name(deputy_id)
        await reply(update, context, c.t("work.assigned", receipt=wish.receipt, deputy=name))
        return None
    raise InvalidInput("stale")


async def finish_input(update: Update, context: Context, user: UserRow, text: str) -> None:
    d = deps(context)
    action, wish = await d.liaison.finish_input(user, text, idempotency_key(update))
    keys = {
        Action.REPLY: "work.replied",
        Action.RESOLVE: "work.resolved",
        Action.DECLINE: "work.declined",
        Action.SUPPLEMENT: "resident.supplemented",
    }
    await reply(update, context, d.catalog.t(keys[action], receipt=wish.receipt))


async def relay_reply(
    update: Update, context: Context, user: UserRow, wish_id: int, text: str
) -> None:
    """A Telegram reply to a message about a wish: the deputy answers, or the resident adds."""
    d = deps(context)
    detail = await d.liaison.wish_detail(user, wish_id)
    actor = await d.liaison.actor(user)
    key = idempotency_key(update)
    if (Role.DEPUTY in detail.roles or Role.STAFF in detail.roles) and detail.wish.allowed(
        Action.REPLY, actor
    ):
        wish = await d.liaison.act(user, wish_id, Action.REPLY, body=text, idempotency_key=key)
        await reply(update, context, d.catalog.t("work.replied", receipt=wish.receipt))
    elif Role.RESIDENT in detail.roles and detail.wish.allowed(Action.SUPPLEMENT, actor):
        wish = await d.liaison.act(user, wish_id, Action.SUPPLEMENT, body=text, idempotency_key=key)
        await reply(update, context, d.catalog.t("resident.supplemented", receipt=wish.receipt))
    else:
        raise InvalidInput("closed")


async def view_wish(update: Update, context: Context, user: UserRow, wish_id: int) -> None:
    d = deps(context)
    detail = await d.liaison.wish_detail(user, wish_id)
    handler = bool(detail.roles & {Role.DEPUTY, Role.STAFF})
    text = d.liaison.cards.timeline(
        detail.wish,
        detail.events,
        detail.deputy_names,
        viewer_is_handler=handler,
        notes=detail.notes,
        dues=detail.dues,
    )
    if handler and detail.followers:
        text = Markup(text + "\n" + d.catalog.t("follow.count", count=detail.followers))
    cards = d.liaison.cards
    buttons = cards.handler_buttons(detail.wish) if handler else cards.resident_buttons(detail.wish)
    await reply(update, context, text, buttons, wish_id=detail.wish.id)


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
    await handler_action(update, context, user, ACT_ASSIGN, wish.id, "")


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
