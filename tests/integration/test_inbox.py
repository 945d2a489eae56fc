"""Updates are stored before they are confirmed, so a crash between the two loses nothing."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from bot.app import build
from bot.clock import SystemClock
from storage.db import Database, fetch_all
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


async def test_an_update_is_never_marked_done_before_its_remembered_question_is_stored(
    fake: FakeTelegram, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The question an FAQ answer remembers (for 留言给代表) is written behind: it joins the
    transaction of the inbox's done-marks, so the update that asked it is marked done in the
    same commit or after, never before (a crash in between processes it again)."""
    monkeypatch.setattr("bot.flows.QUESTION_FLUSH_SECONDS", 3600.0)  # only the done-marks carry it
    settings = settings_for(fake, tmp_path)
    fake.add_user(RESIDENT, "小明", "刘", started=True)
    app = await build(settings, limits=TEST_LIMITS)
    await app.start()
    try:
        fake.send_text(RESIDENT, "/start huimin")
        await fake.wait_for(chat_id=RESIDENT, text_contains="惠民社区代表联络站")
        fake.send_text(RESIDENT, "接待日是哪天？")
        await fake.wait_for(chat_id=RESIDENT, text_contains="每周三")
        for _ in range(1000):  # until the done-marks are written (a bound, not a timing test)
            async with app.db.read() as conn:  # one consistent look at both tables
                done = await fetch_all(
                    conn,
                    "SELECT processed_at FROM inbox WHERE payload LIKE ?",
                    ("%接待日是哪天%",),
                )
                sessions = await fetch_all(conn, "SELECT data FROM sessions")
            if done and done[0][0] is not None:
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("the question's update was never marked done")
        assert [json.loads(s[0]).get("question") for s in sessions] == ["接待日是哪天？"]
    finally:
        await app.stop()
