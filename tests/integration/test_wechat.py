"""WeChat end to end: the real application (Telegram through the fake Bot API), the real
Conversation, the WeChat webhook and channel against the fake WeChat.

Runs once the channel seam (bot/conversation) is merged; skipped before. The composition here
(the `wechat` transport added to the dispatcher, the webhook on its own aiohttp app) is what
bot/app.py does when the web server is there to mount /wechat on."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from aiohttp import web

from bot.app import build
from bot.domain.deadlines import NoteKind
from bot.logins import create_link_code
from storage.reports import ReportsRepo
from storage.repositories import Repos
from storage.wechat import WeChatRepo
from tests.fake_telegram import FakeTelegram
from tests.fake_wechat import FakeWeChat
from tests.integration.conftest import LI, STAFF_HM, TEST_LIMITS, WANG, Harness, settings_for
from tests.integration.test_broadcast import final_report, preview_for_station
from wechat.runtime import WeChatRuntime, build_wechat

AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
OPENID = "oWeChatResident0001"
ZHANG = 800001


@dataclass
class WeChatRig:
    h: Harness
    fake: FakeWeChat
    runtime: WeChatRuntime

    async def send(self, xml: str) -> str:
        """Push as WeChat does; the answer as the resident sees it (passive reply or 客服)."""
        before = len(self.fake.custom)
        result = await self.fake.push(xml)
        assert result.status == 200
        if result.plaintext not in ("", "success"):
            return re.sub(
                r".*<Content><!\[CDATA\[(.*)\]\]></Content>.*", r"\1", result.plaintext, flags=re.S
            )
        await self.fake.wait_until(lambda: len(self.fake.custom) > before)
        return "\n".join(m["text"]["content"] for m in self.fake.custom[before:])

    async def say(self, text: str) -> str:
        return await self.send(self.fake.text(OPENID, text))

    async def choose(self, shown: str, label: str) -> str:
        """Answer numbered options by the number of `label`."""
        match = re.search(rf"(\d+)\. {re.escape(label)}", shown)
        assert match, f"no option {label!r} in {shown!r}"
        return await self.say(match.group(1))


@pytest.fixture
async def wx(harness: Harness, tmp_path: Path) -> AsyncIterator[WeChatRig]:
    from bot.conversation import Conversation

    fake = FakeWeChat(aes_key=AES_KEY)
    await fake.start()
    app = harness.app
    settings = app.settings.model_copy(
        update={
            "wechat_app_id": fake.app_id,
            "wechat_app_secret": fake.app_secret,
            "wechat_token": fake.token,
            "wechat_aes_key": AES_KEY,
            "wechat_api_base_url": fake.base_url,
            "wechat_template_result": "TPL_RESULT",
            "wechat_media_dir": tmp_path / "media",
        }
    )
    conversation = Conversation(app.liaison, app.liaison.core.c, app.faq, broadcasts=app.broadcasts)
    liaison = app.liaison

    async def on_delivery(wish_id: int, openid: str, note: NoteKind) -> None:  # as bot/app.py
        await liaison.deliveries.delivered(wish_id, "wechat", openid, note)

    runtime = build_wechat(
        settings, app.db, app.liaison.core.clock, conversation, on_delivery=on_delivery
    )
    assert runtime is not None
    app.dispatcher.transports["wechat"] = runtime.channel
    app.application.bot_data["link_codes"] = True  # /web gives a WeChat link code, as app.py
    server = web.Application()
    runtime.webhook.attach(server)
    runner = web.AppRunner(server)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    fake.webhook_url = f"http://127.0.0.1:{port}/wechat"
    yield WeChatRig(harness, fake, runtime)
    await runner.cleanup()
    await runtime.close()
    await fake.stop()


async def leave_wish(wx: WeChatRig) -> str:
    welcome = await wx.send(wx.fake.event(OPENID, "subscribe", "qrscene_st_huimin"))
    assert "惠民" in welcome
    prompt = await wx.choose(welcome, "我要留言")
    assert "类别" in prompt
    prompt = await wx.choose(prompt, "道路交通")
    assert "描述" in prompt
    more = await wx.say("小区门口路灯坏了三天，晚上很黑")
    step = await wx.choose(more, "下一步")
    assert "回音壁" in step
    step = await wx.choose(step, "不公开")
    confirm = await wx.choose(step, "跳过")
    assert "请确认" in confirm
    receipt = await wx.choose(confirm, "确认提交")
    assert "已收到您的心愿" in receipt
    return receipt.split("编号 ")[1].split("（")[0].strip()


async def test_follow_by_station_qr_is_greeted_as_that_station(wx: WeChatRig) -> None:
    welcome = await wx.send(wx.fake.event(OPENID, "subscribe", "qrscene_st_huimin"))
    assert "惠民社区代表联络站" in welcome


async def test_faq_question_gets_the_faq_answer(wx: WeChatRig) -> None:
    await wx.send(wx.fake.event(OPENID, "subscribe", "qrscene_st_huimin"))
    answer = await wx.say("请问代表啥时候接待？")
    assert "每周三上午 9:00-11:30" in answer


async def test_wish_reaches_the_deputy_and_the_resolution_comes_back(wx: WeChatRig) -> None:
    h, fake = wx.h, wx.fake
    h.fake.send_text(ZHANG, "/start")
    await h.fake.next_message(ZHANG)
    receipt = await leave_wish(wx)
    card = await h.card_for(ZHANG, receipt)
    assert "路灯坏了三天" in card.text

    h.fake.press(ZHANG, card, "受理")
    await h.fake.wait_for(chat_id=ZHANG, text_contains="已受理")
    card = h.fake.message(ZHANG, card.message_id)
    prompt = await h.press(ZHANG, card, "办结")
    assert "办理结果" in prompt.text
    await h.say(ZHANG, "已联系供电所，今天下午换好了灯泡")
    # inside the 48-hour window: a 客服 message with the rating as numbered options
    await fake.wait_until(lambda: any("换好了灯泡" in m["text"]["content"] for m in fake.custom))
    assert not fake.templates


async def test_resolution_outside_the_window_goes_as_template(wx: WeChatRig) -> None:
    h, fake = wx.h, wx.fake
    h.fake.send_text(ZHANG, "/start")
    await h.fake.next_message(ZHANG)
    receipt = await leave_wish(wx)
    card = await h.card_for(ZHANG, receipt)
    # two days pass without a word from the resident: WeChat and our record both close the window
    for window in fake.windows.values():
        window.opened_at -= 49 * 3600
    async with h.app.db.transaction() as conn:
        state = await WeChatRepo(conn).window(OPENID)
        assert state is not None
        await conn.execute(
            "UPDATE wechat_windows SET opened_at=? WHERE openid=?",
            ((state.opened_at - timedelta(hours=49)).isoformat(), OPENID),
        )
    h.fake.press(ZHANG, card, "受理")
    await h.fake.wait_for(chat_id=ZHANG, text_contains="已受理")
    card = h.fake.message(ZHANG, card.message_id)
    await h.press(ZHANG, card, "办结")
    await h.say(ZHANG, "已联系供电所，今天下午换好了灯泡")
    await fake.wait_until(lambda: any(t["template_id"] == "TPL_RESULT" for t in fake.templates))
    template = next(t for t in fake.templates if t["template_id"] == "TPL_RESULT")
    assert template["touser"] == OPENID and template["data"]["character_string2"]["value"] == receipt


async def test_the_app_serves_wechat_when_the_app_id_is_set(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    """bot/app.py's own composition: /wechat on the web server, "wechat" among the transports."""
    wechat = FakeWeChat(aes_key=AES_KEY)
    await wechat.start()
    settings = settings_for(
        fake, tmp_path,
        wechat_app_id=wechat.app_id, wechat_app_secret=wechat.app_secret,
        wechat_token=wechat.token, wechat_aes_key=AES_KEY,
        wechat_api_base_url=wechat.base_url, wechat_media_dir=tmp_path / "media",
    )  # fmt: skip
    app = await build(settings, limits=TEST_LIMITS)
    try:
        await app.start()
        assert app.web is not None and app.wechat is not None
        assert app.dispatcher.transports["wechat"] is app.wechat.channel
        wechat.webhook_url = f"{app.web.url}/wechat"
        rig = WeChatRig(Harness(fake, app), wechat, app.wechat)
        # black-box, as WeChat sees the server: the URL check echoes, a forged push is refused
        assert await wechat.verify("echo-2026") == (200, "echo-2026")
        assert (await wechat.verify("echo-2026", bad_signature=True))[0] == 403
        forged = await wechat.push(wechat.text(OPENID, "你好"), bad_signature=True)
        assert forged.status == 403
        async with app.db.read() as conn:
            assert await WeChatRepo(conn).window(OPENID) is None  # nothing taken in
        # a safe-mode follow through the station's code: greeted as 惠民 in the reply itself
        # (encrypted on the wire, decrypting to the greeting), at the first try: within the
        # 5 s WeChat waits (the fake gives up on a try after 5 s)
        result = await wechat.push(wechat.event(OPENID, "subscribe", "qrscene_st_huimin"))
        assert result.status == 200 and result.tries == 1
        assert "<Encrypt>" in result.body and "惠民" not in result.body
        assert "惠民社区代表联络站" in result.plaintext
        welcome = await rig.send(wechat.event(OPENID, "SCAN", "st_huimin"))
        assert "惠民社区代表联络站" in welcome
    finally:
        await app.stop()
        await wechat.stop()


