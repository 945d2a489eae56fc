"""PostgreSQL only: `liaison-bot migrate-to-postgres`, and one leader among several processes.

Skipped unless LIAISON_TEST_DATABASE_URL points at a PostgreSQL server (`.ci/run` starts one).
"""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from pathlib import Path

import pytest

from bot.cli import main
from bot.clock import ManualClock
from bot.domain.model import Action
from bot.i18n import Catalog
from bot.services import Liaison
from bot.stations_file import parse_stations_yaml
from storage.db import Database, fetch_all
from storage.repositories import Repos
from tests.conftest import ADMIN_ID, STATIONS_YAML, TZ, person
from tests.engines import postgres_only, postgres_url
from tests.fake_telegram import FakeTelegram
from tests.integration.conftest import RESIDENT, STAFF_HM
from tests.integration.test_crash import CROWD, IN_CROWD, crash_env, kill_9, seed_crowd, stop
from tests.integration.test_subprocess import EXECUTABLE, ProcessHarness
from tests.unit.test_services import submit

pytestmark = postgres_only("copies into, and shares, a PostgreSQL database")


async def table_contents(db: Database) -> dict[str, list[tuple]]:
    out: dict[str, list[tuple]] = {}
    for table in await db.tables():
        if table == "schema_migrations":
            continue
        async with db.read() as conn:
            rows = await fetch_all(conn, f"SELECT * FROM {table}")
        out[table] = sorted((tuple(r) for r in rows), key=repr)
    return out


async def make_sqlite_county(path: Path, clock: ManualClock) -> None:
    """An SQLite county with history: wishes in several states, events, outbox, sessions."""
    db = Database(path)
    await db.connect()
    try:
        liaison = Liaison(db, Catalog("zh_CN"), clock, TZ, admins=[("telegram", str(ADMIN_ID))])
        await liaison.directory.sync_config(parse_stations_yaml(STATIONS_YAML))
        _, first = await submit(liaison, 700001, "小区门口路灯坏了三天")
        await submit(liaison, 700002, "垃圾站夜里有异味", category="environment")
        await submit(liaison, 700003, "楼道里的灯不亮", station="xingyuan", category="housing")
        deputy = await liaison.people.identify(person(800001))
        await liaison.wishes.act(deputy, first.id, Action.ACCEPT)
        clock.advance(days=1)
        await liaison.wishes.act(deputy, first.id, Action.RESOLVE, body="已联系供电所更换灯泡")
        async with db.transaction() as conn:  # WeChat pushes stored, not processed yet
            await Repos(conn).inbox_add("wechat", 5, "<xml/>", clock.now())
            await Repos(conn).inbox_add("wechat", -3, "<xml/>", clock.now())
    finally:
        await db.close()


