"""Deputies and staff: the buttons under a wish card, typed answers, and a wish's timeline."""

from __future__ import annotations

from bot import actions as act
from bot.actions import button
from bot.conversation.turn import Turn
from bot.domain.model import Action, InvalidInput, Role
from bot.i18n import Markup
from bot.messages import Button, OutMessage, keyboard

INPUT_ACTIONS = {act.REPLY: Action.REPLY, act.RESOLVE: Action.RESOLVE, act.DECLINE: Action.DECLINE}
INPUT_PROMPTS = {
    Action.REPLY: "input.reply",
    Action.RESOLVE: "input.resolve",
    Action.DECLINE: "input.decline",
}
DONE = {
    Action.REPLY: "work.replied",
    Action.RESOLVE: "work.resolved",
    Action.DECLINE: "work.declined",
    Action.SUPPLEMENT: "resident.supplemented",
}


async def handler_action(t: Turn, verb: str, wish_id: int, arg: str) -> None:
    c, liaison = t.c, t.liaison
    if verb == act.ACCEPT:
        wish = await liaison.wishes.act(t.user, wish_id, Action.ACCEPT, idempotency_key=t.key)
        t.drop_buttons(liaison.core.cards.handler_buttons(wish))
        t.say(c.t("work.accepted", receipt=wish.receipt))
        t.toast = c.plain("work.accepted_toast")
        return
    if verb in INPUT_ACTIONS:
        action = INPUT_ACTIONS[verb]
        wish = await liaison.flows.begin_input(t.user, action, wish_id)
        t.say(c.t(INPUT_PROMPTS[action], receipt=wish.receipt))
        return
    if verb in (act.TRANSFER, act.ASSIGN):
        wish, deputies = await liaison.queries.assign_options(t.user, wish_id)
        if not deputies:
            t.say(c.t("work.no_deputies", receipt=wish.receipt))
            return
        rows = [[Button(dep.name, button(act.ASSIGN_TO, wish.id, dep.id))] for dep in deputies]
        t.say(c.t("work.choose_deputy", receipt=wish.receipt), keyboard(*rows))
        return
    if verb == act.ASSIGN_TO:
        try:
            deputy_id = int(arg)
        except ValueError as exc:
            raise InvalidInput("stale") from exc
        wish = await liaison.wishes.act(
            t.user, wish_id, Action.ASSIGN, deputy_id=deputy_id, idempotency_key=t.key
        )
        t.drop_buttons()
        name = await liaison.directory.deputy_name(deputy_id)
        t.say(c.t("work.assigned", receipt=wish.receipt, deputy=name))
        return
    raise InvalidInput("stale")


async def finish_input(t: Turn, text: str) -> None:
    action, wish = await t.liaison.wishes.finish_input(t.user, text, t.key)
    t.say(t.c.t(DONE[action], receipt=wish.receipt))


async def relay_reply(t: Turn, wish_id: int, text: str) -> None:
    """A reply to a message about a wish (channels with reply_to): the deputy answers, or the
    resident adds to their wish."""
    liaison = t.liaison
    detail = await liaison.queries.wish_detail(t.user, wish_id)
    actor = await liaison.people.actor(t.user)
    if (Role.DEPUTY in detail.roles or Role.STAFF in detail.roles) and detail.wish.allowed(
        Action.REPLY, actor
    ):
        wish = await liaison.wishes.act(t.user, wish_id, Action.REPLY, body=text, idempotency_key=t.key)
        t.say(t.c.t("work.replied", receipt=wish.receipt))
    elif Role.RESIDENT in detail.roles and detail.wish.allowed(Action.SUPPLEMENT, actor):
        wish = await liaison.wishes.act(
            t.user, wish_id, Action.SUPPLEMENT, body=text, idempotency_key=t.key
        )
        t.say(t.c.t("resident.supplemented", receipt=wish.receipt))
    else:
        raise InvalidInput("closed")


async def view_wish(t: Turn, wish_id: int) -> None:
    liaison = t.liaison
    detail = await liaison.queries.wish_detail(t.user, wish_id)
    handler = bool(detail.roles & {Role.DEPUTY, Role.STAFF})
    text = liaison.core.cards.timeline(
        detail.wish,
        detail.events,
        detail.deputy_names,
        viewer_is_handler=handler,
        notes=detail.notes,
        dues=detail.dues,
    )
    if handler and detail.followers:
        text = Markup(text + "\n" + t.c.t("follow.count", count=detail.followers))
    cards = liaison.core.cards
    buttons = cards.handler_buttons(detail.wish) if handler else cards.resident_buttons(detail.wish)
    photos = tuple(a.file_ref for a in detail.attachments if a.kind == "photo" and a.file_ref)
    if handler and photos:
        # the wish's photos before its details, as on the card (whatever channel they came by:
        # each channel fetches another's through bot/media.py)
        t.send(OutMessage(photos=photos, wish_id=detail.wish.id))
    t.say(text, buttons, wish_id=detail.wish.id)