async def test_staff_commands_in_wechat_reach_the_same_conversation(wx: WeChatRig) -> None:
    """A staff member with a WeChat account (accounts: in the stations file) keeps the FAQ from
    WeChat as from Telegram; a resident typing the same command is refused, nothing changed."""
    from bot.stations_file import parse_stations_yaml
    from tests.conftest import STATIONS_YAML

    staff_openid = "oWeChatStaff0001"
    both = '[{accounts: [{channel: telegram, id: "900001"}, {channel: wechat, id: "%s"}]}]'
    config = parse_stations_yaml(STATIONS_YAML.replace("staff: [900001]", f"staff: {both % staff_openid}"))
    await wx.h.app.liaison.directory.sync_config(config)
    faq = wx.h.app.faq
    before = len(faq.entries)
    await wx.send(wx.fake.event(OPENID, "subscribe", "qrscene_st_huimin"))
    refused = await wx.say("/faq_add 便民理发什么时候 | 每月第一个周六上午")
    assert "没有权限" in refused and len(faq.entries) == before
    added = await wx.send(wx.fake.text(staff_openid, "/faq_add 便民理发什么时候 | 每月第一个周六上午"))
    assert "已添加常见问题" in added and len(faq.entries) == before + 1
    answer = await wx.say("便民理发什么时候")
    assert "每月第一个周六上午" in answer


