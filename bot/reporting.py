"""Report use cases: statistics, the chart, deputy work summaries, exports and QR codes.

Transport-agnostic, like bot.services: each call re-reads who the requester is on the server.
Staff see their stations, county admins all of them; a deputy sees their own work summary and
may export their station's wishes, masked; the command line (`user=None`) is the operator and
counts as staff of every station.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime

import aiosqlite

from bot import export
from bot.chart import ChartLabels, MonthPoint, render_chart
from bot.county_stats import Counts, DurationTexts, county_months, county_reports
from bot.domain.masking import mask_name, mask_phone, mask_pii, wish_names
from bot.domain.model import Actor, NotAllowed, Status
from bot.export import Progress, Table
from bot.qr import deep_link, render_qr
from bot.report_rollups import tz_name
from bot.reports import (
    Deadlines,
    DeputySummary,
    Figures,
    Period,
    Report,
    WishFacts,
    build_report,
    chart_window,
    date_range,
    deputy_summary,
    due_dates,
    lateness,
    month_bounds,
    month_period,
    parse_period,
)
from bot.services import Liaison, NotFound, StationStats
from storage.report_counts import ReportCountsRepo
from storage.report_rollup import ReportRollupRepo
from storage.reports import NOTE_PREFIX, ExportEvent, ExportWish, ReportsRepo
from storage.repositories import Repos, StationRow, UserRow

TELEGRAM_DOCUMENT_LIMIT = 50 * 1024 * 1024  # sendDocument: bots may upload up to 50 MB


class ChooseStation(Exception):
    """The requester manages several stations and named none."""

    def __init__(self, station_ids: Sequence[str]) -> None:
        super().__init__(", ".join(station_ids))
        self.station_ids = list(station_ids)


@dataclass(frozen=True)
class StationReport:
    station: StationRow
    counts: StationStats  # current counts by status and who has not opened the bot
    report: Report


@dataclass(frozen=True)
class StatsResult:
    period: Period
    stations: list[StationReport]
    county: Report | None  # for someone who sees more than one station
    chart: Report  # the one the chart is drawn from, with the months of its window


@dataclass(frozen=True)
class WorkSummary:
    summary: DeputySummary
    station: StationRow


@dataclass(frozen=True)
class ExportResult:
    station: StationRow
    period: Period
    tables: list[Table]
    wishes: int
    masked: bool


@dataclass(frozen=True)
class QrCode:
    station: StationRow
    link: str
    png: bytes


@dataclass
class _CountyCounts:
    """The inputs of `county_reports` for one period (bot/county_stats.py)."""

    undated: list[WishFacts]
    cells: list[tuple[str, str | None, int | None, Counts]] = field(default_factory=list)
    month_cells: list[tuple[str, str, Counts]] = field(default_factory=list)
    durations: list[DurationTexts] = field(default_factory=list)
    stored_durations: list[tuple[str, bytes, bytes, bytes]] = field(default_factory=list)


class Reporting:
    def __init__(self, liaison: Liaison, deadlines: Deadlines | None = None) -> None:
        self.liaison = liaison
        self.db = liaison.core.db
        self.c = liaison.core.c
        self.clock = liaison.core.clock
        self.tz = liaison.core.tz
        self.deadlines = deadlines or Deadlines()

    # -- who may see what ---------------------------------------------------------------------

    async def _actor(self, user: UserRow | None) -> Actor:
        if user is None:
            return Actor(user_id=None, is_admin=True)  # the operator at the command line
        return await self.liaison.people.actor(user)

    async def _managed(self, actor: Actor) -> list[StationRow]:
        async with self.db.read() as conn:
            return await self.liaison.people.managed_stations(Repos(conn), actor)

    def period(self, text: str | None) -> Period:
        """Raises ValueError for a period nobody can read."""
        return parse_period(text, self.clock.now(), self.tz)

    def date_period(self, first: date, last: date) -> Period:
        return date_range(first, last, self.tz)

    # -- statistics ---------------------------------------------------------------------------

    async def stats(self, user: UserRow, period: Period) -> StatsResult:
        actor = await self._actor(user)
        stations = await self._managed(actor)
        if not stations:
            raise NotAllowed("stats")
        counts = {s.station.id: s for s in await self.liaison.queries.stats(user)}
        ids = [s.id for s in stations]
        window = chart_window(period, self.tz)
        now = self.clock.now()
        if len(stations) > 1:
            return await self._county_stats(stations, counts, period, window)
        # One station: its wishes of the period and of the chart's window, as facts.
        async with self.db.read() as conn:
            repo = ReportsRepo(conn)
            facts = await repo.wish_facts(ids, min(window.start, period.start), period.end)
            categories = await repo.category_names()
            deputies = await repo.deputy_names(ids)
        unassigned = self.c.plain("reports.unassigned")

        def report(
            title: str,
            station_ids: list[str],
            wishes: Sequence[WishFacts],
            months: Period | None = None,
        ) -> Report:
            return build_report(
                title,
                station_ids,
                wishes,
                period,
                now,
                self.tz,
                category_names=categories,
                deputy_names=deputies,
                unassigned_name=unassigned,
                deadlines=self.deadlines,
                months=months,
            )

        def build_all() -> StatsResult:
            per_station = [
                StationReport(s, counts[s.id], report(s.name, [s.id], facts))
                for s in stations
                if s.id in counts
            ]
            chart = report(stations[0].name, ids, facts, window)
            return StatsResult(period, per_station, None, chart)

        # Pure computation over the period's wishes (bounded: see MAX_PERIOD_YEARS), done in a
        # thread so the event loop goes on answering other people meanwhile.
        return await asyncio.to_thread(build_all)

    async def _county_stats(
        self,
        stations: list[StationRow],
        counts: dict[str, StationStats],
        period: Period,
        window: Period,
    ) -> StatsResult:
        """Several stations: the counts are summed in SQL and only the durations the totals'
        medians need are read (bot/county_stats.py), so a county's year costs what its cells
        cost, not what its wishes do."""
        ids = [s.id for s in stations]
        now = self.clock.now()
        # a chart of the months before a short period counts its months too
        county_chart = window != period
        async with self.db.read() as conn:
            repo = ReportsRepo(conn)
            categories = await repo.category_names()
            deputies = await repo.deputy_names(ids)
            counted = await self._county_counts(conn, ids, period, now)
            charted = (
                await self._county_counts(conn, ids, window, now, breakdown=False)
                if county_chart
                else None
            )
        unassigned = self.c.plain("reports.unassigned")

        def build_all() -> StatsResult:
            reports, county = county_reports(
                [(s.id, s.name) for s in stations],
                self.c.plain("reports.county"),
                period,
                now,
                self.tz,
                cells=counted.cells,
                month_cells=counted.month_cells,
                undated=counted.undated,
                durations=counted.durations,
                stored_durations=counted.stored_durations,
                category_names=categories,
                deputy_names=deputies,
                unassigned_name=unassigned,
                deadlines=self.deadlines,
            )
            per_station = [
                StationReport(s, counts[s.id], reports[s.id]) for s in stations if s.id in counts
            ]
            rows = county.by_month
            if charted is not None:  # the chart's own window: the months alone, summed
                rows = county_months(
                    [(s.id, s.name) for s in stations],
                    window,
                    now,
                    self.tz,
                    month_cells=charted.month_cells,
                    undated=charted.undated,
                    deadlines=self.deadlines,
                )
            return StatsResult(period, per_station, county, replace(county, by_month=rows))

        return await asyncio.to_thread(build_all)

    async def _county_counts(
        self,
        conn: aiosqlite.Connection,
        ids: list[str],
        period: Period,
        now: datetime,
        *,
        breakdown: bool = True,
    ) -> _CountyCounts:
        """What `county_reports` sums for `period`: the settled wishes of its whole months from
        the rollup (bot/report_rollups.py) for the stations whose rollup is current, and
        everything else counted live from the wishes: the wishes still open, the settled ones of
        a period's partial months, and every wish of a station with a change not yet rolled up.
        Each wish is counted exactly once. Without `breakdown` only the months are counted
        (what the chart draws)."""
        sums = ReportCountsRepo(conn)
        rollup = ReportRollupRepo(conn)
        months = month_bounds(period, self.tz)
        whole = [
            (key, start, end)
            for key, start, end in months
            for whole_month in [month_period(int(key[:4]), int(key[5:]), self.tz)]
            if (start, end) == (whole_month.start, whole_month.end)
        ]
        partial = [m for m in months if m not in whole]
        usable = await rollup.usable(ids, tz_name(self.tz)) if whole else set()
        clean = [i for i in ids if i in usable]
        live = [i for i in ids if i not in usable]
        c = _CountyCounts(undated=await sums.undated(ids, period.start, period.end))
        if live:
            c.month_cells += await sums.month_cells(live, months, now)
            if breakdown:
                c.cells += await sums.cells(live, period.start, period.end, now)
                c.durations += await sums.durations(live, period.start, period.end)
        if clean:
            first, last = whole[0][0], whole[-1][0]
            # a local year whose twelve months are all whole is read from its year rows
            keys = [key for key, _, _ in whole]
            years = sorted({k[:4] for k in keys if sum(x[:4] == k[:4] for x in keys) == 12})
            c.month_cells += await rollup.month_cells(clean, first, last)
            c.month_cells += await sums.month_cells(clean, months, now, "unsettled")
            if breakdown:
                rest = [k for k in keys if k[:4] not in years]
                c.cells += await rollup.cells(clean, rest, years)
                c.cells += await sums.cells(clean, period.start, period.end, now, "unsettled")
                c.stored_durations += await rollup.durations(clean, rest, years)
                c.durations += await sums.durations(clean, period.start, period.end, "unsettled")
            for key, start, end in partial:
                c.month_cells += await sums.month_cells(clean, [(key, start, end)], now, "settled")
                if breakdown:
                    c.cells += await sums.cells(clean, start, end, now, "settled")
                    c.durations += await sums.durations(clean, start, end, "settled")
        return c

    async def chart_png(self, report: Report) -> bytes:
        points = [
            MonthPoint(
                str(row.key), row.figures.received, row.figures.resolved, row.figures.satisfaction
            )
            for row in report.by_month
        ]
        labels = ChartLabels(
            title=self.c.plain("reports.chart_title", title=report.title),
            received=self.c.plain("reports.chart_received"),
            resolved=self.c.plain("reports.chart_resolved"),
            satisfaction=self.c.plain("reports.chart_satisfaction"),
            count=self.c.plain("reports.chart_count"),
        )
        # matplotlib is synchronous and takes a moment: keep the event loop free meanwhile.
        return await asyncio.to_thread(render_chart, points, labels)

    # -- deputies -----------------------------------------------------------------------------

    async def my_work(self, user: UserRow, period: Period) -> list[WorkSummary]:
        """The requester's own work summary, for each station where they are a deputy."""
        now = self.clock.now()
        async with self.db.read() as conn:
            repos = Repos(conn)
            deputies = await repos.deputies_of_user(user.id)
            if not deputies:
                raise NotAllowed("mywork")
            result = []
            for d in deputies:
                station = await repos.station(d.station_id)
                if station is None:
                    continue
                facts = await ReportsRepo(conn).wish_facts([d.station_id], period.start, period.end)
                summary = deputy_summary(
                    d.id, d.name, d.station_id, facts, period, now, self.deadlines
                )
                result.append(WorkSummary(summary, station))
        if not result:
            raise NotAllowed("mywork")
        return result

    # -- export -------------------------------------------------------------------------------

    async def export_station(self, user: UserRow | None, station_id: str | None) -> StationRow:
        """The station an export is for: the one named, or the requester's only station."""
        actor = await self._actor(user)
        async with self.db.read() as conn:
            repos = Repos(conn)
            stations = await repos.stations()
            deputy_of = (
                {d.station_id for d in await repos.deputies_of_user(user.id)} if user else set()
            )
        visible = [s for s in stations if actor.is_staff_of(s.id) or s.id in deputy_of]
        if station_id is not None:
            chosen = next((s for s in visible if s.id == station_id), None)
            if chosen is None:
                raise NotFound("station")
            return chosen
        if not visible:
            raise NotAllowed("export")
        if len(visible) > 1:
            raise ChooseStation([s.id for s in visible])
        return visible[0]

    async def export(
        self,
        user: UserRow | None,
        station_id: str | None,
        period: Period,
        progress: Progress | None = None,
    ) -> ExportResult:
        station = await self.export_station(user, station_id)
        actor = await self._actor(user)
        masked = not actor.is_staff_of(station.id)
        now = self.clock.now()
        async with self.db.read() as conn:
            repo = ReportsRepo(conn)
            wishes = await repo.export_wishes([station.id], period.start, period.end)
            deputies = await repo.deputies([station.id])
            if masked and user is not None:
                # A deputy exports their own wishes only (those assigned to them now), never
                # their colleagues' (private ones included); the figures are of those too.
                own = {
                    d.id
                    for d in await Repos(conn).deputies_of_user(user.id)
                    if d.station_id == station.id
                }
                wishes = [w for w in wishes if w.facts.deputy_id in own]
                deputies = [d for d in deputies if d[0] in own]
            events = await repo.events_of([w.facts.id for w in wishes])
            categories = await repo.category_names()
            deputy_names = await repo.deputy_names([station.id])
        facts = [w.facts for w in wishes]

        def build() -> list[Table]:
            report = build_report(
                station.name,
                [station.id],
                facts,
                period,
                now,
                self.tz,
                category_names=categories,
                deputy_names=deputy_names,
                unassigned_name=self.c.plain("reports.unassigned"),
                deadlines=self.deadlines,
            )
            return [
                self._summary_table(station, report),
                self._wishes_table(wishes, categories, deputy_names, masked, now),
                self._timeline_table(events, wishes, deputy_names, masked),
                self._deputies_table(deputies, facts, period, now),
            ]

        if progress is not None:
            progress(self.c.plain("reports.sheet_wishes"), 0, len(wishes))
        # In a thread, like the file itself (export_file): the event loop stays free.
        tables = await asyncio.to_thread(build)
        return ExportResult(station, period, tables, len(wishes), masked)

    async def export_file(self, result: ExportResult, fmt: str) -> bytes:
        return await asyncio.to_thread(export.to_bytes, result.tables, fmt)

    def _p(self, key: str, **params: object) -> str:
        return self.c.plain(f"reports.{key}", **params)

    def _local(self, at: datetime | None) -> datetime | None:
        return at.astimezone(self.tz) if at is not None else None

    def _figure_cells(self, f: Figures) -> list[object]:
        return [
            f.received,
            f.accepted,
            f.resolved,
            f.declined,
            f.withdrawn,
            f.open,
            _rate(f.resolution_rate),
            _rate(f.on_time_rate),
            f.overdue,
            _pct(f.accept_median_h),
            _pct(f.accept_p90_h),
            _pct(f.resolve_median_h),
            _pct(f.resolve_p90_h),
            _pct(f.response_median_h),
            _rate(f.satisfaction),
            f.rated,
            f.reopened,
        ]

    FIGURE_KEYS = (
        "fig_received",
        "fig_accepted",
        "fig_resolved",
        "fig_declined",
        "fig_withdrawn",
        "fig_open",
        "fig_resolution_rate",
        "fig_on_time_rate",
        "fig_overdue",
        "fig_accept_median",
        "fig_accept_p90",
        "fig_resolve_median",
        "fig_resolve_p90",
        "fig_response_median",
        "fig_satisfaction",
        "fig_rated",
        "fig_reopened",
    )

    def _summary_table(self, station: StationRow, report: Report) -> Table:
        """The station's figures, then the same figures by category and by month."""
        p = self._p
        table = Table(p("sheet_summary"), [p("fig_item"), p("fig_value")], widths={0: 28, 1: 24})
        table.rows.append([p("fig_station"), station.name])
        table.rows.append([p("fig_period"), report.period.label])
        table.rows.append([p("fig_made_at"), self._local(report.made_at)])
        for key, value in zip(self.FIGURE_KEYS, self._figure_cells(report.total), strict=True):
            table.rows.append([p(key), value])  # type: ignore[list-item]
        table.rows.append([])
        table.rows.append([p("fig_group"), p("fig_name"), *[p(k) for k in self.FIGURE_KEYS]])
        for group_key, rows in (
            ("group_category", report.by_category),
            ("group_month", report.by_month),
        ):
            for row in rows:
                table.rows.append([p(group_key), row.name, *self._figure_cells(row.figures)])  # type: ignore[list-item]
        return table

    def _wishes_table(
        self,
        wishes: list[ExportWish],
        categories: dict[str, str],
        deputies: dict[int, str],
        masked: bool,
        now: datetime,
    ) -> Table:
        p = self._p
        cards = self.liaison.core.cards
        headers = [
            p(k)
            for k in (
                "col_receipt",
                "col_category",
                "col_status",
                "col_created",
                "col_accepted",
                "col_resolved",
                "col_closed",
                "col_accept_due",
                "col_resolve_due",
                "col_overdue",
                "col_deputy",
                "col_resident",
                "col_phone",
                "col_text",
                "col_public",
                "col_result",
                "col_decline_reason",
                "col_rating",
                "col_reopens",
            )
        ]
        table = Table(p("sheet_wishes"), headers, widths={13: 60, 15: 40, 16: 30})
        for w in wishes:
            f = w.facts
            names = wish_names(w.resident_name, w.text)

            def clean(text: str | None, names: list[str] = names) -> str | None:
                if text is None or not masked:
                    return text
                return mask_pii(text, names)

            accept_due, resolve_due = due_dates(f, self.deadlines)
            table.rows.append(
                [
                    f.receipt,
                    categories.get(f.category_id, f.category_id),
                    cards.status(f.status),
                    self._local(f.created_at),
                    self._local(f.accepted_at),
                    self._local(f.resolved_at),
                    self._local(f.closed_at),
                    self._local(accept_due),
                    self._local(resolve_due),
                    p("yes") if lateness(f, now, self.deadlines).late else p("no"),
                    deputies.get(f.deputy_id, "") if f.deputy_id else p("unassigned"),
                    (mask_name(w.resident_name) if masked else w.resident_name)
                    if w.resident_name
                    else "",
                    (mask_phone(w.phone) if masked else w.phone) if w.phone else "",
                    clean(w.text),
                    p("yes") if w.public else p("no"),
                    clean(w.result) or "",
                    clean(w.decline_reason) or "",
                    self.c.plain(f"rating.{f.rating.value}") if f.rating else "",
                    f.reopen_count,
                ]
            )
        return table

    def _timeline_table(
        self,
        events: list[ExportEvent],
        wishes: list[ExportWish],
        deputies: dict[int, str],
        masked: bool,
    ) -> Table:
        p = self._p
        cards = self.liaison.core.cards
        headers = [
            p(k)
            for k in (
                "col_receipt",
                "col_time",
                "col_action",
                "col_role",
                "col_from",
                "col_to",
                "col_deputy",
                "col_body",
            )
        ]
        names = {w.facts.id: wish_names(w.resident_name, w.text) for w in wishes}
        table = Table(p("sheet_timeline"), headers, widths={7: 60})
        for e in events:
            deputy = deputies.get(e.deputy_id, "") if e.deputy_id else ""
            body = e.body
            if e.action == "rate" and self.c.has(f"rating.{body}"):
                body = self.c.plain(f"rating.{body}")
            elif masked:
                body = mask_pii(body, names.get(e.wish_id, []))
            if e.action.startswith(NOTE_PREFIX):
                action = self.c.plain(f"supervision.timeline_{e.action[len(NOTE_PREFIX) :]}")
            else:
                action = self.c.plain(f"action.{e.action}", to=deputy)
            table.rows.append(
                [
                    e.receipt,
                    self._local(e.at),
                    action,
                    self.c.plain(f"role.{e.role}"),
                    cards.status(Status(e.from_status)) if e.from_status else "",
                    cards.status(Status(e.to_status)) if e.to_status else "",
                    deputy,
                    body,
                ]
            )
        return table

    def _deputies_table(
        self,
        deputies: list[tuple[int, str, str, bool]],
        facts: list,  # type: ignore[type-arg]
        period: Period,
        now: datetime,
    ) -> Table:
        p = self._p
        headers = [
            p("col_deputy"),
            p("col_handled"),
            p("fig_resolved"),
            p("fig_declined"),
            p("fig_open"),
            p("fig_on_time_rate"),
            p("fig_overdue"),
            p("fig_response_median"),
            p("fig_satisfaction"),
            p("fig_rated"),
            p("fig_reopened"),
        ]
        table = Table(p("sheet_deputies"), headers)
        for deputy_id, name, station_id, _active in deputies:
            s = deputy_summary(deputy_id, name, station_id, facts, period, now, self.deadlines)
            f = s.figures
            table.rows.append(
                [
                    name,
                    s.handled,
                    f.resolved,
                    f.declined,
                    f.open,
                    _rate(f.on_time_rate),
                    f.overdue,
                    _pct(f.response_median_h),
                    _rate(f.satisfaction),
                    f.rated,
                    f.reopened,
                ]
            )
        return table

    # -- QR codes -----------------------------------------------------------------------------

    async def qr_codes(
        self,
        user: UserRow | None,
        username: str,
        station_id: str | None = None,
        link: Callable[[str], str] | None = None,
    ) -> list[QrCode]:
        """The deep-link QR code of each station the requester is staff of (or the one named);
        `link`: another channel's address of a station (the web page's), by station id."""
        actor = await self._actor(user)
        stations = await self._managed(actor)
        if user is not None and not stations:
            raise NotAllowed("qr")
        if station_id is not None:
            stations = [s for s in stations if s.id == station_id]
            if not stations:
                raise NotFound("station")
        label = self.c.plain("reports.qr_label")
        result = []
        for s in stations:
            url = link(s.id) if link is not None else deep_link(username, s.id)
            png = await asyncio.to_thread(render_qr, url, s.name, label)
            result.append(QrCode(s, url, png))
        return result


def _pct(value: float | None) -> float | None:
    """One decimal, as a number (a spreadsheet can compute with it): hours."""
    return round(value, 1) if value is not None else None


def _rate(percent: float | None) -> export.Percent | None:
    """A rate (reports.rate gives percent) as the fraction a spreadsheet expects: 98.2 → 0.982
    shown as 98.2 %, one decimal of the percentage kept."""
    return export.Percent(round(percent / 100, 3)) if percent is not None else None
