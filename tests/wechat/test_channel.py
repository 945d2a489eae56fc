"""The WeChat channel with the real use cases, the real Dispatcher, a real SQLite file and the fake
WeChat: the resolution reaches a WeChat resident by 客服 inside the window, by template outside it,
by a consented subscription without a template, else waits; the path is recorded per wish."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC

import pytest

from bot.clock import ManualClock
from bot.dispatcher import DeliveryError, Dispatcher, Failure
from bot.domain.draft import Draft
from bot.domain.model import Action
from bot.domain.notices import NoticeKind
from bot.i18n import Catalog
from bot.messages import Button, OutMessage
from bot.services import Identity, Liaison
from storage.db import Database, fetch_all, fetch_one
from storage.wechat import WeChatRepo, WindowState
from tests.conftest import person
from tests.fake_wechat import FakeWeChat
from wechat.api import WeChatApi
from wechat.channel import NoticeTemplates, Path, WeChatChannel, window_room
from wechat.fields import parse_fields
from wechat.render import render, rest_after, split_bytes

OPENID = "o6_bmjrPTlm6_2sgVt7hMZOPfL2M"


@pytest.fixture
async def fake() -> AsyncIterator[FakeWeChat]:
    f = FakeWeChat()
    await f.start()
    yield f
    await f.stop()


async def channel_for(
    db: Database, fake: FakeWeChat, clock: ManualClock, templates: NoticeTemplates
) -> tuple[WeChatChannel, WeChatApi]:
    api = WeChatApi(fake.app_id, fake.app_secret, fake.base_url)
    return WeChatChannel(db, api, clock, Catalog("zh_CN"), templates), api


async def resolved_wish(liaison: Liaison, db: Database, clock: ManualClock) -> int:
    resident = await liaison.people.identify(
        Identity(channel="wechat", external_id=OPENID, chat_id=OPENID, display_name=None)
    )
    await liaison.directory.choose_station(resident, "huimin")
    await liaison.flows.start_draft(resident)

    def fill(d: Draft) -> Draft:
        return (
            d.with_category("traffic")
            .with_text("路灯坏了三天")
            .described()
            .with_public(False)
            .with_phone("13812345678")
        )

    await liaison.flows.update_draft(resident, fill)
    wish, _ = await liaison.wishes.submit_draft(resident, None)
    deputy = await liaison.people.identify(person(800001))
    await liaison.wishes.act(deputy, wish.id, Action.ACCEPT)
    async with db.transaction() as conn:  # only the resolution is under test
        await conn.execute("UPDATE outbox SET status='sent'")
    await liaison.wishes.act(deputy, wish.id, Action.RESOLVE, body="已联系供电所更换灯泡")
    return wish.id


async def deliver_outbox(db: Database, clock: ManualClock, channel: WeChatChannel) -> None:
    """Run the real Dispatcher until the WeChat rows are sent."""

    async def unreachable(user_id: int, reason: str) -> None:
        raise AssertionError(f"unreachable {user_id} {reason}")

    dispatcher = Dispatcher(db, {"wechat": channel}, clock, unreachable)
    task = asyncio.create_task(dispatcher.run())
    try:
        async with asyncio.timeout(30):
            while True:
                async with db.read() as conn:
                    row = await fetch_one(
                        conn,
                        "SELECT COUNT(*) FROM outbox WHERE channel='wechat' AND status='pending'",
                    )
                if row is not None and row[0] == 0:
                    break
                await asyncio.sleep(0.05)
    finally:
        dispatcher.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def open_window(db: Database, clock: ManualClock, kind: str) -> None:
    async with db.transaction() as conn:
        await WeChatRepo(conn).open_window(OPENID, kind, clock.now())


async def test_resolution_inside_the_window_goes_as_custom_message(
    liaison: Liaison, db: Database, clock: ManualClock, fake: FakeWeChat
) -> None:
    wish_id = await resolved_wish(liaison, db, clock)
    fake.open_window(OPENID, "message")
    await open_window(db, clock, "message")
    channel, api = await channel_for(db, fake, clock, NoticeTemplates({"result": "TPL_RESULT"}))
    await deliver_outbox(db, clock, channel)
    await api.close()
    assert fake.custom and "已联系供电所更换灯泡" in fake.custom[0]["text"]["content"]
    assert fake.custom[0]["touser"] == OPENID
    assert "1. 满意" in fake.custom[-1]["text"]["content"]  # the rating buttons as numbers
    assert not fake.templates
    async with db.read() as conn:
        repo = WeChatRepo(conn)
        assert await repo.paths(wish_id) and set(await repo.paths(wish_id)) == {"custom"}
        assert await repo.option(OPENID, 1) == f"a:rt:{wish_id}:s"
        assert await repo.option_by_label(OPENID, "满意") == f"a:rt:{wish_id}:s"  # msgmenu taps


async def test_resolution_outside_the_window_goes_as_template(
    liaison: Liaison, db: Database, clock: ManualClock, fake: FakeWeChat
) -> None:
    wish_id = await resolved_wish(liaison, db, clock)
    fake.open_window(OPENID, "message")
    await open_window(db, clock, "message")
    clock.advance(hours=49)
    fake.now += 49 * 3600
    channel, api = await channel_for(db, fake, clock, NoticeTemplates({"result": "TPL_RESULT"}))
    await deliver_outbox(db, clock, channel)
    await api.close()
    assert not fake.custom
    assert fake.templates and fake.templates[0]["template_id"] == "TPL_RESULT"
    data = fake.templates[0]["data"]
    assert set(data) == {"thing1", "character_string2", "thing3", "time4"}  # the default keys
    assert data["thing1"]["value"] == "您的心愿已办结"
    assert data["character_string2"]["value"].startswith("HM-")
    assert len(data["thing3"]["value"]) <= 20 and "\n" not in data["thing3"]["value"]
    async with db.read() as conn:
        assert set(await WeChatRepo(conn).paths(wish_id)) == {"template"}
        assert await WeChatRepo(conn).count_waiting() == 0  # reached them: not "waiting"


async def test_wechat_refusing_custom_falls_through_to_template(
    liaison: Liaison, db: Database, clock: ManualClock, fake: FakeWeChat
) -> None:
    """Our window says open but WeChat says 45015 (it knows better): the next path is taken."""
    wish_id = await resolved_wish(liaison, db, clock)
    await open_window(db, clock, "message")  # the fake has no window for this resident
    channel, api = await channel_for(db, fake, clock, NoticeTemplates({"result": "TPL_RESULT"}))
    await deliver_outbox(db, clock, channel)
    await api.close()
    assert ("custom/send", 45015) in fake.refused and fake.templates
    async with db.read() as conn:
        assert "template" in await WeChatRepo(conn).paths(wish_id)


async def test_no_template_uses_consented_subscription_else_waits(
    liaison: Liaison, db: Database, clock: ManualClock, fake: FakeWeChat
) -> None:
    wish_id = await resolved_wish(liaison, db, clock)
    channel, api = await channel_for(db, fake, clock, NoticeTemplates({}, {"result": "SUB_RESULT"}))
    async with db.transaction() as conn:
        await WeChatRepo(conn).add_consent(OPENID, "SUB_RESULT", clock.now())
    fake.consents.add((OPENID, "SUB_RESULT"))
    result = NoticeKind.RESULT  # as the core queues a notice about the resolution
    first = await channel.send(OPENID, OutMessage(text="第一条", wish_id=wish_id, notice=result))
    second = await channel.send(OPENID, OutMessage(text="第二条", wish_id=wish_id, notice=result))
    await api.close()
    assert (first, second) == (Path.SUBSCRIPTION, Path.WAITING)
    assert len(fake.subscriptions) == 1
    async with db.read() as conn:
        repo = WeChatRepo(conn)
        assert await repo.count_waiting() == 1  # only the second reached no one
        waiting = await repo.waiting(OPENID)  # both full cards are shown at the next message
        assert [(w.payload["text"], w.waiting) for w in waiting] == [
            ("第一条", False),
            ("第二条", True),
        ]


def test_window_rules(clock: ManualClock) -> None:
    now = clock.now()
    assert window_room(None, now) == 0
    assert window_room(WindowState(now, "message", 0), now) == 5
    assert window_room(WindowState(now, "message", 4), now) == 1
    assert window_room(WindowState(now, "event", 0), now) == 3
    clock.advance(seconds=61)
    assert window_room(WindowState(now, "event", 0), clock.now()) == 0
    assert window_room(WindowState(now, "message", 0), clock.now()) == 5
    clock.advance(hours=48)
    assert window_room(WindowState(now, "message", 0), clock.now()) == 0


def test_render_options_links_and_byte_split() -> None:
    cat = Catalog("zh_CN")
    msg = OutMessage(
        text='<b>选择</b> &amp; <a href="https://x/s/huimin">网页</a>',
        buttons=((Button("道路交通", "st:huimin"), Button("环境", "st:x")),),
    )
    r = render(msg, cat)
    assert r.texts[0].startswith('选择 & <a href="https://x/s/huimin">网页</a>')
    assert "1. 道路交通" in r.texts[0] and "2. 环境" in r.texts[0]
    assert r.actions == ("st:huimin", "st:x")
    menu = render(msg, cat, msgmenu=True)
    assert (
        'href="weixin://bizmsgmenu?msgmenucontent=%E9%81%93%E8%B7%AF%E4%BA%A4%E9%80%9A&msgmenuid=1"'
        in menu.texts[0]
    )
    long = "路" * 1000 + "\n" + "灯" * 700
    parts = split_bytes(long)
    assert all(len(p.encode()) <= 2048 for p in parts) and "".join(parts) == long.replace("\n", "")


async def test_a_refused_template_id_does_not_lose_the_notice(
    liaison: Liaison, db: Database, clock: ManualClock, fake: FakeWeChat
) -> None:
    wish_id = await resolved_wish(liaison, db, clock)
    channel, api = await channel_for(db, fake, clock, NoticeTemplates({"result": "TPL_RESULT"}))
    fake.fail_next["template/send"] = [40037]  # invalid template_id
    done = OutMessage(text="办结了", wish_id=wish_id, notice=NoticeKind.RESULT)
    path = await channel.send(OPENID, done)
    assert path is Path.WAITING
    fake.fail_next["template/send"] = [503]  # WeChat busy: the dispatcher retries later
    with pytest.raises(DeliveryError):
        await channel.send(OPENID, done)
    await api.close()


def test_photos_are_mentioned_not_lost() -> None:
    r = render(OutMessage(photos=("AgAD1", "AgAD2")), Catalog("zh_CN"))
    assert r.texts == ("（2 张图片，请到联络站网页或 Telegram 查看）",)


async def test_the_template_is_the_one_of_the_kind_the_notice_carries(
    liaison: Liaison, db: Database, clock: ManualClock, fake: FakeWeChat
) -> None:
    """The adapter decides nothing: the kind comes with the message (bot/notify.py queues it),
    whatever state the wish is in when it is sent; a message with none is a plain notice."""
    wish_id = await resolved_wish(liaison, db, clock)  # resolved: the old adapter said "result"
    templates = NoticeTemplates({"result": "TPL_RESULT", "reply": "TPL_REPLY", "notice": "TPL_N"})
    channel, api = await channel_for(db, fake, clock, templates)
    reply = OutMessage(text="代表的回复", wish_id=wish_id, notice=NoticeKind.REPLY)
    assert await channel.send(OPENID, reply) is Path.TEMPLATE
    assert await channel.send(OPENID, OutMessage(text="没有种类", wish_id=wish_id)) is Path.TEMPLATE
    await api.close()
    sent = [(t["template_id"], t["data"]["thing1"]["value"]) for t in fake.templates]
    assert sent == [("TPL_REPLY", "代表回复了您的心愿"), ("TPL_N", "联络站给您的通知")]
    assert all(t["data"]["character_string2"]["value"].startswith("HM-") for t in fake.templates)


async def test_template_fields_follow_the_configured_mapping_and_fit_their_types(
    liaison: Liaison, db: Database, clock: ManualClock, fake: FakeWeChat
) -> None:
    """A station's 类目模板 with its own keys (LIAISON_WECHAT_TEMPLATE_FIELDS_RESULT): each of
    our values goes to its key, cut and cleaned by the key's type, so WeChat takes it (the old
    first/keyword1..3/remark layout was refused with 47003 by current templates)."""
    wish_id = await resolved_wish(liaison, db, clock)
    fake.template_keys["TPL_MINE"] = ("character_string1", "phrase2", "thing5", "time6", "thing7")
    mapping = parse_fields(
        "character_string1=receipt,phrase2=status,thing5=text,time6=time,thing7=station"
    )
    templates = NoticeTemplates(
        {"result": "TPL_MINE"}, template_fields={"result": mapping}, tz=UTC
    )
    channel, api = await channel_for(db, fake, clock, templates)
    long_text = "居民反映：\n小区门口的路灯坏了三天，晚上很黑，老人出门不方便，希望尽快修好。"
    path = await channel.send(
        OPENID, OutMessage(text=long_text, wish_id=wish_id, notice=NoticeKind.RESULT)
    )
    await api.close()
    assert path is Path.TEMPLATE
    data = {k: v["value"] for k, v in fake.templates[0]["data"].items()}
    assert data["character_string1"].startswith("HM-") and data["character_string1"].isascii()
    assert data["phrase2"] == "已办结"
    assert len(data["thing5"]) == 20 and data["thing5"].startswith("居民反映： 小区门口")
    assert data["thing5"].endswith("…") and "\n" not in data["thing5"]
    assert data["time6"] == clock.now().astimezone(UTC).strftime("%Y-%m-%d %H:%M")
    assert "惠民" in data["thing7"]


async def test_the_fake_refuses_what_wechat_refuses(fake: FakeWeChat) -> None:
    api = WeChatApi(fake.app_id, fake.app_secret, fake.base_url)
    for data in (
        {"keyword1": "HM-1"},  # a key the template lacks (the retired layout)
        {"thing1": "二" * 21},  # a thing of more than 20 characters
        {"character_string2": "编号12"},  # Chinese in a character_string
    ):
        with pytest.raises(DeliveryError) as err:
            await api.send_template(OPENID, "TPL_RESULT", data)
        assert err.value.failure is Failure.BAD_REQUEST and "47003" in str(err.value)
    with pytest.raises(DeliveryError):
        await api.send_template(OPENID, "TPL_UNKNOWN", {"thing1": "x"})  # 40037
    await api.close()
    assert [code for _, code in fake.refused] == [47003, 47003, 47003, 40037]
    assert not fake.templates


@pytest.mark.parametrize("template", ["TPL_NOTICE", ""])
async def test_a_message_cut_short_by_wechat_goes_on_with_the_unsent_parts_only(
    db: Database, clock: ManualClock, fake: FakeWeChat, template: str
) -> None:
    """Three 客服 parts; WeChat refuses part 2 (45047, its count used up). The template (or the
    waiting card) carries parts 2 and 3 only: the old code sent the whole message again, so the
    resident read part 1 twice. The options still work when the rest is shown."""
    await open_window(db, clock, "message")  # our count says room for 5
    fake.open_window(OPENID, "message")
    fake.windows[OPENID].quota = 1  # WeChat's says 1
    text = "\n".join(("甲" * 600, "乙" * 600, "丙" * 600))
    message = OutMessage(text=text, buttons=((Button("满意", "a:rt:9:s"),),))
    parts = render(message, Catalog("zh_CN")).texts
    assert len(parts) == 3
    templates = NoticeTemplates({"notice": template} if template else {})
    channel, api = await channel_for(db, fake, clock, templates)
    path = await channel.send(OPENID, message)
    await api.close()
    assert path is (Path.TEMPLATE if template else Path.WAITING)
    assert [m["text"]["content"] for m in fake.custom] == [parts[0]]
    assert ("custom/send", 45047) in fake.refused
    if template:
        assert fake.templates[0]["data"]["thing3"]["value"].startswith("乙乙乙")
    async with db.read() as conn:
        kept = await WeChatRepo(conn).waiting(OPENID)
    assert len(kept) == 1 and "甲" not in kept[0].payload["text"]
    rest = render(OutMessage.from_payload(kept[0].payload), Catalog("zh_CN"))
    assert rest.texts == parts[1:] and rest.actions == ("a:rt:9:s",)


async def test_a_part_refused_for_a_passing_reason_is_not_sent_twice(
    db: Database, clock: ManualClock, fake: FakeWeChat
) -> None:
    """Part 2 of 3 meets WeChat busy (-1) after part 1 went out: the rest waits for the
    resident's next message. The old code raised, and the outbox's retry sent part 1 again."""
    await open_window(db, clock, "message")
    fake.open_window(OPENID, "message")
    fake.fail_next["custom/send"] = [0, -1]  # part 1 goes through, part 2: busy
    message = OutMessage(text="\n".join(("甲" * 600, "乙" * 600, "丙" * 600)))
    parts = render(message, Catalog("zh_CN")).texts
    channel, api = await channel_for(db, fake, clock, NoticeTemplates({}))
    path = await channel.send(OPENID, message)
    await api.close()
    assert path is Path.WAITING
    assert [m["text"]["content"] for m in fake.custom] == [parts[0]]
    async with db.read() as conn:
        kept = await WeChatRepo(conn).waiting(OPENID)
    assert len(kept) == 1
    assert render(OutMessage.from_payload(kept[0].payload), Catalog("zh_CN")).texts == parts[1:]


def test_the_rest_of_a_message_keeps_its_links_and_escapes_its_text() -> None:
    cat = Catalog("zh_CN")
    text = "甲" * 700 + '\n1 < 2 &amp; <a href="https://x/s/huimin?a=1&amp;b=2">网页</a>'
    message = OutMessage(text=text, photos=("AgAD1",), wish_id=7)
    parts = render(message, cat).texts
    assert len(parts) == 2
    rest = rest_after(message, cat, False, 1)
    assert rest.wish_id == 7 and rest.photos == ()
    assert render(rest, cat).texts == parts[1:]


async def test_a_token_refused_twice_is_retried_by_the_outbox_not_dropped(
    liaison: Liaison, db: Database, clock: ManualClock, fake: FakeWeChat
) -> None:
    """The real Dispatcher: WeChat refuses the token even after the refresh (40001 twice). The
    old code mapped that to BAD_REQUEST and the dispatcher marked the notice dead; now it is a
    transient failure, retried, and delivered."""
    await resolved_wish(liaison, db, clock)
    fake.open_window(OPENID, "message")
    await open_window(db, clock, "message")
    channel, api = await channel_for(db, fake, clock, NoticeTemplates({}))
    await api.access_token()
    fake.fail_next["custom/send"] = [40001, 40001]

    async def unreachable(user_id: int, reason: str) -> None:
        raise AssertionError(f"unreachable {user_id} {reason}")

    async def statuses() -> list[tuple[str, int]]:
        async with db.read() as conn:
            rows = await fetch_all(
                conn, "SELECT status, attempts FROM outbox WHERE channel='wechat' ORDER BY id"
            )
        return [(r[0], r[1]) for r in rows]

    dispatcher = Dispatcher(db, {"wechat": channel}, clock, unreachable)
    task = asyncio.create_task(dispatcher.run())
    try:
        async with asyncio.timeout(30):
            while True:  # the first attempt has failed: counted, not dead
                if any(attempts for _, attempts in await statuses()):
                    break
                await asyncio.sleep(0.05)
            assert all(status != "dead" for status, _ in await statuses())
            clock.advance(seconds=10)  # past the retry's backoff
            dispatcher.wake()
            while True:
                if all(status != "pending" for status, _ in await statuses()):
                    break
                await asyncio.sleep(0.05)
    finally:
        dispatcher.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await api.close()
    assert {status for status, _ in await statuses()} == {"sent"}
    assert fake.custom and fake.force_requests == 1


async def test_a_kind_without_its_own_template_uses_the_notice_templates_fields(
    liaison: Liaison, db: Database, clock: ManualClock, fake: FakeWeChat
) -> None:
    """A resolution with no result template goes by the notice template: filled with the
    notice template's keys, not with the mapping set for a result template."""
    wish_id = await resolved_wish(liaison, db, clock)
    fake.template_keys["TPL_N2"] = ("thing9",)
    templates = NoticeTemplates(
        {"notice": "TPL_N2"},
        template_fields={"notice": {"thing9": "heading"}, "result": {"thing1": "text"}},
    )
    channel, api = await channel_for(db, fake, clock, templates)
    resolved = OutMessage(text="办结了", wish_id=wish_id, notice=NoticeKind.RESULT)
    path = await channel.send(OPENID, resolved)
    await api.close()
    assert path is Path.TEMPLATE
    assert fake.templates[0]["data"] == {"thing9": {"value": "您的心愿已办结"}}
