"""The whole 心愿墙 → deputy → 回音壁 loop, driven as real people would drive it."""

from __future__ import annotations

import json

from bot.domain.model import Status
from tests.conftest import person
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


async def open_bot(h: Harness, *people: int) -> None:
    for someone in people:
        await h.start_bot(someone)
    await h.settle()
    h.fake.consume_all()


async def leave_wish(
    h: Harness,
    user: int,
    station: str,
    category: str,
    text: str,
    *,
    public: bool = True,
    phone: str | None = None,
    photo: bool = False,
    location: bool = False,
    photo_data: bytes | None = None,
) -> str:
    """Walk the /new flow from the station's QR code to the receipt; returns the receipt."""
    fake = h.fake
    welcome = await h.start_bot(user, station)
    prompt = await h.press(user, welcome, "我要留言")
    assert "类别" in prompt.text
    prompt = await h.press(user, prompt, category)
    assert "描述" in prompt.text
    more = await h.say(user, text)
    if photo:
        fake.send_photo(user, caption=None, data=photo_data)
        more = await fake.next_message(user)
        assert "已收到 1 张" in more.text
    if location:
        fake.send_location(user, 30.27, 120.15)
        more = await fake.next_message(user)
    step = await h.press(user, more, "下一步")
    assert "回音壁" in step.text
    step = await h.press(user, step, "同意公开" if public else "不公开")
    if phone:
        confirm = await h.say(user, phone)
    else:
        confirm = await h.press(user, step, "跳过")
    assert "请确认" in confirm.text and text[:10] in confirm.text
    receipt_msg = await h.press(user, confirm, "确认提交")
    assert "已收到您的心愿" in receipt_msg.text
    return receipt_msg.text.split("编号 ")[1].split("（")[0].strip()


async def test_deputies_and_staff_opening_the_bot_are_told_what_happens_next(
    harness: Harness,
) -> None:
    """They were told to open the bot and press Start; the station picker alone says nothing
    to them. Residents still get just the picker."""
    fake = harness.fake
    for someone in (ZHANG, STAFF_HM, RESIDENT):
        fake.send_text(someone, "/start")
    deputy = await fake.wait_for(chat_id=ZHANG, text_contains="已登记")
    assert "您已登记为联络站的代表。" in deputy.text and "/queue" in deputy.text
    assert "/unassigned" not in deputy.text and deputy.button("惠民社区代表联络站")
    staff = await fake.wait_for(chat_id=STAFF_HM, text_contains="已登记")
    assert "您已登记为联络站的工作人员。" in staff.text and "/unassigned" in staff.text
    resident = await fake.wait_for(chat_id=RESIDENT, text_contains="联络站")
    assert "已登记" not in resident.text and resident.button("惠民社区代表联络站")