async def close_windows(wx: WeChatRig) -> None:
    """Two days pass without a word from the resident: WeChat and our record close the window."""
    for window in wx.fake.windows.values():
        window.opened_at -= 49 * 3600
    async with wx.h.app.db.transaction() as conn:
        state = await WeChatRepo(conn).window(OPENID)
        assert state is not None
        await conn.execute(
            "UPDATE wechat_windows SET opened_at=? WHERE openid=?",
            ((state.opened_at - timedelta(hours=49)).isoformat(), OPENID),
        )


async def test_the_delivery_path_is_on_the_wish_timeline(wx: WeChatRig) -> None:
    """The resolution went by template (outside the window): the deputy reading the wish's
    timeline sees it, and the export's timeline sheet reads the same notes."""
    h = wx.h
    h.fake.send_text(ZHANG, "/start")
    await h.fake.next_message(ZHANG)
    receipt = await leave_wish(wx)
    card = await h.card_for(ZHANG, receipt)
    h.fake.press(ZHANG, card, "受理")
    await h.fake.wait_for(chat_id=ZHANG, text_contains="已受理")
    await h.settle()
    await close_windows(wx)
    card = h.fake.message(ZHANG, card.message_id)
    await h.press(ZHANG, card, "办结")
    await h.say(ZHANG, "已联系供电所，今天下午换好了灯泡")
    await wx.fake.wait_until(
        lambda: any(t["template_id"] == "TPL_RESULT" for t in wx.fake.templates)
    )
    await h.settle()
    h.fake.consume_all(ZHANG)
    timeline = await h.say(ZHANG, receipt)
    assert receipt in timeline.text and "系统经模板消息通知居民（微信）" in timeline.text
    async with h.app.db.read() as conn:
        wish_id = (await Repos(conn).wish_by_receipt(receipt)).id  # type: ignore[union-attr]
        events = await ReportsRepo(conn).events_of([wish_id])
    assert "note:wechat_template" in [e.action for e in events]


