"""Repositories: all SQL of the application lives in this package.

Each repository wraps the connection of an open transaction (`Database.transaction()`), so a
use case that changes a wish, records its event and queues its messages commits all or nothing.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiosqlite

from bot.domain.model import Action, Event, Rating, Role, Status, Wish
from bot.domain.routing import DeputyLoad
from storage.db import fetch_all, fetch_one


def _ts(value: datetime | None) -> str | None:
    """Every timestamp is stored in UTC, so that stored times compare correctly as text."""
    return value.astimezone(UTC).isoformat() if value is not None else None


def _dt(value: str | None) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)  # SQLite's own: UTC


# What counts as a handler's response on the timeline (for "response time"): one of these
# actions by one of these roles. A wish keeps its first in wishes.first_response_at (add_event).
RESPONSE_ACTIONS = ("accept", "reply", "resolve", "decline", "transfer")
RESPONSE_ROLES = ("deputy", "staff")



# The open statuses (bot.domain.model.OPEN_STATUSES) as SQL, written as the partial indexes of
# migrations 0016 and 0017 write them: SQLite uses a partial index only for this same term.
OPEN = "status IN ('submitted','assigned','in_progress','reopened')"


def marks(values: Sequence[object]) -> str:
    """Placeholders for an IN (…) list; one that matches nothing when `values` is empty."""
    return ",".join("?" * len(values)) or "NULL"


@dataclass(frozen=True)
class StationRow:
    id: str
    name: str
    code: str
    address: str
    reception: str
    wall_chat_id: str | None


@dataclass(frozen=True)
class CategoryRow:
    id: str
    name: str


@dataclass(frozen=True)
class UserRow:
    id: int
    channel: str
    external_id: str
    chat_id: str
    display_name: str
    started_at: datetime | None
    unreachable_at: datetime | None
    stopped: bool
    station_id: str | None


@dataclass(frozen=True)
class AccountRow:
    """One way a person reaches the station: a Telegram user, a WeChat openid, a web visitor."""

    id: int
    user_id: int
    channel: str
    external_id: str
    chat_id: str
    started_at: datetime | None
    unreachable_at: datetime | None


@dataclass(frozen=True)
class DeputyRow:
    id: int
    station_id: str
    user_id: int
    name: str
    categories: frozenset[str]
    active: bool


@dataclass(frozen=True)
class Attachment:
    kind: str  # "photo" | "location"
    file_ref: str | None = None
    latitude: float | None = None
    longitude: float | None = None


@dataclass(frozen=True)
class EventRow:
    id: int
    wish_id: int
    event: Event


@dataclass(frozen=True)
class OutboxRow:
    id: int
    channel: str
    chat_id: str
    user_id: int | None
    priority: int
    kind: str
    payload: dict[str, Any]
    wish_id: int | None
    attempts: int


@dataclass(frozen=True)
class NewOutgoing:
    """A message to queue. `payload` is the transport-neutral message (see bot.messages)."""

    channel: str
    chat_id: str
    kind: str
    priority: int
    payload: dict[str, Any]
    user_id: int | None = None
    wish_id: int | None = None
    not_before: datetime | None = None  # delivered from then on (None: at once)


class Repos:
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn

    # -- directory: stations, categories, people ---------------------------------------------

    async def upsert_station(self, s: StationRow, position: int) -> None:
        await self.conn.execute(
            "INSERT INTO stations (id, name, code, address, reception, wall_chat_id, active, position)"
            " VALUES (?, ?, ?, ?, ?, ?, 1, ?) ON CONFLICT(id) DO UPDATE SET name=excluded.name,"
            " code=excluded.code, address=excluded.address, reception=excluded.reception,"
            " wall_chat_id=excluded.wall_chat_id, active=1, position=excluded.position",
            (s.id, s.name, s.code, s.address, s.reception, s.wall_chat_id, position),
        )

    async def follow_chat_migration(self, old_chat_id: str, new_chat_id: str) -> int:
        """A group the bot posts to became a supergroup (a new chat id): follow it."""
        cur = await self.conn.execute(
            "UPDATE stations SET wall_chat_id=? WHERE wall_chat_id=?", (new_chat_id, old_chat_id)
        )
        return cur.rowcount

    async def deactivate_stations_except(self, keep: Iterable[str]) -> None:
        keep = list(keep)
        marks = ",".join("?" * len(keep)) or "''"
        await self.conn.execute(f"UPDATE stations SET active=0 WHERE id NOT IN ({marks})", keep)

    async def station(self, station_id: str) -> StationRow | None:
        row = await fetch_one(
            self.conn, "SELECT * FROM stations WHERE id=? AND active=1", (station_id,)
        )
        return _station(row) if row else None

    async def home_station(self, user_id: int) -> StationRow | None:
        """The active station a person chose (or came by deep link), else the only active
        station when there is just one; in one read (every FAQ question asks this). At most
        one row: the person's station, or the single one (the same row if both)."""
        row = await fetch_one(
            self.conn,
            "SELECT * FROM stations WHERE active=1 AND ("
            " id=(SELECT station_id FROM users WHERE id=?)"
            " OR (SELECT COUNT(*) FROM stations WHERE active=1)=1)",
            (user_id,),
        )
        return _station(row) if row else None

    async def stations(self) -> list[StationRow]:
        rows = await fetch_all(
            self.conn, "SELECT * FROM stations WHERE active=1 ORDER BY position, id"
        )
        return [_station(r) for r in rows]

    async def upsert_category(self, c: CategoryRow, position: int) -> None:
        await self.conn.execute(
            "INSERT INTO categories (id, name, position, active) VALUES (?, ?, ?, 1)"
            " ON CONFLICT(id) DO UPDATE SET name=excluded.name, position=excluded.position, active=1",
            (c.id, c.name, position),
        )

    async def deactivate_categories_except(self, keep: Iterable[str]) -> None:
        keep = list(keep)
        marks = ",".join("?" * len(keep)) or "''"
        await self.conn.execute(f"UPDATE categories SET active=0 WHERE id NOT IN ({marks})", keep)

    async def categories(self) -> list[CategoryRow]:
        rows = await fetch_all(
            self.conn, "SELECT id, name FROM categories WHERE active=1 ORDER BY position, id"
        )
        return [CategoryRow(r["id"], r["name"]) for r in rows]

    async def category_names(self) -> dict[str, str]:
        rows = await fetch_all(self.conn, "SELECT id, name FROM categories")
        return {r["id"]: r["name"] for r in rows}

    async def ensure_user(
        self, channel: str, external_id: str, chat_id: str, display_name: str | None, now: datetime
    ) -> UserRow:
        """The person behind an account, created (person and account) if new; the account's
        chat is refreshed. `display_name=None` keeps the one already stored."""
        account = await self.account(channel, external_id)
        if account is None:
            # A new person, first known by this account (mirrored on users for old readers).
            await self.conn.execute(
                "INSERT INTO users (channel, external_id, chat_id, display_name, created_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT(channel, external_id) DO UPDATE SET"
                " chat_id=excluded.chat_id",
                (channel, external_id, chat_id, display_name or "", _ts(now)),
            )
            row = await fetch_one(
                self.conn,
                "SELECT id FROM users WHERE channel=? AND external_id=?",
                (channel, external_id),
            )
            assert row is not None
            await self.add_account(int(row["id"]), channel, external_id, chat_id, now)
            account = await self.account(channel, external_id)
            assert account is not None
        elif account.chat_id != chat_id:
            await self.conn.execute(
                "UPDATE user_accounts SET chat_id=? WHERE id=?", (chat_id, account.id)
            )
            await self.conn.execute(
                "UPDATE users SET chat_id=? WHERE id=? AND channel=? AND external_id=?",
                (chat_id, account.user_id, channel, external_id),
            )
        if display_name is not None:
            await self.conn.execute(
                "UPDATE users SET display_name=? WHERE id=?", (display_name, account.user_id)
            )
        user = await self.user(account.user_id)
        assert user is not None
        return user

    async def add_account(
        self, user_id: int, channel: str, external_id: str, chat_id: str, now: datetime
    ) -> bool:
        """Give a person one more way in; False (nothing changed) if the account is taken."""
        cursor = await self.conn.execute(
            "INSERT INTO user_accounts (user_id, channel, external_id, chat_id, created_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT(channel, external_id) DO NOTHING",
            (user_id, channel, external_id, chat_id, _ts(now)),
        )
        return cursor.rowcount > 0

    async def account(self, channel: str, external_id: str) -> AccountRow | None:
        row = await fetch_one(
            self.conn,
            "SELECT * FROM user_accounts WHERE channel=? AND external_id=?",
            (channel, external_id),
        )
        return _account(row) if row else None

    async def accounts_of(self, user_id: int) -> list[AccountRow]:
        rows = await fetch_all(
            self.conn, "SELECT * FROM user_accounts WHERE user_id=? ORDER BY id", (user_id,)
        )
        return [_account(r) for r in rows]

    async def accounts_of_many(self, user_ids: Sequence[int]) -> dict[int, list[AccountRow]]:
        """`accounts_of` for many people at once (each person's in id order)."""
        found: dict[int, list[AccountRow]] = {}
        for start in range(0, len(user_ids), 1000):
            chunk = list(user_ids[start : start + 1000])
            rows = await fetch_all(
                self.conn,
                f"SELECT * FROM user_accounts WHERE user_id IN ({marks(chunk)})"
                " ORDER BY user_id, id",
                chunk,
            )
            for r in rows:
                found.setdefault(r["user_id"], []).append(_account(r))
        return found

    async def mark_account_started(self, account_id: int, now: datetime) -> None:
        await self.conn.execute(
            "UPDATE user_accounts SET started_at=COALESCE(started_at, ?), unreachable_at=NULL,"
            " unreachable_reason=NULL WHERE id=?",
            (_ts(now), account_id),
        )

    async def mark_started(self, user_id: int, now: datetime) -> bool:
        """Record that the person opened the bot; True if they were unreachable before."""
        row = await fetch_one(
            self.conn, "SELECT started_at, unreachable_at FROM users WHERE id=?", (user_id,)
        )
        was_unreachable = bool(row and (row["started_at"] is None or row["unreachable_at"]))
        await self.conn.execute(
            "UPDATE users SET started_at=COALESCE(started_at, ?), unreachable_at=NULL,"
            " unreachable_reason=NULL WHERE id=?",
            (_ts(now), user_id),
        )
        return was_unreachable

    async def set_unreachable(
        self,
        user_id: int,
        reason: str,
        now: datetime,
        channel: str | None = None,
        chat_id: str | None = None,
        person: bool = True,
    ) -> bool:
        """Mark a user unreachable; True if this is news (they were reachable before).

        The account that refused (`channel`/`chat_id`; without them, the person's first
        account's channel) is marked too, so delivery prefers another way in next time.
        `person=False`: only the account (another of theirs still reaches them)."""
        if channel is None:
            first = await fetch_one(self.conn, "SELECT channel FROM users WHERE id=?", (user_id,))
            channel = first["channel"] if first else None
        # The statement is built here rather than with "? IS NULL" tests, which typed
        # databases (PostgreSQL) cannot prepare.
        sql = (
            "UPDATE user_accounts SET unreachable_at=?, unreachable_reason=?"
            " WHERE user_id=? AND channel=? AND unreachable_at IS NULL"
        )
        params: list[Any] = [_ts(now), reason, user_id, channel]
        if chat_id is not None:
            sql += " AND chat_id=?"
            params.append(chat_id)
        await self.conn.execute(sql, params)
        if not person:
            return False
        cursor = await self.conn.execute(
            "UPDATE users SET unreachable_at=?, unreachable_reason=? WHERE id=? AND unreachable_at IS NULL",
            (_ts(now), reason, user_id),
        )
        return cursor.rowcount > 0

    async def set_stopped(self, user_id: int, stopped: bool) -> None:
        await self.conn.execute("UPDATE users SET stopped=? WHERE id=?", (int(stopped), user_id))

    async def set_user_station(self, user_id: int, station_id: str) -> None:
        await self.conn.execute("UPDATE users SET station_id=? WHERE id=?", (station_id, user_id))

    async def user(self, user_id: int) -> UserRow | None:
        row = await fetch_one(self.conn, "SELECT * FROM users WHERE id=?", (user_id,))
        return _user(row) if row else None

    async def user_by_external(self, channel: str, external_id: str) -> UserRow | None:
        """The person behind an account (any of theirs, not only the first)."""
        row = await fetch_one(
            self.conn,
            "SELECT u.* FROM user_accounts a JOIN users u ON u.id=a.user_id"
            " WHERE a.channel=? AND a.external_id=?",
            (channel, external_id),
        )
        return _user(row) if row else None

    async def user_with_account(
        self, channel: str, external_id: str
    ) -> tuple[UserRow, AccountRow] | None:
        """The person behind an account and the account itself, in one read (the hot path)."""
        row = await fetch_one(
            self.conn,
            "SELECT u.*, a.id AS a_id, a.chat_id AS a_chat_id, a.started_at AS a_started_at,"
            " a.unreachable_at AS a_unreachable_at FROM user_accounts a"
            " JOIN users u ON u.id=a.user_id WHERE a.channel=? AND a.external_id=?",
            (channel, external_id),
        )
        if row is None:
            return None
        account = AccountRow(
            id=row["a_id"],
            user_id=row["id"],
            channel=channel,
            external_id=external_id,
            chat_id=row["a_chat_id"],
            started_at=_dt(row["a_started_at"]),
            unreachable_at=_dt(row["a_unreachable_at"]),
        )
        return _user(row), account

    async def upsert_deputy(
        self, station_id: str, user_id: int, name: str, categories: Sequence[str]
    ) -> None:
        await self.conn.execute(
            "INSERT INTO deputies (station_id, user_id, name, categories, active) VALUES (?, ?, ?, ?, 1)"
            " ON CONFLICT(station_id, user_id) DO UPDATE SET name=excluded.name,"
            " categories=excluded.categories, active=1",
            (station_id, user_id, name, json.dumps(sorted(categories))),
        )

    async def deactivate_deputies_except(
        self, station_id: str, keep_user_ids: Iterable[int]
    ) -> None:
        keep = list(keep_user_ids)
        marks = ",".join("?" * len(keep)) or "-1"
        await self.conn.execute(
            f"UPDATE deputies SET active=0 WHERE station_id=? AND user_id NOT IN ({marks})",
            [station_id, *keep],
        )

    async def deputy(self, deputy_id: int) -> DeputyRow | None:
        row = await fetch_one(self.conn, "SELECT * FROM deputies WHERE id=?", (deputy_id,))
        return _deputy(row) if row else None

    async def deputies(self, station_id: str) -> list[DeputyRow]:
        rows = await fetch_all(
            self.conn,
            "SELECT * FROM deputies WHERE station_id=? AND active=1 ORDER BY id",
            (station_id,),
        )
        return [_deputy(r) for r in rows]

    async def deputies_of_user(self, user_id: int) -> list[DeputyRow]:
        # A deputy of a deactivated station serves nowhere: no rights on its wishes.
        rows = await fetch_all(
            self.conn,
            "SELECT d.* FROM deputies d JOIN stations s ON s.id=d.station_id"
            " WHERE d.user_id=? AND d.active=1 AND s.active=1 ORDER BY d.id",
            (user_id,),
        )
        return [_deputy(r) for r in rows]

    async def deputy_serves(self, deputy_id: int) -> bool:
        """Still in the stations file, at a station that is too."""
        row = await fetch_one(
            self.conn,
            "SELECT 1 FROM deputies d JOIN stations s ON s.id=d.station_id"
            " WHERE d.id=? AND d.active=1 AND s.active=1",
            (deputy_id,),
        )
        return row is not None

    async def open_wishes_of_departed_deputies(self) -> list[Wish]:
        """Open wishes whose deputy was removed from the stations file (or whose station was)."""
        rows = await fetch_all(
            self.conn,
            "SELECT w.* FROM wishes w JOIN deputies d ON d.id=w.deputy_id"
            " JOIN stations s ON s.id=d.station_id"
            " WHERE w.status IN ('assigned','in_progress','reopened')"
            " AND (d.active=0 OR s.active=0) ORDER BY w.id",
        )
        return [_wish(r) for r in rows]

    async def deputy_loads(self, station_id: str) -> list[DeputyLoad]:
        rows = await fetch_all(
            self.conn,
            "SELECT d.id, d.categories, d.last_assigned_seq, u.unreachable_at, u.started_at,"
            " (SELECT COUNT(*) FROM wishes w WHERE w.deputy_id=d.id"
            f"   AND w.{OPEN}) AS open_count"
            " FROM deputies d JOIN users u ON u.id=d.user_id"
            " WHERE d.station_id=? AND d.active=1",
            (station_id,),
        )
        return [
            DeputyLoad(
                deputy_id=r["id"],
                categories=frozenset(json.loads(r["categories"])),
                open_count=r["open_count"],
                last_assigned_seq=r["last_assigned_seq"],
                available=r["unreachable_at"] is None,
            )
            for r in rows
        ]

    async def note_assignment(self, deputy_id: int) -> None:
        await self.conn.execute(
            "UPDATE deputies SET last_assigned_seq=(SELECT COALESCE(MAX(last_assigned_seq), 0) + 1"
            " FROM deputies d2 WHERE d2.station_id=deputies.station_id) WHERE id=?",
            (deputy_id,),
        )

    async def set_staff(self, station_id: str, user_ids: Iterable[int]) -> None:
        ids = list(user_ids)
        await self.conn.execute(
            "UPDATE station_staff SET active=0 WHERE station_id=?", (station_id,)
        )
        for uid in ids:
            await self.conn.execute(
                "INSERT INTO station_staff (station_id, user_id, active) VALUES (?, ?, 1)"
                " ON CONFLICT(station_id, user_id) DO UPDATE SET active=1",
                (station_id, uid),
            )

    async def staff_stations(self, user_id: int) -> frozenset[str]:
        rows = await fetch_all(
            self.conn,
            "SELECT s.station_id FROM station_staff s JOIN stations st ON st.id=s.station_id"
            " WHERE s.user_id=? AND s.active=1 AND st.active=1",
            (user_id,),
        )
        return frozenset(r[0] for r in rows)

    async def staff_users(self, station_id: str) -> list[UserRow]:
        rows = await fetch_all(
            self.conn,
            "SELECT u.* FROM station_staff s JOIN users u ON u.id=s.user_id"
            " JOIN stations st ON st.id=s.station_id"
            " WHERE s.station_id=? AND s.active=1 AND st.active=1 ORDER BY u.id",
            (station_id,),
        )
        return [_user(r) for r in rows]

    async def worker_external_ids(self, channel: str) -> list[str]:
        """Active deputies and staff of this channel, whether or not they opened the bot."""
        rows = await fetch_all(
            self.conn,
            "SELECT u.external_id FROM users u WHERE u.channel=? AND (EXISTS (SELECT 1 FROM"
            " deputies d WHERE d.user_id=u.id AND d.active=1) OR EXISTS (SELECT 1 FROM"
            " station_staff s WHERE s.user_id=u.id AND s.active=1))",
            (channel,),
        )
        return [str(r[0]) for r in rows]

    async def started_workers(self, channel: str) -> list[UserRow]:
        """Active deputies and staff of this channel who have opened the bot and not blocked it."""
        rows = await fetch_all(
            self.conn,
            "SELECT * FROM users u WHERE u.channel=? AND u.started_at IS NOT NULL"
            " AND u.unreachable_at IS NULL AND (EXISTS (SELECT 1 FROM deputies d"
            " JOIN stations st ON st.id=d.station_id WHERE d.user_id=u.id AND d.active=1"
            " AND st.active=1) OR EXISTS (SELECT 1 FROM station_staff s JOIN stations st"
            " ON st.id=s.station_id WHERE s.user_id=u.id AND s.active=1 AND st.active=1))"
            " ORDER BY u.id",
            (channel,),
        )
        return [_user(r) for r in rows]

    async def people_never_started(self) -> list[tuple[UserRow, str, str]]:
        """Configured deputies and staff who have not opened the bot: (user, role, station)."""
        rows = await fetch_all(
            self.conn,
            "SELECT u.*, 'deputy' AS role, d.station_id AS st FROM deputies d JOIN users u"
            " ON u.id=d.user_id JOIN stations x ON x.id=d.station_id WHERE d.active=1"
            " AND x.active=1 AND (u.started_at IS NULL OR u.unreachable_at IS NOT NULL)"
            " UNION ALL SELECT u.*, 'staff' AS role, s.station_id AS st FROM station_staff s"
            " JOIN users u ON u.id=s.user_id JOIN stations x ON x.id=s.station_id"
            " WHERE s.active=1 AND x.active=1"
            " AND (u.started_at IS NULL OR u.unreachable_at IS NOT NULL) ORDER BY st, role, id",
        )
        return [(_user(r), r["role"], r["st"]) for r in rows]

    # -- wishes ----------------------------------------------------------------------------

    async def next_receipt_seq(self, station_id: str, year: int) -> int:
        # Inside the caller's IMMEDIATE transaction, so two submits can never share a number,
        # and a rolled-back submit gives its number back (no gaps).
        await self.conn.execute(
            "INSERT INTO receipt_counters (station_id, year, last_seq) VALUES (?, ?, 1)"
            " ON CONFLICT(station_id, year) DO UPDATE SET last_seq=receipt_counters.last_seq+1",
            (station_id, year),
        )
        row = await fetch_one(
            self.conn,
            "SELECT last_seq FROM receipt_counters WHERE station_id=? AND year=?",
            (station_id, year),
        )
        assert row is not None
        return int(row[0])

    async def insert_wish(self, wish: Wish, idempotency_key: str | None) -> int:
        cursor = await self.conn.execute(
            "INSERT INTO wishes (station_id, receipt, resident_id, category_id, text, public, phone,"
            " status, deputy_id, created_at, updated_at, idempotency_key)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                wish.station_id,
                wish.receipt,
                wish.resident_id,
                wish.category_id,
                wish.text,
                int(wish.public),
                wish.phone,
                wish.status.value,
                wish.deputy_id,
                _ts(wish.created_at),
                _ts(wish.created_at),
                idempotency_key,
            ),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    async def update_wish(self, wish: Wish, now: datetime) -> None:
        await self.conn.execute(
            "UPDATE wishes SET status=?, deputy_id=?, accepted_at=?, resolved_at=?, closed_at=?,"
            " result=?, decline_reason=?, rating=?, reopen_count=?, updated_at=? WHERE id=?",
            (
                wish.status.value,
                wish.deputy_id,
                _ts(wish.accepted_at),
                _ts(wish.resolved_at),
                _ts(wish.closed_at),
                wish.result,
                wish.decline_reason,
                wish.rating.value if wish.rating else None,
                wish.reopen_count,
                _ts(now),
                wish.id,
            ),
        )

    async def wish(self, wish_id: int) -> Wish | None:
        row = await fetch_one(self.conn, "SELECT * FROM wishes WHERE id=?", (wish_id,))
        return _wish(row) if row else None

    async def wish_by_receipt(self, receipt: str) -> Wish | None:
        row = await fetch_one(self.conn, "SELECT * FROM wishes WHERE receipt=?", (receipt,))
        return _wish(row) if row else None

    async def wish_by_idempotency_key(self, key: str) -> Wish | None:
        row = await fetch_one(self.conn, "SELECT * FROM wishes WHERE idempotency_key=?", (key,))
        return _wish(row) if row else None

    async def wishes_submitted_since(self, user_id: int, since: datetime) -> int:
        row = await fetch_one(
            self.conn,
            "SELECT COUNT(*) FROM wishes WHERE resident_id=? AND created_at >= ?",
            (user_id, _ts(since)),
        )
        return int(row[0]) if row else 0

    async def wishes_of_resident(self, user_id: int, limit: int, offset: int = 0) -> list[Wish]:
        rows = await fetch_all(
            self.conn,
            "SELECT * FROM wishes WHERE resident_id=? ORDER BY id DESC LIMIT ? OFFSET ?",
            (user_id, limit, offset),
        )
        return [_wish(r) for r in rows]

    async def open_wishes_of_deputies(self, deputy_ids: Sequence[int]) -> list[Wish]:
        marks = ",".join("?" * len(deputy_ids)) or "-1"
        rows = await fetch_all(
            self.conn,
            f"SELECT * FROM wishes WHERE deputy_id IN ({marks})"
            " AND status IN ('assigned','in_progress','reopened') ORDER BY created_at, id",
            list(deputy_ids),
        )
        return [_wish(r) for r in rows]

    async def open_wishes_of_stations(
        self, station_ids: Sequence[str], limit: int | None = None
    ) -> list[Wish]:
        """Oldest first; the first `limit` only if given."""
        marks = ",".join("?" * len(station_ids)) or "''"
        rows = await fetch_all(
            self.conn,
            f"SELECT * FROM wishes WHERE station_id IN ({marks})"
            f" AND {OPEN} ORDER BY created_at, id" + ("" if limit is None else " LIMIT ?"),
            [*station_ids, *([] if limit is None else [limit])],
        )
        return [_wish(r) for r in rows]

    async def count_open_wishes_of_stations(self, station_ids: Sequence[str]) -> int:
        """From the all-time counts the triggers of migration 0017 keep."""
        marks = ",".join("?" * len(station_ids)) or "''"
        row = await fetch_one(
            self.conn,
            f"SELECT COALESCE(SUM(n), 0) FROM station_status_counts WHERE station_id IN ({marks})"
            f" AND {OPEN}",
            list(station_ids),
        )
        return int(row[0]) if row else 0

    async def unassigned_wishes(self, station_ids: Sequence[str]) -> list[Wish]:
        marks = ",".join("?" * len(station_ids)) or "''"
        rows = await fetch_all(
            self.conn,
            f"SELECT * FROM wishes WHERE station_id IN ({marks}) AND status='submitted'"
            " ORDER BY created_at, id",
            list(station_ids),
        )
        return [_wish(r) for r in rows]

    async def public_open_wishes(
        self, station_id: str, limit: int, offset: int
    ) -> tuple[list[Wish], int]:
        where = f"station_id=? AND public=1 AND {OPEN}"
        rows = await fetch_all(
            self.conn,
            f"SELECT * FROM wishes WHERE {where} ORDER BY id DESC LIMIT ? OFFSET ?",
            (station_id, limit, offset),
        )
        total = await fetch_one(
            self.conn, f"SELECT COUNT(*) FROM wishes WHERE {where}", (station_id,)
        )
        return [_wish(r) for r in rows], int(total[0]) if total else 0

    async def resolved_before(self, cutoff: datetime, limit: int) -> list[Wish]:
        rows = await fetch_all(
            self.conn,
            "SELECT * FROM wishes WHERE status='resolved' AND resolved_at < ? ORDER BY id + 0"
            " LIMIT ?",  # + 0: PostgreSQL would walk the primary key (see unrated_resolved_before)
            (_ts(cutoff), limit),
        )
        return [_wish(r) for r in rows]

    async def status_counts(self, station_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        marks = ",".join("?" * len(station_ids)) or "''"
        # kept by the triggers of migration 0017, not counted over every wish ever made
        rows = await fetch_all(
            self.conn,
            f"SELECT station_id, status, n FROM station_status_counts WHERE station_id IN ({marks})"
            " AND n <> 0",
            list(station_ids),
        )
        counts: dict[str, dict[str, int]] = {}
        for r in rows:
            counts.setdefault(r[0], {})[r[1]] = r[2]
        return counts

    async def add_attachments(self, wish_id: int, attachments: Iterable[Attachment]) -> None:
        for a in attachments:
            await self.conn.execute(
                "INSERT INTO wish_attachments (wish_id, kind, file_ref, latitude, longitude)"
                " VALUES (?, ?, ?, ?, ?)",
                (wish_id, a.kind, a.file_ref, a.latitude, a.longitude),
            )

    async def attachments(self, wish_id: int) -> list[Attachment]:
        rows = await fetch_all(
            self.conn,
            "SELECT kind, file_ref, latitude, longitude FROM wish_attachments WHERE wish_id=? ORDER BY id",
            (wish_id,),
        )
        return [Attachment(r[0], r[1], r[2], r[3]) for r in rows]

    async def add_event(
        self, wish_id: int, event: Event, idempotency_key: str | None = None
    ) -> int:
        cursor = await self.conn.execute(
            "INSERT INTO wish_events (wish_id, at, action, role, actor_user_id, from_status,"
            " to_status, deputy_id, body, idempotency_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                wish_id,
                _ts(event.at),
                event.action.value,
                event.role.value,
                event.actor_user_id,
                event.from_status.value if event.from_status else None,
                event.to_status.value if event.to_status else None,
                event.deputy_id,
                event.body,
                idempotency_key,
            ),
        )
        assert cursor.lastrowid is not None
        if event.action.value in RESPONSE_ACTIONS and event.role.value in RESPONSE_ROLES:
            # the earliest response, as MIN(at) over the timeline would give it (the same text
            # comparison), so a county's /stats reads it from an index (migration 0014)
            at = _ts(event.at)
            await self.conn.execute(
                "UPDATE wishes SET first_response_at=? WHERE id=?"
                " AND (first_response_at IS NULL OR first_response_at > ?)",
                (at, wish_id, at),
            )
        return cursor.lastrowid

    async def event_key_used(self, key: str) -> bool:
        row = await fetch_one(
            self.conn, "SELECT 1 FROM wish_events WHERE idempotency_key=?", (key,)
        )
        return row is not None

    async def events(self, wish_id: int) -> list[Event]:
        rows = await fetch_all(
            self.conn, "SELECT * FROM wish_events WHERE wish_id=? ORDER BY id", (wish_id,)
        )
        return [_event(r) for r in rows]

    # -- outbox and links ------------------------------------------------------------------

    async def enqueue(self, messages: Iterable[NewOutgoing], now: datetime) -> int:
        """Queue messages in the order given, in one `executemany` (a county's digests are one
        call, not a transaction or a round trip per person)."""
        at = _ts(now)
        rows = [
            (
                at,
                m.channel,
                m.chat_id,
                m.user_id,
                m.priority,
                m.kind,
                json.dumps(m.payload, ensure_ascii=False),
                m.wish_id,
                at if m.not_before is None else _ts(m.not_before),
            )
            for m in messages
        ]
        # One statement run for every row (sqlite3's executemany loops in C; psycopg pipelines
        # them and parses the short statement once: a statement of 100 rows' placeholders was
        # parsed in Python each time, 0.2 s of a province's 4 000 digests on PostgreSQL).
        await self.conn.executemany(
            "INSERT INTO outbox (created_at, channel, chat_id, user_id, priority, kind, payload,"
            " wish_id, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        return len(rows)

    async def next_outbox_time(self) -> datetime | None:
        row = await fetch_one(
            self.conn, "SELECT MIN(next_attempt_at) FROM outbox WHERE status='pending'"
        )
        return _dt(row[0]) if row and row[0] else None

    async def outbox_retry(
        self, row_id: int, at: datetime, error: str, count_attempt: bool
    ) -> None:
        await self.conn.execute(
            "UPDATE outbox SET next_attempt_at=?, last_error=?, attempts=attempts+? WHERE id=?",
            (_ts(at), error, int(count_attempt), row_id),
        )

    async def outbox_fail(self, row_id: int, status: str, error: str) -> None:
        await self.conn.execute(
            "UPDATE outbox SET status=?, last_error=?, attempts=attempts+1 WHERE id=?",
            (status, error, row_id),
        )

    async def outbox_fail_pending_for_chat(self, channel: str, chat_id: str, error: str) -> int:
        cursor = await self.conn.execute(
            "UPDATE outbox SET status='unreachable', last_error=? WHERE channel=? AND chat_id=?"
            " AND status='pending'",
            (error, channel, chat_id),
        )
        return cursor.rowcount

    async def outbox_cancel_pending(self, channel: str, chat_id: str, kind: str) -> int:
        """Cancel the chat's pending rows of `kind` (a later one supersedes them). Cancelled,
        not deleted: the dispatcher may hold a row's id while it is on the wire or sent and not
        yet marked, and a deleted id can be given to the next row inserted (SQLite reuses the
        highest), which would then be marked sent undelivered."""
        cursor = await self.conn.execute(
            "UPDATE outbox SET status='cancelled' WHERE chat_id=? AND status='pending'"
            " AND channel=? AND kind=?",
            (chat_id, channel, kind),
        )
        return cursor.rowcount

    async def outbox_counts(self) -> dict[str, int]:
        rows = await fetch_all(self.conn, "SELECT status, COUNT(*) FROM outbox GROUP BY status")
        return {r[0]: r[1] for r in rows}

    async def linked_wish(self, channel: str, chat_id: str, message_id: str) -> int | None:
        row = await fetch_one(
            self.conn,
            "SELECT wish_id FROM message_links WHERE channel=? AND chat_id=? AND message_id=?",
            (channel, chat_id, message_id),
        )
        return int(row[0]) if row else None

    # -- sessions (multi-step flows) --------------------------------------------------------

    async def session(self, user_id: int) -> tuple[str, dict[str, Any]] | None:
        row = await fetch_one(
            self.conn, "SELECT flow, data FROM sessions WHERE user_id=?", (user_id,)
        )
        return (row[0], json.loads(row[1])) if row else None

    async def session_with_time(self, user_id: int) -> tuple[dict[str, Any], datetime] | None:
        """A person's flow state and when it last changed."""
        row = await fetch_one(
            self.conn, "SELECT data, updated_at FROM sessions WHERE user_id=?", (user_id,)
        )
        if row is None:
            return None
        updated = _dt(row[1])
        assert updated is not None
        return json.loads(row[0]), updated

    async def set_session(
        self, user_id: int, flow: str, data: dict[str, Any], now: datetime
    ) -> None:
        await self.conn.execute(
            "INSERT INTO sessions (user_id, flow, data, updated_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT(user_id) DO UPDATE SET flow=excluded.flow, data=excluded.data,"
            " updated_at=excluded.updated_at",
            (user_id, flow, json.dumps(data, ensure_ascii=False), _ts(now)),
        )

    async def sessions_data(self, user_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        """The flow state of several people in one read (held-back writes, bot.flows)."""
        if not user_ids:
            return {}
        rows = await fetch_all(
            self.conn,
            f"SELECT user_id, data FROM sessions WHERE user_id IN ({marks(user_ids)})",
            list(user_ids),
        )
        return {int(r[0]): json.loads(r[1]) for r in rows}

    async def set_sessions(self, rows: Sequence[tuple[int, dict[str, Any], datetime]]) -> None:
        """Several people's flow state ("state" sessions), one statement for all of them."""
        await self.conn.executemany(
            "INSERT INTO sessions (user_id, flow, data, updated_at) VALUES (?, 'state', ?, ?)"
            " ON CONFLICT(user_id) DO UPDATE SET flow=excluded.flow, data=excluded.data,"
            " updated_at=excluded.updated_at",
            [(uid, json.dumps(data, ensure_ascii=False), _ts(at)) for uid, data, at in rows],
        )

    async def clear_session(self, user_id: int) -> None:
        await self.conn.execute("DELETE FROM sessions WHERE user_id=?", (user_id,))

    # -- inbox (updates persisted before their offset is confirmed) ---------------------------

    async def inbox_add(
        self, channel: str, update_id: int, payload: str, now: datetime, attempts: int = 0
    ) -> bool:
        cursor = await self.conn.execute(
            "INSERT OR IGNORE INTO inbox (channel, update_id, received_at, payload, attempts)"
            " VALUES (?, ?, ?, ?, ?)",
            (channel, update_id, _ts(now), payload, attempts),
        )
        return cursor.rowcount > 0

    async def inbox_add_many(
        self, channel: str, updates: list[tuple[int, str]], now: datetime, attempts: int = 0
    ) -> set[int]:
        """Store a batch of (update id, payload); returns the ids that were new (a redelivered
        id is ignored). Two round trips to the database whatever the batch's size."""
        if not updates:
            return set()
        ids = [u for u, _ in updates]
        rows = await fetch_all(
            self.conn,
            f"SELECT update_id FROM inbox WHERE channel=? AND update_id IN ({marks(ids)})",
            (channel, *ids),
        )
        known = {r[0] for r in rows}
        new = [(u, p) for u, p in updates if u not in known]
        await self.conn.executemany(
            "INSERT OR IGNORE INTO inbox (channel, update_id, received_at, payload, attempts)"
            " VALUES (?, ?, ?, ?, ?)",
            [(channel, u, _ts(now), p, attempts) for u, p in new],
        )
        return {u for u, _ in new}

    async def inbox_attempts(self, update_ids: list[int], channel: str) -> None:
        """Count an attempt for each of these updates, taken for processing together."""
        await self.conn.executemany(
            "UPDATE inbox SET attempts=attempts+1 WHERE channel=? AND update_id=?",
            [(channel, u) for u in update_ids],
        )

    async def inbox_done_many(self, channel: str, update_ids: list[int], now: datetime) -> None:
        await self.conn.executemany(
            "UPDATE inbox SET processed_at=? WHERE channel=? AND update_id=?",
            [(_ts(now), channel, u) for u in update_ids],
        )

    async def inbox_pending(
        self, channel: str, limit: int, in_arrival_order: bool = False
    ) -> list[tuple[int, str, int]]:
        """Updates stored but not processed, in the platform's id order (Telegram's update ids
        are its arrival order), or with `in_arrival_order` in the order they were stored (a
        channel whose ids are not: WeChat's MsgIds and the hashed ids of its events)."""
        order = "seq" if in_arrival_order else "update_id"  # one of two fixed names
        rows = await fetch_all(
            self.conn,
            "SELECT update_id, payload, attempts FROM inbox WHERE channel=? AND processed_at IS NULL"
            f" ORDER BY {order} LIMIT ?",
            (channel, limit),
        )
        return [(r[0], r[1], r[2]) for r in rows]

    async def inbox_done(self, channel: str, update_id: int, now: datetime) -> None:
        await self.conn.execute(
            "UPDATE inbox SET processed_at=? WHERE channel=? AND update_id=?",
            (_ts(now), channel, update_id),
        )

    async def inbox_unprocessed(self, channel: str) -> int:
        row = await fetch_one(
            self.conn,
            "SELECT COUNT(*) FROM inbox WHERE channel=? AND processed_at IS NULL",
            (channel,),
        )
        return int(row[0]) if row else 0

    async def inbox_prune(self, channel: str, before: datetime) -> None:
        """Forget processed updates older than `before`, and the idempotency keys made from
        them: the platform may reuse an update id after a quiet week, and a key kept longer
        than the update it came from could then answer a new request with an old result."""
        await self.conn.execute(
            "DELETE FROM inbox WHERE channel=? AND processed_at IS NOT NULL AND processed_at < ?",
            (channel, _ts(before)),
        )
        for table, column in (
            ("wishes", "created_at"),
            ("wish_events", "at"),
            ("broadcasts", "created_at"),
        ):
            await self.conn.execute(
                f"UPDATE {table} SET idempotency_key=NULL"  # table and column: fixed names above
                f" WHERE idempotency_key IS NOT NULL AND {column} < ?",
                (_ts(before),),
            )

    # -- FAQ misses ------------------------------------------------------------------------

    async def add_faq_miss(
        self, station_id: str | None, kind: str, text: str, now: datetime
    ) -> None:
        await self.conn.execute(
            "INSERT INTO faq_misses (at, station_id, kind, text) VALUES (?, ?, ?, ?)",
            (_ts(now), station_id, kind, text),
        )

    async def faq_misses(self, station_ids: Sequence[str] | None, since: datetime) -> list[str]:
        if station_ids is None:
            rows = await fetch_all(
                self.conn, "SELECT text FROM faq_misses WHERE at >= ? ORDER BY id", (_ts(since),)
            )
        else:
            marks = ",".join("?" * len(station_ids)) or "''"
            rows = await fetch_all(
                self.conn,
                f"SELECT text FROM faq_misses WHERE at >= ? AND (station_id IN ({marks})"
                " OR station_id IS NULL) ORDER BY id",
                [_ts(since), *station_ids],
            )
        return [r[0] for r in rows]


def _station(r: sqlite3.Row) -> StationRow:
    return StationRow(
        r["id"], r["name"], r["code"], r["address"], r["reception"], r["wall_chat_id"]
    )


def _user(r: sqlite3.Row) -> UserRow:
    return UserRow(
        id=r["id"],
        channel=r["channel"],
        external_id=r["external_id"],
        chat_id=r["chat_id"],
        display_name=r["display_name"],
        started_at=_dt(r["started_at"]),
        unreachable_at=_dt(r["unreachable_at"]),
        stopped=bool(r["stopped"]),
        station_id=r["station_id"],
    )


def _account(r: sqlite3.Row) -> AccountRow:
    return AccountRow(
        id=r["id"],
        user_id=r["user_id"],
        channel=r["channel"],
        external_id=r["external_id"],
        chat_id=r["chat_id"],
        started_at=_dt(r["started_at"]),
        unreachable_at=_dt(r["unreachable_at"]),
    )


def _deputy(r: sqlite3.Row) -> DeputyRow:
    return DeputyRow(
        id=r["id"],
        station_id=r["station_id"],
        user_id=r["user_id"],
        name=r["name"],
        categories=frozenset(json.loads(r["categories"])),
        active=bool(r["active"]),
    )


def _wish(r: sqlite3.Row) -> Wish:
    created = _dt(r["created_at"])
    assert created is not None
    return Wish(
        id=r["id"],
        station_id=r["station_id"],
        receipt=r["receipt"],
        resident_id=r["resident_id"],
        category_id=r["category_id"],
        text=r["text"],
        status=Status(r["status"]),
        created_at=created,
        public=bool(r["public"]),
        phone=r["phone"],
        deputy_id=r["deputy_id"],
        accepted_at=_dt(r["accepted_at"]),
        resolved_at=_dt(r["resolved_at"]),
        closed_at=_dt(r["closed_at"]),
        result=r["result"],
        decline_reason=r["decline_reason"],
        rating=Rating(r["rating"]) if r["rating"] else None,
        reopen_count=r["reopen_count"],
    )


def _event(r: sqlite3.Row) -> Event:
    at = _dt(r["at"])
    assert at is not None

    return Event(
        action=Action(r["action"]),
        role=Role(r["role"]),
        actor_user_id=r["actor_user_id"],
        from_status=Status(r["from_status"]) if r["from_status"] else None,
        to_status=Status(r["to_status"]) if r["to_status"] else None,
        at=at,
        body=r["body"],
        deputy_id=r["deputy_id"],
    )


def _outbox(r: sqlite3.Row) -> OutboxRow:
    return OutboxRow(
        id=r["id"],
        channel=r["channel"],
        chat_id=r["chat_id"],
        user_id=r["user_id"],
        priority=r["priority"],
        kind=r["kind"],
        payload=json.loads(r["payload"]),
        wish_id=r["wish_id"],
        attempts=r["attempts"],
    )


@dataclass(frozen=True)
class StoredFaqEntry:
    id: str
    question: str
    answer: str
    alternates: tuple[str, ...]
    stations: tuple[str, ...]


async def faq_entries(conn: aiosqlite.Connection) -> list[StoredFaqEntry]:
    rows = await fetch_all(conn, "SELECT * FROM faq_entries ORDER BY created_at, id")
    return [
        StoredFaqEntry(
            r["id"],
            r["question"],
            r["answer"],
            tuple(json.loads(r["alternates"])),
            tuple(json.loads(r["stations"])),
        )
        for r in rows
    ]


async def add_faq_entry(
    conn: aiosqlite.Connection, entry: StoredFaqEntry, user_id: int | None, now: datetime
) -> None:
    await conn.execute(
        "INSERT INTO faq_entries (id, question, answer, alternates, stations, created_at, created_by)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            entry.id,
            entry.question,
            entry.answer,
            json.dumps(list(entry.alternates), ensure_ascii=False),
            json.dumps(list(entry.stations), ensure_ascii=False),
            _ts(now),
            user_id,
        ),
    )


# -- FAQ learning from misses ------------------------------------------------------------


def _station_clause(station_ids: Sequence[str] | None) -> tuple[str, list[Any]]:
    """Misses of these stations (plus the station-less ones); None: every station."""
    if station_ids is None:
        return "", []
    marks = ",".join("?" * len(station_ids)) or "''"
    return f" AND (station_id IN ({marks}) OR station_id IS NULL)", list(station_ids)


async def faq_miss_rows(
    conn: aiosqlite.Connection, station_ids: Sequence[str] | None, since: datetime, limit: int
) -> list[tuple[int, str]]:
    """(id, text) of the newest ``limit`` misses since ``since``, newest first."""
    clause, args = _station_clause(station_ids)
    rows = await fetch_all(
        conn,
        f"SELECT id, text FROM faq_misses WHERE at >= ?{clause} ORDER BY id DESC LIMIT ?",
        [_ts(since), *args, limit],
    )
    return [(int(r[0]), str(r[1])) for r in rows]


async def faq_miss_text(
    conn: aiosqlite.Connection, miss_id: int, station_ids: Sequence[str] | None
) -> str | None:
    """The text of one miss, if it belongs to these stations (None: any)."""
    clause, args = _station_clause(station_ids)
    row = await fetch_one(
        conn, f"SELECT text FROM faq_misses WHERE id = ?{clause}", [miss_id, *args]
    )
    return str(row[0]) if row else None


async def delete_faq_misses(
    conn: aiosqlite.Connection, texts: Iterable[str], station_ids: Sequence[str] | None
) -> int:
    """Forget the misses with these exact texts (once staff taught the FAQ to answer them)."""
    clause, args = _station_clause(station_ids)
    removed = 0
    for text in set(texts):
        cursor = await conn.execute(f"DELETE FROM faq_misses WHERE text = ?{clause}", [text, *args])
        removed += max(cursor.rowcount, 0)
    return removed


async def add_faq_alternate(
    conn: aiosqlite.Connection, entry_id: str, text: str, user_id: int | None, now: datetime
) -> bool:
    """Store a taught phrasing; False if the entry already had it."""
    cursor = await conn.execute(
        "INSERT OR IGNORE INTO faq_alternates (entry_id, text, created_at, created_by)"
        " VALUES (?, ?, ?, ?)",
        (entry_id, text, _ts(now), user_id),
    )
    return cursor.rowcount > 0


async def faq_alternates(conn: aiosqlite.Connection) -> dict[str, list[str]]:
    """Taught phrasings per entry id, oldest first."""
    rows = await fetch_all(conn, "SELECT entry_id, text FROM faq_alternates ORDER BY id")
    taught: dict[str, list[str]] = {}
    for r in rows:
        taught.setdefault(str(r[0]), []).append(str(r[1]))
    return taught
