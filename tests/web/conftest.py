"""The web channel against a real SQLite file and the real aiohttp application."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.clock import ManualClock
from bot.i18n import Catalog
from bot.services import Liaison
from bot.settings import Settings
from storage.db import Database
from web.runtime import WebServer, build_web
from web.server import create_app


@dataclass
class Web:
    server: WebServer
    app_server: TestServer
    db: Database
    liaison: Liaison
    clock: ManualClock

    async def client(self) -> TestClient:
        """A browser of its own (its own cookie jar: its own visitor)."""
        client = TestClient(self.app_server)
        await client.start_server()
        return client


@pytest.fixture
async def web(
    tmp_path: Path, db: Database, liaison: Liaison, clock: ManualClock
) -> AsyncIterator[Web]:
    settings = Settings(_env_file=None, database=tmp_path / "liaison.db", web_port=0)  # type: ignore[call-arg]
    server = await build_web(settings, db, Catalog("zh_CN"), clock, liaison, None)
    app_server = TestServer(create_app(server.ctx))
    await app_server.start_server()
    try:
        yield Web(server, app_server, db, liaison, clock)
    finally:
        await app_server.close()


def csrf_of(html: str) -> tuple[str, str]:
    """The CSRF token and one-time key of the first form on a page."""
    token = re.search(r'name="csrf" value="([^"]+)"', html)
    key = re.search(r'name="key" value="([^"]+)"', html)
    assert token and key, html[:500]
    return token.group(1), key.group(1)