async def test_a_notice_no_path_can_push_waits_and_is_counted(wx: WeChatRig) -> None:
    """Outside the window, with no template for a broadcast and no subscription, the notice
    waits: the broadcast report and /stats count it as waiting, the resident sees it at their
    next message, and then it is no longer counted."""
    h = wx.h
    await h.say(STAFF_HM, "/start")
    welcome = await wx.send(wx.fake.event(OPENID, "subscribe", "qrscene_st_huimin"))
    assert "惠民" in welcome
    await close_windows(wx)
    h.fake.consume_all()
    preview, count = await preview_for_station(h, STAFF_HM, "本周六上午在社区广场开展义诊活动")
    assert count == 1  # the WeChat resident, who chose the station by its QR code
    progress = await h.press(STAFF_HM, preview, f"确认发送（{count} 人）")
    report = await final_report(h, STAFF_HM, progress)
    assert "待查看 1 人" in report and "送达 0 人" in report
    assert not any("义诊" in m["text"]["content"] for m in wx.fake.custom)
    stats = await h.say(STAFF_HM, "/stats")
    assert "微信待收通知 1 条" in stats.text
    await h.fake.next_message(STAFF_HM)  # the chart

    before = len(wx.fake.custom)
    shown = await wx.say("你好")
    assert "您不在时，联络站有 1 条消息" in shown
    await wx.fake.wait_until(
        lambda: any("义诊活动" in m["text"]["content"] for m in wx.fake.custom[before:])
    )
    await h.settle()
    stats = await h.say(STAFF_HM, "/stats")
    assert "微信待收通知" not in stats.text


DEPUTY_OPENID = "oWeChatDeputyZhang01"


async def deputy_says(wx: WeChatRig, text: str) -> str:
    return await wx.send(wx.fake.text(DEPUTY_OPENID, text))


def to(fake: FakeWeChat, openid: str) -> list[str]:
    return [m["text"]["content"] for m in fake.custom if m["touser"] == openid]


async def test_a_deputy_links_wechat_with_a_code_and_works_there(wx: WeChatRig) -> None:
    """張 never opened Telegram; the operator's `login-link` gave a code (create_link_code is
    what it calls). A wrong code is refused politely; the right one links; the next wish's card
    comes on WeChat with numbered options, and the number accepts the wish."""
    h, fake = wx.h, wx.fake
    async with h.app.db.read() as conn:
        zhang = await Repos(conn).user_by_external("telegram", str(ZHANG))
    assert zhang is not None
    code = await create_link_code(h.app.db, h.app.liaison.core.clock, zhang.id)
    await wx.send(fake.event(DEPUTY_OPENID, "subscribe"))
    wrong = await deputy_says(wx, "绑定 " + ("00000000" if code != "00000000" else "11111111"))
    assert "绑定码不正确或已失效" in wrong
    assert "已绑定" in await deputy_says(wx, f"绑定 {code}")
    assert "已失效" in await deputy_says(wx, f"绑定 {code}")  # single use
    receipt = await leave_wish(wx)
    await fake.wait_until(lambda: any(receipt in t for t in to(fake, DEPUTY_OPENID)))
    card = next(t for t in to(fake, DEPUTY_OPENID) if receipt in t)
    assert "路灯坏了三天" in card and not h.fake.messages_to(ZHANG)
    number = re.search(r"(\d+)\. 受理", card)
    assert number, card
    accepted = await deputy_says(wx, number.group(1))
    assert "已受理" in accepted
    # the card's new buttons (Telegram edits them onto the card) are this answer's options
    assert re.search(r"\d+\. 办结", accepted), accepted
    await fake.wait_until(lambda: any("已由" in t for t in to(fake, OPENID)))
    assert receipt in await deputy_says(wx, "/queue")  # the desk's commands, typed


