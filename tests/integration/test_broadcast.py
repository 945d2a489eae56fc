"""Broadcasts (群发), /stop and /start, and following a wish (我也关注), driven as people would."""

from __future__ import annotations

import asyncio

from storage.repositories import Repos
from tests.conftest import ADMIN_ID
from tests.fake_telegram import SentMessage
from tests.integration.conftest import (
    RESIDENT,
    RESIDENT_2,
    STAFF_HM,
    STAFF_XY,
    ZHANG,
    Harness,
    assert_no_invalid_calls,
)
from tests.integration.test_wish_loop import leave_wish, open_bot

NEIGHBOURS = [700101, 700102, 700103, 700104, 700105]
XY_RESIDENT = 700201


async def residents_of_huimin(h: Harness) -> None:
    for uid in NEIGHBOURS:
        h.fake.add_user(uid, f"居民{uid % 100}", "孙")
        await h.start_bot(uid, "huimin")
    h.fake.add_user(XY_RESIDENT, "居民", "周")
    await h.start_bot(XY_RESIDENT, "xingyuan")
    await h.settle()
    h.fake.consume_all()


async def write_broadcast(h: Harness, staff: int, text: str) -> SentMessage:
    """/broadcast → the text; returns the audience question (or the preview for a county one)."""
    ask = await h.say(staff, "/broadcast")
    assert "群发的内容" in ask.text
    return await h.say(staff, text)


async def preview_for_station(h: Harness, staff: int, text: str) -> tuple[SentMessage, int]:
    audience = await write_broadcast(h, staff, text)
    assert "发给谁" in audience.text
    header = await h.press(staff, audience, "本站所有居民")
    assert "居民将收到" in header.text
    sample = await h.fake.next_message(staff)
    assert text in sample.text and "/stop" in sample.text
    preview = await h.fake.next_message(staff)
    count = int(preview.text.split("将发送给 ")[1].split(" 人")[0])
    return preview, count


async def final_report(h: Harness, staff: int, progress: SentMessage, timeout: float = 10) -> str:  # noqa: ASYNC109
    def finished() -> bool:
        current = h.fake.message(staff, progress.message_id)
        return current is not None and ("已完成" in current.content or "已取消" in current.content)

    await h.fake.wait_until(finished, timeout, what="the final broadcast report")
    current = h.fake.message(staff, progress.message_id)
    assert current is not None
    return current.text


async def test_station_broadcast_reaches_its_residents_only(harness: Harness) -> None:
    h, fake = harness, harness.fake
    await open_bot(h, STAFF_HM)
    await residents_of_huimin(h)
    fake.add_user(700199, "从未", "打开")  # never opened the bot: not in any audience

    # one resident stops, another stops and comes back
    stopped, resumed = NEIGHBOURS[0], NEIGHBOURS[1]
    assert "已停止接收" in (await h.say(stopped, "/stop")).text
    await h.say(resumed, "/stop")
    assert "恢复接收" in (await h.say(resumed, "/start")).text
    await h.settle()
    fake.consume_all()

    preview, count = await preview_for_station(h, STAFF_HM, "本周六上午在社区广场开展义诊活动")
    assert count == len(NEIGHBOURS) - 1
    progress = await h.press(STAFF_HM, preview, f"确认发送（{count} 人）")
    assert "群发 #" in progress.text and progress.button("取消群发")
    report = await final_report(h, STAFF_HM, progress)
    assert f"送达 {count} 人" in report and "无法送达 0 人" in report

    for uid in NEIGHBOURS[1:]:
        got = [m for m in fake.messages_to(uid) if "义诊活动" in m.content]
        assert len(got) == 1, uid
        assert "惠民社区代表联络站" in got[0].text
    for uid in (stopped, XY_RESIDENT, 700199, ZHANG):
        assert not any("义诊活动" in m.content for m in fake.messages_to(uid)), uid
    assert_no_invalid_calls(fake)


async def test_photo_broadcast_and_county_scope(harness: Harness) -> None:
    h, fake = harness, harness.fake
    await open_bot(h, ADMIN_ID)
    await residents_of_huimin(h)
    scope = await h.say(ADMIN_ID, "/broadcast")
    assert "群发范围" in scope.text
    ask = await h.press(ADMIN_ID, scope, "全县所有联络站")
    assert "群发的内容" in ask.text
    fake.send_photo(ADMIN_ID, caption="全县代表接待日安排见图")
    header = await fake.next_message(ADMIN_ID)
    assert "居民将收到" in header.text
    sample = await fake.next_message(ADMIN_ID)
    assert sample.method == "sendPhoto" and "代表接待日" in (sample.caption or "")
    preview = await fake.next_message(ADMIN_ID)
    count = len(NEIGHBOURS) + 2  # both stations' residents, and the admin himself
    assert f"将发送给 {count} 人" in preview.text
    fake.press(ADMIN_ID, preview, f"确认发送（{count} 人）")
    progress = await fake.wait_for(chat_id=ADMIN_ID, text_contains="群发 #")
    await final_report(h, ADMIN_ID, progress)
    for uid in [*NEIGHBOURS, XY_RESIDENT]:
        photos = [m for m in fake.messages_to(uid) if m.method == "sendPhoto"]
        assert len(photos) == 1 and "县人大代表联络站" in (photos[0].caption or "")
    assert_no_invalid_calls(fake)


