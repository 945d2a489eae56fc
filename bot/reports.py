"""Report figures, pure: periods in the station's time zone, medians, rates, deadlines, groupings.

No I/O here. Every figure of a report is about the wishes *received in the period* (a cohort),
as they stand at the moment the report is made: "received 20 this month, 15 of them resolved".
That way no rate can exceed 100 % and a report made twice for the same month agrees with itself
unless the wishes themselves moved on.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from bot.domain.deadlines import DEFAULT_ACCEPT_DAYS, DEFAULT_RESOLVE_DAYS
from bot.domain.model import Rating, Status

# Defaults of the supervision rules (accept within 2 days, resolve within 15 days). A wish that
# carries its own due dates (stored by the supervision feature) uses those instead.

PERIOD_KINDS = ("month", "quarter", "year")
GOOD_RATINGS = frozenset({Rating.SATISFIED, Rating.BASICALLY_SATISFIED})
RESOLVED_STATUSES = frozenset({Status.RESOLVED, Status.CLOSED})
FINISHED_STATUSES = frozenset({Status.RESOLVED, Status.CLOSED, Status.DECLINED})
UNASSIGNED = 0  # the "deputy id" of wishes nobody has been assigned


# -- periods ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """[start, end) in UTC; `label` as a station report writes it (2026年3月, 2026年第1季度)."""

    kind: str  # month | quarter | year | range
    start: datetime
    end: datetime
    label: str

    def contains(self, at: datetime) -> bool:
        return self.start <= at < self.end


def _local_midnight(day: date, tz: tzinfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def _add_months(year: int, month: int, months: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + months
    return index // 12, index % 12 + 1


def month_period(year: int, month: int, tz: tzinfo) -> Period:
    ny, nm = _add_months(year, month, 1)
    return Period(
        "month",
        _local_midnight(date(year, month, 1), tz),
        _local_midnight(date(ny, nm, 1), tz),
        f"{year}-{month:02d}",
    )


def quarter_period(year: int, quarter: int, tz: tzinfo) -> Period:
    first = 3 * (quarter - 1) + 1
    ny, nm = _add_months(year, first, 3)
    return Period(
        "quarter",
        _local_midnight(date(year, first, 1), tz),
        _local_midnight(date(ny, nm, 1), tz),
        f"{year}Q{quarter}",
    )


def year_period(year: int, tz: tzinfo) -> Period:
    return Period(
        "year",
        _local_midnight(date(year, 1, 1), tz),
        _local_midnight(date(year + 1, 1, 1), tz),
        str(year),
    )


# The longest period a report covers: ten years (with their leap days). A chart, a report and
# an export grow with the months of their period, and all of it is built while the person
# waits; "1000-01-01 9000-12-30" would be 96 000 months.
MAX_PERIOD_YEARS = 10
MAX_PERIOD_DAYS = MAX_PERIOD_YEARS * 366


class PeriodTooLong(ValueError):
    """A period longer than MAX_PERIOD_YEARS: readable, but too long to report on."""


def date_range(first: date, last: date, tz: tzinfo) -> Period:
    """From the start of `first` to the end of `last` (both days included), local time."""
    if last < first:
        raise ValueError("the end date is before the start date")
    if (last - first).days >= MAX_PERIOD_DAYS:
        raise PeriodTooLong(f"at most {MAX_PERIOD_YEARS} years")
    try:
        end = _local_midnight(last + timedelta(days=1), tz)
        start = _local_midnight(first, tz)
    except OverflowError as exc:  # 9999-12-31 has no next day
        raise ValueError("the period reaches past the calendar") from exc
    return Period("range", start, end, f"{first.isoformat()}~{last.isoformat()}")


_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
_QUARTER = re.compile(r"^(\d{4})-?[Qq]([1-4])$")
_YEAR = re.compile(r"^(\d{4})$")


def parse_period(text: str | None, now: datetime, tz: tzinfo) -> Period:
    """`month` / `quarter` / `year` (the current one, in `tz`), or 2026-03, 2026Q1, 2026.

    Chinese words work too (本月, 本季度, 今年). Raises ValueError on anything else.
    """
    local = now.astimezone(tz)
    word = (text or "month").strip().lower()
    word = {"本月": "month", "月": "month", "本季度": "quarter", "季度": "quarter"}.get(word, word)
    word = {"今年": "year", "本年": "year", "年": "year", "m": "month", "q": "quarter"}.get(
        word, word
    )
    if word == "month":
        return month_period(local.year, local.month, tz)
    if word == "quarter":
        return quarter_period(local.year, (local.month - 1) // 3 + 1, tz)
    if word in ("year", "y"):
        return year_period(local.year, tz)
    if m := _MONTH.match(word):
        year, month = int(m.group(1)), int(m.group(2))
        if 1 <= month <= 12:
            return month_period(year, month, tz)
    if m := _QUARTER.match(word):
        return quarter_period(int(m.group(1)), int(m.group(2)), tz)
    if m := _YEAR.match(word):
        return year_period(int(m.group(1)), tz)
    raise ValueError(f"unknown period {text!r}")


def month_key(at: datetime, tz: tzinfo) -> str:
    local = at.astimezone(tz)
    return f"{local.year}-{local.month:02d}"


def months_between(period: Period, tz: tzinfo) -> list[str]:
    """The calendar months (YYYY-MM, local) that a period touches, in order."""
    start = period.start.astimezone(tz)
    last = (period.end - timedelta(microseconds=1)).astimezone(tz)
    keys = []
    y, m = start.year, start.month
    while (y, m) <= (last.year, last.month):
        keys.append(f"{y}-{m:02d}")
        y, m = _add_months(y, m, 1)
    return keys


def month_bounds(period: Period, tz: tzinfo) -> list[tuple[str, datetime, datetime]]:
    """(YYYY-MM, start, end) of each calendar month a period touches, cut to the period."""
    bounds = []
    for key in months_between(period, tz):
        year, month = int(key[:4]), int(key[5:])
        m = month_period(year, month, tz)
        bounds.append((key, max(m.start, period.start), min(m.end, period.end)))
    return bounds


def chart_window(period: Period, tz: tzinfo, months: int = 6) -> Period:
    """The months a chart shows: a year or a long range as it is, else the last `months`
    months up to the period's end, so a monthly report still shows a trend."""
    if len(months_between(period, tz)) >= months:
        return period
    last = (period.end - timedelta(microseconds=1)).astimezone(tz)
    y, m = _add_months(last.year, last.month, -(months - 1))
    start = _local_midnight(date(y, m, 1), tz)
    return Period(period.kind, start, period.end, period.label)


