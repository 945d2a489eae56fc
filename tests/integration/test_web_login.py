"""/web in Telegram (the real bot against the fake Bot API) gives a deputy a one-time link to the
web desk served by the same process; a resident gets a polite no."""

from __future__ import annotations

import re

import aiohttp

from tests.integration.conftest import RESIDENT, ZHANG, Harness, assert_no_invalid_calls


async def test_web_gives_a_deputy_a_one_time_link_that_logs_in_once(harness: Harness) -> None:
    answer = await harness.say(ZHANG, "/web")
    match = re.search(r"(http://127\.0\.0\.1:\d+)(/login/[A-Za-z0-9_-]+)", answer.text)
    assert match is not None, answer.text
    base, path = match.groups()
    assert harness.app.web is not None and base == harness.app.web.url
    # browsers keep cookies of 127.0.0.1; aiohttp's jar only when told to
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
        page = await browser.get(base + path)  # a page with a button (link previews GET it)
        token = re.search(r'name="csrf" value="([^"]+)"', await page.text())
        key = re.search(r'name="key" value="([^"]+)"', await page.text())
        assert token and key
        form = {"csrf": token.group(1), "key": key.group(1)}
        resp = await browser.post(base + path, data=form)
        assert resp.url.path == "/me" and resp.status != 403
        page = await browser.get(base + path)  # logged in now: a new visitor, a new token
        token = re.search(r'name="csrf" value="([^"]+)"', await page.text())
        assert token
        form = {"csrf": token.group(1), "key": key.group(1) + "x"}
        again = await browser.post(base + path, data=form)
        assert again.status == 404  # the link worked once
    refusal = await harness.say(RESIDENT, "/web")
    assert "/login/" not in refusal.text and "代表和工作人员" in refusal.text
    await harness.settle()
    assert_no_invalid_calls(harness.fake)
