"""The web channel's limits per address (branch fixweb): a cookie is free, so posts are held to
the address's bucket as well as the visitor's; the address is read only from the one header the
trusted proxy writes; the buckets forget idle keys without scanning them all. Each test fails on
the code before its fix."""

from __future__ import annotations

import pytest

from bot.settings import Settings
from storage.db import fetch_all
from tests.web.conftest import csrf_of
from tests.web.test_web_desk import Desk, desk
from web import security
from web.security import RateLimiter, networks
from web.server import CTX

__all__ = ["desk"]


async def _count(desk: Desk, table: str) -> int:
    async with desk.db.read() as conn:
        return int((await fetch_all(conn, f"SELECT COUNT(*) FROM {table}"))[0][0])


async def test_fresh_cookies_from_one_address_are_held_to_its_limit(desk: Desk) -> None:
    # GET /open hands any client a signed cookie and a CSRF token; before, a post with one was
    # limited only per visitor, so each fresh browser made a person, an account and messages
    ctx = desk.server.app[CTX]
    ctx.per_ip = RateLimiter(rate=0.0, burst=1.0)  # one action per address, ever
    users = await _count(desk, "users")
    statuses = []
    for _ in range(4):
        client = await desk.browser()
        token, key = csrf_of(await (await client.get("/open")).text())
        response = await client.post("/s/huimin", data={"csrf": token, "key": key, "text": "你好"})
        statuses.append(response.status)
    assert statuses[1:] == [429, 429, 429], statuses
    assert await _count(desk, "users") - users <= 1


async def test_residents_behind_one_nat_are_not_held_up_at_the_defaults(desk: Desk) -> None:
    # the same address for every browser (a carrier's NAT): the default bucket is loose enough
    users = await _count(desk, "users")
    for _ in range(12):
        client = await desk.browser()
        token, key = csrf_of(await (await client.get("/open")).text())
        response = await client.post("/s/huimin", data={"csrf": token, "key": key, "text": "你好"})
        assert response.status == 200, response.status
    assert await _count(desk, "users") - users == 12


async def test_a_forged_forwarded_for_is_not_read_behind_a_proxy_setting_x_real_ip(
    desk: Desk,
) -> None:
    # nginx with only `proxy_set_header X-Real-IP $remote_addr;` passes the client's own
    # X-Forwarded-For through: a guesser writing a new one each time had a fresh bucket each time
    ctx = desk.server.app[CTX]
    ctx.trusted = networks(("127.0.0.1", "::1"))  # the test client comes from the proxy
    ctx.lookups_ip = RateLimiter(rate=0.0, burst=2.0)
    statuses = []
    for n in range(4):
        client = await desk.browser()  # a fresh visitor: only the address can hold it
        token, key = csrf_of(await (await client.get("/open")).text())
        headers = {"X-Real-IP": "198.51.100.7", "X-Forwarded-For": f"203.0.113.{n}"}
        data = {"csrf": token, "key": key, "receipt": "HM-2026-9999", "code": "ABCDEF"}
        response = await client.post("/open", data=data, headers=headers, allow_redirects=False)
        statuses.append(response.status)
    assert statuses == [404, 404, 429, 429], statuses


def test_the_forwarded_header_is_a_setting_and_only_that_one_is_read() -> None:
    from aiohttp.test_utils import make_mocked_request

    def request(peer: str, **headers: str):  # type: ignore[no-untyped-def]
        return make_mocked_request("GET", "/s/huimin", headers=headers).clone(remote=peer)

    assert Settings(_env_file=None).web_forwarded_header == "x-real-ip"  # type: ignore[call-arg]
    chosen = Settings(_env_file=None, web_forwarded_header="X-Forwarded-For")  # type: ignore[call-arg]
    assert chosen.web_forwarded_header == "x-forwarded-for"
    with pytest.raises(ValueError):
        Settings(_env_file=None, web_forwarded_header="forwarded")  # type: ignore[call-arg]
    proxy = networks(("127.0.0.1",))
    both = request("127.0.0.1", **{"X-Forwarded-For": "203.0.113.99", "X-Real-IP": "198.51.100.7"})
    assert security.client_ip(both, proxy, "x-real-ip") == "198.51.100.7"
    assert security.client_ip(both, proxy, "x-forwarded-for") == "203.0.113.99"
    # the chosen header missing: the proxy's own address, never the other header
    only_xff = request("127.0.0.1", **{"X-Forwarded-For": "203.0.113.99"})
    assert security.client_ip(only_xff, proxy, "x-real-ip") == "127.0.0.1"
    only_real = request("127.0.0.1", **{"X-Real-IP": "198.51.100.7"})
    assert security.client_ip(only_real, proxy, "x-forwarded-for") == "127.0.0.1"


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_key_used_once_is_forgotten_once_its_bucket_has_refilled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = _Clock()
    monkeypatch.setattr(security.time, "monotonic", clock)
    limiter = RateLimiter(rate=1.0, burst=2.0)
    for n in range(100):  # a hundred fresh cookies, each used once
        assert limiter.allow(f"visitor-{n}")
    clock.now += 3.0  # every one has refilled (2 tokens at 1/s)
    assert limiter.allow("later")
    assert len(limiter._buckets) == 1  # before: kept until 50 000 keys, then every call scanned


def test_an_emptied_bucket_is_remembered_until_it_has_refilled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = _Clock()
    monkeypatch.setattr(security.time, "monotonic", clock)
    limiter = RateLimiter(rate=1.0, burst=2.0)
    assert limiter.allow("guesser") and limiter.allow("guesser")
    assert not limiter.allow("guesser")
    clock.now += 1.0
    for n in range(50):
        limiter.allow(f"other-{n}")
    assert limiter.allow("guesser")  # one token back after a second
    assert not limiter.allow("guesser")  # forgetting it would have given a full bucket


def test_the_buckets_stay_bounded_under_a_flood_of_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = _Clock()
    monkeypatch.setattr(security.time, "monotonic", clock)
    limiter = RateLimiter(rate=0.001, burst=5.0, max_keys=100)
    for n in range(1000):
        limiter.allow(f"flood-{n}")
    assert len(limiter._buckets) == 100
