"""The scheduler's ticks alone, on a database `scale_bench.py --keep` built (issue 12).

`scale_bench.py` times every screen before the ticks (minutes at M); this times only the
minute tick and the 09:00 digest tick, best of a few runs, so a change to the scheduler can be
compared before and after on the same database in the same moment::

    python bench/scale_bench.py --sizes M --keep /tmp/dbs             # once
    python bench/tick_bench.py /tmp/dbs/scale_M.db                    # SQLite
    python bench/tick_bench.py postgresql://…/db --size M             # the scale_m schema
    python bench/tick_bench.py /tmp/dbs/scale_M.db --profile digest   # cProfile of one tick

The ticks write a little (today's reminders, the digests and their outbox rows): the first
ticks catch up with what came due since the build, and each digest run deletes the digests it
is about to send again, so the runs repeat the same work.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.scale_bench import (  # noqa: E402
    DIGEST_AT,
    NOW,
    make_liaison,
    make_supervisor,
    schema_url,
)
from bot.clock import ManualClock  # noqa: E402
from bot.i18n import Catalog  # noqa: E402
from storage.db import Database  # noqa: E402


async def run(target: str, runs: int, profile: str | None) -> dict[str, float]:
    catalog = Catalog("zh_CN")
    clock = ManualClock(NOW)
    db = Database(target)
    await db.connect()
    supervisor = make_supervisor(db, catalog, make_liaison(db, clock, catalog), clock)
    result: dict[str, float] = {}
    try:
        await supervisor.tick()  # catch up with what came due since the build
        best = float("inf")
        for _ in range(runs):
            clock.advance(minutes=1)
            t0 = time.perf_counter()
            if profile == "minute":
                with cProfile.Profile() as prof:
                    await supervisor.tick()
            else:
                await supervisor.tick()
            best = min(best, time.perf_counter() - t0)
        result["minute tick"] = best
        clock._now = DIGEST_AT
        await supervisor.tick()  # whatever came due overnight, so only the digests remain
        best = float("inf")
        for _ in range(runs):
            async with db.transaction() as conn:
                await conn.execute("DELETE FROM digests_sent WHERE day > ?", ("2026-11-10",))
            t0 = time.perf_counter()
            if profile == "digest":
                with cProfile.Profile() as prof:
                    done = await supervisor.tick()
            else:
                done = await supervisor.tick()
            best = min(best, time.perf_counter() - t0)
            clock.advance(seconds=1)
        result["digest tick"] = best
        result["digests sent"] = float(done.get("digests", 0))
    finally:
        await db.close()
    if profile:
        pstats.Stats(prof).sort_stats("cumulative").print_stats(40)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", help="the SQLite file, or a postgresql:// URL")
    parser.add_argument("--size", default="M", help="the PostgreSQL schema's size (scale_<size>)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--profile", choices=["minute", "digest"])
    args = parser.parse_args()
    target = args.target
    if target.startswith("postgresql://"):
        target = schema_url(target, args.size)
    for name, value in asyncio.run(run(target, args.runs, args.profile)).items():
        print(f"{name}: {value:.3f}")


if __name__ == "__main__":
    main()
