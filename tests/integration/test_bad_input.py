"""Bad input gets a clear, polite answer and changes nothing."""

from __future__ import annotations

from bot.domain.model import Status
from storage.repositories import Repos, UserRow
from tests.conftest import person
from tests.integration.conftest import (
    RESIDENT,
    RESIDENT_2,
    STAFF_HM,
    ZHANG,
    Harness,
    assert_no_invalid_calls,
)
from tests.integration.test_wish_loop import leave_wish, open_bot


async def wish_status(h: Harness, receipt: str) -> Status:
    admin = await h.app.liaison.people.identify(person(990001))
    wish = await h.app.liaison.queries.find_receipt(admin, receipt)
    return wish.status


async def test_forged_button_presses_are_refused_and_change_nothing(harness: Harness) -> None:
    h, fake = harness, harness.fake
    await open_bot(h, ZHANG, RESIDENT_2)
    receipt = await leave_wish(h, RESIDENT, "huimin", "道路交通", "下水道井盖丢了很危险")
    card = await h.card_for(ZHANG, receipt)
    wish_id = card.buttons[0][1].split(":")[2]
    before = len(fake.sent)
    forged = [
        f"a:acc:{wish_id}",  # another resident tries to accept
        f"a:res:{wish_id}",
        f"a:rt:{wish_id}:s",  # rating an unresolved wish of someone else
        f"a:to:{wish_id}:1",  # assigning to a deputy
        f"a:w:{wish_id}",  # viewing someone else's wish
        "a:acc:999999",  # a wish that does not exist
        "a:acc:notanumber",
        "a:" + "x" * 60,
        "dc:../../etc",
        "do",  # confirming a draft that does not exist
        "st:nowhere",
        "garbage",
    ]
    ids = {fake.press_raw(RESIDENT_2, 1, data)["callback_query"]["id"] for data in forged}

    def answers() -> list:
        return [a for a in fake.callback_answers if a.query_id in ids]

    await fake.wait_until(lambda: len(answers()) == len(forged), what="all presses answered")
    assert all(a.text and a.show_alert for a in answers()), answers()
    assert await wish_status(h, receipt) is Status.ASSIGNED
    # nobody was messaged about anything: refusals are answers to the press only
    assert [m for m in fake.sent[before:] if m.chat_id in (ZHANG, RESIDENT)] == []
    assert_no_invalid_calls(fake)


async def test_html_in_user_text_is_escaped_everywhere(harness: Harness) -> None:
    h, fake = harness, harness.fake
    await open_bot(h, ZHANG)
    nasty = "<b>紧急</b> & <script>alert(1)</script> 5 < 6 &amp;"
    receipt = await leave_wish(h, RESIDENT, "huimin", "道路交通", nasty)
    card = await h.card_for(ZHANG, receipt)
    assert nasty in card.content  # shown literally, not interpreted
    assert_no_invalid_calls(fake)


async def test_oversized_text_is_refused_politely(harness: Harness) -> None:
    h, fake = harness, harness.fake
    welcome = await h.start_bot(RESIDENT, "huimin")
    prompt = await h.press(RESIDENT, welcome, "我要留言")
    prompt = await h.press(RESIDENT, prompt, "环境卫生")
    # a whole Telegram message (4 096 characters) is accepted ...
    more = await h.say(RESIDENT, "垃" * 4096)
    assert "下一步" in [b[0] for b in more.buttons]
    # ... and more parts join it, up to the cap of 12 000 characters
    fake.send_text(RESIDENT, "圾" * 4096)
    fake.send_text(RESIDENT, "站" * 4096)
    answer = await fake.wait_for(chat_id=RESIDENT, text_contains="太长")
    assert "12000" in answer.text
    # the flow is still where it was, with the parts that fitted
    draft = await h.app.liaison.flows.draft(await user_row(h, RESIDENT))
    assert draft is not None and draft.text == "垃" * 4096 + "\n" + "圾" * 4096
    assert_no_invalid_calls(fake)


async def test_unsupported_media_gets_an_explanation(harness: Harness) -> None:
    h, fake = harness, harness.fake
    await h.start_bot(RESIDENT, "huimin")
    for send in (fake.send_sticker, fake.send_voice, fake.send_document, fake.send_video):
        send(RESIDENT)
        answer = await fake.next_message(RESIDENT)
        assert "文字" in answer.text
    fake.send_photo(RESIDENT)
    assert "/new" in (await fake.next_message(RESIDENT)).text


async def test_bad_phone_and_stale_steps(harness: Harness) -> None:
    h, fake = harness, harness.fake
    welcome = await h.start_bot(RESIDENT, "huimin")
    prompt = await h.press(RESIDENT, welcome, "我要留言")
    cats = prompt
    prompt = await h.press(RESIDENT, prompt, "道路交通")
    more = await h.say(RESIDENT, "路边停车太乱，消防通道被堵")
    public = await h.press(RESIDENT, more, "下一步")
    phone = await h.press(RESIDENT, public, "不公开")
    answer = await h.say(RESIDENT, "12345")
    assert "电话号码" in answer.text
    # an old category button from earlier in the flow no longer changes anything
    answered = len(fake.callback_answers)
    fake.press_raw(RESIDENT, cats.message_id, "dc:environment")
    await fake.wait_until(lambda: len(fake.callback_answers) > answered, what="the stale press")
    assert "失效" in fake.callback_answers[-1].text
    confirm = await h.press(RESIDENT, phone, "跳过")
    assert "道路交通" in confirm.text


async def test_cancel_leaves_the_flow(harness: Harness) -> None:
    h = harness
    welcome = await h.start_bot(RESIDENT, "huimin")
    await h.press(RESIDENT, welcome, "我要留言")
    answer = await h.say(RESIDENT, "/cancel")
    assert "已退出" in answer.text
    reply = await h.say(RESIDENT, "/cancel")
    assert "没有进行中" in reply.text


async def test_staff_commands_are_refused_to_residents(harness: Harness) -> None:
    h = harness
    for command in ("/stats", "/assign HM-2026-0001", "/unassigned", "/queue", "/faq_gaps"):
        answer = await h.say(RESIDENT, command)
        assert "权限" in answer.text, command
    answer = await h.say(STAFF_HM, "/stats")
    assert "惠民社区代表联络站" in answer.text and "星苑" not in answer.text


async def test_group_chats_get_pointed_to_a_private_chat(harness: Harness) -> None:
    fake = harness.fake
    fake.add_group(-200300, "惠民居民群", members=[RESIDENT])
    fake.send_text(RESIDENT, "/new", chat_id=-200300)
    answer = await fake.next_message(-200300)
    assert "私聊" in answer.text
    fake.send_group_text(-200300, RESIDENT, "大家晚上好")
    await fake.expect_no_message(-200300)


async def user_row(h: Harness, user_id: int) -> UserRow:
    async with h.app.db.read() as conn:
        user = await Repos(conn).user_by_external("telegram", str(user_id))
    assert user is not None
    return user
