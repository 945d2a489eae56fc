"""Defects a black-box QA pass found on the web channel (the real aiohttp application, the real
conversation, a real SQLite file): each test fails on the code before its fix."""

from __future__ import annotations

import html as htmllib
import io
import re
from dataclasses import dataclass

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient
from PIL import Image

from storage.db import fetch_all
from tests.web.conftest import Web, csrf_of
from tests.web.test_web_desk import DEPUTY, Desk, desk

__all__ = ["desk"]


@dataclass(frozen=True)
class Pressable:
    message: int  # the card's id (web_messages)
    action: str
    label: str


def buttons(page: str) -> list[Pressable]:
    """Every button on the page's cards, oldest card first."""
    found = []
    for card in re.finditer(
        r'<div class="msg bot" id="m(\d+)">(.*?)</div>\n(?=<div|<span)', page, re.S
    ):
        for action, label in re.findall(
            r'name="action" value="([^"]+)" data-label="([^"]*)"', card.group(2)
        ):
            found.append(
                Pressable(int(card.group(1)), htmllib.unescape(action), htmllib.unescape(label))
            )
    return found


def text_of(page: str) -> str:
    return htmllib.unescape(re.sub(r"<[^>]+>", " ", page))


async def post(client: TestClient, path: str, page: str, **fields: str) -> ClientResponse:
    token, key = csrf_of(page)
    return await client.post(path, data={"csrf": token, "key": key, **fields})


async def tap(client: TestClient, path: str, label: str, page: str | None = None) -> str:
    """Press the newest button with this label, as the page's form posts it; the page after."""
    page = page if page is not None else await (await client.get(path)).text()
    found = [b for b in buttons(page) if b.label == label]
    assert found, (label, [b.label for b in buttons(page)])
    b = found[-1]
    resp = await post(client, path, page, action=b.action, label=b.label, on=str(b.message))
    assert resp.status == 200, resp.status
    return await resp.text()


async def say(client: TestClient, path: str, text: str) -> str:
    page = await (await client.get(path)).text()
    resp = await post(client, path, page, text=text)
    assert resp.status == 200, resp.status
    return await resp.text()


async def resident_with_a_wish(
    desk: Desk, text: str = "小区门口的路灯坏了三天，晚上很黑"
) -> tuple[TestClient, str]:
    """A resident on /s/huimin who left a wish; the page after submitting it."""
    client = await desk.browser()
    await client.get("/s/huimin")
    await tap(client, "/s/huimin", "我要留言")
    await tap(client, "/s/huimin", "住房物业")
    await say(client, "/s/huimin", text)
    await tap(client, "/s/huimin", "下一步")
    await tap(client, "/s/huimin", "同意公开")
    await tap(client, "/s/huimin", "跳过")
    page = await tap(client, "/s/huimin", "确认提交")
    return client, page


# -- item 1: a press's answer (toast/alert) and the buttons it spends -----------------------------


async def test_a_refused_press_shows_its_polite_note(desk: Desk) -> None:
    client = await desk.browser()
    page = await (await client.get("/s/huimin")).text()
    before = len(re.findall(r'class="msg', page))
    resp = await post(client, "/s/huimin", page, action="zz:garbage", label="x", on="1")
    after = await resp.text()
    notes = re.findall(r'<div class="msg note alert"[^>]*>(.*?)</div>', after, re.S)
    assert notes and "失效" in notes[-1], text_of(after)[-400:]
    assert len(re.findall(r'class="msg', after)) > before
    await client.close()


async def test_spent_buttons_are_taken_away_and_a_press_acknowledged(desk: Desk) -> None:
    client = await desk.browser()
    await client.get("/s/huimin")
    page = await tap(client, "/s/huimin", "我要留言")
    category_card = [b for b in buttons(page) if b.label == "住房物业"][-1].message
    page = await tap(client, "/s/huimin", "住房物业", page)
    # the category card lost its buttons (Telegram edits them away): no stale 其他 to press
    assert not [b for b in buttons(page) if b.message == category_card]
    client2, page = await resident_with_a_wish(desk)
    # the submit press's toast is shown as a note; the confirmation card has no buttons left
    assert re.search(r'<div class="msg note"[^>]*>[^<]*提交', page), text_of(page)[-600:]
    assert not [b for b in buttons(page) if b.label == "确认提交"]
    await client.close()
    await client2.close()


