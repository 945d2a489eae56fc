"""Privacy through the real bot: what public channels, other parties and the logs may see."""

from __future__ import annotations

import logging

import pytest

from bot.conversation import faq as conversation_faq
from bot.domain.model import Status
from tests.integration.conftest import (
    LI,
    RESIDENT,
    RESIDENT_2,
    STAFF_HM,
    STAFF_XY,
    WALL_HM,
    ZHANG,
    ZHAO,
    Harness,
    assert_no_invalid_calls,
)
from tests.integration.test_bad_input import wish_status
from tests.integration.test_wish_loop import leave_wish, open_bot

# RESIDENT is 小明 刘 on Telegram; the wish also names them and gives every kind of number.
WISH_TEXT = (
    "我是刘小明，门口路灯坏了。电话１３８ １２３４ ５６７８，座机(0571)88886666，"
    "身份证33010219900101123X，邮箱liuxm@163.com。小明刘敬上"
)
RESULT_TEXT = "已联系刘小明（+86 138-1234-5678），路灯今天换好了"
LEAKS = (
    "刘小明",
    "小明刘",
    "小明",
    "１２３４",
    "1234",
    "88886666",
    "8888",
    "19900101",
    "liuxm",
    str(RESIDENT),
)


def assert_clean(text: str, where: str) -> None:
    for leak in LEAKS:
        assert leak not in text, f"{leak!r} reached {where}: {text}"


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO)
    return caplog


async def test_public_channels_show_no_personal_data(
    harness: Harness, logs: pytest.LogCaptureFixture
) -> None:
    h, fake = harness, harness.fake
    await open_bot(h, ZHANG, STAFF_HM)
    receipt = await leave_wish(h, RESIDENT, "huimin", "道路交通", WISH_TEXT)
    card = await h.card_for(ZHANG, receipt)
    assert "13812345678" not in card.text or "１３８" in card.text  # the deputy sees it in full
    assert "１３８ １２３４ ５６７８" in card.text

    # /wall, read by a neighbour, who follows the wish
    await h.start_bot(RESIDENT_2, "huimin")
    wall = await h.say(RESIDENT_2, "/wall")
    assert receipt in wall.text and "路灯坏了" in wall.text
    assert_clean(wall.text, "/wall")
    fake.press(RESIDENT_2, wall, f"☆ 我也关注 {receipt}")
    await h.settle()

    # resolved: the 回音壁 post and the follower's notice are masked, text and result alike
    fake.press(ZHANG, card, "受理")
    await h.settle()
    card = fake.message(ZHANG, card.message_id)
    assert card is not None
    await h.press(ZHANG, card, "办结")
    await h.say(ZHANG, RESULT_TEXT)
    post = await fake.wait_for(chat_id=WALL_HM, text_contains=receipt)
    assert "路灯今天换好了" in post.text and "刘**" in post.text and "138****5678" in post.text
    assert_clean(post.text, "the 回音壁 post")
    note = await fake.wait_for(chat_id=RESIDENT_2, text_contains="您关注的心愿")
    assert "路灯今天换好了" in note.text
    assert_clean(note.text, "a follower's notice")

    # the logs carry ids only, from the whole loop
    for secret in ("刘小明", "小明", "路灯", "１３８", "138-1234", "88886666", "19900101", "liuxm"):
        assert secret not in logs.text, secret
    assert_no_invalid_calls(fake)


async def test_deputy_and_resident_never_see_each_others_accounts(harness: Harness) -> None:
    h, fake = harness, harness.fake
    fake.add_user(RESIDENT, "小明", "刘", username="liuxm_tg")
    fake.add_user(ZHANG, "伟", "张", username="zhangwei_tg")
    await open_bot(h, ZHANG)
    receipt = await leave_wish(h, RESIDENT, "huimin", "道路交通", "小区门口的路灯坏了", photo=True)
    card = await h.card_for(ZHANG, receipt)
    await h.say(ZHANG, "明天上午去看", reply_to=card)
    relayed = await fake.wait_for(chat_id=RESIDENT, text_contains="明天上午去看")
    await h.say(RESIDENT, "好的，谢谢", reply_to=relayed)
    await fake.wait_for(chat_id=ZHANG, text_contains="好的，谢谢")
    await h.settle()

    to_deputy = " ".join(m.content for m in fake.messages_to(ZHANG))
    for leak in ("刘", "小明", "liuxm_tg", str(RESIDENT), "tg://"):
        assert leak not in to_deputy, leak
    to_resident = " ".join(m.content for m in fake.messages_to(RESIDENT))
    for leak in ("张伟", "伟 张", "zhangwei_tg", str(ZHANG), "tg://"):
        assert leak not in to_resident, leak
    assert "张代表" in to_resident
    # relayed as the bot's own messages: never forwarded or copied with an author
    assert not fake.calls("forwardMessage") and not fake.calls("copyMessage")
    for m in fake.messages_to(ZHANG) + fake.messages_to(RESIDENT):
        assert "text_mention" not in repr(m)
    assert_no_invalid_calls(fake)


