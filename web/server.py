"""The aiohttp.web application of the web channel: pages, forms, the event stream.

It translates HTTP into the neutral conversation (web/chat.py) and renders what comes back; it
decides nothing about wishes. Public pages (/wall) show only what the 回音壁 channel post shows,
masked by the same code (bot/cards.py Cards.wall_post).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import jinja2
from aiohttp import web

from bot.cards import Cards, WishContext
from bot.clock import Clock
from bot.domain.draft import MAX_TEXT
from bot.i18n import Catalog
from bot.logins import LOGIN_LINK_MINUTES, create_login_link
from bot.media import MediaRegistry
from storage.db import Database
from storage.desk import DeskRepo
from storage.repositories import Repos
from storage.web import WebRepo
from web.channel import WebChannel
from web.chat import CODE_LENGTH, FILE_LIFETIME, Input, WebChat, reveal
from web.render import photo_digest, photo_urls, to_html, view
from web.security import (
    COOKIE,
    COOKIE_MAX_AGE,
    DESK_COOKIE,
    Network,
    RateLimiter,
    Signer,
    client_ip,
    digest,
    headers_middleware,
    new_id,
    secure_headers,
)
from web.uploads import UploadRejected, reencode, store

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
WALL_PAGE_SIZE = 10
TV_ITEMS = 8
TV_REFRESH_SECONDS = 60
SSE_HEARTBEAT_SECONDS = 20
MAX_PHOTOS = 3
COOKIE_CHECK_SECONDS = 60  # a first visit sent back with its cookie must come back within this
# The message box takes what the conversation takes: a wish's description of up to MAX_TEXT
# characters in one go (a reply or a supplement is limited, and said so, by the conversation).
TEXT_LIMIT = MAX_TEXT
FIELD_LIMIT = 4000  # any other form field (a button's action, a receipt, a code, a label)
# The desk menu on /me: the command each button sends, and who is offered it (deputy, staff).
# Offering is a convenience; the conversation authorises every command again.
DESK_MENU = (
    ("queue", True, True),
    ("overdue", False, True),
    ("stats", False, True),
    ("mywork", True, False),
    ("export", True, True),
)
DESK_COMMANDS = frozenset(name for name, _, _ in DESK_MENU)


@dataclass
class WebContext:
    db: Database
    catalog: Catalog
    clock: Clock
    cards: Cards
    channel: WebChannel
    signer: Signer
    data_dir: Path
    public_url: str
    chat: WebChat | None = None  # set once a Conversation is wired (bot/app.py)
    media: MediaRegistry = field(default_factory=MediaRegistry)  # photos of every channel
    liaison: Any = None  # bot.services.Liaison: who may see a wish (its use case's rule)
    demo: bool = False
    demo_logins: dict[str, int] = field(default_factory=dict)  # demo role → person id
    # Posts are limited per visitor (their cookie) and, since a cookie costs nothing (GET /open
    # hands one out), per address too, as is what a cookie-less client can cause (a first
    # visit's rows, a login): one bucket per address for all of it, loose enough for many
    # residents behind one carrier NAT. The address is the proxy's unless it is one of
    # `trusted` (LIAISON_WEB_TRUSTED_PROXIES), whose `forwarded_header` then names the visitor.
    per_ip: RateLimiter = field(default_factory=lambda: RateLimiter(rate=5.0, burst=60.0))
    per_visitor: RateLimiter = field(default_factory=lambda: RateLimiter(rate=2.0, burst=30.0))
    # receipt/code tries: a few a minute per visitor, and more per address (many residents
    # may share one, behind a carrier's NAT) so one guesser does not lock out a neighbour
    lookups: RateLimiter = field(default_factory=lambda: RateLimiter(rate=0.1, burst=5.0))
    lookups_ip: RateLimiter = field(default_factory=lambda: RateLimiter(rate=0.5, burst=20.0))
    trusted: tuple[Network, ...] = ()
    forwarded_header: str = "x-real-ip"  # LIAISON_WEB_FORWARDED_HEADER

    @property
    def uploads(self) -> Path:
        return self.data_dir / "uploads"


CTX: web.AppKey[WebContext] = web.AppKey("ctx", WebContext)
ENV: web.AppKey[jinja2.Environment] = web.AppKey("env", jinja2.Environment)


def _env(catalog: Catalog) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,  # every value is escaped unless it is Markup (rendered catalog HTML)
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["t"] = lambda key, **kw: catalog.plain(f"web.{key}", **kw)
    env.globals["c"] = catalog.plain
    env.globals["lang"] = "zh-CN" if catalog.locale == "zh_CN" else "en"
    return env


# -- error pages ----------------------------------------------------------------------------------


def refusal(kind: type[web.HTTPException], text: str) -> web.HTTPException:
    """An HTTP refusal whose page says `text` (a catalog text) rather than its status's words."""
    exc = kind()
    exc.liaison_text = text  # type: ignore[attr-defined]
    return exc


