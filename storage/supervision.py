"""SQL of supervision (督办): due dates, deadline policies, reminders sent, follow-ups, digests.

Like `Repos`, it wraps the connection of an open transaction, so a reminder's "sent" mark and
its outbox row commit together.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import aiosqlite

from bot.domain.deadlines import DeadlinePolicy, DueDates, NoteKind, SupervisionNote
from bot.domain.model import Status, Wish
from storage.db import fetch_all, fetch_one
from storage.repositories import UserRow, _dt, _ts, _user, _wish, marks

OPEN = "('submitted','assigned','in_progress','reopened')"
# How late a 回访 may still be asked (see follow_up_candidates).
FOLLOW_UP_WINDOW = timedelta(days=30)
# Values per IN (…) list: well under both engines' limits on bound parameters.
ROWS_PER_STATEMENT = 200


@dataclass(frozen=True)
class FollowUpRow:
    wish_id: int
    resolved_at: datetime
    asked_at: datetime
    answer: str | None
    answered_at: datetime | None


@dataclass(frozen=True)
class DigestRow:
    user_id: int
    day: str
    since: datetime
    until: datetime


class SupervisionRepo:
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn

    # -- policies --------------------------------------------------------------------------

    async def set_policies(self, policies: Mapping[tuple[str, str], DeadlinePolicy]) -> None:
        """Replace the effective policies (as resolved from the stations file)."""
        await self.conn.execute("DELETE FROM deadline_policies")
        for (station_id, category_id), p in sorted(policies.items()):
            await self.conn.execute(
                "INSERT INTO deadline_policies (station_id, category_id, accept_days,"
                " resolve_days, working_days_only) VALUES (?, ?, ?, ?, ?)",
                (station_id, category_id, p.accept_days, p.resolve_days, int(p.working_days_only)),
            )

    async def policy(self, station_id: str, category_id: str) -> DeadlinePolicy:
        row = await fetch_one(
            self.conn,
            "SELECT accept_days, resolve_days, working_days_only FROM deadline_policies"
            " WHERE station_id=? AND category_id IN (?, '')"
            " ORDER BY category_id = '' LIMIT 1",
            (station_id, category_id),
        )
        if row is None:
            return DeadlinePolicy()
        return DeadlinePolicy(int(row[0]), int(row[1]), bool(row[2]))

    # -- due dates -------------------------------------------------------------------------

    async def due_dates(self, wish_id: int) -> DueDates:
        row = await fetch_one(
            self.conn, "SELECT accept_due_at, resolve_due_at FROM wishes WHERE id=?", (wish_id,)
        )
        if row is None:
            return DueDates()
        return DueDates(_dt(row[0]), _dt(row[1]))

    async def due_dates_of(self, wish_ids: Sequence[int]) -> dict[int, DueDates]:
        if not wish_ids:
            return {}
        marks = ",".join("?" * len(wish_ids))
        rows = await fetch_all(
            self.conn,
            f"SELECT id, accept_due_at, resolve_due_at FROM wishes WHERE id IN ({marks})",
            list(wish_ids),
        )
        return {r[0]: DueDates(_dt(r[1]), _dt(r[2])) for r in rows}

    async def set_due_dates(self, wish_id: int, dues: DueDates) -> None:
        await self.conn.execute(
            "UPDATE wishes SET accept_due_at=?, resolve_due_at=? WHERE id=?",
            (_ts(dues.accept), _ts(dues.resolve), wish_id),
        )

    async def set_remind_at(self, wish_id: int, at: datetime | None) -> None:
        """When the scheduler next looks at this wish's reminders (None: nothing more)."""
        await self.conn.execute("UPDATE wishes SET remind_at=? WHERE id=?", (_ts(at), wish_id))

    async def after_event(
        self, wish_id: int, remind_at: datetime | None, resolved_now: bool, resolved: bool
    ) -> None:
        """What the scheduler has to look at after an event on the wish: its reminders from
        `remind_at`; a new resolution (`resolved_now`) owes a rating reminder and a 回访; a
        wish no longer `resolved` owes no rating reminder."""
        await self.conn.execute(
            "UPDATE wishes SET remind_at=?, rating_reminder_due=CASE WHEN ?=1 THEN 1"
            " WHEN ?=1 THEN rating_reminder_due END, follow_up_due=CASE WHEN ?=1 THEN 1"
            " ELSE follow_up_due END WHERE id=?",
            (_ts(remind_at), int(resolved_now), int(resolved), int(resolved_now), wish_id),
        )

    async def rating_reminder_done(self, wish_id: int) -> None:
        await self.conn.execute("UPDATE wishes SET rating_reminder_due=NULL WHERE id=?", (wish_id,))

    async def follow_up_done(self, wish_id: int) -> None:
        await self.conn.execute("UPDATE wishes SET follow_up_due=NULL WHERE id=?", (wish_id,))

    async def follow_ups_expired(self, before: datetime) -> int:
        """Wishes whose 回访 was never asked (the resident had stopped the bot or could not be
        reached) and is now too late to ask: no longer looked at."""
        cursor = await self.conn.execute(
            "UPDATE wishes SET follow_up_due=NULL WHERE follow_up_due=1 AND resolved_at <= ?",
            (_ts(before),),
        )
        return cursor.rowcount

    async def remind_due(self, now: datetime) -> list[tuple[int, Status, DueDates, str]]:
        """(wish, status, due dates, remind_at as stored) of the wishes whose moment to look at
        their reminders has come: a range of the `wishes_remind` index."""
        rows = await fetch_all(
            self.conn,
            "SELECT id, status, accept_due_at, resolve_due_at, remind_at FROM wishes"
            " INDEXED BY wishes_remind WHERE remind_at <= ? ORDER BY id + 0",
            (_ts(now),),
        )
        return [(r[0], Status(r[1]), DueDates(_dt(r[2]), _dt(r[3])), r[4]) for r in rows]

    async def move_remind_at(self, moves: Sequence[tuple[datetime | None, int, str]]) -> None:
        """(new remind_at, wish, remind_at as read) each: unless the wish changed meanwhile
        (an event set its own), which then stands."""
        await self.conn.executemany(
            "UPDATE wishes SET remind_at=? WHERE id=? AND remind_at=?",
            [(_ts(at), wish_id, was) for at, wish_id, was in moves],
        )

    async def open_without_due_dates(self, limit: int) -> list[Wish]:
        rows = await fetch_all(
            self.conn,
            f"SELECT * FROM wishes WHERE status IN {OPEN} AND resolve_due_at IS NULL"
            " ORDER BY id LIMIT ?",
            (limit,),
        )
        return [_wish(r) for r in rows]

    async def reminder_candidates(
        self, horizon: datetime, now: datetime | None = None
    ) -> list[int]:
        """Open wishes with a deadline before `horizon` that was not escalated yet.

        A deadline's escalation is queued together with (or after) every reminder about it, so
        a wish whose escalations are all sent has nothing more to send for its deadlines. Given
        `now`, a deadline still ahead counts only while its deputy has not had the "soon"
        reminder: every minute then reads the wishes that owe something, not every wish due
        within a day.
        """
        soon, looked_at = "", ""
        params: list[object] = [_ts(horizon)]
        if now is not None:
            soon = (
                " AND (w.{due} <= ? OR (w.deputy_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM"
                " reminders_sent s WHERE s.wish_id=w.id AND s.kind='{kind}'"
                " AND s.due_at=w.{due} AND s.target=w.deputy_id)))"
            )
            params.append(_ts(now))
        params.append(_ts(horizon))
        if now is not None:
            params.append(_ts(now))
            # only wishes whose moment has come (`remind_at`, 0016): none of the others owes
            # anything, and the index range leaves out the escalated backlog
            looked_at = " INDEXED BY wishes_remind WHERE w.remind_at <= ? AND"
            params.insert(0, _ts(now))
        rows = await fetch_all(
            self.conn,
            f"SELECT w.id FROM wishes w{looked_at or ' WHERE'} w.status IN {OPEN} AND ("
            " (w.resolve_due_at <= ? AND NOT EXISTS (SELECT 1 FROM reminders_sent r"
            "  WHERE r.wish_id=w.id AND r.kind='escalate_resolve' AND r.due_at=w.resolve_due_at)"
            f"{soon.format(due='resolve_due_at', kind='resolve_soon')})"
            " OR (w.status IN ('submitted','assigned','reopened') AND w.accept_due_at <= ?"
            "  AND NOT EXISTS (SELECT 1 FROM reminders_sent r WHERE r.wish_id=w.id"
            "  AND r.kind='escalate_accept' AND r.due_at=w.accept_due_at)"
            f"{soon.format(due='accept_due_at', kind='accept_soon')}))"
            " ORDER BY w.id + 0",
            params,
        )
        return [r[0] for r in rows]

    async def overdue(
        self, station_ids: Sequence[str] | None, now: datetime, limit: int = 200
    ) -> list[tuple[Wish, DueDates]]:
        """Open wishes past a deadline: resolve, or accept while nobody has accepted them."""
        where = ""
        params: list[object] = [_ts(now), _ts(now)]
        if station_ids is not None:
            marks = ",".join("?" * len(station_ids)) or "''"
            where = f" AND station_id IN ({marks})"
            params.extend(station_ids)
        rows = await fetch_all(
            self.conn,
            f"SELECT * FROM wishes WHERE status IN {OPEN} AND (resolve_due_at <= ?"
            " OR (status IN ('submitted','assigned','reopened') AND accept_due_at <= ?))"
            f"{where} ORDER BY COALESCE(MIN(accept_due_at, resolve_due_at), resolve_due_at), id"
            " LIMIT ?",
            [*params, limit],
        )
        return [
            (_wish(r), DueDates(_dt(r["accept_due_at"]), _dt(r["resolve_due_at"]))) for r in rows
        ]

    # -- reminders -------------------------------------------------------------------------

    async def mark_sent(
        self, wish_id: int, kind: str, due_at: datetime, target: int, now: datetime
    ) -> bool:
        """Claim a reminder; False if it was queued before (nothing must be sent then)."""
        cursor = await self.conn.execute(
            "INSERT OR IGNORE INTO reminders_sent (wish_id, kind, due_at, target, sent_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (wish_id, kind, _ts(due_at), target, _ts(now)),
        )
        return cursor.rowcount > 0

    # -- follow-up ---------------------------------------------------------------------------

    async def unrated_resolved_before(self, cutoff: datetime, limit: int) -> list[Wish]:
        """Resolved, unrated wishes of residents who can be asked, not yet reminded.

        `ORDER BY w.id + 0` (here and in `follow_up_candidates`): ordered by id, PostgreSQL
        walks the primary key hoping to meet `limit` rows early and filters 2 000 000 wishes
        at a province's size (1 s every minute); by an expression it reads the status and
        resolution index range and sorts the few it finds (0.1 s), as SQLite does anyway."""
        rows = await fetch_all(
            self.conn,
            "SELECT w.* FROM wishes w INDEXED BY wishes_rating_reminder_due"
            " JOIN users u ON u.id=w.resident_id WHERE w.rating_reminder_due=1"
            " AND w.status='resolved' AND w.rating IS NULL AND w.resolved_at <= ?"
            " AND u.stopped=0 AND u.unreachable_at IS NULL AND NOT EXISTS (SELECT 1 FROM"
            " reminders_sent r WHERE r.wish_id=w.id AND r.kind='rating_reminder'"
            " AND r.due_at=w.resolved_at) ORDER BY w.id + 0 LIMIT ?",
            (_ts(cutoff), limit),
        )
        return [_wish(r) for r in rows]

    async def follow_up_candidates(
        self, cutoff: datetime, limit: int, window: timedelta = FOLLOW_UP_WINDOW
    ) -> list[Wish]:
        """Wishes resolved before `cutoff` (but within `window` of it) whose resident has not
        been asked about it.

        The window keeps this minute's query to the wishes that came due lately (an index range
        on resolution time) instead of every wish ever resolved; a 回访 more than `window` late
        (the bot was down that long, the resident could not be reached) is not asked, as for
        the wishes resolved before this feature existed (migration 0004).
        """
        rows = await fetch_all(
            self.conn,
            "SELECT w.* FROM wishes w INDEXED BY wishes_follow_up_due"
            " JOIN users u ON u.id=w.resident_id WHERE w.follow_up_due=1"
            " AND w.status IN ('resolved','closed') AND w.resolved_at IS NOT NULL"
            " AND w.resolved_at <= ? AND w.resolved_at > ?"
            " AND u.stopped=0 AND u.unreachable_at IS NULL"
            " AND NOT EXISTS (SELECT 1 FROM follow_ups f WHERE f.wish_id=w.id"
            " AND f.resolved_at=w.resolved_at) ORDER BY w.id + 0 LIMIT ?",
            (_ts(cutoff), _ts(cutoff - window), limit),
        )
        return [_wish(r) for r in rows]

    async def add_follow_up(self, wish_id: int, resolved_at: datetime, now: datetime) -> bool:
        cursor = await self.conn.execute(
            "INSERT OR IGNORE INTO follow_ups (wish_id, resolved_at, asked_at) VALUES (?, ?, ?)",
            (wish_id, _ts(resolved_at), _ts(now)),
        )
        return cursor.rowcount > 0

    async def follow_up(self, wish_id: int, resolved_at: datetime) -> FollowUpRow | None:
        row = await fetch_one(
            self.conn,
            "SELECT * FROM follow_ups WHERE wish_id=? AND resolved_at=?",
            (wish_id, _ts(resolved_at)),
        )
        if row is None:
            return None
        return FollowUpRow(
            wish_id=row["wish_id"],
            resolved_at=_dt(row["resolved_at"]),  # type: ignore[arg-type]
            asked_at=_dt(row["asked_at"]),  # type: ignore[arg-type]
            answer=row["answer"],
            answered_at=_dt(row["answered_at"]),
        )

    async def answer_follow_up(
        self, wish_id: int, resolved_at: datetime, answer: str, now: datetime
    ) -> bool:
        cursor = await self.conn.execute(
            "UPDATE follow_ups SET answer=?, answered_at=? WHERE wish_id=? AND resolved_at=?"
            " AND answer IS NULL",
            (answer, _ts(now), wish_id, _ts(resolved_at)),
        )
        return cursor.rowcount > 0

    # -- notes on the timeline ---------------------------------------------------------------

    async def add_note(self, wish_id: int, note: SupervisionNote) -> None:
        await self.conn.execute(
            "INSERT INTO supervision_notes (wish_id, at, kind, role, actor_user_id, body)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (wish_id, _ts(note.at), note.kind.value, note.role, note.actor_user_id, note.body),
        )

    async def notes(self, wish_id: int) -> list[SupervisionNote]:
        rows = await fetch_all(
            self.conn, "SELECT * FROM supervision_notes WHERE wish_id=? ORDER BY id", (wish_id,)
        )
        return [
            SupervisionNote(
                at=_dt(r["at"]),  # type: ignore[arg-type]
                kind=NoteKind(r["kind"]),
                role=r["role"],
                actor_user_id=r["actor_user_id"],
                body=r["body"],
            )
            for r in rows
        ]

    async def last_note_at(self, wish_id: int, kind: NoteKind) -> datetime | None:
        row = await fetch_one(
            self.conn,
            "SELECT MAX(at) FROM supervision_notes WHERE wish_id=? AND kind=?",
            (wish_id, kind.value),
        )
        return _dt(row[0]) if row and row[0] else None

    # -- digests -----------------------------------------------------------------------------

    async def staff_memberships(self) -> list[tuple[str, UserRow]]:
        """(station id, person) of every active staff membership, people in id order."""
        rows = await fetch_all(
            self.conn,
            "SELECT s.station_id AS member_of, u.* FROM station_staff s JOIN users u"
            " ON u.id=s.user_id WHERE s.active=1 ORDER BY u.id, s.station_id",
        )
        return [(r["member_of"], _user(r)) for r in rows]

    async def digest_owed(self, user_ids: Sequence[int], day: str | None) -> bool:
        """Whether one of these people has no digest yet, or (from the digest hour, `day`)
        none for `day`: one query, each person an index probe."""
        if not user_ids:
            return False
        since_day = " AND d.day >= ?" if day is not None else ""
        marks = ",".join("?" * len(user_ids))
        row = await fetch_one(
            self.conn,
            f"SELECT 1 FROM users u WHERE u.id IN ({marks}) AND NOT EXISTS (SELECT 1 FROM"
            f" digests_sent d WHERE d.user_id=u.id{since_day}) LIMIT 1",
            [*user_ids, *([day] if day is not None else [])],
        )
        return row is not None

    async def last_digests(self, user_ids: Sequence[int]) -> dict[int, DigestRow]:
        """Each person's latest digest (by day), for those who had one."""
        if not user_ids:
            return {}
        marks = ",".join("?" * len(user_ids))
        rows = await fetch_all(
            self.conn,
            f"SELECT d.* FROM users u JOIN digests_sent d ON d.user_id=u.id AND d.day="
            " (SELECT MAX(x.day) FROM digests_sent x WHERE x.user_id=u.id)"
            f" WHERE u.id IN ({marks})",
            list(user_ids),
        )
        result = {}
        for row in rows:
            since, until = _dt(row["since"]), _dt(row["until"])
            assert since is not None and until is not None
            result[row["user_id"]] = DigestRow(row["user_id"], row["day"], since, until)
        return result

    async def add_digests(
        self, rows: Sequence[tuple[int, str, datetime, datetime, int]]
    ) -> set[int]:
        """Record (user, day, since, until, items) digests; returns the people whose digest was
        new (a digest recorded before is not repeated). Inside the caller's write transaction,
        which only the scheduler's process opens for digests: what is there is read first, then
        the new ones written in one `executemany` (a multi-row INSERT … RETURNING was parsed
        in Python by psycopg, statement by statement: 0.1 s of a province's digests)."""
        recorded: set[tuple[int, str]] = set()
        users = sorted({u for u, *_ in rows})
        days = sorted({day for _, day, *_ in rows})  # one or two: today, a baseline's
        for start in range(0, len(users), ROWS_PER_STATEMENT):
            chunk = users[start : start + ROWS_PER_STATEMENT]
            found = await fetch_all(
                self.conn,
                f"SELECT user_id, day FROM digests_sent WHERE user_id IN ({marks(chunk)})"
                f" AND day IN ({marks(days)})",
                [*chunk, *days],
            )
            recorded.update((int(u), d) for u, d in map(tuple, found))
        new = []
        for u, day, since, until, n in rows:
            if (u, day) not in recorded:
                recorded.add((u, day))
                new.append((u, day, _ts(since), _ts(until), n))
        await self.conn.executemany(
            "INSERT INTO digests_sent (user_id, day, since, until, items) VALUES (?, ?, ?, ?, ?)",
            new,
        )
        return {u for u, *_ in new}

    async def receipts_between(
        self, column: str, station_ids: Sequence[str], since: datetime, until: datetime
    ) -> list[tuple[str, str]]:
        """(station, receipt) of the wishes created (`column` created_at) or resolved
        (resolved_at) in (since, until], in that order: from the station and time index, only
        the period's wishes are read, and only the two columns a digest shows."""
        assert column in ("created_at", "resolved_at")
        if not station_ids:
            return []
        rows = await fetch_all(
            self.conn,
            f"SELECT station_id, receipt FROM wishes WHERE station_id IN ({marks(station_ids)})"
            f" AND {column} > ? AND {column} <= ? ORDER BY {column}, id",
            [*station_ids, _ts(since), _ts(until)],
        )
        return [(r[0], r[1]) for r in rows]

    async def overdue_by_station(
        self, now: datetime, first: int
    ) -> dict[str, tuple[int, list[str]]]:
        """Each station's overdue wishes (as `overdue` finds them): how many, and the receipts
        of the `first` that came due first, in `overdue`'s order. Two statements for every
        station at once, grouped in SQL."""
        where = (
            f"status IN {OPEN} AND (resolve_due_at <= ?"
            " OR (status IN ('submitted','assigned','reopened') AND accept_due_at <= ?))"
        )
        counts = await fetch_all(
            self.conn,
            f"SELECT station_id, COUNT(*) FROM wishes WHERE {where} GROUP BY station_id",
            (_ts(now), _ts(now)),
        )
        result: dict[str, tuple[int, list[str]]] = {r[0]: (int(r[1]), []) for r in counts}
        listed = await fetch_all(
            self.conn,
            "SELECT station_id, receipt FROM (SELECT station_id, receipt, ROW_NUMBER() OVER"
            " (PARTITION BY station_id ORDER BY COALESCE(MIN(accept_due_at, resolve_due_at),"
            f" resolve_due_at), id) AS n FROM wishes WHERE {where}) ranked WHERE n <= ?"
            " ORDER BY station_id, n",
            (_ts(now), _ts(now), first),
        )
        for station_id, receipt in listed:
            result[station_id][1].append(receipt)
        return result
