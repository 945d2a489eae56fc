"""Issue 8, privacy: each defect through the real bot (the PTB Application against the fake
Bot API server, or `liaison-bot run` as a process)."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from tests.fake_telegram import FakeTelegram
from tests.integration.conftest import RESIDENT, ZHANG
from tests.integration.test_subprocess import ProcessHarness, bot_env, output, start
from tests.integration.test_wish_loop import leave_wish

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
