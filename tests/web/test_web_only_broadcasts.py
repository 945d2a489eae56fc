"""Broadcasts and 我也关注 in a deployment without Telegram (QA item 2): the web-only app as
`liaison-bot run` builds it with no token, driven over HTTP with the real aiohttp application,
its outbox delivered by its own dispatcher to the web accounts."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import WebOnlyApp, build_web_only
from bot.logins import create_login_link
from bot.settings import Settings
from storage.db import fetch_all
from tests.conftest import STATIONS_YAML
from tests.unit.test_services import submit
from tests.web.test_web_desk import press
from tests.web.test_web_pages import log_in
from web.server import create_app


@pytest.fixture
async def web_only(tmp_path: Path) -> AsyncIterator[tuple[WebOnlyApp, TestServer]]:
    stations = tmp_path / "stations.yaml"
    stations.write_text(STATIONS_YAML, encoding="utf-8")
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, database=tmp_path / "liaison.db", web_port=0, stations_file=stations
    )
    app = await build_web_only(settings)
    server = TestServer(create_app(app.web.ctx))
    await server.start_server()
    try:
        yield app, server
    finally:
        await server.close()
        await app.db.close()


async def browser(server: TestServer) -> TestClient:
    client = TestClient(server)
    await client.start_server()
    return client


async def staff_browser(app: WebOnlyApp, server: TestServer) -> TestClient:
    """惠民's staff member (Telegram id 900001 in the stations file) on the web desk by a link."""
    async with app.db.read() as conn:
        [(user_id,)] = await fetch_all(
            conn, "SELECT id FROM users WHERE channel='telegram' AND external_id='900001'"
        )
    client = await browser(server)
    link = await create_login_link(app.db, app.liaison.core.clock, "", user_id)
    assert (await log_in(client, link)).status == 303
    return client


async def test_web_only_residents_follow_and_staff_broadcast_to_them(
    web_only: tuple[WebOnlyApp, TestServer],
) -> None:
    app, server = web_only
    _, wish = await submit(app.liaison, 700001, "小区门口路灯坏了三天")
    resident = await browser(server)
    await resident.get("/s/huimin")
    html = await press(resident, "/s/huimin", text="/wall")
    follow = re.search(rf'name="action" value="(fl:{wish.id}[^"]*)"', html)
    assert follow is not None, html[-2000:]
    html = await press(resident, "/s/huimin", action=follow.group(1), label="☆ 我也关注")
    async with app.db.read() as conn:
        followers = await fetch_all(conn, "SELECT user_id FROM followers WHERE wish_id=?", (wish.id,))
    assert len(followers) == 1
    assert "抱歉" not in html.rsplit("我也关注", 1)[-1]

    staff = await staff_browser(app, server)
    help_html = await press(staff, "/me", text="/help")
    assert "/broadcast" in help_html
    html = await press(staff, "/me", text="/broadcast")
    assert "没有权限" not in html and "群发的内容" in html
    html = await press(staff, "/me", text="明天上午停水，请提前储水。")
    html = await press(staff, "/me", action="ba:station", label="本站所有居民")
    send = re.search(r'name="action" value="(ba:ok)"', html)
    assert send is not None, html[-2000:]
    await press(staff, "/me", action=send.group(1), label="确认发送")
    async with app.db.read() as conn:
        rows = await fetch_all(
            conn, "SELECT channel FROM outbox WHERE kind='broadcast' AND status='pending'"
        )
    assert rows and {r[0] for r in rows} <= {"web", "telegram"}

    # the web-only app's own dispatcher delivers it to the web resident's page
    runner = asyncio.create_task(app.dispatcher.run())
    try:
        for _ in range(200):
            page = await (await resident.get("/s/huimin")).text()
            if "停水" in page:
                break
            await asyncio.sleep(0.05)
        assert "停水" in page
    finally:
        app.dispatcher.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await runner
    for client in (resident, staff):
        await client.close()


async def test_web_only_help_lists_the_commands_the_desk_answers(
    web_only: tuple[WebOnlyApp, TestServer],
) -> None:
    """/help lists /qr on the web desk because the desk answers it (web/chat.py, the
    stations' web QR codes); a channel that does not answer it leaves it out (own_commands)."""
    app, server = web_only
    staff = await staff_browser(app, server)
    html = await press(staff, "/me", text="/help")
    assert "/broadcast" in html and "/qr" in html
    html = await press(staff, "/me", text="/qr")
    assert "没有这个命令" not in html
    await staff.close()
