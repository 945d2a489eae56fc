"""The /wechat webhook over HTTP, driven by the fake WeChat (signed, encrypted, retried pushes).

The conversation behind it is a recording double (the channel seam's Conversation is merged
separately): these tests are about the adapter's contract with WeChat — signatures, modes,
dedupe before answering, passive reply versus success + 客服, options and media."""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp import web
from PIL import Image

from bot.clock import ManualClock
from bot.i18n import Catalog
from bot.messages import Button, OutMessage
from storage.db import Database, fetch_all
from storage.wechat import MENU_ID_BASE, WeChatRepo
from tests.fake_wechat import FakeWeChat
from tests.web.test_web_pages import _jpeg_with_gps
from wechat.api import WeChatApi
from wechat.channel import WeChatChannel
from wechat.messages import parse_push
from wechat.webhook import Input, WebhookConfig, WeChatWebhook

AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
OPENID = "oRes1dent_0001"


@dataclass
class Reply:
    messages: tuple[OutMessage, ...] = ()


@dataclass
class RecordingConversation:
    """Answers each input with one card naming it; `gate` holds answers back while cleared."""

    seen: list[Input] = field(default_factory=list)
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    entered: asyncio.Event = field(default_factory=asyncio.Event)
    answer: list[OutMessage] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.gate.set()

    async def handle(self, event: Input) -> Reply:
        self.seen.append(event)
        self.entered.set()
        await self.gate.wait()
        if self.answer:
            return Reply(tuple(self.answer))
        if event.start:
            return Reply((OutMessage(text=f"欢迎 {event.start_payload}"),))
        return Reply((OutMessage(text=f"收到 {event.text or event.action or event.photos}"),))


@dataclass
class Rig:
    fake: FakeWeChat
    conversation: RecordingConversation
    webhook: WeChatWebhook
    db: Database


@pytest.fixture(params=["plain", "aes"])
async def rig(request: Any, db: Database, clock: ManualClock, tmp_path: Path) -> AsyncIterator[Rig]:
    fake = FakeWeChat(aes_key=AES_KEY if request.param == "aes" else "", retry_after=5.0)
    await fake.start()
    api = WeChatApi(fake.app_id, fake.app_secret, fake.base_url)
    channel = WeChatChannel(db, api, clock, Catalog("zh_CN"))
    conversation = RecordingConversation()
    config = WebhookConfig(
        token=fake.token,
        app_id=fake.app_id,
        aes_key=fake.aes_key,
        answer_within=4.0,  # generous: a loaded machine must not turn passive replies into 客服
        media_dir=tmp_path / "media",
    )
    hook = WeChatWebhook(config, db, clock, conversation, channel, api, make_event=lambda i: i)
    app = web.Application()
    hook.attach(app)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    fake.webhook_url = f"http://127.0.0.1:{port}/wechat"
    yield Rig(fake, conversation, hook, db)
    conversation.gate.set()
    await runner.cleanup()
    await api.close()
    await fake.stop()


async def inbox_rows(db: Database) -> int:
    async with db.read() as conn:
        return len(await fetch_all(conn, "SELECT 1 FROM inbox WHERE channel='wechat'"))


async def test_get_verification_echoes(rig: Rig) -> None:
    assert await rig.fake.verify("echo-123") == (200, "echo-123")
    status, _ = await rig.fake.verify("echo-123", bad_signature=True)
    assert status == 403


async def test_wrong_signature_is_refused_and_nothing_taken_in(rig: Rig) -> None:
    result = await rig.fake.push(rig.fake.text(OPENID, "你好"), bad_signature=True)
    assert result.status == 403
    assert not rig.conversation.seen and await inbox_rows(rig.db) == 0


async def test_text_gets_a_passive_reply_that_reads_back(rig: Rig) -> None:
    result = await rig.fake.push(rig.fake.text(OPENID, "路灯坏了"))
    assert result.status == 200 and result.tries == 1
    reply = parse_push(result.plaintext.replace("<MsgType>", "<MsgId>1</MsgId><MsgType>").encode())
    assert reply.to_user == OPENID and reply.content == "收到 路灯坏了"
    if rig.fake.aes_key:
        assert "<Encrypt>" in result.body and "路灯" not in result.body  # encrypted on the wire


async def test_a_long_chinese_text_is_taken_in_in_every_mode(rig: Rig) -> None:
    """2 000 Chinese characters: 6 000 bytes of UTF-8, so an <Encrypt> of over 8 000 characters
    in safe mode. The old code capped Encrypt like a field (8 192) and refused it with 400, which
    WeChat retries and then shows 该公众号暂时无法提供服务; plain mode took it."""
    story = ("小区门口的路灯坏了三天，晚上很黑。" * 120)[:2000]
    result = await rig.fake.push(rig.fake.text(OPENID, story))
    assert result.status == 200
    assert [e.text for e in rig.conversation.seen] == [story]
    if rig.fake.aes_key:
        compat = await rig.fake.push(rig.fake.text(OPENID, story[::-1]), mode="compat")
        assert compat.status == 200 and rig.conversation.seen[-1].text == story[::-1]


async def test_compatible_mode_is_read(rig: Rig) -> None:
    if not rig.fake.aes_key:
        pytest.skip("compatible mode needs an EncodingAESKey")
    result = await rig.fake.push(rig.fake.text(OPENID, "兼容"), mode="compat")
    assert result.status == 200 and rig.conversation.seen[-1].text == "兼容"


async def test_follow_through_station_qr_starts_at_that_station(rig: Rig) -> None:
    result = await rig.fake.push(rig.fake.event(OPENID, "subscribe", "qrscene_st_huimin"))
    assert rig.conversation.seen[0].start and rig.conversation.seen[0].start_payload == "huimin"
    assert "欢迎 huimin" in result.plaintext
    await rig.fake.push(rig.fake.event("oOther", "SCAN", "st_xingyuan"))
    assert rig.conversation.seen[1].start_payload == "xingyuan"


