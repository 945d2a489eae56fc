"""Load benchmark: residents asking FAQ questions, the product beside a bare PTB echo bot.

Run from the repository root (no network: the Bot API is the fake server from
``tests/fake_telegram.py``, in a process of its own as Telegram's servers are)::

    python bench/load_bench.py                  # 20 residents for 10 s each, then the flood
    python bench/load_bench.py --seconds 5      # shorter
    python bench/load_bench.py --rounds 3       # echo and product alternately, three times each
    LOAD_BENCH_PROFILE=prof.txt python bench/load_bench.py --rounds 1 --no-flood
                                                # py-spy samples the product (collapsed stacks)
    python bench/load_bench.py --json           # the same figures as JSON
    python bench/load_bench.py --distinct       # no question ever asked twice (see below)

What runs, in one invocation, each bot against a fresh fake server:

* **echo**: a bare python-telegram-bot ``Application`` (its own Updater, run_polling, one
  ``MessageHandler`` that answers each text with ``reply_text``): the baseline of what PTB,
  httpx and the fake cost per reply on this machine.
* **product**: ``liaison-bot run`` as a subprocess with a real SQLite file, the stations of the
  tests, the bundled FAQ; Telegram's pacing lifted (``LIAISON_RATE_*`` raised, as with a
  self-hosted Bot API server) and the per-person limits off (each resident here asks several
  questions a second, far above them).

Both face the same load: N residents (default 20), each asking a question from the labelled
FAQ set, waiting for the answer, asking the next (a closed loop) for the given seconds.
Reported: answers per second, and latency (the update made available by the fake to the
bot's answer arriving at the fake) p50/p99; and product/echo throughput; and the CPU time
(user + system, all threads) each bot's process spent per answer, which, unlike answers per
second, hardly changes when other processes load the machine. The questions come from the
labelled FAQ set (469), so they repeat, as residents' questions do: the product keeps the
matcher's verdicts (bot/faq_service.py). With ``--distinct`` every text is new to the bot (a
counter written as trailing punctuation), the matcher's full cost on every question.

* **flood**: the product with its default per-person limits and Telegram's per-chat pacing
  (1 message/s, burst 3; the global rate lifted): one resident sends 100 messages at once, and
  right after them 50 others each ask one question. Reported: the others' delay p50/p99/max,
  how many of the flooder's messages were answered, how many limit notices they got.

Targets (issue 8): throughput >= 0.8x the echo bot, p99 < 150 ms, the flood delays nobody
else by more than 1 s. Both bots and the fake share the machine's cores: a loaded machine shows
up in every figure (say so when recording them).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from tests.conftest import STATIONS_YAML  # noqa: E402
from tests.fake_telegram import FakeTelegram, SentMessage  # noqa: E402

FIRST_RESIDENT = 6_000_001
FLOODER = 6_500_000
FLOOD_MESSAGES = 100
FLOOD_OTHERS = 50
PROFILE = os.environ.get("LOAD_BENCH_PROFILE", "")  # a file name: profile the product run


def questions() -> list[str]:
    data = yaml.safe_load((ROOT / "tests/data/faq_labelled.yaml").read_text(encoding="utf-8"))
    return [q for qs in data["answers"].values() for q in qs]


# -- the fake server and the residents, in a process of their own ------------------------------


def serve(people: list[int], conn: Connection) -> None:
    """The fake Bot API and the residents driving it. Latency is measured here, from the
    moment an update is made available to the moment the answer arrives: both clocks are
    this process's."""

    async def main() -> None:
        fake = FakeTelegram(log_requests=False)
        await fake.start()
        for uid in [*people, FLOODER]:
            fake.add_user(uid, "居民", started=True)
        waiting: dict[int, asyncio.Future[tuple[float, str]]] = {}
        received: dict[int, list[str]] = {}

        class Stamped(list):  # type: ignore[type-arg]
            def append(self, message: SentMessage) -> None:  # type: ignore[override]
                text = message.text or message.caption or ""
                received.setdefault(message.chat_id, []).append(text)
                future = waiting.pop(message.chat_id, None)
                if future is not None and not future.done():
                    future.set_result((time.perf_counter(), text))

        fake.sent = Stamped()  # who got what, and when: the bench needs nothing else

        async def ask(uid: int, text: str, timeout: float = 30.0) -> float:  # noqa: ASYNC109
            future = asyncio.get_running_loop().create_future()
            waiting[uid] = future
            began = time.perf_counter()
            fake.send_text(uid, text)
            at, _ = await asyncio.wait_for(future, timeout)
            return at - began

        rng = random.Random(8)
        asked = 0

        def question(pool: list[str], distinct: bool) -> str:
            """A question of the pool; with `distinct`, made a text the bot has never seen
            (a different run of trailing 。 and ？ each time, which the FAQ's normaliser drops,
            so the matcher does the work of the question itself): the product's cache of FAQ
            verdicts then never helps."""
            nonlocal asked
            asked += 1
            text = rng.choice(pool)
            if not distinct:
                return text
            return text + "".join("？" if asked >> bit & 1 else "。" for bit in range(16))

        async def warm_up(users: list[int], distinct: bool) -> bool:
            pool = questions()
            for uid in users:  # not counted: first contact creates the person
                await ask(uid, question(pool, distinct))
            return True

        async def closed_loop(users: list[int], seconds: float, distinct: bool) -> dict[str, Any]:
            pool = questions()
            latencies: list[float] = []
            deadline = time.perf_counter() + seconds

            async def resident(uid: int) -> None:
                while time.perf_counter() < deadline:
                    latencies.append(await ask(uid, question(pool, distinct)))

            began = time.perf_counter()
            await asyncio.gather(*(resident(u) for u in users))
            return {"latencies": latencies, "seconds": time.perf_counter() - began}

        async def flood(others: list[int]) -> dict[str, Any]:
            pool = questions()
            rng = random.Random(9)
            received.clear()
            for _ in range(FLOOD_MESSAGES):
                fake.send_text(FLOODER, rng.choice(pool))
            delays = await asyncio.gather(*(ask(uid, rng.choice(pool)) for uid in others))
            await asyncio.sleep(3.0)  # let the flooder's answers come in, to count them
            to_flooder = received.get(FLOODER, [])
            return {
                "delays": list(delays),
                "flooder_answers": len(to_flooder),
                "flooder_notices": sum(1 for t in to_flooder if "太快" in t),
            }

        conn.send((fake.base_url, fake.token))
        loop = asyncio.get_running_loop()
        while True:
            command, args = await loop.run_in_executor(None, conn.recv)
            if command == "stop":
                break
            if command == "warm":
                conn.send(await warm_up(*args))
            elif command == "loop":
                conn.send(await closed_loop(*args))
            elif command == "flood":
                conn.send(await flood(*args))
            elif command == "wait_started":
                await fake.wait_until(
                    lambda: fake.stats.calls_by_method["getUpdates"] > 0, 60, what="polling"
                )
                conn.send(True)
        await fake.stop()

    asyncio.run(main())