async def test_web_gives_the_code_and_telegram_is_preferred_while_it_can_push(
    wx: WeChatRig,
) -> None:
    """/web on Telegram shows the code with the login link. A deputy reachable on both hears
    on Telegram (it can always push; WeChat only inside its window); once Telegram cannot
    reach them, the next card goes to their WeChat."""
    h, fake = wx.h, wx.fake
    await h.say(ZHANG, "/start")
    h.fake.consume_all(ZHANG)
    link = await h.say(ZHANG, "/web")
    code = re.search(r"绑定 (\d{8})", link.text)
    assert "/login/" in link.text and code, link.text
    await wx.send(fake.event(DEPUTY_OPENID, "subscribe"))
    assert "已绑定" in await deputy_says(wx, f"绑定 {code.group(1)}")

    receipt = await leave_wish(wx)
    card = await h.card_for(ZHANG, receipt)
    assert "路灯坏了三天" in card.text
    assert not any(receipt in t for t in to(fake, DEPUTY_OPENID))

    h.fake.block(ZHANG)  # Telegram can no longer reach 张
    await h.settle()
    # traffic wishes go round the station's traffic deputies (王, then 张): two more wishes
    receipts = [await another_wish(wx, text) for text in ("路口的红绿灯不亮了", "人行道的井盖松了")]
    await fake.wait_until(lambda: any(r in t for r in receipts for t in to(fake, DEPUTY_OPENID)))
    async with h.app.db.read() as conn:
        zhang = await Repos(conn).user_by_external("telegram", str(ZHANG))
    assert zhang is not None and zhang.unreachable_at is None  # WeChat still reaches 张


async def another_wish(wx: WeChatRig, text: str) -> str:
    """A wish left by the WeChat resident who already chose the station."""
    prompt = await wx.say("/new")
    prompt = await wx.choose(prompt, "道路交通")
    assert "描述" in prompt
    step = await wx.choose(await wx.say(text + "，晚上很危险"), "下一步")
    step = await wx.choose(step, "不公开")
    confirm = await wx.choose(step, "跳过")
    receipt = await wx.choose(confirm, "确认提交")
    return receipt.split("编号 ")[1].split("（")[0].strip()


async def test_the_same_msgid_pushed_three_times_makes_one_wish(wx: WeChatRig) -> None:
    """WeChat retries a push it got no answer to: the confirmation arrives three times with one
    MsgId, and one wish is made."""
    welcome = await wx.send(wx.fake.event(OPENID, "subscribe", "qrscene_st_huimin"))
    prompt = await wx.choose(welcome, "我要留言")
    prompt = await wx.choose(prompt, "道路交通")
    step = await wx.choose(await wx.say("小区门口路灯坏了三天，晚上很黑"), "下一步")
    step = await wx.choose(step, "不公开")
    confirm = await wx.choose(step, "跳过")
    number = re.search(r"(\d+)\. 确认提交", confirm)
    assert number, confirm
    push = wx.fake.text(OPENID, number.group(1))
    assert "已收到您的心愿" in await wx.send(push)
    for _ in range(2):  # the retries: recognised, answered `success`, nothing new
        again = await wx.fake.push(push)
        assert again.status == 200 and again.plaintext == "success"
    await wx.h.settle()
    async with wx.h.app.db.read() as conn:
        row = await conn.execute_fetchall("SELECT COUNT(*) FROM wishes")
    assert next(iter(row))[0] == 1


# -- answers that say what Telegram shows outside the messages (QA items 1 and 19) -------------

NEIGHBOUR = "oWeChatResident0002"


async def test_a_number_for_a_step_that_moved_on_is_not_read_as_the_old_options(
    wx: WeChatRig,
) -> None:
    """Menu NEW → "2" (a category) → "1": the category options were still live, so the "1"
    chose a category again, the conversation refused it as stale, and the refusal (Telegram's
    pop-up) was not rendered: no reply at all. The describing step offers no options and
    awaits free text: a bare number is that text (review: it was refused as a stale press)."""
    await wx.send(wx.fake.event(OPENID, "subscribe", "qrscene_st_huimin"))
    categories = await wx.send(wx.fake.event(OPENID, "CLICK", "NEW"))
    assert "2. " in categories
    assert "描述" in await wx.say("2")
    answer = await wx.say("12")
    assert "这个选项已经失效了" not in answer
    assert "内容太短了" in answer  # read as the description (too short to be one)
    async with wx.h.app.db.read() as conn:
        resident = await Repos(conn).user_by_external("wechat", OPENID)
    assert resident is not None
    draft = await wx.h.app.liaison.flows.draft(resident)
    assert draft is not None and draft.step == "text" and draft.category_id == "environment"


