"""kill -9 at the worst moments, then restart: every message arrives, at most one duplicate each.

`liaison-bot run` runs as a real process against the fake Bot API server; the fake plays the
users. Rates are raised through LIAISON_RATE_* so a 500-recipient broadcast takes seconds.
"""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from bot.clock import SystemClock
from bot.i18n import Catalog
from bot.services import Liaison
from bot.stations_file import parse_stations_yaml
from storage.db import Database
from tests.conftest import STATIONS_YAML, TZ
from tests.engines import database_target
from tests.fake_telegram import FakeTelegram, SentMessage
from tests.integration.conftest import RESIDENT, STAFF_HM, WALL_HM, ZHANG
from tests.integration.test_subprocess import ProcessHarness, bot_env, start

CROWD = list(range(730000, 730500))  # 500 residents of 惠民
IN_CROWD = frozenset(CROWD)


def crash_env(fake: FakeTelegram, tmp_path: Path) -> dict[str, str]:
    env = bot_env(fake, tmp_path)
    env.update(
        LIAISON_RATE_GLOBAL="250",
        LIAISON_RATE_PER_CHAT="50",
        LIAISON_RATE_CHAT_BURST="20",
        LIAISON_RATE_GROUP_PER_MINUTE="3000",
        LIAISON_LOG_LEVEL="WARNING",
    )
    return env


async def kill_9(proc: asyncio.subprocess.Process) -> None:
    proc.kill()
    await proc.wait()


async def stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 20)


async def requested(fake: FakeTelegram, what: Callable[[dict], bool], timeout: float = 15) -> None:  # noqa: ASYNC109
    """Wait until the bot has *sent* a matching request (it may not have been answered yet)."""
    await fake.wait_until(
        lambda: any(what(r.params) for r in fake.requests), timeout, what="a request"
    )


def copies(fake: FakeTelegram, chat_id: int, text: str) -> int:
    return sum(1 for m in fake.messages_to(chat_id) if text in m.content)


async def walk_to_confirm(h: ProcessHarness, user: int, text: str) -> SentMessage:
    welcome = await h.start_bot(user, "huimin")
    prompt = await h.press(user, welcome, "我要留言")
    prompt = await h.press(user, prompt, "道路交通")
    more = await h.say(user, text)
    step = await h.press(user, more, "下一步")
    step = await h.press(user, step, "同意公开")
    return await h.press(user, step, "跳过")


async def test_kill_just_after_a_resident_confirms(fake: FakeTelegram, tmp_path: Path) -> None:
    env = crash_env(fake, tmp_path)
    h = ProcessHarness(fake)
    proc = await start(env, tmp_path)
    try:
        await h.start_bot(ZHANG)
        confirm = await walk_to_confirm(h, RESIDENT, "桥下涵洞积水很深")
        # the receipt is on the wire when the process dies; Telegram never got it
        fake.delay_next(5, method="sendMessage", chat_id=RESIDENT, process=False)
        fake.press(RESIDENT, confirm, "确认提交")
        await requested(fake, lambda p: p.get("chat_id") == RESIDENT and "编号" in str(p))
    finally:
        await kill_9(proc)
    fake.clear_faults()
    proc = await start(env, tmp_path)
    try:
        receipt_msg = await fake.wait_for(
            chat_id=RESIDENT, text_contains="已收到您的心愿", timeout=20
        )
        receipt = receipt_msg.text.split("编号 ")[1].split("（")[0].strip()
        await fake.wait_for(chat_id=ZHANG, text_contains=receipt, timeout=10)
        await asyncio.sleep(1.0)  # anything else still on its way
    finally:
        await stop(proc)
    assert receipt == "HM-2026-0001"  # one wish, no second receipt number
    db = Database(database_target(tmp_path))
    await db.connect()
    try:
        async with db.read() as conn:
            stored = await (await conn.execute("SELECT receipt FROM wishes")).fetchall()
    finally:
        await db.close()
    assert [r[0] for r in stored] == ["HM-2026-0001"]
    assert not [m for m in fake.sent if "HM-2026-0002" in m.content]
    assert 1 <= copies(fake, RESIDENT, "已收到您的心愿") <= 2
    cards = [m for m in fake.messages_to(ZHANG) if receipt in m.content and m.buttons]
    assert 1 <= len(cards) <= 2


async def seed_crowd(fake: FakeTelegram, tmp_path: Path) -> None:
    """500 residents who opened the bot from 惠民's QR code, stored before the bot starts."""
    db = Database(database_target(tmp_path))
    await db.connect()
    try:
        clock = SystemClock()
        await Liaison(db, Catalog("zh_CN"), clock, TZ).directory.sync_config(
            parse_stations_yaml(STATIONS_YAML)
        )
        now = clock.now().isoformat()
        async with db.transaction() as conn:
            await conn.executemany(
                "INSERT INTO users (channel, external_id, chat_id, display_name, started_at,"
                " station_id, created_at) VALUES ('telegram', ?, ?, '居民', ?, 'huimin', ?)",
                [(str(uid), str(uid), now, now) for uid in CROWD],
            )
    finally:
        await db.close()
    for uid in CROWD:
        fake.add_user(uid, "居民", "冯", started=True)


