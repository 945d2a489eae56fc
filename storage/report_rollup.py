"""The counts of settled wishes kept per (station, local month): what a county's /stats reads
instead of its wishes (migration 0017; the use case is bot/report_rollups.py).

A settled wish (`report_counts.settled`) is finished with every timestamp its figures read, so
its counts and durations no longer change with time; they change only when the wish itself
does, and then the triggers of migration 0017 write its station and creation into
`report_rollup_stale` in the same transaction. A station is read from here only when its
rollup was built for the deployment's time zone (`report_rollup_state`) and it has no stale
row; otherwise it is counted live (storage/report_counts.py), as everything still open is.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import aiosqlite

from bot.county_stats import COUNT_FIELDS, Counts
from storage.db import fetch_all, fetch_one
from storage.report_counts import DUE, RESOLVED, SUMS, counted_rows, settled
from storage.repositories import _ts, marks

COLUMNS = tuple(f"n_{f}" for f in COUNT_FIELDS)
# as BIGINT: a SUM of BIGINTs is NUMERIC on PostgreSQL, read into Python one value at a time
_SUMMED = ", ".join(f"CAST(SUM({c}) AS BIGINT)" for c in COLUMNS)
# Parameters per statement, well under SQLite's and PostgreSQL's limits.
CHUNK = 500

# (station, month, category, deputy id or 0, counts)
RollupCell = tuple[str, str, str, int, Counts]
# (station, month, accept, resolve, response): float64 seconds, little-endian
RollupDurations = tuple[str, str, bytes, bytes, bytes]


def _chunks(values: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(values), size):
        yield values[i : i + size]


def _buckets(months: Sequence[tuple[str, datetime, datetime]]) -> tuple[str, list[str]]:
    """A CASE naming the month (key) a wish's creation falls in, and its parameters."""
    whens = " ".join("WHEN w.created_at >= ? AND w.created_at < ? THEN ?" for _ in months)
    params = [x for key, start, end in months for x in (_ts(start), _ts(end), key)]
    return f"CASE {whens} END", [p for p in params if p is not None]


def _dims(rows: Sequence[RollupCell]) -> list[tuple[tuple[str, str, str, str], Counts]]:
    """The stored rows of these cells: each (station, month)'s total, per category, per deputy
    (counts add up)."""
    sums: dict[tuple[str, str, str, str], list[int]] = {}
    for sid, month, category, deputy, counts in rows:
        for key in (
            ("t", sid, month, ""),
            ("c", sid, month, category),
            ("d", sid, month, str(deputy)),
        ):
            acc = sums.get(key)
            if acc is None:
                sums[key] = list(counts)
            else:
                acc[:] = [a + b for a, b in zip(acc, counts, strict=True)]
    return [(key, tuple(v)) for key, v in sums.items()]


