"""Visitor identity, CSRF, rate limits and security headers of the web channel.

A resident is their browser: a random visitor id in a signed, HttpOnly, SameSite=Lax cookie.
The CSRF token is bound to that id (an HMAC of it), so a page from another site can neither
read nor forge it; every state-changing form also carries a one-time key, so a replayed POST
changes nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bot import logins

COOKIE = "lb_visitor"
DESK_COOKIE = "lb_desk"  # a deputy's or staff member's login, beside the visitor of the same browser
COOKIE_MAX_AGE = 400 * 24 * 3600  # browsers cap cookies at 400 days


def new_id(nbytes: int = 16) -> str:
    return secrets.token_urlsafe(nbytes)


digest = logins.digest  # one way to store tokens and codes


class Signer:
    def __init__(self, secret: str) -> None:
        self._key = hashlib.sha256(("liaison-web:" + secret).encode()).digest()

    def _mac(self, purpose: str, value: str) -> str:
        mac = hmac.new(self._key, f"{purpose}:{value}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac[:24]).decode().rstrip("=")

    def sign(self, value: str) -> str:
        return f"{value}.{self._mac('cookie', value)}"

    def unsign(self, signed: str | None) -> str | None:
        if not signed or "." not in signed:
            return None
        value, _, mac = signed.rpartition(".")
        if not value or not hmac.compare_digest(mac, self._mac("cookie", value)):
            return None
        return value

    def csrf(self, visitor: str) -> str:
        return self._mac("csrf", visitor)

    def csrf_ok(self, visitor: str, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(str(token), self.csrf(visitor))


@dataclass
class RateLimiter:
    """Token buckets per key (an IP, a visitor): `rate` per second, bursts of `burst`.

    The buckets are kept in the order they were last used, so the ones that have refilled are
    at the front and are forgotten a few at a time on each call (a forgotten key starts full
    again, exactly as if it had been kept): memory follows the keys active in the last
    burst/rate seconds, and no call scans them all. `max_keys` bounds it even under a flood
    of fresh keys (then the least recently used are forgotten early)."""

    rate: float
    burst: float
    max_keys: int = 100_000
    _buckets: OrderedDict[str, tuple[float, float]] = field(default_factory=OrderedDict)

    def allow(self, key: str, cost: float = 1.0) -> bool:
        now = time.monotonic()
        tokens, at = self._buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        allowed = tokens >= cost
        self._buckets[key] = (tokens - cost if allowed else tokens, now)  # now the newest
        self._forget(now)
        return allowed

    def _forget(self, now: float) -> None:
        # A bucket untouched for burst/rate seconds is full whatever it held (tokens are never
        # negative); the oldest are first, so stop at the first that is not yet (amortised O(1)).
        refill = self.burst / self.rate if self.rate > 0 else float("inf")
        while self._buckets:
            key, (_, at) = next(iter(self._buckets.items()))
            if now - at < refill and len(self._buckets) <= self.max_keys:
                break
            del self._buckets[key]

    def __len__(self) -> int:
        return len(self._buckets)


# No inline script anywhere (the JS is a static file), no outside origin at all.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " connect-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none';"
    " frame-ancestors 'none'"
)


def secure_headers(request: web.Request, headers: Any) -> None:
    csp = CSP
    framed = request.path.startswith("/wall/") and request.query.get("tv") == "1"
    if framed:  # the lobby screen may be embedded by the station's own signage page
        csp = csp.replace("frame-ancestors 'none'", "frame-ancestors 'self'")
    headers.setdefault("Content-Security-Policy", csp)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("X-Frame-Options", "SAMEORIGIN" if framed else "DENY")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=(self)")


@web.middleware
async def headers_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        secure_headers(request, exc.headers)
        raise
    if not response.prepared:  # a stream (SSE) sets its headers itself before it starts
        secure_headers(request, response.headers)
    return response


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def networks(configured: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(n, strict=False) for n in configured)


def _ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


FORWARDED_HEADERS = ("x-real-ip", "x-forwarded-for")


def client_ip(
    request: web.Request, trusted: tuple[Network, ...] = (), header: str = "x-real-ip"
) -> str:
    """The visitor's address, as far as it can be known. Behind a reverse proxy aiohttp sees
    the proxy; only when the peer is one of the configured proxies (LIAISON_WEB_TRUSTED_PROXIES)
    is a forwarded header believed, and only the one that proxy writes
    (LIAISON_WEB_FORWARDED_HEADER): a proxy that sets X-Real-IP passes the client's own
    X-Forwarded-For through untouched, and the other way round, so the header it does not
    write is never read. X-Forwarded-For: the nearest address in the chain that is not itself
    a trusted proxy (anything further left could be forged by the client). With no proxy
    configured the headers are ignored, since anyone can send them."""
    peer = request.remote or "?"
    peer_ip = _ip(peer)

    def is_trusted(ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None) -> bool:
        return ip is not None and any(ip in n for n in trusted)

    if not trusted or not is_trusted(peer_ip):
        return peer
    if header == "x-real-ip":
        real = _ip(request.headers.get("X-Real-IP", ""))
        return str(real) if real is not None else peer  # unset or garbled: the proxy's own
    chain = [p for p in request.headers.get("X-Forwarded-For", "").split(",") if p.strip()]
    for hop in reversed(chain):
        ip = _ip(hop)
        if ip is None:
            return peer  # a chain that does not parse: the proxy's own address, not a guess
        if not is_trusted(ip):
            return str(ip)
    return str(_ip(chain[0])) if chain else peer