async def test_kill_in_the_middle_of_a_500_recipient_broadcast(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    await seed_crowd(fake, tmp_path)
    env = crash_env(fake, tmp_path)
    h = ProcessHarness(fake)
    text = "本周日上午联络站开放日，欢迎居民来访"
    proc = await start(env, tmp_path)
    try:
        await h.start_bot(STAFF_HM)
        await asyncio.sleep(0.5)
        fake.consume_all(STAFF_HM)
        fake.send_text(STAFF_HM, "/broadcast")
        await fake.wait_for(chat_id=STAFF_HM, text_contains="群发的内容", timeout=10)
        fake.send_text(STAFF_HM, text)
        audience = await fake.wait_for(chat_id=STAFF_HM, text_contains="发给谁", timeout=10)
        await h.press(STAFF_HM, audience, "本站所有居民")
        await fake.next_message(STAFF_HM, timeout=10)  # the sample
        preview = await fake.next_message(STAFF_HM, timeout=10)
        assert "将发送给 500 人" in preview.text
        fake.press(STAFF_HM, preview, "确认发送（500 人）")
        progress = await fake.wait_for(chat_id=STAFF_HM, text_contains="群发 #", timeout=10)
        # die with about a third delivered
        await fake.wait_until(
            lambda: sum(1 for m in fake.sent if text in m.content) >= 150, 20, what="150 sent"
        )
    finally:
        await kill_9(proc)
    before = Counter(m.chat_id for m in fake.sent if text in m.content and m.chat_id in IN_CROWD)
    assert len(before) < len(CROWD)  # it really was interrupted
    proc = await start(env, tmp_path)
    try:
        await fake.wait_until(
            lambda: {m.chat_id for m in fake.sent if text in m.content} >= set(CROWD),
            30,
            what="everyone to have the broadcast",
        )

        def reported() -> bool:
            current = fake.message(STAFF_HM, progress.message_id)
            return current is not None and "已完成" in current.content

        await fake.wait_until(reported, 15, what="the final report after the restart")
    finally:
        await stop(proc)
    got = Counter(m.chat_id for m in fake.sent if text in m.content and m.chat_id in IN_CROWD)
    assert set(got) == set(CROWD)
    assert max(got.values()) <= 2  # at most one duplicate per recipient for the one crash
    report = fake.message(STAFF_HM, progress.message_id)
    assert report is not None and "送达 500 人" in report.content


async def test_kill_while_the_resolution_is_posted(fake: FakeTelegram, tmp_path: Path) -> None:
    env = crash_env(fake, tmp_path)
    h = ProcessHarness(fake)
    follower = 730900
    fake.add_user(follower, "邻居", "褚")
    result = "已协调市政部门疏通涵洞"
    proc = await start(env, tmp_path)
    try:
        await h.start_bot(ZHANG)
        confirm = await walk_to_confirm(h, RESIDENT, "桥下涵洞积水很深")
        done = await h.press(RESIDENT, confirm, "确认提交")
        receipt = done.text.split("编号 ")[1].split("（")[0].strip()
        card = await fake.wait_for(
            chat_id=ZHANG, text_contains=receipt, predicate=lambda m: bool(m.buttons), timeout=10
        )
        wall = await h.start_bot(follower, "huimin")
        wall = await h.say(follower, "/wall")
        fake.press(follower, wall, f"☆ 我也关注 {receipt}")
        fake.press(ZHANG, card, "受理")
        await fake.wait_for(chat_id=RESIDENT, text_contains="已由", timeout=10)
        card = fake.message(ZHANG, card.message_id)
        assert card is not None
        await h.press(ZHANG, card, "办结")
        # Telegram takes the 回音壁 post but the answer never comes back before the crash
        fake.delay_next(3, chat_id=WALL_HM, process=True)
        fake.send_text(ZHANG, result)
        await requested(fake, lambda p: p.get("chat_id") == WALL_HM)
    finally:
        await kill_9(proc)
    proc = await start(env, tmp_path)
    try:
        await fake.wait_for(chat_id=WALL_HM, text_contains=result, timeout=20)
        await fake.wait_for(chat_id=RESIDENT, text_contains=result, timeout=10)
        await fake.wait_for(chat_id=follower, text_contains="您关注的心愿", timeout=10)
        await asyncio.sleep(3.5)  # let the post Telegram was still holding land as well
    finally:
        await stop(proc)
    assert 1 <= copies(fake, WALL_HM, result) <= 2
    assert 1 <= copies(fake, RESIDENT, result) <= 2
    assert 1 <= copies(fake, follower, "您关注的心愿") <= 2
    rating = [m for m in fake.messages_to(RESIDENT) if result in m.content]
    assert [b[0] for b in rating[0].buttons] == ["满意", "基本满意", "不满意"]
    await with_db_check(tmp_path)


async def with_db_check(tmp_path: Path) -> None:
    """After the crash and restart the wish is resolved once, with nothing left to send."""
    db = Database(database_target(tmp_path))
    await db.connect()
    try:
        async with db.read() as conn:
            wishes = await (await conn.execute("SELECT status FROM wishes")).fetchall()
            pending = await (
                await conn.execute("SELECT COUNT(*) FROM outbox WHERE status = 'pending'")
            ).fetchone()
    finally:
        await db.close()
    assert [w[0] for w in wishes] == ["resolved"]
    assert pending[0] == 0
