"""Use cases: what residents, deputies, staff and the system can do, independent of transport.

Each use case runs in one transaction: it re-reads the wish, re-checks the actor's rights on the
server (never trusting what a client sent), applies the domain change, records the timeline
event and queues every message to other people in the outbox, all or nothing.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, tzinfo
from typing import Any

from bot.cards import Cards, WishContext
from bot.clock import Clock
from bot.domain.deadlines import DueDates, NoteKind, SupervisionNote
from bot.domain.draft import MAX_REPLY, Draft, Step
from bot.domain.masking import mask_pii, name_variants, wish_names
from bot.domain.model import (
    RULES,
    Action,
    Actor,
    DomainError,
    Event,
    InvalidInput,
    InvalidTransition,
    NotAllowed,
    Rating,
    Role,
    Status,
    Wish,
    new_wish_event,
)
from bot.domain.receipts import format_receipt
from bot.domain.routing import choose_deputy
from bot.i18n import Catalog
from bot.messages import OutMessage
from bot.stations_file import StationsConfig
from bot.textfit import truncate_plain
from storage.broadcasts import Broadcasts
from storage.db import Database
from storage.directory_sync import DirectorySync
from storage.repositories import (
    Attachment,
    CategoryRow,
    DeputyRow,
    NewOutgoing,
    Repos,
    StationRow,
    UserRow,
)
from storage.supervision import SupervisionRepo

log = logging.getLogger(__name__)

# Outbox priorities: lower goes first. A resident's answer never waits behind a wall post.
PRIORITY_INTERACTIVE = 0
PRIORITY_NOTIFY = 1
PRIORITY_WALL = 5
PRIORITY_BROADCAST = 9

PAGE_SIZE = 8
# reminders_sent kind marking that a departed deputy's wish was handed back to staff (once)
DEPUTY_LEFT = "deputy_left"


class NotFound(DomainError):
    code = "not_found"


@dataclass(frozen=True)
class Identity:
    """A person as a transport sees them."""

    channel: str
    external_id: str
    chat_id: str
    display_name: str | None = None


@dataclass(frozen=True)
class WishDetail:
    wish: Wish
    events: list[Event]
    attachments: list[Attachment]
    context: WishContext
    roles: frozenset[Role]
    deputy_names: dict[int, str]
    notes: list[SupervisionNote] = field(default_factory=list)  # 督办 and 回访 entries
    dues: DueDates | None = None  # acceptance / resolution deadlines (None without supervision)
    followers: int = 0  # residents who follow it: how many people care


@dataclass(frozen=True)
class Page:
    items: list[Any]
    page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / PAGE_SIZE))


@dataclass(frozen=True)
class StationStats:
    station: StationRow
    by_status: dict[str, int]
    not_started: list[str]

    @property
    def total(self) -> int:
        return sum(self.by_status.values())



class Liaison:
    def __init__(
        self,
        db: Database,
        catalog: Catalog,
        clock: Clock,
        tz: tzinfo,
        admins: Iterable[tuple[str, str]] = (),
        auto_close_days: int = 7,
        input_timeout: timedelta = timedelta(minutes=30),
    ) -> None:
        self.db = db
        # A pending 回复/办结/不予受理/补充 body or a broadcast being written expires after this:
        # days later, whatever the person types must not go to a resident or the station.
        self.input_timeout = input_timeout
        self.c = catalog
        self.clock = clock
        self.tz = tz
        self.cards = Cards(catalog, tz)
        self.admins = frozenset(admins)
        self.auto_close_days = auto_close_days
        # At most this many wishes per resident in any 24 hours (0: no limit); set from
        # LIAISON_LIMIT_WISHES_PER_DAY by the composition root.
        self.wishes_per_day = 0
        # Called inside the transaction of every recorded event (supervision sets due dates).
        self.event_hooks: list[Callable[[Repos, Wish, Event], Awaitable[None]]] = []

    # -- identity and roles ---------------------------------------------------------------------

    async def identify(self, ident: Identity) -> UserRow:
        """The person behind an update; opening the bot also makes them reachable again."""
        # Nearly always the person is known and nothing about them changed: one read then,
        # instead of a write transaction on every update (the hot path under load).
        async with self.db.read() as conn:
            known = await Repos(conn).user_by_external(ident.channel, ident.external_id)
        if (
            known is not None
            and known.chat_id == ident.chat_id
            and (ident.display_name is None or known.display_name == ident.display_name)
            and known.started_at is not None
            and known.unreachable_at is None
        ):
            return known
        now = self.clock.now()
        async with self.db.transaction() as conn:
            repos = Repos(conn)
            user = await repos.ensure_user(
                ident.channel, ident.external_id, ident.chat_id, ident.display_name, now
            )
            if user.started_at is None or user.unreachable_at is not None:
                await repos.mark_started(user.id, now)
                user = await repos.user(user.id)
                assert user is not None
        return user

    async def _actor(self, repos: Repos, user: UserRow) -> Actor:
        deputies = await repos.deputies_of_user(user.id)
        return Actor(
            user_id=user.id,
            staff_of=await repos.staff_stations(user.id),
            is_admin=(user.channel, user.external_id) in self.admins,
            deputy_ids=frozenset(d.id for d in deputies),
        )

    async def actor(self, user: UserRow) -> Actor:
        async with self.db.read() as conn:
            return await self._actor(Repos(conn), user)

    async def workers(self, channel: str) -> list[tuple[UserRow, Actor]]:
        """Deputies, staff and county admins who can be messaged, with their memberships
        (for per-person command menus)."""
        async with self.db.read() as conn:
            repos = Repos(conn)
            users = {u.id: u for u in await repos.started_workers(channel)}
            for admin_channel, external_id in self.admins:
                if admin_channel != channel:
                    continue
                admin = await repos.user_by_external(admin_channel, external_id)
                if admin and admin.started_at is not None and admin.unreachable_at is None:
                    users[admin.id] = admin
            return [(u, await self._actor(repos, u)) for _, u in sorted(users.items())]

    async def managed_stations(self, repos: Repos, actor: Actor) -> list[StationRow]:
        stations = await repos.stations()
        return [s for s in stations if actor.is_staff_of(s.id)]

    # -- directory ------------------------------------------------------------------------------

    async def stations(self) -> list[StationRow]:
        async with self.db.read() as conn:
            return await Repos(conn).stations()

    async def station(self, station_id: str) -> StationRow | None:
        async with self.db.read() as conn:
            return await Repos(conn).station(station_id)

    async def categories(self) -> list[CategoryRow]:
        async with self.db.read() as conn:
            return await Repos(conn).categories()

    async def home_station(self, user: UserRow) -> StationRow | None:
        """The station a resident is using: chosen, by deep link, or the only one there is."""
        async with self.db.read() as conn:
            repos = Repos(conn)
            fresh = await repos.user(user.id)  # the caller's row may predate a station choice
            if fresh is not None and fresh.station_id:
                station = await repos.station(fresh.station_id)
                if station:
                    return station
            stations = await repos.stations()
        return stations[0] if len(stations) == 1 else None

    async def choose_station(self, user: UserRow, station_id: str) -> StationRow:
        async with self.db.transaction() as conn:
            repos = Repos(conn)
            station = await repos.station(station_id)
            if station is None:
                raise NotFound("station")
            await repos.set_user_station(user.id, station.id)
        return station

    # -- the /new flow --------------------------------------------------------------------------

    async def _state(self, repos: Repos, user_id: int) -> dict[str, Any]:
        found = await repos.session(user_id)
        return found[1] if found else {}

    async def _save_state(self, repos: Repos, user_id: int, state: dict[str, Any]) -> None:
        if any(state.values()):
            await repos.set_session(user_id, "state", state, self.clock.now())
        else:
            await repos.clear_session(user_id)

    async def draft(self, user: UserRow) -> Draft | None:
        async with self.db.read() as conn:
            data = (await self._state(Repos(conn), user.id)).get("draft")
        return Draft.from_dict(data) if data else None

    async def _check_wish_budget(self, repos: Repos, user: UserRow) -> None:
        """Refuse a new wish past the daily limit: a resident sending forty wishes in a row
        must not put forty cards on a deputy's phone."""
        if self.wishes_per_day <= 0:
            return
        since = self.clock.now() - timedelta(days=1)
        if await repos.wishes_submitted_since(user.id, since) >= self.wishes_per_day:
            raise InvalidInput("wish_limit")

    async def start_draft(self, user: UserRow, prefill: str | None = None) -> Draft:
        async with self.db.read() as conn:
            await self._check_wish_budget(Repos(conn), user)
        station = await self.home_station(user)
        draft = Draft()
        if station is not None:
            draft = draft.with_station(station.id)
        if prefill:
            draft = replace(draft, extra={"prefill": prefill[:2000]})
        async with self.db.transaction() as conn:
            repos = Repos(conn)
            state = await self._state(repos, user.id)
            state["draft"] = draft.to_dict()
            state.pop("input", None)
            await self._save_state(repos, user.id, state)
        return draft

    async def update_draft(self, user: UserRow, change: Callable[[Draft], Draft]) -> Draft:
        """Apply a pure draft change; raises InvalidInput (nothing saved) if it is refused."""
        async with self.db.transaction() as conn:
            repos = Repos(conn)
            state = await self._state(repos, user.id)
            if not state.get("draft"):
                raise InvalidInput("no_draft")
            draft = change(Draft.from_dict(state["draft"]))
            if draft.step is Step.CATEGORY and draft.station_id:
                if await repos.station(draft.station_id) is None:
                    raise NotFound("station")
                await repos.set_user_station(user.id, draft.station_id)
            if draft.category_id and not any(
                c.id == draft.category_id for c in await repos.categories()
            ):
                raise InvalidInput("bad_category")
            state["draft"] = draft.to_dict()
            await self._save_state(repos, user.id, state)
        return draft

    async def cancel_flows(self, user: UserRow) -> bool:
        async with self.db.transaction() as conn:
            repos = Repos(conn)
            had = await repos.session(user.id) is not None
            await repos.clear_session(user.id)
        return had

    async def submit_draft(
        self, user: UserRow, idempotency_key: str | None = None
    ) -> tuple[Wish, WishContext]:
        now = self.clock.now()
        async with self.db.transaction() as conn:
            repos = Repos(conn)
            if idempotency_key:
                existing = await repos.wish_by_idempotency_key(idempotency_key)
                if existing is not None:
                    return existing, await self._context(repos, existing)
            state = await self._state(repos, user.id)
            draft = Draft.from_dict(state["draft"]) if state.get("draft") else None
            if draft is None or not draft.ready():
                raise InvalidInput("stale_step")
            await self._check_wish_budget(repos, user)
            assert draft.station_id and draft.category_id and draft.public is not None
            station = await repos.station(draft.station_id)
            if station is None:
                raise NotFound("station")
            year = now.astimezone(self.tz).year
            seq = await repos.next_receipt_seq(station.id, year)
            wish = Wish(
                id=0,
                station_id=station.id,
                receipt=format_receipt(station.code, year, seq),
                resident_id=user.id,
                category_id=draft.category_id,
                text=draft.text,
                status=Status.SUBMITTED,
                created_at=now,
                public=draft.public,
                phone=draft.phone,
            )
            wish_id = await repos.insert_wish(wish, idempotency_key)
            wish = replace(wish, id=wish_id)
            attachments = [Attachment("photo", file_ref=p) for p in draft.photos]
            if draft.location:
                attachments.append(
                    Attachment("location", latitude=draft.location[0], longitude=draft.location[1])
                )
            await repos.add_attachments(wish_id, attachments)
            submitted = new_wish_event(user.id, now, wish.text)
            await repos.add_event(wish_id, submitted)
            for hook in self.event_hooks:
                await hook(repos, wish, submitted)
            state.pop("draft", None)
            await self._save_state(repos, user.id, state)
            await repos.set_user_station(user.id, station.id)
            wish = await self._route(repos, wish, now)
            ctx = await self._context(repos, wish)
        log.info(
            "wish %s submitted at station %s (deputy %s)", wish.id, wish.station_id, wish.deputy_id
        )
        return wish, ctx

    async def _route(self, repos: Repos, wish: Wish, now: datetime) -> Wish:
        deputy_id = choose_deputy(wish.category_id, await repos.deputy_loads(wish.station_id))
        if deputy_id is None:
            ctx = await self._context(repos, wish)
            dues = (await SupervisionRepo(repos.conn).due_dates_of([wish.id])).get(wish.id)
            await self._to_staff(
                repos, wish.station_id, self.cards.unassigned_notice(wish, ctx, dues), wish.id
            )
            return wish
        wish, event = wish.apply(Action.ASSIGN, Actor.system(), now, deputy_id=deputy_id)
        await self._record(repos, wish, event, now)
        await repos.note_assignment(deputy_id)
        await self._send_card(repos, wish, deputy_id)
        return wish

    async def session_value(self, user: UserRow, key: str) -> Any:
        """One piece of a person's flow state (other features keep theirs under their own key)."""
        async with self.db.read() as conn:
            return (await self._state(Repos(conn), user.id)).get(key)

    async def set_session_value(self, user: UserRow, key: str, value: Any) -> None:
        async with self.db.transaction() as conn:
            repos = Repos(conn)
            state = await self._state(repos, user.id)
            if value is None:
                state.pop(key, None)
            else:
                state[key] = value
            await self._save_state(repos, user.id, state)

    async def set_stopped(self, user: UserRow, stopped: bool) -> bool:
        """/stop and /start: no broadcasts or follow-ups while stopped. True if it changed."""
        async with self.db.transaction() as conn:
            repos = Repos(conn)
            fresh = await repos.user(user.id)
            if fresh is None or fresh.stopped == stopped:
                return False
            await repos.set_stopped(user.id, stopped)
        return True

    async def remember_question(self, user: UserRow, text: str) -> None:
        """Keep an unanswered question, so "leave it as a wish" can prefill it."""
        async with self.db.transaction() as conn:
            repos = Repos(conn)
            state = await self._state(repos, user.id)
            state["question"] = text[:2000]
            await self._save_state(repos, user.id, state)

    async def recalled_question(self, user: UserRow) -> str | None:
        async with self.db.read() as conn:
            return (await self._state(Repos(conn), user.id)).get("question")

    # -- pending text input (reply, resolve, decline, supplement) ------------------------------

    async def begin_input(self, user: UserRow, action: Action, wish_id: int) -> Wish:
        """Remember that this person's next text is the body of `action` on the wish."""
        async with self.db.transaction() as conn:
            repos = Repos(conn)
            wish = await self._load(repos, wish_id)
            actor = await self._actor(repos, user)
            _check_allowed(wish, action, actor)
            state = await self._state(repos, user.id)
            state["input"] = {
                "action": action.value,
                "wish_id": wish.id,
                "at": self.clock.now().isoformat(),
            }
            await self._save_state(repos, user.id, state)
        return wish

    async def pending_input(self, user: UserRow) -> tuple[Action, int] | None:
        async with self.db.read() as conn:
            data = (await self._state(Repos(conn), user.id)).get("input")
        if not data or self._input_expired(data.get("at")):
            return None
        return Action(data["action"]), int(data["wish_id"])

    def _input_expired(self, at: str | None) -> bool:
        if not at:
            return True  # from before expiry existed: as old as it gets
        return self.clock.now() - datetime.fromisoformat(at) > self.input_timeout

    def _has_expired(self, state: dict[str, Any], updated_at: datetime) -> bool:
        pending = state.get("input")
        if pending and self._input_expired(pending.get("at")):
            return True
        return bool(state.get("broadcast")) and self.clock.now() - updated_at > self.input_timeout

    async def expire_input(self, user: UserRow) -> list[tuple[str, str]]:
        """Forget pending input older than `input_timeout`; what was dropped, for a polite
        note: ("input", receipt) for a wish's pending text, ("broadcast", "") for a broadcast
        being written (judged by the session's last change)."""
        dropped: list[tuple[str, str]] = []
        async with self.db.read() as conn:  # every message asks: no write unless something expired
            found = await Repos(conn).session_with_time(user.id)
        if found is None or not self._has_expired(*found):
            return dropped
        async with self.db.transaction() as conn:
            repos = Repos(conn)
            found = await repos.session_with_time(user.id)
            if found is None:
                return dropped
            state, updated_at = found
            pending = state.get("input")
            if pending and self._input_expired(pending.get("at")):
                wish = await repos.wish(int(pending.get("wish_id", 0)))
                dropped.append(("input", wish.receipt if wish else ""))
                state.pop("input")
            if state.get("broadcast") and self._has_expired({"broadcast": 1}, updated_at):
                dropped.append(("broadcast", ""))
                state.pop("broadcast")
            if dropped:
                await self._save_state(repos, user.id, state)
        if dropped:
            log.info("user %s: expired pending input %s", user.id, [k for k, _ in dropped])
        return dropped

    async def finish_input(
        self, user: UserRow, text: str, idempotency_key: str | None = None
    ) -> tuple[Action, Wish]:
        pending = await self.pending_input(user)
        if pending is None:
            raise InvalidInput("stale_step")
        action, wish_id = pending
        try:
            wish = await self.act(
                user, wish_id, action, body=text, idempotency_key=idempotency_key, clear_input=True
            )
        except (NotFound, NotAllowed, InvalidTransition):
            # The wish moved on (transferred, resolved, withdrawn) since the button was pressed:
            # forget the pending input, or every later message would be refused the same way.
            await self.set_session_value(user, "input", None)
            raise
        return action, wish

    # -- wish actions ---------------------------------------------------------------------------

    async def act(
        self,
        user: UserRow,
        wish_id: int,
        action: Action,
        *,
        body: str = "",
        deputy_id: int | None = None,
        rating: Rating | None = None,
        idempotency_key: str | None = None,
        clear_input: bool = False,
    ) -> Wish:
        body = body.strip()
        if len(body) > MAX_REPLY:
            raise InvalidInput("text_too_long")
        now = self.clock.now()
        async with self.db.transaction() as conn:
            repos = Repos(conn)
            wish = await self._load(repos, wish_id)
            if idempotency_key and await repos.event_key_used(idempotency_key):
                return wish  # a redelivered update: done already
            actor = await self._actor(repos, user)
            # First: a stranger's forged press learns nothing, not even that the wish exists.
            if not wish.roles_of(actor):
                raise NotFound("wish")  # the same answer as for a wish that does not exist
            if action in (Action.ASSIGN, Action.TRANSFER):
                if deputy_id is None:
                    raise InvalidInput("no_deputy")
                target = await repos.deputy(deputy_id)
                if target is None or not target.active or target.station_id != wish.station_id:
                    raise InvalidInput("bad_deputy")
                if wish.status is not Status.SUBMITTED:
                    action = Action.TRANSFER
            if action is Action.RESOLVE and wish.status in (Status.ASSIGNED, Status.REOPENED):
                # One tap for a quick fix, but the timeline still shows it was taken on
                # (受理) before it was resolved; the resident hears only the result. If the
                # resolution is refused below, the transaction takes the acceptance back too.
                wish, accepted = wish.apply(Action.ACCEPT, actor, now)
                await self._record(repos, wish, accepted, now, None)
            previous = wish
            wish, event = wish.apply(
                action, actor, now, body=body, deputy_id=deputy_id, rating=rating
            )
            await self._record(repos, wish, event, now, idempotency_key)
            if clear_input:
                state = await self._state(repos, user.id)
                state.pop("input", None)
                await self._save_state(repos, user.id, state)
            await self._after(repos, previous, wish, event, now)
        log.info(
            "wish %s: %s by user %s -> %s", wish.id, event.action.value, user.id, wish.status.value
        )
        return wish

    async def _after(
        self, repos: Repos, before: Wish, wish: Wish, event: Event, now: datetime
    ) -> None:
        """Queue what the other parties need to hear about `event`."""
        ctx = await self._context(repos, wish)
        deputy_name = ctx.deputy_name or self.c.plain("role.staff")
        match event.action:
            case Action.ASSIGN | Action.TRANSFER:
                assert wish.deputy_id is not None
                await repos.note_assignment(wish.deputy_id)
                await self._send_card(repos, wish, wish.deputy_id)
                if before.deputy_id is not None and event.role is not Role.DEPUTY:
                    await self._to_deputy(
                        repos,
                        before.deputy_id,
                        self.cards.handler_note(wish, "note.transferred_away", to=deputy_name),
                        fallback=False,  # staff moved it: they need not hear it back
                    )
                await self._to_resident(
                    repos,
                    wish,
                    self.cards.resident_note(wish, "resident.assigned", deputy=deputy_name),
                )
            case Action.ACCEPT:
                await self._to_resident(
                    repos,
                    wish,
                    self.cards.resident_note(
                        wish, "resident.accepted", deputy=deputy_name, buttons=True
                    ),
                )
            case Action.REPLY:
                await self._to_resident(
                    repos,
                    wish,
                    self.cards.resident_note(
                        wish, "resident.reply", deputy=deputy_name, text=event.body, buttons=True
                    ),
                )
            case Action.SUPPLEMENT:
                note = self.cards.handler_note(wish, "note.supplement", text=event.body)
                if wish.deputy_id is not None:
                    await self._to_deputy(repos, wish.deputy_id, note)
                else:
                    await self._to_staff(repos, wish.station_id, [note], wish.id)
            case Action.RESOLVE:
                await self._to_resident(
                    repos,
                    wish,
                    self.cards.resident_note(
                        wish, "resident.resolved", deputy=deputy_name, text=event.body, buttons=True
                    ),
                )
                await self._notify_followers(repos, wish, ctx, now)
                station = await repos.station(wish.station_id)
                if wish.public and station and station.wall_chat_id:
                    resident = await repos.user(wish.resident_id)
                    ctx = replace(ctx, resident_name=resident.display_name if resident else "")
                    await repos.enqueue(
                        [
                            _outgoing(
                                "telegram",
                                station.wall_chat_id,
                                None,
                                "wall",
                                PRIORITY_WALL,
                                self.cards.wall_post(wish, ctx, now),
                            )
                        ],
                        now,
                    )
            case Action.DECLINE:
                await self._to_resident(
                    repos,
                    wish,
                    self.cards.resident_note(wish, "resident.declined", text=event.body),
                )
            case Action.WITHDRAW:
                if wish.deputy_id is not None:
                    await self._to_deputy(
                        repos, wish.deputy_id, self.cards.handler_note(wish, "note.withdrawn")
                    )
            case Action.RATE | Action.REOPEN:
                if wish.status is Status.REOPENED:
                    if wish.deputy_id is not None:
                        await self._send_card(repos, wish, wish.deputy_id, heading="card.reopened")
                    await self._to_staff(
                        repos,
                        wish.station_id,
                        [self.cards.handler_note(wish, "note.reopened_staff", deputy=deputy_name)],
                        wish.id,
                    )
                    if event.role is not Role.RESIDENT:
                        await self._to_resident(
                            repos, wish, self.cards.resident_note(wish, "resident.reopened")
                        )
                elif wish.deputy_id is not None and wish.rating is not None:
                    label = self.c.plain(f"rating.{wish.rating.value}")
                    await self._to_deputy(
                        repos,
                        wish.deputy_id,
                        self.cards.handler_note(wish, "note.rated", rating=label),
                    )
            case _:
                pass
        # A deputy should know when staff acted on their wish for them.
        if (
            event.role is Role.STAFF
            and wish.deputy_id is not None
            and event.action in (Action.ACCEPT, Action.RESOLVE, Action.DECLINE, Action.REPLY)
        ):
            await self._to_deputy(
                repos,
                wish.deputy_id,
                self.cards.handler_note(
                    wish,
                    "note.staff_acted",
                    action=self.c.plain(f"action.{event.action.value}", to=""),
                ),
            )

    async def close_stale(self) -> int:
        """Resolved wishes nobody rated close by themselves after the configured days."""
        now = self.clock.now()
        cutoff = now - timedelta(days=self.auto_close_days)
        closed = 0
        async with self.db.transaction() as conn:
            repos = Repos(conn)
            for wish in await repos.resolved_before(cutoff, limit=500):
                wish, event = wish.apply(Action.CLOSE, Actor.system(), now)
                await self._record(repos, wish, event, now)
                closed += 1
        return closed

    # -- queries --------------------------------------------------------------------------------

    async def wish_detail(self, user: UserRow, wish_id: int) -> WishDetail:
        async with self.db.read() as conn:
            repos = Repos(conn)
            wish = await self._load(repos, wish_id)
            actor = await self._actor(repos, user)
            roles = wish.roles_of(actor)
            if not roles:
                raise NotFound("wish")
            deputies = await repos.deputies(wish.station_id)
            return WishDetail(
                wish=wish,
                events=await repos.events(wish.id),
                attachments=await repos.attachments(wish.id),
                context=await self._context(repos, wish),
                roles=roles,
                deputy_names={d.id: d.name for d in deputies},
                notes=await SupervisionRepo(conn).notes(wish.id),
                dues=(await SupervisionRepo(conn).due_dates_of([wish.id])).get(wish.id),
                followers=await Broadcasts(conn).follower_count(wish.id),
            )

    async def find_receipt(self, user: UserRow, receipt: str) -> Wish:
        async with self.db.read() as conn:
            repos = Repos(conn)
            wish = await repos.wish_by_receipt(receipt)
            if wish is None or not wish.roles_of(await self._actor(repos, user)):
                raise NotFound("receipt")  # the same answer either way: receipts are guessable
            return wish

    async def my_wishes(self, user: UserRow, page: int = 0) -> Page:
        async with self.db.read() as conn:
            repos = Repos(conn)
            wishes = await repos.wishes_of_resident(user.id, PAGE_SIZE + 1, page * PAGE_SIZE)
            names = await repos.category_names()
        total = page * PAGE_SIZE + len(wishes)
        return Page(
            [(w, names.get(w.category_id, w.category_id)) for w in wishes[:PAGE_SIZE]], page, total
        )

    async def wall(self, station_id: str, page: int = 0) -> Page:
        async with self.db.read() as conn:
            repos = Repos(conn)
            wishes, total = await repos.public_open_wishes(station_id, PAGE_SIZE, page * PAGE_SIZE)
            names = await repos.category_names()
            lines = []
            now = self.clock.now()
            for w in wishes:
                resident = await repos.user(w.resident_id)
                ctx = WishContext("", names.get(w.category_id, w.category_id), None)
                who = resident.display_name if resident else ""
                lines.append((w.id, w.receipt, self.cards.wall_line(w, ctx, now, name_variants(who))))
        return Page(lines, page, total)

    async def following(self, user: UserRow, wish_ids: list[int]) -> set[int]:
        async with self.db.read() as conn:
            return await Broadcasts(conn).followed(user.id, wish_ids)

    async def own_among(self, user: UserRow, wish_ids: list[int]) -> set[int]:
        """Which of these wishes (a page of the wall) the person left themselves."""
        async with self.db.read() as conn:
            repos = Repos(conn)
            wishes = [await repos.wish(wid) for wid in wish_ids]
        return {w.id for w in wishes if w is not None and w.resident_id == user.id}

    async def queue(self, user: UserRow) -> list[tuple[Wish, str]]:
        async with self.db.read() as conn:
            repos = Repos(conn)
            deputies = await repos.deputies_of_user(user.id)
            wishes = await repos.open_wishes_of_deputies([d.id for d in deputies])
            # Staff do everything a deputy can on any wish of their stations: they see them all.
            actor = await self._actor(repos, user)
            stations = [s.id for s in await self.managed_stations(repos, actor)]
            if stations:
                known = {w.id for w in wishes}
                wishes += [
                    w for w in await repos.open_wishes_of_stations(stations) if w.id not in known
                ]
                wishes.sort(key=lambda w: (w.created_at, w.id))
            names = await repos.category_names()
            followers = Broadcasts(conn)
            counts = await followers.follower_counts([w.id for w in wishes])

        def label(w: Wish) -> str:  # how many residents care, shown beside the category
            name = names.get(w.category_id, w.category_id)
            n = counts.get(w.id, 0)
            return f"{name} · {self.c.plain('follow.count', count=n)}" if n else name

        return [(w, label(w)) for w in wishes]

    async def unassigned(self, user: UserRow) -> list[tuple[Wish, str]]:
        async with self.db.read() as conn:
            repos = Repos(conn)
            actor = await self._actor(repos, user)
            stations = [s.id for s in await self.managed_stations(repos, actor)]
            wishes = await repos.unassigned_wishes(stations)
            names = await repos.category_names()
        return [(w, names.get(w.category_id, w.category_id)) for w in wishes]

    async def assign_options(self, user: UserRow, wish_id: int) -> tuple[Wish, list[DeputyRow]]:
        """Deputies a wish may be assigned or transferred to, for someone allowed to do it."""
        async with self.db.read() as conn:
            repos = Repos(conn)
            wish = await self._load(repos, wish_id)
            actor = await self._actor(repos, user)
            action = Action.ASSIGN if wish.status is Status.SUBMITTED else Action.TRANSFER
            _check_allowed(wish, action, actor)
            deputies = [d for d in await repos.deputies(wish.station_id) if d.id != wish.deputy_id]
        return wish, deputies

    async def is_staff(self, user: UserRow) -> bool:
        actor = await self.actor(user)
        return actor.is_admin or bool(actor.staff_of)

    async def stats(self, user: UserRow) -> list[StationStats]:
        async with self.db.read() as conn:
            repos = Repos(conn)
            actor = await self._actor(repos, user)
            stations = await self.managed_stations(repos, actor)
            if not stations:
                raise NotAllowed("stats")
            ids = [s.id for s in stations]
            counts = await repos.status_counts(ids)
            never = await repos.people_never_started()
            deputy_names = {}
            for s in stations:
                for d in await repos.deputies(s.id):
                    deputy_names[(s.id, d.user_id)] = d.name
        result = []
        for s in stations:
            missing = [
                deputy_names.get((s.id, u.id), u.display_name or u.external_id)
                if role == "deputy"
                else (u.display_name or u.external_id)
                for u, role, st in never
                if st == s.id
            ]
            result.append(StationStats(s, counts.get(s.id, {}), missing))
        return result

    async def deputy_name(self, deputy_id: int) -> str:
        async with self.db.read() as conn:
            deputy = await Repos(conn).deputy(deputy_id)
        return deputy.name if deputy else ""

    async def linked_wish(self, channel: str, chat_id: str, message_id: str) -> int | None:
        async with self.db.read() as conn:
            return await Repos(conn).linked_wish(channel, chat_id, message_id)

    # -- delivery feedback ----------------------------------------------------------------------

    async def on_unreachable(self, user_id: int, reason: str) -> None:
        """Telegram refused a message to this person (never started the bot, or blocked it).

        A deputy or staff member who cannot be reached is the station's problem to fix, so the
        station's other staff are told, once, instead of the message being silently skipped.
        """
        now = self.clock.now()
        async with self.db.transaction() as conn:
            repos = Repos(conn)
            user = await repos.user(user_id)
            if user is None or not await repos.set_unreachable(user_id, reason, now):
                return
            for deputy in await repos.deputies_of_user(user_id):
                note = OutMessage(text=self.c.t("note.deputy_unreachable", name=deputy.name))
                await self._to_staff(repos, deputy.station_id, [note], None, exclude=user_id)
            for station_id in await repos.staff_stations(user_id):
                note = OutMessage(
                    text=self.c.t(
                        "note.staff_unreachable", name=user.display_name or user.external_id
                    )
                )
                await self._to_staff(repos, station_id, [note], None, exclude=user_id)

    async def on_blocked(self, channel: str, external_id: str) -> None:
        """The person blocked the bot (Telegram said so at once, not on a failed delivery)."""
        async with self.db.read() as conn:
            user = await Repos(conn).user_by_external(channel, external_id)
        if user is not None:
            await self.on_unreachable(user.id, "Forbidden: bot was blocked by the user")

    async def report_not_started(self) -> int:
        """At start-up: tell each station which of its people cannot be messaged yet."""
        now = self.clock.now()
        async with self.db.transaction() as conn:
            repos = Repos(conn)
            never = await repos.people_never_started()
            by_station: dict[str, list[str]] = {}
            for user, role, station_id in never:
                if role == "deputy":
                    names = [
                        d.name
                        for d in await repos.deputies_of_user(user.id)
                        if d.station_id == station_id
                    ]
                    label = names[0] if names else user.external_id
                else:
                    label = self.c.plain("role.staff") + (
                        f" {user.display_name}" if user.display_name else f" {user.external_id}"
                    )
                by_station.setdefault(station_id, []).append(label)
            for station_id, labels in by_station.items():
                note = OutMessage(text=self.c.t("note.not_started", names="、".join(labels)))
                await self._to_staff(repos, station_id, [note], None)
                log.warning(
                    "station %s: %d configured people have not opened the bot",
                    station_id,
                    len(labels),
                )
        del now
        return sum(len(v) for v in by_station.values())

    # -- configuration --------------------------------------------------------------------------

    async def sync_config(self, config: StationsConfig, channel: str = "telegram") -> None:
        """Add and update stations, categories, deputies and staff; never delete any wish."""
        now = self.clock.now()
        # Row by row this was tens of thousands of awaited statements for a province: the
        # same rows go in batches, one statement per table (storage/directory_sync.py).
        stations = [
            StationRow(
                s.id, s.name, s.code, s.address, s.reception,
                str(s.wall_chat_id) if s.wall_chat_id is not None else None,
            )
            for s in config.stations
        ]  # fmt: skip
        people = [  # in file order: each station's deputies, then its staff
            str(t) for s in config.stations for t in [*(d.telegram_id for d in s.deputies), *s.staff]
        ]
        policies = config.deadline_policies()
        async with self.db.transaction() as conn:
            repos = Repos(conn)
            sync = DirectorySync(conn)
            await sync.categories([CategoryRow(c.id, c.name) for c in config.categories])
            await sync.stations(stations)
            ids = await sync.users(channel, people, now)
            station_ids = [s.id for s in config.stations]
            await sync.deputies(
                station_ids,
                [
                    (s.id, ids[str(d.telegram_id)], d.name, d.categories)
                    for s in config.stations
                    for d in s.deputies
                ],
            )
            await sync.staff(
                station_ids, [(s.id, ids[str(t)]) for s in config.stations for t in s.staff]
            )
            await sync.policies(policies)
            await self._hand_back_orphans(repos, now)

    async def _hand_back_orphans(self, repos: Repos, now: datetime) -> int:
        """Open wishes whose deputy no longer serves go back to the station's staff.

        The lifecycle has no "unassign": the wish keeps its state (the staff's 改派 is a
        transfer, allowed from every working state), its timeline records that the deputy left,
        and the staff are told once (the mark in reminders_sent survives restarts, and each
        start syncs the stations file again).
        """
        sup = SupervisionRepo(repos.conn)
        handed = 0
        for wish in await repos.open_wishes_of_departed_deputies():
            assert wish.deputy_id is not None
            if not await sup.mark_sent(wish.id, DEPUTY_LEFT, wish.created_at, wish.deputy_id, now):
                continue
            deputy = await repos.deputy(wish.deputy_id)
            name = deputy.name if deputy else ""
            await sup.add_note(
                wish.id, SupervisionNote(now, NoteKind.DEPUTY_LEFT, Role.SYSTEM.value, None, name)
            )
            ctx = await self._context(repos, wish)
            note = OutMessage(
                text=self.c.t(
                    "privacy.deputy_left",
                    receipt=wish.receipt,
                    deputy=name,
                    category=ctx.category_name,
                    status=self.cards.status(wish.status),
                ),
                buttons=self.cards.reassign_buttons(wish),
                wish_id=wish.id,
            )
            await self._to_staff(repos, wish.station_id, [note], wish.id)
            handed += 1
        if handed:
            log.warning("%d open wishes went back to staff: their deputy no longer serves", handed)
        return handed

    # -- helpers --------------------------------------------------------------------------------

    async def _load(self, repos: Repos, wish_id: int) -> Wish:
        wish = await repos.wish(wish_id)
        if wish is None:
            raise NotFound("wish")
        return wish

    async def _context(self, repos: Repos, wish: Wish) -> WishContext:
        station = await repos.station(wish.station_id)
        names = await repos.category_names()
        deputy = await repos.deputy(wish.deputy_id) if wish.deputy_id else None
        return WishContext(
            station_name=station.name if station else wish.station_id,
            category_name=names.get(wish.category_id, wish.category_id),
            deputy_name=deputy.name if deputy else None,
        )

    async def _record(
        self, repos: Repos, wish: Wish, event: Event, now: datetime, key: str | None = None
    ) -> None:
        await repos.update_wish(wish, now)
        await repos.add_event(wish.id, event, key)
        for hook in self.event_hooks:
            await hook(repos, wish, event)

    async def _send_card(
        self, repos: Repos, wish: Wish, deputy_id: int, heading: str = "card.new"
    ) -> None:
        attachments = await repos.attachments(wish.id)
        photos = tuple(a.file_ref for a in attachments if a.kind == "photo" and a.file_ref)
        loc = next(((a.latitude, a.longitude) for a in attachments if a.kind == "location"), None)
        location = (
            (float(loc[0]), float(loc[1]))
            if loc and loc[0] is not None and loc[1] is not None
            else None
        )
        ctx = await self._context(repos, wish)
        dues = (await SupervisionRepo(repos.conn).due_dates_of([wish.id])).get(wish.id)
        messages = self.cards.handler_card(
            wish, ctx, photos=photos, location=location, heading=heading, dues=dues
        )
        await self._to_deputy(repos, deputy_id, *messages)

    async def _notify_followers(self, repos: Repos, wish: Wish, ctx: WishContext, now: datetime) -> None:
        """People who followed a public wish hear its (masked) result."""
        followers = await Broadcasts(repos.conn).follower_audience(wish.id)
        if not followers:
            return
        resident = await repos.user(wish.resident_id)
        names = wish_names(resident.display_name if resident else "", wish.text)
        message = OutMessage(
            text=self.c.t(
                "follow.resolved",
                receipt=wish.receipt,
                category=ctx.category_name,
                text=truncate_plain(mask_pii(wish.text, names), 201),
                result=mask_pii(wish.result or "", names),
            )
        )
        await repos.enqueue(
            [_outgoing(f.channel, f.chat_id, f.user_id, "follower", PRIORITY_WALL, message) for f in followers], now
        )

    async def _to_deputy(
        self, repos: Repos, deputy_id: int, *messages: OutMessage, fallback: bool = True
    ) -> None:
        """To the deputy while they serve; once removed from the stations file (or their
        station is), nothing about a resident reaches them: it goes to the station's staff
        instead (`fallback`), who reassign the wish."""
        deputy = await repos.deputy(deputy_id)
        if deputy is None or not await repos.deputy_serves(deputy_id):
            if deputy is not None and fallback and messages:
                wish_id = next((m.wish_id for m in messages if m.wish_id), None)
                await self._to_staff(repos, deputy.station_id, list(messages), wish_id)
            return
        user = await repos.user(deputy.user_id)
        if user is None:
            return
        await repos.enqueue(
            [
                _outgoing(user.channel, user.chat_id, user.id, "deputy", PRIORITY_NOTIFY, m)
                for m in messages
            ],
            self.clock.now(),
        )

    async def _to_resident(self, repos: Repos, wish: Wish, message: OutMessage) -> None:
        user = await repos.user(wish.resident_id)
        if user is None:
            return
        await repos.enqueue(
            [
                _outgoing(
                    user.channel, user.chat_id, user.id, "resident", PRIORITY_INTERACTIVE, message
                )
            ],
            self.clock.now(),
        )

    async def _to_staff(
        self,
        repos: Repos,
        station_id: str,
        messages: list[OutMessage],
        wish_id: int | None,
        exclude: int | None = None,
    ) -> None:
        """Station staff who can be reached; county admins when a station has none. A
        deactivated station has none (its former staff hear nothing): county admins then."""
        staff = [
            u
            for u in await repos.staff_users(station_id)
            if u.id != exclude and u.unreachable_at is None
        ]
        if not staff:
            for channel, external_id in sorted(self.admins):
                admin = await repos.user_by_external(channel, external_id)
                if (
                    admin is not None
                    and admin.id != exclude
                    and admin.unreachable_at is None
                    and admin.started_at
                ):
                    staff.append(admin)
        if not staff:
            log.warning("station %s has no reachable staff for a notice", station_id)
        await repos.enqueue(
            [
                _outgoing(u.channel, u.chat_id, u.id, "staff", PRIORITY_NOTIFY, m)
                for u in staff
                for m in messages
            ],
            self.clock.now(),
        )


def _outgoing(
    channel: str, chat_id: str, user_id: int | None, kind: str, priority: int, message: OutMessage
) -> NewOutgoing:
    return NewOutgoing(
        channel=channel,
        chat_id=chat_id,
        user_id=user_id,
        kind=kind,
        priority=priority,
        payload=message.to_payload(),
        wish_id=message.wish_id,
    )



def _check_allowed(wish: Wish, action: Action, actor: Actor) -> None:
    """Refuse as the domain would: unknown to this person, not their role, or a stale state."""
    roles = wish.roles_of(actor)
    if not roles:
        raise NotFound("wish")  # ids are guessable: do not confirm that the wish exists
    if not roles & RULES[action].roles:
        raise NotAllowed(action.value)
    if not wish.allowed(action, actor):
        raise InvalidTransition("stale")