async def test_forged_presses_from_other_stations_and_roles_are_refused(
    harness: Harness, logs: pytest.LogCaptureFixture
) -> None:
    h, fake = harness, harness.fake
    await open_bot(h, ZHANG, LI, ZHAO, STAFF_HM, STAFF_XY)
    receipt = await leave_wish(h, RESIDENT, "huimin", "道路交通", "下水道井盖丢了很危险")
    card = await h.card_for(ZHANG, receipt)
    wid = card.buttons[0][1].split(":")[2]
    await h.settle()
    before = len(fake.sent)
    forged = {
        # another station's staff and deputy: every verb, every deputy id
        STAFF_XY: [
            f"a:w:{wid}",
            f"a:acc:{wid}",
            f"a:rep:{wid}",
            f"a:res:{wid}",
            f"a:dec:{wid}",
            f"a:trf:{wid}",
            f"a:asg:{wid}",
            f"a:to:{wid}:2",
            f"a:to:{wid}:4",
            f"a:to:{wid}:999",
            f"sv:{wid}",
            f"sv:{wid}:u",
        ],
        ZHAO: [f"a:w:{wid}", f"a:acc:{wid}", f"a:to:{wid}:4", f"a:sup:{wid}", f"sv:{wid}"],
        # a deputy of the same station it is not assigned to
        LI: [f"a:w:{wid}", f"a:acc:{wid}", f"a:res:{wid}", f"a:to:{wid}:2"],
        # the right deputy with the resident's verbs, and the staff's push
        ZHANG: [f"a:rt:{wid}:s", f"a:wd:{wid}:y", f"a:sup:{wid}", f"sv:{wid}", f"sv:{wid}:u"],
        # the resident with the deputy's verbs
        RESIDENT: [f"a:acc:{wid}", f"a:res:{wid}", f"a:to:{wid}:2", f"a:rt:{wid}:s"],
        # malformed or oversized data
        RESIDENT_2: [
            "a:acc:²",
            "a:acc:" + "9" * 40,
            f"a:to:{wid}:" + "9" * 30,
            "a:w:١",
            f"a:acc:{wid}:x:y",
            "sv:" + "9" * 40,
            "fl:" + "9" * 9,
            "bx:" + "9" * 9,
            "x" * 64,
        ],
    }
    ids = {
        fake.press_raw(user, 1, data)["callback_query"]["id"]
        for user, presses in forged.items()
        for data in presses
    }

    def answers() -> list:
        return [a for a in fake.callback_answers if a.query_id in ids]

    await fake.wait_until(lambda: len(answers()) == len(ids), what="every press answered")
    assert all(a.text and a.show_alert for a in answers()), answers()
    await h.settle()
    assert await wish_status(h, receipt) is Status.ASSIGNED
    # nothing was sent to anyone but the answers to the presses
    assert fake.sent[before:] == []
    # a polite refusal, not a crash
    assert not [r for r in logs.records if r.levelno >= logging.ERROR]

    # a stale state: withdrawn, the deputy's card and the resident's own buttons are refused
    done = await h.say(RESIDENT, f"/withdraw {receipt}")
    assert "已撤回" in done.text
    await h.settle()
    fake.press(ZHANG, card, "受理")
    fake.press_raw(RESIDENT, 1, f"a:wd:{wid}:y")
    await h.settle()
    assert all(a.show_alert for a in fake.callback_answers[-2:])
    assert await wish_status(h, receipt) is Status.WITHDRAWN
    assert_no_invalid_calls(fake)


async def test_faq_gaps_never_show_who_asked(harness: Harness) -> None:
    h = harness
    await h.start_bot(RESIDENT, "huimin")
    for text in (
        "我是刘小明，小区的充电桩什么时候装",
        "小明刘问：小区充电桩啥时候装好，回电１３８１２３４５６７８",
    ):
        await h.say(RESIDENT, text)
    await h.start_bot(STAFF_HM)
    h.fake.consume_all(STAFF_HM)
    gaps = await h.say(STAFF_HM, "/faq_gaps")
    assert "充电桩" in gaps.text
    assert_clean(gaps.text, "/faq_gaps")


