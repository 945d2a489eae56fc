"""Supervision (督办) through the real PTB Application and the fake Bot API, on a manual clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.app import build
from bot.clock import ManualClock
from bot.domain.model import Status
from tests.conftest import person
from tests.fake_telegram import FakeTelegram, SentMessage
from tests.integration.conftest import (
    LI,
    RESIDENT,
    RESIDENT_2,
    STAFF_HM,
    STAFF_XY,
    TEST_LIMITS,
    ZHANG,
    Harness,
    assert_no_invalid_calls,
    settings_for,
)
from tests.integration.test_wish_loop import leave_wish, open_bot

DIGEST = "每日督办简报"


def monday_8am() -> ManualClock:
    return ManualClock(datetime(2026, 3, 2, 0, 0, tzinfo=UTC))  # 08:00 in Shanghai


@pytest.fixture
def clock() -> ManualClock:
    return monday_8am()


@pytest.fixture
async def h(fake: FakeTelegram, tmp_path: Path, clock: ManualClock) -> AsyncIterator[Harness]:
    app = await build(settings_for(fake, tmp_path), clock=clock, limits=TEST_LIMITS)
    await app.start()
    try:
        yield Harness(fake, app)
    finally:
        await app.stop()


async def tick(h: Harness) -> dict[str, int]:
    assert h.app.supervisor is not None
    done = await h.app.supervisor.tick()
    await h.settle()
    return done


def no_digest(m: SentMessage) -> bool:
    return DIGEST not in m.content


async def expect_nothing(h: Harness, chat: int) -> None:
    """Nothing new for `chat` except possibly a digest."""
    await h.settle()
    extra = [m for m in h.fake.unconsumed(chat) if no_digest(m)]
    assert extra == [], [m.describe() for m in extra]


async def refusal(h: Harness) -> str:
    fake = h.fake
    count = len([a for a in fake.callback_answers if a.show_alert])
    await fake.wait_until(
        lambda: len([a for a in fake.callback_answers if a.show_alert]) > count,
        what="a refusal",
    )
    return [a for a in fake.callback_answers if a.show_alert][-1].text or ""


async def test_reminders_escalation_push_and_reassign(h: Harness, clock: ManualClock) -> None:
    fake = h.fake
    await open_bot(h, ZHANG, LI, STAFF_HM)
    receipt = await leave_wish(h, RESIDENT, "huimin", "道路交通", "路口红绿灯坏了，很危险")
    card = await h.card_for(ZHANG, receipt)

    # /queue shows the deputy the acceptance deadline
    queue = await h.say(ZHANG, "/queue")
    assert receipt in queue.text and "受理时限 2026-03-04 08:00" in queue.text

    clock.advance(hours=23)
    await tick(h)
    await expect_nothing(h, ZHANG)
    clock.advance(hours=1, minutes=1)
    await tick(h)
    soon = await fake.wait_for(chat_id=ZHANG, predicate=no_digest)
    assert receipt in soon.text and "前受理" in soon.text and soon.button("受理")

    clock.advance(days=1)
    await tick(h)
    late = await fake.wait_for(chat_id=ZHANG, text_contains="已超过受理时限")
    assert receipt in late.text
    escalation = await fake.wait_for(chat_id=STAFF_HM, text_contains="督办")
    assert receipt in escalation.text and "张代表" in escalation.text
    assert [b[0] for b in escalation.buttons] == ["改派", "催办", "查看"]
    await tick(h)  # nothing twice
    await expect_nothing(h, ZHANG)
    await expect_nothing(h, STAFF_HM)

    # /overdue lists it for staff; deputies may not use it
    overdue = await h.say(STAFF_HM, "/overdue")
    assert receipt in overdue.text and "受理时限" in overdue.text
    refused = await h.say(ZHANG, "/overdue")
    assert "权限" in refused.text

    # 催办: the deputy gets a push with the card's buttons, recorded on the timeline
    done = await h.press(STAFF_HM, escalation, "催办")
    assert "张代表" in done.text and "催办" in done.text
    push = await fake.wait_for(chat_id=ZHANG, text_contains="催办")
    assert receipt in push.text and push.button("受理")
    fake.press(STAFF_HM, escalation, "催办")  # again within the hour: politely refused
    assert "一小时内" in await refusal(h)
    timeline = await h.press(STAFF_HM, escalation, "查看")
    assert "超期督办" in timeline.text and "催办代表" in timeline.text

    # 改派: the existing assign flow, to another deputy
    choose = await h.press(STAFF_HM, escalation, "改派")
    assert [b[0] for b in choose.buttons] == ["李代表", "王代表"]
    await h.press(STAFF_HM, choose, "李代表")
    await h.card_for(LI, receipt)
    await fake.wait_for(chat_id=ZHANG, text_contains="转")  # the old deputy is told
    fake.press(ZHANG, card, "受理")  # the old card no longer works
    assert "无权" in await refusal(h)
    # the new deputy has the full acceptance time again: nothing is overdue now
    empty = await h.say(STAFF_HM, "/overdue")
    assert "没有超期" in empty.text
    await tick(h)
    await expect_nothing(h, STAFF_HM)
    assert_no_invalid_calls(fake)


async def test_due_dates_on_the_card_and_the_timeline(h: Harness, clock: ManualClock) -> None:
    """The deputy sees by when to accept and to resolve on the card itself and on the wish's
    timeline; the resident's timeline shows no internal deadlines."""
    fake = h.fake
    await open_bot(h, ZHANG, STAFF_HM)
    receipt = await leave_wish(h, RESIDENT, "huimin", "道路交通", "公交站的雨棚漏雨很久了")
    card = await h.card_for(ZHANG, receipt)
    assert "⏰ 受理时限 2026-03-04 08:00 · 办结时限 2026-03-17 08:00" in card.text

    fake.press(ZHANG, card, "受理")
    await fake.wait_for(chat_id=ZHANG, text_contains="已受理")
    queue = await h.say(ZHANG, "/queue")
    timeline = await h.press(ZHANG, queue, queue.buttons[0][0])
    assert "⏰ 办结时限 2026-03-17 08:00" in timeline.text and "受理时限" not in timeline.text

    fake.consume_all(RESIDENT)
    my = await h.say(RESIDENT, "/my")
    mine = await h.press(RESIDENT, my, my.buttons[0][0])
    assert receipt in mine.text and "时限" not in mine.text and "⏰" not in mine.text
    assert_no_invalid_calls(fake)