async def test_the_whole_loop(harness: Harness) -> None:
    h, fake = harness, harness.fake
    await open_bot(h, ZHANG, LI, STAFF_HM)

    receipt = await leave_wish(
        h,
        RESIDENT,
        "huimin",
        "道路交通",
        "我是刘小明，小区门口路灯坏了三天，晚上很黑",
        phone="138 1234 5678",
        photo=True,
        location=True,
    )
    assert receipt == "HM-2026-0001"

    # 张代表 takes traffic: photo, location, then the card with the phone and the buttons
    card = await h.card_for(ZHANG, receipt)
    assert "13812345678" in card.text and "路灯坏了三天" in card.text
    kinds = [m.method for m in fake.messages_to(ZHANG)]
    assert "sendPhoto" in kinds and "sendLocation" in kinds
    assert [b[0] for b in card.buttons] == ["受理", "回复", "办结", "转办", "不予受理"]

    # accept: the resident hears about it
    fake.press(ZHANG, card, "受理")
    await fake.wait_for(chat_id=ZHANG, text_contains="已受理")
    note = await fake.wait_for(chat_id=RESIDENT, text_contains="已由")
    assert "张代表" in note.text and "800001" not in note.text

    # the deputy answers by replying to the card; the resident sees only the public name
    confirmation = await h.say(ZHANG, "明天上午我去现场看看", reply_to=card)
    assert "已把您的回复" in confirmation.text
    relayed = await fake.wait_for(chat_id=RESIDENT, text_contains="明天上午我去现场看看")
    assert "张代表" in relayed.text and "伟" not in relayed.text

    # the resident answers that message; it reaches the deputy
    await h.say(RESIDENT, "谢谢，是3号楼前面那盏", reply_to=relayed)
    supplement = await fake.wait_for(chat_id=ZHANG, text_contains="3号楼前面那盏")
    assert receipt in supplement.text and "刘" not in supplement.text

    # resolve: asks for the result, then the resident gets it with rating buttons
    card = fake.message(ZHANG, card.message_id)
    prompt = await h.press(ZHANG, card, "办结")
    assert "办理结果" in prompt.text
    await h.say(ZHANG, "已联系供电所，今天下午换好了灯泡")
    result = await fake.wait_for(chat_id=RESIDENT, text_contains="今天下午换好了灯泡")
    assert [b[0] for b in result.buttons] == ["满意", "基本满意", "不满意"]

    # the 回音壁 post is masked
    post = await fake.wait_for(chat_id=WALL_HM)
    assert receipt in post.text and "今天下午换好了灯泡" in post.text
    assert "刘小明" not in post.text and "刘**" in post.text and "13812345678" not in post.text

    # unhappy: reopened, back to the same deputy, staff told
    reopened = await h.press(RESIDENT, result, "不满意")
    assert "重新打开" in reopened.text
    fresh_card = await fake.wait_for(chat_id=ZHANG, text_contains="重新办理")
    await fake.wait_for(chat_id=STAFF_HM, text_contains="重新打开")

    # resolved again, then rated satisfied: closed
    fake.consume_all(ZHANG)
    await h.press(ZHANG, fresh_card, "办结")
    await h.say(ZHANG, "已再次检查，三盏灯都亮了")
    result = await fake.wait_for(chat_id=RESIDENT, text_contains="三盏灯都亮了")
    thanks = await h.press(RESIDENT, result, "满意")
    assert "感谢" in thanks.text
    await fake.wait_for(chat_id=ZHANG, text_contains="满意")

    # /my shows it, and its timeline records every step with roles, not accounts
    my = await h.say(RESIDENT, "/my")
    assert receipt in my.text and "已归档" in my.text
    timeline = await h.press(RESIDENT, my, f"{receipt} · 已归档")
    for step in (
        "提交了心愿",
        "分派给张代表",
        "受理",
        "回复",
        "补充",
        "办结",
        "评价：不满意",
        "评价：满意",
    ):
        assert step in timeline.text, step
    assert_no_invalid_calls(fake)


async def test_second_station_without_fitting_deputy_goes_to_staff(harness: Harness) -> None:
    h, fake = harness, harness.fake
    await open_bot(h, ZHAO, STAFF_XY)
    receipt = await leave_wish(h, RESIDENT_2, "xingyuan", "道路交通", "公交站牌被车撞歪了，很危险")
    assert receipt == "XY-2026-0001"
    card = await fake.wait_for(chat_id=STAFF_XY, text_contains="待分派")
    choose = await h.press(STAFF_XY, card, "分派")
    done = await h.press(STAFF_XY, choose, "赵代表")
    assert "赵代表" in done.text
    await h.card_for(ZHAO, receipt)
    await fake.wait_for(chat_id=RESIDENT_2, text_contains="赵代表")


