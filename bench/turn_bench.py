"""What one resident's FAQ question costs the product itself, without any channel.

    python bench/turn_bench.py [--turns 3000] [--residents 20] [--profile prof.out] [--distinct]

The conversation, the use cases and the FAQ run as in production, on a real SQLite file in a
temporary directory, driven through the in-memory channel (no HTTP, no Telegram library).
Residents take turns asking the labelled FAQ questions. Reported: CPU time per turn (the
process's, every thread: aiosqlite's worker included), so the figure holds on a busy machine
where wall-clock time does not, and the split between the FAQ matcher and the rest.

The 469 labelled questions repeat, as residents' questions do, and the service keeps the
matcher's verdicts (bot/faq_service.py): after the warm-up every turn finds its verdict
there. ``--distinct`` makes every text new (a counter written as trailing punctuation, which
the normaliser drops), so each turn pays the matcher. The "FAQ matcher" line is always the
matcher itself, uncached, over the same questions.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import sys
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.channels.memory import MemoryChannel, MemoryConversation  # noqa: E402
from bot.clock import ManualClock  # noqa: E402
from bot.conversation import Conversation, Inbound, Kind  # noqa: E402
from bot.faq_service import FaqService  # noqa: E402
from bot.i18n import Catalog  # noqa: E402
from bot.services import Liaison  # noqa: E402
from bot.stations_file import load_stations_file  # noqa: E402
from storage.db import Database  # noqa: E402


def questions() -> list[str]:
    data = yaml.safe_load((ROOT / "tests/data/faq_labelled.yaml").read_text(encoding="utf-8"))
    return [q for qs in data["answers"].values() for q in qs]


async def run(turns: int, residents: int, profile: str, distinct: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(str(Path(tmp) / "bench.db"))
        await db.connect()
        clock = ManualClock()
        catalog = Catalog("zh_CN")
        liaison = Liaison(db, catalog, clock, ZoneInfo("Asia/Shanghai"))
        await liaison.directory.sync_config(
            load_stations_file(ROOT / "deploy/stations.example.yaml"), "memory"
        )
        faq = FaqService(db, clock)
        await faq.reload()
        talk = MemoryConversation(Conversation(liaison, catalog, faq), MemoryChannel())
        people = [str(900000 + i) for i in range(residents)]
        for person in people:
            await talk.say(person, "/start huimin")
        pool = questions()

        def asked(i: int) -> str:
            text = pool[i % len(pool)]
            if not distinct:
                return text
            return text + "".join("？" if (i + 1) >> bit & 1 else "。" for bit in range(16))

        # warm-up: caches, the FAQ's lazy parts, SQLite's page cache (and, without
        # --distinct, every question's verdict)
        for i in range(max(200, len(pool))):
            await talk.say(people[i % residents], pool[i % len(pool)])
        station = await liaison.directory.home_station(await talk.conversation.person(_probe(people[0])))
        matcher = faq._matcher  # the matcher itself, without the service's cache
        station_id = station.id if station else None
        faq_cpu = 0.0
        for i in range(min(turns, 2000)):
            start = time.process_time()
            matcher.match(pool[i % len(pool)], station_id)
            faq_cpu += time.process_time() - start
        faq_per = faq_cpu / min(turns, 2000)
        profiler = cProfile.Profile() if profile else None
        if profiler:
            profiler.enable()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        offset = 1 << 20  # distinct texts never met in the warm-up
        for i in range(turns):
            await talk.say(people[i % residents], asked(offset + i))
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        if profiler:
            profiler.disable()
            profiler.dump_stats(profile)
        await db.close()
    per = cpu / turns
    print(f"turns {turns}, residents {residents}, {'distinct' if distinct else 'repeated'} questions")
    print(f"CPU per turn     {per * 1000:7.3f} ms   (wall {wall / turns * 1000:.3f} ms)")
    print(f"FAQ matcher      {faq_per * 1000:7.3f} ms   (uncached, per question)")
    if distinct:
        print(f"  everything else{(per - faq_per) * 1000:7.3f} ms")


def _probe(account: str) -> Inbound:  # the Inbound of a resident, to look the person up
    return Inbound(channel="memory", account=account, chat=account, kind=Kind.TEXT, key="probe")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=3000)
    parser.add_argument("--residents", type=int, default=20)
    parser.add_argument("--profile", default="")
    parser.add_argument("--distinct", action="store_true", help="no question asked twice")
    args = parser.parse_args()
    asyncio.run(run(args.turns, args.residents, args.profile, args.distinct))


if __name__ == "__main__":
    main()
