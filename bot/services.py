"""Use cases: what residents, deputies, staff and the system can do, independent of channel.

`Liaison` is the one object the channels and the other services talk to. It is a facade: each
job lives in a part of its own with a public interface (people and accounts in bot/people.py,
stations and the stations file in bot/directory.py, drafts and pending input in bot/flows.py,
the wish lifecycle in bot/wishes.py, reads in bot/queries.py, messages to others in
bot/notify.py), all sharing one `Core` (bot/core.py), and every method here delegates.

Each use case runs in one transaction: it re-reads the wish, re-checks the actor's rights on the
server (never trusting what a client sent), applies the domain change, records the timeline
event and queues every message to other people in the outbox, all or nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import timedelta, tzinfo
from typing import Any

from bot.cards import Cards, WishContext
from bot.clock import Clock
from bot.core import (
    DEPUTY_LEFT,
    PAGE_SIZE,
    PRIORITY_BROADCAST,
    PRIORITY_INTERACTIVE,
    PRIORITY_NOTIFY,
    PRIORITY_WALL,
    Core,
    EventHook,
    NotFound,
)
from bot.deliveries import Deliveries
from bot.directory import Directory
from bot.domain.draft import Draft
from bot.domain.model import Action, Actor, Rating, Wish
from bot.flows import Flows
from bot.i18n import Catalog
from bot.notify import Notifier
from bot.people import Identity, People
from bot.queries import Page, Queries, StationStats, WishDetail
from bot.stations_file import TELEGRAM, StationsConfig
from bot.wishes import Wishes
from storage.db import Database
from storage.repositories import CategoryRow, DeputyRow, Repos, StationRow, UserRow

__all__ = [
    "DEPUTY_LEFT",
    "PAGE_SIZE",
    "PRIORITY_BROADCAST",
    "PRIORITY_INTERACTIVE",
    "PRIORITY_NOTIFY",
    "PRIORITY_WALL",
    "Identity",
    "Liaison",
    "NotFound",
    "Page",
    "StationStats",
    "WishDetail",
]


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
        self.core = Core(db, catalog, clock, tz, admins, auto_close_days, input_timeout)
        self.notify = Notifier(self.core)
        self.people = People(self.core, self.notify)
        self.directory = Directory(self.core, self.notify)
        self.flows = Flows(self.core, self.people, self.directory)
        self.wishes = Wishes(self.core, self.people, self.flows, self.notify)
        self.queries = Queries(self.core, self.people)
        self.deliveries = Deliveries(self.core)

    # -- the shared core, read through (and the settings the composition root sets) -----------

    @property
    def db(self) -> Database:
        return self.core.db

    @property
    def c(self) -> Catalog:
        return self.core.c

    @property
    def clock(self) -> Clock:
        return self.core.clock

    @clock.setter
    def clock(self, value: Clock) -> None:
        self.core.clock = value  # every part reads the clock through the core

    @property
    def tz(self) -> tzinfo:
        return self.core.tz

    @property
    def cards(self) -> Cards:
        return self.core.cards

    @property
    def admins(self) -> frozenset[tuple[str, str]]:
        return self.core.admins

    @admins.setter
    def admins(self, value: Iterable[tuple[str, str]]) -> None:
        self.core.admins = frozenset(value)

    @property
    def event_hooks(self) -> list[EventHook]:
        return self.core.event_hooks

    @property
    def wishes_per_day(self) -> int:
        return self.core.wishes_per_day

    @wishes_per_day.setter
    def wishes_per_day(self, value: int) -> None:
        self.core.wishes_per_day = value

    @property
    def input_timeout(self) -> timedelta:
        return self.core.input_timeout

    @input_timeout.setter
    def input_timeout(self, value: timedelta) -> None:
        self.core.input_timeout = value

    @property
    def auto_close_days(self) -> int:
        return self.core.auto_close_days

    @auto_close_days.setter
    def auto_close_days(self, value: int) -> None:
        self.core.auto_close_days = value

    # -- use cases: thin delegations to the parts ----------------------------------------------

    async def identify(self, ident: Identity) -> UserRow:
        return await self.people.identify(ident)

    async def actor(self, user: UserRow) -> Actor:
        return await self.people.actor(user)

    async def workers(self, channel: str) -> list[tuple[UserRow, Actor]]:
        return await self.people.workers(channel)

    async def managed_stations(self, repos: Repos, actor: Actor) -> list[StationRow]:
        return await self.people.managed_stations(repos, actor)

    async def stations(self) -> list[StationRow]:
        return await self.directory.stations()

    async def station(self, station_id: str) -> StationRow | None:
        return await self.directory.station(station_id)

    async def categories(self) -> list[CategoryRow]:
        return await self.directory.categories()

    async def home_station(self, user: UserRow) -> StationRow | None:
        return await self.directory.home_station(user)

    async def choose_station(self, user: UserRow, station_id: str) -> StationRow:
        return await self.directory.choose_station(user, station_id)

    async def draft(self, user: UserRow) -> Draft | None:
        return await self.flows.draft(user)

    async def start_draft(self, user: UserRow, prefill: str | None = None) -> Draft:
        return await self.flows.start_draft(user, prefill)

    async def update_draft(self, user: UserRow, change: Callable[[Draft], Draft]) -> Draft:
        return await self.flows.update_draft(user, change)

    async def cancel_flows(self, user: UserRow) -> bool:
        return await self.flows.cancel_flows(user)

    async def submit_draft(
        self, user: UserRow, idempotency_key: str | None = None
    ) -> tuple[Wish, WishContext]:
        return await self.wishes.submit_draft(user, idempotency_key)

    async def session_value(self, user: UserRow, key: str) -> Any:
        return await self.flows.session_value(user, key)

    async def set_session_value(self, user: UserRow, key: str, value: Any) -> None:
        return await self.flows.set_session_value(user, key, value)

    async def set_stopped(self, user: UserRow, stopped: bool) -> bool:
        return await self.people.set_stopped(user, stopped)

    async def remember_question(self, user: UserRow, text: str) -> None:
        return await self.flows.remember_question(user, text)

    async def recalled_question(self, user: UserRow) -> str | None:
        return await self.flows.recalled_question(user)

    async def begin_input(self, user: UserRow, action: Action, wish_id: int) -> Wish:
        return await self.flows.begin_input(user, action, wish_id)

    async def pending_input(self, user: UserRow) -> tuple[Action, int] | None:
        return await self.flows.pending_input(user)

    async def expire_input(self, user: UserRow) -> list[tuple[str, str]]:
        return await self.flows.expire_input(user)

    async def finish_input(
        self, user: UserRow, text: str, idempotency_key: str | None = None
    ) -> tuple[Action, Wish]:
        return await self.wishes.finish_input(user, text, idempotency_key)

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
        return await self.wishes.act(
            user,
            wish_id,
            action,
            body=body,
            deputy_id=deputy_id,
            rating=rating,
            idempotency_key=idempotency_key,
            clear_input=clear_input,
        )

    async def close_stale(self) -> int:
        return await self.wishes.close_stale()

    async def wish_detail(self, user: UserRow, wish_id: int) -> WishDetail:
        return await self.queries.wish_detail(user, wish_id)

    async def find_receipt(self, user: UserRow, receipt: str) -> Wish:
        return await self.queries.find_receipt(user, receipt)

    async def my_wishes(self, user: UserRow, page: int = 0) -> Page:
        return await self.queries.my_wishes(user, page)

    async def wall(self, station_id: str, page: int = 0) -> Page:
        return await self.queries.wall(station_id, page)

    async def following(self, user: UserRow, wish_ids: list[int]) -> set[int]:
        return await self.queries.following(user, wish_ids)

    async def own_among(self, user: UserRow, wish_ids: list[int]) -> set[int]:
        return await self.queries.own_among(user, wish_ids)

    async def queue(self, user: UserRow) -> list[tuple[Wish, str]]:
        return await self.queries.queue(user)

    async def unassigned(self, user: UserRow) -> list[tuple[Wish, str]]:
        return await self.queries.unassigned(user)

    async def assign_options(self, user: UserRow, wish_id: int) -> tuple[Wish, list[DeputyRow]]:
        return await self.queries.assign_options(user, wish_id)

    async def is_staff(self, user: UserRow) -> bool:
        return await self.people.is_staff(user)

    async def delivered(self, wish_id: int, channel: str, account: str, path: str) -> bool:
        """A channel reports how a notice about a wish reached its resident (the timeline)."""
        return await self.deliveries.delivered(wish_id, channel, account, path)

    async def stats(self, user: UserRow) -> list[StationStats]:
        return await self.queries.stats(user)

    async def deputy_name(self, deputy_id: int) -> str:
        return await self.directory.deputy_name(deputy_id)

    async def linked_wish(self, channel: str, chat_id: str, message_id: str) -> int | None:
        return await self.queries.linked_wish(channel, chat_id, message_id)

    async def on_unreachable(
        self, user_id: int, reason: str, channel: str | None = None, chat_id: str | None = None
    ) -> None:
        return await self.people.on_unreachable(user_id, reason, channel, chat_id)

    async def on_blocked(self, channel: str, external_id: str) -> None:
        return await self.people.on_blocked(channel, external_id)

    async def report_not_started(self) -> int:
        return await self.people.report_not_started()

    async def sync_config(self, config: StationsConfig, channel: str = TELEGRAM) -> None:
        return await self.directory.sync_config(config, channel)