async def test_same_msgid_three_times_is_taken_in_once(rig: Rig) -> None:
    xml = rig.fake.text(OPENID, "同一条")
    for _ in range(3):
        result = await rig.fake.push(xml)
        assert result.status == 200
    assert [e.text for e in rig.conversation.seen] == ["同一条"]
    assert await inbox_rows(rig.db) == 1


async def test_slow_answer_is_success_then_custom(rig: Rig) -> None:
    """The conversation holds its answer past WeChat's patience: the push is answered `success`
    and the answer follows by 客服."""
    rig.webhook.config.answer_within = 0.3
    rig.conversation.gate.clear()
    push = asyncio.create_task(rig.fake.push(rig.fake.text(OPENID, "慢")))
    await rig.conversation.entered.wait()
    result = await push
    assert result.body == "success"
    rig.conversation.gate.set()
    await rig.fake.wait_until(lambda: rig.fake.custom)
    assert rig.fake.custom[0]["text"]["content"] == "收到 慢"
    assert len(rig.conversation.seen) == 1


async def test_unanswered_push_is_retried_by_wechat_and_the_retry_makes_nothing_new(
    rig: Rig,
) -> None:
    """The fake gives up on a try before the webhook answers (as WeChat does after 5 s) and
    pushes again: the retry is recognised in the inbox and answered `success` at once."""
    rig.webhook.config.answer_within = 3.0
    rig.fake.retry_after = 0.5
    rig.conversation.gate.clear()
    result = await rig.fake.push(rig.fake.text(OPENID, "重试"))
    assert result.tries == 2 and result.body == "success"
    rig.conversation.gate.set()
    await rig.fake.wait_until(lambda: rig.fake.custom)
    assert [e.text for e in rig.conversation.seen] == ["重试"]
    assert [m["text"]["content"] for m in rig.fake.custom] == ["收到 重试"]
    assert await inbox_rows(rig.db) == 1


async def test_a_msgid_beyond_the_signed_64_bit_range_is_taken_in_once(rig: Rig) -> None:
    """MsgId is a 64-bit integer: 18446744073709551615 overflowed the inbox's signed INTEGER
    (OverflowError, HTTP 500, retried by WeChat, never answered). It is taken in, once."""
    xml = rig.fake.text(OPENID, "大号消息", MsgId=18446744073709551615)
    for _ in range(2):
        result = await rig.fake.push(xml)
        assert result.status == 200
    other = rig.fake.text(OPENID, "另一条", MsgId=18446744073709551614)
    assert (await rig.fake.push(other)).status == 200
    assert [e.text for e in rig.conversation.seen] == ["大号消息", "另一条"]
    assert await inbox_rows(rig.db) == 2


def test_update_ids_are_stable_distinct_and_fit_the_column() -> None:
    from wechat.messages import Push
    from wechat.webhook import update_id

    def msg(msg_id: str) -> Push:
        return Push("gh_x", OPENID, 1, "text", msg_id=msg_id)

    big = [msg("18446744073709551615"), msg("9223372036854775808"), msg("99999999999999999999")]
    ids = [update_id(p) for p in big]
    assert all(-(2**63) <= i < 2**63 for i in ids) and len(set(ids)) == 3
    assert update_id(msg("18446744073709551615")) == ids[0]  # the retry finds the same row
    assert update_id(msg("9223372036854775807")) == 2**63 - 1  # in range: the MsgId itself
    event = Push("gh_x", OPENID, 1, "event", event="subscribe")
    assert update_id(event) < 0 and update_id(event) not in ids


async def test_numbered_options_map_to_stored_actions(rig: Rig) -> None:
    rig.conversation.answer = [
        OutMessage(
            text="请选择类别",
            buttons=((Button("道路交通", "n:cat:traffic"), Button("环境卫生", "n:cat:env")),),
        )
    ]
    first = await rig.fake.push(rig.fake.text(OPENID, "/new"))
    assert "1. 道路交通" in first.plaintext and "2. 环境卫生" in first.plaintext
    assert rig.conversation.seen[0].command == "new"
    # each answer shows the same options again, so each number below reads them
    await rig.fake.push(rig.fake.text(OPENID, " 2 "))
    assert rig.conversation.seen[1].action == "n:cat:env"
    await rig.fake.push(rig.fake.text(OPENID, "道路交通"))  # its label typed out
    assert rig.conversation.seen[2].action == "n:cat:traffic"
    await rig.fake.push(rig.fake.text(OPENID, "１"))  # a full-width digit: the same number
    assert rig.conversation.seen[3].action == "n:cat:traffic"
    # no such option: a press of a button not there (refused as stale), never text
    await rig.fake.push(rig.fake.text(OPENID, "7"))
    assert rig.conversation.seen[4].stale_press and rig.conversation.seen[4].text == "7"


async def test_an_answer_without_options_spends_the_earlier_ones(rig: Rig) -> None:
    """The numbers always mean the options of the latest answer: once the step moved on (an
    answer with no options), "1" is no longer the first category (the old code kept the
    category options live, so menu NEW → "2" → "1" chose a category again, refused as stale,
    and the refusal was never shown)."""
    rig.conversation.answer = [
        OutMessage(
            text="请选择类别",
            buttons=((Button("道路交通", "n:cat:traffic"), Button("环境卫生", "n:cat:env")),),
        )
    ]
    await rig.fake.push(rig.fake.text(OPENID, "/new"))
    rig.conversation.answer = [OutMessage(text="请描述")]
    await rig.fake.push(rig.fake.text(OPENID, "2"))
    assert rig.conversation.seen[1].action == "n:cat:env"
    result = await rig.fake.push(rig.fake.text(OPENID, "1"))
    assert rig.conversation.seen[2].stale_press and not rig.conversation.seen[2].action
    assert "请描述" in result.plaintext  # answered, never silence
    async with rig.db.read() as conn:
        assert await WeChatRepo(conn).option(OPENID, 1) is None


