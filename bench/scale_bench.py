"""Scale benchmark: every staff and deputy screen, the scheduler and start-up on a big database.

Run from the repository root::

    python bench/scale_bench.py                  # S and M (about 3 minutes)
    python bench/scale_bench.py --sizes S,M,L    # L too (2 000 stations, 2 000 000 wishes; long)
    python bench/scale_bench.py --json out.json  # the same figures as JSON as well
    python bench/scale_bench.py --keep /tmp/dbs  # keep the databases it built
    python bench/scale_bench.py --database-url postgresql://user@host:5432/db  # on PostgreSQL
    python bench/scale_bench.py --sizes L --database-url … --remeasure  # time again, no build

Sizes (issue 12): S = one county (20 stations, 20 000 wishes over two years), M = ten counties
(200 stations, 200 000 wishes), L = a province (2 000 stations, 2 000 000 wishes).

How a database is built: the schema is the project's own (``Database.connect`` applies every
migration), stations, categories, deputies and staff come from a generated stations file through
``parse_stations_yaml`` and ``Liaison.sync_config``, receipts through ``format_receipt``, statuses
and ratings are the domain's enums; the rows themselves are written in bulk (``executemany`` in
a few big transactions), since submitting 200 000 wishes one use case at a time would take
hours. The history is a steady state: every wish older than its deadlines got its reminders and
escalation, every resolved wish its rating reminder and 回访, every staff member today's digest,
and every notification its delivered outbox row. Distributions:

* wishes: created uniformly over two years; residents leave 1-4 wishes each; 8 categories with
  uneven weights; 30 % public; a deputy of the station handles each (a few stay unassigned);
* status by age: under 2 days mostly submitted/assigned/in progress; under a month a mix with
  resolved and closed; older 85 % closed, 7 % declined, 5 % withdrawn, 3 % still open (overdue);
* 60 % of resolved wishes are rated (70 % 满意, 20 % 基本满意, 10 % 不满意); 5 % reopened once;
* timelines of 2-6 events, four delivered outbox rows per wish, 10 % of public wishes followed
  by 1-5 residents, one resident in four chose a station without leaving a wish.

What is timed (seconds, the best of a few runs for screens; one run for what writes):
every staff and deputy screen as its use case runs it (county admin and station staff
``/stats``, ``/queue``, ``/overdue``, ``/unassigned``, a deputy's ``/queue`` and ``/mywork``, a
wall page, a wish's detail, an export of a station's year with its xlsx file), the scheduler's
ordinary minute tick and the 09:00 tick with the digests, a broadcast's audience for one
station (as the preview and the confirmation compute it), start-up (stations file parse,
migrations, sync of the whole stations file), a backup, the database file size, and the county
reports' rollup (bot/report_rollups.py): built once after the bulk load, as the first minutes
after the upgrade build it, and one run after the scheduler's ticks.

On PostgreSQL (``--database-url``): each size is built as above into an SQLite file, then copied
into a schema of its own (``scale_s``, ``scale_m``, ``scale_l``, dropped first) by
``migrate-to-postgres``'s copy (``storage.migrate.copy_sqlite_to_postgres``: the project's
migrations make the schema, COPY fills it, counts are verified), then ``VACUUM ANALYZE`` (what
autovacuum would have done in a long-running deployment), and the same operations are timed
through ``LIAISON_DATABASE_URL``'s engine. There is no backup figure (``pg_dump`` is PostgreSQL's
backup) and the size is the schema's tables and indexes.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib.util
import json
import logging
import os
import random
import re
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.app import freeze_startup_objects  # noqa: E402
from bot.broadcasts import BroadcastDraft, BroadcastService  # noqa: E402
from bot.clock import ManualClock  # noqa: E402
from bot.conversation.desk import MAX_LISTED  # noqa: E402
from bot.domain.model import Rating, Status  # noqa: E402
from bot.domain.receipts import format_receipt  # noqa: E402
from bot.i18n import Catalog  # noqa: E402
from bot.report_rollups import ReportRollups  # noqa: E402
from bot.reporting import Reporting  # noqa: E402
from bot.services import Liaison  # noqa: E402
from bot.stations_file import DEFAULT_CATEGORIES, parse_stations_yaml  # noqa: E402
from bot.supervision import Supervisor  # noqa: E402
from storage.broadcasts import Broadcasts  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.repositories import Repos, UserRow  # noqa: E402
from wechat.figures import waiting_by_station as wechat_waiting  # noqa: E402

# Branches with retention (bot/retention.py) prune delivered outbox rows after 7 days: their
# steady state has only the last week's; the scheduler's tick runs the pruning too.
RETENTION = importlib.util.find_spec("bot.retention") is not None
OUTBOX_KEPT = timedelta(days=7) if RETENTION else None
SIZES = {"S": (20, 20_000), "M": (200, 200_000), "L": (2_000, 2_000_000)}
TZ = ZoneInfo("Asia/Shanghai")
# 10:30 in Shanghai: today's digests went out at 09:00; the digest tick is the next 09:00.
NOW = datetime(2026, 11, 10, 2, 30, tzinfo=UTC)
DIGEST_AT = datetime(2026, 11, 11, 1, 0, 30, tzinfo=UTC)
ADMIN_TG = 990_000_001
DEPUTIES_PER_STATION = 5
STAFF_PER_STATION = 2
CATEGORY_WEIGHTS = [18, 16, 20, 12, 10, 8, 6, 10]
TEXT = "小区门口的路灯坏了三个多月，晚上出行很不方便，老人孩子容易摔倒，希望尽快修好。"
RESULT = "已联系街道城管科，路灯已于本周更换完毕，并安排每月巡查一次。"


def ts(at: datetime) -> str:
    return at.astimezone(UTC).isoformat()


def stations_yaml(n: int) -> str:
    """A stations file as an admin writes it: every station with deputies, staff, a few
    deadlines of their own."""
    lines = ["deadlines:", "  accept_days: 2", "  resolve_days: 15", "categories:"]
    for cid, name in DEFAULT_CATEGORIES:
        lines += [f"  - id: {cid}", f"    name: {name}"]
    lines.append("stations:")
    for i in range(n):
        lines += [
            f"  - id: st{i:04d}",
            f"    name: 第{i + 1}联络站",
            f"    code: S{i:04d}",
            f"    address: 幸福路{i + 1}号",
            "    reception: 每周三上午",
            "    staff: [" + ", ".join(str(staff_tg(i, k)) for k in range(STAFF_PER_STATION)) + "]",
            "    deputies:",
        ]
        for k in range(DEPUTIES_PER_STATION):
            cats = [DEFAULT_CATEGORIES[(i + k + j) % 8][0] for j in range(2)]
            lines += [
                f"      - telegram_id: {deputy_tg(i, k)}",
                f"        name: 代表{i}-{k}",
                f"        categories: [{', '.join(cats)}]",
            ]
        if i % 10 == 0:
            lines += ["    deadlines:", "      resolve_days: 10", "      categories:",
                      "        housing: {resolve_days: 20}"]  # fmt: skip
    return "\n".join(lines) + "\n"


def deputy_tg(station: int, k: int) -> int:
    return 100_000_000 + station * 100 + k


def staff_tg(station: int, k: int) -> int:
    return 200_000_000 + station * 100 + k


def make_supervisor(
    db: Database, catalog: Catalog, liaison: Liaison, clock: ManualClock
) -> Supervisor:
    if not RETENTION:
        return Supervisor(db, catalog, liaison)
    from bot.retention import Retention

    return Supervisor(db, catalog, liaison, retention=Retention(db, clock))


def make_liaison(db: Database, clock: ManualClock, catalog: Catalog) -> Liaison:
    # with the WeChat channel's count of waiting notices, as bot/app.py wires it (/stats reads it)
    return Liaison(
        db, catalog, clock, TZ, admins=[("telegram", str(ADMIN_TG))],
        waiting_counts=(wechat_waiting,),
    )  # fmt: skip


async def build(path: Path, n_stations: int, n_wishes: int, seed: int = 12) -> dict[str, float]:
    """The database of one size; returns how long each part took."""
    rnd = random.Random(seed)
    took: dict[str, float] = {}
    t0 = time.perf_counter()
    catalog = Catalog("zh_CN")
    clock = ManualClock(NOW - timedelta(days=731))
    db = Database(path)
    await db.connect()
    liaison = make_liaison(db, clock, catalog)
    Supervisor(db, catalog, liaison)
    config = parse_stations_yaml(stations_yaml(n_stations))
    await liaison.directory.sync_config(config)
    await db.close()
    took["schema+stations"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("BEGIN")
    start = ts(NOW - timedelta(days=400))
    # every deputy and staff member opened the bot long ago; the county admin too
    conn.execute("UPDATE users SET started_at=?", (start,))
    conn.execute(
        "INSERT INTO users (channel, external_id, chat_id, display_name, started_at, created_at)"
        " VALUES ('telegram', ?, ?, '县人大', ?, ?)",
        (str(ADMIN_TG), str(ADMIN_TG), start, start),
    )
    deputies: dict[str, list[int]] = {}
    for sid, did in conn.execute("SELECT station_id, id FROM deputies WHERE active=1"):
        deputies.setdefault(sid, []).append(did)
    stations = [(r[0], r[1]) for r in conn.execute("SELECT id, code FROM stations ORDER BY id")]
    policy = {
        (r[0], r[1]): (r[2], r[3])
        for r in conn.execute(
            "SELECT station_id, category_id, accept_days, resolve_days FROM deadline_policies"
        )
    }
    staff_ids = [r[0] for r in conn.execute("SELECT DISTINCT user_id FROM station_staff")]
    staff_ids.append(conn.execute("SELECT MAX(id) FROM users").fetchone()[0])
    first_user = conn.execute("SELECT MAX(id) FROM users").fetchone()[0] + 1

    # residents: each leaves 1-4 wishes at one station; one in four only chose a station
    residents: list[tuple[Any, ...]] = []
    resident_station: list[tuple[int, str]] = []
    uid = first_user
    remaining = n_wishes
    while remaining > 0:
        k = min(remaining, rnd.choice((1, 1, 1, 2, 2, 3, 4)))
        sid = stations[rnd.randrange(len(stations))][0]
        created = ts(NOW - timedelta(days=rnd.uniform(0, 760)))
        stopped = 1 if rnd.random() < 0.02 else 0
        unreachable = created if rnd.random() < 0.03 else None
        residents.append((uid, str(uid), str(uid), f"居民{uid}", created, unreachable, stopped,
                          sid, created))  # fmt: skip
        resident_station.extend([(uid, sid)] * k)
        remaining -= k
        uid += 1
    for _ in range(n_wishes // 4):
        sid = stations[rnd.randrange(len(stations))][0]
        created = ts(NOW - timedelta(days=rnd.uniform(0, 760)))
        residents.append((uid, str(uid), str(uid), f"居民{uid}", created, None, 0, sid, created))
        uid += 1
    conn.executemany(
        "INSERT INTO users (id, channel, external_id, chat_id, display_name, started_at,"
        " unreachable_at, stopped, station_id, created_at)"
        " VALUES (?, 'telegram', ?, ?, ?, ?, ?, ?, ?, ?)",
        residents,
    )
    # each person's account (0008_accounts): how the bot finds them; deputies and staff got
    # theirs from the sync, opened the bot long ago like their user rows
    conn.execute(
        "INSERT INTO user_accounts (user_id, channel, external_id, chat_id, started_at,"
        " unreachable_at, created_at) SELECT id, channel, external_id, chat_id, started_at,"
        " unreachable_at, created_at FROM users u WHERE NOT EXISTS"
        " (SELECT 1 FROM user_accounts a WHERE a.user_id=u.id) ORDER BY id"
    )
    conn.execute("UPDATE user_accounts SET started_at=? WHERE started_at IS NULL", (start,))
    rnd.shuffle(resident_station)
    conn.execute("COMMIT")
    took["users"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    wish_rows: list[tuple[Any, ...]] = []
    events: list[tuple[Any, ...]] = []
    outbox: list[tuple[Any, ...]] = []
    reminders: list[tuple[Any, ...]] = []
    follow_ups: list[tuple[Any, ...]] = []
    notes: list[tuple[Any, ...]] = []
    followers: list[tuple[Any, ...]] = []
    cats = [c for c, _ in DEFAULT_CATEGORIES]
    created_list = sorted(
        NOW - timedelta(seconds=rnd.uniform(60, 730 * 86400)) for _ in range(n_wishes)
    )
    seq: dict[tuple[str, int], int] = {}
    codes = dict(stations)
    payload = json.dumps(
        {"text": "您的诉求 S0001-2026-0001 已受理，代表将尽快处理。" * 3, "buttons": []},
        ensure_ascii=False,
    )
    n_residents = len(residents)
    for i, created in enumerate(created_list):
        wid = i + 1
        resident, sid = resident_station[i]
        code = codes[sid]
        year = created.astimezone(TZ).year
        seq[(sid, year)] = n = seq.get((sid, year), 0) + 1
        receipt = format_receipt(code, year, n)
        cat = rnd.choices(cats, CATEGORY_WEIGHTS)[0]
        accept_days, resolve_days = policy.get((sid, cat)) or policy[(sid, "")]
        accept_due = created + timedelta(days=accept_days)
        resolve_due = created + timedelta(days=resolve_days)
        age = (NOW - created).total_seconds() / 86400
        r = rnd.random()
        if age < 2:
            status = (Status.SUBMITTED if r < 0.3 else Status.ASSIGNED if r < 0.7
                      else Status.IN_PROGRESS)  # fmt: skip
        elif age < 30:
            status = (Status.IN_PROGRESS if r < 0.25 else Status.ASSIGNED if r < 0.30
                      else Status.RESOLVED if r < 0.6 else Status.CLOSED if r < 0.9
                      else Status.DECLINED if r < 0.95 else Status.WITHDRAWN if r < 0.98
                      else Status.REOPENED)  # fmt: skip
        else:
            status = (Status.CLOSED if r < 0.85 else Status.DECLINED if r < 0.92
                      else Status.WITHDRAWN if r < 0.97 else Status.IN_PROGRESS if r < 0.99
                      else Status.SUBMITTED if r < 0.995 else Status.REOPENED)  # fmt: skip
        deputy = None if status is Status.SUBMITTED else rnd.choice(deputies[sid])
        assigned_at = created + timedelta(minutes=1)
        accepted_at = resolved_at = closed_at = None
        rating = None
        reopen = 0
        tl: list[tuple[datetime, str, str, str | None, str | None, int | None]] = [
            (created, "submit", "resident", None, "submitted", None)
        ]
        if deputy is not None:
            tl.append((assigned_at, "assign", "system", "submitted", "assigned", deputy))
        if status in (Status.IN_PROGRESS, Status.RESOLVED, Status.CLOSED, Status.REOPENED):
            accepted_at = created + timedelta(hours=rnd.uniform(0.5, 60))
            tl.append((accepted_at, "accept", "deputy", "assigned", "in_progress", deputy))
        if status in (Status.RESOLVED, Status.CLOSED, Status.REOPENED):
            assert accepted_at is not None
            resolved_at = accepted_at + timedelta(days=rnd.uniform(0.2, min(25, max(0.3, age - 3))))
            if resolved_at > NOW - timedelta(minutes=5):
                resolved_at = NOW - timedelta(minutes=5)
            tl.append((resolved_at, "resolve", "deputy", "in_progress", "resolved", deputy))
            if status is not Status.REOPENED and rnd.random() < 0.6:
                rating = rnd.choices(list(Rating), [70, 20, 10])[0]
            if status is Status.CLOSED:
                closed_at = resolved_at + (timedelta(days=rnd.uniform(0.1, 6)) if rating
                                           else timedelta(days=7))  # fmt: skip
                if closed_at > NOW:
                    closed_at = NOW - timedelta(minutes=1)
                tl.append((closed_at, "close", "resident" if rating else "system", "resolved",
                           "closed", None))  # fmt: skip
            if status is Status.REOPENED:
                reopen = 1
                tl.append((resolved_at + timedelta(days=2), "reopen", "resident", "resolved",
                           "reopened", None))  # fmt: skip
        if status is Status.DECLINED:
            closed_at = created + timedelta(hours=rnd.uniform(1, 72))
            tl.append((closed_at, "decline", "deputy", "assigned", "declined", deputy))
        if status is Status.WITHDRAWN:
            closed_at = created + timedelta(hours=rnd.uniform(1, 72))
            tl.append((closed_at, "withdraw", "resident", "assigned", "withdrawn", None))
        if status is Status.IN_PROGRESS and rnd.random() < 0.5:
            tl.append((created + timedelta(days=min(age, 3) * 0.9), "reply", "deputy", None,
                       None, deputy))  # fmt: skip
        updated = max(t[0] for t in tl)
        public = 1 if rnd.random() < 0.3 else 0
        wish_rows.append((
            wid, sid, receipt, resident, cat, TEXT, public, None, status.value, deputy,
            ts(created), ts(updated), ts(accepted_at) if accepted_at else None,
            ts(resolved_at) if resolved_at else None, ts(closed_at) if closed_at else None,
            RESULT if resolved_at else None, None, rating.value if rating else None, reopen,
            ts(accept_due), ts(resolve_due),
        ))  # fmt: skip
        for at, action, role, frm, to, dep in tl:
            actor = resident if role == "resident" else None
            events.append((wid, ts(at), action, role, actor, frm, to, dep, ""))
            # each step told someone: the deputy, the resident or the station's staff
            if OUTBOX_KEPT is None or at > NOW - OUTBOX_KEPT:
                outbox.append((ts(at), str(resident), resident, payload, wid, ts(at), ts(at)))
        open_now = status.value in ("submitted", "assigned", "in_progress", "reopened")
        if open_now and resolve_due <= NOW:
            reminders.append((wid, "escalate_resolve", ts(resolve_due), 0, ts(resolve_due)))
            notes.append((wid, ts(resolve_due), "escalated", "system"))
        if status.value in ("submitted", "assigned", "reopened") and accept_due <= NOW:
            reminders.append((wid, "escalate_accept", ts(accept_due), 0, ts(accept_due)))
        if resolved_at is not None and status is not Status.REOPENED:
            if resolved_at <= NOW - timedelta(days=3):
                reminders.append((wid, "rating_reminder", ts(resolved_at), 0, ts(resolved_at)))
            if resolved_at <= NOW - timedelta(days=30):
                answer = rnd.choice(("resolved", "resolved", "resolved", "unsure", None))
                asked = resolved_at + timedelta(days=30)
                follow_ups.append((wid, ts(resolved_at), ts(asked), answer,
                                   ts(asked + timedelta(hours=5)) if answer else None))  # fmt: skip
        if public and rnd.random() < 0.1:
            for _ in range(rnd.randint(1, 5)):
                followers.append((wid, first_user + rnd.randrange(n_residents), ts(created)))
    took["generate"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO wishes (id, station_id, receipt, resident_id, category_id, text, public,"
        " phone, status, deputy_id, created_at, updated_at, accepted_at, resolved_at, closed_at,"
        " result, decline_reason, rating, reopen_count, accept_due_at, resolve_due_at)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        wish_rows,
    )
    conn.executemany(
        "INSERT INTO receipt_counters (station_id, year, last_seq) VALUES (?, ?, ?)",
        [(s, y, n) for (s, y), n in seq.items()],
    )
    conn.executemany(
        "INSERT INTO wish_events (wish_id, at, action, role, actor_user_id, from_status,"
        " to_status, deputy_id, body) VALUES (?,?,?,?,?,?,?,?,?)",
        events,
    )
    # what WishesRepo.add_event keeps on the wish, as migration 0014 backfills it
    conn.execute(
        "UPDATE wishes SET first_response_at = (SELECT MIN(e.at) FROM wish_events e"
        " WHERE e.wish_id = wishes.id AND e.action IN ('accept','reply','resolve','decline',"
        "'transfer') AND e.role IN ('deputy','staff'))"
    )
    conn.executemany(
        "INSERT INTO outbox (created_at, channel, chat_id, user_id, priority, kind, payload,"
        " wish_id, status, attempts, next_attempt_at, sent_at)"
        " VALUES (?, 'telegram', ?, ?, 1, 'resident', ?, ?, 'sent', 1, ?, ?)",
        outbox,
    )
    conn.executemany(
        "INSERT OR IGNORE INTO reminders_sent (wish_id, kind, due_at, target, sent_at)"
        " VALUES (?,?,?,?,?)",
        reminders,
    )
    conn.executemany(
        "INSERT INTO follow_ups (wish_id, resolved_at, asked_at, answer, answered_at)"
        " VALUES (?,?,?,?,?)",
        follow_ups,
    )
    conn.executemany(
        "INSERT INTO supervision_notes (wish_id, at, kind, role) VALUES (?,?,?,?)", notes
    )
    conn.executemany(
        "INSERT OR IGNORE INTO followers (wish_id, user_id, created_at) VALUES (?,?,?)",
        followers,
    )
    # today's digest went to everyone at 09:00 (local)
    today = NOW.astimezone(TZ).date().isoformat()
    sent = ts(NOW - timedelta(hours=1, minutes=30))
    conn.executemany(
        "INSERT INTO digests_sent (user_id, day, since, until, items) VALUES (?, ?, ?, ?, 3)",
        [(u, today, ts(NOW - timedelta(days=1, hours=1, minutes=30)), sent) for u in staff_ids],
    )
    # the rows were written behind the use cases' back: what the scheduler has to look at
    # (each open wish's reminders, resolved wishes' 回访) is marked as migration 0016 marks it
    # (the first tick then looks at each once, as in a deployment that has been running)
    if "remind_at" in {r[1] for r in conn.execute("PRAGMA table_info(wishes)")}:
        migration = (ROOT / "storage" / "migrations" / "0016_tick.sql").read_text("utf-8")
        for update in re.findall(r"^UPDATE wishes SET [^;]*;", migration, re.M):
            conn.execute(update)
    conn.execute("COMMIT")
    conn.execute("ANALYZE")  # what a long-running deployment's `PRAGMA optimize` would know
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    took["insert"] = time.perf_counter() - t0
    return took


# -- timing -----------------------------------------------------------------------------------


async def best_of(fn: Callable[[], Awaitable[Any]], runs: int) -> float:
    best = float("inf")
    for _ in range(runs):
        t0 = time.perf_counter()
        await fn()
        best = min(best, time.perf_counter() - t0)
    return best


async def user_by_tg(db: Database, tg: int) -> UserRow:
    async with db.read() as conn:
        user = await Repos(conn).user_by_external("telegram", str(tg))
    assert user is not None
    return user


def schema_url(url: str, size: str) -> str:
    """The URL whose connections use this size's schema."""
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options={quote(f'-csearch_path=scale_{size.lower()}')}"


