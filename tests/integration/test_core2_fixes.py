"""QA fixes of the core seen through Telegram (the real PTB Application against the fake Bot
API): the withdraw confirmation's 取消 (item 24) and the 回音壁 post of a reopened wish (item 20)."""

from __future__ import annotations

from bot.domain.model import Status
from tests.integration.conftest import RESIDENT, WALL_HM, ZHANG, Harness, assert_no_invalid_calls
from tests.integration.test_handling_flows import status_of
from tests.integration.test_wish_loop import leave_wish, open_bot


async def test_the_withdraw_confirmation_can_be_cancelled(harness: Harness) -> None:
    h, fake = harness, harness.fake
    await open_bot(h, ZHANG)
    receipt = await leave_wish(h, RESIDENT, "huimin", "道路交通", "小区后门的减速带坏了")
    await h.card_for(ZHANG, receipt)
    view = await h.say(RESIDENT, receipt)
    confirm = await h.press(RESIDENT, view, "撤回")
    assert confirm.button("确认撤回") and confirm.button("取消")
    kept = await h.press(RESIDENT, confirm, "取消")
    assert receipt in kept.text and "没有撤回" in kept.text
    assert await status_of(h, receipt) is Status.ASSIGNED
    assert_no_invalid_calls(fake)


async def test_a_reopened_wish_is_taken_off_the_wall_channel(harness: Harness) -> None:
    """回音壁 item 20: 不满意 reopens the wish; its masked post with the result is deleted from
    the 回音壁 channel (web /wall drops it too). Resolved again, it is posted again."""
    h, fake = harness, harness.fake
    await open_bot(h, ZHANG)
    receipt = await leave_wish(h, RESIDENT, "huimin", "道路交通", "小区门口路灯坏了三天")
    card = await h.card_for(ZHANG, receipt)
    await h.press(ZHANG, card, "办结")
    await h.say(ZHANG, "已联系供电所，今天下午换好了灯泡")
    result = await fake.wait_for(chat_id=RESIDENT, text_contains="换好了灯泡")
    post = await fake.wait_for(chat_id=WALL_HM, text_contains=receipt)
    assert not post.deleted
    await h.press(RESIDENT, result, "不满意")
    for _ in range(100):  # the dispatcher withdraws it through the outbox
        await h.settle()
        if post.deleted:
            break
    assert post.deleted
    assert not fake.messages_to(WALL_HM, include_deleted=False)
    # resolved again: a new post, which stays
    fresh = await fake.wait_for(chat_id=ZHANG, text_contains="重新办理")
    fake.consume_all(ZHANG)
    await h.press(ZHANG, fresh, "办结")
    await h.say(ZHANG, "已再次检查，三盏灯都亮了")
    again = await fake.wait_for(chat_id=WALL_HM, text_contains="三盏灯都亮了")
    await h.settle()
    assert not again.deleted
    assert_no_invalid_calls(fake)


async def test_a_long_wish_is_one_wall_post_and_all_of_it_is_withdrawn_on_reopen(
    harness: Harness,
) -> None:
    """An 8 000-character description (a split paste) is posted to the 回音壁 as one message,
    shortened, so reopening the wish withdraws all of it (a post split in two had left its
    first part up: review of branch core2)."""
    h, fake_ = harness, harness.fake
    await open_bot(h, ZHANG)
    part = ("小区门口路灯坏了三天，晚上很黑，老人孩子出行很不方便。" * 150)[:4000]
    welcome = await h.start_bot(RESIDENT, "huimin")
    prompt = await h.press(RESIDENT, welcome, "我要留言")
    prompt = await h.press(RESIDENT, prompt, "道路交通")
    fake_.send_text(RESIDENT, part)
    fake_.send_text(RESIDENT, part)  # the client split one long paste
    more = await fake_.next_message(RESIDENT)
    await h.settle()
    fake_.consume_all(RESIDENT)
    step = await h.press(RESIDENT, more, "下一步")
    step = await h.press(RESIDENT, step, "同意公开")
    fake_.press(RESIDENT, step, "跳过")
    confirm = await fake_.wait_for(chat_id=RESIDENT, text_contains="", predicate=lambda m: "确认提交" in str(m.buttons))
    fake_.press(RESIDENT, confirm, "确认提交")
    receipt_msg = await fake_.wait_for(chat_id=RESIDENT, text_contains="已收到您的心愿")
    assert receipt_msg is not None
    card = await fake_.wait_for(chat_id=ZHANG, text_contains="公开", predicate=lambda m: bool(m.buttons))
    fake_.consume_all(ZHANG)
    await h.press(ZHANG, card, "办结")
    await h.say(ZHANG, "已联系供电所，今天下午换好了灯泡")
    result = await fake_.wait_for(chat_id=RESIDENT, text_contains="换好了灯泡")
    await fake_.wait_for(chat_id=WALL_HM, text_contains="换好了灯泡")
    await h.settle()
    posts = fake_.messages_to(WALL_HM)
    assert len(posts) == 1 and "…" in posts[0].text
    await h.press(RESIDENT, result, "不满意")
    for _ in range(100):
        await h.settle()
        if any(p.deleted for p in fake_.messages_to(WALL_HM)):
            break
    await h.settle()
    left = fake_.messages_to(WALL_HM, include_deleted=False)
    assert not left