async def test_a_msgmenu_tap_without_its_id_is_matched_by_its_label(rig: Rig) -> None:
    """With LIAISON_WECHAT_MSGMENU=1, taps have been reported to arrive with bizmsgmenuid 0 or
    none, the label as the text: the old code took the label for free text (a category name
    became the wish's text). The one option showing that label is meant."""
    rig.webhook.channel.msgmenu = True
    rig.conversation.answer = [
        OutMessage(
            text="请选择类别",
            buttons=((Button("道路交通", "n:cat:traffic"), Button("环境卫生", "n:cat:env")),),
        )
    ]
    first = await rig.fake.push(rig.fake.text(OPENID, "/new"))
    assert "weixin://bizmsgmenu" in first.plaintext
    await rig.fake.push(rig.fake.text(OPENID, "环境卫生", bizmsgmenuid="0"))
    await rig.fake.push(rig.fake.text(OPENID, "道路交通"))  # no bizmsgmenuid at all
    await rig.fake.push(rig.fake.text(OPENID, "环境卫生很差"))  # not a label: free text
    assert [e.action for e in rig.conversation.seen[1:]] == ["n:cat:env", "n:cat:traffic", ""]
    assert rig.conversation.seen[3].text == "环境卫生很差"


async def test_a_label_shown_twice_is_not_guessed(rig: Rig) -> None:
    rig.webhook.channel.msgmenu = True
    rig.conversation.answer = [
        OutMessage(text="两件心愿", buttons=((Button("查看", "a:w:1"), Button("查看", "a:w:2")),))
    ]
    await rig.fake.push(rig.fake.text(OPENID, "/my"))
    rig.conversation.answer = []
    await rig.fake.push(rig.fake.text(OPENID, "查看", bizmsgmenuid="0"))
    assert rig.conversation.seen[1].text == "查看" and not rig.conversation.seen[1].action


async def test_photo_is_downloaded_at_intake_and_kept_without_exif(
    rig: Rig, tmp_path: Path
) -> None:
    """Kept as web uploads are: re-encoded from the pixels, so the GPS position a phone wrote
    into the picture is not kept (the old code stored the bytes as received)."""
    original = _jpeg_with_gps()
    rig.fake.media["MEDIA1"] = original
    await rig.fake.push(
        rig.fake.xml(OPENID, "image", PicUrl="http://mmbiz/x.jpg", MediaId="MEDIA1")
    )
    ref = rig.conversation.seen[0].photos[0]
    assert ref.startswith("wechat-media:")
    kept = (tmp_path / "media" / f"{ref.split(':')[1]}.jpg").read_bytes()
    assert kept != original
    with Image.open(io.BytesIO(kept)) as img:
        assert img.format == "JPEG" and img.size == (64, 48)
        assert not img.getexif()  # no Make, no GPS


async def test_a_media_that_is_no_image_is_not_kept(rig: Rig, tmp_path: Path) -> None:
    rig.fake.media["MEDIA2"] = b"\xff\xd8\xff not really a photo <script>"
    await rig.fake.push(
        rig.fake.xml(OPENID, "image", PicUrl="http://mmbiz/x.jpg", MediaId="MEDIA2")
    )
    seen = rig.conversation.seen[0]
    assert seen.unsupported and not seen.photos
    assert not (tmp_path / "media").exists() or not list((tmp_path / "media").iterdir())


@pytest.mark.parametrize("errcode", [40164, -1, 45009])
async def test_a_photo_whose_download_wechat_refuses_is_still_answered(
    rig: Rig, errcode: int
) -> None:
    """The access token for media/get is refused (IP not whitelisted, busy, quota): the push
    is answered as an unusable photo, not left unanswered (the old code let WeChatError out of
    the download, so the push's handling failed and the resident heard nothing)."""
    rig.fake.media["MEDIA3"] = _jpeg_with_gps()  # a real photo: only the refusal stops it
    rig.fake.fail_next["stable_token"] = [errcode]
    result = await rig.fake.push(
        rig.fake.xml(OPENID, "image", PicUrl="http://mmbiz/x.jpg", MediaId="MEDIA3")
    )
    assert result.status == 200
    assert rig.fake.fail_next["stable_token"] == []  # the refusal was what the download met
    assert len(rig.conversation.seen) == 1
    seen = rig.conversation.seen[0]
    assert seen.unsupported and not seen.photos
    async with rig.db.read() as conn:  # handled: not left failed for a replay
        rows = await fetch_all(
            conn, "SELECT 1 FROM inbox WHERE channel='wechat' AND processed_at IS NULL"
        )
    assert rows == []


async def test_kept_notices_are_shown_at_the_next_message(rig: Rig, clock: ManualClock) -> None:
    async with rig.db.transaction() as conn:
        await WeChatRepo(conn).keep_waiting(OPENID, {"text": "您的心愿已办结"}, None, clock.now())
    await rig.fake.push(rig.fake.text(OPENID, "在吗"))
    # three cards (header, notice, answer): more than a passive reply holds, so 客服 messages
    await rig.fake.wait_until(lambda: len(rig.fake.custom) >= 3)
    texts = [m["text"]["content"] for m in rig.fake.custom]
    assert "1 条消息" in texts[0] and texts[1] == "您的心愿已办结" and texts[2] == "收到 在吗"
    async with rig.db.read() as conn:
        assert await WeChatRepo(conn).waiting(OPENID) == []


