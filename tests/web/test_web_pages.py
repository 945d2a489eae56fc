"""The web channel's pages and its security, through the real aiohttp application."""

from __future__ import annotations

import io
import re

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient
from PIL import Image

from bot.clock import ManualClock
from bot.domain.model import Action, Rating
from bot.logins import create_login_link
from bot.services import Liaison
from storage.db import Database, fetch_all
from storage.web import WebRepo
from tests.conftest import person
from tests.unit.test_services import submit
from tests.web.conftest import Web, csrf_of
from web.chat import new_access_code
from web.security import digest
from web.uploads import UploadRejected, reencode, store

PII_TEXT = "我是刘小明，电话13812345678，身份证110101199003071234，门口路灯坏了"


async def resolved(
    liaison: Liaison, clock: ManualClock, tg_id: int, text: str, public: bool = True
):
    resident, wish = await submit(liaison, tg_id, text, public=public)
    async with liaison.core.db.read() as conn:
        rows = await fetch_all(
            conn,
            "SELECT u.external_id FROM deputies d JOIN users u ON u.id=d.user_id WHERE d.id=?",
            (wish.deputy_id,),
        )
    deputy = await liaison.people.identify(person(int(rows[0][0])))
    await liaison.wishes.act(deputy, wish.id, Action.ACCEPT)
    clock.advance(days=1)
    await liaison.wishes.act(deputy, wish.id, Action.RESOLVE, body="已联系供电所更换灯泡，联系人刘小明")
    return resident, wish


async def wall_post_sent(db: Database) -> str:
    async with db.read() as conn:
        rows = await fetch_all(conn, "SELECT payload FROM outbox WHERE kind='wall'")
    assert len(rows) == 1
    import json

    return json.loads(rows[0][0])["text"]


async def test_the_wall_shows_resolved_public_wishes_masked_as_the_channel_post(
    web: Web, liaison: Liaison, clock: ManualClock, db: Database
) -> None:
    resident, wish = await resolved(liaison, clock, 700001, PII_TEXT)
    await resolved(liaison, clock, 700002, "私下反映：楼道灯坏了", public=False)
    await submit(liaison, 700003, "还在办理的公开心愿：垃圾桶满了")  # open: not on the wall
    await liaison.wishes.act(resident, wish.id, Action.RATE, rating=Rating.SATISFIED)
    client = await web.client()
    resp = await client.get("/wall/huimin")
    html = await resp.text()
    assert resp.status == 200
    assert "13812345678" not in html and "110101199003071234" not in html
    assert "刘小明" not in html
    assert "138****5678" in html and "刘**" in html and "已联系供电所更换灯泡" in html
    assert wish.receipt in html
    assert "楼道灯" not in html and "垃圾桶" not in html
    # the same words as the 回音壁 channel post (one card, one masking)
    post = await wall_post_sent(db)
    for line in re.sub(r"<[^>]+>", "", post).splitlines():
        plain = line.strip()
        if plain:
            assert plain.replace("&", "&amp;") in re.sub(r"<[^>]+>", "", html), plain
    figures = re.findall(r"<dd>([^<]+)</dd>", html)
    assert figures == ["3", "2", "100%"]  # received, resolved, 满意率 (1 rated, satisfied)
    await client.close()


async def test_the_wall_is_paged_newest_first(
    web: Web, liaison: Liaison, clock: ManualClock
) -> None:
    receipts = []
    for i in range(12):
        _, wish = await resolved(liaison, clock, 710000 + i, f"第{i}条公开心愿")
        receipts.append(wish.receipt)
    client = await web.client()
    first = await (await client.get("/wall/huimin")).text()
    second = await (await client.get("/wall/huimin?page=1")).text()
    assert receipts[-1] in first and receipts[0] not in first
    assert first.index(receipts[-1]) < first.index(receipts[-2])
    assert receipts[0] in second and receipts[1] in second and receipts[-1] not in second
    assert "?page=1" in first and "?page=0" in second
    assert (await client.get("/wall/nowhere")).status == 404
    await client.close()


async def test_tv_mode_refreshes_itself_and_cycles(
    web: Web, liaison: Liaison, clock: ManualClock
) -> None:
    await resolved(liaison, clock, 700001, "公开心愿：路灯坏了")
    client = await web.client()
    resp = await client.get("/wall/huimin?tv=1")
    html = await resp.text()
    assert '<meta http-equiv="refresh"' in html
    assert 'class="tv"' in html and "/static/tv.js" in html and "post current" in html
    assert "frame-ancestors 'self'" in resp.headers["Content-Security-Policy"]
    js = await client.get("/static/tv.js")
    assert js.status == 200 and "setInterval" in await js.text()
    await client.close()


