"""People and their accounts: who is behind an update, what they may do, who can be reached."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.core import (
    Core,
    Part,
)
from bot.domain.accounts import delivery_rank
from bot.domain.model import (
    Actor,
)
from bot.i18n import Catalog
from bot.messages import OutMessage
from bot.notify import Notifier
from storage.repositories import (
    Repos,
    StationRow,
    UserRow,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Identity:
    """A person as a channel sees them: one of their accounts."""

    channel: str
    external_id: str
    chat_id: str
    display_name: str | None = None



def unnamed_label(c: Catalog, user: UserRow, role: str) -> str:
    """A person in the stations file by account only, as staff see them: their name if known,
    else their role and the last digits of the account, never the whole id (a staff notice and
    /stats go to every staff member of the station)."""
    if user.display_name:
        return user.display_name
    return c.plain("stats.unnamed", role=c.plain(f"role.{role}"), tail=user.external_id[-2:])

class People(Part):
    def __init__(self, core: Core, notify: Notifier) -> None:
        super().__init__(core)
        self.notify = notify

    async def identify(self, ident: Identity) -> UserRow:
        """The person behind an account (created, person and account, if new); opening the
        bot, or the page, makes that account and the person reachable again."""
        # Nearly always the person is known and nothing about them changed: one read then,
        # instead of a write transaction on every update (the hot path under load).
        async with self.db.read() as conn:
            found = await Repos(conn).user_with_account(ident.channel, ident.external_id)
        if found is not None:
            known, account = found
            if (
                account.chat_id == ident.chat_id
                and (ident.display_name is None or known.display_name == ident.display_name)
                and account.started_at is not None
                and account.unreachable_at is None
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
            account = await repos.account(ident.channel, ident.external_id)
            assert account is not None
            if account.started_at is None or account.unreachable_at is not None:
                await repos.mark_account_started(account.id, now)
            if user.started_at is None or user.unreachable_at is not None:
                await repos.mark_started(user.id, now)
                user = await repos.user(user.id)
                assert user is not None
        return user

    async def actor_in(self, repos: Repos, user: UserRow) -> Actor:
        """Who this person is to the rules, read inside the caller's transaction."""
        deputies = await repos.deputies_of_user(user.id)
        return Actor(
            user_id=user.id,
            staff_of=await repos.staff_stations(user.id),
            is_admin=await self._is_admin(repos, user),
            deputy_ids=frozenset(d.id for d in deputies),
        )

    async def _is_admin(self, repos: Repos, user: UserRow) -> bool:
        """A county admin is named by one account (LIAISON_ADMINS); any of theirs will do."""
        if not self.admins:
            return False
        if (user.channel, user.external_id) in self.admins:
            return True
        return any(
            (a.channel, a.external_id) in self.admins for a in await repos.accounts_of(user.id)
        )

    async def actor(self, user: UserRow) -> Actor:
        async with self.db.read() as conn:
            return await self.actor_in(Repos(conn), user)

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
            return [(u, await self.actor_in(repos, u)) for _, u in sorted(users.items())]

    async def managed_stations(self, repos: Repos, actor: Actor) -> list[StationRow]:
        stations = await repos.stations()
        return [s for s in stations if actor.is_staff_of(s.id)]

    async def is_staff(self, user: UserRow) -> bool:
        actor = await self.actor(user)
        return actor.is_admin or bool(actor.staff_of)

    async def set_stopped(self, user: UserRow, stopped: bool) -> bool:
        """/stop and /start: no broadcasts or follow-ups while stopped. True if it changed."""
        async with self.db.transaction() as conn:
            repos = Repos(conn)
            fresh = await repos.user(user.id)
            if fresh is None or fresh.stopped == stopped:
                return False
            await repos.set_stopped(user.id, stopped)
        return True

    async def on_unreachable(
        self, user_id: int, reason: str, channel: str | None = None, chat_id: str | None = None
    ) -> None:
        """A channel refused a message to this person (never started the bot, or blocked it).

        The account refused is `channel`/`chat_id` when the caller knows it, else the one
        delivery picks for the person (where the refused message went): it is marked, so the
        next message prefers another of their accounts.

        A deputy or staff member who cannot be reached is the station's problem to fix, so the
        station's other staff are told, once, instead of the message being silently skipped.
        """
        now = self.clock.now()
        async with self.db.transaction() as conn:
            repos = Repos(conn)
            user = await repos.user(user_id)
            if user is None:
                return
            if channel is None:
                channel, chat_id = await self.notify.address(repos, user)
            # Another account that can still push (a linked WeChat when Telegram is blocked)
            # keeps the person reachable: wishes still route to them, nobody is alarmed.
            others = [
                a
                for a in await repos.accounts_of(user_id)
                if a.channel != channel or (chat_id is not None and a.chat_id != chat_id)
            ]
            elsewhere = any(delivery_rank(a)[0] == 0 for a in others)
            if not await repos.set_unreachable(
                user_id, reason, now, channel, chat_id, person=not elsewhere
            ):
                return
            for deputy in await repos.deputies_of_user(user_id):
                note = OutMessage(text=self.c.t("note.deputy_unreachable", name=deputy.name))
                await self.notify.to_staff(repos, deputy.station_id, [note], None, exclude=user_id)
            for station_id in await repos.staff_stations(user_id):
                note = OutMessage(
                    text=self.c.t(
                        "note.staff_unreachable", name=user.display_name or user.external_id
                    )
                )
                await self.notify.to_staff(repos, station_id, [note], None, exclude=user_id)

    async def on_blocked(self, channel: str, external_id: str) -> None:
        """The person blocked the bot (Telegram said so at once, not on a failed delivery)."""
        async with self.db.read() as conn:
            user = await Repos(conn).user_by_external(channel, external_id)
        if user is not None:
            await self.on_unreachable(
                user.id, "Forbidden: bot was blocked by the user", channel=channel
            )

    async def report_not_started(self) -> int:
        """At start-up: tell each station which of its people cannot be messaged yet."""
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
                    label = names[0] if names else unnamed_label(self.c, user, role)
                else:
                    label = unnamed_label(self.c, user, role)
                by_station.setdefault(station_id, []).append(label)
            for station_id, labels in by_station.items():
                note = OutMessage(text=self.c.t("note.not_started", names="、".join(labels)))
                await self.notify.to_staff(repos, station_id, [note], None)
                log.warning(
                    "station %s: %d configured people have not opened the bot",
                    station_id,
                    len(labels),
                )
        return sum(len(v) for v in by_station.values())
