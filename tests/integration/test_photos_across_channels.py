"""A wish's photo reaches whoever handles it, whatever channel each of them is on: the real
application (composition root, PTB Application, dispatcher, web server) against the fake Bot API,
which refuses a reference that is no Telegram file id as the real one does ("wrong file
identifier") and keeps what is uploaded, and against the fake WeChat."""

from __future__ import annotations

import io
import re
from pathlib import Path

import aiohttp
from PIL import Image

from bot.app import build
from bot.media import MediaRegistry, web_uploads
from bot.messages import Button, OutMessage
from bot.pacing import Pacer
from handlers.telegram_io import PacedRateLimiter, Photos, TelegramTransport, send
from tests.fake_telegram import FakeTelegram, SentMessage
from tests.fake_wechat import FakeWeChat
from tests.integration.conftest import (
    LI,
    RESIDENT,
    STAFF_HM,
    TEST_LIMITS,
    ZHANG,
    Harness,
    assert_no_invalid_calls,
    settings_for,
)
from tests.integration.test_wechat import AES_KEY, OPENID, WeChatRig
from tests.integration.test_wish_loop import leave_wish, open_bot
from tests.web.test_web_pages import _jpeg_with_gps
from web.uploads import reencode

WISH = "小区门口路灯坏了三天，晚上很黑"
JAR = aiohttp.CookieJar  # browsers keep cookies of 127.0.0.1; aiohttp's jar only when unsafe=True


def no_exif_image(data: bytes) -> tuple[int, int]:
    """The bytes are a picture without EXIF (no GPS); its size."""
    with Image.open(io.BytesIO(data)) as img:
        assert img.format == "JPEG"
        assert not img.getexif()
        return img.size


class Browser:
    """A phone browser on the web chat, driven through its forms (CSRF token and one-time key
    read from each page, buttons pressed by their label) as the page's own forms post them."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session = session
        self.url = url
        self.page = ""

    async def open(self) -> str:
        self.page = await (await self.session.get(self.url)).text()
        return self.page

    def _form(self) -> dict[str, str]:
        token = re.search(r'name="csrf" value="([^"]+)"', self.page)
        key = re.search(r'name="key" value="([^"]+)"', self.page)
        assert token and key, self.page[:300]
        return {"csrf": token.group(1), "key": key.group(1)}

    async def _post(self, data: aiohttp.FormData | dict[str, str]) -> str:
        resp = await self.session.post(self.url, data=data)
        assert resp.status == 200, resp.status
        self.page = await resp.text()
        return self.page

    async def press(self, label: str) -> str:
        found = re.findall(rf'name="action" value="([^"]+)" data-label="{re.escape(label)}"', self.page)
        assert found, f"no button {label!r}"
        return await self._post({**self._form(), "action": found[-1], "label": label})

    async def say(self, text: str) -> str:
        return await self._post({**self._form(), "text": text})

    async def photo(self, data: bytes) -> str:
        form = aiohttp.FormData()
        for name, value in self._form().items():
            form.add_field(name, value)
        form.add_field("photo", data, filename="lamp.jpg", content_type="image/jpeg")
        return await self._post(form)


async def web_wish(browser: Browser, photo: bytes) -> str:
    """The /new flow on /s/huimin with one photo; the receipt."""
    await browser.open()
    await browser.press("我要留言")
    await browser.press("道路交通")
    await browser.say(WISH)
    page = await browser.photo(photo)
    assert "/u/" in page  # the resident sees their own (re-encoded) photo
    await browser.press("下一步")
    await browser.press("同意公开")
    await browser.press("跳过")
    page = await browser.press("确认提交")
    receipts = re.findall(r'class="receipt">([A-Z]{2}-\d{4}-\d{4})<', page)
    assert receipts, page[-800:]
    return receipts[-1]


def photo_before(fake: FakeTelegram, chat_id: int, card: SentMessage) -> SentMessage:
    """The photo the deputy got with a card (sent just before it)."""
    photos = [
        m for m in fake.messages_to(chat_id) if m.photo and m.message_id < card.message_id
    ]
    assert photos, fake.dump(chat_id)
    return photos[-1]


async def test_a_web_residents_photo_reaches_the_telegram_deputy(harness: Harness) -> None:
    """The issue-9 loop: a wish with a photo left on the web page reaches the deputy on
    Telegram with the photo, uploaded (the old code passed `web:<id>` as a file id: a 400)."""
    h, fake = harness, harness.fake
    assert h.app.web is not None
    await open_bot(h, ZHANG)
    async with aiohttp.ClientSession(cookie_jar=JAR(unsafe=True)) as session:
        receipt = await web_wish(Browser(session, f"{h.app.web.url}/s/huimin"), _jpeg_with_gps())
    card = await h.card_for(ZHANG, receipt)
    assert "路灯坏了三天" in card.text
    photo = photo_before(fake, ZHANG, card)
    assert photo.method == "sendPhoto"
    assert no_exif_image(fake.file_bytes(photo.photo or "")) == (64, 48)
    await h.settle()
    assert_no_invalid_calls(fake)
    rejected = [r for r in fake.rejected if "file identifier" in str(r.description)]
    assert rejected == []


async def test_a_wechat_residents_image_reaches_the_telegram_deputy(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    """bot/app.py's composition with WeChat on: the image kept at intake (re-encoded) is
    uploaded to the deputy's Telegram (the old code sent `wechat-media:<sha>`: a 400)."""
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
        wechat.webhook_url = f"{app.web.url}/wechat"
        h = Harness(fake, app)
        await open_bot(h, ZHANG)
        wx = WeChatRig(h, wechat, app.wechat)
        welcome = await wx.send(wechat.event(OPENID, "subscribe", "qrscene_st_huimin"))
        prompt = await wx.choose(welcome, "我要留言")
        prompt = await wx.choose(prompt, "道路交通")
        more = await wx.say(WISH)
        wechat.media["MEDIA1"] = _jpeg_with_gps()
        more = await wx.send(
            wechat.xml(OPENID, "image", PicUrl="http://mmbiz/x.jpg", MediaId="MEDIA1")
        )
        assert "1 张" in more, more
        step = await wx.choose(more, "下一步")
        step = await wx.choose(step, "不公开")
        confirm = await wx.choose(step, "跳过")
        receipt_text = await wx.choose(confirm, "确认提交")
        receipt = receipt_text.split("编号 ")[1].split("（")[0].strip()
        card = await h.card_for(ZHANG, receipt)
        photo = photo_before(fake, ZHANG, card)
        assert no_exif_image(fake.file_bytes(photo.photo or "")) == (64, 48)
        await h.settle()
        assert_no_invalid_calls(fake)
    finally:
        await app.stop()
        await wechat.stop()


