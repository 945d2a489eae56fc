"""Issue 8, privacy: each defect through the real bot (the PTB Application against the fake
Bot API server, or `liaison-bot run` as a process)."""

from __future__ import annotations

import asyncio
import signal
from datetime import UTC, datetime
from pathlib import Path

from bot.app import LiaisonApp, build
from bot.clock import ManualClock
from bot.i18n import Catalog
from storage.repositories import Repos
from tests.conftest import STATIONS_YAML
from tests.fake_telegram import FakeTelegram
from tests.integration.conftest import (
    RESIDENT,
    RESIDENT_2,
    STAFF_HM,
    TEST_LIMITS,
    ZHANG,
    Harness,
    assert_no_invalid_calls,
    settings_for,
)
from tests.integration.test_subprocess import ProcessHarness, bot_env, output, start
from tests.integration.test_wish_loop import leave_wish, open_bot

PHONE = "13912345678"
WISH = "我是刘小明，楼下垃圾站三天没人清运，臭气熏天"


async def test_debug_logging_never_writes_message_content(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    """LIAISON_LOG_LEVEL=DEBUG: aiosqlite, telegram, httpx and httpcore would log SQL
    parameters, updates and request bodies; they are capped, and the log has ids only."""
    env = bot_env(fake, tmp_path)
    env["LIAISON_LOG_LEVEL"] = "DEBUG"
    proc = await start(env, tmp_path)
    # read as it comes: a DEBUG log fills the pipe, and a blocked write would stall the bot
    collected = asyncio.create_task(output(proc))
    try:
        h = ProcessHarness(fake)
        await h.start_bot(ZHANG)
        receipt = await leave_wish(h, RESIDENT, "huimin", "道路交通", WISH, phone=PHONE)  # type: ignore[arg-type]
        card = await fake.wait_for(
            chat_id=ZHANG, text_contains=receipt, predicate=lambda m: bool(m.buttons), timeout=10
        )
        assert PHONE in card.text  # the deputy got it: the content went through the whole stack
        fake.send_text(ZHANG, "明天上午派人去清运", card)
        await fake.wait_for(chat_id=RESIDENT, text_contains="明天上午派人去清运", timeout=10)
    finally:
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), 20)
    log = await collected
    assert code == 0, log[-2000:]
    assert "submitted at station huimin" in log  # the log was captured (ids, not content)
    for secret in (PHONE, "1391234", "刘小明", "小明", "垃圾站", "明天上午派人", fake.token):
        assert secret not in log, f"{secret!r} was logged"


async def test_the_consent_prompt_says_when_and_where_a_wish_becomes_public(
    harness: Harness,
) -> None:
    """The prompt used to promise the 回音壁 after resolution only, while /wall listed a public
    wish from submission. Decision: /wall keeps showing it from submission (masked), and the
    prompt says so, in both locales."""
    h = harness
    welcome = await h.start_bot(RESIDENT, "huimin")
    prompt = await h.press(RESIDENT, welcome, "我要留言")
    prompt = await h.press(RESIDENT, prompt, "环境卫生")
    more = await h.say(RESIDENT, "我是刘小明，小区垃圾桶满了没人清，电话13912345678")
    consent = await h.press(RESIDENT, more, "下一步")
    text = consent.text
    assert "心愿墙" in text and "/wall" in text and "提交后立即" in text
    assert "回音壁" in text and "办结后" in text and "打码" in text
    confirm = await h.press(RESIDENT, consent, "同意公开")
    confirm = await h.press(RESIDENT, confirm, "跳过")
    receipt_msg = await h.press(RESIDENT, confirm, "确认提交")
    receipt = receipt_msg.text.split("编号 ")[1].split("（")[0].strip()
    # as the prompt said: on /wall at once, masked, before anyone resolved it
    await h.start_bot(RESIDENT_2, "huimin")
    wall = await h.say(RESIDENT_2, "/wall")
    assert receipt in wall.text and "垃圾桶满了" in wall.text
    assert "刘小明" not in wall.text and "13912345678" not in wall.text
    for locale, words in {
        "zh_CN": ("心愿墙", "/wall", "提交后立即", "回音壁", "办结后", "打码"),
        "en": ("wish wall", "/wall", "as soon as you submit", "echo wall", "once it is resolved", "masked"),
    }.items():
        prompt_text = Catalog(locale).plain("new.public")
        for word in words:
            assert word in prompt_text, (locale, word)


