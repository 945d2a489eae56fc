"""The few WeChat API calls the channel needs, hand-written on httpx (async).

The access token comes from /cgi-bin/stable_token: one token for the whole account (every process
asking gets the same one while it is valid, unlike /cgi-bin/token which invalidates the previous),
cached here until shortly before it expires. A call refused with 40001/40014/42001 names the token
it used: if the cache already holds another one (a concurrent call refreshed it) the call is just
repeated with that; otherwise the token is fetched again in normal mode, and only if WeChat still
hands out the same rejected token is it force-refreshed (force_refresh invalidates the previous
token for every caller, and WeChat allows it 20 times a day, 30 s apart). A token still refused
after that is a TRANSIENT failure: the dispatcher retries the message later.
Where stable_token is not offered (HTTP 404, or 48001 api unauthorized) the classic GET
/cgi-bin/token is used instead, and from then on (token_api "auto"; "stable" or "token" pins one).
Errors are mapped to the dispatcher's Failure kinds so the outbox treats WeChat like any channel;
45015 (the 48 h window is closed) and 45047 (the 客服 count is used up) are PathClosed: the caller
tries the next path (template, subscription, waiting).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from bot.dispatcher import DeliveryError, Failure

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.weixin.qq.com"
TOKEN_MARGIN = 300  # seconds: refresh a little before WeChat's expiry

TOKEN_INVALID = {40001, 40014, 42001}  # invalid / expired access_token
FORCE_SPACING = 30.0  # seconds between two forced refreshes (stable_token's documented rule)
FORCE_PER_DAY = 20  # forced refreshes WeChat allows a day
API_UNAUTHORIZED = 48001  # the account may not call this API
TOKEN_APIS = ("auto", "stable", "token")  # which token endpoint: LIAISON_WECHAT_TOKEN_API
WINDOW_CLOSED = 45015  # "response out of time limit": no message from the resident for 48 h
COUNT_USED_UP = 45047  # "out of response count limit"
UNREACHABLE = {43004, 40003, 43019}  # not a follower (unsubscribed), bad openid, blocked
RATE_LIMITED = {45009, 45011}  # daily quota reached, API called too often


class WeChatError(Exception):
    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"{errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg


class PathClosed(DeliveryError):
    """This way of reaching the resident is closed now; another may be open."""

    def __init__(self, errcode: int, description: str) -> None:
        super().__init__(Failure.UNREACHABLE, description)
        self.errcode = errcode


def to_delivery_error(exc: WeChatError) -> DeliveryError:
    if exc.errcode in (WINDOW_CLOSED, COUNT_USED_UP):
        return PathClosed(exc.errcode, f"wechat {exc.errcode}")
    if exc.errcode in UNREACHABLE:
        return DeliveryError(Failure.UNREACHABLE, f"wechat {exc.errcode}")
    if exc.errcode in RATE_LIMITED:
        return DeliveryError(Failure.RETRY_AFTER, f"wechat {exc.errcode}", retry_after=60.0)
    if exc.errcode == -1:  # 系统繁忙
        return DeliveryError(Failure.TRANSIENT, "wechat busy")
    if exc.errcode in TOKEN_INVALID:
        # still refused after a refresh (another process refreshing at the same moment, or a
        # forced refresh not allowed yet): nothing is wrong with the message, try it later
        return DeliveryError(Failure.TRANSIENT, f"wechat {exc.errcode}: token")
    return DeliveryError(Failure.BAD_REQUEST, f"wechat {exc.errcode}")


@dataclass(frozen=True)
class QrCode:
    ticket: str
    url: str  # the content encoded in the QR image (weixin.qq.com/q/…)


class WeChatApi:
    def __init__(
        self,
        app_id: str,
        app_secret: str,
        base_url: str = DEFAULT_BASE_URL,
        client: httpx.AsyncClient | None = None,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        token_api: str = "auto",
    ) -> None:
        if token_api not in TOKEN_APIS:
            raise ValueError(f"token_api must be one of {TOKEN_APIS}")
        self.app_id = app_id
        self.token_api = token_api  # "auto" becomes "stable" or "token" at the first fetch
        self._secret = app_secret
        self.base_url = base_url.rstrip("/")
        self._client = client or httpx.AsyncClient(timeout=timeout)
        self._own_client = client is None
        self._clock = clock  # seconds; tests pass the fake's clock
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()
        self._forced: deque[float] = deque()  # when the forced refreshes of the last day were

    async def close(self) -> None:
        if self._own_client:
            await self._client.aclose()

    async def access_token(self, stale: str | None = None) -> str:
        """The current token. `stale` is a token WeChat just refused (40001/40014/42001): a
        different one is then returned, fetched without invalidating anyone's if possible."""
        async with self._lock:  # one fetch at a time; the others wait for its result
            now = self._clock()
            if self._token and now < self._expires_at and self._token != stale:
                return self._token  # still valid, or already refreshed by a concurrent call
            token = await self._fetch_token(force=False)
            if stale is not None and token == stale:
                # WeChat hands out the very token it refused: only a forced refresh replaces it
                if not self._may_force(now):
                    raise DeliveryError(Failure.TRANSIENT, "access_token refused; refresh later")
                self._forced.append(now)
                token = await self._fetch_token(force=True)
            return token

    def _may_force(self, now: float) -> bool:
        while self._forced and now - self._forced[0] >= 86400:
            self._forced.popleft()
        if len(self._forced) >= FORCE_PER_DAY:
            return False
        return not self._forced or now - self._forced[-1] >= FORCE_SPACING

    async def _fetch_token(self, force: bool) -> str:
        try:
            data = await (
                self._classic_token() if self.token_api == "token" else self._stable_token(force)
            )
        except WeChatError as exc:
            # 40164 (IP not whitelisted), 40125 (secret), -1 (busy), 45009 …: a DeliveryError
            # like every other failure, so no caller (the media download of a push included)
            # sees a WeChatError it does not handle
            failure = to_delivery_error(exc)
            if failure.failure is Failure.BAD_REQUEST:
                # Not the message's fault but the setup's (the secret, the IP whitelist), which
                # the operator can mend: the notices wait and are retried, not marked dead.
                log.error(
                    "wechat access token refused (%s): check LIAISON_WECHAT_APP_SECRET and the"
                    " account's IP whitelist",
                    exc.errcode,
                )
                failure = DeliveryError(Failure.TRANSIENT, f"wechat {exc.errcode}: access token")
            raise failure from exc
        token, expires = data.get("access_token"), data.get("expires_in")
        if not isinstance(token, str) or not token or not isinstance(expires, int):
            raise DeliveryError(Failure.TRANSIENT, "access token: malformed answer")
        self._token = token
        self._expires_at = self._clock() + max(expires - TOKEN_MARGIN, 1)
        return token

    async def _stable_token(self, force: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "grant_type": "client_credential",
            "appid": self.app_id,
            "secret": self._secret,
        }
        if force:
            body["force_refresh"] = True
        path = "/cgi-bin/stable_token"
        resp = await self._post(path, body)
        try:
            if resp.status_code == 404:
                raise WeChatError(API_UNAUTHORIZED, "stable_token: HTTP 404")
            data = self._json(path, resp)
        except WeChatError as exc:
            if exc.errcode != API_UNAUTHORIZED or self.token_api != "auto":
                raise
            log.warning("wechat: stable_token not offered (%s); using cgi-bin/token", exc.errcode)
            self.token_api = "token"
            return await self._classic_token()
        self.token_api = "stable"
        return data

    async def _classic_token(self) -> dict[str, Any]:
        """GET /cgi-bin/token: each call issues a new token (the previous one stays valid for
        a few minutes), so it is called only when the cached one expired or was refused."""
        path = "/cgi-bin/token"
        params = {"grant_type": "client_credential", "appid": self.app_id, "secret": self._secret}
        try:
            resp = await self._client.get(self.base_url + path, params=params)
        except httpx.HTTPError as exc:
            raise DeliveryError(Failure.TRANSIENT, f"{path}: {type(exc).__name__}") from exc
        return self._json(path, resp)

    async def _post(
        self, path: str, body: dict[str, Any], token: str | None = None
    ) -> httpx.Response:
        params = {"access_token": token} if token else None
        try:
            return await self._client.post(
                self.base_url + path, params=params, content=_json_body(body), headers=JSON_UTF8
            )
        except httpx.HTTPError as exc:
            raise DeliveryError(Failure.TRANSIENT, f"{path}: {type(exc).__name__}") from exc

    async def _post_json(
        self, path: str, body: dict[str, Any], token: str | None = None
    ) -> dict[str, Any]:
        return self._json(path, await self._post(path, body, token))

    @staticmethod
    def _json(path: str, resp: httpx.Response) -> dict[str, Any]:
        if resp.status_code >= 500:
            raise DeliveryError(Failure.TRANSIENT, f"{path}: HTTP {resp.status_code}")
        try:
            data = resp.json()
        except ValueError as exc:
            raise DeliveryError(Failure.TRANSIENT, f"{path}: not JSON") from exc
        if not isinstance(data, dict):
            raise DeliveryError(Failure.TRANSIENT, f"{path}: not an object")
        errcode = data.get("errcode", 0)
        if errcode:
            raise WeChatError(int(errcode), str(data.get("errmsg", "")))
        return data

    async def call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST with the token; a refused token is replaced once (see access_token) and the
        call repeated."""
        token = await self.access_token()
        try:
            return await self._post_json(path, body, token)
        except WeChatError as exc:
            if exc.errcode not in TOKEN_INVALID:
                raise
        token = await self.access_token(stale=token)
        return await self._post_json(path, body, token)

    async def _send(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            return await self.call(path, body)
        except WeChatError as exc:
            raise to_delivery_error(exc) from exc

    async def send_text(self, openid: str, text: str) -> None:
        """客服消息 (customer-service message): only inside the resident's 48 h window."""
        await self._send(
            "/cgi-bin/message/custom/send",
            {"touser": openid, "msgtype": "text", "text": {"content": text}},
        )

    async def send_template(
        self, openid: str, template_id: str, data: dict[str, str], url: str = ""
    ) -> str:
        """模板消息 (certified service accounts); returns the msgid."""
        body = _templated(openid, template_id, data)
        if url:
            body["url"] = url
        answer = await self._send("/cgi-bin/message/template/send", body)
        return str(answer.get("msgid", ""))

    async def send_subscription(
        self, openid: str, template_id: str, data: dict[str, str], page: str = ""
    ) -> None:
        """订阅通知 (one-time subscription the resident consented to)."""
        body = _templated(openid, template_id, data)
        if page:
            body["page"] = page
        await self._send("/cgi-bin/message/subscribe/bizsend", body)

    async def create_permanent_qr(self, scene_str: str) -> QrCode:
        if not 1 <= len(scene_str) <= 64:
            raise ValueError("scene_str must have 1 to 64 characters")
        data = await self._send(
            "/cgi-bin/qrcode/create",
            {"action_name": "QR_LIMIT_STR_SCENE", "action_info": {"scene": {"scene_str": scene_str}}},
        )
        ticket, url = data.get("ticket"), data.get("url")
        if not isinstance(ticket, str) or not isinstance(url, str):
            raise DeliveryError(Failure.TRANSIENT, "qrcode/create: malformed answer")
        return QrCode(ticket=ticket, url=url)

    async def download_media(
        self, media_id: str, max_bytes: int = 10 * 1024 * 1024
    ) -> tuple[bytes, str]:
        """临时素材 media/get: the bytes and content type. Temporary media expire after 3 days, so
        photos are fetched when the wish is taken in."""
        token = await self.access_token()
        for attempt in (0, 1):
            try:
                resp = await self._client.get(
                    self.base_url + "/cgi-bin/media/get",
                    params={"access_token": token, "media_id": media_id},
                )
            except httpx.HTTPError as exc:
                raise DeliveryError(Failure.TRANSIENT, f"media/get: {type(exc).__name__}") from exc
            ctype = resp.headers.get("content-type", "")
            if resp.status_code < 500 and ("json" in ctype or "text/plain" in ctype):
                try:
                    self._json("/cgi-bin/media/get", resp)
                except WeChatError as exc:
                    if exc.errcode in TOKEN_INVALID and attempt == 0:
                        token = await self.access_token(stale=token)
                        continue
                    raise to_delivery_error(exc) from exc
                raise DeliveryError(Failure.BAD_REQUEST, "media/get: no media")
            if resp.status_code >= 400:
                raise DeliveryError(Failure.TRANSIENT, f"media/get: HTTP {resp.status_code}")
            if len(resp.content) > max_bytes:
                raise DeliveryError(Failure.BAD_REQUEST, "media/get: too large")
            return resp.content, ctype
        raise DeliveryError(Failure.TRANSIENT, "media/get: token")


JSON_UTF8 = {"Content-Type": "application/json; charset=utf-8"}


def _json_body(body: dict[str, Any]) -> bytes:
    """The request body as UTF-8 JSON with the characters themselves, never \\uXXXX escapes:
    WeChat refuses those on its message APIs (errcode 40033, 不合法的请求字符，不能包含\\uxxxx格式
    的字符), and httpx's own json= escaped them before 0.28; serialised here, the body does not
    depend on the httpx version."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _templated(openid: str, template_id: str, data: dict[str, str]) -> dict[str, Any]:
    """The body template and subscription messages share: each field as {"value": ...}."""
    return {
        "touser": openid,
        "template_id": template_id,
        "data": {k: {"value": v} for k, v in data.items()},
    }