def reset_schema(url: str, size: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS scale_{size.lower()} CASCADE")
        conn.execute(f"CREATE SCHEMA scale_{size.lower()}")


async def to_postgres(path: Path, url: str) -> None:
    """The SQLite database copied into PostgreSQL as `migrate-to-postgres` copies it."""
    import psycopg

    from storage.migrate import copy_sqlite_to_postgres
    from storage.postgres import PostgresDatabase

    source = Database(path)
    await source.connect()
    target = Database(url)
    assert isinstance(target, PostgresDatabase)
    await target.connect()
    try:
        await copy_sqlite_to_postgres(source, target)
    finally:
        await source.close()
        await target.close()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def postgres_size(url: str) -> int:
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = current_schema() AND c.relkind = 'r'"
        ).fetchone()
    return int(row[0]) if row else 0


async def measure(
    path: Path, n_stations: int, runs: int, url: str | None = None
) -> dict[str, float]:
    """`url`: the PostgreSQL schema the database was copied into (else the SQLite file)."""
    result: dict[str, float] = {}
    catalog = Catalog("zh_CN")
    clock = ManualClock(NOW)
    yaml_text = stations_yaml(n_stations)
    yaml_file = path.with_suffix(".yaml")
    yaml_file.write_text(yaml_text, encoding="utf-8")

    # start-up as `liaison-bot run` does it: parse the stations file, open (and migrate) the
    # database, sync the whole file into it
    from bot.stations_file import load_stations_file

    t0 = time.perf_counter()
    config = load_stations_file(yaml_file, catalog)
    db = Database(url or path)
    await db.connect()
    liaison = make_liaison(db, clock, catalog)
    supervisor = make_supervisor(db, catalog, liaison, clock)
    await liaison.directory.sync_config(config)
    result["start-up"] = time.perf_counter() - t0
    freeze_startup_objects()  # as `liaison-bot run` does once started (bot/app.py core_tasks)

    reporting = Reporting(liaison)
    # the county reports' rollup (bot/report_rollups.py): built once after the bulk load (what
    # the first minutes after the upgrade do, a batch of stations at a time); after that, a
    # run rolls up what changed since the last one
    rollups = ReportRollups(db, clock, reporting.tz)
    t0 = time.perf_counter()
    await rollups.build_all()
    result["report rollup built (once, after the bulk load)"] = time.perf_counter() - t0
    broadcasts = BroadcastService(db, liaison, catalog, clock)
    admin = await user_by_tg(db, ADMIN_TG)
    staff = await user_by_tg(db, staff_tg(0, 0))
    deputy = await user_by_tg(db, deputy_tg(0, 0))
    period = reporting.period("month")
    year = reporting.period("year")
    async with db.read() as conn:
        row = await (
            await conn.execute(
                "SELECT id FROM wishes WHERE station_id='st0000' ORDER BY id DESC LIMIT 1"
            )
        ).fetchone()
        wish_id = row[0]

    async def export() -> None:
        res = await reporting.export(staff, "st0000", year)
        await reporting.export_file(res, "xlsx")

    screens: dict[str, Callable[[], Awaitable[Any]]] = {
        "/stats county admin": lambda: reporting.stats(admin, period),
        "/stats station staff": lambda: reporting.stats(staff, period),
        "/stats county admin, year": lambda: reporting.stats(admin, year),
        "/queue station staff": lambda: liaison.queries.queue(staff, MAX_LISTED),
        "/queue county admin": lambda: liaison.queries.queue(admin, MAX_LISTED),
        "/queue deputy": lambda: liaison.queries.queue(deputy, MAX_LISTED),
        "/overdue station staff": lambda: supervisor.overdue(staff),
        "/overdue county admin": lambda: supervisor.overdue(admin),
        "/unassigned station staff": lambda: liaison.queries.unassigned(staff),
        "/unassigned county admin": lambda: liaison.queries.unassigned(admin),
        "/mywork deputy": lambda: reporting.my_work(deputy, period),
        "wall page": lambda: liaison.queries.wall("st0000", 0),
        "wish detail": lambda: liaison.queries.wish_detail(staff, wish_id),
        "export station year (xlsx)": export,
    }
    for name, fn in screens.items():
        # a county's /stats took 41 s at M before issue 12: one run at L only now
        slow = name.startswith("/stats county") and n_stations >= 2000
        result[name] = await best_of(fn, 1 if slow else runs)
        print(f"  {name}: {result[name]:.3f} s", file=sys.stderr, flush=True)

    # the broadcast audience, as the preview and the confirmation compute it
    async def audience() -> None:
        async with db.read() as conn:
            await Broadcasts(conn).station_audience("st0000")

    result["broadcast audience (one station)"] = await best_of(audience, runs)
    await broadcasts.begin(staff, "st0000")
    await broadcasts.set_text(staff, "本周三上午代表接待日，欢迎来访。")
    await broadcasts.set_audience(staff, "station")
    t0 = time.perf_counter()
    await broadcasts.preview(staff)
    await broadcasts.confirm(staff, "bench-broadcast")
    result["broadcast preview+confirm"] = time.perf_counter() - t0
    assert isinstance(await broadcasts.draft(staff), BroadcastDraft | None)

    if url is None:  # PostgreSQL is backed up with pg_dump
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            await db.backup(Path(tmp) / "backup.db")
            result["backup"] = time.perf_counter() - t0

    # the scheduler: a first tick catches up with what came due since the build, the next
    # minute is the ordinary one; then the 09:00 tick with everyone's digest
    await supervisor.tick()
    clock.advance(minutes=1)
    t0 = time.perf_counter()
    await supervisor.tick()
    result["scheduler tick (minute)"] = time.perf_counter() - t0
    clock._now = DIGEST_AT
    await supervisor.tick()  # whatever came due overnight, so only the digests remain
    async with db.transaction() as conn:
        await conn.execute("DELETE FROM digests_sent WHERE day > ?", ("2026-11-10",))
    t0 = time.perf_counter()
    done = await supervisor.tick()
    result["scheduler tick (09:00 digests)"] = time.perf_counter() - t0
    result["digests sent"] = float(done.get("digests", 0))
    # a busy minute for the rollup: residents rate (or re-rate) 200 finished wishes of 200
    # stations, each change noted by the triggers, then one run rolls them up
    async with db.transaction() as conn:
        rows = await (
            await conn.execute(
                "SELECT MIN(id) FROM wishes WHERE status = 'closed' GROUP BY station_id"
                " ORDER BY station_id LIMIT 200"
            )
        ).fetchall()
        await conn.executemany(
            "UPDATE wishes SET rating = 'basically_satisfied' WHERE id = ?", [(r[0],) for r in rows]
        )
    t0 = time.perf_counter()
    await rollups.refresh()
    result["report rollup run (200 changes)"] = time.perf_counter() - t0
    gc.unfreeze()
    await db.close()
    result["database file (MB)"] = (postgres_size(url) if url else file_size(path)) / 1e6
    return result