async def test_a_forged_press_on_another_residents_card_says_no_and_changes_nothing(
    desk: Desk,
) -> None:
    owner, _ = await resident_with_a_wish(desk)
    async with desk.db.read() as conn:
        wish_id = (await fetch_all(conn, "SELECT id FROM wishes"))[0][0]
        before = await fetch_all(conn, "SELECT status, rating FROM wishes")
    other = await desk.browser()
    page = await (await other.get("/s/huimin")).text()
    for forged in (f"a:rt:{wish_id}:s", f"a:wd:{wish_id}", f"a:acc:{wish_id}", f"a:sup:{wish_id}"):
        resp = await post(other, "/s/huimin", page, action=forged, label="满意")
        page = await resp.text()
        notes = re.findall(r'<div class="msg note alert"[^>]*>(.*?)</div>', page, re.S)
        assert notes, (forged, text_of(page)[-300:])
    async with desk.db.read() as conn:
        assert await fetch_all(conn, "SELECT status, rating FROM wishes") == before
    await owner.close()
    await other.close()


# -- item 3: several photos chosen at once are each kept, in order --------------------------------


def jpeg(colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), colour).save(out, "JPEG")
    return out.getvalue()


async def test_three_photos_chosen_at_once_are_all_kept_in_order(desk: Desk) -> None:
    import aiohttp

    client = await desk.browser()
    await client.get("/s/huimin")
    await tap(client, "/s/huimin", "我要留言")
    await tap(client, "/s/huimin", "住房物业")
    page = await say(client, "/s/huimin", "楼道里的灯坏了，请看照片")
    token, key = csrf_of(page)
    form = aiohttp.FormData()
    form.add_field("csrf", token)
    form.add_field("key", key)
    form.add_field("text", "")
    for i, colour in enumerate(((255, 0, 0), (0, 255, 0), (0, 0, 255))):
        form.add_field("photo", jpeg(colour), filename=f"p{i}.jpg", content_type="image/jpeg")
    resp = await client.post("/s/huimin", data=form)
    page = await resp.text()
    assert resp.status == 200
    # the count is answered once, after the last photo (the album rule, tests/integration/
    # test_album.py); what this test checks is that all three are kept, in order
    async with desk.db.read() as conn:
        rows = await fetch_all(
            conn, 'SELECT payload FROM web_messages WHERE payload LIKE \'%"from": "me"%\''
        )
    assert any('"photos"' in r[0] and r[0].count("web:") == 3 for r in rows)
    # the draft holds the three in the order chosen: the confirmation says 3
    await tap(client, "/s/huimin", "下一步")
    await tap(client, "/s/huimin", "同意公开")
    page = await tap(client, "/s/huimin", "跳过")
    assert re.search(r"照片[：:]\s*3", text_of(page)), text_of(page)[-500:]
    page = await tap(client, "/s/huimin", "确认提交")
    async with desk.db.read() as conn:
        refs = await fetch_all(
            conn, "SELECT file_ref FROM wish_attachments WHERE kind='photo' ORDER BY id"
        )
    uploads = re.findall(r"web:([\w-]+)", str([r[0] for r in rows]))
    assert [r[0] for r in refs] == [f"web:{u}" for u in uploads[-3:]]
    colours = []
    for ref in refs:
        data = await (await client.get(f"/u/{ref[0][4:]}.jpg")).read()
        with Image.open(io.BytesIO(data)) as img:
            colours.append(max(range(3), key=lambda c: img.getpixel((20, 15))[c]))
    assert colours == [0, 1, 2]  # red, green, blue: in the order chosen
    await client.close()


# -- item 6: the message box takes what the conversation takes, and says its limit --------------


async def test_a_long_description_is_kept_whole_and_an_over_long_one_is_refused_aloud(
    desk: Desk,
) -> None:
    client = await desk.browser()
    await client.get("/s/huimin")
    await tap(client, "/s/huimin", "我要留言")
    await tap(client, "/s/huimin", "住房物业")
    page = await (await client.get("/s/huimin")).text()
    assert 'maxlength="2000"' not in page and 'data-limit="12000"' in page
    long_text = ("楼道灯坏了很久" * 1500)[:10_000]
    await say(client, "/s/huimin", long_text)
    await tap(client, "/s/huimin", "下一步")
    await tap(client, "/s/huimin", "同意公开")
    await tap(client, "/s/huimin", "跳过")
    await tap(client, "/s/huimin", "确认提交")
    async with desk.db.read() as conn:
        rows = await fetch_all(conn, "SELECT text FROM wishes")
    assert len(rows[0][0]) == 10_000  # not cut to 4 000 (nor 2 000)
    too_long = "长" * 20_000
    page = await say(client, "/s/huimin", too_long)
    notes = re.findall(r'<div class="msg note alert"[^>]*>(.*?)</div>', page, re.S)
    assert notes and "12000" in notes[-1] and "20000" in notes[-1]
    assert "长" * 100 not in page  # nothing of it was sent (or echoed) cut
    await client.close()


