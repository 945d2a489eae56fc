"""Residents: the station's greeting, leaving a wish, following it, rating the result."""

from __future__ import annotations

from telegram import Update

from bot.cards import ACT_RATE, ACT_SUPPLEMENT, ACT_VIEW, ACT_WITHDRAW, RATING_CODES, wish_action
from bot.domain.draft import MAX_TEXT, Draft, Step
from bot.domain.model import Action, InvalidInput, Status
from bot.domain.receipts import normalize_receipt
from bot.i18n import Markup
from bot.messages import Button, Keyboard, keyboard
from bot.services import NotFound
from handlers.common import (
    Context,
    Deps,
    deps,
    drop_keyboard,
    guarded,
    idempotency_key,
    paged,
    reply,
)
from handlers.menu import publish_work_menu
from storage.repositories import StationRow, UserRow

WISH_LIMIT_CHARS = MAX_TEXT


def main_menu(d: Deps) -> Keyboard:
    c = d.catalog
    return keyboard(
        [Button(c.plain("btn.new"), "m:new"), Button(c.plain("btn.my"), "m:my")],
        [Button(c.plain("btn.wall"), "m:wall"), Button(c.plain("btn.faq"), "m:faq")],
    )


def station_buttons(d: Deps, stations: list[StationRow], prefix: str, page: int = 0) -> Keyboard:
    rows = [[Button(s.name, f"{prefix}:{s.id}")] for s in stations]
    return paged(d.catalog, rows, page, f"sp:{prefix}")


@guarded
async def station_page(update: Update, context: Context, user: UserRow) -> str | None:
    """« / » under a station list (sp:st:<page> or sp:ds:<page>): the same message, the
    other page of buttons."""
    assert update.callback_query is not None
    _, prefix, page = (update.callback_query.data or "").split(":")
    d = deps(context)
    await drop_keyboard(update, station_buttons(d, await d.liaison.stations(), prefix, int(page)))
    return None


async def greet(update: Update, context: Context, station: StationRow) -> None:
    d = deps(context)
    text = d.catalog.t(
        "start.welcome",
        station=station.name,
        address=station.address or "—",
        reception=station.reception or "—",
    )
    await reply(update, context, text, main_menu(d))


@guarded
async def start(update: Update, context: Context, user: UserRow) -> None:
    d = deps(context)
    liaison = d.liaison
    if await liaison.set_stopped(user, False):
        await reply(update, context, d.catalog.t("start.resumed"))
    actor = await liaison.actor(user)
    await publish_work_menu(context.bot, d.catalog, int(user.chat_id), actor)
    payload = context.args[0] if context.args else ""
    if payload:
        station = await liaison.station(payload)
        if station is None:
            await reply(update, context, d.catalog.t("start.unknown_station"))
        else:
            await liaison.choose_station(user, station.id)
            await greet(update, context, station)
            return
    station = await liaison.home_station(user)
    if station is not None:
        await greet(update, context, station)
        return
    stations = await liaison.stations()
    text = d.catalog.t("start.choose_station")
    is_deputy, is_staff = bool(actor.deputy_ids), await liaison.is_staff(user)
    if is_deputy or is_staff:  # a deputy or staff member told to open the bot: what now?
        roles = [
            d.catalog.plain(f"role.{r}")
            for r, on in (("deputy", is_deputy), ("staff", is_staff))
            if on
        ]
        parts = [d.catalog.t("start.work", roles=d.catalog.plain("start.roles_sep").join(roles))]
        if is_deputy:
            parts.append(d.catalog.t("help.deputy"))
        if is_staff:
            parts.append(d.catalog.t("help.staff"))
        parts.append(d.catalog.t("start.choose_station_as_resident"))
        text = Markup("\n\n".join(parts))
    await reply(update, context, text, station_buttons(d, stations, "st"))


@guarded
async def choose_station(update: Update, context: Context, user: UserRow) -> str | None:
    assert update.callback_query is not None
    station_id = (update.callback_query.data or "").split(":", 1)[1]
    station = await deps(context).liaison.choose_station(user, station_id)
    await drop_keyboard(update)
    await greet(update, context, station)
    return None


