"""Stations, categories and deputies: what the stations file configures, and a person's station."""

from __future__ import annotations

import logging
from datetime import datetime

from bot.core import (
    DEPUTY_LEFT,
    Core,
    NotFound,
    Part,
    wish_context,
)
from bot.domain.deadlines import NoteKind, SupervisionNote
from bot.domain.model import (
    Role,
)
from bot.messages import OutMessage
from bot.notify import Notifier
from bot.stations_file import TELEGRAM, StationsConfig, staff_accounts
from storage.directory_sync import DirectorySync
from storage.repositories import (
    CategoryRow,
    Repos,
    StationRow,
    UserRow,
)
from storage.supervision import SupervisionRepo

log = logging.getLogger(__name__)


class Directory(Part):
    def __init__(self, core: Core, notify: Notifier) -> None:
        super().__init__(core)
        self.notify = notify

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
            # Read afresh, not from `user`: the caller's row may predate a station choice.
            return await Repos(conn).home_station(user.id)

    async def choose_station(self, user: UserRow, station_id: str) -> StationRow:
        async with self.db.transaction() as conn:
            repos = Repos(conn)
            station = await repos.station(station_id)
            if station is None:
                raise NotFound("station")
            await repos.set_user_station(user.id, station.id)
        return station

    async def deputy_name(self, deputy_id: int) -> str:
        async with self.db.read() as conn:
            deputy = await Repos(conn).deputy(deputy_id)
        return deputy.name if deputy else ""

    async def sync_config(self, config: StationsConfig, channel: str = TELEGRAM) -> None:
        """Add and update stations, categories, deputies and staff; never delete any wish.
        `channel` is the channel the file's Telegram ids are accounts of (tests and the demo
        name another one)."""
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

        def named(accounts: list[tuple[str, str]]) -> list[tuple[str, str]]:
            # `sync_config(channel=...)` names the Telegram channel (tests run a second one).
            return [(channel if c == TELEGRAM else c, i) for c, i in accounts]

        people = [  # in file order: each station's deputies, then its staff
            named(accounts)
            for s in config.stations
            for accounts in [
                *(d.all_accounts() for d in s.deputies),
                *(staff_accounts(m) for m in s.staff),
            ]
        ]
        policies = config.deadline_policies()
        async with self.db.transaction() as conn:
            repos = Repos(conn)
            sync = DirectorySync(conn)
            await sync.categories([CategoryRow(c.id, c.name) for c in config.categories])
            await sync.stations(stations)
            ids, taken = await sync.people(people, now)
            for account_channel, named_for, owner in taken:
                log.warning(
                    "stations file: %s account of user %s is also named for user %s; left as is",
                    account_channel,
                    owner,
                    named_for,
                )
            person = iter(ids)
            deputies: list[tuple[str, int, str, list[str]]] = []
            staff: list[tuple[str, int]] = []
            for s in config.stations:  # the same order `people` was built in
                deputies += [(s.id, next(person), d.name, d.categories) for d in s.deputies]
                staff += [(s.id, next(person)) for _ in s.staff]
            station_ids = [s.id for s in config.stations]
            await sync.deputies(station_ids, deputies)
            await sync.staff(station_ids, staff)
            await sync.policies(policies)
            await self.hand_back_orphans(repos, now)

    async def ensure_person(
        self,
        repos: Repos,
        accounts: list[tuple[str, str]],
        telegram_channel: str,
        now: datetime,
    ) -> UserRow:
        """The person the stations file names by these accounts: the one already behind the
        first known account (a deputy who opened the bot before being configured keeps their
        row), else a new person; every account not yet known is added to them.

        An account already belonging to someone else is left there (merging two people's
        histories is not a sync's call) and logged, by ids only."""
        # `sync_config(channel=...)` names the Telegram channel (tests run a second one).
        accounts = [(telegram_channel if c == TELEGRAM else c, i) for c, i in accounts]
        user: UserRow | None = None
        for channel, external_id in accounts:
            user = await repos.user_by_external(channel, external_id)
            if user is not None:
                break
        if user is None:
            channel, external_id = accounts[0]
            user = await repos.ensure_user(channel, external_id, external_id, None, now)
        for channel, external_id in accounts:
            # Telegram's chat with a person has the person's id; so do WeChat (openid) and web.
            if not await repos.add_account(user.id, channel, external_id, external_id, now):
                owner = await repos.user_by_external(channel, external_id)
                if owner is not None and owner.id != user.id:
                    log.warning(
                        "stations file: %s account of user %s is also named for user %s; left as is",
                        channel,
                        owner.id,
                        user.id,
                    )
        return user

    async def hand_back_orphans(self, repos: Repos, now: datetime) -> int:
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
            ctx = await wish_context(repos, wish)
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
            await self.notify.to_staff(repos, wish.station_id, [note], wish.id)
            handed += 1
        if handed:
            log.warning("%d open wishes went back to staff: their deputy no longer serves", handed)
        return handed
