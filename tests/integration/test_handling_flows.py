"""Handling paths beside the main loop: staff acting on any wish of their station, declining,
the 补充 and 撤回 buttons, and reassigning by receipt — driven through the fake Bot API."""

from __future__ import annotations

from bot.domain.model import Status
from tests.integration.conftest import (
    LI,
    RESIDENT,
    RESIDENT_2,
    STAFF_HM,
    STAFF_XY,
    WANG,
    ZHANG,
    Harness,
    assert_no_invalid_calls,
)
from tests.integration.test_wish_loop import leave_wish, open_bot


async def status_of(h: Harness, receipt: str) -> Status:
    async with h.app.db.read() as conn:
        row = await (
            await conn.execute("SELECT status FROM wishes WHERE receipt=?", (receipt,))
        ).fetchone()
    return Status(row[0])


async def test_staff_see_and_handle_a_wish_that_went_straight_to_a_deputy(
    harness: Harness,
) -> None:
    h, fake = harness, harness.fake
    await open_bot(h, ZHANG, LI, WANG, STAFF_HM, STAFF_XY)
    receipt = await leave_wish(h, RESIDENT, "huimin", "道路交通", "公交站的顶棚漏雨，等车淋湿")
    await h.card_for(ZHANG, receipt)

    queue = await h.say(STAFF_HM, "/queue")
    assert receipt in queue.text
    other = await h.say(STAFF_XY, "/queue")  # another station's staff: not theirs
    assert receipt not in other.text

    view = await h.say(STAFF_HM, receipt.lower())  # typing the number opens it
    assert receipt in view.text and "顶棚漏雨" in view.text
    assert view.button("办结") and view.button("回复")
    stranger = await h.say(RESIDENT_2, receipt)  # not theirs: the same answer as no such wish
    assert "没有找到" in stranger.text and "顶棚漏雨" not in stranger.text

    prompt = await h.press(STAFF_HM, view, "办结")
    assert prompt.text
    await h.say(STAFF_HM, "已联系公交公司，本周修好顶棚")
    result = await fake.wait_for(chat_id=RESIDENT, text_contains="本周修好顶棚")
    assert result.button("满意")
    assert await status_of(h, receipt) is Status.RESOLVED
    assert_no_invalid_calls(fake)


async def test_decline_tells_the_resident_why_and_what_to_do(harness: Harness) -> None:
    h, fake = harness, harness.fake
    await open_bot(h, ZHANG)
    receipt = await leave_wish(h, RESIDENT, "huimin", "道路交通", "想咨询一下社保卡补办的流程")
    card = await h.card_for(ZHANG, receipt)
    prompt = await h.press(ZHANG, card, "不予受理")
    assert prompt.text
    await h.say(ZHANG, "此事属于12345热线受理范围，请拨打12345")
    note = await fake.wait_for(chat_id=RESIDENT, text_contains="12345热线")
    assert receipt in note.text
    assert await status_of(h, receipt) is Status.DECLINED
    fake.press(ZHANG, card, "办结")  # the old card's buttons are stale now: a polite alert
    await h.settle()
    assert fake.callback_answers[-1].show_alert
    assert await status_of(h, receipt) is Status.DECLINED
    assert_no_invalid_calls(fake)


async def test_supplement_and_withdraw_buttons(harness: Harness) -> None:
    h, fake = harness, harness.fake
    await open_bot(h, ZHANG)
    receipt = await leave_wish(h, RESIDENT, "huimin", "道路交通", "小区后门的减速带坏了")
    await h.card_for(ZHANG, receipt)

    view = await h.say(RESIDENT, receipt)
    prompt = await h.press(RESIDENT, view, "补充")
    assert prompt.text
    done = await h.say(RESIDENT, "补充：晚上经常有电动车在这里摔倒")
    assert receipt in done.text
    relayed = await fake.wait_for(chat_id=ZHANG, text_contains="电动车在这里摔倒")
    assert receipt in relayed.text

    view = await h.say(RESIDENT, receipt)
    confirm = await h.press(RESIDENT, view, "撤回")
    assert confirm.button("确认撤回")
    assert await status_of(h, receipt) is Status.ASSIGNED  # nothing happens before confirming
    await h.press(RESIDENT, confirm, "确认撤回")
    await fake.wait_for(chat_id=ZHANG, text_contains="撤回")
    assert await status_of(h, receipt) is Status.WITHDRAWN
    assert_no_invalid_calls(fake)


async def test_staff_reassign_by_receipt(harness: Harness) -> None:
    h, fake = harness, harness.fake
    await open_bot(h, ZHANG, LI, WANG, STAFF_HM)
    receipt = await leave_wish(h, RESIDENT, "huimin", "道路交通", "十字路口红绿灯时间太短")
    await h.card_for(ZHANG, receipt)
    options = await h.say(STAFF_HM, f"/assign {receipt}")
    assert options.button("李代表")
    await h.press(STAFF_HM, options, "李代表")
    card = await h.card_for(LI, receipt)
    assert "红绿灯时间太短" in card.text
    await fake.wait_for(chat_id=ZHANG, text_contains=receipt)  # told it moved away
    refused = await h.say(RESIDENT_2, f"/assign {receipt}")
    assert "权限" in refused.text
    assert_no_invalid_calls(fake)
