"""Reading wishes: detail, my wishes, the wall, the queue, stats. No writes."""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.cards import WishContext
from bot.core import (
    PAGE_SIZE,
    Core,
    NotFound,
    Part,
    check_allowed,
    load_wish,
    wish_context,
)
from bot.domain.deadlines import DueDates, SupervisionNote
from bot.domain.masking import name_variants
from bot.domain.model import (
    Action,
    Event,
    NotAllowed,
    Role,
    Status,
    Wish,
)
from bot.people import People, unnamed_label
from storage.broadcasts import Broadcasts
from storage.repositories import (
    Attachment,
    DeputyRow,
    Repos,
    StationRow,
    UserRow,
)
from storage.supervision import SupervisionRepo

log = logging.getLogger(__name__)

# A channel that keeps notices for a person's next message, having no way to push them now (WeChat
# outside its window), counts them per station from its own tables: (the read's connection, the
# station ids) -> {station id: notices waiting}. Each such channel hands one to the core through
# the composition root (bot/app.py new_liaison), so the core reads no channel's tables.
WaitingCount = Callable[[Any, Sequence[str]], Awaitable[dict[str, int]]]


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
    waiting: int = 0  # notices no path could push, kept for the resident's next message

    @property
    def total(self) -> int:
        return sum(self.by_status.values())


class Queries(Part):
    def __init__(
        self, core: Core, people: People, waiting_counts: Sequence[WaitingCount] = ()
    ) -> None:
        super().__init__(core)
        self.people = people
        self.waiting_counts = tuple(waiting_counts)  # the channels' (see WaitingCount)

    async def wish_detail(self, user: UserRow, wish_id: int) -> WishDetail:
        async with self.db.read() as conn:
            repos = Repos(conn)
            wish = await load_wish(repos, wish_id)
            actor = await self.people.actor_in(repos, user)
            roles = wish.roles_of(actor)
            if not roles:
                raise NotFound("wish")
            deputies = await repos.deputies(wish.station_id)
            return WishDetail(
                wish=wish,
                events=await repos.events(wish.id),
                attachments=await repos.attachments(wish.id),
                context=await wish_context(repos, wish),
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
            if wish is None or not wish.roles_of(await self.people.actor_in(repos, user)):
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
                lines.append(
                    (w.id, w.receipt, self.cards.wall_line(w, ctx, now, name_variants(who)))
                )
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

    async def queue(
        self, user: UserRow, limit: int | None = None
    ) -> tuple[list[tuple[Wish, str]], int]:
        """The open wishes the person handles (their own as a deputy, every one of the stations
        they manage), oldest first: the first `limit` of them (all without) and how many there
        are. A province's county admin has 90 000 open wishes; the screen shows 30, so only
        those are loaded."""
        async with self.db.read() as conn:
            repos = Repos(conn)
            deputies = await repos.deputies_of_user(user.id)
            wishes = await repos.open_wishes_of_deputies([d.id for d in deputies])
            total = len(wishes)
            # Staff do everything a deputy can on any wish of their stations: they see them all.
            actor = await self.people.actor_in(repos, user)
            stations = [s.id for s in await self.people.managed_stations(repos, actor)]
            if stations:
                managed = set(stations)
                # the deputy's own wishes at a managed station are among the station's
                wishes = [w for w in wishes if w.station_id not in managed]
                total = len(wishes) + await repos.count_open_wishes_of_stations(stations)
                wishes += await repos.open_wishes_of_stations(stations, limit)
                wishes.sort(key=lambda w: (w.created_at, w.id))
            if limit is not None:
                wishes = wishes[:limit]
            names = await repos.category_names()
            followers = Broadcasts(conn)
            counts = await followers.follower_counts([w.id for w in wishes])

        def label(w: Wish) -> str:  # how many residents care, shown beside the category
            name = names.get(w.category_id, w.category_id)
            n = counts.get(w.id, 0)
            return f"{name} · {self.c.plain('follow.count', count=n)}" if n else name

        return [(w, label(w)) for w in wishes], total

    async def unassigned(self, user: UserRow) -> list[tuple[Wish, str]]:
        async with self.db.read() as conn:
            repos = Repos(conn)
            actor = await self.people.actor_in(repos, user)
            stations = [s.id for s in await self.people.managed_stations(repos, actor)]
            wishes = await repos.unassigned_wishes(stations)
            names = await repos.category_names()
        return [(w, names.get(w.category_id, w.category_id)) for w in wishes]

    async def assign_options(self, user: UserRow, wish_id: int) -> tuple[Wish, list[DeputyRow]]:
        """Deputies a wish may be assigned or transferred to, for someone allowed to do it."""
        async with self.db.read() as conn:
            repos = Repos(conn)
            wish = await load_wish(repos, wish_id)
            actor = await self.people.actor_in(repos, user)
            action = Action.ASSIGN if wish.status is Status.SUBMITTED else Action.TRANSFER
            check_allowed(wish, action, actor)
            deputies = [d for d in await repos.deputies(wish.station_id) if d.id != wish.deputy_id]
        return wish, deputies

    async def stats(self, user: UserRow) -> list[StationStats]:
        async with self.db.read() as conn:
            repos = Repos(conn)
            actor = await self.people.actor_in(repos, user)
            stations = await self.people.managed_stations(repos, actor)
            if not stations:
                raise NotAllowed("stats")
            ids = [s.id for s in stations]
            counts = await repos.status_counts(ids)
            never = await repos.people_never_started()
            waiting: dict[str, int] = {}
            for count in self.waiting_counts:
                for station_id, n in (await count(conn, ids)).items():
                    waiting[station_id] = waiting.get(station_id, 0) + n
            deputy_names = {}
            # only the stations with a deputy who never opened the bot need their names (a
            # province's county admin manages 2 000 stations: not a query per station)
            managed = {s.id for s in stations}
            for station_id in sorted({st for _, role, st in never if role == "deputy"} & managed):
                for d in await repos.deputies(station_id):
                    deputy_names[(station_id, d.user_id)] = d.name
        result = []
        for s in stations:
            missing = [
                deputy_names.get((s.id, u.id)) or self.unnamed(u, role)
                if role == "deputy"
                else self.unnamed(u, role)
                for u, role, st in never
                if st == s.id
            ]
            result.append(StationStats(s, counts.get(s.id, {}), missing, waiting.get(s.id, 0)))
        return result

    def unnamed(self, user: UserRow, role: str) -> str:
        """A person in the stations file by account only: their name if known, else their
        role and the last digits of the account (never the whole id)."""
        return unnamed_label(self.c, user, role)

    async def linked_wish(self, channel: str, chat_id: str, message_id: str) -> int | None:
        async with self.db.read() as conn:
            return await Repos(conn).linked_wish(channel, chat_id, message_id)