async def test_more_photos_than_a_post_takes_are_said_not_dropped_silently(desk: Desk) -> None:
    import aiohttp

    client = await desk.browser()
    page = await (await client.get("/s/huimin")).text()
    token, key = csrf_of(page)
    form = aiohttp.FormData()
    form.add_field("csrf", token)
    form.add_field("key", key)
    for i in range(4):
        form.add_field(
            "photo", jpeg((i * 60, 0, 0)), filename=f"p{i}.jpg", content_type="image/jpeg"
        )
    page = await (await client.post("/s/huimin", data=form)).text()
    notes = re.findall(r'<div class="msg note alert"[^>]*>(.*?)</div>', page, re.S)
    assert any("另外 1 张没有发送" in n for n in notes), text_of(page)[-400:]
    await client.close()


# -- item 8: the access code is shown once and never stored readable -----------------------------


async def test_the_access_code_is_shown_once_and_stored_only_hashed(desk: Desk) -> None:
    client, page = await resident_with_a_wish(desk)
    codes = re.findall(r'<b class="code">([A-Z0-9]+)</b>', page)
    receipt = re.findall(r'<b class="receipt">([A-Z0-9-]+)</b>', page)[-1]
    assert len(codes) == 1 and len(codes[0]) == 6
    code = codes[0]
    async with desk.db.read() as conn:
        stored = await fetch_all(conn, "SELECT payload FROM web_messages")
    assert code not in str([r[0] for r in stored])  # not in web_messages, in no form
    again = await (await client.get("/s/huimin")).text()
    assert code not in again and 'class="code"' not in again  # a reload does not show it again
    assert "只在提交后显示一次" in text_of(again)
    other = await desk.browser()
    token, key = csrf_of(await (await other.get("/open")).text())
    opened = await other.post(
        "/open", data={"csrf": token, "key": key, "receipt": receipt, "code": code}
    )
    assert opened.status == 200 and opened.url.path == f"/wish/{receipt}"
    await client.close()
    await other.close()


async def test_codes_kept_readable_by_an_older_version_are_taken_out(desk: Desk) -> None:
    from storage.web import WebRepo

    async with desk.db.transaction() as conn:
        repo = WebRepo(conn)
        await repo.add_message(
            "old",
            {"kind": "access_code", "receipt": "HM-2026-0001", "code": "PR9C22"},
            desk.clock.now(),
        )
        await repo.add_message(
            "old", {"text": "code PR9C22 in a text is not a card"}, desk.clock.now()
        )
        assert await repo.forget_shown_codes() == 1
    async with desk.db.read() as conn:
        rows = [r[0] for r in await fetch_all(conn, "SELECT payload FROM web_messages ORDER BY id")]
    assert '"code"' not in rows[0] and "HM-2026-0001" in rows[0] and "PR9C22" in rows[1]


# -- item 11: a page closing its live updates is normal, not an error ----------------------------


async def test_a_closed_event_stream_logs_no_error(web: Web, caplog) -> None:  # type: ignore[no-untyped-def]
    """On the real server (AppRunner, as `liaison-bot run` serves it): a page that goes away
    while its live updates wait is the normal end of the stream."""
    import asyncio
    import logging

    import aiohttp

    await web.server.start()
    channel = web.server.channel
    caplog.set_level(logging.DEBUG)
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
            await browser.get(f"{web.server.url}/open")  # a visitor
            cookie = next(c for c in browser.cookie_jar if c.key == "lb_visitor")
            account = web.server.ctx.signer.unsign(cookie.value)
            assert account
            stream = await browser.get(f"{web.server.url}/s/huimin/events?after=999999")
            for _ in range(200):  # until the stream waits for news
                if channel._waiters.get(account):
                    break
                await asyncio.sleep(0.05)
            stream.close()
        await asyncio.sleep(0.3)
        await channel.store(account, {"text": "a card for a page that has gone"})
        for _ in range(200):  # until the stream has noticed and ended
            if not channel._waiters.get(account):
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
    finally:
        await web.server.stop()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]