async def test_broadcast_preview_is_masked_as_residents_will_see_it(harness: Harness) -> None:
    h = harness
    await h.start_bot(RESIDENT, "huimin")
    await h.start_bot(STAFF_HM)
    h.fake.consume_all()
    await h.say(STAFF_HM, "/broadcast")
    text = "路灯已修好。反映人：我是刘小明，电话13812345678。咨询电话0571-88886666"
    audience = await h.say(STAFF_HM, text)
    header = await h.press(STAFF_HM, audience, "本站所有居民")
    assert "居民将收到" in header.text
    sample = await h.fake.next_message(STAFF_HM)
    assert "路灯已修好" in sample.text and "0571-88886666" in sample.text  # the office's number
    assert "刘小明" not in sample.text and "13812345678" not in sample.text
    preview = await h.fake.next_message(STAFF_HM)
    await h.press(STAFF_HM, preview, "确认发送（1 人）")
    received = await h.fake.wait_for(chat_id=RESIDENT, text_contains="路灯已修好")
    assert "刘小明" not in received.text and "13812345678" not in received.text


async def test_an_internal_error_is_logged_without_what_the_person_typed(
    harness: Harness, logs: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = harness

    async def broken(turn, text: str) -> None:  # type: ignore[no-untyped-def]
        raise ValueError(f"cannot answer {text!r}")  # the kind of message that leaks

    monkeypatch.setattr(conversation_faq, "answer_question", broken)
    await h.start_bot(RESIDENT, "huimin")
    answer = await h.say(RESIDENT, "我是刘小明，电话13812345678")
    assert "系统出了点问题" in answer.text
    failed = [r for r in logs.records if "failed" in r.getMessage() and r.levelno >= logging.ERROR]
    assert failed and "ValueError" in failed[0].getMessage()
    assert "刘小明" not in logs.text and "13812345678" not in logs.text


async def test_a_pending_answer_to_a_wish_that_moved_on_is_refused_once(harness: Harness) -> None:
    h, fake = harness, harness.fake
    await open_bot(h, ZHANG)
    receipt = await leave_wish(h, RESIDENT, "huimin", "道路交通", "人行道上的地砖松动了")
    card = await h.card_for(ZHANG, receipt)
    prompt = await h.press(ZHANG, card, "回复")
    assert receipt in prompt.text
    await h.say(RESIDENT, f"/withdraw {receipt}")
    await h.settle()
    fake.consume_all()
    refused = await h.say(ZHANG, "明天上午去现场看看")
    assert "明天上午" not in refused.text
    await h.settle()
    assert not [m for m in fake.unconsumed(RESIDENT) if "明天上午" in m.content]
    # the next message is the deputy's own again (here: a question for the FAQ)
    answer = await h.say(ZHANG, "联络站的接待时间是什么时候")
    assert answer.text != refused.text
    assert_no_invalid_calls(fake)


async def test_wish_buttons_forged_in_a_group_post_nothing_there(harness: Harness) -> None:
    h, fake = harness, harness.fake
    group = -1002000000009
    fake.add_group(group, "惠民居民群", bot_is_admin=True, members=[RESIDENT, STAFF_HM, ZHANG])
    await open_bot(h, ZHANG, STAFF_HM)
    receipt = await leave_wish(h, RESIDENT, "huimin", "道路交通", "我家电话13812345678，路灯坏了")
    card = await h.card_for(ZHANG, receipt)
    wid = card.buttons[0][1].split(":")[2]
    await h.settle()
    fake.consume_all()
    presses = [
        (STAFF_HM, f"a:w:{wid}"),  # staff may see it, but not post it to the group
        (RESIDENT, f"a:w:{wid}"),
        (RESIDENT, "m:my"),
        (RESIDENT, "my:0"),
        (RESIDENT, "m:new"),
        (ZHANG, f"a:rep:{wid}"),
        (STAFF_HM, "bs:huimin"),
    ]
    ids = {
        fake.press_raw(user, 1, data, chat_id=group)["callback_query"]["id"]
        for user, data in presses
    }
    await fake.wait_until(
        lambda: len([a for a in fake.callback_answers if a.query_id in ids]) == len(ids),
        what="every press answered",
    )
    assert all(a.show_alert and a.text for a in fake.callback_answers if a.query_id in ids)
    await h.settle()
    assert fake.messages_to(group) == []
    # in a private chat the same press works
    fake.press_raw(STAFF_HM, 1, f"a:w:{wid}")
    timeline = await fake.next_message(STAFF_HM)
    assert receipt in timeline.text and "13812345678" in timeline.text