# -- numbers ----------------------------------------------------------------------------------


def median(values: Sequence[float]) -> float | None:
    """The middle value; the mean of the two middle ones for an even count; None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    n = len(ordered)
    mid = n // 2
    if n % 2:
        return float(ordered[mid])
    return (ordered[mid - 1] + ordered[mid]) / 2


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile: the smallest value with at least p % of values at or below it.

    Easy to check by hand: p90 of ten values is the 9th smallest.
    """
    if not values:
        return None
    if not 0 < p <= 100:
        raise ValueError("p must be in (0, 100]")
    ordered = sorted(values)
    rank = math.ceil(p / 100 * len(ordered))
    return float(ordered[max(rank, 1) - 1])


def rate(part: int, whole: int) -> float | None:
    """A percentage, or None when there is nothing to divide by (shown as a dash)."""
    return 100.0 * part / whole if whole else None


def satisfaction_rate(ratings: Iterable[Rating | None]) -> float | None:
    """(满意 + 基本满意) / rated, in percent; unrated wishes are left out."""
    rated = [r for r in ratings if r is not None]
    return rate(sum(1 for r in rated if r in GOOD_RATINGS), len(rated))


def hours(delta: timedelta) -> float:
    return delta.total_seconds() / 3600


# -- one wish, as reports see it --------------------------------------------------------------


@dataclass(frozen=True)
class WishFacts:
    id: int
    station_id: str
    receipt: str
    category_id: str
    deputy_id: int | None
    status: Status
    created_at: datetime
    accepted_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    rating: Rating | None = None
    reopen_count: int = 0
    first_response_at: datetime | None = None  # the first accept/reply/resolve/decline/transfer
    accept_due: datetime | None = None  # stored due dates, when the wish carries them
    resolve_due: datetime | None = None

    @property
    def resolved(self) -> bool:
        return self.status in RESOLVED_STATUSES and self.resolved_at is not None

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_STATUSES


@dataclass(frozen=True)
class Deadlines:
    accept_days: int = DEFAULT_ACCEPT_DAYS
    resolve_days: int = DEFAULT_RESOLVE_DAYS


def due_dates(w: WishFacts, deadlines: Deadlines = Deadlines()) -> tuple[datetime, datetime]:
    """The wish's own due dates if it has them, else the defaults counted from its creation."""
    accept = w.accept_due or w.created_at + timedelta(days=deadlines.accept_days)
    resolve = w.resolve_due or w.created_at + timedelta(days=deadlines.resolve_days)
    return accept, resolve


