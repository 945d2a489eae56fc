"""What every part of `Liaison` shares: the database, the catalog, the clock, the settings, the
hooks, and the few reads each use case needs (a wish, its names, who may act on it).

The parts (people, directory, flows, wishes, queries, notify) hold one `Core` between them, so
a setting changed on `Liaison` (e.g. the daily wish limit) is seen by all of them at once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace
from datetime import timedelta, tzinfo

from bot.cards import Cards, WishContext
from bot.channel import TELEGRAM_CAPABILITIES, Capabilities
from bot.clock import Clock
from bot.domain.model import (
    RULES,
    Action,
    Actor,
    DomainError,
    Event,
    InvalidTransition,
    NotAllowed,
    Wish,
)
from bot.i18n import Catalog, Markup
from bot.messages import OutMessage
from storage.db import Database
from storage.repositories import Repos

# Outbox priorities: lower goes first. A resident's answer never waits behind a wall post.
# Any channel's stored input is given up (marked done, logged) after this many failed tries:
# one poison update or push must not block the others or every start.
INBOX_MAX_ATTEMPTS = 3
PRIORITY_INTERACTIVE = 0
PRIORITY_NOTIFY = 1
PRIORITY_WALL = 5
PRIORITY_BROADCAST = 9

PAGE_SIZE = 8
# reminders_sent kind marking that a departed deputy's wish was handed back to staff (once)
DEPUTY_LEFT = "deputy_left"

EventHook = Callable[[Repos, Wish, Event], Awaitable[None]]


class NotFound(DomainError):
    code = "not_found"


class Core:
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
        self.c = catalog
        self.clock = clock
        self.tz = tz
        self.cards = Cards(catalog, tz)
        self.admins = frozenset(admins)
        self.auto_close_days = auto_close_days
        # A pending 回复/办结/不予受理/补充 body or a broadcast being written expires after this:
        # days later, whatever the person types must not go to a resident or the station.
        self.input_timeout = input_timeout
        # At most this many wishes per resident in any 24 hours (0: no limit); set from
        # LIAISON_LIMIT_WISHES_PER_DAY by the composition root.
        self.wishes_per_day = 0
        # Called inside the transaction of every recorded event (supervision sets due dates).
        self.event_hooks: list[EventHook] = []
        # What each channel can do, as its adapter declares it (registered by the composition
        # root): the wording of a text follows it (bot/domain/variants.py). A channel nobody
        # registered gets Telegram's texts, the catalog's plain keys.
        self.capabilities: dict[str, Capabilities] = {}

    def capabilities_of(self, channel: str) -> Capabilities:
        return self.capabilities.get(channel, TELEGRAM_CAPABILITIES)

    def missing(self, channel: str) -> tuple[str, ...]:
        """What `channel` lacks of what the catalog's texts may rely on."""
        return self.capabilities_of(channel).missing

    def worded(self, channel: str, key: str) -> str:
        """The catalog key of `key`'s wording for `channel`."""
        return self.c.variant(key, self.missing(channel))

    def fit(self, channel: str, message: OutMessage) -> OutMessage:
        """The message with its channel-dependent last line (`hint`) worded for `channel`."""
        if message.hint is None:
            return message
        line = self.c.t(self.worded(channel, message.hint))
        return replace(message, text=Markup(message.text + line), hint=None)


class Part:
    """A part of `Liaison`: the shared core's fields, read through."""

    def __init__(self, core: Core) -> None:
        self.core = core

    @property
    def db(self) -> Database:
        return self.core.db

    @property
    def c(self) -> Catalog:
        return self.core.c

    @property
    def clock(self) -> Clock:
        return self.core.clock

    @property
    def tz(self) -> tzinfo:
        return self.core.tz

    @property
    def cards(self) -> Cards:
        return self.core.cards

    @property
    def admins(self) -> frozenset[tuple[str, str]]:
        return self.core.admins


async def load_wish(repos: Repos, wish_id: int) -> Wish:
    wish = await repos.wish(wish_id)
    if wish is None:
        raise NotFound("wish")
    return wish


async def wish_context(repos: Repos, wish: Wish) -> WishContext:
    """The names a card about the wish shows: station, category, deputy."""
    station = await repos.station(wish.station_id)
    names = await repos.category_names()
    deputy = await repos.deputy(wish.deputy_id) if wish.deputy_id else None
    return WishContext(
        station_name=station.name if station else wish.station_id,
        category_name=names.get(wish.category_id, wish.category_id),
        deputy_name=deputy.name if deputy else None,
    )


def check_allowed(wish: Wish, action: Action, actor: Actor) -> None:
    """Refuse as the domain would: unknown to this person, not their role, or a stale state."""
    roles = wish.roles_of(actor)
    if not roles:
        raise NotFound("wish")  # ids are guessable: do not confirm that the wish exists
    if not roles & RULES[action].roles:
        raise NotAllowed(action.value)
    if not wish.allowed(action, actor):
        raise InvalidTransition("stale")