async def test_progress_is_edited_and_cancel_stops_the_rest(harness: Harness) -> None:
    h, fake = harness, harness.fake
    await open_bot(h, STAFF_HM)
    many = list(range(710000, 710040))
    for uid in many:
        fake.add_user(uid, "居民", "吴")
        fake.send_text(uid, "/start huimin")
    await h.settle(20)
    fake.consume_all()
    # slow Telegram down so the broadcast is still running when 取消 is pressed
    for uid in many:
        fake.delay_next(2.0, chat_id=uid)
    preview, count = await preview_for_station(h, STAFF_HM, "停水通知：明天 8:00-12:00")
    assert count == len(many)
    progress = await h.press(STAFF_HM, preview, f"确认发送（{count} 人）")

    def edited_with_counts() -> bool:
        current = fake.message(STAFF_HM, progress.message_id)
        return current is not None and bool(current.edits) and "预计还需" in current.text

    await fake.wait_until(edited_with_counts, 15, what="a progress edit with an ETA")
    current = fake.message(STAFF_HM, progress.message_id)
    assert current is not None and "待发送" in current.text
    fake.press(STAFF_HM, current, "取消群发")
    done_text = await final_report(h, STAFF_HM, progress)
    sent = int(done_text.split("已送达 ")[1].split(" 人")[0])
    cancelled = int(done_text.split("取消 ")[1].split(" 人")[0])
    assert sent + cancelled == count and cancelled > 0
    await fake.wait_until(lambda: "已取消" in (fake.callback_answers[-1].text or ""))
    current = fake.message(STAFF_HM, progress.message_id)
    assert current is not None and not current.buttons  # the report has no 取消 any more
    fake.clear_faults()
    await h.settle(10)
    await asyncio.sleep(2.5)  # the requests already on the wire when 取消 was pressed
    received = sum(1 for uid in many for m in fake.messages_to(uid) if "停水通知" in m.content)
    # nothing cancelled went out afterwards; only what was already in flight could still land
    assert sent <= received <= sent + h.app.dispatcher.limits.concurrency
    assert received < count


async def test_unreachable_residents_are_counted_in_the_report(harness: Harness) -> None:
    h, fake = harness, harness.fake
    await open_bot(h, STAFF_HM)
    await residents_of_huimin(h)
    fake.block(NEIGHBOURS[2], notify=False)  # blocked the bot after opening it: 403
    fake.deactivate(NEIGHBOURS[3])  # deleted the account: 403
    preview, count = await preview_for_station(h, STAFF_HM, "垃圾分类宣传周")
    assert count == len(NEIGHBOURS)
    progress = await h.press(STAFF_HM, preview, f"确认发送（{count} 人）")
    report = await final_report(h, STAFF_HM, progress)
    assert "无法送达 2 人" in report and f"送达 {count - 2} 人" in report
    async with h.app.db.read() as conn:
        repos = Repos(conn)
        users = {u: await repos.user_by_external("telegram", str(u)) for u in NEIGHBOURS[2:4]}
    assert all(u is not None and u.unreachable_at is not None for u in users.values())
    # the next broadcast leaves them out
    preview, count = await preview_for_station(h, STAFF_HM, "第二次通知")
    assert count == len(NEIGHBOURS) - 2


async def test_non_staff_cannot_broadcast_and_forged_presses_are_refused(harness: Harness) -> None:
    h, fake = harness, harness.fake
    await open_bot(h, STAFF_HM, ZHANG)
    await residents_of_huimin(h)
    for outsider in (RESIDENT_2, ZHANG):
        fake.add_user(outsider, "某", "人") if outsider == RESIDENT_2 else None
        answer = await h.say(outsider, "/broadcast")
        assert "没有权限" in answer.text
    # forged presses: scope of another station, confirm without a draft, cancel someone's
    preview, count = await preview_for_station(h, STAFF_HM, "物业费调整说明会")
    await h.settle()
    before = len(fake.callback_answers)
    for data in ("bs:xingyuan", "bs:*", "ba:ok", "bx:1", "ba:station", "bs:nowhere"):
        fake.press_raw(ZHANG, 1, data)
    fake.press_raw(STAFF_HM, 1, "bs:xingyuan")
    fake.press_raw(STAFF_XY, 1, "ba:ok")
    await h.settle()
    answers = fake.callback_answers[before:]
    assert len(answers) == 8 and all(a.text and a.show_alert for a in answers), answers
    async with h.app.db.read() as conn:
        rows = await (await conn.execute("SELECT COUNT(*) FROM broadcasts")).fetchone()
    assert rows[0] == 0
    # the real staff member's draft is untouched by the forged presses
    progress = await h.press(STAFF_HM, preview, f"确认发送（{count} 人）")
    await final_report(h, STAFF_HM, progress)
    # and a resident cannot cancel it
    fake.press_raw(RESIDENT_2, progress.message_id, f"bx:{1}")
    await h.settle()
    assert fake.callback_answers[-1].show_alert


