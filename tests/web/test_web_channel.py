"""The pull channel: the real Dispatcher delivers a web account's outbox rows into web_messages,
and an open page receives each as a rendered card over server-sent events, without reloading."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.clock import ManualClock
from bot.dispatcher import Dispatcher
from bot.i18n import Catalog
from bot.logins import create_login_link
from bot.services import Liaison
from bot.settings import Settings
from bot.stations_file import StationsConfig
from storage.db import Database, fetch_all
from storage.web import WebRepo
from tests.conftest import TZ
from tests.unit.test_services import submit
from tests.web.test_web_pages import log_in
from web.runtime import build_web
from web.server import create_app


@pytest.fixture
async def web_deputies(db: Database, clock: ManualClock, config: StationsConfig) -> Liaison:
    """The county's deputies and staff as web accounts (as in the demo)."""
    service = Liaison(db, Catalog("zh_CN"), clock, TZ)
    await service.directory.sync_config(config, channel="web")
    return service


@pytest.fixture
async def served(
    tmp_path: Path, db: Database, clock: ManualClock, web_deputies: Liaison
) -> AsyncIterator[tuple[TestServer, Dispatcher]]:
    settings = Settings(_env_file=None, database=tmp_path / "liaison.db", web_port=0)  # type: ignore[call-arg]
    server = await build_web(settings, db, Catalog("zh_CN"), clock, web_deputies, None)
    dispatcher = Dispatcher(db, {"web": server.channel}, clock, web_deputies.people.on_unreachable)
    running = asyncio.create_task(dispatcher.run())
    app_server = TestServer(create_app(server.ctx))
    await app_server.start_server()
    try:
        yield app_server, dispatcher
    finally:
        dispatcher.stop()
        await asyncio.wait_for(running, 30)
        await app_server.close()


async def next_card(stream: aiohttp.StreamReader) -> str:
    """The data of the next `card` event (comments and keep-alives skipped)."""
    event, data = "", []
    while True:
        line = (await asyncio.wait_for(stream.readline(), 30)).decode().rstrip("\n")
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            data.append(line[6:])
        elif line == "" and event:
            if event == "card":
                return "\n".join(data)
            event, data = "", []


async def test_a_deputys_card_reaches_the_open_web_desk_without_reload(
    served: tuple[TestServer, Dispatcher], web_deputies: Liaison, db: Database, clock: ManualClock
) -> None:
    app_server, _ = served
    async with db.read() as conn:
        rows = await fetch_all(
            conn, "SELECT id FROM users WHERE channel='web' AND external_id='800001'"
        )
    link = await create_login_link(db, clock, "", rows[0][0])
    client = TestClient(app_server)
    await client.start_server()
    try:
        assert (await log_in(client, link)).status == 303  # the deputy's browser, logged in once
        events = await client.get("/me/events?after=0")
        assert events.headers["Content-Type"].startswith("text/event-stream")
        assert "frame-ancestors 'none'" in events.headers["Content-Security-Policy"]
        _, wish = await submit(
            web_deputies, 700001, "小区门口路灯坏了三天"
        )  # a resident, elsewhere
        card = await next_card(events.content)
        assert wish.receipt in card and "路灯坏了三天" in card
        # the card's buttons are forms posting the encoded action with this browser's CSRF token
        assert 'name="action"' in card and 'name="csrf"' in card and "受理" in card
        async with db.read() as conn:
            stored = await WebRepo(conn).messages("800001")
        assert [m.payload.get("wish_id") for m in stored] == [wish.id]  # kept for coming back
        events.close()
        # a stranger's stream carries nothing of it
        stranger = TestClient(app_server)
        await stranger.start_server()
        await stranger.get("/open")
        other = await stranger.get("/me/events?after=0")
        with contextlib.suppress(TimeoutError):
            text = await asyncio.wait_for(other.content.read(400), 1)
            assert wish.receipt not in text.decode()
        other.close()
        await stranger.close()
    finally:
        await client.close()


async def test_the_event_stream_needs_a_visitor(served: tuple[TestServer, Dispatcher]) -> None:
    app_server, _ = served
    client = TestClient(app_server)
    await client.start_server()
    assert (await client.get("/s/huimin/events")).status == 403
    await client.close()