async def _login(session: aiohttp.ClientSession, h: Harness, person: int) -> None:
    """/web in Telegram gives a one-time link; the browser becomes that person on /me."""
    answer = await h.say(person, "/web")
    match = re.search(r"(http://127\.0\.0\.1:\d+)(/login/[A-Za-z0-9_-]+)", answer.text)
    assert match is not None, answer.text
    base, path = match.groups()
    page = await (await session.get(base + path)).text()
    token = re.search(r'name="csrf" value="([^"]+)"', page)
    key = re.search(r'name="key" value="([^"]+)"', page)
    assert token and key
    resp = await session.post(base + path, data={"csrf": token.group(1), "key": key.group(1)})
    assert resp.url.path == "/me"


async def test_a_telegram_residents_photo_on_the_web_desk_only_for_those_allowed(
    harness: Harness,
) -> None:
    """The deputy on /me sees the Telegram resident's photo (the old desk showed only `web:`
    photos); another browser, a resident's session and anonymous get 404."""
    h, fake = harness, harness.fake
    assert h.app.web is not None
    base = h.app.web.url
    await open_bot(h, ZHANG, LI, STAFF_HM)
    receipt = await leave_wish(
        h, RESIDENT, "huimin", "道路交通", WISH, photo=True, photo_data=_jpeg_with_gps()
    )
    card = await h.card_for(ZHANG, receipt)
    original = fake.file_bytes(photo_before(fake, ZHANG, card).photo or "")
    async with aiohttp.ClientSession(cookie_jar=JAR(unsafe=True)) as deputy:
        await _login(deputy, h, ZHANG)
        desk = Browser(deputy, base + "/me")
        await desk.open()
        page = await desk.say("/queue")  # the wish's button opens its card (查看), photos first
        found = re.findall(
            rf'name="action" value="([^"]+)" data-label="{re.escape(receipt)}[^"]*"', page
        )
        assert found, re.findall(r'data-label="[^"]*"', page)
        page = await desk._post({**desk._form(), "action": found[-1], "label": receipt})
        urls = re.findall(r'src="(/wp/\d+/[0-9a-f]+\.jpg)"', page)
        assert urls, re.sub(r"<[^>]+>", " ", page)[-1500:]
        url = urls[-1]
        resp = await deputy.get(base + url)
        assert resp.status == 200
        assert "no-store" in resp.headers["Cache-Control"]
        assert "private" in resp.headers["Cache-Control"]
        served = await resp.read()
        assert served != original  # re-encoded on the way out
        no_exif_image(served)
    # the station's staff may see it (as the wish's details); another deputy of the station, to
    # whom the wish was not assigned, may not (the rule of the details, not "any deputy there")
    async with aiohttp.ClientSession(cookie_jar=JAR(unsafe=True)) as staff:
        await _login(staff, h, STAFF_HM)
        assert (await staff.get(base + url)).status == 200
    async with aiohttp.ClientSession(cookie_jar=JAR(unsafe=True)) as other_deputy:
        await _login(other_deputy, h, LI)
        assert (await other_deputy.get(base + url)).status == 404
    async with aiohttp.ClientSession(cookie_jar=JAR(unsafe=True)) as stranger:
        await Browser(stranger, base + "/s/huimin").open()  # a visitor cookie of its own
        assert (await stranger.get(base + url)).status == 404
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as anonymous:
        assert (await anonymous.get(base + url)).status == 404
    # the public wall shows no photo at all
    async with aiohttp.ClientSession() as anyone:
        wall = await (await anyone.get(base + "/wall/huimin")).text()
        assert "/wp/" not in wall and "/u/" not in wall