@guarded
async def help_command(update: Update, context: Context, user: UserRow) -> None:
    d = deps(context)
    is_staff = await d.liaison.is_staff(user)
    is_deputy = bool((await d.liaison.actor(user)).deputy_ids)
    text = d.catalog.t("help.resident")
    if is_deputy:
        text = Markup(text + "\n\n" + d.catalog.t("help.deputy"))
    if is_staff:
        text = Markup(text + "\n\n" + d.catalog.t("help.staff"))
    await reply(update, context, text, main_menu(d))


@guarded
async def cancel(update: Update, context: Context, user: UserRow) -> None:
    d = deps(context)
    had = await d.liaison.cancel_flows(user)
    await reply(
        update, context, d.catalog.t("cancel.done" if had else "cancel.nothing"), main_menu(d)
    )


# -- the /new flow ------------------------------------------------------------------------------


async def prompt(update: Update, context: Context, draft: Draft) -> None:
    """Ask for whatever the draft needs next."""
    d = deps(context)
    c = d.catalog
    match draft.step:
        case Step.STATION:
            await reply(
                update,
                context,
                c.t("new.choose_station"),
                station_buttons(d, await d.liaison.stations(), "ds"),
            )
        case Step.CATEGORY:
            cats = await d.liaison.categories()
            rows = [cats[i : i + 2] for i in range(0, len(cats), 2)]
            buttons = keyboard(*[[Button(cat.name, f"dc:{cat.id}") for cat in row] for row in rows])
            await reply(update, context, c.t("new.choose_category"), buttons)
        case Step.TEXT:
            prefill = str(draft.extra.get("prefill", ""))
            buttons = keyboard([Button(c.plain("btn.use_question"), "dp")]) if prefill else ()
            await reply(update, context, c.t("new.describe", limit=WISH_LIMIT_CHARS), buttons)
        case Step.MORE:
            await reply(
                update,
                context,
                c.t(
                    "new.more",
                    photos=len(draft.photos),
                    location=c.plain("new.yes") if draft.location else c.plain("new.no"),
                ),
                keyboard([Button(c.plain("btn.next"), "dn")]),
            )
        case Step.PUBLIC:
            await reply(
                update,
                context,
                c.t("new.public"),
                keyboard(
                    [
                        Button(c.plain("btn.public_yes"), "dv:1"),
                        Button(c.plain("btn.public_no"), "dv:0"),
                    ]
                ),
            )
        case Step.PHONE:
            await reply(
                update, context, c.t("new.phone"), keyboard([Button(c.plain("btn.skip"), "dk")])
            )
        case Step.CONFIRM:
            station = await d.liaison.station(draft.station_id or "")
            cats = {cat.id: cat.name for cat in await d.liaison.categories()}
            text = c.t(
                "new.confirm",
                station=station.name if station else "",
                category=cats.get(draft.category_id or "", ""),
                text=draft.text,
                photos=len(draft.photos),
                location=c.plain("new.yes") if draft.location else c.plain("new.no"),
                public=c.plain("card.public_yes" if draft.public else "card.public_no"),
                phone=draft.phone or c.plain("new.no_phone"),
            )
            await reply(
                update,
                context,
                text,
                keyboard(
                    [Button(c.plain("btn.submit"), "do"), Button(c.plain("btn.cancel"), "dx")]
                ),
            )


@guarded
async def new_wish(update: Update, context: Context, user: UserRow) -> str | None:
    if update.callback_query is not None:
        await drop_keyboard(update)
    draft = await deps(context).liaison.start_draft(user)
    await prompt(update, context, draft)
    return None


