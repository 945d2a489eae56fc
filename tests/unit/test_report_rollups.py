"""The county's /stats read from the rollup of settled wishes (bot/report_rollups.py, migration
0017) equal the Python reports, before the rollup is built, once it is, after wishes change
(counted live until the next run) and after that run; a station's rollup built for another time
zone is not read; and the rollup really is what is read.
"""

from __future__ import annotations

import contextlib
from dataclasses import fields
from pathlib import Path
from types import ModuleType
from zoneinfo import ZoneInfo

from bot.clock import ManualClock
from bot.county_stats import COUNT_FIELDS
from bot.i18n import Catalog
from bot.report_rollups import ReportRollups, tz_name
from bot.reporting import Reporting
from bot.reports import Figures
from storage.db import Database, fetch_all, fetch_one
from storage.report_counts import settled
from storage.report_rollup import ReportRollupRepo
from storage.repositories import Repos
from tests.unit.test_county_stats import assert_equal_to_python, county, reporting_of

__all__ = ["county"]  # the fixture, shared with test_county_stats

ROOT = Path(__file__).resolve().parents[2]


async def stale_count(db: Database) -> int:
    async with db.read() as conn:
        row = await fetch_one(conn, "SELECT COUNT(*) FROM report_rollup_stale")
    assert row is not None
    return int(row[0])


async def test_rollup_figures_equal_the_python_reports_through_changes(
    county: tuple[Database, ModuleType],
) -> None:
    db, _ = county
    reporting, admin = await reporting_of(county)
    rollups = ReportRollups(db, reporting.clock, reporting.tz)
    async with db.read() as conn:
        ids = [r[0] for r in await fetch_all(conn, "SELECT id FROM stations ORDER BY id")]
    assert admin is not None

    # not built yet: every station is counted live
    async with db.read() as conn:
        assert await ReportRollupRepo(conn).usable(ids, tz_name(reporting.tz)) == set()
    assert await assert_equal_to_python(reporting, admin) > 2500

    # built, in small steps as the scheduler does them
    first = await rollups.refresh(stations=4)
    # the bulk load's notes are about stations without a rollup yet: none is rebuilt as a
    # cell, the two stations left are built whole on the next run
    assert first.built == 4 and first.cells == 0
    done = await rollups.build_all()
    assert done.built == len(ids) - 4
    assert await stale_count(db) == 0
    async with db.read() as conn:
        assert await ReportRollupRepo(conn).usable(ids, tz_name(reporting.tz)) == set(ids)
        stored = await fetch_one(conn, "SELECT SUM(n_received) FROM report_rollup")
    assert stored is not None and stored[0] > 1000  # most of the history is settled
    await assert_equal_to_python(reporting, admin)

    # wishes change under the rollup, each by another path: resolved, rated, reopened,
    # moved to another station, given up; and an imported settled wish arrives
    async with db.transaction() as conn:
        rows = await fetch_all(
            conn, f"SELECT id, station_id FROM wishes w WHERE {settled()} ORDER BY id LIMIT 40"
        )
        open_rows = await fetch_all(
            conn,
            "SELECT id FROM wishes WHERE status IN ('assigned','in_progress')"
            " AND accept_due_at IS NOT NULL ORDER BY id LIMIT 5",
        )
        settled_ids = [r[0] for r in rows]
        await conn.execute(
            "UPDATE wishes SET rating = 'dissatisfied' WHERE id IN (?, ?, ?)", settled_ids[:3]
        )
        await conn.execute(
            "UPDATE wishes SET status = 'reopened', reopen_count = reopen_count + 1"
            " WHERE id IN (?, ?)",
            settled_ids[3:5],
        )
        other = next(i for i in ids if i != rows[5][1])
        await conn.execute("UPDATE wishes SET station_id = ? WHERE id = ?", (other, settled_ids[5]))
        for r in open_rows:
            await conn.execute(
                "UPDATE wishes SET status = 'resolved', resolved_at = ?, accepted_at ="
                " COALESCE(accepted_at, created_at) WHERE id = ?",
                (reporting.clock.now().isoformat(), r[0]),
            )
    assert await stale_count(db) > 0
    async with db.read() as conn:
        usable = await ReportRollupRepo(conn).usable(ids, tz_name(reporting.tz))
        # the all-time counts by status, kept by triggers, still equal a count of the wishes
        kept = await Repos(conn).status_counts(ids)
        counted: dict[str, dict[str, int]] = {}
        for r in await fetch_all(
            conn, "SELECT station_id, status, COUNT(*) FROM wishes GROUP BY station_id, status"
        ):
            counted.setdefault(r[0], {})[r[1]] = r[2]
    assert kept == counted
    assert usable < set(ids)  # the changed stations are counted live meanwhile
    await assert_equal_to_python(reporting, admin)

    step = await rollups.refresh()
    assert step.cells > 0 and step.built == 0
    assert await stale_count(db) == 0
    await assert_equal_to_python(reporting, admin)