@dataclass(frozen=True)
class Lateness:
    accept_late: bool
    resolve_late: bool

    @property
    def late(self) -> bool:
        return self.accept_late or self.resolve_late


def lateness(w: WishFacts, now: datetime, deadlines: Deadlines = Deadlines()) -> Lateness:
    """Whether a wish missed (or, still open, has passed) its accept and resolve deadlines.

    Accepting is answered by accepting, declining or the resident withdrawing; resolving by
    resolving, declining or withdrawing. A wish still waiting is measured against `now`; a
    reopened wish is open again, so it is measured against `now` too.
    """
    accept_due, resolve_due = due_dates(w, deadlines)
    ended = w.closed_at if w.status in (Status.DECLINED, Status.WITHDRAWN) else None
    accept_end = w.accepted_at or ended or now
    if w.status in (Status.DECLINED, Status.WITHDRAWN):
        resolve_end = w.closed_at or now
    elif w.status in RESOLVED_STATUSES:
        resolve_end = w.resolved_at or now
    else:
        resolve_end = now
    return Lateness(accept_end > accept_due, resolve_end > resolve_due)


# -- the figures ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    """The figures of a set of wishes (a station, a category, a deputy, a month)."""

    received: int = 0
    accepted: int = 0
    resolved: int = 0
    declined: int = 0
    withdrawn: int = 0
    open: int = 0
    overdue: int = 0
    finished: int = 0
    on_time: int = 0
    rated: int = 0
    satisfied: int = 0  # 满意 + 基本满意
    reopened: int = 0  # reopen count, summed
    accept_median_h: float | None = None
    accept_p90_h: float | None = None
    resolve_median_h: float | None = None
    resolve_p90_h: float | None = None
    response_median_h: float | None = None

    @property
    def resolution_rate(self) -> float | None:
        """办结率: resolved over received, leaving out wishes their residents withdrew."""
        return rate(self.resolved, self.received - self.withdrawn)

    @property
    def satisfaction(self) -> float | None:
        return rate(self.satisfied, self.rated)

    @property
    def on_time_rate(self) -> float | None:
        """按期办结率: finished (resolved or declined) within both deadlines, over finished."""
        return rate(self.on_time, self.finished)


def figures(
    wishes: Sequence[WishFacts],
    now: datetime,
    deadlines: Deadlines = Deadlines(),
    late: dict[int, Lateness] | None = None,
) -> Figures:
    """`late`: each wish's lateness when the caller worked it out already (a report counts
    every wish in several groupings)."""
    accept_h = [hours(w.accepted_at - w.created_at) for w in wishes if w.accepted_at]
    resolve_h = [
        hours(w.resolved_at - w.created_at) for w in wishes if w.resolved and w.resolved_at
    ]
    response_h = [hours(w.first_response_at - w.created_at) for w in wishes if w.first_response_at]
    if late is None:
        late = {w.id: lateness(w, now, deadlines) for w in wishes}
    finished = [w for w in wishes if w.finished]
    rated = [w.rating for w in wishes if w.rating is not None]
    return Figures(
        received=len(wishes),
        accepted=sum(1 for w in wishes if w.accepted_at is not None),
        resolved=sum(1 for w in wishes if w.resolved),
        declined=sum(1 for w in wishes if w.status is Status.DECLINED),
        withdrawn=sum(1 for w in wishes if w.status is Status.WITHDRAWN),
        open=sum(1 for w in wishes if w.status not in FINISHED_STATUSES | {Status.WITHDRAWN}),
        overdue=sum(1 for w in wishes if late[w.id].late),
        finished=len(finished),
        on_time=sum(1 for w in finished if not late[w.id].late),
        rated=len(rated),
        satisfied=sum(1 for r in rated if r in GOOD_RATINGS),
        reopened=sum(w.reopen_count for w in wishes),
        accept_median_h=median(accept_h),
        accept_p90_h=percentile(accept_h, 90),
        resolve_median_h=median(resolve_h),
        resolve_p90_h=percentile(resolve_h, 90),
        response_median_h=median(response_h),
    )


@dataclass(frozen=True)
class Row:
    """One line of a breakdown: its key (category id, deputy id, YYYY-MM), name and figures."""

    key: str | int
    name: str
    figures: Figures


