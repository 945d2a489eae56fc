"""Residents: the station's greeting, leaving a wish (/new), following it, rating the result."""

from __future__ import annotations

from bot import actions as act
from bot.actions import MENU_FAQ, MENU_MY, MENU_NEW, MENU_WALL, button
from bot.cards import RATING_CODES
from bot.conversation.turn import Turn
from bot.domain.draft import MAX_PHOTOS, MAX_TEXT, Draft, Step
from bot.domain.model import Action, InvalidInput, Status
from bot.domain.receipts import normalize_receipt
from bot.i18n import Catalog, Markup
from bot.messages import Button, Keyboard, OutMessage, keyboard
from bot.queries import Page
from bot.services import NotFound
from storage.repositories import StationRow

WISH_LIMIT_CHARS = MAX_TEXT
BUTTONS_PER_PAGE = 20  # Telegram refuses an inline keyboard of more than 100 buttons
PAGE_SIZE = 8  # wishes per page of /my and the wall (Liaison.my_wishes, Liaison.wall)


def main_menu(c: Catalog) -> Keyboard:
    return keyboard(
        [Button(c.plain("btn.new"), MENU_NEW), Button(c.plain("btn.my"), MENU_MY)],
        [Button(c.plain("btn.wall"), MENU_WALL), Button(c.plain("btn.faq"), MENU_FAQ)],
    )