async def test_the_rollup_is_what_is_read_and_only_for_its_time_zone(
    county: tuple[Database, ModuleType],
) -> None:
    db, _ = county
    reporting, admin = await reporting_of(county)
    await ReportRollups(db, reporting.clock, reporting.tz).build_all()
    # a wrong count in the rollup shows: the county's figures come from it, a quarter's
    # from its months' rows, a whole year's from its year rows
    for period, dim, month in (
        (reporting.period("2025Q1"), "t", "2025-01"),
        (reporting.period("2025"), "yt", "2025"),
    ):
        before = await reporting.stats(admin, period)  # type: ignore[arg-type]
        async with db.transaction() as conn:
            await conn.execute(
                "UPDATE report_rollup SET n_received = n_received + 1000"
                " WHERE dim = ? AND month = ? AND station_id = 'st0000'",
                (dim, month),
            )
        after = await reporting.stats(admin, period)  # type: ignore[arg-type]
        assert before.county is not None and after.county is not None
        assert after.county.total.received == before.county.total.received + 1000
    # a rollup built for another zone is not read: months are local
    elsewhere = Reporting(reporting.liaison)
    elsewhere.tz = ZoneInfo("America/New_York")
    assert tz_name(elsewhere.tz) != tz_name(reporting.tz)
    async with db.read() as conn:
        ids = [r[0] for r in await fetch_all(conn, "SELECT id FROM stations")]
        assert await ReportRollupRepo(conn).usable(ids, tz_name(elsewhere.tz)) == set()
    assert await assert_equal_to_python(elsewhere, admin) > 0


def test_figures_begin_with_the_counts_in_their_order() -> None:
    """bot/county_stats.py builds Figures from the counts by position."""
    assert [f.name for f in fields(Figures)][: len(COUNT_FIELDS)] == list(COUNT_FIELDS)


def test_the_migration_writes_the_settled_rule_as_the_code_does() -> None:
    """The triggers and the partial index repeat `settled` by hand (SQL cannot import it)."""
    for name in ("0017_rollup.sql", "0017_rollup.postgresql.sql"):
        text = " ".join((ROOT / "storage/migrations" / name).read_text().split())
        for alias in ("NEW.", "OLD."):
            assert " ".join(settled(alias).split()) in text, (name, alias)
        assert f"WHERE NOT ({' '.join(settled('').split())})" in text, name


async def test_the_county_queue_is_its_oldest_open_wishes_and_their_number(
    county: tuple[Database, ModuleType],
) -> None:
    """/queue loads the 30 it shows (an index walks the open wishes oldest first) and counts
    the rest from the counts the triggers keep: the same as loading every open wish."""
    db, sb = county
    clock = ManualClock(sb.NOW)
    liaison = sb.make_liaison(db, clock, Catalog("zh_CN"))
    async with db.read() as conn:
        admin = await Repos(conn).user_by_external("telegram", str(sb.ADMIN_TG))
        staff = await Repos(conn).user_by_external("telegram", str(sb.staff_tg(0, 0)))
        every = await fetch_all(
            conn,
            "SELECT id, station_id FROM wishes WHERE status IN"
            " ('submitted','assigned','in_progress','reopened') ORDER BY created_at, id",
        )
    assert admin is not None and staff is not None and len(every) > 60
    shown, total = await liaison.queries.queue(admin, 30)
    assert total == len(every)
    assert [w.id for w, _ in shown] == [r[0] for r in every[:30]]
    everything, same = await liaison.queries.queue(admin)
    assert same == total == len(everything)
    # a station's staff: that station's only
    mine = [r[0] for r in every if r[1] == "st0000"]
    shown, total = await liaison.queries.queue(staff, 30)
    assert total == len(mine) and [w.id for w, _ in shown] == mine[:30]


async def test_the_leaders_loop_builds_the_rollup_and_keeps_it(
    county: tuple[Database, ModuleType],
) -> None:
    """`ReportRollups.run` (one of the leader's tasks in bot/app.py core_tasks) builds every
    station, then rolls up a change on its next round."""
    import asyncio

    db, sb = county
    clock = ManualClock(sb.NOW)
    rollups = ReportRollups(db, clock, ZoneInfo("Asia/Shanghai"))
    task = asyncio.create_task(rollups.run(seconds=0.05))
    try:
        async with db.read() as conn:
            ids = [r[0] for r in await fetch_all(conn, "SELECT id FROM stations")]
        for _ in range(200):
            async with db.read() as conn:
                usable = await ReportRollupRepo(conn).usable(ids, rollups.zone)
            if usable == set(ids):
                break
            await asyncio.sleep(0.05)
        assert usable == set(ids)
        async with db.transaction() as conn:
            await conn.execute(
                f"UPDATE wishes SET rating = 'dissatisfied' WHERE id ="
                f" (SELECT MIN(id) FROM wishes w WHERE {settled()})"
            )
        assert await stale_count(db) == 2  # the wish before and after: both settled
        for _ in range(200):
            if await stale_count(db) == 0:
                break
            await asyncio.sleep(0.05)
        assert await stale_count(db) == 0
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def test_the_open_statuses_in_sql_are_the_domains_and_the_indexes() -> None:
    """storage/repositories.py OPEN is the term of the open-wish partial index (0017's
    `wishes_open`: SQLite uses a partial index only for the same term) and names exactly the
    domain's open statuses."""
    import re

    from bot.domain.model import OPEN_STATUSES
    from storage.repositories import OPEN

    assert set(re.findall(r"'(\w+)'", OPEN)) == {s.value for s in OPEN_STATUSES}
    for name in ("0017_rollup.sql", "0017_rollup.postgresql.sql"):
        assert f"WHERE {OPEN};" in (ROOT / "storage/migrations" / name).read_text(), name
