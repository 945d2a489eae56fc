"""Updates are stored before they are confirmed, so a crash between the two loses nothing."""

from __future__ import annotations

import json
from pathlib import Path

from bot.app import build
from bot.clock import SystemClock
from storage.db import Database
from storage.repositories import Repos
from tests.fake_telegram import FakeTelegram
from tests.integration.conftest import RESIDENT, TEST_LIMITS, settings_for


def start_update(update_id: int, user_id: int, text: str) -> dict:
    return {
        "update_id": update_id,
        "message": {
            "message_id": 5,
            "date": 1_760_000_000,
            "chat": {"id": user_id, "type": "private", "first_name": "小明"},
            "from": {"id": user_id, "is_bot": False, "first_name": "小明"},
            "text": text,
            "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
        },
    }


async def test_an_update_confirmed_but_not_processed_is_processed_after_restart(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    settings = settings_for(fake, tmp_path)
    fake.add_user(RESIDENT, "小明", "刘", started=True)  # they wrote to the bot before the crash
    # The previous process stored the update (and so confirmed its offset), then died.
    db = Database(settings.database_target())
    await db.connect()
    async with db.transaction() as conn:
        await Repos(conn).inbox_add(
            "telegram",
            77,
            json.dumps(start_update(77, RESIDENT, "/start huimin")),
            SystemClock().now(),
        )
    await db.close()
    fake.send_text(RESIDENT, "/help")  # a newer update still waiting at Telegram

    app = await build(settings, limits=TEST_LIMITS)
    await app.start()
    try:
        welcome = await fake.wait_for(chat_id=RESIDENT, text_contains="惠民社区代表联络站")
        assert welcome
        await fake.wait_for(chat_id=RESIDENT, text_contains="/new")
    finally:
        await app.stop()


async def test_a_redelivered_update_is_handled_once(fake: FakeTelegram, tmp_path: Path) -> None:
    settings = settings_for(fake, tmp_path)
    fake.add_user(RESIDENT, "小明", "刘", started=True)
    app = await build(settings, limits=TEST_LIMITS)
    await app.start()
    try:
        update = json.dumps(start_update(5000, RESIDENT, "/start huimin"))
        for expected_new in (True, False):  # Telegram delivers the same update twice
            async with app.db.transaction() as conn:
                assert (
                    await Repos(conn).inbox_add("telegram", 5000, update, SystemClock().now())
                    is expected_new
                )
            app.poller.wake()
        await fake.wait_for(chat_id=RESIDENT, text_contains="惠民社区代表联络站")
        await fake.expect_no_message(RESIDENT, within=0.5)
    finally:
        await app.stop()