class ReportRollupRepo:
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn

    # -- what a report reads ------------------------------------------------------------------

    async def usable(self, station_ids: Sequence[str], tz: str) -> set[str]:
        """The stations whose rollup may be read now: built for `tz`, nothing stale.

        The stale rows are read first: a station whose cell is rebuilt meanwhile is then
        counted live, which is right either way."""
        stale = {
            r[0]
            for r in await fetch_all(
                self.conn, "SELECT DISTINCT station_id FROM report_rollup_stale"
            )
        }
        ready: set[str] = set()
        ids = list(station_ids)
        for part in _chunks(ids):
            rows = await fetch_all(
                self.conn,
                "SELECT station_id FROM report_rollup_state"
                f" WHERE tz = ? AND station_id IN ({marks(part)})",
                [tz, *part],
            )
            ready.update(r[0] for r in rows)
        return ready - stale

    async def cells(
        self, station_ids: Sequence[str], months: Sequence[str], years: Sequence[str] = ()
    ) -> list[tuple[str, str | None, int | None, Counts]]:
        """Summed over the `months` (YYYY-MM) and the whole `years` (YYYY, whose months are
        not among `months`): each station's total (station, None, None, counts), categories
        (station, category, None, counts) and deputies (station, None, deputy, counts);
        `county_reports` adds each to its own breakdown."""
        result: list[tuple[str, str | None, int | None, Counts]] = []
        spans = []
        if months:
            spans.append(("('t','c','d')", f"month IN ({marks(months)})", list(months)))
        if years:
            spans.append(("('yt','yc','yd')", f"month IN ({marks(years)})", list(years)))
        for dims, when, params in spans:
            for part in _chunks(list(station_ids)):
                rows = await fetch_all(
                    self.conn,
                    f"SELECT dim, station_id, key, {_SUMMED} FROM report_rollup"
                    f" WHERE dim IN {dims} AND station_id IN ({marks(part)}) AND {when}"
                    " GROUP BY dim, station_id, key",
                    [*part, *params],
                )
                for dim, sid, key, *counts in map(tuple, rows):  # unpacked: see report_counts.counted_rows
                    if dim[-1] == "c":
                        result.append((sid, key, None, tuple(counts)))
                    elif dim[-1] == "d":
                        result.append((sid, None, int(key), tuple(counts)))
                    else:
                        result.append((sid, None, None, tuple(counts)))
        return result

    async def month_cells(
        self, station_ids: Sequence[str], first: str, last: str
    ) -> list[tuple[str, str, Counts]]:
        """(station, month, counts) of the months first..last: one total row each."""
        result: list[tuple[str, str, Counts]] = []
        for part in _chunks(list(station_ids)):
            rows = await fetch_all(
                self.conn,
                f"SELECT station_id, month, {', '.join(COLUMNS)} FROM report_rollup"
                f" WHERE dim = 't' AND station_id IN ({marks(part)}) AND month >= ? AND month <= ?",
                [*part, first, last],
            )
            result += [(sid, month, tuple(counts)) for sid, month, *counts in map(tuple, rows)]
        return result

    async def durations(
        self, station_ids: Sequence[str], months: Sequence[str], years: Sequence[str] = ()
    ) -> list[tuple[str, bytes, bytes, bytes]]:
        """The stored durations of the `months` (YYYY-MM) and whole `years` (YYYY, whose
        months are not among `months`: a year's values are kept together too)."""
        result: list[tuple[str, bytes, bytes, bytes]] = []
        keys = [*months, *years]
        if not keys:
            return result
        for part in _chunks(list(station_ids)):
            rows = await fetch_all(
                self.conn,
                "SELECT station_id, accept, resolve, response FROM report_rollup_durations"
                f" WHERE station_id IN ({marks(part)}) AND month IN ({marks(keys)})",
                [*part, *keys],
            )
            result += [
                (sid, bytes(a), bytes(r), bytes(f)) for sid, a, r, f in map(tuple, rows)
            ]
        return result

    # -- what keeps it (the scheduler's: bot/report_rollups.py) -------------------------------

    async def stale(self, limit: int) -> list[tuple[int, str, str]]:
        """(id, station, created_at) of the oldest changes not yet rolled up."""
        rows = await fetch_all(
            self.conn,
            "SELECT id, station_id, created_at FROM report_rollup_stale ORDER BY id LIMIT ?",
            [limit],
        )
        return [(int(r[0]), r[1], r[2]) for r in rows]

    async def stale_of(self, station_ids: Sequence[str]) -> list[int]:
        ids: list[int] = []
        for part in _chunks(list(station_ids)):
            rows = await fetch_all(
                self.conn,
                f"SELECT id FROM report_rollup_stale WHERE station_id IN ({marks(part)})",
                list(part),
            )
            ids += [int(r[0]) for r in rows]
        return ids

    async def unready(self, tz: str) -> list[str]:
        """Stations without a rollup for `tz` (new, or built for another zone), in id order."""
        rows = await fetch_all(
            self.conn,
            "SELECT s.id FROM stations s LEFT JOIN report_rollup_state r"
            " ON r.station_id = s.id AND r.tz = ? WHERE r.station_id IS NULL ORDER BY s.id",
            [tz],
        )
        return [r[0] for r in rows]

    async def history(self, station_ids: Sequence[str]) -> tuple[str, str] | None:
        """The first and last creation of these stations' wishes (text), None if none."""
        first: str | None = None
        last: str | None = None
        for part in _chunks(list(station_ids)):
            row = await fetch_one(
                self.conn,
                "SELECT MIN(created_at), MAX(created_at) FROM wishes"
                f" WHERE station_id IN ({marks(part)})",
                list(part),
            )
            if row and row[0] is not None:
                first = row[0] if first is None else min(first, row[0])
                last = row[1] if last is None else max(last, row[1])
        return None if first is None or last is None else (first, last)

    async def settled_cells(
        self,
        station_ids: Sequence[str],
        months: Sequence[tuple[str, datetime, datetime]],
        now: datetime,
    ) -> list[RollupCell]:
        """The settled wishes' counts per (station, month, category, deputy): what is stored."""
        if not months:
            return []
        case, params = _buckets(months)
        result: list[RollupCell] = []
        for part in _chunks(list(station_ids)):
            rows = await fetch_all(
                self.conn,
                f"SELECT w.station_id, {case} AS month, w.category_id, COALESCE(w.deputy_id, 0),"
                f" {SUMS} FROM wishes w CROSS JOIN (SELECT CAST(? AS TEXT) AS now) p"
                f" WHERE w.station_id IN ({marks(part)}) AND w.created_at >= ?"
                f" AND w.created_at < ? AND {DUE} AND ({settled()})"
                " GROUP BY w.station_id, 2, w.category_id, COALESCE(w.deputy_id, 0)",
                [*params, _ts(now), *part, _ts(months[0][1]), _ts(months[-1][2])],
            )
            result += [
                (sid, month, cat, int(dep), counts)
                for sid, month, cat, dep, counts in counted_rows(rows, 4)
                if month is not None
            ]
        return result

    async def settled_durations(
        self,
        station_ids: Sequence[str],
        months: Sequence[tuple[str, datetime, datetime]],
    ) -> list[tuple[str, str, str, str | None, str | None, str | None]]:
        """(station, month, created, accepted, resolved, first response) of the settled wishes."""
        if not months:
            return []
        case, params = _buckets(months)
        result: list[tuple[str, str, str, str | None, str | None, str | None]] = []
        for part in _chunks(list(station_ids)):
            rows = await fetch_all(
                self.conn,
                f"SELECT w.station_id, {case} AS month, w.created_at, w.accepted_at,"
                f" CASE WHEN {RESOLVED} THEN w.resolved_at END, w.first_response_at"
                f" FROM wishes w WHERE w.station_id IN ({marks(part)}) AND w.created_at >= ?"
                f" AND w.created_at < ? AND ({settled()})",
                [*params, *part, _ts(months[0][1]), _ts(months[-1][2])],
            )
            result += [(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows if r[1] is not None]
        return result

    async def replace(
        self,
        cells: Sequence[tuple[str, str]],
        rows: Sequence[RollupCell],
        durations: Sequence[RollupDurations],
    ) -> None:
        """The (station, month) `cells` now hold exactly `rows` and `durations`."""
        # one cell at a time: the key leads with `dim`, so each delete is three seeks
        await self.conn.executemany(
            "DELETE FROM report_rollup WHERE dim IN ('t','c','d') AND station_id = ? AND month = ?",
            list(cells),
        )
        await self.conn.executemany(
            "DELETE FROM report_rollup_durations WHERE station_id = ? AND month = ?", list(cells)
        )
        names = ", ".join(COLUMNS)
        await self.conn.executemany(
            f"INSERT INTO report_rollup (dim, station_id, month, key, {names})"
            f" VALUES (?, ?, ?, ?, {', '.join('?' * len(COLUMNS))})",
            [(dim, sid, month, key, *counts) for (dim, sid, month, key), counts in _dims(rows)],
        )
        await self.conn.executemany(
            "INSERT INTO report_rollup_durations (station_id, month, accept, resolve, response)"
            " VALUES (?, ?, ?, ?, ?)",
            list(durations),
        )
        years = {(sid, month[:4]) for sid, month in cells}
        years |= {(sid, month[:4]) for sid, month, _, _, _ in rows}
        await self._years(sorted(years))

    async def _years(self, years: Sequence[tuple[str, str]]) -> None:
        """Each (station, year)'s rows ('yt', 'yc', 'yd'), the sums of its months' rows: a
        county's year reads 15 rows a station instead of 180."""
        await self.conn.executemany(
            "DELETE FROM report_rollup WHERE dim IN ('yt','yc','yd') AND station_id = ?"
            " AND month = ?",
            list(years),
        )
        await self.conn.executemany(
            f"INSERT INTO report_rollup (dim, station_id, month, key, {', '.join(COLUMNS)})"
            f" SELECT 'y' || dim, station_id, ?, key, {_SUMMED} FROM report_rollup"
            " WHERE dim IN ('t','c','d') AND station_id = ? AND month >= ? AND month <= ?"
            " GROUP BY dim, station_id, key",
            [(year, sid, f"{year}-01", f"{year}-12") for sid, year in years],
        )
        # and its months' durations one after another (a station's year: 500 values)
        for sid, year in years:
            rows = await fetch_all(
                self.conn,
                "SELECT accept, resolve, response FROM report_rollup_durations"
                " WHERE station_id = ? AND month >= ? AND month <= ? ORDER BY month",
                [sid, f"{year}-01", f"{year}-12"],
            )
            await self.conn.execute(
                "DELETE FROM report_rollup_durations WHERE station_id = ? AND month = ?",
                (sid, year),
            )
            if rows:
                await self.conn.execute(
                    "INSERT INTO report_rollup_durations (station_id, month, accept, resolve,"
                    " response) VALUES (?, ?, ?, ?, ?)",
                    (sid, year, *(b"".join(bytes(r[i]) for r in rows) for i in range(3))),
                )

    async def clear(self, station_ids: Sequence[str]) -> None:
        """Every month of these stations (before they are built whole)."""
        for part in _chunks(list(station_ids)):
            await self.conn.execute(
                "DELETE FROM report_rollup WHERE dim IN ('t','c','d','yt','yc','yd')"
                f" AND station_id IN ({marks(part)})",
                list(part),
            )
            await self.conn.execute(
                f"DELETE FROM report_rollup_durations WHERE station_id IN ({marks(part)})",
                list(part),
            )

    async def done(self, stale_ids: Sequence[int]) -> None:
        for part in _chunks(list(stale_ids)):
            await self.conn.execute(
                f"DELETE FROM report_rollup_stale WHERE id IN ({marks(part)})", list(part)
            )

    async def mark_built(self, station_ids: Sequence[str], tz: str, now: datetime) -> None:
        await self.conn.executemany(
            "INSERT OR REPLACE INTO report_rollup_state (station_id, tz, built_at) VALUES (?, ?, ?)",
            [(sid, tz, _ts(now)) for sid in station_ids],
        )
