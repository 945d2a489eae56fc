"""A county's `/stats` from counts summed in SQL, pure: no wish is loaded as a whole.

`bot.reports.build_report` counts every wish of the period in Python, once per grouping; for a
county's year (85 000 wishes at 200 stations) that took seconds. Here the storage layer sums the
counts per (station, category, deputy) and per (station, month) (storage/report_counts.py), and
the reports are rolled up from those cells: counts add up, so a station's total, the county's
categories, deputies and months are sums of cells. Medians and p90 do not add up: they are
worked out from each wish's durations, read as narrow rows, for the totals of each station and
of the county, the figures `/stats` shows. The rows of a breakdown (by category, deputy, month)
carry their counts and no durations here: `/stats` shows counts there, and the export, which
shows a station's durations per category and month, still builds its report with
`build_report`. Everything else is equal to `build_report`'s, figure for figure
(tests/unit/test_county_stats.py compares the two on a generated county).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, tzinfo
from typing import Any

import numpy as np

from bot.reports import (
    UNASSIGNED,
    Deadlines,
    Figures,
    Period,
    Report,
    Row,
    WishFacts,
    figures,
    median,
    month_key,
    months_between,
)

# The figures that are counts, in the order storage/report_counts.py sums them.
COUNT_FIELDS = (
    "received",
    "accepted",
    "resolved",
    "declined",
    "withdrawn",
    "open",
    "overdue",
    "finished",
    "on_time",
    "rated",
    "satisfied",
    "reopened",
)

# A cell's counts, in the order of COUNT_FIELDS.
Counts = tuple[int, ...]

# (station id, created_at, accepted_at, resolved_at if it counts as resolved, first response),
# the timestamps as stored (ISO-8601 text)
DurationTexts = tuple[str, str, str | None, str | None, str | None]


def _figures(counts: Sequence[int]) -> Figures:
    # Figures' first fields are COUNT_FIELDS in order (tests/unit/test_report_rollups.py):
    # positional is faster, and a province's county makes 60 000 of these
    return Figures(*counts)


def counts_of(wishes: Sequence[WishFacts], now: datetime, deadlines: Deadlines) -> Counts:
    """The counts `figures` gives these wishes."""
    full = figures(wishes, now, deadlines)
    return tuple(getattr(full, f) for f in COUNT_FIELDS)


@dataclass
class Durations:
    """The durations a report's medians are taken from, in seconds (`timedelta.total_seconds()`,
    the float `hours` divides by 3600). Kept as pieces (lists read from wishes, arrays from the
    rollup's stored values) and sorted once as one float64 array: a county's year is a million
    values. The division is monotonic, so the k-th smallest in hours is the k-th smallest in
    seconds over 3600, and only the few values the medians pick are converted."""

    accept: list[Any] = field(default_factory=list)
    resolve: list[Any] = field(default_factory=list)
    response: list[Any] = field(default_factory=list)

    def extend(self, other: Durations) -> None:
        self.accept.extend(other.accept)
        self.resolve.extend(other.resolve)
        self.response.extend(other.response)

    def add(self, accept: Any, resolve: Any, response: Any) -> None:
        """One piece of each: sequences of seconds (lists or float64 arrays)."""
        self.accept.append(accept)
        self.resolve.append(resolve)
        self.response.append(response)

    def apply(self, f: Figures) -> Figures:
        accept, resolve, response = (
            _sorted(self.accept),
            _sorted(self.resolve),
            _sorted(self.response),
        )
        return replace(
            f,
            accept_median_h=_median(accept),
            accept_p90_h=_p90(accept),
            resolve_median_h=_median(resolve),
            resolve_p90_h=_p90(resolve),
            response_median_h=_median(response),
        )


def _sorted(pieces: list[Any]) -> Any:
    if not pieces:
        return np.empty(0)
    return np.sort(np.concatenate([np.asarray(p, dtype=np.float64) for p in pieces]))


def seconds_blob(values: Sequence[float]) -> bytes:
    """Durations as the rollup stores them: float64, little-endian, one after another."""
    return np.asarray(values, dtype="<f8").tobytes()


def seconds_of(blob: bytes) -> Any:
    return np.frombuffer(blob, dtype="<f8")


def _hours(seconds: float) -> float:
    return seconds / 3600  # as `hours`: timedelta.total_seconds() / 3600


def _median(ordered: Any) -> float | None:
    """`median` of the hours of these (sorted) durations."""
    n = len(ordered)
    if not n:
        return None
    mid = n // 2
    return median(
        [_hours(float(ordered[mid]))]
        if n % 2
        else [_hours(float(ordered[mid - 1])), _hours(float(ordered[mid]))]
    )


def _p90(ordered: Any) -> float | None:
    """`percentile(…, 90)` of the hours of these (sorted) durations: the same nearest rank."""
    if not len(ordered):
        return None
    rank = math.ceil(90 / 100 * len(ordered))
    return float(_hours(float(ordered[max(rank, 1) - 1])))


def seconds(
    rows: Iterable[tuple[str, str | None, str | None, str | None]],
) -> tuple[list[float], list[float], list[float]]:
    """Each wish's durations in seconds from its (created, accepted, resolved, first response)
    as stored, exactly as `figures` works them out (the same parsing)."""
    accept: list[float] = []
    resolve: list[float] = []
    response: list[float] = []
    parse = datetime.fromisoformat
    for created_text, accepted, resolved, responded in rows:
        assert created_text is not None
        created = parse(created_text)
        if created.tzinfo is None:  # as storage reads them: SQLite's own timestamps are UTC
            created = created.replace(tzinfo=UTC)
        if accepted:
            at = parse(accepted)
            accept.append(((at if at.tzinfo else at.replace(tzinfo=UTC)) - created).total_seconds())
        if resolved:
            at = parse(resolved)
            resolve.append(
                ((at if at.tzinfo else at.replace(tzinfo=UTC)) - created).total_seconds()
            )
        if responded:
            at = parse(responded)
            response.append(
                ((at if at.tzinfo else at.replace(tzinfo=UTC)) - created).total_seconds()
            )
    return accept, resolve, response


def durations_by_station(rows: Iterable[DurationTexts]) -> dict[str, Durations]:
    """Each station's durations, exactly as `figures` works them out."""
    grouped: dict[str, list[tuple[str, str | None, str | None, str | None]]] = {}
    for station_id, created_text, accepted, resolved, responded in rows:
        grouped.setdefault(station_id, []).append((created_text, accepted, resolved, responded))
    result: dict[str, Durations] = {}
    for station_id, texts in grouped.items():
        d = result[station_id] = Durations()
        d.add(*seconds(texts))
    return result


@dataclass
class _Sums:
    """A report's counts: its total and each row of its breakdowns."""

    total: dict[None, list[int]] = field(default_factory=dict)
    by_category: dict[str, list[int]] = field(default_factory=dict)
    by_deputy: dict[int, list[int]] = field(default_factory=dict)
    by_month: dict[str, list[int]] = field(default_factory=dict)


def _sum_by(keys: list[Any], rows: list[Counts]) -> dict[Any, list[int]]:
    """The rows of each key added up, in numpy: a province's county year is 100 000 cells."""
    if not keys:
        return {}
    slots: dict[Any, int] = {}
    index = np.fromiter((slots.setdefault(k, len(slots)) for k in keys), dtype=np.intp)
    out = np.zeros((len(slots), len(COUNT_FIELDS)), dtype=np.int64)
    np.add.at(out, index, np.array(rows, dtype=np.int64).reshape(len(keys), len(COUNT_FIELDS)))
    values = out.tolist()
    return {k: values[i] for k, i in slots.items()}


def _sums(
    known: set[str],
    cells: Iterable[tuple[str, str | None, int | None, Counts]],
    month_cells: Iterable[tuple[str, str, Counts]],
) -> tuple[dict[str, _Sums], _Sums]:
    """Each station's sums and the county's. A (category, deputy) cell counts in the total
    and both breakdowns; the rollup's rows name one of them (the other None) or neither (a
    total) and count there only. Several rows of one key add up."""
    keys: dict[str, list[Any]] = {"total": [], "category": [], "deputy": [], "month": []}
    rows: dict[str, list[Counts]] = {k: [] for k in keys}
    for sid, category, deputy, counts in cells:
        if sid not in known:
            continue
        if (category is None) == (deputy is None):
            keys["total"].append(sid)
            rows["total"].append(counts)
        if category is not None:
            keys["category"].append((sid, category))
            rows["category"].append(counts)
        if deputy is not None:
            keys["deputy"].append((sid, deputy))
            rows["deputy"].append(counts)
    for sid, key, counts in month_cells:
        if sid in known:
            keys["month"].append((sid, key))
            rows["month"].append(counts)
    sums: dict[str, _Sums] = {}
    county = _Sums()

    def station(sid: str) -> _Sums:
        found = sums.get(sid)
        if found is None:
            found = sums[sid] = _Sums()
        return found

    for sid, counts in _sum_by(keys["total"], rows["total"]).items():
        station(sid).total[None] = counts
    county_total = _sum_by([None] * len(rows["total"]), rows["total"])
    county.total.update(county_total)
    for name, attr in (("category", "by_category"), ("deputy", "by_deputy"), ("month", "by_month")):
        for (sid, key), counts in _sum_by(keys[name], rows[name]).items():
            getattr(station(sid), attr)[key] = counts
        getattr(county, attr).update(_sum_by([k for _, k in keys[name]], rows[name]))
    return sums, county


def county_reports(
    stations: Sequence[tuple[str, str]],
    county_title: str,
    period: Period,
    now: datetime,
    tz: tzinfo,
    *,
    cells: Iterable[tuple[str, str | None, int | None, Counts]],
    month_cells: Iterable[tuple[str, str, Counts]],
    undated: Sequence[WishFacts],
    durations: Iterable[DurationTexts],
    stored_durations: Iterable[tuple[str, bytes, bytes, bytes]] = (),
    category_names: dict[str, str],
    deputy_names: dict[int, str],
    unassigned_name: str,
    deadlines: Deadlines,
) -> tuple[dict[str, Report], Report]:
    """Each station's report (by id) and the county's, for the wishes received in `period`.

    `stations`: (id, name). `cells` and `month_cells`: counts of the wishes that carry their
    due dates (several rows of one key add up: live counts and the rollup's); `undated`: those
    that do not, counted here as `figures` counts them. `durations`: wishes' timestamps as
    stored; `stored_durations`: the rollup's seconds per (station, month).
    """
    known = {sid for sid, _ in stations}
    # wishes without stored due dates: grouped and counted the Python way
    groups: dict[tuple[str, str, int], list[WishFacts]] = {}
    months: dict[tuple[str, str], list[WishFacts]] = {}
    for w in undated:
        if w.station_id in known and period.contains(w.created_at):
            groups.setdefault((w.station_id, w.category_id, w.deputy_id or UNASSIGNED), []).append(
                w
            )
            months.setdefault((w.station_id, month_key(w.created_at, tz)), []).append(w)
    all_cells = itertools.chain(
        cells, ((sid, c, d, counts_of(ws, now, deadlines)) for (sid, c, d), ws in groups.items())
    )
    all_months = itertools.chain(
        month_cells, ((sid, k, counts_of(ws, now, deadlines)) for (sid, k), ws in months.items())
    )
    sums, county = _sums(known, all_cells, all_months)
    per_station = durations_by_station(durations)
    for sid, accept, resolve, response in stored_durations:  # the rollup's, as values
        if sid in sums:
            per_station.setdefault(sid, Durations()).add(
                seconds_of(accept), seconds_of(resolve), seconds_of(response)
            )
    everyone = Durations()
    for sid, _ in stations:
        if sid in per_station:
            everyone.extend(per_station[sid])
    month_keys = months_between(period, tz)

    # once, not per station: a province's county has 10 000 deputies
    order = {c: i for i, c in enumerate(category_names)}
    dep_order = {dep: i for i, dep in enumerate(deputy_names)}

    def report(title: str, ids: tuple[str, ...], s: _Sums, d: Durations) -> Report:
        return Report(
            title=title,
            station_ids=ids,
            period=period,
            made_at=now,
            total=d.apply(_figures(s.total[None]) if s.total else Figures()),
            by_category=[
                Row(c, category_names.get(c, c), _figures(f))
                for c, f in sorted(
                    s.by_category.items(), key=lambda kv: (order.get(kv[0], 1e9), kv[0])
                )
            ],
            by_deputy=[
                Row(
                    dep,
                    deputy_names.get(dep, unassigned_name) if dep else unassigned_name,
                    _figures(f),
                )
                for dep, f in sorted(
                    s.by_deputy.items(),
                    key=lambda kv: (kv[0] == UNASSIGNED, dep_order.get(kv[0], 1e9), kv[0]),
                )
            ],
            by_month=[
                Row(m, m, _figures(s.by_month[m]) if m in s.by_month else Figures())
                for m in month_keys
            ],
        )

    reports = {
        sid: report(name, (sid,), sums.get(sid) or _Sums(), per_station.get(sid, Durations()))
        for sid, name in stations
    }
    ids = tuple(sid for sid, _ in stations)
    return reports, report(county_title, ids, county, everyone)


def county_months(
    stations: Sequence[tuple[str, str]],
    period: Period,
    now: datetime,
    tz: tzinfo,
    *,
    month_cells: Iterable[tuple[str, str, Counts]],
    undated: Sequence[WishFacts],
    deadlines: Deadlines,
) -> list[Row]:
    """The county's row for each month of `period` (what the chart draws), from the same
    counts as `county_reports` but without every station's report: a province's chart window
    would otherwise build 2 000 reports only to read the county's months."""
    known = {sid for sid, _ in stations}
    keys: list[str] = []
    rows: list[Counts] = []
    for sid, key, counts in month_cells:
        if sid in known:
            keys.append(key)
            rows.append(counts)
    months: dict[str, list[WishFacts]] = {}
    for w in undated:
        if w.station_id in known and period.contains(w.created_at):
            months.setdefault(month_key(w.created_at, tz), []).append(w)
    for key, ws in months.items():
        keys.append(key)
        rows.append(counts_of(ws, now, deadlines))
    sums = _sum_by(keys, rows)
    return [
        Row(m, m, _figures(sums[m]) if m in sums else Figures()) for m in months_between(period, tz)
    ]
