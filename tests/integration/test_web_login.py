"""/web in Telegram (the real bot against the fake Bot API) gives a deputy a one-time link to the
web desk served by the same process; a resident gets a polite no."""

from __future__ import annotations

import re

import aiohttp

from tests.integration.conftest import (
    RESIDENT,
    STAFF_HM,
    ZHANG,
    Harness,
    assert_no_invalid_calls,
)


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


async def _post(browser: aiohttp.ClientSession, url: str, text: str) -> str:
    """Type `text` into the chat box of the page at `url` and send it; the page afterwards."""
    page = await (await browser.get(url)).text()
    token = re.search(r'name="csrf" value="([^"]+)"', page)
    key = re.search(r'name="key" value="([^"]+)"', page)
    assert token and key, page[:300]
    resp = await browser.post(url, data={"csrf": token.group(1), "key": key.group(1), "text": text})
    assert resp.status == 200, resp.status
    return await resp.text()


async def test_staff_commands_typed_on_the_web_desk_reach_the_same_conversation(
    harness: Harness,
) -> None:
    """/faq_add and /broadcast typed at /me do what they do in Telegram (the conversation
    decides for both); the same words typed by a resident on the station's page are refused."""
    await harness.start_bot(STAFF_HM)
    await harness.settle()
    harness.fake.consume_all(STAFF_HM)
    answer = await harness.say(STAFF_HM, "/web")
    match = re.search(r"(http://127\.0\.0\.1:\d+)(/login/[A-Za-z0-9_-]+)", answer.text)
    assert match is not None, answer.text
    base, path = match.groups()
    faq = harness.app.faq
    before = len(faq.entries)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as resident:
        page = await _post(resident, base + "/s/huimin", "/faq_add 便民理发什么时候 | 每月第一个周六")
        assert "没有权限" in page
        page = await _post(resident, base + "/s/huimin", "/broadcast")
        assert "没有权限" in page and "群发" not in page
    assert len(faq.entries) == before
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
        page = await browser.get(base + path)
        token = re.search(r'name="csrf" value="([^"]+)"', await page.text())
        key = re.search(r'name="key" value="([^"]+)"', await page.text())
        assert token and key
        resp = await browser.post(base + path, data={"csrf": token.group(1), "key": key.group(1)})
        assert resp.url.path == "/me"
        page = await _post(browser, base + "/me", "/faq_add 便民理发什么时候 ｜ 每月第一个周六上午")
        assert "已添加常见问题" in page, re.sub(r"<[^>]+>", " ", page)[-1500:]
        page = await _post(browser, base + "/me", "/broadcast")
        assert "请输入要群发的内容" in page
    assert len(faq.entries) == before + 1
    await harness.start_bot(RESIDENT, "huimin")
    reply = await harness.say(RESIDENT, "便民理发什么时候")
    assert "每月第一个周六上午" in reply.text  # typed on the web, answered on Telegram
    assert_no_invalid_calls(harness.fake)
