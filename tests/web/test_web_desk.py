"""The web desk over HTTP (the real aiohttp application, a real SQLite file, the real
conversation): the menu on /me, its commands through the conversation, and the chart and
export served only to the session they were made for, briefly, never cached."""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from openpyxl import load_workbook

from bot.clock import ManualClock
from bot.conversation import Conversation
from bot.faq_service import FaqService
from bot.i18n import Catalog
from bot.logins import create_login_link
from bot.retention import Retention
from bot.services import Liaison
from bot.settings import Settings
from bot.stations_file import StationsConfig
from bot.supervision import Supervisor
from storage.db import Database, fetch_all
from storage.repositories import Repos
from tests.conftest import TZ, person
from tests.unit.test_services import submit
from tests.web.conftest import csrf_of
from tests.web.test_web_pages import log_in
from web.chat import FILE_LIFETIME
from web.runtime import build_web
from web.server import create_app

STAFF, DEPUTY = "900001", "800001"  # 惠民's staff member and 张代表, as web accounts (demo-like)


@dataclass
class Desk:
    server: TestServer
    db: Database
    liaison: Liaison
    clock: ManualClock

    async def browser(self) -> TestClient:
        client = TestClient(self.server)
        await client.start_server()
        return client

    async def logged_in(self, external_id: str) -> TestClient:
        async with self.db.read() as conn:
            rows = await fetch_all(
                conn, "SELECT id FROM users WHERE channel='web' AND external_id=?", (external_id,)
            )
        link = await create_login_link(self.db, self.clock, "", rows[0][0])
        client = await self.browser()
        assert (await log_in(client, link)).status == 303
        return client


@pytest.fixture
async def desk(
    tmp_path: Path, db: Database, clock: ManualClock, config: StationsConfig
) -> AsyncIterator[Desk]:
    catalog = Catalog("zh_CN")
    liaison = Liaison(db, catalog, clock, TZ)
    await liaison.directory.sync_config(config, channel="web")  # the station's people on the web
    faq = FaqService(db, clock)
    await faq.reload()
    talk = Conversation(liaison, catalog, faq, supervisor=Supervisor(db, catalog, liaison))
    settings = Settings(_env_file=None, database=tmp_path / "liaison.db", web_port=0)  # type: ignore[call-arg]
    web = await build_web(settings, db, catalog, clock, liaison, faq, conversation=talk)
    server = TestServer(create_app(web.ctx))
    await server.start_server()
    try:
        yield Desk(server, db, liaison, clock)
    finally:
        await server.close()


async def press(client: TestClient, path: str, **fields: str) -> str:
    """Post a form of the page at `path` (with its CSRF token and a fresh key); the page after."""
    token, key = csrf_of(await (await client.get(path)).text())
    resp = await client.post(path, data={"csrf": token, "key": key, **fields})
    assert resp.status == 200, resp.status
    return await resp.text()