# -- item 4: limits per visitor; forwarded addresses believed only from a configured proxy -------


def test_forwarded_addresses_are_believed_only_from_a_configured_proxy() -> None:
    from aiohttp.test_utils import make_mocked_request

    from bot.settings import Settings
    from web.security import client_ip, networks

    def request(peer: str, **headers: str):  # type: ignore[no-untyped-def]
        req = make_mocked_request("GET", "/s/huimin", headers=headers)
        return req.clone(remote=peer)

    proxy = networks(
        Settings(_env_file=None, web_trusted_proxies="10.0.0.0/8, 127.0.0.1").web_trusted_proxies
    )  # type: ignore[call-arg]
    forged = request("198.51.100.7", **{"X-Forwarded-For": "1.2.3.4", "X-Real-IP": "1.2.3.4"})
    assert client_ip(forged) == "198.51.100.7"  # by default nobody's headers are believed
    assert client_ip(forged, proxy) == "198.51.100.7"  # nor a client's that is no proxy
    via = request("127.0.0.1", **{"X-Forwarded-For": "1.2.3.4, 203.0.113.9, 10.1.2.3"})
    assert client_ip(via) == "127.0.0.1"
    # the nearest address that is not a proxy of ours: what the client put first can be forged
    xff = "x-forwarded-for"  # LIAISON_WEB_FORWARDED_HEADER: the proxy appends to this one
    assert client_ip(via, proxy, xff) == "203.0.113.9"
    assert client_ip(via, proxy) == "127.0.0.1"  # the default header, X-Real-IP, is not set
    assert client_ip(request("127.0.0.1", **{"X-Real-IP": "203.0.113.10"}), proxy) == "203.0.113.10"
    assert client_ip(request("127.0.0.1", **{"X-Forwarded-For": "garbage"}), proxy, xff) == "127.0.0.1"
    assert client_ip(request("127.0.0.1"), proxy) == "127.0.0.1"


async def test_one_visitors_wrong_tries_do_not_lock_out_another_behind_the_same_proxy(
    desk: Desk,
) -> None:
    _, page = await resident_with_a_wish(desk)
    code = re.findall(r'<b class="code">([A-Z0-9]+)</b>', page)[-1]
    receipt = re.findall(r'<b class="receipt">([A-Z0-9-]+)</b>', page)[-1]
    guesser = await desk.browser()
    statuses = []
    for i in range(6):
        token, key = csrf_of(await (await guesser.get("/open")).text())
        resp = await guesser.post(
            "/open", data={"csrf": token, "key": key, "receipt": receipt, "code": f"WRONG{i}"}
        )
        statuses.append(resp.status)
    assert statuses[-1] == 429  # the guesser is held back
    neighbour = await desk.browser()  # the same address (127.0.0.1), another visitor
    token, key = csrf_of(await (await neighbour.get("/open")).text())
    resp = await neighbour.post(
        "/open", data={"csrf": token, "key": key, "receipt": receipt, "code": code}
    )
    assert resp.status == 200 and resp.url.path == f"/wish/{receipt}"
    await guesser.close()
    await neighbour.close()


# -- item 12: a client that keeps no cookie creates nothing --------------------------------------


async def test_cookieless_visits_store_nothing_and_a_browser_gets_its_welcome(desk: Desk) -> None:
    import aiohttp

    async def counts() -> list[int]:
        async with desk.db.read() as conn:
            return [
                (await fetch_all(conn, f"SELECT COUNT(*) FROM {table}"))[0][0]
                for table in ("users", "user_accounts", "web_messages")
            ]

    before = await counts()
    crawler = TestClient(desk.server, cookie_jar=aiohttp.DummyCookieJar())
    await crawler.start_server()
    for _ in range(20):
        resp = await crawler.get("/s/huimin")
        assert resp.status == 200  # a polite page, not an error
    assert "Cookie" in text_of(await resp.text())
    assert await counts() == before  # no person, no account, no welcome
    shared = await crawler.get("/s/huimin?c=stale.mark", allow_redirects=False)
    assert shared.status == 303  # a mark that is not a fresh one of ours: a first visit
    browser = await desk.browser()
    page = await (await browser.get("/s/huimin")).text()
    assert "您好！这里是" in text_of(page)
    assert await counts() != before
    await crawler.close()
    await browser.close()


