"""Delivery against Telegram's error answers: 429, 403, 400, 5xx and timeouts; duplicate updates;
a backup taken while the bot runs."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import sqlite3
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.app import build
from bot.clock import SystemClock
from bot.operator import EXIT_FAILURE
from storage.repositories import Repos
from tests.engines import sqlite_only
from tests.fake_telegram import FakeTelegram
from tests.integration.conftest import (
    RESIDENT,
    STAFF_HM,
    TEST_LIMITS,
    ZHANG,
    Harness,
    assert_no_invalid_calls,
    settings_for,
)
from tests.integration.test_broadcast import final_report, preview_for_station
from tests.integration.test_wish_loop import leave_wish, open_bot

# Retries come quickly here so the error paths can be watched to the end.
FAST_RETRY = dataclasses.replace(TEST_LIMITS, base_backoff=0.1, max_backoff=0.4, max_attempts=4)
PEOPLE = [720001, 720002, 720003, 720004]


@pytest.fixture
async def quick(fake: FakeTelegram, tmp_path: Path) -> AsyncIterator[Harness]:
    app = await build(settings_for(fake, tmp_path, http_timeout=1.0), limits=FAST_RETRY)
    await app.start()
    try:
        yield Harness(fake, app)
    finally:
        await app.stop()


async def with_residents(h: Harness) -> None:
    await open_bot(h, STAFF_HM, ZHANG)
    for uid in PEOPLE:
        h.fake.add_user(uid, "居民", "郑")
        await h.start_bot(uid, "huimin")
    await h.settle()
    h.fake.consume_all()


async def broadcast(h: Harness, text: str) -> str:
    preview, count = await preview_for_station(h, STAFF_HM, text)
    h.fake.press(STAFF_HM, preview, f"确认发送（{count} 人）")
    progress = await h.fake.wait_for(chat_id=STAFF_HM, text_contains="群发 #")
    return await final_report(h, STAFF_HM, progress, timeout=20)


async def outbox_rows(h: Harness, chat_id: int) -> list[sqlite3.Row]:
    async with h.app.db.read() as conn:
        cursor = await conn.execute(
            "SELECT status, attempts, last_error FROM outbox WHERE chat_id = ? ORDER BY id",
            (str(chat_id),),
        )
        return list(await cursor.fetchall())


def copies(fake: FakeTelegram, chat_id: int, text: str) -> int:
    return sum(1 for m in fake.messages_to(chat_id) if text in m.content)


async def test_429_pauses_only_that_chat_and_delivers_later(quick: Harness) -> None:
    h, fake = quick, quick.fake
    await with_residents(h)
    slow = PEOPLE[0]
    fake.fail_next(chat_id=slow, error_code=429, retry_after=2)
    loop = asyncio.get_running_loop()
    preview, count = await preview_for_station(h, STAFF_HM, "周末停电检修通知")
    pressed = loop.time()
    fake.press(STAFF_HM, preview, f"确认发送（{count} 人）")
    for uid in PEOPLE[1:]:  # the others are not held up by one chat's 429
        await fake.wait_for(chat_id=uid, text_contains="停电检修", timeout=1.5)
    # an interactive answer to someone else is not held up either
    answer = await h.say(PEOPLE[1], "/help")
    assert answer and copies(fake, slow, "停电检修") == 0
    await fake.wait_for(chat_id=slow, text_contains="停电检修", timeout=5)
    assert loop.time() - pressed >= 1.95  # Telegram's retry_after was honoured
    assert copies(fake, slow, "停电检修") == 1
    await h.settle()
    assert [r["status"] for r in await outbox_rows(h, slow)] == ["sent"]
    assert fake.stats.too_many_requests_by_chat[slow] == 1  # exactly the injected one


async def test_403_marks_unreachable_and_the_station_is_told(quick: Harness) -> None:
    h, fake = quick, quick.fake
    await open_bot(h, STAFF_HM, ZHANG)
    fake.block(ZHANG, notify=False)  # the deputy blocked the bot after opening it
    receipt = await leave_wish(h, RESIDENT, "huimin", "道路交通", "路口的护栏被车撞歪了")
    note = await fake.wait_for(chat_id=STAFF_HM, text_contains="无法给")
    assert "张代表" in note.text
    await h.settle()
    rows = await outbox_rows(h, ZHANG)
    assert rows and all(r["status"] == "unreachable" for r in rows)
    assert all(r["attempts"] <= 1 for r in rows)  # no retries for a 403
    calls = [c for c in fake.injected_failures + fake.rejected if c.params.get("chat_id") == ZHANG]
    assert len(calls) == 1  # the rest of the queue to him was not tried
    # when he opens the bot again, he is reachable again
    fake.unblock(ZHANG, notify=False)
    await h.start_bot(ZHANG)
    async with h.app.db.read() as conn:
        user = await Repos(conn).user_by_external("telegram", str(ZHANG))
    assert user is not None and user.unreachable_at is None
    assert receipt


async def test_400_chat_not_found_is_unreachable_other_400_is_a_dead_letter(
    quick: Harness,
) -> None:
    h, fake = quick, quick.fake
    await with_residents(h)
    gone, bad = PEOPLE[0], PEOPLE[1]
    fake._chats.pop(gone)  # the chat no longer exists on Telegram's side: 400 chat not found
    fake.fail_next(chat_id=bad, error_code=400, description="Bad Request: can't parse entities")
    report = await broadcast(h, "社区食堂开业")
    assert "无法送达 1 人" in report and "发送失败 1 人" in report
    assert f"送达 {len(PEOPLE) - 2} 人" in report
    [unreachable] = await outbox_rows(h, gone)
    assert unreachable["status"] == "unreachable" and "chat not found" in unreachable["last_error"].lower()
    [dead] = await outbox_rows(h, bad)
    assert dead["status"] == "dead" and "can't parse entities" in dead["last_error"].lower()
    assert dead["attempts"] == 1  # a 400 is not retried
    assert copies(fake, bad, "社区食堂") == 0


async def test_5xx_and_timeouts_back_off_then_deliver(quick: Harness) -> None:
    h, fake = quick, quick.fake
    await with_residents(h)
    flaky, slow = PEOPLE[0], PEOPLE[1]
    fake.fail_next(chat_id=flaky, error_code=502, times=2)
    fake.delay_next(1.5, chat_id=slow, process=False)  # longer than the 1 s client timeout
    report = await broadcast(h, "流感疫苗接种")
    assert f"送达 {len(PEOPLE)} 人" in report
    for uid in PEOPLE:
        assert copies(fake, uid, "流感疫苗") == 1, uid
    [row] = await outbox_rows(h, flaky)
    assert row["status"] == "sent" and row["attempts"] == 3
    [row] = await outbox_rows(h, slow)
    assert row["status"] == "sent" and row["attempts"] == 2


async def test_nothing_is_retried_forever(quick: Harness) -> None:
    h, fake = quick, quick.fake
    await with_residents(h)
    down, throttled = PEOPLE[0], PEOPLE[1]
    fake.fail_next(chat_id=down, error_code=500, times=1000)
    fake.fail_next(chat_id=throttled, error_code=429, retry_after=1, times=1000)
    preview, count = await preview_for_station(h, STAFF_HM, "天然气安全检查")
    fake.press(STAFF_HM, preview, f"确认发送（{count} 人）")
    progress = await fake.wait_for(chat_id=STAFF_HM, text_contains="群发 #")
    for _ in range(250):  # the 500s give up after max_attempts
        [row] = await outbox_rows(h, down)
        if row["status"] != "pending":
            break
        await asyncio.sleep(0.02)
    assert row["status"] == "dead" and row["attempts"] == FAST_RETRY.max_attempts
    assert "Internal Server Error" in row["last_error"]
    # the 429s are given more room (Telegram is allowed to be busy), but not forever either
    async with h.app.db.transaction() as conn:  # skip the waiting: make the retries due now
        await conn.execute(
            "UPDATE outbox SET attempts = ? WHERE chat_id = ?",
            (FAST_RETRY.max_attempts * 3 - 1, str(throttled)),
        )
    await h.settle(within=5)
    [row] = await outbox_rows(h, throttled)
    assert row["status"] == "dead" and "retry in 1" in row["last_error"].lower()
    report = await final_report(h, STAFF_HM, progress)
    assert "发送失败 2 人" in report


async def test_a_redelivered_confirm_creates_one_wish(harness: Harness) -> None:
    h, fake = harness, harness.fake
    await open_bot(h, ZHANG)
    welcome = await h.start_bot(RESIDENT, "huimin")
    prompt = await h.press(RESIDENT, welcome, "我要留言")
    prompt = await h.press(RESIDENT, prompt, "道路交通")
    more = await h.say(RESIDENT, "人行道的地砖松动了")
    step = await h.press(RESIDENT, more, "下一步")
    step = await h.press(RESIDENT, step, "同意公开")
    confirm = await h.press(RESIDENT, step, "跳过")
    update = fake.press(RESIDENT, confirm, "确认提交")
    receipt = await fake.next_message(RESIDENT)
    assert "已收到您的心愿" in receipt.text
    await h.settle()
    # Telegram delivers the same update again (a webhook retry, or an unconfirmed offset)
    async with h.app.db.transaction() as conn:
        stored_again = await Repos(conn).inbox_add(
            "telegram", update["update_id"], json.dumps(update), SystemClock().now()
        )
    assert stored_again is False
    # and the resident taps 确认提交 a second time before the keyboard disappears
    fake.press_raw(RESIDENT, confirm.message_id, "do")
    h.app.poller.wake()
    await h.settle()
    async with h.app.db.read() as conn:
        count = await (await conn.execute("SELECT COUNT(*) FROM wishes")).fetchone()
    assert count[0] == 1
    cards = [m for m in fake.messages_to(ZHANG) if "人行道的地砖" in m.content and m.buttons]
    assert len(cards) == 1
    assert_no_invalid_calls(fake)


@sqlite_only("`liaison-bot backup` copies the SQLite file; PostgreSQL is backed up with pg_dump")
async def test_backup_while_running_opens_and_has_the_data(harness: Harness, tmp_path: Path) -> None:
    h = harness
    await open_bot(h, ZHANG)
    receipt = await leave_wish(h, RESIDENT, "huimin", "道路交通", "小区车库的排水沟堵了")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIAISON_")}
    env["LIAISON_DATABASE"] = str(h.app.settings.database)
    target = tmp_path / "backups" / "copy.db"
    target.parent.mkdir()
    async def backup() -> tuple[int | None, str]:
        proc = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).parent / "liaison-bot"),
            "backup",
            str(target),
            env=env,
            cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await proc.communicate()
        return proc.returncode, out.decode()

    # the bot keeps working while the copy is taken
    h.fake.send_text(RESIDENT, "/my")
    code, out = await backup()
    assert code == 0, out
    await h.fake.wait_for(chat_id=RESIDENT, text_contains=receipt)
    copy = sqlite3.connect(target)
    try:
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert copy.execute("SELECT receipt FROM wishes").fetchall() == [(receipt,)]
        assert copy.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] > 0
    finally:
        copy.close()
    # a second backup to the same name is refused rather than overwriting it
    code, out = await backup()
    assert code == EXIT_FAILURE and "--force" in out