@dataclass(frozen=True)
class Report:
    """A station's (or the whole county's) report for a period."""

    title: str
    station_ids: tuple[str, ...]
    period: Period
    made_at: datetime
    total: Figures
    by_category: list[Row] = field(default_factory=list)
    by_deputy: list[Row] = field(default_factory=list)
    by_month: list[Row] = field(default_factory=list)


def group(
    wishes: Iterable[WishFacts], key: Callable[[WishFacts], str | int]
) -> dict[str | int, list[WishFacts]]:
    groups: dict[str | int, list[WishFacts]] = {}
    for w in wishes:
        groups.setdefault(key(w), []).append(w)
    return groups


def build_report(
    title: str,
    station_ids: Sequence[str],
    wishes: Sequence[WishFacts],
    period: Period,
    now: datetime,
    tz: tzinfo,
    *,
    category_names: dict[str, str] | None = None,
    deputy_names: dict[int, str] | None = None,
    unassigned_name: str = "—",
    deadlines: Deadlines = Deadlines(),
    months: Period | None = None,
) -> Report:
    """The figures of the wishes received in `period`; `months` widens only the monthly rows
    (a chart of the last months next to a one-month report)."""
    stations = frozenset(station_ids)  # a set: a county's report tests every wish against it
    cohort = [w for w in wishes if period.contains(w.created_at) and w.station_id in stations]
    late = {w.id: lateness(w, now, deadlines) for w in cohort}  # once per wish, not per group
    cats = category_names or {}
    deps = deputy_names or {}
    cat_groups = group(cohort, lambda w: w.category_id)
    order = {c: i for i, c in enumerate(cats)}
    by_category = [
        Row(c, cats.get(str(c), str(c)), figures(ws, now, deadlines, late))
        for c, ws in sorted(
            cat_groups.items(), key=lambda kv: (order.get(str(kv[0]), 1e9), str(kv[0]))
        )
    ]
    dep_groups = group(cohort, lambda w: w.deputy_id or UNASSIGNED)
    dep_order = {d: i for i, d in enumerate(deps)}
    by_deputy = [
        Row(
            d,
            deps.get(int(d), unassigned_name) if d else unassigned_name,
            figures(ws, now, deadlines, late),
        )
        for d, ws in sorted(
            dep_groups.items(),
            key=lambda kv: (kv[0] == UNASSIGNED, dep_order.get(int(kv[0]), 1e9), kv[0]),
        )
    ]
    window = months or period
    return Report(
        title=title,
        station_ids=tuple(station_ids),
        period=period,
        made_at=now,
        total=figures(cohort, now, deadlines, late),
        by_category=by_category,
        by_deputy=by_deputy,
        by_month=monthly_rows(
            station_ids, wishes, window, now, tz, deadlines, late if window == period else None
        ),
    )


def monthly_rows(
    station_ids: Sequence[str],
    wishes: Sequence[WishFacts],
    window: Period,
    now: datetime,
    tz: tzinfo,
    deadlines: Deadlines = Deadlines(),
    late: dict[int, Lateness] | None = None,
) -> list[Row]:
    """A report's monthly rows over `window` (every month it touches, empty ones too)."""
    stations = frozenset(station_ids)
    month_cohort = [w for w in wishes if window.contains(w.created_at) and w.station_id in stations]
    if late is None:
        late = {w.id: lateness(w, now, deadlines) for w in month_cohort}
    month_groups = group(month_cohort, lambda w: month_key(w.created_at, tz))
    return [
        Row(m, m, figures(month_groups.get(m, []), now, deadlines, late))
        for m in months_between(window, tz)
    ]


@dataclass(frozen=True)
class DeputySummary:
    """代表履职: what one deputy did with the wishes received in the period."""

    deputy_id: int
    name: str
    station_id: str
    period: Period
    figures: Figures

    @property
    def handled(self) -> int:
        return self.figures.received


def deputy_summary(
    deputy_id: int,
    name: str,
    station_id: str,
    wishes: Sequence[WishFacts],
    period: Period,
    now: datetime,
    deadlines: Deadlines = Deadlines(),
) -> DeputySummary:
    mine = [w for w in wishes if w.deputy_id == deputy_id and period.contains(w.created_at)]
    return DeputySummary(deputy_id, name, station_id, period, figures(mine, now, deadlines))


# -- formatting helpers shared by chat, export and chart --------------------------------------


def fmt_rate(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}%"


def fmt_hours(value: float | None, day: str = "天", hour: str = "小时") -> str:
    """Durations as a report writes them: under two days in hours, else in days."""
    if value is None:
        return "—"
    if value < 48:
        return f"{value:.1f}{hour}"
    return f"{value / 24:.1f}{day}"