# -- items 13, 14, 23: errors said in the catalog's language, with a way back ----------------------


async def test_a_picture_with_too_many_pixels_is_refused_for_that_reason(desk: Desk) -> None:
    import aiohttp

    out = io.BytesIO()
    Image.new("1", (9000, 5000)).save(out, "PNG")  # small file, 45 megapixels
    assert len(out.getvalue()) < 1024 * 1024
    client = await desk.browser()
    page = await (await client.get("/s/huimin")).text()
    token, key = csrf_of(page)
    form = aiohttp.FormData()
    form.add_field("csrf", token)
    form.add_field("key", key)
    form.add_field("photo", out.getvalue(), filename="big.png", content_type="image/png")
    page = text_of(await (await client.post("/s/huimin", data=form)).text())
    assert "像素" in page and "10 MB" not in page
    await client.close()


async def test_error_pages_are_in_the_catalogs_language_with_a_way_back(desk: Desk) -> None:
    client = await desk.browser()
    page = await (await client.get("/s/huimin")).text()

    def back(html: str) -> str:
        found = re.search(r'<p class="back"><a class="big" href="([^"]+)"', html)
        assert found, html[-600:]
        return found.group(1)

    missing = await client.get("/no/such/page")
    html = await missing.text()
    assert missing.status == 404 and "Not Found" not in html and "没有这个页面" in html
    assert missing.headers["Content-Type"].startswith("text/html") and back(html) == "/"
    assert "frame-ancestors 'none'" in missing.headers["Content-Security-Policy"]
    put = await client.put("/s/huimin")
    html = await put.text()
    assert put.status == 405 and "Method Not Allowed" not in html and "不能这样访问" in html
    assert "GET" in put.headers["Allow"]
    forged = await client.post("/s/huimin", data={"csrf": "forged", "key": "k" * 12, "text": "hi"})
    html = await forged.text()
    assert forged.status == 403 and "页面已过期" in html and back(html) == "/s/huimin"
    too_big = await client.post(
        "/s/huimin",
        data={"csrf": csrf_of(page)[0], "key": "k" * 12, "text": "长" * (12 * 1024 * 1024)},
    )
    html = await too_big.text()
    assert too_big.status == 413 and "Maximum request body size" not in html
    assert "太大" in html and back(html) == "/s/huimin"
    station = await client.get("/wall/nowhere")
    assert station.status == 404 and "没有这个联络站" in await station.text()
    other = await desk.browser()
    token, _ = csrf_of(await (await other.get("/open")).text())
    statuses = []
    for i in range(8):
        resp = await other.post(
            "/open", data={"csrf": token, "key": f"key-{i:08d}", "receipt": "HM-1", "code": "X"}
        )
        statuses.append(resp.status)
    html = await resp.text()
    assert statuses[-1] == 429 and "太频繁" in html and back(html) == "/open"
    await client.close()
    await other.close()


# -- item 15: the desk is not called the deputies' for staff -------------------------------------


async def test_the_desk_and_its_login_are_named_for_deputies_and_staff_alike(desk: Desk) -> None:
    from tests.web.test_web_desk import STAFF

    staff = await desk.logged_in(STAFF)
    assert "代表工作台" not in await (await staff.get("/me")).text()
    from bot.logins import create_login_link

    async with desk.db.read() as conn:
        rows = await fetch_all(
            conn, "SELECT id FROM users WHERE channel='web' AND external_id=?", (STAFF,)
        )
    link = await create_login_link(desk.db, desk.clock, "", rows[0][0])
    login = await (await (await desk.browser()).get(link)).text()
    assert "代表工作台" not in login and "网页工作台" in login
    await staff.close()


# -- item 25: a wish opened with receipt + code shows what its resident may see -------------------