async def test_a_photo_that_cannot_be_had_costs_the_card_nothing(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    """A purged or missing upload, and a file id Telegram refuses: the card's text and buttons
    still go, with a note that the photo could not be shown (the old code raised the 400 and
    the text never left)."""
    from telegram.ext import ExtBot

    fake.add_user(ZHANG, "伟", started=True)
    (tmp_path / "uploads").mkdir()
    photos = Photos(
        MediaRegistry(web_uploads(tmp_path / "uploads")),
        lambda count: f"📷 {count} 张照片无法显示",
    )
    buttons = ((Button("受理", "a:acc:1"),),)
    limiter = PacedRateLimiter(Pacer(TEST_LIMITS), TelegramTransport.is_group)
    async with ExtBot(fake.token, base_url=fake.base_url, rate_limiter=limiter) as bot:
        gone = OutMessage(text="<b>新心愿</b> HM-1", photos=("web:purged01",), buttons=buttons)
        sent = await send(bot, ZHANG, gone, photos=photos)
        assert sent.text is not None and "新心愿 HM-1" in sent.text and "1 张照片无法显示" in sent.text
        assert sent.reply_markup is not None
        refused = OutMessage(text="卡片", photos=("AgACAgUAAxkBAAIunknownfileid",))
        sent = await send(bot, ZHANG, refused, photos=photos)
        assert sent.text is not None and "卡片" in sent.text and "无法显示" in sent.text
        # the outbox's photo row (a card's photos go before its text): the note instead
        transport = TelegramTransport(bot, photos=photos)
        await transport.deliver(str(ZHANG), OutMessage(photos=("web:purged02",), wish_id=1))
        assert fake.last_to(ZHANG).text == "📷 1 张照片无法显示"  # type: ignore[union-attr]
        # and one that is there is uploaded once, then sent again by its Telegram file id
        (tmp_path / "uploads" / "kept01.jpg").write_bytes(reencode(_jpeg_with_gps()))
        for _ in range(2):
            await transport.deliver(str(ZHANG), OutMessage(photos=("web:kept01",), wish_id=1))
        # an album of two (one remembered, one uploaded) and one that is gone: the note follows
        (tmp_path / "uploads" / "kept02.jpg").write_bytes(reencode(_jpeg_with_gps()))
        album = OutMessage(photos=("web:kept01", "web:kept02", "web:purged03"), wish_id=1)
        await transport.deliver(str(ZHANG), album)
    uploads = [c for c in fake.calls("sendPhoto") if c.files]
    assert len(uploads) == 1
    group = fake.calls("sendMediaGroup")[-1]
    assert len(group.files) == 1  # kept01 went by its remembered file id
    sent = fake.messages_to(ZHANG)
    assert [m.media_group_id is not None for m in sent[-3:-1]] == [True, True]
    for m in sent[-3:-1]:
        no_exif_image(fake.file_bytes(m.photo or ""))
    assert sent[-1].text == "📷 1 张照片无法显示"


async def test_a_purged_web_photo_leaves_the_telegram_view_its_text(
    harness: Harness, tmp_path: Path
) -> None:
    """Through the whole application: a web resident's photo reached the deputy; its file is
    then gone (purged, lost) and the bot restarted (nothing remembered). 查看 on Telegram still
    shows the wish's details and buttons, with the note instead of the photo."""
    h, fake = harness, harness.fake
    assert h.app.web is not None
    await open_bot(h, ZHANG)
    async with aiohttp.ClientSession(cookie_jar=JAR(unsafe=True)) as session:
        receipt = await web_wish(Browser(session, f"{h.app.web.url}/s/huimin"), _jpeg_with_gps())
    await h.card_for(ZHANG, receipt)
    uploads = h.app.web.ctx.uploads
    for kept in uploads.glob("*.jpg"):
        kept.unlink()
    await h.app.stop()
    h.app = await build(settings_for(fake, tmp_path), limits=TEST_LIMITS)
    await h.app.start()
    queue = await h.say(ZHANG, "/queue")
    label = next(t for t, _ in queue.buttons if t.startswith(receipt))
    fake.press(ZHANG, queue, label)
    detail = await fake.wait_for(
        chat_id=ZHANG, text_contains="办理记录", predicate=lambda m: bool(m.buttons)
    )
    shown = [m.text or "" for m in fake.messages_to(ZHANG) if m.message_id > queue.message_id]
    assert any("1 张照片无法显示" in t for t in shown), shown
    assert receipt in (detail.text or "") and "受理" in [t for t, _ in detail.buttons]
    await h.settle()