async def test_migrate_to_postgres_copies_every_row_and_continues_the_ids(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clock = ManualClock()
    source_path = tmp_path / "county.db"
    await make_sqlite_county(source_path, clock)
    url = postgres_url(tmp_path, "target")
    monkeypatch.chdir(tmp_path)
    for name in ("LIAISON_TELEGRAM_TOKEN", "LIAISON_STATIONS_FILE", "LIAISON_LOCALE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LIAISON_DATABASE", str(source_path))
    monkeypatch.setenv("LIAISON_DATABASE_URL", url)

    assert await asyncio.to_thread(main, ["migrate-to-postgres"]) == 0
    out = capsys.readouterr().out
    assert "wishes：3 行" in out and "各表行数一致" in out  # per-table counts, in Chinese

    source = Database(source_path)
    target = Database(url)
    await source.connect()
    await target.connect()
    try:
        before = await table_contents(source)
        after = await table_contents(target)
        assert set(after) == set(before)
        assert after == before  # every row of every table, ids and text included
        assert len(before["wishes"]) == 3 and before["wish_events"] and before["outbox"]
        # the identity sequences continue past the copied ids: the next wish gets id 4
        liaison = Liaison(target, Catalog("zh_CN"), clock, TZ)
        _, fourth = await submit(liaison, 700004, "公交站台的雨棚漏雨")
        assert fourth.id == 4 and fourth.receipt == "HM-2026-0003"
        # and the inbox's arrival numbers (migration 0018): a push stored now comes after them
        async with target.transaction() as conn:
            await Repos(conn).inbox_add("wechat", -7, "<xml/>", clock.now())
        async with target.read() as conn:
            pending = await Repos(conn).inbox_pending("wechat", 10, in_arrival_order=True)
        assert [p[0] for p in pending] == [5, -3, -7]
    finally:
        await source.close()
        await target.close()

    # A second copy into the now non-empty database is refused, and changes nothing.
    monkeypatch.setenv("LIAISON_LOCALE", "en")
    assert await asyncio.to_thread(main, ["migrate-to-postgres"]) != 0
    err = capsys.readouterr().err
    assert "already has rows" in err
    target = Database(url)
    await target.connect()
    try:
        async with target.read() as conn:
            rows = await fetch_all(conn, "SELECT COUNT(*) FROM wishes")
        assert rows[0][0] == 4
    finally:
        await target.close()


def test_migrate_to_postgres_needs_the_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LIAISON_LOCALE", "en")
    monkeypatch.setenv("LIAISON_DATABASE", str(tmp_path / "x.db"))
    monkeypatch.delenv("LIAISON_DATABASE_URL", raising=False)
    assert main(["migrate-to-postgres"]) != 0
    assert "LIAISON_DATABASE_URL" in capsys.readouterr().err


# -- several processes on one database: exactly one leads --------------------------------------


async def start_logged(env: dict[str, str], cwd: Path, log: Path) -> asyncio.subprocess.Process:
    """`liaison-bot run` with its log in a file, read while it runs (a pipe left unread could
    fill up and stall the process)."""
    with log.open("wb") as handle:
        return await asyncio.create_subprocess_exec(
            str(EXECUTABLE),
            "run",
            env=env,
            cwd=cwd,
            stdout=handle,
            stderr=asyncio.subprocess.STDOUT,
        )


def logged(log: Path) -> str:
    return log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""


async def test_kill_9_of_the_leader_hands_everything_to_the_other_process(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    await seed_crowd(fake, tmp_path)  # 500 residents, in this test's PostgreSQL schema
    env = crash_env(fake, tmp_path)
    env["LIAISON_LOG_LEVEL"] = "INFO"
    catalog = Catalog("zh_CN")
    waiting = catalog.plain("operator.log_lease_waiting")
    leading = catalog.plain("operator.log_lease_taken")
    log_a, log_b = tmp_path / "a.log", tmp_path / "b.log"
    h = ProcessHarness(fake)
    text = "本周日上午联络站开放日，欢迎居民来访"
    first = await start_logged(env, tmp_path, log_a)
    second: asyncio.subprocess.Process | None = None
    try:
        await h.start_bot(STAFF_HM)  # the first process leads: it answers
        assert leading in logged(log_a)
        second = await start_logged(env, tmp_path, log_b)
        await fake.wait_until(lambda: waiting in logged(log_b), 30, what="the second to wait")
        await asyncio.sleep(0.5)
        fake.consume_all(STAFF_HM)
        fake.send_text(STAFF_HM, "/broadcast")
        await fake.wait_for(chat_id=STAFF_HM, text_contains="群发的内容", timeout=10)
        fake.send_text(STAFF_HM, text)
        audience = await fake.wait_for(chat_id=STAFF_HM, text_contains="发给谁", timeout=10)
        await h.press(STAFF_HM, audience, "本站所有居民")
        await fake.next_message(STAFF_HM, timeout=10)  # the sample
        preview = await fake.next_message(STAFF_HM, timeout=10)
        fake.press(STAFF_HM, preview, "确认发送（500 人）")
        progress = await fake.wait_for(chat_id=STAFF_HM, text_contains="群发 #", timeout=10)
        await fake.wait_until(
            lambda: sum(1 for m in fake.sent if text in m.content) >= 150, 20, what="150 sent"
        )
        # while the first lives, the second only waits: it neither polls nor sends
        assert leading not in logged(log_b)
    finally:
        await kill_9(first)
    before = Counter(m.chat_id for m in fake.sent if text in m.content and m.chat_id in IN_CROWD)
    assert len(before) < len(CROWD)  # it really was interrupted
    fake.send_text(RESIDENT, "/help")  # arrives while nobody leads: kept by Telegram, not lost
    try:
        assert second is not None
        await fake.wait_until(lambda: leading in logged(log_b), 60, what="the takeover")
        await fake.wait_until(
            lambda: {m.chat_id for m in fake.sent if text in m.content} >= set(CROWD),
            60,
            what="everyone to have the broadcast",
        )

        def reported() -> bool:
            current = fake.message(STAFF_HM, progress.message_id)
            return current is not None and "已完成" in current.content

        await fake.wait_until(reported, 30, what="the final report from the new leader")
        await fake.wait_for(chat_id=RESIDENT, text_contains="/new", timeout=30)
    finally:
        if second is not None:
            await stop(second)
    got = Counter(m.chat_id for m in fake.sent if text in m.content and m.chat_id in IN_CROWD)
    assert set(got) == set(CROWD)
    assert max(got.values()) <= 2  # at most one duplicate per recipient for the one crash
    report = fake.message(STAFF_HM, progress.message_id)
    assert report is not None and "送达 500 人" in report.content


async def test_a_waiting_process_stops_on_sigterm_without_ever_leading(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    env = crash_env(fake, tmp_path)
    env["LIAISON_LOG_LEVEL"] = "INFO"
    catalog = Catalog("zh_CN")
    log_a, log_b = tmp_path / "a.log", tmp_path / "b.log"
    first = await start_logged(env, tmp_path, log_a)
    try:
        await ProcessHarness(fake).start_bot(RESIDENT, "huimin")
        second = await start_logged(env, tmp_path, log_b)
        waiting = catalog.plain("operator.log_lease_waiting")
        await fake.wait_until(lambda: waiting in logged(log_b), 30, what="the second to wait")
        second.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(second.wait(), 20) == 0
        assert catalog.plain("operator.log_lease_taken") not in logged(log_b)
        assert "Traceback" not in logged(log_b)
    finally:
        await stop(first)


async def test_the_lease_is_exclusive_and_a_dropped_connection_is_noticed(tmp_path: Path) -> None:
    import psycopg

    from storage.postgres import LeaderLease

    url = postgres_url(tmp_path, "lease")
    first, second = LeaderLease(url, retry_seconds=0.2), LeaderLease(url, retry_seconds=0.2)
    other_schema = LeaderLease(postgres_url(tmp_path, "another deployment"), retry_seconds=0.2)
    try:
        assert await first.try_acquire()
        assert not await second.try_acquire()  # one leader per database (and schema)
        assert await other_schema.try_acquire()  # another deployment's lease is its own
        # The server ends the holder's session (as when its process dies): the lock is free,
        # and the holder finds out that it no longer leads.
        pid = first.backend_pid
        assert pid is not None
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as admin:
            await admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        await asyncio.wait_for(first.lost.wait(), 30)
        await asyncio.wait_for(second.acquire(), 30)
        assert not second.lost.is_set()
    finally:
        for lease in (first, second, other_schema):
            await lease.release()


async def test_a_dropped_database_connection_is_opened_again(tmp_path: Path) -> None:
    import psycopg

    url = postgres_url(tmp_path, "reconnect")
    db = Database(url)
    await db.connect()
    try:
        async with db.read() as conn:
            pid = conn.raw.info.backend_pid
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as admin:
            await admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with pytest.raises(psycopg.OperationalError):  # the statement that meets it fails
            async with db.transaction() as conn:
                await conn.execute("INSERT INTO categories (id, name) VALUES (?, ?)", ("a", "甲"))
        async with db.transaction() as conn:  # and the next one works again
            await conn.execute("INSERT INTO categories (id, name) VALUES (?, ?)", ("b", "乙"))
        async with db.read() as conn:
            rows = await fetch_all(conn, "SELECT id FROM categories")
        assert [r["id"] for r in rows] == ["b"]
    finally:
        await db.close()
