"""The real PTB Application, wired by the composition root, against the fake Bot API server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.app import LiaisonApp, build
from bot.pacing import Limits
from bot.settings import Settings
from storage.repositories import Repos
from tests.conftest import ADMIN_ID, STATIONS_YAML
from tests.engines import database_url
from tests.fake_telegram import FakeTelegram, SentMessage

RESIDENT = 700001
RESIDENT_2 = 700002
ZHANG, LI, WANG, ZHAO = 800001, 800002, 800003, 800011
STAFF_HM, STAFF_XY = 900001, 900002
WALL_HM, WALL_XY = -1001000000001, -1001000000002

# Fast pacing for functional tests; the rate limits themselves are measured in bench/.
TEST_LIMITS = Limits(
    global_per_second=200, per_chat_per_second=100, per_chat_burst=20, group_per_minute=6000
)


@dataclass
class Harness:
    fake: FakeTelegram
    app: LiaisonApp

    async def start_bot(self, user_id: int, payload: str = "") -> SentMessage:
        """A person opens the bot (as from the station's QR code when `payload` is given)."""
        self.fake.send_text(user_id, f"/start {payload}".strip())
        return await self.fake.next_message(user_id)

    async def say(
        self, user_id: int, text: str, reply_to: SentMessage | None = None
    ) -> SentMessage:
        self.fake.send_text(user_id, text, reply_to)
        return await self.fake.next_message(user_id)

    async def press(self, user_id: int, message: SentMessage, button: str) -> SentMessage:
        self.fake.press(user_id, message, button)
        return await self.fake.next_message(user_id)

    async def settle(self, within: float = 5.0) -> None:
        """Wait until every update is processed and every queued message delivered (or failed)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while loop.time() < deadline:
            async with self.app.db.read() as conn:
                repos = Repos(conn)
                busy = (await repos.outbox_counts()).get(
                    "pending", 0
                ) + await repos.inbox_unprocessed("telegram")
            if not busy and not self.fake.pending_updates:
                return
            await asyncio.sleep(0.02)
        raise AssertionError("the bot did not settle")

    async def card_for(self, deputy: int, receipt: str) -> SentMessage:
        """The wish card with its buttons; the photos and location sent before it are skipped."""
        card = await self.fake.wait_for(
            chat_id=deputy, text_contains=receipt, predicate=lambda m: bool(m.buttons)
        )
        self.fake.consume_all(deputy)
        return card


def assert_no_invalid_calls(fake: FakeTelegram) -> None:
    """Every call the bot made was well-formed; 403s for people who never opened the bot are
    how they are detected, so they are expected."""
    invalid = [r for r in fake.rejected if r.error_code != 403]
    assert invalid == [], invalid


def populate(fake: FakeTelegram) -> None:
    for uid, first, last in [
        (RESIDENT, "小明", "刘"),
        (RESIDENT_2, "Mei", "Chen"),
        (ZHANG, "伟", "张"),
        (LI, "娜", "李"),
        (WANG, "强", "王"),
        (ZHAO, "敏", "赵"),
        (STAFF_HM, "工作人员", "惠民"),
        (STAFF_XY, "工作人员", "星苑"),
        (ADMIN_ID, "县人大", "联络科"),
    ]:
        fake.add_user(uid, first, last)
    fake.add_channel(WALL_HM, "惠民回音壁")
    fake.add_channel(WALL_XY, "星苑回音壁")


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    server = FakeTelegram()
    await server.start()
    populate(server)
    yield server
    await server.stop()


def settings_for(fake: FakeTelegram, tmp_path: Path, **extra: object) -> Settings:
    stations = tmp_path / "stations.yaml"
    stations.write_text(STATIONS_YAML, encoding="utf-8")
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        telegram_token=fake.token,
        telegram_base_url=fake.base_url,
        database=tmp_path / "liaison.db",
        database_url=database_url(tmp_path),
        stations_file=stations,
        staff_ids=(ADMIN_ID,),
        poll_timeout=1,
        **extra,  # type: ignore[arg-type]
    )


@pytest.fixture
async def harness(fake: FakeTelegram, tmp_path: Path) -> AsyncIterator[Harness]:
    app = await build(settings_for(fake, tmp_path), limits=TEST_LIMITS)
    await app.start()
    h = Harness(fake, app)
    try:
        yield h
    finally:
        # the application the test left running: a test that restarts the bot replaces h.app,
        # and an application never stopped keeps its database thread (pytest would not exit)
        await h.app.stop()