async def test_followers_hear_the_masked_result_and_the_deputy_sees_the_count(
    harness: Harness,
) -> None:
    h, fake = harness, harness.fake
    await open_bot(h, ZHANG, STAFF_HM)
    receipt = await leave_wish(
        h, RESIDENT, "huimin", "道路交通", "我是刘小明，电话13812345678，小区门口红绿灯太短"
    )
    card = await h.card_for(ZHANG, receipt)
    await h.settle()
    fake.consume_all()
    followers = NEIGHBOURS[:3]
    for uid in followers:
        fake.add_user(uid, "邻居", "钱")
        await h.start_bot(uid, "huimin")
        wall = await h.say(uid, "/wall")
        assert receipt in wall.text
        fake.press(uid, wall, f"☆ 我也关注 {receipt}")
        await h.settle()
        assert fake.callback_answers[-1].text and "已关注" in fake.callback_answers[-1].text
    # following twice is a toggle: the last one stops and follows again
    again = await h.say(followers[-1], "/wall")
    assert again.button(f"★ 已关注 {receipt}（点击取消）")
    fake.press(followers[-1], again, f"★ 已关注 {receipt}（点击取消）")
    await h.settle()
    assert fake.callback_answers[-1].text and "取消关注" in fake.callback_answers[-1].text
    # the pressed button now says what pressing it again does
    assert again.button(f"☆ 我也关注 {receipt}") and not again.button(f"★ 已关注 {receipt}（点击取消）")
    fake.press(followers[-1], again, f"☆ 我也关注 {receipt}")
    await h.settle()
    assert fake.callback_answers[-1].text and "已关注" in fake.callback_answers[-1].text
    assert again.button(f"★ 已关注 {receipt}（点击取消）")
    # the resident cannot follow their own wish; nobody can follow by forging an id
    own = await h.say(RESIDENT, "/wall")
    assert receipt in own.text and not own.button(f"☆ 我也关注 {receipt}")  # not offered
    follow_data = again.buttons[0][1]
    assert follow_data and follow_data.startswith("fl:")
    fake.press_raw(RESIDENT, own.message_id, follow_data)  # forged: refused all the same
    fake.press_raw(RESIDENT_2, 1, "fl:999")
    await h.settle()
    assert all(a.show_alert for a in fake.callback_answers[-2:])

    queue = await h.say(ZHANG, "/queue")
    assert receipt in queue.text and "关注 3 人" in queue.text
    view = next(
        d for row in queue.button_rows for _, d in row if d and d.startswith("a:w:")
    )
    fake.press_raw(ZHANG, queue.message_id, view)
    detail = await fake.next_message(ZHANG)
    assert receipt in detail.text and "关注 3 人" in detail.text

    fake.press(ZHANG, card, "受理")
    await h.settle()
    fake.consume_all()
    card = fake.message(ZHANG, card.message_id)
    assert card is not None
    await h.press(ZHANG, card, "办结")
    await h.say(ZHANG, "已调整为 45 秒，联系人王工 13900001111")
    for uid in followers:
        note = await fake.wait_for(chat_id=uid, text_contains="您关注的心愿")
        assert receipt in note.text and "45 秒" in note.text
        assert "13812345678" not in note.text and "13900001111" not in note.text
        assert "刘小明" not in note.text
    assert_no_invalid_calls(fake)


async def test_followers_broadcast_needs_a_wish_of_the_station(harness: Harness) -> None:
    h, fake = harness, harness.fake
    await open_bot(h, ZHANG, STAFF_HM)
    receipt = await leave_wish(h, RESIDENT, "huimin", "道路交通", "公交站台的顶棚破了")
    await h.settle()
    fake.consume_all()
    fan = NEIGHBOURS[0]
    fake.add_user(fan, "邻居", "钱")
    await h.start_bot(fan, "huimin")
    wall = await h.say(fan, "/wall")
    fake.press(fan, wall, f"☆ 我也关注 {receipt}")
    await h.settle()
    audience = await write_broadcast(h, STAFF_HM, "顶棚维修材料已到，下周施工")
    ask = await h.press(STAFF_HM, audience, "某条心愿的关注者")
    assert "心愿编号" in ask.text
    wrong = await h.say(STAFF_HM, "XY-2026-0001")
    assert "找不到" in wrong.text or "没有" in wrong.text or "编号" in wrong.text
    await h.say(STAFF_HM, receipt)  # the preview header
    await fake.next_message(STAFF_HM)
    preview = await fake.next_message(STAFF_HM)
    assert "将发送给 1 人" in preview.text
    progress = await h.press(STAFF_HM, preview, "确认发送（1 人）")
    await final_report(h, STAFF_HM, progress)
    got = await fake.wait_for(chat_id=fan, text_contains="顶棚维修材料")
    assert got
    assert not any("顶棚维修材料" in m.content for m in fake.messages_to(RESIDENT))