async def test_security_headers_and_no_inline_script(web: Web) -> None:
    client = await web.client()
    for path in ("/", "/wall/huimin", "/open", "/s/huimin", "/healthz"):
        resp = await client.get(path)
        csp = resp.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp, path
        assert "script-src 'self'" in csp and "default-src 'self'" in csp
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["Referrer-Policy"] == "no-referrer"
        body = await resp.text()
        assert not re.search(r"<script(?![^>]*\bsrc=)", body), path  # no inline script
        assert not re.search(
            r"https?://(?!127\.0\.0\.1)", re.sub(r"<p class=\"hint\">.*?</p>", "", body)
        ), path
    health = await client.get("/healthz")
    assert health.status == 200 and (await health.json())["ok"] is True
    await client.close()


async def test_the_visitor_cookie_is_signed_httponly_and_lax(web: Web) -> None:
    client = await web.client()
    resp = await client.get("/open")
    cookie = resp.cookies["lb_visitor"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    value = cookie.value
    assert web.server.ctx.signer.unsign(value) is not None
    assert web.server.ctx.signer.unsign(value[:-2] + "xx") is None
    await client.close()


async def _wish_with_code(web: Web, liaison: Liaison) -> tuple[str, str]:
    _, wish = await submit(liaison, 700001, "公开心愿：路灯坏了")
    code = new_access_code()
    async with web.db.transaction() as conn:
        await WebRepo(conn).set_access_code(wish.id, digest(code))
    return wish.receipt, code


async def test_receipt_and_code_open_the_wish_and_nothing_else_does(
    web: Web, liaison: Liaison
) -> None:
    receipt, code = await _wish_with_code(web, liaison)
    stranger = await web.client()
    assert (await stranger.get(f"/wish/{receipt}")).status == 404  # the receipt alone: nothing
    page = await (await stranger.get("/open")).text()
    token, key = csrf_of(page)
    wrong_code = await stranger.post(
        "/open", data={"csrf": token, "key": key, "receipt": receipt, "code": "ZZZZZZ"}
    )
    token, key = csrf_of(await wrong_code.text())
    wrong_receipt = await stranger.post(
        "/open", data={"csrf": token, "key": key, "receipt": "HM-2026-9999", "code": code}
    )
    # the same answer for a wrong code and a receipt that does not exist: no enumeration
    assert wrong_code.status == wrong_receipt.status == 404
    strip = lambda h: re.sub(r'name="(csrf|key)" value="[^"]+"', "", h)  # noqa: E731
    assert strip(await wrong_code.text()) == strip(await wrong_receipt.text())
    assert (await stranger.get(f"/wish/{receipt}")).status == 404

    other = await web.client()
    token, key = csrf_of(await (await other.get("/open")).text())
    ok = await other.post(
        "/open", data={"csrf": token, "key": key, "receipt": receipt.lower(), "code": code.lower()}
    )
    assert ok.status == 200 and ok.url.path == f"/wish/{receipt}"
    assert "路灯坏了" in await ok.text()
    async with web.db.read() as conn:
        stored = await fetch_all(conn, "SELECT code_hash FROM web_access_codes")
    assert code not in str([tuple(r) for r in stored])  # stored hashed
    await stranger.close()
    await other.close()


async def test_guessing_codes_is_rate_limited(web: Web, liaison: Liaison) -> None:
    receipt, code = await _wish_with_code(web, liaison)
    client = await web.client()
    statuses = []
    for i in range(8):
        token, key = csrf_of(await (await client.get("/open")).text())
        resp = await client.post(
            "/open", data={"csrf": token, "key": key, "receipt": receipt, "code": f"WRONG{i}"}
        )
        statuses.append(resp.status)
    assert statuses[:5] == [404] * 5 and 429 in statuses[5:]
    token, key = csrf_of(await (await client.get("/open")).text())
    late = await client.post(
        "/open", data={"csrf": token, "key": key, "receipt": receipt, "code": code}
    )
    assert late.status == 429  # even the right code waits: guessing costs time
    await client.close()


async def test_forged_and_replayed_posts_change_nothing(web: Web, liaison: Liaison) -> None:
    receipt, code = await _wish_with_code(web, liaison)
    victim = await web.client()
    attacker = await web.client()
    token, key = csrf_of(await (await attacker.get("/open")).text())
    await victim.get("/open")
    # a cross-site form: the victim's cookie, the attacker's token (or none)
    for data in ({"key": key}, {"csrf": token, "key": key}, {"csrf": "", "key": key}):
        resp = await victim.post(
            "/open", data={**data, "receipt": receipt, "code": code}, allow_redirects=False
        )
        assert resp.status == 403
    no_cookie = await web.client()
    resp = await no_cookie.post(
        "/open",
        data={"csrf": token, "key": key, "receipt": receipt, "code": code},
        allow_redirects=False,
    )
    assert resp.status == 403
    async with web.db.read() as conn:
        assert await fetch_all(conn, "SELECT * FROM web_grants") == []
    # a replay: the same one-time key again, now with the right code, does nothing
    token, key = csrf_of(await (await victim.get("/open")).text())
    first = await victim.post(
        "/open", data={"csrf": token, "key": key, "receipt": receipt, "code": "ZZZZZZ"}
    )
    assert first.status == 404
    again = await victim.post(
        "/open",
        data={"csrf": token, "key": key, "receipt": receipt, "code": code},
        allow_redirects=False,
    )
    assert again.status == 303 and again.headers["Location"] == "/open"
    async with web.db.read() as conn:
        assert await fetch_all(conn, "SELECT * FROM web_grants") == []
    assert (await victim.get(f"/wish/{receipt}")).status == 404
    for c in (victim, attacker, no_cookie):
        await c.close()


def _jpeg_with_gps() -> bytes:
    img = Image.new("RGB", (64, 48), (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (31.0, 17.0, 30.0)
    gps[3] = "E"
    gps[4] = (120.0, 35.0, 10.0)
    out = io.BytesIO()
    img.save(out, "JPEG", exif=exif)
    return out.getvalue()


def test_uploads_are_reencoded_without_exif_and_checked_by_content() -> None:
    original = _jpeg_with_gps()
    with Image.open(io.BytesIO(original)) as before:
        assert before.getexif().get_ifd(0x8825)  # the test picture does carry a position
    clean = reencode(original)
    with Image.open(io.BytesIO(clean)) as after:
        assert after.format == "JPEG" and after.size == (64, 48)
        assert not after.getexif() and "exif" not in after.info
    assert b"PhoneMaker" not in clean
    for bad in (
        b"<html><script>alert(1)</script>",
        b"GIF89a not really",
        b"%PDF-1.4\n" + b"0" * 100,
    ):
        try:
            reencode(bad)
        except UploadRejected as exc:
            assert exc.reason == "not_image"
        else:
            raise AssertionError("accepted a file that is not an image")
    try:
        reencode(b"\xff" * (11 * 1024 * 1024))
    except UploadRejected as exc:
        assert exc.reason == "too_big"
    else:
        raise AssertionError("accepted an oversized upload")


async def test_an_upload_is_served_only_to_its_owner(web: Web) -> None:
    owner = await web.client()
    await owner.get("/open")
    account = web.server.ctx.signer.unsign(
        owner.session.cookie_jar.filter_cookies(owner.make_url("/"))["lb_visitor"].value
    )
    assert account
    store(web.server.ctx.uploads, "abc123", reencode(_jpeg_with_gps()))
    async with web.db.transaction() as conn:
        await WebRepo(conn).add_upload("abc123", account, web.clock.now())
    resp = await owner.get("/u/abc123.jpg")
    data = await resp.read()
    assert resp.status == 200 and resp.headers["Content-Type"] == "image/jpeg"
    with Image.open(io.BytesIO(data)) as served:
        assert not served.getexif()
    other = await web.client()
    assert (await other.get("/u/abc123.jpg")).status == 404
    assert (await owner.get("/u/..%2Fliaison.jpg")).status == 404
    await owner.close()
    await other.close()


async def log_in(client: TestClient, link: str) -> ClientResponse:
    """Open the link (a page with a button, as a link preview would see it), then tap the button."""
    page = await client.get(link)
    if page.status != 200:
        return page
    token, key = csrf_of(await page.text())
    return await client.post(link, data={"csrf": token, "key": key}, allow_redirects=False)


async def test_a_login_link_works_once_and_expires(
    web: Web, liaison: Liaison, clock: ManualClock
) -> None:
    deputy = await liaison.people.identify(person(800001))
    link = await create_login_link(web.db, clock, "", deputy.id)
    client = await web.client()
    preview = await web.client()  # a link preview fetches the link first: it must not use it up
    assert (await preview.get(link)).status == 200
    resp = await log_in(client, link)
    assert resp.status == 303 and resp.headers["Location"] == "/me"
    assert resp.cookies["lb_desk"]["httponly"]  # the desk's own cookie, beside the visitor's
    me = await client.get("/me")
    assert me.status != 403
    other = await web.client()
    assert (await log_in(other, link)).status == 404  # used once: never again
    assert (await other.get("/me")).status == 403
    stale = await create_login_link(web.db, clock, "", deputy.id)
    clock.advance(minutes=16)
    assert (await log_in(other, stale)).status == 404
    # a forged POST (another browser's CSRF token) cannot use a fresh link either
    fresh = await create_login_link(web.db, clock, "", deputy.id)
    token, key = csrf_of(await (await other.get(fresh)).text())
    forged = await client.post(fresh, data={"csrf": token, "key": key}, allow_redirects=False)
    assert forged.status == 403
    async with web.db.read() as conn:
        rows = await fetch_all(conn, "SELECT token_hash, used_at FROM web_login_tokens")
    assert all(link.rsplit("/", 1)[1] not in r[0] for r in rows)  # stored hashed
    assert [r[1] is None for r in rows] == [False, True, True]  # expired and forged: unused
    for c in (client, preview, other):
        await c.close()