class FakeServer:
    def __init__(self, people: list[int]) -> None:
        self.people = people

    async def __aenter__(self) -> FakeServer:
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=serve, args=(self.people, child), daemon=True)
        self.proc.start()
        self.base_url, self.token = await self.call_raw()
        return self

    async def call_raw(self) -> Any:
        return await asyncio.get_running_loop().run_in_executor(None, self.conn.recv)

    async def call(self, command: str, *args: Any) -> Any:
        self.conn.send((command, args))
        return await self.call_raw()

    async def __aexit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            self.conn.send(("stop", ()))
        self.proc.join(10)
        if self.proc.is_alive():
            self.proc.kill()


# -- the bots ----------------------------------------------------------------------------------


def echo_bot(base_url: str, token: str) -> None:
    """A bare PTB bot: the defaults of ApplicationBuilder and run_polling, one handler."""
    from telegram import Update
    from telegram.ext import ApplicationBuilder, ContextTypes, MessageHandler, filters

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None and update.message.text is not None
        await update.message.reply_text(update.message.text)

    app = ApplicationBuilder().token(token).base_url(base_url).build()
    app.add_handler(MessageHandler(filters.TEXT, echo))
    app.run_polling(poll_interval=0.0, timeout=1)


def start_echo(server: FakeServer) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(Path(__file__)), "--echo-bot", server.base_url, server.token],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def start_product(
    server: FakeServer, folder: Path, *, limits_off: bool, chat_pacing: bool
) -> subprocess.Popen[bytes]:
    stations = folder / "stations.yaml"
    stations.write_text(STATIONS_YAML, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIAISON_")}
    env.update(
        LIAISON_TELEGRAM_TOKEN=server.token,
        LIAISON_TELEGRAM_BASE_URL=server.base_url,
        LIAISON_DATABASE=str(folder / "liaison.db"),
        LIAISON_STATIONS_FILE=str(stations),
        LIAISON_POLL_TIMEOUT="1",
        LIAISON_LOG_LEVEL="WARNING",
        LIAISON_RATE_GLOBAL="100000",
    )
    if not chat_pacing:
        env.update(LIAISON_RATE_PER_CHAT="100000", LIAISON_RATE_CHAT_BURST="1000")
    if limits_off:
        env.update(LIAISON_LIMIT_MESSAGES_PER_MINUTE="0", LIAISON_LIMIT_PRESSES_PER_MINUTE="0")
    exe = Path(sys.executable).with_name("liaison-bot")
    command = [str(exe)] if exe.exists() else [shutil.which("liaison-bot") or "liaison-bot"]
    return subprocess.Popen(
        [*command, "run"], env=env, cwd=folder, stdout=subprocess.DEVNULL, stderr=None
    )


def profile(pid: int, seconds: float) -> subprocess.Popen[bytes]:
    """py-spy (pip install py-spy) samples the product while it runs: collapsed stacks."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    return subprocess.Popen(
        [spy, "record", "--gil", "-r", "250", "-f", "raw", "-o", PROFILE, "-d", str(int(seconds) + 3),
         "-p", str(pid)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- figures -----------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


@dataclass
class Throughput:
    name: str
    residents: int
    replies: int
    seconds: float
    per_second: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    cpu_ms_per_answer: float  # the bot process's CPU (user + system) over the loop / replies


@dataclass
class Flood:
    others: int
    others_p50_ms: float
    others_p99_ms: float
    others_max_ms: float
    flooder_sent: int
    flooder_answers: int
    flooder_notices: int


def cpu_seconds(pid: int) -> float:
    """A process's CPU time so far (user + system, all threads), from /proc: unlike answers
    per second, CPU per answer hardly moves when other processes share the machine."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def throughput(name: str, residents: int, raw: dict[str, Any], cpu: float) -> Throughput:
    lat = raw["latencies"]
    return Throughput(
        name,
        residents,
        len(lat),
        round(raw["seconds"], 2),
        round(len(lat) / raw["seconds"], 1),
        round(percentile(lat, 50) * 1000, 1),
        round(percentile(lat, 99) * 1000, 1),
        round(max(lat) * 1000, 1),
        round(cpu / len(lat) * 1000, 3),
    )


async def measure(
    name: str, residents: list[int], seconds: float, folder: Path, distinct: bool = False
) -> Throughput:
    async with FakeServer(residents) as server:
        if name == "echo":
            proc = start_echo(server)
        else:
            proc = start_product(server, folder, limits_off=True, chat_pacing=False)
        try:
            await server.call("wait_started")
            spy = profile(proc.pid, seconds) if PROFILE and name == "product" else None
            await server.call("warm", residents, distinct)
            cpu0 = cpu_seconds(proc.pid)
            raw = await server.call("loop", residents, seconds, distinct)
            cpu = cpu_seconds(proc.pid) - cpu0
            if spy is not None:
                spy.wait()
        finally:
            stop(proc)
    return throughput(name, len(residents), raw, cpu)


async def measure_flood(folder: Path) -> Flood:
    others = list(range(FIRST_RESIDENT + 1000, FIRST_RESIDENT + 1000 + FLOOD_OTHERS))
    async with FakeServer(others) as server:
        proc = start_product(server, folder, limits_off=False, chat_pacing=True)
        try:
            await server.call("wait_started")
            raw = await server.call("flood", others)
        finally:
            stop(proc)
    d = raw["delays"]
    return Flood(
        len(others),
        round(percentile(d, 50) * 1000, 1),
        round(percentile(d, 99) * 1000, 1),
        round(max(d) * 1000, 1),
        FLOOD_MESSAGES,
        raw["flooder_answers"],
        raw["flooder_notices"],
    )


def report(results: list[Throughput], flood: Flood | None) -> str:
    lines = [
        f"{'bot':<8} {'residents':>9} {'replies':>8} {'per s':>8} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'max ms':>8} {'CPU ms/answer':>13}"
    ]
    for r in results:
        lines.append(
            f"{r.name:<8} {r.residents:>9} {r.replies:>8} {r.per_second:>8.1f} {r.p50_ms:>8.1f} "
            f"{r.p99_ms:>8.1f} {r.max_ms:>8.1f} {r.cpu_ms_per_answer:>13.3f}"
        )
    echo = [r.per_second for r in results if r.name == "echo"]
    product = [r.per_second for r in results if r.name == "product"]
    if echo and product:
        ratios = [p / e for p, e in zip(product, echo, strict=False)]
        lines.append(
            "product / echo throughput, round by round: "
            + ", ".join(f"{r:.2f}x" for r in ratios)
            + f"; totals {sum(product) / sum(echo):.2f}x"
        )
    if flood is not None:
        lines.append(
            f"flood: {flood.flooder_sent} messages from one resident, {flood.others} others asking "
            f"once: others' delay p50 {flood.others_p50_ms:.0f} ms, p99 {flood.others_p99_ms:.0f} "
            f"ms, max {flood.others_max_ms:.0f} ms; the flooder got {flood.flooder_answers} "
            f"messages ({flood.flooder_notices} limit notice)"
        )
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> tuple[list[Throughput], Flood | None]:
    residents = list(range(FIRST_RESIDENT, FIRST_RESIDENT + args.residents))
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        # Alternating rounds: on a shared machine the load of other processes changes from one
        # minute to the next, and each bot should meet the same mix of it.
        for n in range(args.rounds):
            for name in ("echo", "product"):
                folder = Path(tmp) / f"{name}-{n}"
                folder.mkdir()
                results.append(
                    await measure(name, residents, args.seconds, folder, args.distinct)
                )
        flood = None
        if not args.no_flood:
            folder = Path(tmp) / "flood"
            folder.mkdir()
            flood = await measure_flood(folder)
    return results, flood


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--echo-bot":
        echo_bot(sys.argv[2], sys.argv[3])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--residents", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=2, help="echo, product, echo, product...")
    parser.add_argument("--no-flood", action="store_true")
    parser.add_argument(
        "--distinct",
        action="store_true",
        help="no question asked twice (the product's cache of FAQ verdicts never hits)",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results, flood = asyncio.run(main_async(args))
    if args.json:
        print(json.dumps({"throughput": [asdict(r) for r in results], "flood": flood and asdict(flood)}))
    else:
        print(report(results, flood))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
