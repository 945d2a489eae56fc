"""Use cases: what residents, deputies, staff and the system can do, independent of channel.

`Liaison` wires the parts, one job each with a public interface, all sharing one `Core`
(bot/core.py: the database, catalog, clock and settings): `liaison.people` (people and accounts,
bot/people.py), `liaison.directory` (stations and the stations file, bot/directory.py),
`liaison.flows` (drafts and pending input, bot/flows.py), `liaison.wishes` (the wish lifecycle,
bot/wishes.py), `liaison.queries` (reads, bot/queries.py), `liaison.notify` (messages to others,
bot/notify.py), `liaison.deliveries` (how a notice reached its person, bot/deliveries.py).
Callers use the part that does the job; nothing here delegates.

Each use case runs in one transaction: it re-reads the wish, re-checks the actor's rights on the
server (never trusting what a client sent), applies the domain change, records the timeline
event and queues every message to other people in the outbox, all or nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import timedelta, tzinfo

from bot.clock import Clock
from bot.core import (
    DEPUTY_LEFT,
    PAGE_SIZE,
    PRIORITY_BROADCAST,
    PRIORITY_INTERACTIVE,
    PRIORITY_NOTIFY,
    PRIORITY_WALL,
    Core,
    NotFound,
)
from bot.deliveries import Deliveries
from bot.directory import Directory
from bot.flows import Flows
from bot.i18n import Catalog
from bot.notify import Notifier
from bot.people import Identity, People
from bot.queries import Page, Queries, StationStats, WaitingCount, WishDetail
from bot.wishes import Wishes
from storage.db import Database

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
        waiting_counts: Sequence[WaitingCount] = (),
    ) -> None:
        """`waiting_counts`: what channels that keep notices for a person's next message count
        of them per station, for /stats (bot/queries.py WaitingCount; wired by bot/app.py)."""
        self.core = Core(db, catalog, clock, tz, admins, auto_close_days, input_timeout)
        self.notify = Notifier(self.core)
        self.people = People(self.core, self.notify)
        self.directory = Directory(self.core, self.notify)
        self.flows = Flows(self.core, self.people, self.directory)
        self.wishes = Wishes(self.core, self.people, self.flows, self.notify)
        self.queries = Queries(self.core, self.people, waiting_counts)
        self.deliveries = Deliveries(self.core)