async def test_a_bare_number_at_the_phone_step_is_read_as_the_phone(wx: WeChatRig) -> None:
    """The phone step offers 跳过 as option 1: "1" is that option, while "12", which maps to
    no option, is what was typed for the phone number (checked as one), not a stale press."""
    welcome = await wx.send(wx.fake.event(OPENID, "subscribe", "qrscene_st_huimin"))
    await wx.choose(await wx.choose(welcome, "我要留言"), "道路交通")
    step = await wx.choose(await wx.say("小区门口路灯坏了三天，晚上很黑"), "下一步")
    phone = await wx.choose(step, "不公开")
    assert "1. 跳过" in phone
    answer = await wx.say("12")
    assert "这个选项已经失效了" not in answer
    assert "不像是有效的电话号码" in answer  # checked as the phone number it was typed for


async def test_a_number_out_of_range_where_no_text_is_awaited_is_stale(wx: WeChatRig) -> None:
    """At a step that awaits a choice (the category), a number that maps to no option is a
    press of nothing: answered as stale, never read as text."""
    await wx.send(wx.fake.event(OPENID, "subscribe", "qrscene_st_huimin"))
    await wx.send(wx.fake.event(OPENID, "CLICK", "NEW"))
    assert "这个选项已经失效了" in await wx.say("99")


async def test_a_spent_rating_number_gets_an_answer(wx: WeChatRig) -> None:
    """After the rating, its options are spent: the same number again is answered (refused as
    stale), not read as a second rating nor met with silence."""
    h, fake = wx.h, wx.fake
    h.fake.send_text(ZHANG, "/start")
    await h.fake.next_message(ZHANG)
    receipt = await leave_wish(wx)
    card = await h.card_for(ZHANG, receipt)
    h.fake.press(ZHANG, card, "受理")
    await h.fake.wait_for(chat_id=ZHANG, text_contains="已受理")
    card = h.fake.message(ZHANG, card.message_id)
    await h.press(ZHANG, card, "办结")
    await h.say(ZHANG, "已联系供电所，今天下午换好了灯泡")
    await fake.wait_until(lambda: any("换好了灯泡" in m["text"]["content"] for m in fake.custom))
    resolved = next(m["text"]["content"] for m in fake.custom if "换好了灯泡" in m["text"]["content"])
    number = re.search(r"(\d+)\. 满意", resolved)
    assert number, resolved
    thanks = await wx.say(number.group(1))
    assert "谢谢" in thanks or "评价" in thanks
    again = await wx.say(number.group(1))
    assert "这个选项已经失效了" in again


async def resolve(wx: WeChatRig, receipt: str, result: str) -> str:
    """Zhang takes in and resolves the wish on Telegram; the resolution as WeChat shows it."""
    h, fake = wx.h, wx.fake
    await h.settle()
    deputy = next(  # wishes of one category go round the station's deputies
        m.chat_id
        for m in h.fake.sent
        if m.chat_id in (ZHANG, LI, WANG) and receipt in (m.text or "") and m.reply_markup
    )
    card = await h.card_for(deputy, receipt)
    h.fake.press(deputy, card, "受理")
    await h.fake.wait_for(chat_id=deputy, text_contains="已受理")
    card = h.fake.message(deputy, card.message_id)
    await h.press(deputy, card, "办结")
    await h.say(deputy, result)
    await fake.wait_until(lambda: any(result in m["text"]["content"] for m in fake.custom))
    return next(m["text"]["content"] for m in fake.custom if result in m["text"]["content"])


def link_id(text: str, label: str) -> str:
    found = re.search(rf"msgmenucontent={re.escape(quote(label))}&msgmenuid=([0-9]+)", text)
    assert found is not None, f"no link {label!r} in {text!r}"
    return found.group(1)


