"""A county's figures counted in SQL: what `/stats` of many stations needs, without loading wishes.

A county admin's `/stats` for a year covers every wish of the year (85 000 at 200 stations).
Loading each as a `WishFacts` and counting it in Python in every grouping took seconds, so the
counts are summed here per (station, category, deputy) and per (station, month), and only the
three durations the totals' medians need are read, one narrow row per wish. The rules are those
of `bot.reports.figures` and `bot.reports.lateness`, written as SQL that both engines run
(`tests/unit/test_county_stats.py` compares the two on a generated county).

Timestamps are ISO-8601 UTC text written by `_ts`, so comparing them as text compares the times
(`+` sorts before `.`: a whole second before the same second with a fraction). A wish without
its stored due dates (older than the supervision feature) is counted in Python by the caller,
since its deadlines are counted from its creation in days, which the two engines' SQL cannot
add the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import aiosqlite

from bot.county_stats import Counts, DurationTexts
from bot.reports import WishFacts
from storage.db import fetch_all
from storage.reports import _facts
from storage.repositories import _ts, marks

RESOLVED = "w.status IN ('resolved','closed') AND w.resolved_at IS NOT NULL"
_FINISHED = "w.status IN ('resolved','closed','declined')"
_RATED = "w.rating IS NOT NULL AND w.rating <> ''"
# lateness(): accepting ends with accepting, declining or withdrawing; resolving with resolving,
# declining or withdrawing; a wish still waiting is measured against now (p.now).
_LATE = (
    "(COALESCE(w.accepted_at, CASE WHEN w.status IN ('declined','withdrawn') THEN w.closed_at"
    " END, p.now) > w.accept_due_at OR (CASE WHEN w.status IN ('declined','withdrawn')"
    " THEN COALESCE(w.closed_at, p.now) WHEN w.status IN ('resolved','closed')"
    " THEN COALESCE(w.resolved_at, p.now) ELSE p.now END) > w.resolve_due_at)"
)
# In the order of COUNT_FIELDS.
SUMS = ", ".join(
    [
        "COUNT(*)",
        "SUM(CASE WHEN w.accepted_at IS NOT NULL THEN 1 ELSE 0 END)",
        f"SUM(CASE WHEN {RESOLVED} THEN 1 ELSE 0 END)",
        "SUM(CASE WHEN w.status='declined' THEN 1 ELSE 0 END)",
        "SUM(CASE WHEN w.status='withdrawn' THEN 1 ELSE 0 END)",
        "SUM(CASE WHEN w.status IN ('resolved','closed','declined','withdrawn') THEN 0 ELSE 1 END)",
        f"SUM(CASE WHEN {_LATE} THEN 1 ELSE 0 END)",
        f"SUM(CASE WHEN {_FINISHED} THEN 1 ELSE 0 END)",
        f"SUM(CASE WHEN {_FINISHED} AND NOT {_LATE} THEN 1 ELSE 0 END)",
        f"SUM(CASE WHEN {_RATED} THEN 1 ELSE 0 END)",
        "SUM(CASE WHEN w.rating IN ('satisfied','basically_satisfied') THEN 1 ELSE 0 END)",
        # a SUM of a BIGINT is NUMERIC on PostgreSQL, read into Python one value at a time
        "CAST(SUM(w.reopen_count) AS BIGINT)",
    ]
)
DUE = "w.accept_due_at IS NOT NULL AND w.resolve_due_at IS NOT NULL"


def settled(alias: str = "w.") -> str:
    """A wish whose figures no longer change with time: finished, with every timestamp its
    counts and durations read, and its due dates stored. Those are kept counted per station and
    month (storage/report_rollup.py); migration 0017 writes this same text out for its triggers
    and for the index of the others (`wishes_unsettled`)."""
    a = alias
    return (
        f"{a}accept_due_at IS NOT NULL AND {a}resolve_due_at IS NOT NULL AND"
        f" (({a}status IN ('resolved','closed') AND {a}resolved_at IS NOT NULL"
        f" AND {a}accepted_at IS NOT NULL) OR ({a}status IN ('declined','withdrawn')"
        f" AND {a}closed_at IS NOT NULL))"
    )


# Which wishes a query counts: every one (None), the settled or the others. The unsettled are
# read from their own partial index (SQLite needs the hint: both indexes start alike; the term
# is the index's WHERE, written the same way, so the planner can prove the index applies).
_PARTS = {
    None: ("", ""),
    "settled": ("", f" AND ({settled()})"),
    "unsettled": (" INDEXED BY wishes_unsettled", f" AND NOT ({settled('')})"),
}


def counted_rows(rows: Sequence[Sequence[Any]], keys: int) -> list[tuple[Any, ...]]:
    """Each row as (its `keys` leading values..., counts). Rows are unpacked, not indexed: a
    PostgreSQL row (storage/postgres.py Row) indexes in Python, unpacks in C, and a county's
    year reads 60 000 of them."""
    out = []
    for row in rows:
        values = tuple(row)
        out.append((*values[:keys], tuple([v or 0 for v in values[keys:]])))
    return out


class ReportCountsRepo:
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn

    def _where(self, ids: Sequence[str], part: str | None = None) -> str:
        hint, term = _PARTS[part]
        return (
            f" FROM wishes w{hint} CROSS JOIN (SELECT CAST(? AS TEXT) AS now) p"
            f" WHERE w.station_id IN ({marks(ids)}) AND w.created_at >= ? AND w.created_at < ?"
            f"{term}"
        )

    async def cells(
        self,
        station_ids: Sequence[str],
        start: datetime,
        end: datetime,
        now: datetime,
        part: str | None = None,
    ) -> list[tuple[str, str, int, Counts]]:
        """(station, category, deputy id or 0, counts) of the wishes created in [start, end)
        that carry their due dates (`part`: all of them, only the settled or the others)."""
        ids = list(station_ids)
        rows = await fetch_all(
            self.conn,
            f"SELECT w.station_id, w.category_id, COALESCE(w.deputy_id, 0), {SUMS}"
            f"{self._where(ids, part)} AND {DUE}"
            " GROUP BY w.station_id, w.category_id, COALESCE(w.deputy_id, 0)",
            [_ts(now), *ids, _ts(start), _ts(end)],
        )
        return [(sid, cat, int(dep), counts) for sid, cat, dep, counts in counted_rows(rows, 3)]

    async def month_cells(
        self,
        station_ids: Sequence[str],
        months: Sequence[tuple[str, datetime, datetime]],
        now: datetime,
        part: str | None = None,
    ) -> list[tuple[str, str, Counts]]:
        """(station, YYYY-MM, counts) over `months` ((key, start, end), in order), wishes with
        their due dates only."""
        if not months:
            return []
        ids = list(station_ids)
        buckets = " ".join("WHEN w.created_at >= ? AND w.created_at < ? THEN ?" for _ in months)
        bounds = [x for key, start, end in months for x in (_ts(start), _ts(end), key)]
        rows = await fetch_all(
            self.conn,
            f"SELECT w.station_id, CASE {buckets} END AS month, {SUMS}"
            f"{self._where(ids, part)} AND {DUE} GROUP BY w.station_id, 2",
            [*bounds, _ts(now), *ids, _ts(months[0][1]), _ts(months[-1][2])],
        )
        return [(sid, key, counts) for sid, key, counts in counted_rows(rows, 2) if key is not None]

    async def undated(
        self, station_ids: Sequence[str], start: datetime, end: datetime
    ) -> list[WishFacts]:
        """The wishes created in [start, end) without stored due dates (counted in Python)."""
        ids = list(station_ids)
        rows = await fetch_all(
            self.conn,
            "SELECT w.*, NULL AS first_response FROM wishes w"
            f" WHERE w.station_id IN ({marks(ids)}) AND w.created_at >= ? AND w.created_at < ?"
            " AND (w.accept_due_at IS NULL OR w.resolve_due_at IS NULL)",
            [*ids, _ts(start), _ts(end)],
        )
        return [_facts(r) for r in rows]

    async def durations(
        self,
        station_ids: Sequence[str],
        start: datetime,
        end: datetime,
        part: str | None = None,
    ) -> list[DurationTexts]:
        """Each wish's creation, acceptance, resolution (if it counts as resolved) and first
        response by a handler: the medians of a report's totals."""
        ids = list(station_ids)
        hint, term = _PARTS[part]
        # first_response_at is kept by WishesRepo.add_event (migration 0014): the index holds
        # every column read here, no timeline is looked up
        rows = await fetch_all(
            self.conn,
            "SELECT w.station_id, w.created_at, w.accepted_at,"
            f" CASE WHEN {RESOLVED} THEN w.resolved_at END, w.first_response_at"
            f" FROM wishes w{hint} WHERE w.station_id IN ({marks(ids)})"
            f" AND w.created_at >= ? AND w.created_at < ?{term}",
            [*ids, _ts(start), _ts(end)],
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]
