"""What an input means: free text, media, commands and button actions, routed to their flow.

This is the deciding that used to live in the Telegram handlers; it sees only `Inbound`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from bot import actions as act
from bot.broadcasts import SESSION_KEY as BROADCAST_KEY
from bot.conversation import broadcast, desk, faq, faq_admin, resident, work
from bot.conversation.events import Inbound, Kind
from bot.conversation.link import link
from bot.conversation.turn import Turn
from bot.domain.draft import Step, same_sending
from bot.domain.model import InvalidInput
from bot.domain.receipts import normalize_receipt
from bot.flows import PHOTOS_OUT_OF_PLACE, FlowState

RESIDENT_VERBS = {act.SUPPLEMENT, act.WITHDRAW, act.RATE}
DRAFT_VERBS = frozenset(
    {
        act.DRAFT_STATION,
        act.DRAFT_CATEGORY,
        act.DRAFT_PUBLIC,
        act.DRAFT_NEXT,
        act.DRAFT_SKIP_PHONE,
        act.DRAFT_USE_QUESTION,
        act.DRAFT_SUBMIT,
        act.DRAFT_CANCEL,
    }
)

def _start(t: Turn, args: str) -> Awaitable[None]:
    words = args.split()
    return resident.start(t, words[0] if words else "")


# The commands the conversation answers itself, on every channel (name -> what it does with the
# rest of the line); any other is answered as unknown. The desk's (/queue, /overdue, /stats,
# /export, ...) are bot/conversation/desk.py's. Only Telegram's /qr (the bot's own t.me link)
# stays with its channel.
HANDLERS: dict[str, Callable[[Turn, str], Awaitable[None]]] = {
    "start": _start,
    "help": lambda t, _: resident.help_text(t),
    "new": lambda t, _: resident.new_wish(t),
    "my": lambda t, _: resident.my_wishes(t),
    "wall": lambda t, _: resident.wall(t),
    "withdraw": resident.withdraw_command,
    "cancel": lambda t, _: resident.cancel(t),
    "faq": lambda t, _: faq.topics(t),
    "stop": lambda t, _: resident.stop(t),
    "faq_gaps": lambda t, _: faq_admin.gaps(t),
    "faq_add": faq_admin.add,
    "faq_reload": lambda t, _: faq_admin.reload(t),
    "broadcast": lambda t, _: broadcast.begin(t),
    **desk.HANDLERS,
}
COMMANDS = frozenset(HANDLERS)
MENU = ("new", "my", "wall", "faq")  # the main menu's buttons: the same as their commands
# Commands (and menu buttons) that take the person elsewhere: a draft being filled is set aside
# (kept; /new takes it up again), so what they write next is answered there, not added to it.
ASIDE = frozenset({"my", "wall", "faq", "help"})
BROADCAST_VERBS = frozenset(
    {act.BROADCAST_SCOPE, act.BROADCAST_PAGE, act.BROADCAST_CANCEL, act.BROADCAST_AUDIENCE}
)


async def route(t: Turn, bot_name: str) -> None:
    event = t.event
    if not event.private:
        # A group: the channel passes on only what addresses the bot (a command, a mention).
        if event.kind in (Kind.COMMAND, Kind.TEXT):
            await faq.in_group(t, bot_name)
            return
        if event.kind is not Kind.ACTION:
            return
        if not faq.group_safe(event.action):
            # A wish's buttons answer where they are pressed: in a group (pressed there by
            # forging) a timeline, a draft or a wish list would be posted for all to read.
            raise InvalidInput("private_only")
    match event.kind:
        case Kind.START:
            await resident.start(t, event.start_payload)
        case Kind.COMMAND:
            await command(t, event.command, event.args)
        case Kind.TEXT:
            await text(t, event)
        case Kind.ACTION:
            if event.action is None:
                if event.text and await expects_text(t):
                    # a number typed for no option on offer (WeChat's numbered options: the
                    # channel carries the text) while free text is awaited is that text: "12"
                    # as a reply, a description or a phone number, not a stale press
                    await text(t, event)
                    return
                raise InvalidInput("stale")
            await action(t, event.action, bot_name)
        case Kind.PHOTO:
            await photo(t, event)
        case Kind.LOCATION:
            await location(t, event)
        case Kind.CONTACT:
            await contact(t, event.text)
        case _:
            t.say(t.c.t("media.unsupported"))


async def run(t: Turn, name: str, args: str) -> None:
    """A known command (typed, or its menu button): one that takes the person elsewhere sets a
    draft being filled aside first, and says so above its answer."""
    aside = name in ASIDE and await t.liaison.flows.set_draft_aside(t.user)
    start = len(t.messages)
    await HANDLERS[name](t, args)
    if aside:
        t.note_before(start, t.c.t("draft.set_aside"))


async def command(t: Turn, name: str, args: str) -> None:
    if name in HANDLERS:
        await run(t, name, args)
    elif name == "link":  # not in COMMANDS: a channel that offers linking (WeChat) passes it
        await link(t, args)
    else:
        t.say(t.c.t("error.unknown_command"))


async def tell_expired(t: Turn) -> None:
    """Pending input left too long is dropped, with a note; the message is then handled as if
    nothing were pending (a receipt opens its wish, a question gets the FAQ)."""
    minutes = int(t.liaison.core.input_timeout.total_seconds() // 60)
    for kind, receipt in await t.liaison.flows.expire_input(t.user):
        key = "privacy.input_expired" if kind == "input" else "privacy.broadcast_expired"
        t.say(t.c.t(key, receipt=receipt, minutes=minutes))


async def fresh_state(t: Turn) -> FlowState:
    """The person's flow state for this turn, read once (the hot path of every message), with
    pending input left too long dropped first (and said)."""
    state = await t.liaison.flows.read(t.user)
    if t.liaison.flows.needs_expiry(state):
        await tell_expired(t)
        state = await t.liaison.flows.read(t.user)
    return state


async def expects_text(t: Turn) -> bool:
    """Whether the person's state awaits free text: the body of a 回复/补充 (pending input), or
    a draft at its description or phone step."""
    state = await fresh_state(t)
    if t.liaison.flows.pending_in(state) is not None:
        return True
    draft = t.liaison.flows.draft_in(state)
    return draft is not None and draft.step in (Step.TEXT, Step.MORE, Step.PHONE)


async def text(t: Turn, event: Inbound) -> None:
    """Free text: a reply about a wish, the body of a pending action, a draft step, or the FAQ."""
    liaison, body = t.liaison, event.text
    state = await fresh_state(t)
    if event.reply_to is not None:
        wish_id = await liaison.queries.linked_wish(event.channel, event.chat, event.reply_to)
        if wish_id is not None:
            await work.relay_reply(t, wish_id, body)
            return
    if liaison.flows.pending_in(state) is not None:
        await work.finish_input(t, body)
        return
    if state.data.get(BROADCAST_KEY) and await broadcast.handle_text(t, body):
        return
    draft = liaison.flows.draft_in(state)
    if draft is not None:
        await resident.draft_text(t, draft, body)
        return
    receipt = normalize_receipt(body)
    if receipt is not None:  # a receipt number on its own opens that wish (if one may see it)
        wish = await liaison.queries.find_receipt(t.user, receipt)
        await work.view_wish(t, wish.id)
        return
    await faq.answer_question(t, body)


async def photo(t: Turn, event: Inbound) -> None:
    """Photos: a broadcast's, a draft's, or out of place. A draft's are acknowledged once per
    sending (an album, or pictures sent together), after the last: Flows.add_photos queues the
    answer; this turn says nothing."""
    state = await fresh_state(t)
    # a broadcast carries one photo
    if state.data.get(BROADCAST_KEY) and await broadcast.handle_text(
        t, event.text, photo=event.photos[-1]
    ):
        return
    draft = t.liaison.flows.draft_in(state)
    if draft is None or draft.step not in (Step.TEXT, Step.MORE):
        await photo_out_of_place(t, event, state)
        return
    c = t.c
    await t.liaison.flows.add_photos(
        t.user,
        event.photos,
        event.text or None,
        group=event.group,
        channel=event.channel,
        chat=event.chat,
        acknowledgement=lambda new: resident.photos_acknowledgement(c, new),
    )


async def photo_out_of_place(t: Turn, event: Inbound, state: FlowState) -> None:
    """A photo with no draft to take it is explained once per sending, as the first part of a
    split paste gets the prompt: the rest of an album need not say it four more times."""
    at = t.liaison.core.clock.now().timestamp()
    last = state.data.get(PHOTOS_OUT_OF_PLACE)
    await t.liaison.flows.set_session_value(
        t.user, PHOTOS_OUT_OF_PLACE, {"at": at, "group": event.group}
    )
    if not same_sending(last if isinstance(last, dict) else {}, at, event.group):
        t.say(t.c.t("media.photo_outside_flow"))


async def location(t: Turn, event: Inbound) -> None:
    draft = await t.liaison.flows.draft(t.user)
    if event.location is None or draft is None or draft.step not in (Step.TEXT, Step.MORE):
        t.say(t.c.t("media.location_outside_flow"))
        return
    lat, lon = event.location
    new = await t.liaison.flows.update_draft(t.user, lambda dr: dr.with_location(lat, lon))
    await resident.prompt(t, new)


async def contact(t: Turn, phone: str) -> None:
    draft = await t.liaison.flows.draft(t.user)
    if draft is None or draft.step is not Step.PHONE:
        t.say(t.c.t("media.unsupported"))
        return
    new = await t.liaison.flows.update_draft(t.user, lambda dr: dr.with_phone(phone))
    await resident.prompt(t, new)


async def action(t: Turn, a: act.Action, bot_name: str) -> None:
    """Every button press. The codec already refused malformed data; each use case re-checks
    the actor's rights and the wish's state on the server."""
    verb, arg = a.verb, a.arg
    if verb in act.WISH_VERBS and a.wish_id is not None:
        if verb == act.VIEW:
            await work.view_wish(t, a.wish_id)
        elif verb in RESIDENT_VERBS:
            await resident.resident_action(t, verb, a.wish_id, arg)
        else:
            await work.handler_action(t, verb, a.wish_id, arg)
        return
    if verb in DRAFT_VERBS:
        await resident.draft_button(t, verb, arg)
        return
    if verb in desk.VERBS:
        await desk.action(t, a)
        return
    if verb in faq_admin.TEACH_VERBS:
        await faq_admin.learn(t, a)
        return
    if verb in BROADCAST_VERBS:
        await broadcast.on_button(t, a)
        return
    match verb:
        case act.MENU:
            await menu(t, arg)
        case act.STATION:
            await resident.choose_station(t, arg)
        case act.STATION_PAGE:
            await resident.station_page(t, arg)
        case act.MY_PAGE:
            await resident.my_wishes(t, resident.page_number(arg))
        case act.WALL_PAGE:
            await resident.wall(t, resident.page_number(arg))
        case act.FAQ_PAGE:
            await faq.topics(t, int(arg))
        case act.FAQ_ANSWER:
            await faq.show_answer(t, arg)
        case act.FAQ_TO_WISH:
            await faq.to_wish(t, bot_name)
        case act.FOLLOW if a.wish_id is not None:
            await resident.follow(t, a.wish_id, arg)
        case _:
            raise InvalidInput("stale")


async def menu(t: Turn, which: str) -> None:
    if which not in MENU:
        raise InvalidInput("stale")
    await run(t, which, "")