@guarded
async def draft_button(update: Update, context: Context, user: UserRow) -> str | None:
    """Buttons of the /new flow: each one is checked against the step the draft is at."""
    assert update.callback_query is not None
    data = update.callback_query.data or ""
    verb, _, arg = data.partition(":")
    d = deps(context)
    liaison = d.liaison
    if verb == "dx":
        await liaison.cancel_flows(user)
        await drop_keyboard(update)
        await reply(update, context, d.catalog.t("cancel.done"), main_menu(d))
        return None
    if verb == "do":
        wish, ctx = await liaison.submit_draft(user, idempotency_key(update))
        await drop_keyboard(update)
        await reply(
            update,
            context,
            liaison.cards.receipt_text(wish, ctx),
            keyboard([Button(d.catalog.plain("btn.my"), "m:my")]),
            wish_id=wish.id,
        )
        return d.catalog.plain("new.submitted_toast")
    changes = {
        "ds": lambda dr: dr.with_station(arg),
        "dc": lambda dr: dr.with_category(arg),
        "dn": lambda dr: dr.described(),
        "dv": lambda dr: dr.with_public(_flag(arg)),
        "dk": lambda dr: dr.with_phone(None),
        "dp": lambda dr: dr.with_text(str(dr.extra.get("prefill", ""))),
    }
    change = changes.get(verb)
    if change is None:
        raise InvalidInput("stale_step")
    draft = await liaison.update_draft(user, change)
    await drop_keyboard(update)
    await prompt(update, context, draft)
    return None


def _flag(arg: str) -> bool:
    if arg not in ("0", "1"):
        raise InvalidInput("stale_step")
    return arg == "1"


async def draft_text(
    update: Update, context: Context, user: UserRow, draft: Draft, text: str
) -> None:
    liaison = deps(context).liaison
    if draft.step in (Step.TEXT, Step.MORE):
        at = liaison.clock.now().timestamp()
        pasted = draft.continues_paste(at)
        new = await liaison.update_draft(user, lambda dr: dr.with_text(text, at=at))
        if pasted:
            return  # the rest of one long paste: the prompt after its first part stands
    elif draft.step is Step.PHONE:
        new = await liaison.update_draft(user, lambda dr: dr.with_phone(text))
    else:
        await reply(update, context, deps(context).catalog.t("new.use_buttons"))
        new = draft
    await prompt(update, context, new)


# -- following one's wishes ---------------------------------------------------------------------


@guarded
async def my_wishes(update: Update, context: Context, user: UserRow) -> str | None:
    d = deps(context)
    page_no = 0
    query = update.callback_query
    if query is not None and (query.data or "").startswith("my:"):
        page_no = _page(query.data or "")
    page = await d.liaison.my_wishes(user, page_no)
    if not page.items:
        await reply(
            update,
            context,
            d.catalog.t("my.empty"),
            keyboard([Button(d.catalog.plain("btn.new"), "m:new")]),
        )
        return None
    now = d.liaison.clock.now()
    cards = d.liaison.cards
    lines = [
        d.catalog.t(
            "my.line",
            receipt=w.receipt,
            category=cat,
            status=cards.status(w.status),
            age=cards.age(w.created_at, now),
        )
        for w, cat in page.items
    ]
    buttons = [
        [Button(f"{w.receipt} · {cards.status(w.status)}", wish_action(ACT_VIEW, w.id))]
        for w, _ in page.items
    ]
    nav = []
    if page_no > 0:
        nav.append(Button(d.catalog.plain("btn.prev"), f"my:{page_no - 1}"))
    if page.total > (page_no + 1) * 8:
        nav.append(Button(d.catalog.plain("btn.next_page"), f"my:{page_no + 1}"))
    await reply(
        update,
        context,
        Markup(d.catalog.t("my.header") + "\n" + "\n".join(lines)),
        keyboard(*buttons, nav),
    )
    return None


def _page(data: str) -> int:
    try:
        page = int(data.rsplit(":", 1)[1])
    except ValueError as exc:
        raise InvalidInput("stale_step") from exc
    if not 0 <= page < 10_000:
        raise InvalidInput("stale_step")
    return page