async def test_digest_at_the_configured_hour(h: Harness, clock: ManualClock) -> None:
    fake = h.fake
    await open_bot(h, ZHANG, STAFF_HM, STAFF_XY)
    await tick(h)  # the staff are seen: their digests count from here
    clock.advance(minutes=1)
    receipt = await leave_wish(h, RESIDENT, "huimin", "道路交通", "小区门口的斑马线看不清了")
    await h.card_for(ZHANG, receipt)
    await tick(h)
    assert not [m for m in fake.unconsumed(STAFF_HM) if DIGEST in m.content]  # 08:00
    clock.advance(minutes=59)
    await tick(h)
    digest = await fake.wait_for(chat_id=STAFF_HM, text_contains=DIGEST)
    assert receipt in digest.text and "新收心愿：1 条" in digest.text
    assert not [m for m in fake.unconsumed(STAFF_XY) if DIGEST in m.content]  # quiet station
    clock.advance(hours=3)
    await tick(h)
    assert not [m for m in fake.unconsumed(STAFF_HM) if DIGEST in m.content]  # once a day


async def resolve_by_buttons(h: Harness, receipt: str, result: str) -> SentMessage:
    card = await h.card_for(ZHANG, receipt)
    prompt = await h.press(ZHANG, card, "办结")
    assert "办理结果" in prompt.text
    await h.say(ZHANG, result)
    return await h.fake.wait_for(chat_id=RESIDENT, text_contains=result)


async def test_rating_reminder_once_then_follow_up_reopens(h: Harness, clock: ManualClock) -> None:
    fake = h.fake
    await open_bot(h, ZHANG, STAFF_HM)
    receipt = await leave_wish(h, RESIDENT, "huimin", "道路交通", "路边的井盖松了一直响")
    await resolve_by_buttons(h, receipt, "已通知市政更换井盖")
    fake.consume_all(RESIDENT)

    clock.advance(days=3)
    await tick(h)
    reminder = await fake.wait_for(chat_id=RESIDENT, text_contains="还没有评价")
    assert [b[0] for b in reminder.buttons] == ["满意", "基本满意", "不满意"]
    clock.advance(days=2)
    await tick(h)
    await expect_nothing(h, RESIDENT)  # one reminder, no more

    clock.advance(days=3)
    assert await h.app.liaison.wishes.close_stale() == 1  # unrated: closed after 7 days
    clock.advance(days=22)
    await tick(h)
    question = await fake.wait_for(chat_id=RESIDENT, text_contains="问题是否真正解决了？")
    assert receipt in question.text
    assert [b[0] for b in question.buttons] == ["已解决", "未解决", "不清楚"]
    fake.consume_all(ZHANG)
    fake.consume_all(STAFF_HM)

    answer = await h.press(RESIDENT, question, "未解决")
    assert "重新打开" in answer.text
    reopened_card = await fake.wait_for(chat_id=ZHANG, text_contains="重新办理")
    assert receipt in reopened_card.text and reopened_card.button("受理")
    await fake.wait_for(chat_id=STAFF_HM, text_contains="重新打开")
    # the keyboard is gone; a replayed press is refused and changes nothing
    assert question.buttons == []  # kept up to date with the edit
    user = await h.app.liaison.people.identify(person(RESIDENT))
    wish = (await h.app.liaison.queries.my_wishes(user)).items[0][0]
    fake.press_raw(RESIDENT, question.message_id, f"sv:f:{wish.id}:r")
    assert "已经回答过" in await refusal(h)
    await tick(h)
    await expect_nothing(h, RESIDENT)

    wish = (await h.app.liaison.queries.my_wishes(user)).items[0][0]
    assert wish.status is Status.REOPENED and wish.reopen_count == 1
    my = await h.say(RESIDENT, "/my")
    timeline = await h.press(RESIDENT, my, f"{receipt} · 重新办理")
    for step in ("提醒居民评价", "发出回访", "回访答复：未解决", "回访：问题未解决"):
        assert step in timeline.text, step
    assert_no_invalid_calls(fake)