def file_size(path: Path) -> int:
    """The database with its write-ahead log (empty after a clean close)."""
    return sum(os.path.getsize(p) for p in (str(path), f"{path}-wal") if os.path.exists(p))


def remove(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", ".yaml"):
        Path(str(path) + suffix).unlink(missing_ok=True)


async def run_size(
    size: str, folder: Path, runs: int, database_url: str | None = None
) -> dict[str, float]:
    n_stations, n_wishes = SIZES[size]
    path = folder / f"scale_{size}.db"
    remove(path)
    print(f"{size}: building {n_stations} stations, {n_wishes} wishes …", file=sys.stderr)
    t0 = time.perf_counter()
    took = await build(path, n_stations, n_wishes)
    print(f"{size}: built in {time.perf_counter() - t0:.1f} s {took}", file=sys.stderr)
    url = None
    if database_url:
        url = schema_url(database_url, size)
        reset_schema(database_url, size)
        t1 = time.perf_counter()
        await to_postgres(path, url)
        copied = time.perf_counter() - t1
        print(f"{size}: copied to PostgreSQL in {copied:.1f} s", file=sys.stderr, flush=True)
    figures = await measure(path, n_stations, runs, url)
    figures["build (s)"] = time.perf_counter() - t0
    if url:
        figures["copy to PostgreSQL (s)"] = copied
    return figures


def table(results: dict[str, dict[str, float]]) -> str:
    sizes = list(results)
    names: list[str] = []
    for fig in results.values():
        names += [n for n in fig if n not in names]
    width = max(len(n) for n in names)
    lines = [f"| {'operation':<{width}} | " + " | ".join(f"{s:>8}" for s in sizes) + " |"]
    lines.append(f"|{'-' * (width + 2)}|" + "|".join("-" * 10 for _ in sizes) + "|")
    for n in names:
        cells = []
        for s in sizes:
            v = results[s].get(n)
            cells.append(" " * 8 if v is None else f"{v:8.3f}" if v < 100 else f"{v:8.0f}")
        lines.append(f"| {n:<{width}} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="S,M", help="S, M and/or L, comma-separated")
    parser.add_argument("--runs", type=int, default=3, help="runs per screen (the best counts)")
    parser.add_argument("--json", type=Path, help="write the figures to this file too")
    parser.add_argument("--keep", type=Path, help="build the databases in this folder, keep them")
    parser.add_argument(
        "--remeasure",
        action="store_true",
        help="time again the databases an earlier run built (the --keep folder, or the"
        " PostgreSQL schemas of --database-url) without building them",
    )
    parser.add_argument(
        "--database-url",
        help="a PostgreSQL database (postgresql://…): each size is copied into a schema of its"
        " own there (scale_s, scale_m, scale_l; dropped first) and timed on PostgreSQL",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    sizes = [s.strip().upper() for s in args.sizes.split(",") if s.strip()]
    for s in sizes:
        if s not in SIZES:
            parser.error(f"unknown size {s!r} (S, M or L)")
    if args.remeasure and not (args.keep or args.database_url):
        parser.error("--remeasure needs --keep (SQLite) or --database-url (PostgreSQL)")
    folder = args.keep or Path(tempfile.mkdtemp(prefix="scale-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, float]] = {}
    try:
        for s in sizes:
            if args.remeasure:
                url = schema_url(args.database_url, s) if args.database_url else None
                path = folder / f"scale_{s}.db"
                results[s] = asyncio.run(measure(path, SIZES[s][0], args.runs, url))
            else:
                results[s] = asyncio.run(run_size(s, folder, args.runs, args.database_url))
            print(table(results), file=sys.stderr)
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
