"""A county's /stats counted in SQL (bot/county_stats.py, storage/report_counts.py) against the
Python reports (`build_report` over every wish's facts), on a generated county.

The county is the scale bench's generator (bench/scale_bench.py) at a small size: every status,
ratings, reopened wishes, late and on-time ones, deadlines of their own per station and
category, a two-year history, so the SQL rules meet what the Python rules meet. Some wishes lose
their stored due dates (as wishes older than the supervision feature have none) so that path is
compared too. On PostgreSQL the same file is copied over with `migrate-to-postgres`'s copy.
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import replace
from datetime import date
from pathlib import Path
from types import ModuleType

import pytest

from bot.clock import ManualClock
from bot.i18n import Catalog
from bot.reporting import Reporting
from bot.reports import Figures, Period, Report, build_report, chart_window
from storage.db import Database
from storage.reports import ReportsRepo
from storage.repositories import Repos, UserRow
from tests.engines import ON_POSTGRES, database_target

ROOT = Path(__file__).resolve().parents[2]


def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("scale_bench", ROOT / "bench/scale_bench.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("scale_bench", module)
    spec.loader.exec_module(module)
    return module


def without_durations(f: Figures) -> Figures:
    return replace(
        f,
        accept_median_h=None,
        accept_p90_h=None,
        resolve_median_h=None,
        resolve_p90_h=None,
        response_median_h=None,
    )


def breakdown(report: Report) -> Report:
    """A report whose breakdown rows keep their counts only (what the SQL path computes)."""
    return replace(
        report,
        by_category=[replace(r, figures=without_durations(r.figures)) for r in report.by_category],
        by_deputy=[replace(r, figures=without_durations(r.figures)) for r in report.by_deputy],
        by_month=[replace(r, figures=without_durations(r.figures)) for r in report.by_month],
    )


@pytest.fixture
async def county(tmp_path: Path) -> tuple[Database, ModuleType]:
    sb = bench()
    source = tmp_path / "county.db"
    await sb.build(source, 6, 2500, seed=7)
    import sqlite3

    # wishes older than the supervision feature carry no due dates of their own
    with sqlite3.connect(source) as conn:
        conn.execute("UPDATE wishes SET accept_due_at=NULL, resolve_due_at=NULL WHERE id % 9 = 0")
        conn.execute("UPDATE wishes SET resolve_due_at=NULL WHERE id % 13 = 0")
    if ON_POSTGRES:
        from storage.migrate import copy_sqlite_to_postgres

        lite = Database(source)
        await lite.connect()
        target = Database(database_target(tmp_path))
        await target.connect()
        await copy_sqlite_to_postgres(lite, target)  # type: ignore[arg-type]
        await lite.close()
        db = target
    else:
        db = Database(source)
        await db.connect()
    yield db, sb  # type: ignore[misc]
    await db.close()


async def old_reports(
    reporting: Reporting, ids: list[str], names: dict[str, str], period: Period
) -> tuple[dict[str, Report], Report]:
    """What /stats of several stations computed before: every wish's facts in Python."""
    now = reporting.clock.now()
    async with reporting.db.read() as conn:
        repo = ReportsRepo(conn)
        facts = await repo.wish_facts(ids, period.start, period.end)
        categories = await repo.category_names()
        deputies = await repo.deputy_names(ids)

    def report(title: str, station_ids: list[str]) -> Report:
        return build_report(
            title,
            station_ids,
            facts,
            period,
            now,
            reporting.tz,
            category_names=categories,
            deputy_names=deputies,
            unassigned_name=reporting.c.plain("reports.unassigned"),
            deadlines=reporting.deadlines,
        )

    stations = {sid: report(names[sid], [sid]) for sid in ids}
    return stations, report(reporting.c.plain("reports.county"), ids)


async def reporting_of(county: tuple[Database, ModuleType]) -> tuple[Reporting, UserRow]:
    """The generated county's reports, as of the bench's "now", and its county admin."""
    db, sb = county
    reporting = Reporting(sb.make_liaison(db, ManualClock(sb.NOW), Catalog("zh_CN")))
    async with db.read() as conn:
        admin = await Repos(conn).user_by_external("telegram", str(sb.ADMIN_TG))
    assert admin is not None
    return reporting, admin


async def assert_equal_to_python(reporting: Reporting, admin: object) -> int:
    """/stats of several stations equals the Python reports for a year, a month, a quarter
    and a date range: the totals in every figure, durations too, the breakdowns in their
    counts. Returns how many wishes were compared (the periods overlap)."""
    periods = [
        reporting.period("year"),
        reporting.period("2025"),
        reporting.period("month"),
        reporting.period("2025Q4"),
        reporting.date_period(date(2025, 3, 15), date(2026, 2, 10)),
    ]
    compared = 0
    for period in periods:
        result = await reporting.stats(admin, period)  # type: ignore[arg-type]
        assert result.county is not None
        names = {s.station.id: s.station.name for s in result.stations}
        ids = sorted(names)
        stations, county_report = await old_reports(reporting, ids, names, period)
        assert result.county.total == county_report.total
        assert result.county == breakdown(county_report)
        for item in result.stations:
            old = stations[item.station.id]
            assert item.report.total == old.total
            assert item.report == breakdown(old)
            compared += old.total.received
        # the chart's months (the six up to the period's end for a short period): what it
        # draws equals the Python counts of those months
        window = chart_window(period, reporting.tz)
        _, window_report = await old_reports(reporting, ids, names, window)
        drawn = [
            (r.key, r.figures.received, r.figures.resolved, r.figures.rated, r.figures.satisfied)
            for r in result.chart.by_month
        ]
        assert drawn == [
            (r.key, r.figures.received, r.figures.resolved, r.figures.rated, r.figures.satisfied)
            for r in window_report.by_month
        ]
        # the figures are not trivially empty: lateness, durations and ratings all occur
        total = county_report.total
        assert total.received and total.overdue and total.on_time and total.rated
        assert total.accept_median_h is not None and total.response_median_h is not None
    return compared


async def test_county_figures_equal_the_python_reports(
    county: tuple[Database, ModuleType],
) -> None:
    db, _ = county
    reporting, admin = await reporting_of(county)
    async with db.read() as conn:
        undated = await (
            await conn.execute("SELECT COUNT(*) FROM wishes WHERE resolve_due_at IS NULL")
        ).fetchone()
    assert undated is not None and undated[0] > 100
    assert await assert_equal_to_python(reporting, admin) > 2500
