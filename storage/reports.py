"""The SQL of reports and exports: read-only queries over wishes and their timelines."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import aiosqlite

from bot.domain.model import Rating, Status
from bot.reports import WishFacts
from storage.db import fetch_all
from storage.repositories import _dt, _ts, marks

# Stored due dates, if the schema has them (the supervision feature adds them to wishes).
# Timestamps are ISO strings; a day of margin on the SQL side, the exact cut in Python.


@dataclass(frozen=True)
class ExportWish:
    facts: WishFacts
    text: str
    phone: str | None
    public: bool
    result: str | None
    decline_reason: str | None
    resident_name: str
    updated_at: datetime


NOTE_PREFIX = "note:"  # ExportEvent.action of a supervision note, e.g. "note:escalated"


@dataclass(frozen=True)
class ExportEvent:
    wish_id: int
    receipt: str
    at: datetime
    action: str
    role: str
    from_status: str | None
    to_status: str | None
    deputy_id: int | None
    body: str


class ReportsRepo:
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn

    async def _rows(
        self, station_ids: Sequence[str], start: datetime, end: datetime, extra: str = ""
    ) -> list[sqlite3.Row]:
        ids = list(station_ids)
        # the first response is kept on the wish by add_event (migration 0014), not looked up
        return await fetch_all(
            self.conn,
            f"SELECT w.*, w.first_response_at AS first_response{extra} FROM wishes w WHERE w.station_id IN ({marks(ids)})"
            " AND w.created_at >= ? AND w.created_at < ? ORDER BY w.created_at, w.id",
            [*ids, _ts(start), _ts(end)],
        )

    async def wish_facts(
        self, station_ids: Sequence[str], start: datetime, end: datetime
    ) -> list[WishFacts]:
        """The wishes of these stations created in [start, end)."""
        rows = await self._rows(station_ids, start, end)
        facts = [_facts(r) for r in rows]
        return [f for f in facts if start <= f.created_at < end]

    async def export_wishes(
        self, station_ids: Sequence[str], start: datetime, end: datetime
    ) -> list[ExportWish]:
        rows = await self._rows(
            station_ids,
            start,
            end,
            ", (SELECT u.display_name FROM users u WHERE u.id=w.resident_id) AS resident_name",
        )
        result = []
        for r in rows:
            facts = _facts(r)
            if not start <= facts.created_at < end:
                continue
            updated = _dt(r["updated_at"])
            assert updated is not None
            result.append(
                ExportWish(
                    facts=facts,
                    text=r["text"],
                    phone=r["phone"],
                    public=bool(r["public"]),
                    result=r["result"],
                    decline_reason=r["decline_reason"],
                    resident_name=r["resident_name"] or "",
                    updated_at=updated,
                )
            )
        return result

    async def events_of(self, wish_ids: Sequence[int]) -> list[ExportEvent]:
        """The timelines of these wishes, wish by wish, oldest entry first; 督办 and 回访 notes
        are on it too (the station's 民情日记), after an event of the same second."""
        result: list[ExportEvent] = []
        ids = list(wish_ids)
        for i in range(0, len(ids), 250):  # SQLite's parameter limit (each id is used twice)
            chunk = ids[i : i + 250]
            placeholders = marks(chunk)
            rows = await fetch_all(
                self.conn,
                "SELECT e.wish_id, e.at, e.action, e.role, e.from_status, e.to_status,"
                " e.deputy_id, e.body, w.receipt, 0 AS source, e.id AS seq"
                " FROM wish_events e JOIN wishes w ON w.id=e.wish_id"
                f" WHERE e.wish_id IN ({placeholders})"
                f" UNION ALL SELECT n.wish_id, n.at, '{NOTE_PREFIX}' || n.kind, n.role, NULL,"
                " NULL, NULL, n.body, w.receipt, 1 AS source, n.id AS seq"
                " FROM supervision_notes n JOIN wishes w ON w.id=n.wish_id"
                f" WHERE n.wish_id IN ({placeholders}) ORDER BY 1, 2, source, seq",
                [*chunk, *chunk],
            )
            for r in rows:
                at = _dt(r["at"])
                assert at is not None
                result.append(
                    ExportEvent(
                        wish_id=r["wish_id"],
                        receipt=r["receipt"],
                        at=at,
                        action=r[2],
                        role=r["role"],
                        from_status=r[4],
                        to_status=r[5],
                        deputy_id=r[6],
                        body=r["body"],
                    )
                )
        order = {w: i for i, w in enumerate(ids)}
        result.sort(key=lambda e: order[e.wish_id])  # stable: keeps each timeline's order
        return result

    async def deputy_names(self, station_ids: Sequence[str]) -> dict[int, str]:
        """Every deputy who served these stations, also those no longer active (old wishes)."""
        ids = list(station_ids)
        rows = await fetch_all(
            self.conn,
            f"SELECT id, name FROM deputies WHERE station_id IN ({marks(ids)})"
            " ORDER BY active DESC, id",
            ids,
        )
        return {r[0]: r[1] for r in rows}

    async def deputies(self, station_ids: Sequence[str]) -> list[tuple[int, str, str, bool]]:
        """(deputy id, name, station id, active) of these stations."""
        ids = list(station_ids)
        rows = await fetch_all(
            self.conn,
            f"SELECT id, name, station_id, active FROM deputies WHERE station_id IN ({marks(ids)})"
            " ORDER BY station_id, id",
            ids,
        )
        return [(r[0], r[1], r[2], bool(r[3])) for r in rows]

    async def category_names(self) -> dict[str, str]:
        rows = await fetch_all(
            self.conn, "SELECT id, name FROM categories ORDER BY active DESC, position, id"
        )
        return {r[0]: r[1] for r in rows}


def _facts(r: sqlite3.Row) -> WishFacts:
    created = _dt(r["created_at"])
    assert created is not None
    return WishFacts(
        id=r["id"],
        station_id=r["station_id"],
        receipt=r["receipt"],
        category_id=r["category_id"],
        deputy_id=r["deputy_id"],
        status=Status(r["status"]),
        created_at=created,
        accepted_at=_dt(r["accepted_at"]),
        resolved_at=_dt(r["resolved_at"]),
        closed_at=_dt(r["closed_at"]),
        rating=Rating(r["rating"]) if r["rating"] else None,
        reopen_count=r["reopen_count"],
        first_response_at=_dt(r["first_response"]),
        accept_due=_dt(r["accept_due_at"]),
        resolve_due=_dt(r["resolve_due_at"]),
    )
