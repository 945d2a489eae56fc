"""Keeping the counts of settled wishes per (station, month) that a county's /stats reads.

At a province's size a county admin's year covers a million wishes; counting them at every
/stats cost seconds however it was summed. A settled wish (finished, with every timestamp its
figures read) no longer changes with time, so its counts and durations are kept in
`report_rollup` (storage/report_rollup.py) and only the wishes still open are counted live.

This job, run by the process that runs the scheduler (every minute, `run`), does two things,
each bounded per run so a run stays short:

- builds stations that have no rollup for the deployment's time zone (new stations, a first
  start after the upgrade, a changed `LIAISON_TIMEZONE`: months are local), a batch at a time;
- rebuilds the (station, month) cells of settled wishes that changed, were added or went: the
  triggers of migration 0017 note each such change in `report_rollup_stale`, in the same
  transaction as the change, whatever wrote it.

Reading never waits for this job: a station with a change not yet rolled up is simply counted
live (bot/reporting.py). The job reads what it computes outside any write transaction, then
swaps the cells and deletes exactly the change notes it read in one short transaction; a change
made meanwhile leaves a note of its own and is rolled up on the next run.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from bot.clock import Clock
from bot.county_stats import seconds, seconds_blob
from bot.reports import Period, month_key, month_period, months_between
from storage.db import Database
from storage.report_rollup import ReportRollupRepo, RollupCell, RollupDurations

log = logging.getLogger(__name__)

ROLLUP_SECONDS = 60


def tz_name(tz: tzinfo) -> str:
    """The zone's name as the rollup records it (months are local to it)."""
    return str(getattr(tz, "key", None) or tz)


def _utc(text: str) -> datetime:
    """A stored timestamp (UTC; SQLite's own defaults carry no zone)."""
    at = datetime.fromisoformat(text)
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _months(first: str, last: str, tz: tzinfo) -> list[tuple[str, datetime, datetime]]:
    """(YYYY-MM, start, end) of every local month from the one of `first` to that of `last`."""
    span = Period(
        "range",
        _utc(first),
        _utc(last) + timedelta(microseconds=1),
        "",
    )
    return [_bounds(key, tz) for key in months_between(span, tz)]


def _bounds(key: str, tz: tzinfo) -> tuple[str, datetime, datetime]:
    p = month_period(int(key[:4]), int(key[5:]), tz)
    return key, p.start, p.end


@dataclass(frozen=True)
class Refreshed:
    built: int  # stations built whole
    cells: int  # (station, month) cells rebuilt after changes

    @property
    def idle(self) -> bool:
        return not self.built and not self.cells


class ReportRollups:
    # A run reads what it computes holding the engine's connection (SQLite has one per
    # process): ten stations' history (10 000 wishes at a province's size) is a pause of about
    # a tenth of a second for everyone else, so the first build after the upgrade goes in small
    # steps, a second apart (four minutes for 2 000 stations). The bench and the command line
    # build in bigger steps (`build_all`).
    STATIONS_PER_RUN = 10
    CHANGES_PER_RUN = 5000

    def __init__(self, db: Database, clock: Clock, tz: tzinfo) -> None:
        self.db = db
        self.clock = clock
        self.tz = tz
        self.zone = tz_name(tz)

    async def _compute(
        self,
        repo: ReportRollupRepo,
        station_ids: list[str],
        months: list[tuple[str, datetime, datetime]],
    ) -> tuple[list[RollupCell], list[RollupDurations]]:
        rows = await repo.settled_cells(station_ids, months, self.clock.now())
        texts: dict[tuple[str, str], list[tuple[str, str | None, str | None, str | None]]] = (
            defaultdict(list)
        )
        for sid, month, created, accepted, resolved, responded in await repo.settled_durations(
            station_ids, months
        ):
            texts[(sid, month)].append((created, accepted, resolved, responded))
        durations = []
        for (sid, month), values in texts.items():
            accept, resolve, response = seconds(values)
            durations.append(
                (sid, month, seconds_blob(accept), seconds_blob(resolve), seconds_blob(response))
            )
        return rows, durations

    async def refresh(
        self, stations: int = STATIONS_PER_RUN, changes: int = CHANGES_PER_RUN
    ) -> Refreshed:
        """One bounded step: up to `stations` stations built, up to `changes` changes."""
        async with self.db.read() as conn:
            repo = ReportRollupRepo(conn)
            waiting = await repo.unready(self.zone)
            unready = waiting[:stations]
            notes = await repo.stale(changes)
            unready_notes = await repo.stale_of(unready) if unready else []
            history = await repo.history(unready) if unready else None
        # A station without a rollup is counted live and built whole from its wishes: notes
        # about it need no cell rebuilt, only deleting (else the oldest notes of stations
        # waiting for their turn would be rebuilt cell by cell, run after run).
        building = set(waiting)
        cells: dict[str, set[str]] = defaultdict(set)
        for _, sid, created in notes:
            if sid not in building:  # else built whole, in this run or a later one
                cells[sid].add(month_key(_utc(created), self.tz))
        if not unready and not notes:
            return Refreshed(0, 0)

        # What the cells hold now, read outside any write transaction.
        rebuilt: list[tuple[str, str]] = []
        rows: list[RollupCell] = []
        durations: list[RollupDurations] = []
        async with self.db.read() as conn:
            repo = ReportRollupRepo(conn)
            # one query per month for every station with that month to redo (changes come
            # mostly in the last few months: a few queries a minute, not one per station)
            by_month: dict[str, list[str]] = defaultdict(list)
            for sid, keys in cells.items():
                for key in keys:
                    by_month[key].append(sid)
                    rebuilt.append((sid, key))
            for key, station_ids in sorted(by_month.items()):
                r, d = await self._compute(repo, sorted(station_ids), [_bounds(key, self.tz)])
                rows += r
                durations += d
            new_rows: list[RollupCell] = []
            new_durations: list[RollupDurations] = []
            if unready and history is not None:
                new_rows, new_durations = await self._compute(
                    repo, unready, _months(history[0], history[1], self.tz)
                )

        async with self.db.transaction() as conn:
            repo = ReportRollupRepo(conn)
            await repo.replace(rebuilt, rows, durations)
            if unready:
                await repo.clear(unready)
                await repo.replace([], new_rows, new_durations)
                await repo.mark_built(unready, self.zone, self.clock.now())
            await repo.done([i for i, _, _ in notes] + unready_notes)
        return Refreshed(len(unready), len(rebuilt))

    async def build_all(self) -> Refreshed:
        """Until nothing is left to build or roll up (the bench, the command line)."""
        built = cells = 0
        while True:
            step = await self.refresh(stations=100)
            built += step.built
            cells += step.cells
            if step.idle:
                return Refreshed(built, cells)

    async def run(self, seconds: float = ROLLUP_SECONDS) -> None:
        """The leader's loop: a step every `seconds`, more at once while much is waiting."""
        while True:
            try:
                step = await self.refresh()
                if not step.idle:
                    log.info("report rollup: %d stations built, %d cells", step.built, step.cells)
            except Exception:
                log.exception("report rollup failed")
                step = Refreshed(0, 0)
            # a backlog (first start after the upgrade) goes on at once, a step at a time
            await asyncio.sleep(1.0 if step.built else seconds)