async def test_kept_cards_shown_together_number_their_options_on(
    rig: Rig, clock: ManualClock
) -> None:
    """Two kept cards with buttons shown at once: the second card's options continue after the
    first's (3, 4) and every number acts on its own card. Each card was numbered from 1 and
    stored over the one before, so "1" under the first card acted on the second."""
    first = OutMessage(
        text="第一件已办结",
        buttons=((Button("满意", "a:rt:1:s"), Button("不满意", "a:rt:1:b")),),
    )
    second = OutMessage(
        text="第二件已办结",
        buttons=((Button("满意", "a:rt:2:s"), Button("不满意", "a:rt:2:b")),),
    )
    async with rig.db.transaction() as conn:
        for card in (first, second):
            await WeChatRepo(conn).keep_waiting(OPENID, card.to_payload(), None, clock.now())
    await rig.fake.push(rig.fake.text(OPENID, "在吗"))
    await rig.fake.wait_until(lambda: len(rig.fake.custom) >= 4)
    texts = [m["text"]["content"] for m in rig.fake.custom]
    assert "1. 满意" in texts[1] and "2. 不满意" in texts[1]
    assert "3. 满意" in texts[2] and "4. 不满意" in texts[2]
    async with rig.db.read() as conn:
        repo = WeChatRepo(conn)
        assert [await repo.option(OPENID, n) for n in (1, 2, 3, 4)] == [
            "a:rt:1:s",
            "a:rt:1:b",
            "a:rt:2:s",
            "a:rt:2:b",
        ]