async def test_transfer_to_another_deputy(harness: Harness) -> None:
    h, fake = harness, harness.fake
    await open_bot(h, ZHANG, LI)
    receipt = await leave_wish(h, RESIDENT, "huimin", "道路交通", "学校门口需要增设校车停靠点")
    card = await h.card_for(ZHANG, receipt)
    choose = await h.press(ZHANG, card, "转办")
    assert [b[0] for b in choose.buttons] == ["李代表", "王代表"]
    await h.press(ZHANG, choose, "李代表")
    await h.card_for(LI, receipt)
    # the old card's buttons no longer work for 张代表
    fake.press(ZHANG, card, "受理")
    await fake.wait_until(
        lambda: any(a.show_alert for a in fake.callback_answers), what="a refusal"
    )
    assert "无权" in fake.callback_answers[-1].text


async def test_deputy_who_never_opened_the_bot_is_reported_to_staff(harness: Harness) -> None:
    h, fake = harness, harness.fake
    await open_bot(h, STAFF_HM)  # neither 张代表 nor 王代表 has opened the bot
    await leave_wish(h, RESIDENT, "huimin", "道路交通", "红绿灯时间太短老人过不去")
    note = await fake.wait_for(chat_id=STAFF_HM, text_contains="无法给")
    assert "张代表" in note.text or "王代表" in note.text
    stats = await h.say(STAFF_HM, "/stats")
    assert "还没有接入任何渠道" in stats.text


async def test_wall_lists_public_open_wishes_masked(harness: Harness) -> None:
    h = harness
    await open_bot(h, ZHANG)
    await leave_wish(
        h, RESIDENT, "huimin", "道路交通", "路口积水严重，电话13912345678", public=True
    )
    await leave_wish(h, RESIDENT, "huimin", "道路交通", "这是不公开的私人心愿内容", public=False)
    wall = await h.say(RESIDENT_2, "/start huimin")
    wall = await h.press(RESIDENT_2, wall, "心愿墙")
    assert "路口积水严重" in wall.text and "139****5678" in wall.text
    assert "不公开的私人心愿" not in wall.text


async def test_withdraw_by_command(harness: Harness) -> None:
    h, fake = harness, harness.fake
    await open_bot(h, ZHANG)
    receipt = await leave_wish(h, RESIDENT, "huimin", "道路交通", "人行道上的地砖松动了")
    answer = await h.say(RESIDENT, f"/withdraw {receipt.lower()}")
    assert "已撤回" in answer.text
    await fake.wait_for(chat_id=ZHANG, text_contains="撤回")
    user = await h.app.liaison.people.identify(person(RESIDENT))
    page = await h.app.liaison.queries.my_wishes(user)
    assert page.items[0][0].status is Status.WITHDRAWN


async def test_private_chats_get_the_resident_command_menu(harness: Harness) -> None:
    key = (json.dumps({"type": "all_private_chats"}, sort_keys=True), "")
    menu = {c["command"]: c["description"] for c in harness.fake.commands[key]}
    assert {"new", "my", "wall", "faq", "stop"} <= menu.keys()
    assert menu["new"] == "我要留言（提交心愿）"


async def test_deputies_and_staff_get_their_own_menu(harness: Harness) -> None:
    h, fake = harness, harness.fake

    def menu(chat_id: int) -> set[str]:
        key = (json.dumps({"type": "chat", "chat_id": chat_id}, sort_keys=True), "")
        return {c["command"] for c in fake.commands.get(key, [])}

    await open_bot(h, ZHANG)
    await h.start_bot(STAFF_HM)
    await h.start_bot(RESIDENT)
    await h.settle()
    assert {"queue", "mywork", "new"} <= menu(ZHANG) and "broadcast" not in menu(ZHANG)
    assert {"overdue", "broadcast", "stats", "export"} <= menu(STAFF_HM)
    assert menu(RESIDENT) == set()  # residents keep the short default menu

    # at the next start, everyone who opened the bot gets theirs again (roles may have changed)
    fake.commands.clear()
    await h.app.publish_menus()
    assert "queue" in menu(ZHANG) and "overdue" in menu(STAFF_HM) and menu(RESIDENT) == set()
