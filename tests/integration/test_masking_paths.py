"""The ways residents write numbers, ids and names, through the real bot to where others read them:
/wall, the 回音壁 post, a follower's notice and /faq_gaps."""

from __future__ import annotations

from tests.integration.conftest import (
    RESIDENT,
    RESIDENT_2,
    STAFF_HM,
    WALL_HM,
    ZHANG,
    Harness,
    assert_no_invalid_calls,
)
from tests.integration.test_wish_loop import leave_wish, open_bot
from tests.unit.test_masking_corpus import digit_spelling

# Three public wishes, each short enough for /wall to show whole (it cuts at 120 characters).
WISHES = (
    "签名：刘晓燕。3栋2单元502楼上漏水，电话1 3 8 1 2 3 4 5 6 7 8，打不通就打幺三九八七六五四三二一",
    "京A12345天天堵消防通道，车主微信号 che_zhu_2026，座机8888 6666，邮箱liuxm（at）163.com",
    "补贴没到账：身份证110101-19900307-123X，卡号6222 0212 3456 7890 123，我是居民王建国",
)
# The result names the resident only as the wish did (刘晓燕, not their Telegram name), with
# nothing around the name that says it is one: it is masked because the wish gave it.
RESULT = "已联系（138—1234—5678），刘晓燕家楼上3栋2单元602的管道已修好"
# What may not appear anywhere another resident can read, in any spelling of its digits.
DIGITS = (
    "13812345678",
    "13987654321",
    "12345",  # the plate's serial
    "88886666",
    "19900307",
    "0212345678",
    "502",
    "602",
)
WORDS = ("晓燕", "建国", "che_zhu_2026", "liuxm", "A12345", "1 3 8 1", "幺三九")


def assert_masked(text: str, where: str) -> None:
    digits = digit_spelling(text)
    for secret in DIGITS:
        assert secret not in digits, f"{secret!r} reached {where}: {text}"
    for secret in WORDS:
        assert secret not in text, f"{secret!r} reached {where}: {text}"


async def test_new_ways_of_writing_numbers_and_names_are_masked_where_others_read(
    harness: Harness,
) -> None:
    h, fake = harness, harness.fake
    await open_bot(h, ZHANG, STAFF_HM)
    receipts = [await leave_wish(h, RESIDENT, "huimin", "道路交通", text) for text in WISHES]

    # the deputy handling them sees them as written
    card = await h.card_for(ZHANG, receipts[0])
    assert "1 3 8 1 2 3 4 5 6 7 8" in card.text and "刘晓燕" in card.text

    # /wall, read by a neighbour: every wish listed, none of the numbers, ids or names
    await h.start_bot(RESIDENT_2, "huimin")
    wall = await h.say(RESIDENT_2, "/wall")
    for receipt in receipts:
        assert receipt in wall.text
    assert "楼上漏水" in wall.text and "天天堵消防通道" in wall.text and "补贴没到账" in wall.text
    assert "3栋2单元" in wall.text  # the building stays, the flat goes
    assert_masked(wall.text, "/wall")
    fake.press(RESIDENT_2, wall, f"☆ 我也关注 {receipts[0]}")
    await h.settle()

    # resolved: the 回音壁 post and the follower's notice, text and result alike
    fake.press(ZHANG, card, "受理")
    await h.settle()
    card = fake.message(ZHANG, card.message_id)
    assert card is not None
    await h.press(ZHANG, card, "办结")
    await h.say(ZHANG, RESULT)
    post = await fake.wait_for(chat_id=WALL_HM, text_contains=receipts[0])
    assert "楼上漏水" in post.text and "管道已修好" in post.text and "刘**" in post.text
    assert_masked(post.text, "the 回音壁 post")
    note = await fake.wait_for(chat_id=RESIDENT_2, text_contains="您关注的心愿")
    assert "管道已修好" in note.text
    assert_masked(note.text, "a follower's notice")
    assert_no_invalid_calls(fake)


async def test_faq_gaps_mask_the_new_formats(harness: Harness) -> None:
    h = harness
    await h.start_bot(RESIDENT, "huimin")
    for text in (
        "签名：刘小明，小区的充电桩什么时候装，回电1381-234-5678",
        "充电桩啥时候装好？我住3栋2单元502，微信号 che_zhu_2026",
    ):
        await h.say(RESIDENT, text)
    await h.start_bot(STAFF_HM)
    h.fake.consume_all(STAFF_HM)
    gaps = await h.say(STAFF_HM, "/faq_gaps")
    assert "充电桩" in gaps.text
    assert_masked(gaps.text, "/faq_gaps")