def paged(c: Catalog, rows: list[list[Button]], page: int, verb: str, prefix: str = "") -> Keyboard:
    """One page of a long list of button rows, with « / » buttons whose action is `verb` with
    the argument `<prefix><page>`: a county may have more stations than one keyboard carries."""
    pages = max(1, -(-len(rows) // BUTTONS_PER_PAGE))
    page = min(max(page, 0), pages - 1)
    chunk = rows[page * BUTTONS_PER_PAGE : (page + 1) * BUTTONS_PER_PAGE]
    arrows = []
    if page > 0:
        arrows.append(Button(c.plain("btn.prev"), button(verb, arg=f"{prefix}{page - 1}")))
    if page + 1 < pages:
        arrows.append(Button(c.plain("btn.next_page"), button(verb, arg=f"{prefix}{page + 1}")))
    return keyboard(*chunk, arrows)


def station_buttons(c: Catalog, stations: list[StationRow], prefix: str, page: int = 0) -> Keyboard:
    """`prefix` is the verb each station button carries: st (home station) or ds (the draft's)."""
    rows = [[Button(s.name, button(prefix, arg=s.id))] for s in stations]
    return paged(c, rows, page, act.STATION_PAGE, f"{prefix}:")


async def station_page(t: Turn, arg: str) -> None:
    """« / » under a station list: the same message, the other page of buttons."""
    prefix, _, page = arg.partition(":")
    t.drop_buttons(station_buttons(t.c, await t.liaison.directory.stations(), prefix, int(page)))


def greet(t: Turn, station: StationRow) -> None:
    text = t.c.t(
        "start.welcome",
        station=station.name,
        address=station.address or "—",
        reception=station.reception or "—",
    )
    t.say(text, main_menu(t.c))


async def resume(t: Turn) -> None:
    """/start says so when it ends a /stop."""
    if await t.liaison.people.set_stopped(t.user, False):
        t.say(t.c.t("start.resumed"))


async def start(t: Turn, payload: str) -> None:
    liaison, c = t.liaison, t.c
    await resume(t)
    if payload:
        station = await liaison.directory.station(payload)
        if station is None:
            t.say(c.t("start.unknown_station"))
        else:
            await liaison.directory.choose_station(t.user, station.id)
            greet(t, station)
            return
    station = await liaison.directory.home_station(t.user)
    if station is not None:
        greet(t, station)
        return
    stations = await liaison.directory.stations()
    actor = await liaison.people.actor(t.user)
    text = c.t("start.choose_station")
    is_deputy, is_staff = bool(actor.deputy_ids), await liaison.people.is_staff(t.user)
    if is_deputy or is_staff:  # a deputy or staff member told to open the bot: what now?
        roles = [c.plain(f"role.{r}") for r, on in (("deputy", is_deputy), ("staff", is_staff)) if on]
        parts = [c.t("start.work", roles=c.plain("start.roles_sep").join(roles))]
        if is_deputy:
            parts.append(c.t("help.deputy"))
        if is_staff:
            parts.append(staff_help(t))
        parts.append(c.t("start.choose_station_as_resident"))
        text = Markup("\n\n".join(parts))
    t.say(text, station_buttons(c, stations, act.STATION))


async def choose_station(t: Turn, station_id: str) -> None:
    station = await t.liaison.directory.choose_station(t.user, station_id)
    t.drop_buttons()
    greet(t, station)


async def help_text(t: Turn) -> None:
    c = t.c
    is_staff = await t.liaison.people.is_staff(t.user)
    is_deputy = bool((await t.liaison.people.actor(t.user)).deputy_ids)
    text = c.t("help.resident")
    if is_deputy:
        text = Markup(text + "\n\n" + c.t("help.deputy"))
    if is_staff:
        text = Markup(text + "\n\n" + staff_help(t))
    t.say(text, main_menu(c))


def staff_help(t: Turn) -> Markup:
    """Staff's commands, /qr only where the channel's adapter answers it (Telegram's own)."""
    own = t.liaison.core.capabilities_of(t.event.channel).own_commands
    qr = Markup(t.c.t("help.staff_qr") + "\n") if "qr" in own else ""
    return t.c.t("help.staff", qr=qr)


async def cancel(t: Turn) -> None:
    had = await t.liaison.flows.cancel_flows(t.user)
    t.say(t.c.t("cancel.done" if had else "cancel.nothing"), main_menu(t.c))


# -- the /new flow ------------------------------------------------------------------------------


async def prompt(t: Turn, draft: Draft) -> None:
    """Ask for whatever the draft needs next."""
    c, liaison = t.c, t.liaison
    match draft.step:
        case Step.STATION:
            stations = await liaison.directory.stations()
            t.say(c.t("new.choose_station"), station_buttons(c, stations, act.DRAFT_STATION))
        case Step.CATEGORY:
            cats = await liaison.directory.categories()
            rows = [
                [Button(cat.name, button(act.DRAFT_CATEGORY, arg=cat.id)) for cat in cats[i : i + 2]]
                for i in range(0, len(cats), 2)
            ]
            t.say(c.t("new.choose_category"), keyboard(*rows))
        case Step.TEXT | Step.MORE:
            t.say(*describing(c, draft))
        case Step.PUBLIC:
            yes = Button(c.plain("btn.public_yes"), button(act.DRAFT_PUBLIC, arg=1))
            no = Button(c.plain("btn.public_no"), button(act.DRAFT_PUBLIC, arg=0))
            t.say(c.t("new.public"), keyboard([yes, no]))
        case Step.PHONE:
            skip = Button(c.plain("btn.skip"), button(act.DRAFT_SKIP_PHONE))
            t.say(c.t("new.phone"), keyboard([skip]))
        case Step.CONFIRM:
            station = await liaison.directory.station(draft.station_id or "")
            cats = {cat.id: cat.name for cat in await liaison.directory.categories()}
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
            submit = Button(c.plain("btn.submit"), button(act.DRAFT_SUBMIT))
            cancel_ = Button(c.plain("btn.cancel"), button(act.DRAFT_CANCEL))
            t.say(text, keyboard([submit, cancel_]))


def describing(c: Catalog, draft: Draft) -> tuple[Markup, Keyboard]:
    """The prompt of the description step (TEXT: describe it; MORE: add photos, a location or
    more words, then 下一步)."""
    if draft.step is Step.TEXT:
        prefill = str(draft.extra.get("prefill", ""))
        use = Button(c.plain("btn.use_question"), button(act.DRAFT_USE_QUESTION))
        return c.t("new.describe", limit=WISH_LIMIT_CHARS), keyboard([use]) if prefill else ()
    text = c.t(
        "new.more",
        photos=len(draft.photos),
        location=c.plain("new.yes") if draft.location else c.plain("new.no"),
    )
    return text, keyboard([Button(c.plain("btn.next"), button(act.DRAFT_NEXT))])


def photos_acknowledgement(c: Catalog, draft: Draft) -> OutMessage:
    """The one answer to photos sent together (Flows.add_photos queues it): the photos not
    kept past the limit, if any, then the description step's prompt with the count kept (in
    the TEXT step, which shows no count, said first)."""
    parts: list[str] = []
    if draft.refused_photos:
        parts.append(c.t("album.over_limit", limit=MAX_PHOTOS, refused=draft.refused_photos))
    if draft.step is Step.TEXT:
        parts.append(c.t("album.received", photos=len(draft.photos)))
    text, buttons = describing(c, draft)
    return OutMessage(text=Markup("\n\n".join([*parts, text])), buttons=buttons)


async def new_wish(t: Turn) -> None:
    t.drop_buttons()
    resumed = await t.liaison.flows.resume_draft(t.user)
    if resumed is not None:  # set aside by /faq, /my, ...: taken up where it was left
        start = len(t.messages)
        await prompt(t, resumed)
        t.note_before(start, t.c.t("draft.resumed"))
        return
    await prompt(t, await t.liaison.flows.start_draft(t.user))


async def draft_button(t: Turn, verb: str, arg: str) -> None:
    """Buttons of the /new flow: each one is checked against the step the draft is at."""
    liaison, c = t.liaison, t.c
    if verb == act.DRAFT_CANCEL:
        await liaison.flows.cancel_flows(t.user)
        t.drop_buttons()
        t.say(c.t("cancel.done"), main_menu(c))
        return
    if verb == act.DRAFT_SUBMIT:
        wish, ctx = await liaison.wishes.submit_draft(t.user, t.key)
        t.drop_buttons()
        t.say(
            liaison.core.cards.receipt_text(wish, ctx, c),
            keyboard([Button(c.plain("btn.my"), MENU_MY)]),
            wish_id=wish.id,
        )
        t.toast = c.plain("new.submitted_toast")
        return
    changes = {
        act.DRAFT_STATION: lambda dr: dr.with_station(arg),
        act.DRAFT_CATEGORY: lambda dr: dr.with_category(arg),
        act.DRAFT_NEXT: lambda dr: dr.described(),
        act.DRAFT_PUBLIC: lambda dr: dr.with_public(_flag(arg)),
        act.DRAFT_SKIP_PHONE: lambda dr: dr.with_phone(None),
        act.DRAFT_USE_QUESTION: lambda dr: dr.with_text(str(dr.extra.get("prefill", ""))),
    }
    change = changes.get(verb)
    if change is None:
        raise InvalidInput("stale_step")
    draft = await liaison.flows.update_draft(t.user, change)
    t.drop_buttons()
    await prompt(t, draft)


def _flag(arg: str) -> bool:
    if arg not in ("0", "1"):
        raise InvalidInput("stale_step")
    return arg == "1"


async def draft_text(t: Turn, draft: Draft, text: str) -> None:
    liaison = t.liaison
    if draft.step in (Step.TEXT, Step.MORE):
        at = liaison.core.clock.now().timestamp()
        pasted = draft.continues_paste(at)
        new = await liaison.flows.update_draft(
            t.user, lambda dr: dr.with_text(text, at=at), answered=not pasted
        )
        if pasted:
            return  # the rest of one long paste: the prompt after its first part stands
    elif draft.step is Step.PHONE:
        new = await liaison.flows.update_draft(t.user, lambda dr: dr.with_phone(text))
    else:
        t.say(t.c.t("new.use_buttons"))
        new = draft
    await prompt(t, new)


# -- following one's wishes ---------------------------------------------------------------------


def page_number(arg: str) -> int:
    try:
        page = int(arg)
    except ValueError as exc:
        raise InvalidInput("stale_step") from exc
    if not 0 <= page < 10_000:
        raise InvalidInput("stale_step")
    return page


async def my_wishes(t: Turn, page_no: int = 0) -> None:
    c, liaison = t.c, t.liaison
    page = await liaison.queries.my_wishes(t.user, page_no)
    if not page.items:
        t.say(c.t("my.empty"), keyboard([Button(c.plain("btn.new"), MENU_NEW)]))
        return
    now = liaison.core.clock.now()
    cards = liaison.core.cards
    lines = [cards.list_line(c, w, cat, now) for w, cat in page.items]
    buttons = [[Button(cards.list_label(w), button(act.VIEW, w.id))] for w, _ in page.items]
    nav = []
    if page_no > 0:
        nav.append(Button(c.plain("btn.prev"), button(act.MY_PAGE, arg=page_no - 1)))
    if page.total > (page_no + 1) * PAGE_SIZE:
        nav.append(Button(c.plain("btn.next_page"), button(act.MY_PAGE, arg=page_no + 1)))
    t.say(Markup(c.t("my.header") + "\n" + "\n".join(lines)), keyboard(*buttons, nav))


async def wall(t: Turn, page_no: int = 0) -> None:
    c, liaison = t.c, t.liaison
    station = await liaison.directory.home_station(t.user)
    if station is None:
        stations = await liaison.directory.stations()
        t.say(c.t("start.choose_station"), station_buttons(c, stations, act.STATION))
        return
    page = await liaison.queries.wall(station.id, page_no)
    if not page.items:
        t.say(c.t("wall.empty", station=station.name))
        return
    header = c.t(
        "wall.header", station=station.name, total=page.total, page=page_no + 1, pages=page.pages
    )
    text = Markup(header + "\n\n" + "\n\n".join(line for _, _, line in page.items))
    t.say(text, await wall_buttons(t, page, page_no))


async def wall_buttons(t: Turn, page: Page, page_no: int) -> Keyboard:
    """☆ 我也关注 / ★ 已关注 for each wish of a wall page (not one's own), then « / ». Each
    follow button carries its page, so a press can relabel the keyboard it was on."""
    c, liaison = t.c, t.liaison
    nav = []
    if page_no > 0:
        nav.append(Button(c.plain("btn.prev"), button(act.WALL_PAGE, arg=page_no - 1)))
    if page.total > (page_no + 1) * PAGE_SIZE:
        nav.append(Button(c.plain("btn.next_page"), button(act.WALL_PAGE, arg=page_no + 1)))
    ids = [wid for wid, _, _ in page.items]
    following = await liaison.queries.following(t.user, ids)
    own = await liaison.queries.own_among(t.user, ids)  # nobody follows their own wish
    follow = [
        [
            Button(
                c.plain("btn.unfollow" if wid in following else "btn.follow", receipt=receipt),
                button(act.FOLLOW, wid, page_no),
            )
        ]
        for wid, receipt, _ in page.items
        if wid not in own
    ]
    return keyboard(*follow, nav)


async def follow(t: Turn, wish_id: int, page_arg: str) -> None:
    """我也关注 on the wall: follow a public wish (or stop following it), said in the toast; the
    wall page's buttons then show what is true now. (A button from before buttons carried their
    page, "fl:<id>", toggles all the same and leaves its keyboard as it was.)"""
    if t.broadcasts is None:  # followers are the broadcasts' audience; none in this process
        raise InvalidInput("stale")
    following = await t.broadcasts.toggle_follow(t.user, wish_id)
    t.toast = t.c.plain("follow.on" if following else "follow.off")
    station = await t.liaison.directory.home_station(t.user)
    if page_arg and station is not None:
        page_no = int(page_arg)
        page = await t.liaison.queries.wall(station.id, page_no)
        if any(wid == wish_id for wid, _, _ in page.items):
            t.drop_buttons(await wall_buttons(t, page, page_no))


async def withdraw_command(t: Turn, args: str) -> None:
    c, liaison = t.c, t.liaison
    words = args.split()
    receipt = normalize_receipt(words[0]) if words else None
    if receipt is None:
        page = await liaison.queries.my_wishes(t.user, 0)
        open_ones = [(w, cat) for w, cat in page.items if w.is_open]
        if not open_ones:
            t.say(c.t("withdraw.none"))
            return
        buttons = [
            [Button(f"{w.receipt} · {cat}", button(act.WITHDRAW, w.id))] for w, cat in open_ones
        ]
        t.say(c.t("withdraw.choose"), keyboard(*buttons))
        return
    try:
        wish = await liaison.queries.find_receipt(t.user, receipt)
    except NotFound:
        t.say(c.t("error.receipt_not_found", receipt=receipt))
        return
    wish = await liaison.wishes.act(t.user, wish.id, Action.WITHDRAW, idempotency_key=t.key)
    t.say(c.t("withdraw.done", receipt=wish.receipt))


async def resident_action(t: Turn, verb: str, wish_id: int, arg: str) -> None:
    """Buttons residents press on messages about their own wish."""
    c, liaison = t.c, t.liaison
    if verb == act.SUPPLEMENT:
        wish = await liaison.flows.begin_input(t.user, Action.SUPPLEMENT, wish_id)
        t.say(c.t("input.supplement", receipt=wish.receipt))
        return
    if verb == act.WITHDRAW:
        if arg == "n":  # 取消 on the confirmation: the wish stays as it is
            detail = await liaison.queries.wish_detail(t.user, wish_id)
            t.drop_buttons()
            t.say(c.t("withdraw.kept", receipt=detail.wish.receipt))
            return
        if arg != "y":
            detail = await liaison.queries.wish_detail(t.user, wish_id)
            if not detail.wish.allowed(Action.WITHDRAW, await liaison.people.actor(t.user)):
                raise InvalidInput("stale")
            yes = Button(c.plain("btn.withdraw_yes"), button(act.WITHDRAW, wish_id, "y"))
            no = Button(c.plain("btn.cancel"), button(act.WITHDRAW, wish_id, "n"))
            t.say(c.t("withdraw.confirm", receipt=detail.wish.receipt), keyboard([yes, no]))
            return
        wish = await liaison.wishes.act(t.user, wish_id, Action.WITHDRAW, idempotency_key=t.key)
        t.drop_buttons()
        t.say(c.t("withdraw.done", receipt=wish.receipt))
        return
    if verb == act.RATE:
        rating = RATING_CODES.get(arg)
        if rating is None:
            raise InvalidInput("stale")
        wish = await liaison.wishes.act(
            t.user, wish_id, Action.RATE, rating=rating, idempotency_key=t.key
        )
        t.drop_buttons()
        key = "rate.reopened" if wish.status is Status.REOPENED else "rate.thanks"
        t.say(c.t(key, receipt=wish.receipt))
        t.toast = c.plain("rate.toast")
        return
    raise InvalidInput("stale")


async def stop(t: Turn) -> None:
    """/stop: no more broadcasts or follow-up questions (answers about one's wishes still come)."""
    await t.liaison.people.set_stopped(t.user, True)
    t.say(t.c.t("stop.done"))
