"""Under load and abuse: concurrent fair processing, per-person limits, long descriptions,
idempotency keys per person, bounded report periods.

Black-box through the real Application and the fake Bot API. No wall-clock assertions: where
speed matters, the test asserts the order in which the fake received the bot's messages.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

from bot.app import build
from bot.clock import SystemClock
from bot.pacing import Limits
from storage.repositories import Repos
from tests.fake_telegram import FakeTelegram, SentMessage
from tests.integration.conftest import (
    RESIDENT,
    RESIDENT_2,
    STAFF_HM,
    TEST_LIMITS,
    WANG,
    ZHANG,
    Harness,
    assert_no_invalid_calls,
    settings_for,
)
from tests.integration.test_wish_loop import leave_wish, open_bot

# Limits generous enough that the per-person limits never interfere where they are not tested.
UNLIMITED = {"limit_messages_per_minute": 0, "limit_presses_per_minute": 0}


@asynccontextmanager
async def harness_with(
    fake: FakeTelegram, tmp_path: Path, limits: Limits = TEST_LIMITS, **settings: object
) -> AsyncIterator[Harness]:
    app = await build(settings_for(fake, tmp_path, **settings), limits=limits)
    await app.start()
    try:
        yield Harness(fake, app)
    finally:
        await app.stop()


def position(fake: FakeTelegram, message: SentMessage) -> int:
    return next(i for i, m in enumerate(fake.sent) if m is message)


# -- concurrency ------------------------------------------------------------------------------


async def test_a_flooding_chat_does_not_hold_up_another(fake: FakeTelegram, tmp_path: Path) -> None:
    """Each chat's replies wait for that chat's sending budget (here 1 a second, no burst), so
    six replies to one resident take five seconds; another resident's /start, sent after all
    six, is answered before the flooder's fourth reply (three seconds of margin for a loaded
    machine). Processed one update at a time, it was answered after the sixth."""
    slow_chats = Limits(
        global_per_second=200, per_chat_per_second=1, per_chat_burst=1, group_per_minute=6000
    )
    async with harness_with(fake, tmp_path, slow_chats, **UNLIMITED) as h:
        await open_bot(h, RESIDENT)
        await asyncio.sleep(1.1)  # the flooder's chat budget is full again after /start
        for _ in range(6):
            fake.send_text(RESIDENT, "/help")
        fake.send_text(RESIDENT_2, "/start huimin")
        other = await fake.wait_for(chat_id=RESIDENT_2, text_contains="惠民", timeout=15)
        await h.settle(within=20)
        flood = [m for m in fake.messages_to(RESIDENT) if "/new" in m.content]
        assert len(flood) == 6  # every one of the flooder's messages was answered, in turn
        assert position(fake, other) < position(fake, flood[3])
        assert_no_invalid_calls(fake)


async def test_one_chats_updates_are_handled_in_order(harness: Harness) -> None:
    """A draft's steps, sent without waiting for the answers, still land in order."""
    h, fake = harness, harness.fake
    welcome = await h.start_bot(RESIDENT, "huimin")
    prompt = await h.press(RESIDENT, welcome, "我要留言")
    await h.press(RESIDENT, prompt, "道路交通")
    for part in ("第一句：路灯坏了", "第二句：已经三天", "第三句：晚上很黑"):
        fake.send_text(RESIDENT, part)
    await h.settle()
    draft = await h.app.liaison.flows.draft(await user_row(h, RESIDENT))
    assert draft is not None
    assert draft.text == "第一句：路灯坏了\n第二句：已经三天\n第三句：晚上很黑"


# -- per-person limits ------------------------------------------------------------------------