def file_links(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="(/f/[0-9a-f]+)"', html)


async def files(db: Database) -> int:
    async with db.read() as conn:
        return len(await fetch_all(conn, "SELECT id FROM web_files"))


async def test_staff_see_the_desk_menu_and_deputies_theirs(desk: Desk) -> None:
    staff = await desk.logged_in(STAFF)
    html = await (await staff.get("/me")).text()
    menu = re.search(r'<form class="desk".*?</form>', html, re.S)
    assert menu is not None
    assert re.findall(r'name="command" value="(\w+)"', menu.group(0)) == [
        "queue", "overdue", "stats", "export",
    ]  # fmt: skip
    assert "待办" in menu.group(0) and "统计" in menu.group(0)
    deputy = await desk.logged_in(DEPUTY)
    html = await (await deputy.get("/me")).text()
    assert re.findall(r'name="command" value="(\w+)"', html) == ["queue", "mywork", "export"]
    resident = await desk.browser()
    assert 'class="desk"' not in await (await resident.get("/s/huimin")).text()
    for client in (staff, deputy, resident):
        await client.close()


async def test_the_chart_and_the_export_are_for_their_session_only(desk: Desk) -> None:
    _, wish = await submit(desk.liaison, 700001, "小区门口路灯坏了三天")
    staff = await desk.logged_in(STAFF)
    html = await press(staff, "/me", command="stats")
    [chart] = file_links(html)
    assert re.search(rf'<img class="chart" src="{chart}"', html)
    served = await staff.get(chart)
    assert served.status == 200 and served.headers["Content-Type"] == "image/png"
    assert served.headers["Cache-Control"] == "no-store"
    assert (await served.read())[:8] == b"\x89PNG\r\n\x1a\n"

    html = await press(staff, "/me", command="export")
    export = file_links(html)[-1]
    got = await staff.get(export)
    assert got.status == 200 and got.headers["Cache-Control"] == "no-store"
    assert got.headers["Content-Disposition"].startswith("attachment;")
    book = load_workbook(io.BytesIO(await got.read()), read_only=True)
    cells = {str(c) for ws in book.worksheets for row in ws.iter_rows(values_only=True) for c in row}
    assert wish.receipt in cells

    # anyone else: another deputy's session, a resident's, no session at all
    deputy = await desk.logged_in(DEPUTY)
    resident = await desk.browser()
    await resident.get("/s/huimin")
    anonymous = await desk.browser()
    for other in (deputy, resident, anonymous):
        for url in (chart, export):
            resp = await other.get(url)
            assert resp.status == 404 and "路灯" not in await resp.text()
    # an hour later the link is dead, and the retention job deletes the bytes
    desk.clock.advance(seconds=FILE_LIFETIME.total_seconds() + 1)
    assert (await staff.get(export)).status == 404
    assert "已过期" in await (await staff.get("/me")).text()
    assert await files(desk.db) == 2
    done = await Retention(desk.db, desk.clock).prune()
    assert done["web_files"] == 2 and await files(desk.db) == 0
    for client in (staff, deputy, resident, anonymous):
        await client.close()


async def test_a_resident_pressing_the_desk_gets_the_polite_no(desk: Desk) -> None:
    resident = await desk.browser()
    await resident.get("/s/huimin")
    no_right = "🙏 抱歉，您没有权限进行这个操作。"
    for command in ("stats", "export", "queue", "overdue"):
        html = await press(resident, "/s/huimin", command=command)
        assert not file_links(html) and html.count(no_right) >= 1
    html = await press(resident, "/s/huimin", text="/export month huimin")
    assert not file_links(html) and "没有找到这个联络站" in html  # as if it did not exist
    assert await files(desk.db) == 0
    await resident.close()


async def test_typed_commands_work_on_the_desk(desk: Desk) -> None:
    _, wish = await submit(desk.liaison, 700001, "小区门口路灯坏了三天")
    deputy = await desk.logged_in(DEPUTY)
    html = await press(deputy, "/me", text="/queue")
    assert wish.receipt in html
    staff = await desk.logged_in(STAFF)
    html = await press(staff, "/me", text="/stats 2020-13")  # a bad period: said, no chart
    assert not file_links(html)
    desk.clock.advance(days=1)
    html = await press(staff, "/me", text="/stats quarter")
    assert len(file_links(html)) == 1
    for client in (deputy, staff):
        await client.close()


async def test_a_telegram_deputys_login_link_opens_their_own_desk(
    tmp_path: Path, db: Database, clock: ManualClock, config: StationsConfig
) -> None:
    """A deputy configured by Telegram id logs in with a link: the browser acts as them (their
    queue), not as a new, rightless person; their cards still go to Telegram."""
    catalog = Catalog("zh_CN")
    liaison = Liaison(db, catalog, clock, TZ)
    await liaison.directory.sync_config(config)  # the people on Telegram, as in a real deployment
    faq = FaqService(db, clock)
    await faq.reload()
    talk = Conversation(liaison, catalog, faq, supervisor=Supervisor(db, catalog, liaison))
    settings = Settings(_env_file=None, database=tmp_path / "liaison.db", web_port=0)  # type: ignore[call-arg]
    web = await build_web(settings, db, catalog, clock, liaison, faq, conversation=talk)
    server = TestServer(create_app(web.ctx))
    await server.start_server()
    await liaison.people.identify(person(int(DEPUTY)))  # the deputy opened the bot (and sent /web)
    _, wish = await submit(liaison, 700001, "小区门口路灯坏了三天")
    async with db.read() as conn:
        rows = await fetch_all(
            conn, "SELECT id FROM users WHERE channel='telegram' AND external_id=?", (DEPUTY,)
        )
    deputy = TestClient(server)
    await deputy.start_server()
    try:
        link = await create_login_link(db, clock, "", rows[0][0])
        assert (await log_in(deputy, link)).status == 303
        html = await press(deputy, "/me", command="queue")
        assert wish.receipt in html and "没有权限" not in html
        async with db.read() as conn:
            channels = await fetch_all(
                conn, "SELECT channel FROM user_accounts WHERE user_id=? ORDER BY id", (rows[0][0],)
            )
        assert [c[0] for c in channels] == ["telegram", "web"]
        async with db.read() as conn:
            found = await Repos(conn).user(rows[0][0])
            assert found is not None
            # what is pushed still goes to Telegram (web is pull-only, shown when they look)
            assert (await liaison.notify.address(Repos(conn), found))[0] == "telegram"
    finally:
        await deputy.close()
        await server.close()