async def test_a_wish_opened_with_its_code_shows_the_deputys_replies_and_the_photos(
    desk: Desk,
) -> None:
    import aiohttp

    from bot.domain.model import Action

    client = await desk.browser()
    await client.get("/s/huimin")
    await tap(client, "/s/huimin", "我要留言")
    await tap(client, "/s/huimin", "住房物业")
    page = await say(client, "/s/huimin", "电梯经常停运，老人上下楼困难")
    token, key = csrf_of(page)
    form = aiohttp.FormData()
    form.add_field("csrf", token)
    form.add_field("key", key)
    form.add_field("photo", jpeg((10, 200, 10)), filename="lift.jpg", content_type="image/jpeg")
    await client.post("/s/huimin", data=form)
    await tap(client, "/s/huimin", "下一步")
    await tap(client, "/s/huimin", "同意公开")
    await tap(client, "/s/huimin", "跳过")
    page = await tap(client, "/s/huimin", "确认提交")
    code = re.findall(r'<b class="code">([A-Z0-9]+)</b>', page)[-1]
    receipt = re.findall(r'<b class="receipt">([A-Z0-9-]+)</b>', page)[-1]
    async with desk.db.read() as conn:
        wish_id, deputy_user = (
            await fetch_all(
                conn,
                "SELECT w.id, d.user_id FROM wishes w JOIN deputies d ON d.id=w.deputy_id",
            )
        )[0]
    from storage.repositories import Repos

    async with desk.db.read() as conn:
        deputy = await Repos(conn).user(deputy_user)
    assert deputy is not None
    await desk.liaison.wishes.act(deputy, wish_id, Action.ACCEPT)
    await desk.liaison.wishes.act(deputy, wish_id, Action.REPLY, body="物业已经联系电梯公司检修")
    other = await desk.browser()
    token, key = csrf_of(await (await other.get("/open")).text())
    opened = await other.post(
        "/open", data={"csrf": token, "key": key, "receipt": receipt, "code": code}
    )
    html = await opened.text()
    assert opened.url.path == f"/wish/{receipt}"
    assert "办理记录" in html and "物业已经联系电梯公司检修" in html, text_of(html)[-800:]
    photos = re.findall(r'<img class="photo" src="([^"]+)"', html)
    assert len(photos) == 1
    served = await other.get(photos[0])
    assert served.status == 200 and served.headers["Content-Type"] == "image/jpeg"
    await client.close()
    await other.close()


# -- item 16: /qr, listed in the desk's /help, works on the web desk ------------------------------


async def test_qr_on_the_web_desk_gives_the_stations_web_qr_code(desk: Desk) -> None:
    from tests.web.test_web_desk import STAFF

    staff = await desk.logged_in(STAFF)
    page = await say(staff, "/me", "/qr")
    assert "没有这个命令" not in text_of(page)
    links = re.findall(r'<img class="chart" src="(/f/[0-9a-f]+)"', page)
    assert links, text_of(page)[-500:]
    image = await staff.get(links[-1])
    assert image.status == 200 and image.headers["Content-Type"] == "image/png"
    assert "/s/huimin" in text_of(page)  # the caption names what the code opens
    resident = await desk.browser()
    await resident.get("/s/huimin")
    page = await say(resident, "/s/huimin", "/qr")
    assert "没有权限" in text_of(page) and "/f/" not in page
    await staff.close()
    await resident.close()


# -- item 5: logging in a deputy in a resident's browser (the demo's one-browser walk) ------------


async def test_a_desk_login_does_not_take_over_the_residents_page_of_the_same_browser(
    desk: Desk,
) -> None:
    from bot.logins import create_login_link
    from tests.web.test_web_pages import log_in

    browser, page = await resident_with_a_wish(desk)
    receipt = re.findall(r'<b class="receipt">([A-Z0-9-]+)</b>', page)[-1]
    resident_tab = await (await browser.get("/s/huimin")).text()  # a tab left open
    async with desk.db.read() as conn:
        rows = await fetch_all(
            conn, "SELECT id FROM users WHERE channel='web' AND external_id=?", (DEPUTY,)
        )
    link = await create_login_link(desk.db, desk.clock, "", rows[0][0])
    assert (await log_in(browser, link)).status == 303  # the same browser opens the deputy's desk
    desk_page = await (await browser.get("/me")).text()
    assert '<form class="desk"' in desk_page  # the deputy's desk
    # the resident's tab still works: its token is still this visitor's, its wish still theirs
    resp = await post(browser, "/s/huimin", resident_tab, text="/my")
    page = await resp.text()
    assert resp.status == 200 and receipt in page and "页面已过期" not in page
    assert 'data-label="受理"' not in page  # not the deputy's cards
    mine = await browser.get(f"/wish/{receipt}")
    assert mine.status == 200
    await browser.close()