async def test_a_flood_gets_one_notice_and_is_not_processed(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    async with harness_with(
        fake, tmp_path, limit_message_burst=5, limit_messages_per_minute=1
    ) as h:
        for _ in range(15):
            fake.send_text(RESIDENT, "/help")
        fake.send_text(RESIDENT_2, "/help")
        await fake.wait_for(chat_id=RESIDENT_2, text_contains="/new")
        await h.settle()
        to_flooder = fake.messages_to(RESIDENT)
        notices = [m for m in to_flooder if "太快" in m.content]
        answers = [m for m in to_flooder if "/new" in m.content]
        assert len(notices) == 1
        assert 5 <= len(answers) <= 6  # the burst, and what trickled back in meanwhile
        # the dropped ones are done with: nothing is left to process, nothing is redone
        async with h.app.db.read() as conn:
            assert await Repos(conn).inbox_unprocessed("telegram") == 0
        # the other resident was never limited
        assert not [m for m in fake.messages_to(RESIDENT_2) if "太快" in m.content]
        assert_no_invalid_calls(fake)


async def test_button_floods_are_limited_too(fake: FakeTelegram, tmp_path: Path) -> None:
    async with harness_with(
        fake, tmp_path, limit_press_burst=3, limit_presses_per_minute=1
    ) as h:
        welcome = await h.start_bot(RESIDENT, "huimin")
        for _ in range(8):
            fake.press(RESIDENT, welcome, "我的心愿")
        await h.settle()
        alerts = [a for a in fake.callback_answers if a.text and "太快" in a.text]
        assert len(alerts) == 1
        assert len([m for m in fake.messages_to(RESIDENT) if m is not welcome]) <= 4


async def test_deputies_and_staff_are_not_limited(fake: FakeTelegram, tmp_path: Path) -> None:
    async with harness_with(
        fake, tmp_path, limit_message_burst=2, limit_messages_per_minute=1
    ) as h:
        for _ in range(6):
            fake.send_text(ZHANG, "/queue")
            fake.send_text(STAFF_HM, "/unassigned")
        await h.settle()
        for worker in (ZHANG, STAFF_HM):
            sent = fake.messages_to(worker)
            assert len(sent) >= 6
            assert not [m for m in sent if "太快" in m.content]


async def test_wishes_per_day_are_limited(fake: FakeTelegram, tmp_path: Path) -> None:
    """Forty wishes in a row must not put forty cards on a deputy's phone."""
    async with harness_with(fake, tmp_path, limit_wishes_per_day=2, **UNLIMITED) as h:
        await open_bot(h, ZHANG, WANG)  # both take traffic, in turn
        for n in range(2):
            await leave_wish(h, RESIDENT, "huimin", "道路交通", f"路口红绿灯坏了，第{n}次反映")
        welcome = await h.start_bot(RESIDENT, "huimin")
        fake.press(RESIDENT, welcome, "我要留言")  # refused on the button itself
        await fake.wait_until(
            lambda: any(a.text and "上限" in a.text for a in fake.callback_answers),
            5,
            what="the refusal",
        )
        answer = await h.say(RESIDENT, "/new")  # and as a message
        assert "上限" in answer.text
        await h.settle()
        async with h.app.db.read() as conn:
            count = await (await conn.execute("SELECT COUNT(*) FROM wishes")).fetchone()
        assert count[0] == 2
        cards = [m for m in fake.sent if "红绿灯" in m.content and m.button("受理")]
        assert len(cards) == 2


# -- long descriptions ------------------------------------------------------------------------


def long_text(length: int) -> str:
    """Readable text without digits (masking must have nothing to hide) of `length` chars."""
    sentence = "小区东门外的下水道堵塞，雨天积水没过脚踝，老人孩子出门很不方便，希望尽快疏通。"
    return (sentence * (length // len(sentence) + 1))[:length]


async def send_description(h: Harness, user: int, text: str) -> SentMessage:
    """Walk to the description step and send `text` as a Telegram client does: in parts of at
    most 4 096 characters, one right after another. Returns the confirmation with buttons."""
    fake = h.fake
    welcome = await h.start_bot(user, "huimin")
    prompt = await h.press(user, welcome, "我要留言")
    await h.press(user, prompt, "道路交通")
    parts = [text[i : i + 4096] for i in range(0, len(text), 4096)]
    for part in parts:
        fake.send_text(user, part)
    more = await fake.wait_for(chat_id=user, predicate=lambda m: bool(m.button("下一步")))
    await h.settle()
    assert not [m for m in fake.messages_to(user) if "太长" in m.content]
    fake.consume_all(user)
    step = await h.press(user, more, "下一步")
    step = await h.press(user, step, "同意公开")
    h.fake.press(user, step, "跳过")
    confirm = await fake.wait_for(chat_id=user, predicate=lambda m: bool(m.button("确认提交")))
    fake.consume_all(user)
    return confirm


def squeeze(text: str) -> str:
    return "".join(text.split())


async def test_descriptions_of_4096_and_10000_characters_reach_the_deputy_whole(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    async with harness_with(fake, tmp_path, **UNLIMITED) as h:
        await open_bot(h, ZHANG, WANG)  # both take traffic, in turn
        for length, user in ((4096, RESIDENT), (10_000, RESIDENT_2)):
            text = long_text(length)
            confirm = await send_description(h, user, text)
            fake.press(user, confirm, "确认提交")
            receipt_msg = await fake.wait_for(chat_id=user, text_contains="已收到您的心愿")
            receipt = receipt_msg.text.split("编号 ")[1].split("（")[0].strip()
            card = await fake.wait_for(lambda m: bool(m.button("受理")))
            await h.settle()
            # The card is the messages from the one naming the receipt to the one with the
            # buttons: every part under Telegram's limit, in order, the buttons on the last.
            to_deputy = fake.messages_to(card.chat_id)
            first = next(i for i, m in enumerate(to_deputy) if receipt in m.content)
            parts = to_deputy[first : to_deputy.index(card) + 1]
            assert all(len(m.content) <= 4096 for m in parts)
            assert [bool(m.buttons) for m in parts] == [False] * (len(parts) - 1) + [True]
            assert squeeze(text) in squeeze("".join(m.content for m in parts))
            if length > 4096:
                assert len(parts) >= 3
            fake.consume_all()
        assert_no_invalid_calls(fake)


# -- idempotency keys -------------------------------------------------------------------------


async def test_a_reused_update_id_does_not_return_another_residents_wish(
    harness: Harness,
) -> None:
    """Telegram starts update ids again at a random number after a week without updates. Bob's
    确认提交 arriving with the id Alice's had a week ago must save Bob's wish and give Bob his
    own receipt. (With keys made of the update id alone, Bob got Alice's receipt.)"""
    h, fake = harness, harness.fake
    await open_bot(h, ZHANG)
    alice, bob = RESIDENT, RESIDENT_2
    alice_confirm = await send_description(h, alice, "小区门口的路灯坏了三天，晚上很黑")
    alice_press = fake.press(alice, alice_confirm, "确认提交")
    alice_receipt = await fake.wait_for(chat_id=alice, text_contains="已收到您的心愿")
    bob_confirm = await send_description(h, bob, "菜市场旁边的人行道被占，行人只能走机动车道")
    await h.settle()
    # A quiet week: the inbox forgets Alice's update, and Telegram reuses its id for Bob's press.
    async with h.app.db.transaction() as conn:
        await conn.execute("UPDATE inbox SET processed_at='2000-01-01T00:00:00+00:00'")
        await Repos(conn).inbox_prune("telegram", SystemClock().now() - timedelta(days=7))
    fake._next_update_id = alice_press["update_id"]  # what Telegram does after a quiet week
    fake.press(bob, bob_confirm, "确认提交")
    bob_receipt = await fake.wait_for(chat_id=bob, text_contains="已收到您的心愿")
    await h.settle()
    assert bob_receipt.text != alice_receipt.text
    async with h.app.db.read() as conn:
        texts = [r[0] for r in await (await conn.execute("SELECT text FROM wishes")).fetchall()]
    assert len(texts) == 2 and any("人行道" in t for t in texts)


async def test_idempotency_keys_expire_with_the_inbox(harness: Harness) -> None:
    h = harness
    await open_bot(h, ZHANG)
    await leave_wish(h, RESIDENT, "huimin", "道路交通", "小区门口的路灯坏了三天，晚上很黑")
    await h.settle()
    async with h.app.db.transaction() as conn:
        row = await (await conn.execute("SELECT idempotency_key FROM wishes")).fetchone()
        assert row[0] is not None and row[0].startswith(f"tg:{RESIDENT}:{RESIDENT}:")
        await Repos(conn).inbox_prune("telegram", SystemClock().now() - timedelta(days=7))
        row = await (await conn.execute("SELECT idempotency_key FROM wishes")).fetchone()
        assert row[0] is not None  # younger than the inbox's week: kept
        await Repos(conn).inbox_prune("telegram", SystemClock().now() + timedelta(seconds=1))
        row = await (await conn.execute("SELECT idempotency_key FROM wishes")).fetchone()
        assert row[0] is None
        events = await (
            await conn.execute("SELECT COUNT(*) FROM wish_events WHERE idempotency_key IS NOT NULL")
        ).fetchone()
        assert events[0] == 0


async def test_a_duplicated_confirm_makes_one_wish(harness: Harness) -> None:
    """The same press delivered twice (stored twice by a webhook retry) and pressed twice."""
    h, fake = harness, harness.fake
    await open_bot(h, ZHANG)
    confirm = await send_description(h, RESIDENT, "人行道的地砖松动了，下雨踩上去溅一身水")
    update = fake.press(RESIDENT, confirm, "确认提交")
    fake.press_raw(RESIDENT, confirm.message_id, "do")
    async with h.app.db.transaction() as conn:
        await Repos(conn).inbox_add(
            "telegram", update["update_id"], json.dumps(update), SystemClock().now()
        )
    h.app.poller.wake()
    await h.settle()
    async with h.app.db.read() as conn:
        count = await (await conn.execute("SELECT COUNT(*) FROM wishes")).fetchone()
    assert count[0] == 1
    cards = [m for m in fake.messages_to(ZHANG) if "地砖" in m.content and m.buttons]
    assert len(cards) == 1


# -- report periods ---------------------------------------------------------------------------


async def test_bad_and_huge_report_periods_get_a_polite_answer(harness: Harness) -> None:
    h, fake = harness, harness.fake
    await open_bot(h, STAFF_HM, ZHANG)
    for command in ("/stats 1000-01-01 9000-12-30", "/stats 2026-01-01 9999-12-31"):
        answer = await h.say(STAFF_HM, command)
        assert "最长 10 年" in answer.text
    answer = await h.say(STAFF_HM, "/stats 9999-12-30 9999-12-31")
    assert "时间段可以写" in answer.text
    answer = await h.say(ZHANG, "/export 1000-01-01 9000-12-30")
    assert "最长 10 年" in answer.text
    await h.settle()
    assert not [m for m in fake.sent if "系统出了点问题" in m.content or m.document]
    assert_no_invalid_calls(fake)


async def user_row(h: Harness, user_id: int):  # type: ignore[no-untyped-def]
    async with h.app.db.read() as conn:
        user = await Repos(conn).user_by_external("telegram", str(user_id))
    assert user is not None
    return user
