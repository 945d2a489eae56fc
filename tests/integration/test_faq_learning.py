"""Staff teach the FAQ a question it missed, from /faq_gaps, end to end through the fake
Bot API: the likely entries are offered as buttons, one tap adds the question to an entry,
it works at once, survives a restart and is exported with ``liaison-bot faq export``."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml

from bot.app import build
from bot.cli import main as cli_main
from storage.repositories import fetch_all
from tests.fake_telegram import FakeTelegram
from tests.integration.conftest import (
    RESIDENT,
    RESIDENT_2,
    STAFF_HM,
    TEST_LIMITS,
    Harness,
    assert_no_invalid_calls,
    settings_for,
)

MISSED = "去站里找代表要带户口本吗"
MATERIALS = "一般不需要特别的材料"


async def at_station(h: Harness, user: int, station: str) -> None:
    await h.start_bot(user, station)
    await h.settle()
    h.fake.consume_all(user)


async def test_staff_turn_a_miss_into_a_phrasing_with_one_tap(
    harness: Harness, fake: FakeTelegram, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = harness
    await at_station(h, RESIDENT, "huimin")
    await at_station(h, RESIDENT_2, "huimin")
    before = await h.say(RESIDENT, MISSED)
    assert MATERIALS not in before.text  # missed: suggestions at best
    await h.say(RESIDENT_2, MISSED + "？")

    await h.start_bot(STAFF_HM)
    h.fake.consume_all(STAFF_HM)
    gaps = await h.say(STAFF_HM, "/faq_gaps")
    assert MISSED in gaps.text and "×2" in gaps.text
    teach = gaps.button("教第 1 组")
    assert teach is not None

    choose = await h.press(STAFF_HM, gaps, "教第 1 组")
    assert MISSED in choose.text
    assert choose.button("需要带什么材料？") is not None  # the likely entry is offered
    assert choose.button("➕ 新建一条常见问题") is not None
    taught = await h.press(STAFF_HM, choose, "需要带什么材料？")
    assert "已把" in taught.text and "需要带什么材料？" in taught.text

    # effective at once, for anyone asking it that way
    after = await h.say(RESIDENT_2, MISSED)
    assert MATERIALS in after.text
    # the gap is gone from the list
    gaps_after = await h.say(STAFF_HM, "/faq_gaps")
    assert MISSED not in gaps_after.text
    async with h.app.db.read() as conn:
        rows = await fetch_all(conn, "SELECT entry_id, text FROM faq_alternates")
    assert [(r[0], r[1].rstrip("？")) for r in rows] == [("materials", MISSED)]
    async with h.app.db.read() as conn:
        assert await fetch_all(conn, "SELECT * FROM faq_misses") == []  # both wordings
    assert_no_invalid_calls(h.fake)

    # kept across a restart: a new application on the same database
    await h.app.stop()
    app = await build(settings_for(fake, tmp_path), limits=TEST_LIMITS)
    await app.start()
    try:
        h2 = Harness(fake, app)
        again = await h2.say(RESIDENT, MISSED)
        assert MATERIALS in again.text
    finally:
        await app.stop()
        h.app = await build(settings_for(fake, tmp_path), limits=TEST_LIMITS)
        await h.app.start()

    # exported with the rest of the FAQ, as a file the bot loads
    settings = settings_for(fake, tmp_path)
    for key, value in {
        "LIAISON_TELEGRAM_TOKEN": settings.telegram_token,
        "LIAISON_DATABASE": str(settings.database),
        "LIAISON_STATIONS_FILE": str(settings.stations_file),
    }.items():
        monkeypatch.setenv(key, str(value))
    out = tmp_path / "faq_export.yaml"
    # (in a thread: the command runs its own event loop, as it does from a shell)
    assert await asyncio.to_thread(cli_main, ["faq", "export", str(out)]) == 0
    exported = yaml.safe_load(out.read_text(encoding="utf-8"))
    materials = next(e for e in exported if e["id"] == "materials")
    assert any(a.rstrip("？") == MISSED for a in materials["alternates"])
    assert await asyncio.to_thread(cli_main, ["faq", "export", str(out)]) == 1  # an existing file only with --force


async def test_new_entry_from_a_miss_and_stale_or_foreign_presses(harness: Harness) -> None:
    h = harness
    await at_station(h, RESIDENT, "huimin")
    await h.say(RESIDENT, "小区的充电桩什么时候装")
    await h.start_bot(STAFF_HM)
    h.fake.consume_all(STAFF_HM)
    gaps = await h.say(STAFF_HM, "/faq_gaps")
    choose = await h.press(STAFF_HM, gaps, "教第 1 组")
    new = await h.press(STAFF_HM, choose, "➕ 新建一条常见问题")
    assert "/faq_add 小区的充电桩什么时候装 | 答案" in new.text

    # a resident cannot teach (a forged press): refused, nothing stored
    data = choose.buttons[0][1]
    assert data is not None and data.startswith("ft:")
    mine = await h.say(RESIDENT, "你好")
    h.fake.press_raw(RESIDENT, mine.message_id, data)
    await h.settle()
    assert any("权限" in (a.text or "") for a in h.fake.callback_answers)
    async with h.app.db.read() as conn:
        assert await fetch_all(conn, "SELECT * FROM faq_alternates") == []
    # a press for a miss that no longer exists is a polite refusal, not a crash
    h.fake.press_raw(STAFF_HM, choose.message_id, "fg:999999")
    await h.settle()
    assert_no_invalid_calls(h.fake)