async def test_a_pending_reply_expires_with_a_polite_note(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    """A deputy pressed 回复 and never typed it; days later their next message went to the
    resident. Now it waits LIAISON_INPUT_TIMEOUT_MINUTES (30) and then is dropped, with a note."""
    clock = ManualClock(datetime.now(UTC))
    app = await build(settings_for(fake, tmp_path), clock=clock, limits=TEST_LIMITS)
    await app.start()
    try:
        h = Harness(fake, app)
        await open_bot(h, ZHANG)
        first = await leave_wish(h, RESIDENT, "huimin", "道路交通", "人行道上的地砖松动了")
        card = await h.card_for(ZHANG, first)
        prompt = await h.press(ZHANG, card, "回复")
        assert first in prompt.text
        clock.advance(minutes=31)  # the deputy went to do something else
        note = await h.say(ZHANG, "HM-2026-0002 这条我来看看")
        assert "已自动取消" in note.text and first in note.text and "30" in note.text
        await h.settle()
        fake.consume_all(ZHANG)
        assert not [m for m in fake.unconsumed(RESIDENT) if "我来看看" in m.content]
        zhang = await _user_id(app, ZHANG)
        async with app.db.read() as conn:
            state = await Repos(conn).session(zhang)
        assert state is None or "input" not in state[1]
        # within the time it still works as before
        prompt = await h.press(ZHANG, card, "回复")
        clock.advance(minutes=29)
        await h.say(ZHANG, "明天上午去现场")
        await fake.wait_for(chat_id=RESIDENT, text_contains="明天上午去现场")
        assert_no_invalid_calls(fake)
    finally:
        await app.stop()


async def _user_id(app: LiaisonApp, tg_id: int) -> int:
    async with app.db.read() as conn:
        user = await Repos(conn).user_by_external("telegram", str(tg_id))
    assert user is not None
    return user.id


async def test_a_deputy_removed_from_the_stations_file_hears_nothing_more(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    """张代表 leaves the stations file and the bot restarts: the open wish goes back to the
    staff (改派), and the resident's supplement reaches the staff, not 张代表."""
    settings = settings_for(fake, tmp_path)
    app = await build(settings, limits=TEST_LIMITS)
    await app.start()
    try:
        h = Harness(fake, app)
        await open_bot(h, ZHANG, STAFF_HM)
        receipt = await leave_wish(h, RESIDENT, "huimin", "道路交通", "小区门口的路灯坏了")
        await h.card_for(ZHANG, receipt)
        await h.settle()
    finally:
        await app.stop()
    fake.consume_all()
    assert settings.stations_file is not None
    settings.stations_file.write_text(
        STATIONS_YAML.replace("      - {telegram_id: 800001, name: 张代表, categories: [traffic]}\n", ""),
        encoding="utf-8",
    )
    app = await build(settings, limits=TEST_LIMITS)
    await app.start()
    try:
        h = Harness(fake, app)
        notice = await fake.wait_for(chat_id=STAFF_HM, text_contains="已不在联络站名单中")
        assert receipt in notice.text and notice.button("改派")
        view = await h.say(RESIDENT, receipt)  # the resident opens their wish and adds to it
        await h.press(RESIDENT, view, "补充")
        await h.say(RESIDENT, "晚上九点以后完全不亮")
        await fake.wait_for(chat_id=STAFF_HM, text_contains="晚上九点以后完全不亮")
        await h.settle()
        assert fake.unconsumed(ZHANG) == []
        fake.consume_all(STAFF_HM)
        # 改派 from the notice: the usual transfer flow, without the deputy who left
        options = await h.press(STAFF_HM, notice, "改派")
        assert [b[0] for b in options.buttons] == ["李代表", "王代表"]
        assert_no_invalid_calls(fake)
    finally:
        await app.stop()
