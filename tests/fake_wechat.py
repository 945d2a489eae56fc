"""An in-process fake of WeChat (公众平台) for the tests, behaving as documented.

Server side (the API the bot calls): /cgi-bin/stable_token (normal mode hands out the current
token; force_refresh replaces it, invalidating the previous one for every caller, at most 20 times
a day and 30 s apart: a forced call sooner is answered with the current token, not refreshed; the
21st is refused with 45009; `stable_token_offered=False` answers it 404), GET /cgi-bin/token (each
call issues a new token, the previous one stays valid 5 minutes; isolated from stable_token's),
message/custom/send (enforcing the
48 h window and the 5-message count after a message, 60 s and 3 messages after a follow, scan or
menu click: 45015/45047), message/template/send and message/subscribe/bizsend (the template id
must be one added to the account, `template_keys`, else 40037; first/remark are filtered out as
WeChat does since templates became 类目模板; a key the template lacks or a value its type does not
take, e.g. a thing of more than 20 characters or a character_string with Chinese, is 47003;
bizsend needs a one-time consent), qrcode/create, media/get; faults injected with `fail_next` (errcodes such as 40001 or
HTTP statuses >= 500) and `invalidate_token()`.
Client side (the pushes WeChat makes to the bot's URL): `push()` signs (and in safe mode encrypts)
a message or event, posts it, and retries an unanswered one after `retry_after` seconds, three
tries in all, as WeChat does. Every interaction opens the 客服 window in the fake as it would in
WeChat. The clock is `now` (seconds), moved by tests.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from wechat.crypto import MessageCrypto, signature
from wechat.messages import parse_envelope

MESSAGE_WINDOW = 48 * 3600
MESSAGE_QUOTA = 5
EVENT_WINDOW = 60
EVENT_QUOTA = 3
# The templates added to the account (id -> its keys), as the tests configure them: the defaults of
# LIAISON_WECHAT_TEMPLATE_FIELDS / LIAISON_WECHAT_SUBSCRIBE_FIELDS (wechat/fields.py).
TEMPLATE_KEYS = ("thing1", "character_string2", "thing3", "time4")
SUBSCRIPTION_KEYS = ("thing1", "thing2")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
# JSON with \uXXXX escapes is refused by the message APIs (40033), as WeChat does.
UNESCAPED_ONLY = {"custom/send", "template/send", "subscribe/bizsend"}
_ESCAPE = re.compile(rb"\\u[0-9a-fA-F]{4}")
FORCE_SPACING = 30  # stable_token: 强制刷新模式每天限用 20 次且需间隔 30 秒
FORCE_PER_DAY = 20


@dataclass
class Window:
    opened_at: float
    seconds: int
    quota: int


@dataclass
class PushResult:
    status: int
    body: str
    tries: int
    plaintext: str = ""  # the reply decrypted (safe mode) or as sent (plaintext)


@dataclass
class FakeWeChat:
    app_id: str = "wx1234567890abcdef"
    app_secret: str = "secret"
    token: str = "tokentoken"
    aes_key: str = ""  # empty: plaintext mode
    original_id: str = "gh_0123456789ab"
    retry_after: float = 5.0
    now: float = field(default_factory=time.time)
    webhook_url: str = ""
    access_tokens: list[str] = field(default_factory=list)
    custom: list[dict[str, Any]] = field(default_factory=list)
    templates: list[dict[str, Any]] = field(default_factory=list)
    subscriptions: list[dict[str, Any]] = field(default_factory=list)
    refused: list[tuple[str, int]] = field(default_factory=list)  # (api, errcode)
    consents: set[tuple[str, str]] = field(default_factory=set)  # (openid, template_id)
    media: dict[str, bytes] = field(default_factory=dict)
    qrcodes: dict[str, str] = field(default_factory=dict)  # ticket -> scene_str
    template_keys: dict[str, tuple[str, ...]] = field(
        default_factory=lambda: {
            **{t: TEMPLATE_KEYS for t in ("TPL_RESULT", "TPL_REPLY", "TPL_NOTICE", "TPL_N")},
            **{t: SUBSCRIPTION_KEYS for t in ("SUB_RESULT", "SUB_REPLY", "SUB_NOTICE", "SUB")},
        }
    )
    fail_next: dict[str, list[int]] = field(default_factory=dict)  # api path -> codes
    raw: list[tuple[str, bytes, str]] = field(default_factory=list)  # (path, body, content type)
    windows: dict[str, Window] = field(default_factory=dict)
    token_fetches: int = 0
    stable_token_offered: bool = True
    classic_tokens: dict[str, float] = field(default_factory=dict)  # cgi-bin/token -> valid until
    force_requests: int = 0  # stable_token calls with force_refresh, refreshed or not
    forced_at: list[float] = field(default_factory=list)  # when a forced refresh took effect
    _msg_ids: itertools.count = field(default_factory=lambda: itertools.count(6054768590064713728))

    def __post_init__(self) -> None:
        self._runner: web.AppRunner | None = None
        self.base_url = ""
        self._session: aiohttp.ClientSession | None = None
        self._changed = asyncio.Event()

    def _notify(self) -> None:
        self._changed.set()

    async def wait_until(
        self,
        condition: Any,
        timeout: float = 30.0,  # noqa: ASYNC109 - a deadline for the condition, by design
    ) -> None:
        """Wait until ``condition()`` holds; re-checked whenever the fake records something."""
        async with asyncio.timeout(timeout):
            while not condition():
                self._changed.clear()
                await self._changed.wait()

    # ----- server ---------------------------------------------------------------------------
    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/cgi-bin/stable_token", self._stable_token)
        app.router.add_get("/cgi-bin/token", self._classic_token)
        app.router.add_post("/cgi-bin/message/custom/send", self._custom_send)
        app.router.add_post("/cgi-bin/message/template/send", self._template_send)
        app.router.add_post("/cgi-bin/message/subscribe/bizsend", self._bizsend)
        app.router.add_post("/cgi-bin/qrcode/create", self._qrcode)
        app.router.add_get("/cgi-bin/media/get", self._media_get)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}"
        self._session = aiohttp.ClientSession()
        return self.base_url

    async def stop(self) -> None:
        if self._session:
            await self._session.close()
        if self._runner:
            await self._runner.cleanup()

    def invalidate_token(self) -> None:
        """The next call with the current token gets 40001, as after a token was replaced."""
        self.access_tokens.clear()
        self.classic_tokens.clear()

    async def _injected(self, path: str, request: web.Request) -> web.Response | None:
        body = await request.read()  # a reply before the body is read drops the keep-alive
        self.raw.append((path, body, request.headers.get("Content-Type", "")))
        codes = self.fail_next.get(path)
        if not codes:
            if path in UNESCAPED_ONLY and _ESCAPE.search(body):
                # 全局返回码 40033: 不合法的请求字符，不能包含\uxxxx格式的字符
                self.refused.append((path, 40033))
                return web.json_response({"errcode": 40033, "errmsg": "invalid charset"})
            return None
        code = codes.pop(0)
        if code == 0:  # errcode 0 is success: this call goes through, the next codes follow
            return None
        if 500 <= code < 600:  # an HTTP status; anything else is an errcode
            return web.Response(status=code, text="busy")
        return web.json_response({"errcode": code, "errmsg": "injected"})

    def _check_token(self, request: web.Request) -> web.Response | None:
        token = request.query.get("access_token", "")
        if token in self.classic_tokens and self.now < self.classic_tokens[token]:
            return None
        if token not in self.access_tokens:
            return web.json_response({"errcode": 40001, "errmsg": "invalid credential"})
        return None

    async def _classic_token(self, request: web.Request) -> web.Response:
        if (r := await self._injected("token", request)) is not None:
            return r
        q = request.query
        if q.get("grant_type") != "client_credential":
            return web.json_response({"errcode": 40002, "errmsg": "invalid grant_type"})
        if q.get("appid") != self.app_id or q.get("secret") != self.app_secret:
            return web.json_response({"errcode": 40125, "errmsg": "invalid appsecret"})
        self.token_fetches += 1
        for old in self.classic_tokens:  # the previous token: still valid for 5 minutes
            self.classic_tokens[old] = min(self.classic_tokens[old], self.now + 300)
        token = secrets.token_hex(16)
        self.classic_tokens[token] = float("inf")
        return web.json_response({"access_token": token, "expires_in": 7200})

    async def _stable_token(self, request: web.Request) -> web.Response:
        if not self.stable_token_offered:
            await request.read()
            return web.Response(status=404, text="404 page not found")
        if (r := await self._injected("stable_token", request)) is not None:
            return r
        body = await request.json()
        if body.get("appid") != self.app_id or body.get("secret") != self.app_secret:
            return web.json_response({"errcode": 40125, "errmsg": "invalid appsecret"})
        self.token_fetches += 1
        if body.get("force_refresh") is True:
            self.force_requests += 1
            if len([t for t in self.forced_at if self.now - t < 86400]) >= FORCE_PER_DAY:
                return web.json_response(
                    {"errcode": 45009, "errmsg": "reach max api daily quota limit"}
                )
            if not self.forced_at or self.now - self.forced_at[-1] >= FORCE_SPACING:
                self.forced_at.append(self.now)
                self.access_tokens = [secrets.token_hex(16)]  # the previous one is dead at once
        if not self.access_tokens:
            self.access_tokens = [secrets.token_hex(16)]
        return web.json_response({"access_token": self.access_tokens[-1], "expires_in": 7200})

    def open_window(self, openid: str, kind: str) -> None:
        if kind == "message":
            self.windows[openid] = Window(self.now, MESSAGE_WINDOW, MESSAGE_QUOTA)
        else:
            self.windows[openid] = Window(self.now, EVENT_WINDOW, EVENT_QUOTA)

    async def _custom_send(self, request: web.Request) -> web.Response:
        if (r := await self._injected("custom/send", request)) is not None or (
            r := self._check_token(request)
        ):
            return r
        body = await request.json()
        openid = body.get("touser", "")
        window = self.windows.get(openid)
        if window is None or self.now > window.opened_at + window.seconds:
            self.refused.append(("custom/send", 45015))
            return web.json_response({"errcode": 45015, "errmsg": "response out of time limit"})
        if window.quota <= 0:
            self.refused.append(("custom/send", 45047))
            return web.json_response({"errcode": 45047, "errmsg": "out of response count limit"})
        window.quota -= 1
        self.custom.append(body)
        self._notify()
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    async def _template_send(self, request: web.Request) -> web.Response:
        if (r := await self._injected("template/send", request)) is not None or (
            r := self._check_token(request)
        ):
            return r
        body = await request.json()
        if (refused := self._template_data(body)) is not None:
            self.refused.append(("template/send", refused["errcode"]))
            return web.json_response(refused)
        self.templates.append(body)
        self._notify()
        return web.json_response({"errcode": 0, "errmsg": "ok", "msgid": len(self.templates)})

    async def _bizsend(self, request: web.Request) -> web.Response:
        if (r := await self._injected("subscribe/bizsend", request)) is not None or (
            r := self._check_token(request)
        ):
            return r
        body = await request.json()
        if (refused := self._template_data(body)) is not None:
            self.refused.append(("subscribe/bizsend", refused["errcode"]))
            return web.json_response(refused)
        key = (body.get("touser", ""), body.get("template_id", ""))
        if key not in self.consents:
            self.refused.append(("subscribe/bizsend", 43101))
            return web.json_response({"errcode": 43101, "errmsg": "user refuse to accept the msg"})
        self.consents.discard(key)  # one-time: used up by this message
        self.subscriptions.append(body)
        self._notify()
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    def _template_data(self, body: dict[str, Any]) -> dict[str, Any] | None:
        """WeChat's checks of a template or subscription message's data (None: accepted). The
        data is left as WeChat shows it: without first and remark."""
        keys = self.template_keys.get(str(body.get("template_id", "")))
        data = body.get("data")
        if keys is None:
            return {"errcode": 40037, "errmsg": "invalid template_id"}
        if not isinstance(data, dict):
            return {"errcode": 47001, "errmsg": "data format error"}
        data.pop("first", None)
        data.pop("remark", None)
        for key, item in data.items():
            value = item.get("value") if isinstance(item, dict) else None
            if key not in keys or not isinstance(value, str) or not _fits(key, value):
                return {"errcode": 47003, "errmsg": f"argument invalid! data.{key}.value invalid"}
        return None

    async def _qrcode(self, request: web.Request) -> web.Response:
        if (r := await self._injected("qrcode/create", request)) is not None or (
            r := self._check_token(request)
        ):
            return r
        body = await request.json()
        scene = body.get("action_info", {}).get("scene", {}).get("scene_str", "")
        if body.get("action_name") != "QR_LIMIT_STR_SCENE" or not 1 <= len(scene) <= 64:
            return web.json_response({"errcode": 40053, "errmsg": "invalid action info"})
        ticket = secrets.token_urlsafe(24)
        self.qrcodes[ticket] = scene
        return web.json_response({"ticket": ticket, "url": f"http://weixin.qq.com/q/{ticket[:20]}"})

    async def _media_get(self, request: web.Request) -> web.Response:
        if (r := await self._injected("media/get", request)) is not None or (
            r := self._check_token(request)
        ):
            return r
        data = self.media.get(request.query.get("media_id", ""))
        if data is None:
            return web.json_response({"errcode": 40007, "errmsg": "invalid media_id"})
        return web.Response(body=data, content_type="image/jpeg")

    # ----- client: pushes to the bot ---------------------------------------------------------
    def xml(self, openid: str, msg_type: str, **fields: str | int) -> str:
        parts = [
            f"<ToUserName><![CDATA[{self.original_id}]]></ToUserName>",
            f"<FromUserName><![CDATA[{openid}]]></FromUserName>",
            f"<CreateTime>{int(self.now)}</CreateTime>",
            f"<MsgType><![CDATA[{msg_type}]]></MsgType>",
        ]
        for name, value in fields.items():
            parts.append(
                f"<{name}>{value if isinstance(value, int) else f'<![CDATA[{value}]]>'}</{name}>"
            )
        if msg_type != "event" and "MsgId" not in fields:
            parts.append(f"<MsgId>{next(self._msg_ids)}</MsgId>")
        return "<xml>" + "".join(parts) + "</xml>"

    def text(self, openid: str, content: str, **extra: str | int) -> str:
        return self.xml(openid, "text", Content=content, **extra)

    def event(self, openid: str, event: str, key: str = "") -> str:
        return (
            self.xml(openid, "event", Event=event, EventKey=key)
            if key
            else self.xml(openid, "event", Event=event)
        )

    async def push(
        self, xml: str, *, mode: str | None = None, bad_signature: bool = False
    ) -> PushResult:
        """Deliver a push as WeChat would; mode "plain", "compat" or "aes" (default: aes when
        an AES key is set). Retries after `retry_after` seconds when no answer came, 3 tries."""
        assert self._session is not None
        mode = mode or ("aes" if self.aes_key else "plain")
        root = parse_envelope(xml.encode())
        openid = root.findtext("FromUserName") or ""
        msg_type, event = root.findtext("MsgType"), root.findtext("Event") or ""
        if msg_type != "event":
            self.open_window(openid, "message")
        elif event in ("subscribe", "SCAN", "CLICK"):
            self.open_window(openid, "event")
        timestamp, nonce = str(int(self.now)), str(secrets.randbelow(10**9))
        params = {"timestamp": timestamp, "nonce": nonce}
        params["signature"] = signature(self.token, timestamp, nonce)
        body = xml
        crypto = MessageCrypto(self.token, self.aes_key, self.app_id) if mode != "plain" else None
        if crypto is not None:
            encrypted = crypto.encrypt(xml)
            params["encrypt_type"] = "aes"
            params["msg_signature"] = crypto.msg_signature(timestamp, nonce, encrypted)
            envelope = f"<ToUserName><![CDATA[{self.original_id}]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt>"
            body = "<xml>" + (xml[5:-6] if mode == "compat" else "") + envelope + "</xml>"
        if bad_signature:
            params["signature"] = "0" * 40
            params.pop("msg_signature", None) if mode == "plain" else params.update(
                msg_signature="0" * 40
            )
        for tries in range(1, 4):
            try:
                async with self._session.post(
                    self.webhook_url,
                    params=params,
                    data=body.encode(),
                    timeout=aiohttp.ClientTimeout(total=self.retry_after),
                ) as resp:
                    text = await resp.text()
            except TimeoutError:
                continue
            plain = text
            if (
                crypto is not None
                and mode == "aes"
                and resp.status == 200
                and text not in ("", "success")
            ):
                reply = parse_envelope(text.encode())
                plain = crypto.open(
                    reply.findtext("MsgSignature") or "",
                    reply.findtext("TimeStamp") or "",
                    reply.findtext("Nonce") or "",
                    reply.findtext("Encrypt") or "",
                )
            return PushResult(resp.status, text, tries, plain)
        return PushResult(0, "", 3)

    async def verify(self, echostr: str, *, bad_signature: bool = False) -> tuple[int, str]:
        """The GET WeChat makes when the server URL is saved in the console."""
        assert self._session is not None
        timestamp, nonce = str(int(self.now)), "123456"
        sig = "0" * 40 if bad_signature else signature(self.token, timestamp, nonce)
        async with self._session.get(
            self.webhook_url,
            params={"signature": sig, "timestamp": timestamp, "nonce": nonce, "echostr": echostr},
        ) as resp:
            return resp.status, await resp.text()


def _fits(key: str, value: str) -> bool:
    """The documented value limits of the typed keys (类目模板 参数值内容限制)."""
    kind = key.rstrip("0123456789")
    if kind == "thing":
        return len(value) <= 20 and "\n" not in value
    if kind == "character_string":
        return len(value) <= 32 and value.isascii()
    if kind == "phrase":
        return len(value) <= 5 and all(_CJK.match(c) for c in value)
    if kind == "number":
        return len(value) <= 32 and bool(re.fullmatch(r"[0-9]+(\.[0-9]+)?", value))
    if kind in ("time", "date"):
        return bool(re.search(r"[0-9]", value)) and len(value) <= 40
    return len(value) <= 20
