"""PostgreSQL only: `liaison-bot migrate-to-postgres`, and one leader among several processes.

Skipped unless LIAISON_TEST_DATABASE_URL points at a PostgreSQL server (`.ci/run` starts one).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.cli import main
from bot.clock import ManualClock
from bot.domain.model import Action
from bot.i18n import Catalog
from bot.services import Liaison
from bot.stations_file import parse_stations_yaml
from storage.db import Database, fetch_all
from tests.conftest import ADMIN_ID, STATIONS_YAML, TZ, person
from tests.engines import postgres_only, postgres_url
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
        await liaison.sync_config(parse_stations_yaml(STATIONS_YAML))
        _, first = await submit(liaison, 700001, "小区门口路灯坏了三天")
        await submit(liaison, 700002, "垃圾站夜里有异味", category="environment")
        await submit(liaison, 700003, "楼道里的灯不亮", station="xingyuan", category="housing")
        deputy = await liaison.identify(person(800001))
        await liaison.act(deputy, first.id, Action.ACCEPT)
        clock.advance(days=1)
        await liaison.act(deputy, first.id, Action.RESOLVE, body="已联系供电所更换灯泡")
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