async def test_stopped_residents_get_no_follow_up(h: Harness, clock: ManualClock) -> None:
    fake = h.fake
    await open_bot(h, ZHANG)
    receipt = await leave_wish(h, RESIDENT, "huimin", "道路交通", "公交站的顶棚漏雨了")
    await resolve_by_buttons(h, receipt, "已经修好顶棚")
    stopped = await h.say(RESIDENT, "/stop")
    assert "停止" in stopped.text
    fake.consume_all(RESIDENT)
    for _ in range(4):
        clock.advance(days=10)
        await tick(h)
    await expect_nothing(h, RESIDENT)


async def test_restart_mid_schedule_loses_nothing_and_repeats_nothing(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    clock = monday_8am()
    settings = settings_for(fake, tmp_path)
    app = await build(settings, clock=clock, limits=TEST_LIMITS)
    await app.start()
    h = Harness(fake, app)
    try:
        await open_bot(h, ZHANG, STAFF_HM)
        receipt = await leave_wish(h, RESIDENT, "huimin", "道路交通", "天桥的台阶有一块松了")
        await h.card_for(ZHANG, receipt)
        clock.advance(days=1, minutes=1)
        await tick(h)
        await fake.wait_for(chat_id=ZHANG, text_contains="前受理")
        clock.advance(days=1)  # the deadline passes while the bot is down
    finally:
        await app.stop()

    app = await build(settings, clock=clock, limits=TEST_LIMITS)
    await app.start()  # the scheduler's first tick runs at start
    h = Harness(fake, app)
    try:
        await fake.wait_for(chat_id=ZHANG, text_contains="已超过受理时限")
        await fake.wait_for(chat_id=STAFF_HM, text_contains="督办")
        fake.consume_all(STAFF_HM)  # the start-up notice about people who never opened the bot
        for _ in range(3):
            await tick(h)
        await expect_nothing(h, ZHANG)
        await expect_nothing(h, STAFF_HM)
        to_zhang = [m.content for m in fake.messages_to(ZHANG)]
        assert sum("前受理" in t for t in to_zhang) == 1
        assert sum("已超过受理时限" in t for t in to_zhang) == 1
        assert sum("督办：心愿" in m.content for m in fake.messages_to(STAFF_HM)) == 1
    finally:
        await app.stop()


async def test_forged_supervision_presses_are_refused(h: Harness, clock: ManualClock) -> None:
    fake = h.fake
    await open_bot(h, ZHANG, STAFF_HM, STAFF_XY, RESIDENT_2)
    receipt = await leave_wish(h, RESIDENT, "huimin", "道路交通", "路灯杆歪了快倒了")
    await h.card_for(ZHANG, receipt)
    user = await h.app.liaison.people.identify(person(RESIDENT))
    wish = (await h.app.liaison.queries.my_wishes(user)).items[0][0]
    anchor = fake.last_to(RESIDENT)
    assert anchor is not None

    cases = [
        (RESIDENT, f"sv:p:{wish.id}", "权限"),  # residents cannot push
        (ZHANG, f"sv:p:{wish.id}", "权限"),  # nor can the deputy push himself
        (STAFF_XY, f"sv:p:{wish.id}", "没有找到"),  # another station's staff
        (RESIDENT_2, f"sv:f:{wish.id}:u", "没有找到"),  # someone else's wish
        (RESIDENT, f"sv:f:{wish.id}:u", "失效"),  # never asked: nothing to answer
        (RESIDENT, f"sv:f:{wish.id}:z", "失效"),
        (RESIDENT, "sv:p:abc", "失效"),
        (RESIDENT, "sv:f:99999:r", "没有找到"),
    ]
    for who, data, expected in cases:
        last = fake.last_to(who) or anchor
        fake.press_raw(who, last.message_id, data)
        text = await refusal(h)
        assert expected in text, (data, text)
    await h.settle()
    after = (await h.app.liaison.queries.my_wishes(user)).items[0][0]
    assert after.status is Status.ASSIGNED and after.reopen_count == 0
    await expect_nothing(h, ZHANG)
    staff = await h.app.liaison.people.identify(person(STAFF_HM))
    assert (await h.app.liaison.queries.wish_detail(staff, wish.id)).notes == []
    assert_no_invalid_calls(fake)