def _back(request: web.Request, status: int) -> str:
    """Where an error page's link leads: the page the person was on when that page can be
    shown again (a form's own page: reloaded, it has a fresh token), else the start."""
    parts = request.path.split("/")
    if len(parts) >= 3 and parts[1] == "s" and status != 404:
        return f"/s/{parts[2]}"
    if parts[1:2] == ["me"] and status != 404:
        return "/me"
    if parts[1:2] in (["open"], ["wish"]):
        return "/open"
    if len(parts) == 3 and parts[1] == "login" and request.method == "POST":
        return request.path
    return "/"


@web.middleware
async def error_pages(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Every refusal and error of the web pages as a page in the catalog's language with a way
    back, rather than aiohttp's plain English ("404: Not Found", "Maximum request body size
    … exceeded"). The WeChat webhook served on the same app answers WeChat as it must."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or request.path == "/wechat" or request.path.startswith("/wechat/"):
            raise
        ctx = request.app[CTX]
        text = getattr(exc, "liaison_text", None)
        if text is None:
            key = f"web.error_{exc.status}"
            key = key if ctx.catalog.has(key) else "web.error_other"
            text = ctx.catalog.plain(key, mb=client_max_size() // (1024 * 1024))
        response = _page(
            request, "notice.html", None, status=exc.status, text=text,
            back=_back(request, exc.status),
        )  # fmt: skip
        if "Allow" in exc.headers:  # 405: what the path does take
            response.headers["Allow"] = exc.headers["Allow"]
        return response


# -- identity -------------------------------------------------------------------------------------


def visitor(request: web.Request) -> str | None:
    return request.app[CTX].signer.unsign(request.cookies.get(COOKIE))


def desk_account(request: web.Request) -> str | None:
    """The web account of the deputy or staff member logged in on this browser: its own cookie,
    so logging in (the demo's links, or a deputy who is also a resident) never takes over the
    resident's page of the same browser; a session from before that cookie was its visitor."""
    return request.app[CTX].signer.unsign(request.cookies.get(DESK_COOKIE)) or visitor(request)


def _on_desk(request: web.Request) -> bool:
    return request.path == "/me" or request.path.startswith("/me/")


def account_of(request: web.Request) -> str | None:
    """Who acts on this path: the desk's account on /me, the visitor everywhere else."""
    return desk_account(request) if _on_desk(request) else visitor(request)


def accounts(request: web.Request) -> list[str]:
    """Every account this browser holds (visitor, desk): what any of them may see is shown."""
    found = [visitor(request), request.app[CTX].signer.unsign(request.cookies.get(DESK_COOKIE))]
    return list(dict.fromkeys(a for a in found if a))


def address(request: web.Request) -> str:
    """The visitor's address for the limits (web/security.py client_ip)."""
    ctx = request.app[CTX]
    return client_ip(request, ctx.trusted, ctx.forwarded_header)


def _ensure_visitor(request: web.Request) -> tuple[str, bool]:
    existing = visitor(request)
    return (existing, False) if existing else (new_id(), True)


def _set_cookie(
    response: web.StreamResponse, request: web.Request, account: str, name: str = COOKIE
) -> None:
    response.set_cookie(
        name,
        request.app[CTX].signer.sign(account),
        max_age=COOKIE_MAX_AGE,
        httponly=True,
        samesite="Lax",
        secure=request.secure,
        path="/",
    )


def _page(
    request: web.Request, template: str, account: str | None = None, new: bool = False,
    status: int = 200, **values: Any,
) -> web.Response:  # fmt: skip
    ctx = request.app[CTX]
    values.setdefault("csrf", ctx.signer.csrf(account) if account else "")
    values.setdefault("form_key", new_id(12))
    html = request.app[ENV].get_template(template).render(demo=ctx.demo, **values)
    response = web.Response(text=html, content_type="text/html", charset="utf-8", status=status)
    response.headers["Cache-Control"] = "no-store"
    if account and new:
        _set_cookie(response, request, account)
    return response


# -- the checks every state-changing POST passes ------------------------------------------------


async def _checked_form(request: web.Request) -> tuple[str, dict[str, Any]]:
    """The visitor and the form, once CSRF, rate limits and the one-time key are checked.

    A forged post (no cookie, or a token that is not this visitor's) is refused with 403, a
    replayed one (its key used before) redirects back having changed nothing.
    """
    ctx = request.app[CTX]
    account = account_of(request)
    # per address on every post, not only without a cookie: a fresh cookie is one GET away,
    # so a visitor's own bucket alone would let one client make people and wishes unbounded
    allowed = ctx.per_ip.allow(address(request))
    if not (allowed and (account is None or ctx.per_visitor.allow(account))):
        raise refusal(web.HTTPTooManyRequests, ctx.catalog.plain("web.too_many"))
    form: dict[str, Any] = {}
    photos: list[bytes] = []
    if request.content_type == "multipart/form-data":
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, aiohttp.BodyPartReader) or part.name is None:
                continue
            if part.name == "photo":
                data = await part.read(decode=False)
                if data:
                    photos.append(bytes(data))
            else:
                form[part.name] = _field(part.name, await part.text())
    else:
        posted = await request.post()
        form = {k: _field(k, v) for k, v in posted.items() if isinstance(v, str)}
    form["_photos"] = photos
    if account is None or not ctx.signer.csrf_ok(account, form.get("csrf")):
        log.info("web: refused a POST to %s without a valid CSRF token", request.path)
        raise refusal(web.HTTPForbidden, ctx.catalog.plain("web.forbidden"))
    key = str(form.get("key", ""))
    if not 8 <= len(key) <= 64:
        raise refusal(web.HTTPForbidden, ctx.catalog.plain("web.forbidden"))
    async with ctx.db.transaction() as conn:
        fresh = await WebRepo(conn).use_key(f"{account}:{key}", ctx.clock.now())
    if not fresh:
        log.info("web: ignored a replayed POST to %s", request.path)
        raise web.HTTPSeeOther(request.path)
    return account, form


def _field(name: str, value: str) -> str:
    """A form field as kept: the message box whole (its length is checked where it is used,
    and said, never cut silently; the request's size is bounded by client_max_size), any
    other field no longer than any legitimate value."""
    return str(value) if name == "text" else str(value)[:FIELD_LIMIT]


# -- pages ----------------------------------------------------------------------------------------


async def healthz(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    async with ctx.db.read() as conn:
        await WebRepo(conn).ping()
    return web.json_response({"ok": True, "demo": ctx.demo, "chat": ctx.chat is not None})


async def _stations(ctx: WebContext) -> list[tuple[str, str]]:
    async with ctx.db.read() as conn:
        return [(st.id, st.name) for st in await Repos(conn).stations()]


async def _station_name(ctx: WebContext, station_id: str) -> str:
    async with ctx.db.read() as conn:
        station = await Repos(conn).station(station_id)
    if station is None:
        raise refusal(web.HTTPNotFound, ctx.catalog.plain("web.no_station"))
    return station.name


async def index(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CTX]
    if ctx.demo:
        raise web.HTTPFound("/demo")
    return _page(request, "index.html", stations=await _stations(ctx))


async def wall(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    station_id = request.match_info["station"]
    station_name = await _station_name(ctx, station_id)
    tv = request.query.get("tv") == "1"
    try:
        page = max(0, int(request.query.get("page", "0")))
    except ValueError:
        page = 0
    size = TV_ITEMS if tv else WALL_PAGE_SIZE
    async with ctx.db.read() as conn:
        repo = WebRepo(conn)
        entries, total = await repo.wall(station_id, size, 0 if tv else page * size)
        figures = await repo.figures(station_id)
    now = ctx.clock.now()
    posts = [
        to_html(
            ctx.cards.wall_post(
                e.wish,
                WishContext(e.station_name, e.category_name, e.deputy_name, e.resident_name),
                now,
            ).text
        )
        for e in entries
    ]
    rate = figures.satisfaction
    pages = max(1, -(-total // size))
    response = _page(
        request,
        "wall.html",
        station_id=station_id,
        station_name=station_name,
        posts=posts,
        figures=figures,
        satisfaction="—" if rate is None else f"{rate * 100:.0f}%",
        tv=tv,
        page=page,
        pages=pages,
        refresh=TV_REFRESH_SECONDS,
    )
    response.headers["Cache-Control"] = "no-cache"
    return response


# -- the chat page (residents: /s/<station>; deputies and staff logged in: /me) -----------------


async def _messages(ctx: WebContext, account: str, after: int = 0) -> list[Any]:
    async with ctx.db.read() as conn:
        rows = await WebRepo(conn).messages(account, after)
    return [(m.id, m.payload) for m in rows]


def _views(items: list[Any], now: datetime | None = None, codes: dict[int, str] | None = None) -> list[Any]:
    """The stored messages as the templates show them (`now`: a desk file past its hour shows
    as expired; `codes`: the access codes revealed for this very page)."""
    return [view(i, p, now, (codes or {}).get(i, "")) for i, p in items]


async def _reveal_codes(ctx: WebContext, account: str, items: list[Any]) -> dict[int, str]:
    """The access codes of receipt cards this page is the first to show (web/chat.py reveal)."""
    return {
        i: code
        for i, p in items
        if p.get("kind") == "access_code" and p.get("pending")
        if (code := await reveal(ctx.db, account, i, p))
    }


async def chat_page(
    request: web.Request, desk: tuple[str, ...] = (), desk_user: str | None = None
) -> web.Response:
    ctx = request.app[CTX]
    station_id = request.match_info.get("station", "")
    station_name = await _station_name(ctx, station_id) if station_id else ""
    account, new = (desk_user, False) if desk_user else _ensure_visitor(request)
    if ctx.chat is None:
        return _page(request, "unavailable.html", account, new, status=503)
    if new and station_id:
        # A first visit makes a person, an account and the welcome in the database: only for a
        # browser that keeps the cookie. A client that does not (a crawler, a link checker, a
        # script) is only ever sent back here with a cookie it drops, and nothing is stored.
        if _came_back(ctx, request.query.get("c", "")):  # just sent back: cookies are off
            text = ctx.catalog.plain("web.cookies_needed")
            return _page(request, "notice.html", None, text=text, back=request.path)
        response = web.HTTPSeeOther(f"{request.path}?c={ctx.signer.sign(str(int(time.time())))}")
        _set_cookie(response, request, account)
        response.headers["Cache-Control"] = "no-store"
        raise response
    items = await _messages(ctx, account)
    if not items and station_id:  # the first visit: the station's welcome, as a QR scan
        # each first visit makes a person in the database: a client that never keeps its
        # cookie is held to the per-IP rate
        if not ctx.per_ip.allow(address(request)):
            raise refusal(web.HTTPTooManyRequests, ctx.catalog.plain("web.too_many"))
        await ctx.chat.send(account, Input(key=f"start:{station_id}", start=station_id))
        items = await _messages(ctx, account)
    return _page(
        request, "chat.html", account, new, station_id=station_id, station_name=station_name,
        items=_views(items, ctx.clock.now(), await _reveal_codes(ctx, account, items)),
        last=items[-1][0] if items else 0,
        max_photos=MAX_PHOTOS, post_to=request.path, desk=desk, text_limit=TEXT_LIMIT,
        file_minutes=int(FILE_LIFETIME.total_seconds() // 60),
    )  # fmt: skip


def _came_back(ctx: WebContext, mark: str) -> bool:
    """Whether `mark` is the one a first visit was sent back with, moments ago (a link with an
    old mark, shared or bookmarked, is a first visit again)."""
    sent = ctx.signer.unsign(mark)
    return sent is not None and sent.isdigit() and 0 <= time.time() - int(sent) < COOKIE_CHECK_SECONDS


async def chat_post(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CTX]
    account, form = await _checked_form(request)
    if ctx.chat is None:
        raise web.HTTPServiceUnavailable()
    photos: list[str] = []
    if len(form["_photos"]) > MAX_PHOTOS:  # the extra ones are said, not dropped silently
        note = ctx.catalog.plain(
            "web.photos_dropped", n=MAX_PHOTOS, dropped=len(form["_photos"]) - MAX_PHOTOS
        )
        await ctx.channel.store(account, {"kind": "note", "text": note, "alert": True})
    for data in form["_photos"][:MAX_PHOTOS]:
        try:
            jpeg = await asyncio.get_running_loop().run_in_executor(None, reencode, data)
        except UploadRejected as exc:
            await ctx.channel.store(
                account, {"text": ctx.catalog.plain(f"web.upload_{exc.reason}")}
            )
            continue
        upload_id = new_id(18)
        store(ctx.uploads, upload_id, jpeg)
        async with ctx.db.transaction() as conn:
            await WebRepo(conn).add_upload(upload_id, account, ctx.clock.now())
        photos.append(f"web:{upload_id}")
    location = None
    if form.get("lat") and form.get("lon"):
        try:
            lat, lon = float(form["lat"]), float(form["lon"])
            if -90 <= lat <= 90 and -180 <= lon <= 180:
                location = (lat, lon)
        except ValueError:
            location = None
    text = str(form.get("text", "")).strip()
    if len(text) > TEXT_LIMIT:  # said, with the limit, and nothing sent: never cut silently
        note = ctx.catalog.plain("web.text_too_long", limit=TEXT_LIMIT, count=len(text))
        await ctx.channel.store(account, {"kind": "note", "text": note, "alert": True})
        raise web.HTTPSeeOther(f"{request.path}#end")
    action = str(form.get("action", ""))
    label = str(form.get("label", ""))[:60]
    key = str(form["key"])
    if photos:
        # One bubble shows what was chosen; each photo then goes to the conversation as its own
        # input, in the order chosen (one photo input is one photo, as on Telegram; a list is
        # its sizes of one picture there). The text goes with the first, as a caption.
        await ctx.channel.store(account, {
            "from": "me", "photos": photos,
            "text": ctx.catalog.plain("web.you_sent_photos", n=len(photos)),
        })  # fmt: skip
        for i, ref in enumerate(photos):
            await ctx.chat.send(account, Input(key=f"{key}:p{i}", photos=(ref,), text=text if i == 0 else ""))
    elif location is not None:
        await ctx.chat.send(account, Input(key=key, location=location,
                                           echo=ctx.catalog.plain("web.you_sent_location")))  # fmt: skip
    elif action:
        on = str(form.get("on", ""))
        pressed_on = int(on) if on.isdigit() and len(on) <= 18 else None
        await ctx.chat.send(account, Input(key=key, action=action, echo=label, on=pressed_on))
    elif str(form.get("command", "")) in DESK_COMMANDS:  # the desk menu on /me
        command = str(form["command"])
        echo = ctx.catalog.plain(f"web.desk_{command}")
        await ctx.chat.send(account, Input(key=key, command=command, echo=echo))
    elif text.lower().split()[:1] == ["/qr"]:
        # Telegram's /qr is that channel's own (its t.me link); the web's is this page's
        await ctx.chat.qr(account, Input(key=key, command="qr", text=text, echo=text), ctx.public_url)
    elif text.startswith("/") and len(text) > 1:
        command = text[1:].split()[0].lower()
        await ctx.chat.send(account, Input(key=key, command=command, text=text, echo=text))
    elif text:
        await ctx.chat.send(account, Input(key=key, text=text, echo=text))
    raise web.HTTPSeeOther(f"{request.path}#end")


async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: each new card, rendered, for the open page to append."""
    ctx = request.app[CTX]
    account = account_of(request)
    if account is None:
        raise web.HTTPForbidden()
    try:
        after = int(request.query.get("after", "0"))
    except ValueError:
        after = 0
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"}
    )
    secure_headers(request, response.headers)
    await response.prepare(request)
    template = request.app[ENV].get_template("message.html")
    csrf = ctx.signer.csrf(account)
    while True:
        items = await _messages(ctx, account, after)
        # A receipt card's code is shown by the page load that follows the post that made it
        # (never by a stream the navigating page may drop): the stream passes over it.
        shown = [(i, p) for i, p in items if not p.get("pending")]
        after = items[-1][0] if items else after
        for item in _views(shown, ctx.clock.now()):
            html = template.render(
                item=item,
                csrf=csrf,
                form_key=new_id(12),
                post_to=request.path.rsplit("/", 1)[0] or "/me",
                file_minutes=int(FILE_LIFETIME.total_seconds() // 60),
            )
            data = "\n".join(f"data: {line}" for line in html.splitlines())
            if not await _send_event(response, f"id: {item.id}\nevent: card\n{data}\n\n"):
                return response
        if not items and not await _send_event(response, ": keep-alive\n\n"):
            return response
        await ctx.channel.wait(account, SSE_HEARTBEAT_SECONDS)


async def _send_event(response: web.StreamResponse, event: str) -> bool:
    """Write one event; False when the page has gone (closed, reloaded, navigated away: the
    normal end of a stream, not an error)."""
    try:
        await response.write(event.encode())
    except ConnectionResetError:  # aiohttp.ClientConnectionResetError is one
        log.debug("web: an event stream ended (the page went away)")
        return False
    return True


# -- a wish on another device: receipt + access code ---------------------------------------------


async def open_form(request: web.Request) -> web.Response:
    account, new = _ensure_visitor(request)
    return _page(request, "open.html", account, new, code_length=CODE_LENGTH)


async def open_post(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CTX]
    account, form = await _checked_form(request)
    if not ctx.lookups_ip.allow(address(request)) or not ctx.lookups.allow(account):
        raise refusal(web.HTTPTooManyRequests, ctx.catalog.plain("web.too_many"))
    receipt = str(form.get("receipt", "")).strip().upper()
    code = str(form.get("code", "")).strip().upper()
    async with ctx.db.transaction() as conn:
        repo = WebRepo(conn)
        found = await repo.access_code(receipt) if receipt else None
        # the same answer for a wrong receipt and a wrong code: receipts can't be probed
        expected = found[1] if found else digest("-")
        ok = found is not None and _same(expected, digest(code))
        if ok:
            assert found is not None
            await repo.grant(account, found[0], ctx.clock.now())
    if not ok:
        return _page(request, "open.html", account, status=404, code_length=CODE_LENGTH,
                     error=ctx.catalog.plain("web.open_wrong"))  # fmt: skip
    raise web.HTTPSeeOther(f"/wish/{receipt}")


def _same(a: str, b: str) -> bool:
    import hmac

    return hmac.compare_digest(a, b)


async def wish_page(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    account, new = _ensure_visitor(request)
    receipt = request.match_info["receipt"].upper()
    detail = None
    for held in accounts(request):  # the resident's grants, or the desk's rule
        if (detail := await _visible_wish(ctx, held, receipt)) is not None:
            break
    if detail is None:  # not found and not allowed look the same
        return _page(request, "open.html", account, new, status=404, code_length=CODE_LENGTH,
                     error=ctx.catalog.plain("web.open_wrong"))  # fmt: skip
    return _page(request, "wish.html", account, **detail)


async def _visible_wish(ctx: WebContext, account: str, receipt: str) -> dict[str, Any] | None:
    async with ctx.db.read() as conn:
        wish = await Repos(conn).wish_by_receipt(receipt)
        if wish is None:
            return None
        repo = WebRepo(conn)
        allowed = wish.id in await repo.granted(account) or await repo.owns(account, wish.id)
        user_id = None if allowed else await repo.logged_in(account)
    # a deputy or staff member logged in on this browser: the wish's details' own rule (its
    # deputy, its station's staff), as for its photos; anyone else gets the 404 of no wish
    if not allowed and (user_id is None or not await _may_see(ctx, user_id, wish.id)):
        return None
    async with ctx.db.read() as conn:
        photos = await WebRepo(conn).photo_refs(wish.id)
        category = (await Repos(conn).category_names()).get(wish.category_id, wish.category_id)
        # The history as its reader may see it: the resident's own (their browser, or one
        # opened with receipt + code), or the logged-in deputy's or staff member's; the use
        # case's detail and the card's timeline, as 查看 shows it on every channel.
        reader = await Repos(conn).user(wish.resident_id if allowed else user_id or 0)
    history = None
    if reader is not None and ctx.liaison is not None:
        from bot.domain.model import DomainError, Role

        try:
            detail = await ctx.liaison.queries.wish_detail(reader, wish.id)
        except DomainError:
            detail = None
        if detail is not None:
            handler = bool(detail.roles & {Role.DEPUTY, Role.STAFF}) and not allowed
            history = to_html(ctx.cards.timeline(
                detail.wish, detail.events, detail.deputy_names, viewer_is_handler=handler,
                notes=detail.notes, dues=detail.dues,
            ))  # fmt: skip
    return {
        "receipt": wish.receipt, "text": wish.text, "state": ctx.cards.status(wish.status),
        "result": wish.result, "decline_reason": wish.decline_reason,
        "rating": ctx.catalog.plain(f"rating.{wish.rating.value}") if wish.rating else None,
        "category": category, "photos": photo_urls(photos, wish.id), "history": history,
    }  # fmt: skip


# -- uploads, served only to those allowed -------------------------------------------------------


async def upload(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CTX]
    upload_id = request.match_info["upload"]
    if not upload_id.replace("-", "").replace("_", "").isalnum():
        raise web.HTTPNotFound()
    for account in accounts(request):
        if await _upload_allowed(ctx, account, upload_id):
            path = ctx.uploads / f"{upload_id}.jpg"
            if not path.is_file():
                break
            return web.FileResponse(
                path, headers={"Content-Type": "image/jpeg", "Cache-Control": "private, max-age=3600"}
            )
    raise web.HTTPNotFound()


async def _upload_allowed(ctx: WebContext, account: str, upload_id: str) -> bool:
    user_id: int | None = None
    wishes: list[int] = []
    async with ctx.db.read() as conn:
        repo = WebRepo(conn)
        allowed = await repo.upload_owner(upload_id) == account
        if not allowed:
            wishes = await repo.wishes_with_file(f"web:{upload_id}")
            granted = set(await repo.granted(account))
            user_id = await repo.logged_in(account)
            allowed = bool(granted.intersection(wishes))
    if not allowed and user_id is not None:
        # the wish's details' rule (its deputy, its station's staff), as for /wp/
        for wish_id in wishes:
            if await _may_see(ctx, user_id, wish_id):
                allowed = True
                break
    return allowed


async def _may_see(ctx: WebContext, user_id: int, wish_id: int) -> bool:
    """The wish's details' own rule (its resident, its deputy, its station's staff, a county
    admin), asked of the use case rather than repeated here."""
    from bot.domain.model import DomainError

    if ctx.liaison is None:
        return False
    async with ctx.db.read() as conn:
        user = await Repos(conn).user(user_id)
    if user is None:
        return False
    try:
        await ctx.liaison.queries.wish_detail(user, wish_id)
    except DomainError:
        return False
    return True


async def wish_photo(request: web.Request) -> web.StreamResponse:
    """A wish's photo from any channel (a Telegram resident's, a WeChat image), fetched
    through the media registry, for exactly those who may see the wish: its resident (their
    browser, or receipt + code), and the deputies and staff of its station. Checked on every
    request, never cached by anyone, and re-encoded before it leaves (no EXIF, whatever the
    channel kept). Not allowed, unknown and gone all look the same: 404."""
    ctx = request.app[CTX]
    wish, digest = request.match_info["wish"], request.match_info["digest"]
    if not wish.isdigit() or len(wish) > 12 or not digest.isalnum():
        raise web.HTTPNotFound()
    wish_id = int(wish)
    allowed = False
    for account in accounts(request):
        async with ctx.db.read() as conn:
            repo = WebRepo(conn)
            allowed = wish_id in await repo.granted(account) or await repo.owns(account, wish_id)
            user_id = None if allowed else await repo.logged_in(account)
        if not allowed and user_id is not None:
            allowed = await _may_see(ctx, user_id, wish_id)
        if allowed:
            break
    async with ctx.db.read() as conn:
        refs = await WebRepo(conn).photo_refs(wish_id) if allowed else []
    ref = next((r for r in refs if _same(photo_digest(r), digest)), None)
    data = await ctx.media.fetch(ref) if ref is not None else None
    if data is None:
        raise web.HTTPNotFound()
    try:
        jpeg = await asyncio.get_running_loop().run_in_executor(None, reencode, data)
    except UploadRejected:
        log.warning("web: wish %s has a photo that is no image", wish_id)
        raise web.HTTPNotFound() from None
    return web.Response(
        body=jpeg,
        headers={"Content-Type": "image/jpeg", "Cache-Control": "private, no-store"},
    )


# -- deputies and staff: one-time login links ----------------------------------------------------


async def login_page(request: web.Request) -> web.Response:
    """The link only shows a button: link previews (Telegram's, WeChat's) fetch it with GET, and
    must not use up the one-time token before the person taps it."""
    account, new = _ensure_visitor(request)
    return _page(request, "login.html", account, new)


async def login(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CTX]
    await _checked_form(request)
    if not ctx.lookups_ip.allow("login:" + address(request)):
        raise refusal(web.HTTPTooManyRequests, ctx.catalog.plain("web.too_many"))
    return await _log_in(request, request.match_info["token"])


async def _log_in(request: web.Request, token: str) -> web.StreamResponse:
    ctx = request.app[CTX]
    refused = False
    async with ctx.db.transaction() as conn:
        repo = WebRepo(conn)
        user_id = await repo.use_login_token(digest(token), ctx.clock.now())
        if user_id is not None and not await repo.is_worker(user_id):
            # Removed, deactivated or no longer a deputy or staff member since the link was
            # made: asked again with the rule that gave the link (bot/logins.py). The link is
            # used up all the same (it must never work later) and logs nobody in.
            log.info("web login refused: user %s is no longer a deputy or staff member", user_id)
            refused, user_id = True, None
        account = await repo.web_account_of(user_id) if user_id is not None else None
        if user_id is not None and account is None:
            # a person on Telegram: a fresh web account for this browser, tied to them
            account = new_id()
            await repo.login(account, user_id, ctx.clock.now())
            # ... and one of their accounts, so the conversation knows this browser as them
            # (their rights, their cards); Telegram still comes first for what is pushed
            await Repos(conn).add_account(user_id, "web", account, account, ctx.clock.now())
    if refused:
        text = ctx.catalog.plain("web.login_no_longer_worker")
        return _page(request, "notice.html", None, status=403, text=text)
    if user_id is None or account is None:
        text = ctx.catalog.plain("web.login_invalid", minutes=LOGIN_LINK_MINUTES)
        return _page(request, "notice.html", None, status=404, text=text)
    response = web.HTTPSeeOther("/me")
    _set_cookie(response, request, account, DESK_COOKIE)
    raise response


async def me_page(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    account = desk_account(request)
    async with ctx.db.read() as conn:
        user_id = await WebRepo(conn).logged_in(account) if account else None
    if user_id is None or account is None:
        return _page(
            request,
            "notice.html",
            None,
            status=403,
            text=ctx.catalog.plain("web.login_needed"),
        )
    async with ctx.db.read() as conn:
        deputy, staff = await DeskRepo(conn).roles(user_id)
    if not (deputy or staff):
        staff = True  # a county admin (LIAISON_STAFF_IDS) is neither, and sees the whole desk
    desk = tuple(name for name, to_deputy, to_staff in DESK_MENU if (deputy and to_deputy) or (staff and to_staff))
    return await chat_page(request, desk, account)


# -- the desk's files: a chart or an export, for the session it was made for only ---------------


async def desk_file(request: web.Request) -> web.StreamResponse:
    """A file made for one web account (web/chat.py): served to that session only, until it
    expires; anyone else (another session, no session) gets the same 404 as for no file."""
    ctx = request.app[CTX]
    file_id = request.match_info["file"]
    found = None
    for account in accounts(request) if file_id.isalnum() and len(file_id) <= 64 else []:
        async with ctx.db.read() as conn:
            found = await DeskRepo(conn).get(file_id, account, ctx.clock.now())
        if found is not None:
            break
    if found is None:
        minutes = int(FILE_LIFETIME.total_seconds() // 60)
        text = ctx.catalog.plain("web.desk_file_gone", minutes=minutes)
        return _page(request, "notice.html", None, status=404, text=text)
    disposition = "inline" if found.mime.startswith("image/") else "attachment"
    ascii_name = found.filename.encode("ascii", "replace").decode().replace('"', "_")
    return web.Response(
        body=found.data,
        headers={
            "Content-Type": found.mime,
            # exports hold personal data: neither the browser nor a proxy keeps a copy
            "Cache-Control": "no-store",
            "Content-Disposition": f'{disposition}; filename="{ascii_name}"',
            "X-Content-Type-Options": "nosniff",
        },
    )


async def demo(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    if not ctx.demo:
        raise web.HTTPNotFound()
    account, new = _ensure_visitor(request)
    return _page(request, "demo.html", account, new, stations=await _stations(ctx),
                 roles=sorted(ctx.demo_logins))  # fmt: skip


async def demo_login(request: web.Request) -> web.StreamResponse:
    """Demo only: open the deputy's or staff member's view without Telegram."""
    ctx = request.app[CTX]
    role = request.match_info["role"]
    if not ctx.demo or role not in ctx.demo_logins:
        raise web.HTTPNotFound()
    link = await create_login_link(ctx.db, ctx.clock, "", ctx.demo_logins[role])
    return await _log_in(request, link.rsplit("/", 1)[1])  # the demo's links log in at once


# -- the application ------------------------------------------------------------------------------


def client_max_size() -> int:
    """The largest request: a post of MAX_PHOTOS photos of up to 10 MB each, with room."""
    return MAX_PHOTOS * 11 * 1024 * 1024


def create_app(ctx: WebContext) -> web.Application:
    app = web.Application(
        middlewares=[headers_middleware, error_pages], client_max_size=client_max_size()
    )
    app[CTX] = ctx
    app[ENV] = _env(ctx.catalog)
    app.router.add_get("/", index)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/wall/{station}", wall)
    app.router.add_get("/s/{station}", chat_page)
    app.router.add_post("/s/{station}", chat_post)
    app.router.add_get("/s/{station}/events", events)
    app.router.add_get("/me", me_page)
    app.router.add_post("/me", chat_post)
    app.router.add_get("/me/events", events)
    app.router.add_get("/open", open_form)
    app.router.add_post("/open", open_post)
    app.router.add_get("/wish/{receipt}", wish_page)
    app.router.add_get("/u/{upload}.jpg", upload)
    app.router.add_get("/wp/{wish}/{digest}.jpg", wish_photo)
    app.router.add_get("/f/{file}", desk_file)
    app.router.add_get("/login/{token}", login_page)
    app.router.add_post("/login/{token}", login)
    app.router.add_get("/demo", demo)
    app.router.add_get("/demo/{role}", demo_login)
    app.router.add_static("/static", HERE / "static", append_version=False)
    return app


async def web_secret(db: Database, configured: str | None) -> str:
    if configured:
        return configured
    async with db.transaction() as conn:
        return await WebRepo(conn).set_setting_once("secret", new_id(32))


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)