@pytest.mark.parametrize(
    "body", [b"<xml><a>", b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml>&e;</xml>']
)
async def test_malformed_signed_push_is_refused(rig: Rig, body: bytes) -> None:
    if rig.fake.aes_key:
        pytest.skip("plaintext only")
    import aiohttp

    from wechat.crypto import signature

    params = {"timestamp": "1", "nonce": "2", "signature": signature(rig.fake.token, "1", "2")}
    async with (
        aiohttp.ClientSession() as s,
        s.post(rig.fake.webhook_url, params=params, data=body) as r,
    ):
        assert r.status == 400
    assert not rig.conversation.seen


async def test_subscription_consent_is_recorded(rig: Rig) -> None:
    xml = (
        f"<xml><ToUserName><![CDATA[{rig.fake.original_id}]]></ToUserName>"
        f"<FromUserName><![CDATA[{OPENID}]]></FromUserName><CreateTime>1610969440</CreateTime>"
        "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe_msg_popup_event]]></Event>"
        "<SubscribeMsgPopupEvent><List><TemplateId><![CDATA[SUB_OK]]></TemplateId>"
        "<SubscribeStatusString><![CDATA[accept]]></SubscribeStatusString><PopupScene>2</PopupScene>"
        "</List><List><TemplateId><![CDATA[SUB_NO]]></TemplateId>"
        "<SubscribeStatusString><![CDATA[reject]]></SubscribeStatusString><PopupScene>2</PopupScene>"
        "</List></SubscribeMsgPopupEvent></xml>"
    )
    result = await rig.fake.push(xml)
    assert result.body == "success" and not rig.conversation.seen
    async with rig.db.read() as conn:
        repo = WeChatRepo(conn)
        assert await repo.has_consent(OPENID, "SUB_OK")
        assert not await repo.has_consent(OPENID, "SUB_NO")


async def test_greeting_links_the_stations_web_page(rig: Rig) -> None:
    rig.webhook.channel.public_url = "https://liaison.example.cn"
    result = await rig.fake.push(rig.fake.event(OPENID, "subscribe", "qrscene_st_huimin"))
    assert "欢迎 huimin" in result.plaintext
    assert "https://liaison.example.cn/s/huimin" in result.plaintext  # WeChat links a bare URL


async def test_oversized_push_is_refused(rig: Rig) -> None:
    import aiohttp

    from wechat.crypto import signature

    params = {"timestamp": "1", "nonce": "2", "signature": signature(rig.fake.token, "1", "2")}
    body = b"<xml>" + b" " * (70 * 1024) + b"</xml>"

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: chunked
        yield body

    async with aiohttp.ClientSession() as s:
        async with s.post(rig.fake.webhook_url, params=params, data=body) as r:
            assert r.status == 413
        async with s.post(rig.fake.webhook_url, params=params, data=chunks()) as r:
            assert r.status == 413
    assert not rig.conversation.seen


async def test_a_push_stored_before_a_restart_is_processed_once(
    rig: Rig, clock: ManualClock
) -> None:
    """The process stopped after storing a push: WeChat's retry (or the start-up replay) gets it
    processed, once."""
    from storage.repositories import Repos
    from wechat.messages import parse_push as parse
    from wechat.webhook import update_id

    xml = rig.fake.text(OPENID, "断电前")
    async with rig.db.transaction() as conn:
        await Repos(conn).inbox_add("wechat", update_id(parse(xml.encode())), xml, clock.now())
    result = await rig.fake.push(xml)
    assert result.plaintext == "success" or "收到 断电前" in result.plaintext
    await rig.fake.push(xml)
    assert [e.text for e in rig.conversation.seen] == ["断电前"]

    other = rig.fake.text(OPENID, "也断电前")
    async with rig.db.transaction() as conn:  # stored as _take does: inbox row and window
        await Repos(conn).inbox_add("wechat", update_id(parse(other.encode())), other, clock.now())
        await WeChatRepo(conn).open_window(OPENID, "message", clock.now())
    rig.fake.open_window(OPENID, "message")
    assert await rig.webhook.replay() == 1
    assert [e.text for e in rig.conversation.seen] == ["断电前", "也断电前"]
    assert rig.fake.custom[-1]["text"]["content"] == "收到 也断电前"
    assert await rig.webhook.replay() == 0


async def test_a_push_failing_at_replay_stops_neither_the_start_nor_the_others(
    rig: Rig, clock: ManualClock
) -> None:
    """A stored push whose handling always fails is counted and given up after the inbox's
    attempts, like a Telegram update; the pushes after it are processed, and replay returns."""
    from storage.repositories import Repos
    from wechat.messages import parse_push as parse
    from wechat.webhook import update_id

    poison, fine = rig.fake.text(OPENID, "坏的"), rig.fake.text(OPENID, "好的")
    async with rig.db.transaction() as conn:
        for xml in (poison, fine):
            await Repos(conn).inbox_add("wechat", update_id(parse(xml.encode())), xml, clock.now())
    handle = rig.conversation.handle

    async def failing(event: Input) -> Reply:
        if event.text == "坏的":
            raise RuntimeError("a defect")
        return await handle(event)

    rig.conversation.handle = failing  # type: ignore[method-assign]
    assert await rig.webhook.replay() == 2  # returned: the start goes on
    assert [e.text for e in rig.conversation.seen] == ["好的"]
    for _ in range(2):
        assert await rig.webhook.replay() == 1  # tried again at the next starts (2nd, 3rd try)
    assert await rig.webhook.replay() == 1  # three tries failed: given up, marked done
    assert await rig.webhook.replay() == 0


async def test_one_residents_pushes_are_handled_in_order_others_meanwhile(rig: Rig) -> None:
    """A resident taps 我要留言 and at once types the wish: their second push waits until the
    first is handled (as Telegram's per-chat queue does), while another resident is answered
    meanwhile. The first push is held by an event the test controls, no timing involved."""
    rig.webhook.config.answer_within = 1.0  # the second push's answer goes by 客服: don't wait 4 s
    release, held = asyncio.Event(), asyncio.Event()
    log: list[str] = []
    handle = rig.conversation.handle

    async def slow_first(event: Input) -> Reply:
        log.append(f"start {event.text}")
        if event.text == "第一段":
            held.set()
            await release.wait()
        reply = await handle(event)
        log.append(f"end {event.text}")
        return reply

    rig.conversation.handle = slow_first  # type: ignore[method-assign]
    first = asyncio.create_task(rig.fake.push(rig.fake.text(OPENID, "第一段")))
    await held.wait()
    # the same resident's next push: taken in (stored) and answered `success`, not handled yet
    second = await rig.fake.push(rig.fake.text(OPENID, "第二段"))
    assert second.plaintext == "success"
    assert log == ["start 第一段"]
    assert await inbox_rows(rig.db) == 2
    # another resident is not held up by the first one
    other = await rig.fake.push(rig.fake.text("oOther_0002", "别人"))
    if "收到 别人" not in other.plaintext:  # a loaded machine: the answer went by 客服
        await rig.fake.wait_until(
            lambda: any(m["text"]["content"] == "收到 别人" for m in rig.fake.custom)
        )
    assert log == ["start 第一段", "start 别人", "end 别人"]

    release.set()
    await first
    answers = {"收到 第一段", "收到 第二段"}
    await rig.fake.wait_until(lambda: answers <= {m["text"]["content"] for m in rig.fake.custom})
    assert log == [
        "start 第一段",
        "start 别人",
        "end 别人",
        "end 第一段",
        "start 第二段",
        "end 第二段",
    ]
    assert [e.text for e in rig.conversation.seen] == ["别人", "第一段", "第二段"]
    # a turn ends once its 客服 answer is sent and counted (the fake saw it a moment before)
    await asyncio.gather(*list(rig.webhook._tasks))
    assert not rig.webhook._turns  # nobody's pushes running: no turn kept


async def test_a_push_during_the_start_up_replay_waits_for_the_replayed_ones(
    rig: Rig, clock: ManualClock
) -> None:
    """The web server (and so /wechat) is up while replay handles the pushes stored before a
    stop: a new push of the same resident is handled after their replayed one, not meanwhile."""
    from storage.repositories import Repos
    from wechat.messages import parse_push as parse
    from wechat.webhook import update_id

    rig.webhook.config.answer_within = 1.0
    stored = rig.fake.text(OPENID, "断电前")
    async with rig.db.transaction() as conn:
        await Repos(conn).inbox_add(
            "wechat", update_id(parse(stored.encode())), stored, clock.now()
        )
        await WeChatRepo(conn).open_window(OPENID, "message", clock.now())
    rig.fake.open_window(OPENID, "message")
    release, held = asyncio.Event(), asyncio.Event()
    handle = rig.conversation.handle

    async def slow_replayed(event: Input) -> Reply:
        if event.text == "断电前":
            held.set()
            await release.wait()
        return await handle(event)

    rig.conversation.handle = slow_replayed  # type: ignore[method-assign]
    replay = asyncio.create_task(rig.webhook.replay())
    await held.wait()
    live = await rig.fake.push(rig.fake.text(OPENID, "重启后"))
    assert live.plaintext == "success"  # taken in, waiting for the replayed push
    assert [e.text for e in rig.conversation.seen] == []
    release.set()
    assert await replay == 1
    await rig.fake.wait_until(lambda: len(rig.fake.custom) == 2)
    assert [e.text for e in rig.conversation.seen] == ["断电前", "重启后"]


async def test_the_start_up_replay_follows_arrival_order_not_the_ids(
    rig: Rig, clock: ManualClock
) -> None:
    """A resident wrote, then tapped a menu item; the process stopped before either was handled.
    An event's inbox id is a negative hash (a message's is its MsgId), so ordered by id the
    click came first: the replay handles them in the order they were stored (wxfix)."""
    from storage.repositories import Repos
    from wechat.messages import parse_push as parse
    from wechat.webhook import update_id

    message = rig.fake.text(OPENID, "先写的话")
    click = rig.fake.event(OPENID, "CLICK", "MY")
    later = rig.fake.text(OPENID, "最后一句")
    ids = [update_id(parse(xml.encode())) for xml in (message, click, later)]
    assert ids[1] < 0 < ids[0] < ids[2]  # by id the click would be replayed first
    for xml, uid in zip((message, click, later), ids, strict=True):
        async with rig.db.transaction() as conn:  # stored as _take does, one push at a time
            await Repos(conn).inbox_add("wechat", uid, xml, clock.now())
            await WeChatRepo(conn).open_window(OPENID, "message", clock.now())
    rig.fake.open_window(OPENID, "message")
    assert await rig.webhook.replay() == 3
    seen = rig.conversation.seen
    assert [(e.text, e.command) for e in seen] == [("先写的话", ""), ("", "my"), ("最后一句", "")]


async def test_telegram_updates_are_still_replayed_in_update_id_order(
    db: Database, clock: ManualClock
) -> None:
    """Telegram's update ids are its arrival order: stored out of order (a batch written after a
    later one), they are still taken by id; WeChat's by the order stored."""
    from storage.repositories import Repos

    async with db.transaction() as conn:
        repos = Repos(conn)
        for channel in ("telegram", "wechat"):
            await repos.inbox_add(channel, 12, "{}", clock.now())
            await repos.inbox_add(channel, 11, "{}", clock.now())
            await repos.inbox_add(channel, -5, "{}", clock.now())
    async with db.read() as conn:
        repos = Repos(conn)
        assert [r[0] for r in await repos.inbox_pending("telegram", 10)] == [-5, 11, 12]
        by_arrival = await repos.inbox_pending("wechat", 10, in_arrival_order=True)
        assert [r[0] for r in by_arrival] == [12, 11, -5]


async def test_migration_0018_numbers_the_pushes_already_stored_in_arrival_order(
    db: Database, clock: ManualClock
) -> None:
    """A database from before the arrival numbers, with pushes pending at the upgrade: they get
    numbers in the order they came, and a push stored afterwards comes after them."""
    from storage.db import migrations
    from storage.repositories import Repos
    from tests.engines import ON_POSTGRES

    version = next(v for v, name, _ in migrations() if name.endswith("_wxfix.sql"))
    async with db.transaction() as conn:  # the inbox as it was before 0018
        if not ON_POSTGRES:
            await conn.execute("DROP TRIGGER inbox_number")
            await conn.execute("DROP INDEX inbox_arrival")
        await conn.execute("ALTER TABLE inbox DROP COLUMN seq")
        await conn.execute("DELETE FROM schema_migrations WHERE version=?", (version,))
    for uid in (12, 11, -5):
        async with db.transaction() as conn:
            await Repos(conn).inbox_add("wechat", uid, "<xml/>", clock.now())
        clock.advance(seconds=1)
    await db.close()
    await db.connect()  # applies 0018 (the coordinator may renumber it) again
    async with db.transaction() as conn:
        await Repos(conn).inbox_add("wechat", -9, "<xml/>", clock.now())
    async with db.read() as conn:
        pending = await Repos(conn).inbox_pending("wechat", 10, in_arrival_order=True)
    assert [p[0] for p in pending] == [12, 11, -5, -9]


async def test_a_number_sent_at_once_reads_the_options_of_the_passive_reply_before_it(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A resident is shown numbered options as the passive reply and sends "2" straight away:
    the "2" is read only after those options are stored (inside the person's turn; they were
    stored after it, so the "2" could be read first and taken as plain text). Driven by
    events: the "2" is queued behind the first push, and the old code's storing is held until
    the "2" has been read, which makes its order deterministic."""
    original_in_turn = rig.webhook._in_turn
    original_set, original_option = WeChatRepo.set_options, WeChatRepo.option
    release, held, second_queued = asyncio.Event(), asyncio.Event(), asyncio.Event()
    first_turn_over, second_read = asyncio.Event(), asyncio.Event()
    order: list[str] = []
    first_uid: list[int] = []

    async def in_turn(push: Any, uid: int, *rest: Any) -> Any:
        if first_uid and uid != first_uid[0]:
            second_queued.set()  # the "2": it waits for the first push's turn from here
        try:
            return await original_in_turn(push, uid, *rest)
        finally:
            if uid == first_uid[0]:
                first_turn_over.set()

    async def set_options(
        repo: WeChatRepo, openid: str, actions: list[str], now: Any, labels: Any = ()
    ) -> None:
        if first_turn_over.is_set():  # stored after the turn (old code): the "2" goes first
            await asyncio.wait_for(second_read.wait(), 30)
        order.append("options stored")
        await original_set(repo, openid, actions, now, labels)

    async def option(repo: WeChatRepo, openid: str, number: int) -> str | None:
        order.append(f"option {number} read")
        second_read.set()
        return await original_option(repo, openid, number)

    handle = rig.conversation.handle
    card = OutMessage(
        text="请选择类别",
        buttons=((Button("道路交通", "n:cat:traffic"), Button("环境卫生", "n:cat:env")),),
    )

    async def held_first(event: Input) -> Reply:
        if event.command != "new":
            return await handle(event)  # the "2": answered with what it was read as
        rig.conversation.seen.append(event)
        held.set()
        await release.wait()
        return Reply((card,))

    monkeypatch.setattr(rig.webhook, "_in_turn", in_turn)
    monkeypatch.setattr(WeChatRepo, "set_options", set_options)
    monkeypatch.setattr(WeChatRepo, "option", option)
    rig.conversation.handle = held_first  # type: ignore[method-assign]
    xml = rig.fake.text(OPENID, "/new")
    first_uid.append(int(parse_push(xml.encode()).msg_id))
    first = asyncio.create_task(rig.fake.push(xml))
    await held.wait()
    second = asyncio.create_task(rig.fake.push(rig.fake.text(OPENID, "2")))
    await second_queued.wait()
    release.set()
    shown = await first
    await second
    assert "2. 环境卫生" in shown.plaintext  # the options went as the passive reply
    # (the "2"'s own answer then stores its options: none, so the category ones are spent)
    assert order[:2] == ["options stored", "option 2 read"]
    assert [(e.command, e.action, e.text) for e in rig.conversation.seen] == [
        ("new", "", ""),
        ("", "n:cat:env", ""),
    ]


async def test_a_late_answers_options_are_stored_before_the_persons_next_push_is_read(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The answer missed the passive reply and goes by 客服 with numbered options; the resident
    had already sent "2": it is read after those options are stored, and answered after them
    (the 客服 answer is sent inside the person's turn; it was sent after it, so the "2" could
    be read first). Driven by events, as the test above."""
    rig.webhook.config.answer_within = 0.3  # the held first push is answered `success`
    original_in_turn = rig.webhook._in_turn
    original_send, original_option = rig.webhook.channel.send_custom, WeChatRepo.option
    release, second_queued, stored = asyncio.Event(), asyncio.Event(), asyncio.Event()
    first_turn_over, second_read = asyncio.Event(), asyncio.Event()
    order: list[str] = []
    first_uid: list[int] = []

    async def in_turn(push: Any, uid: int, *rest: Any) -> Any:
        if uid != first_uid[0]:
            second_queued.set()
        try:
            return await original_in_turn(push, uid, *rest)
        finally:
            if uid == first_uid[0]:
                first_turn_over.set()

    async def send_custom(
        openid: str, texts: list[str], actions: list[str], labels: Any = (), offered: Any = None
    ) -> int:
        if actions and first_turn_over.is_set():  # sent after the turn (old code): "2" first
            await asyncio.wait_for(second_read.wait(), 30)
        sent = await original_send(openid, texts, actions, labels, offered)  # stores the options
        if actions:
            order.append("options stored")
            stored.set()
        return sent

    async def option(repo: WeChatRepo, openid: str, number: int) -> str | None:
        order.append(f"option {number} read")
        second_read.set()
        return await original_option(repo, openid, number)

    handle = rig.conversation.handle
    card = OutMessage(
        text="请选择类别",
        buttons=((Button("道路交通", "n:cat:traffic"), Button("环境卫生", "n:cat:env")),),
    )

    async def held_first(event: Input) -> Reply:
        if event.command != "new":
            return await handle(event)
        rig.conversation.seen.append(event)
        await release.wait()
        return Reply((card,))

    monkeypatch.setattr(rig.webhook, "_in_turn", in_turn)
    monkeypatch.setattr(rig.webhook.channel, "send_custom", send_custom)
    monkeypatch.setattr(WeChatRepo, "option", option)
    rig.conversation.handle = held_first  # type: ignore[method-assign]
    rig.fake.open_window(OPENID, "message")
    xml = rig.fake.text(OPENID, "/new")
    first_uid.append(int(parse_push(xml.encode()).msg_id))
    assert (await rig.fake.push(xml)).plaintext == "success"  # held: the answer goes by 客服
    second = asyncio.create_task(rig.fake.push(rig.fake.text(OPENID, "2")))
    await second_queued.wait()
    release.set()
    await rig.conversation.entered.wait()  # the "2" was handled (only it goes through handle)
    await stored.wait()  # and the first answer's options are stored
    assert order == ["options stored", "option 2 read"]
    assert [(e.command, e.action, e.text) for e in rig.conversation.seen] == [
        ("new", "", ""),
        ("", "n:cat:env", ""),
    ]
    assert "2. 环境卫生" in rig.fake.custom[0]["text"]["content"]  # the first answer, by 客服
    await second


async def test_a_push_whose_handling_fails_is_answered_not_met_with_silence(rig: Rig) -> None:
    """The conversation raised (a defect, the store down): Telegram's error handler tells the
    person; the webhook answered `success` and nothing else. Now the same polite error is the
    answer, and the push stays unfinished for the next start."""
    handle = rig.conversation.handle

    async def failing(event: Input) -> Reply:
        if event.text == "坏的":
            raise RuntimeError("a defect")
        return await handle(event)

    rig.conversation.handle = failing  # type: ignore[method-assign]
    result = await rig.fake.push(rig.fake.text(OPENID, "坏的"))
    assert "系统出了点问题" in result.plaintext
    assert await rig.webhook.replay() == 1  # not marked done: tried again at the next start


async def test_a_menu_item_keyed_as_another_command_is_answered(rig: Rig) -> None:
    """A CLICK whose key is not one of the five known items was dropped (`success`, silence):
    now it is the command it names, lowercased, which the conversation answers (as unknown
    if it is none). A VIEW (the menu opened a web page) stays unanswered, deliberately."""
    result = await rig.fake.push(rig.fake.event(OPENID, "CLICK", "STATS"))
    assert rig.conversation.seen[-1].command == "stats" and "收到" in result.plaintext
    await rig.fake.push(rig.fake.event(OPENID, "CLICK", "V1001_TODAY"))
    assert rig.conversation.seen[-1].command == "v1001_today"
    # (in the same second as the first: another item is another push, not a retry of it)
    quiet = await rig.fake.push(rig.fake.event(OPENID, "VIEW", "https://example.org/"))
    assert quiet.plaintext == "success" and len(rig.conversation.seen) == 2


async def test_a_label_typed_out_is_that_option_without_msgmenu_too(rig: Rig) -> None:
    """The prompts name their options ("不想留可以点“跳过”"): a resident typing 跳过 meant the
    option on offer. Without bizmsgmenu links the old code took it for text (at the phone step,
    for a phone number); a text that is no label stays text."""
    rig.conversation.answer = [
        OutMessage(text="留个电话？", buttons=((Button("跳过", "n:skip"),),))
    ]
    await rig.fake.push(rig.fake.text(OPENID, "/new"))
    await rig.fake.push(rig.fake.text(OPENID, " 跳过 "))
    await rig.fake.push(rig.fake.text(OPENID, "跳过吧"))
    assert [e.action for e in rig.conversation.seen[1:]] == ["n:skip", ""]


def link_id(text: str, label: str) -> str:
    """The msgmenuid of the bizmsgmenu link showing `label` in a message as WeChat shows it."""
    found = re.search(rf"msgmenucontent={re.escape(quote(label))}&msgmenuid=([0-9]+)", text)
    assert found is not None, f"no link {label!r}"
    return found.group(1)


async def test_a_msgmenu_link_of_an_older_message_acts_on_its_own_card(rig: Rig) -> None:
    """Links stay tappable in old messages: a tap of "1. 道路交通" from the category card, once
    the latest answer's option 1 is 下一步, was read as 下一步. Each link carries its own id:
    the tap is the action it was shown with (the conversation judges whether it still fits)."""
    rig.webhook.channel.msgmenu = True
    rig.conversation.answer = [
        OutMessage(
            text="请选择类别",
            buttons=((Button("道路交通", "n:cat:traffic"), Button("环境卫生", "n:cat:env")),),
        )
    ]
    categories = await rig.fake.push(rig.fake.text(OPENID, "/new"))
    rig.conversation.answer = [OutMessage(text="补充完", buttons=((Button("下一步", "n:next"),),))]
    env = link_id(categories.plaintext, "环境卫生")
    after = await rig.fake.push(rig.fake.text(OPENID, "环境卫生", bizmsgmenuid=env))
    traffic = link_id(categories.plaintext, "道路交通")
    await rig.fake.push(rig.fake.text(OPENID, "道路交通", bizmsgmenuid=traffic))
    await rig.fake.push(
        rig.fake.text(OPENID, "下一步", bizmsgmenuid=link_id(after.plaintext, "下一步"))
    )
    assert [e.action for e in rig.conversation.seen[1:]] == ["n:cat:env", "n:cat:traffic", "n:next"]


async def test_a_rating_link_of_an_older_notice_rates_its_own_wish(rig: Rig) -> None:
    """Review: notices for resolved wishes A then B both offer 满意/基本满意/不满意; 不满意 tapped
    in A's message rated (and reopened) B, the latest card with an option of that label and
    number. The tap acts on A, the card it was on."""
    rig.webhook.channel.msgmenu = True

    def rating(wish: int) -> OutMessage:
        return OutMessage(
            text=f"HM-2026-000{wish} 已办结",
            buttons=(
                (
                    Button("满意", f"a:rt:{wish}:s"),
                    Button("基本满意", f"a:rt:{wish}:b"),
                    Button("不满意", f"a:rt:{wish}:u"),
                ),
            ),
        )

    rig.conversation.answer = [rating(1)]
    card_a = await rig.fake.push(rig.fake.text(OPENID, "HM-2026-0001"))
    rig.conversation.answer = [rating(2)]
    card_b = await rig.fake.push(rig.fake.text(OPENID, "HM-2026-0002"))
    rig.conversation.answer = []
    # both cards show the same numbers and labels; only the ids tell them apart
    assert "3. 不满意" in card_a.plaintext and "3. 不满意" in card_b.plaintext
    await rig.fake.push(
        rig.fake.text(OPENID, "不满意", bizmsgmenuid=link_id(card_a.plaintext, "不满意"))
    )
    await rig.fake.push(
        rig.fake.text(OPENID, "满意", bizmsgmenuid=link_id(card_b.plaintext, "满意"))
    )
    assert [e.action for e in rig.conversation.seen[2:]] == ["a:rt:1:u", "a:rt:2:s"]
    # a typed number still means the latest answer's options (B's card, then the answer
    # "收到 a:rt:2:s" has none: spent)
    await rig.fake.push(rig.fake.text(OPENID, "3"))
    assert rig.conversation.seen[4].stale_press


async def test_a_deputy_resolving_from_an_older_card_resolves_that_wish(rig: Rig) -> None:
    """Review: a deputy tapping 办结 on an older card resolved the latest card's wish, and the
    result typed next went to that wish's resident. The tap acts on its own card."""
    rig.webhook.channel.msgmenu = True

    def card(wish: int) -> OutMessage:
        return OutMessage(
            text=f"HM-2026-000{wish} 已受理",
            buttons=((Button("回复", f"a:rp:{wish}"), Button("办结", f"a:rs:{wish}")),),
        )

    rig.conversation.answer = [card(1)]
    older = await rig.fake.push(rig.fake.text(OPENID, "HM-2026-0001"))
    rig.conversation.answer = [card(2)]
    await rig.fake.push(rig.fake.text(OPENID, "HM-2026-0002"))
    await rig.fake.push(
        rig.fake.text(OPENID, "办结", bizmsgmenuid=link_id(older.plaintext, "办结"))
    )
    assert rig.conversation.seen[2].action == "a:rs:1"


async def test_a_link_whose_id_is_gone_is_a_stale_press(rig: Rig) -> None:
    """A tap whose id is no longer kept (pruned, another person's, or a number from before ids
    were stored) is answered as stale, never matched by its number or label."""
    rig.webhook.channel.msgmenu = True
    rig.conversation.answer = [
        OutMessage(text="两件", buttons=((Button("查看", "a:w:1"), Button("满意", "a:rt:1:s")),))
    ]
    shown = await rig.fake.push(rig.fake.text(OPENID, "/my"))
    rig.conversation.answer = [OutMessage(text="您的按钮已失效")]
    gone = await rig.fake.push(rig.fake.text(OPENID, "满意", bizmsgmenuid="999"))  # never shown
    assert rig.conversation.seen[1].stale_press and not rig.conversation.seen[1].action
    assert "您的按钮已失效" in gone.plaintext  # answered
    other = await rig.fake.push(
        rig.fake.text("oOther_0002", "满意", bizmsgmenuid=link_id(shown.plaintext, "满意"))
    )
    assert rig.conversation.seen[2].stale_press and other.plaintext not in ("", "success")
    async with rig.db.transaction() as conn:  # the retention job: 48 hours later
        assert await WeChatRepo(conn).prune_menu(rig.webhook.clock.now() + timedelta(hours=49), 100)
    await rig.fake.push(
        rig.fake.text(OPENID, "查看", bizmsgmenuid=link_id(shown.plaintext, "查看"))
    )
    assert rig.conversation.seen[3].stale_press and not rig.conversation.seen[3].action
    # a link of a message sent before links had ids carries its option number: a new link of
    # the same person must never answer to it (ids are numbered above MENU_ID_BASE)
    rig.conversation.answer = [
        OutMessage(text="两件", buttons=((Button("查看", "a:w:1"), Button("满意", "a:rt:1:s")),))
    ]
    fresh = await rig.fake.push(rig.fake.text(OPENID, "/my"))
    rig.conversation.answer = [OutMessage(text="您的按钮已失效")]
    assert int(link_id(fresh.plaintext, "查看")) > MENU_ID_BASE
    await rig.fake.push(rig.fake.text(OPENID, "查看", bizmsgmenuid="1"))
    assert rig.conversation.seen[5].stale_press and not rig.conversation.seen[5].action