async def test_a_rating_link_in_an_older_notice_rates_that_wish(wx: WeChatRig) -> None:
    """Review, with LIAISON_WECHAT_MSGMENU: wishes A then B resolved, both notices offering
    满意/基本满意/不满意; 不满意 tapped in A's notice rated and reopened B. Each link now
    carries its own id: A is rated, B is untouched."""
    h = wx.h
    wx.runtime.channel.msgmenu = True
    for deputy in (ZHANG, LI, WANG):
        h.fake.send_text(deputy, "/start")
        await h.fake.next_message(deputy)
    first = await leave_wish(wx)
    notice_a = await resolve(wx, first, "已联系供电所，今天下午换好了灯泡")
    # the second from the menu (a second follow in the same second is a retry of the first)
    prompt = await wx.choose(await wx.send(wx.fake.event(OPENID, "CLICK", "NEW")), "道路交通")
    step = await wx.choose(await wx.say("公园东门的长椅断了一条腿，老人没地方坐"), "下一步")
    confirm = await wx.choose(await wx.choose(step, "不公开"), "跳过")
    receipt = await wx.choose(confirm, "确认提交")
    assert "描述" in prompt and "已收到您的心愿" in receipt
    second = receipt.split("编号 ")[1].split("（")[0].strip()
    notice_b = await resolve(wx, second, "已联系物业，路灯明天修好")
    await wx.send(wx.fake.text(OPENID, "不满意", bizmsgmenuid=link_id(notice_a, "不满意")))
    async with h.app.db.read() as conn:
        wish_a = await Repos(conn).wish_by_receipt(first)
        wish_b = await Repos(conn).wish_by_receipt(second)
    assert wish_a is not None and wish_b is not None
    assert wish_a.rating is not None and wish_b.rating is None
    assert not wish_b.is_open
    assert link_id(notice_a, "不满意") != link_id(notice_b, "不满意")


async def test_following_on_the_wall_says_so_and_offers_the_pages_new_options(
    wx: WeChatRig,
) -> None:
    """我也关注 answers with Telegram's toast only ("已关注，办结时会通知您") and new buttons for
    the wall page (rebutton): on WeChat both are said, as text and the new numbered options,
    and the numbers follow (the same number now stops following)."""
    welcome = await wx.send(wx.fake.event(OPENID, "subscribe", "qrscene_st_huimin"))
    prompt = await wx.choose(welcome, "我要留言")
    prompt = await wx.choose(prompt, "道路交通")
    step = await wx.choose(await wx.say("小区门口路灯坏了三天，晚上很黑"), "下一步")
    step = await wx.choose(step, "同意公开")
    receipt = await wx.choose(await wx.choose(step, "跳过"), "确认提交")
    assert "已收到您的心愿" in receipt
    await wx.send(wx.fake.event(NEIGHBOUR, "subscribe", "qrscene_st_huimin"))
    wall = await wx.send(wx.fake.event(NEIGHBOUR, "CLICK", "WALL"))
    number = re.search(r"(\d+)\. ☆ 我也关注", wall)
    assert number, wall
    followed = await wx.send(wx.fake.text(NEIGHBOUR, number.group(1)))
    assert "已关注，办结时会通知您" in followed
    assert f"{number.group(1)}. ★ 已关注" in followed, followed  # the page's new options
    unfollowed = await wx.send(wx.fake.text(NEIGHBOUR, number.group(1)))
    assert "已取消关注" in unfollowed


async def test_a_menu_tap_mid_wish_leaves_it_and_the_question_is_answered(wx: WeChatRig) -> None:
    """Describing a wish, the resident taps the menu's 常见问题 and types a question: it was
    added to the wish ("已记录…"). The tap is the /faq command; the conversation sets the draft
    aside for it, as it does for /faq on Telegram, so the question is answered; the menu's
    我要留言 takes the wish up again with its text."""
    await wx.send(wx.fake.event(OPENID, "subscribe", "qrscene_st_huimin"))
    categories = await wx.send(wx.fake.event(OPENID, "CLICK", "NEW"))
    assert "描述" in await wx.choose(categories, "道路交通")
    assert "已记录" in await wx.say("小区门口路灯坏了三天，晚上很黑")
    topics = await wx.send(wx.fake.event(OPENID, "CLICK", "FAQ"))
    assert "已为您保留" in topics
    answer = await wx.say("请问代表啥时候接待？")
    assert "每周三上午 9:00-11:30" in answer and "已记录" not in answer
    wx.fake.now += 1  # a later tap of the same item (one second apart: not a retry)
    resumed = await wx.send(wx.fake.event(OPENID, "CLICK", "NEW"))
    assert "接着填写" in resumed
    step = await wx.choose(resumed, "下一步")
    step = await wx.choose(step, "不公开")
    confirm = await wx.choose(step, "跳过")
    assert "路灯坏了三天" in confirm and "接待" not in confirm