@guarded
async def wall(update: Update, context: Context, user: UserRow) -> str | None:
    d = deps(context)
    station = await d.liaison.home_station(user)
    if station is None:
        await reply(
            update,
            context,
            d.catalog.t("start.choose_station"),
            station_buttons(d, await d.liaison.stations(), "st"),
        )
        return None
    query = update.callback_query
    page_no = (
        _page(query.data or "") if query is not None and (query.data or "").startswith("wl:") else 0
    )
    page = await d.liaison.wall(station.id, page_no)
    if not page.items:
        await reply(update, context, d.catalog.t("wall.empty", station=station.name))
        return None
    nav = []
    if page_no > 0:
        nav.append(Button(d.catalog.plain("btn.prev"), f"wl:{page_no - 1}"))
    if page.total > (page_no + 1) * 8:
        nav.append(Button(d.catalog.plain("btn.next_page"), f"wl:{page_no + 1}"))
    header = d.catalog.t(
        "wall.header", station=station.name, total=page.total, page=page_no + 1, pages=page.pages
    )
    ids = [wid for wid, _, _ in page.items]
    following = await d.liaison.following(user, ids)
    own = await d.liaison.own_among(user, ids)  # nobody follows their own wish
    follow = [
        [Button(d.catalog.plain("btn.unfollow" if wid in following else "btn.follow", receipt=receipt), f"fl:{wid}")]
        for wid, receipt, _ in page.items
        if wid not in own
    ]
    text = Markup(header + "\n\n" + "\n\n".join(line for _, _, line in page.items))
    await reply(update, context, text, keyboard(*follow, nav))
    return None


@guarded
async def withdraw_command(update: Update, context: Context, user: UserRow) -> None:
    d = deps(context)
    receipt = normalize_receipt(context.args[0]) if context.args else None
    if receipt is None:
        page = await d.liaison.my_wishes(user, 0)
        open_ones = [(w, c) for w, c in page.items if w.is_open]
        if not open_ones:
            await reply(update, context, d.catalog.t("withdraw.none"))
            return
        buttons = [
            [Button(f"{w.receipt} · {c}", wish_action(ACT_WITHDRAW, w.id))] for w, c in open_ones
        ]
        await reply(update, context, d.catalog.t("withdraw.choose"), keyboard(*buttons))
        return
    try:
        wish = await d.liaison.find_receipt(user, receipt)
    except NotFound:
        await reply(update, context, d.catalog.t("error.receipt_not_found", receipt=receipt))
        return
    wish = await d.liaison.act(
        user, wish.id, Action.WITHDRAW, idempotency_key=idempotency_key(update)
    )
    await reply(update, context, d.catalog.t("withdraw.done", receipt=wish.receipt))


async def resident_action(
    update: Update, context: Context, user: UserRow, verb: str, wish_id: int, arg: str
) -> str | None:
    """Buttons residents press on messages about their own wish."""
    d = deps(context)
    c = d.catalog
    liaison = d.liaison
    if verb == ACT_SUPPLEMENT:
        wish = await liaison.begin_input(user, Action.SUPPLEMENT, wish_id)
        await reply(update, context, c.t("input.supplement", receipt=wish.receipt))
        return None
    if verb == ACT_WITHDRAW:
        if arg != "y":
            detail = await liaison.wish_detail(user, wish_id)
            if not detail.wish.allowed(Action.WITHDRAW, await liaison.actor(user)):
                raise InvalidInput("stale")
            await reply(
                update,
                context,
                c.t("withdraw.confirm", receipt=detail.wish.receipt),
                keyboard(
                    [Button(c.plain("btn.withdraw_yes"), wish_action(ACT_WITHDRAW, wish_id, "y"))]
                ),
            )
            return None
        wish = await liaison.act(
            user, wish_id, Action.WITHDRAW, idempotency_key=idempotency_key(update)
        )
        await drop_keyboard(update)
        await reply(update, context, c.t("withdraw.done", receipt=wish.receipt))
        return None
    if verb == ACT_RATE:
        rating = RATING_CODES.get(arg)
        if rating is None:
            raise InvalidInput("stale")
        wish = await liaison.act(
            user, wish_id, Action.RATE, rating=rating, idempotency_key=idempotency_key(update)
        )
        await drop_keyboard(update)
        key = "rate.reopened" if wish.status is Status.REOPENED else "rate.thanks"
        await reply(update, context, c.t(key, receipt=wish.receipt))
        return c.plain("rate.toast")
    raise InvalidInput("stale")
