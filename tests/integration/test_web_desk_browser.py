"""Deputies and staff on the web, black-box in a real headless Chromium at a phone's size
(390×844): the whole bot (Telegram against the fake Bot API, the web served by the same process),
a resident's wish left on Telegram, the deputy and the staff member logged in from their /web
links. The deputy handles the wish from 待办; staff open 统计 (the chart) and 导出 (the workbook),
which nobody else's browser can fetch."""

from __future__ import annotations

import io
import os
import re
import shutil
from pathlib import Path

import pytest
from openpyxl import load_workbook

from bot.domain.model import Status
from storage.db import fetch_all
from tests.integration.conftest import RESIDENT, STAFF_HM, ZHANG, Harness
from tests.integration.test_web_browser_loop import chromium  # noqa: F401  (a fixture)
from tests.integration.test_wish_loop import leave_wish, open_bot
from tests.web.test_browser import CHROMIUM, DOCS, PHONE

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium: apt-get install -y chromium fonts-noto-cjk"),
]  # fmt: skip


async def desk_page(h: Harness, browser: object, who: int) -> tuple[object, object, list[str]]:
    """A phone's browser logged in with the one-time link `/web` gives `who` in Telegram."""
    answer = await h.say(who, "/web")
    link = re.search(r"http://127\.0\.0\.1:\d+/login/[A-Za-z0-9_-]+", answer.text)
    assert link is not None, answer.text
    context = await browser.new_context(viewport=PHONE, locale="zh-CN")  # type: ignore[attr-defined]
    page = await context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    await page.goto(link.group(0))
    await page.click("form.open button[type=submit]")
    await page.wait_for_url("**/me")
    return context, page, errors


async def menu(page: object, label: str) -> None:
    await page.locator(f'form.desk button[data-label="{label}"]').click()  # type: ignore[attr-defined]
    await page.wait_for_load_state()  # type: ignore[attr-defined]


async def tap(page: object, label: str) -> None:
    await page.locator(f'#log button[data-label="{label}"]').last.click()  # type: ignore[attr-defined]
    await page.wait_for_load_state()  # type: ignore[attr-defined]


async def test_deputy_and_staff_work_from_the_browser(
    harness: Harness,
    chromium: object,  # noqa: F811
    tmp_path: Path,
) -> None:
    h = harness
    assert h.app.web is not None
    base = h.app.web.url
    await open_bot(h, ZHANG, STAFF_HM)
    receipt = await leave_wish(h, RESIDENT, "huimin", "道路交通", "小区门口路灯坏了三天，晚上很黑")
    await h.settle()
    h.fake.consume_all()

    # the deputy: 待办 lists the wish; its card's buttons handle it, in the browser
    ctx_deputy, deputy, errors = await desk_page(h, chromium, ZHANG)
    for label in ("待办", "履职", "导出"):
        assert await deputy.locator(f'form.desk button[data-label="{label}"]').count() == 1
    await menu(deputy, "待办")
    assert receipt in await deputy.inner_text("#log")
    await deputy.screenshot(path=str(tmp_path / "desk.png"))
    width = await deputy.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"]  # usable on a phone: nothing wider than the screen
    await deputy.locator("#log button", has_text=receipt).last.click()
    await deputy.wait_for_load_state()
    await tap(deputy, "受理")
    await deputy.wait_for_selector("#log >> text=已受理")
    await tap(deputy, "办结")
    await deputy.fill("textarea[name=text]", "已联系供电所，今天下午换好了灯泡")
    await deputy.click("button.send")
    await deputy.wait_for_selector(f"#log >> text=心愿 {receipt} 已办结")
    async with h.app.db.read() as conn:
        rows = await fetch_all(conn, "SELECT status FROM wishes WHERE receipt=?", (receipt,))
    assert rows[0][0] == Status.RESOLVED.value
    # the resident hears of it on Telegram, as when the deputy resolves there
    await h.fake.wait_for(chat_id=RESIDENT, text_contains="今天下午换好了灯泡")

    # staff: 统计 shows the chart inline, served as PNG to this session only
    ctx_staff, staff, staff_errors = await desk_page(h, chromium, STAFF_HM)
    await menu(staff, "统计")
    chart = staff.locator("#log img.chart").last
    await chart.wait_for()
    assert await chart.evaluate("img => img.complete && img.naturalWidth > 0")
    await chart.scroll_into_view_if_needed()
    await staff.screenshot(path=str(tmp_path / "desk-stats.png"))
    assert await staff.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    src = await chart.get_attribute("src")
    assert src is not None and src.startswith("/f/")
    served = await ctx_staff.request.get(f"{base}{src}")
    assert served.status == 200 and served.headers["content-type"] == "image/png"
    assert served.headers["cache-control"] == "no-store"

    # 导出: a download of the workbook, with the wish in it
    await menu(staff, "导出")
    link = staff.locator("#log a.download").last
    async with staff.expect_download() as info:
        await link.click()
    saved = tmp_path / "export.xlsx"
    await (await info.value).save_as(saved)
    book = load_workbook(io.BytesIO(saved.read_bytes()), read_only=True)
    cells = {str(c) for ws in book.worksheets for row in ws.iter_rows(values_only=True) for c in row}
    assert receipt in cells and any("路灯坏了三天" in c for c in cells)
    href = await link.get_attribute("href")
    assert href is not None

    # nobody else gets them: the deputy's session, a resident's, a browser with no session
    resident_ctx = await chromium.new_context(viewport=PHONE, locale="zh-CN")  # type: ignore[attr-defined]
    resident = await resident_ctx.new_page()
    await resident.goto(f"{base}/s/huimin")
    anonymous = await chromium.new_context()  # type: ignore[attr-defined]
    for other in (ctx_deputy, resident_ctx, anonymous):
        for url in (src, href):
            refused = await other.request.get(f"{base}{url}")
            assert refused.status in (403, 404)
            assert refused.headers["content-type"].startswith("text/html")
    # a resident pressing a desk command (forged) gets the polite no, and no file
    await resident.evaluate(
        """() => { const f = document.querySelector('form.composer');
        const i = document.createElement('input'); i.type = 'hidden'; i.name = 'command';
        i.value = 'export'; f.appendChild(i); f.submit(); }"""
    )
    await resident.wait_for_selector("#log >> text=您没有权限")
    assert await resident.locator("#log a.download").count() == 0
    assert [e for e in errors + staff_errors if "404" not in e] == []
    if os.environ.get("LIAISON_UPDATE_SCREENSHOTS") == "1":
        for name in ("desk.png", "desk-stats.png"):
            shutil.copy(tmp_path / name, DOCS / name)
