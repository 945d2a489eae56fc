"""The web channel in a real headless Chromium at a phone's size (Playwright, Debian's chromium).

Screenshots of the pages go to the test's tmp dir; with LIAISON_UPDATE_SCREENSHOTS=1 they also
replace docs/screenshots/*.png (the README links them).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.clock import ManualClock
from bot.i18n import Catalog
from bot.services import Liaison
from bot.settings import Settings
from storage.db import Database
from storage.web import WebRepo
from tests.web.test_web_pages import PII_TEXT, resolved
from web.chat import new_access_code
from web.runtime import WebServer, build_web
from web.security import digest

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync",
]  # fmt: skip
PHONE = {"width": 390, "height": 844}
DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium: apt-get install -y chromium fonts-noto-cjk"),
]  # fmt: skip


@dataclass
class Live:
    url: str
    server: WebServer
    shots: Path

    def keep(self, page_name: str) -> Path:
        return self.shots / f"{page_name}.png"


@pytest.fixture
async def live(
    tmp_path: Path, db: Database, liaison: Liaison, clock: ManualClock
) -> AsyncIterator[Live]:
    settings = Settings(_env_file=None, database=tmp_path / "liaison.db", web_port=0)  # type: ignore[call-arg]
    server = await build_web(settings, db, Catalog("zh_CN"), clock, liaison, None)
    await server.start()
    shots = tmp_path / "screenshots"
    shots.mkdir()
    try:
        yield Live(server.url, server, shots)
    finally:
        await server.stop()
        if os.environ.get("LIAISON_UPDATE_SCREENSHOTS") == "1":
            DOCS.mkdir(parents=True, exist_ok=True)
            for png in shots.glob("*.png"):
                shutil.copy(png, DOCS / png.name)


@pytest.fixture
async def browser() -> AsyncIterator[object]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


async def phone(browser: object) -> tuple[object, list[str]]:
    """A fresh browser profile at a phone's size, collecting console errors (CSP violations)."""
    context = await browser.new_context(viewport=PHONE, device_scale_factor=1, locale="zh-CN")  # type: ignore[attr-defined]
    page = await context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    return page, errors


async def test_the_wall_and_the_lobby_screen(
    live: Live, browser: object, liaison: Liaison, clock: ManualClock
) -> None:
    await resolved(liaison, clock, 700001, PII_TEXT)
    await resolved(liaison, clock, 700002, "小区东门的人行道砖块松动，老人走路容易绊倒")
    await resolved(liaison, clock, 700003, "希望在社区广场增设几张休息长椅")
    page, errors = await phone(browser)
    await page.goto(f"{live.url}/wall/huimin")  # type: ignore[attr-defined]
    text = await page.inner_text("main")  # type: ignore[attr-defined]
    assert "回音壁" in text and "138****5678" in text and "刘**" in text
    assert "13812345678" not in text and "刘小明" not in text and "110101199003071234" not in text
    assert await page.locator(".post").count() == 3  # type: ignore[attr-defined]
    width = await page.evaluate("document.documentElement.scrollWidth")  # type: ignore[attr-defined]
    assert width <= PHONE["width"]  # nothing wider than the phone
    await page.screenshot(path=str(live.keep("wall")), full_page=True)  # type: ignore[attr-defined]

    await page.goto(f"{live.url}/wall/huimin?tv=1")  # type: ignore[attr-defined]
    assert await page.locator('meta[http-equiv="refresh"]').count() == 1  # type: ignore[attr-defined]
    await page.wait_for_selector(".posts.cycle.js")  # type: ignore[attr-defined]
    visible = [await p.is_visible() for p in await page.locator(".post").all()]  # type: ignore[attr-defined]
    assert visible.count(True) == 1  # one result at a time, large
    size = await page.evaluate(
        "parseFloat(getComputedStyle(document.querySelector('.post')).fontSize)"
    )  # type: ignore[attr-defined]
    assert size >= 1.4 * 18  # large even on a phone; 2.6vw (50 px) on a 1920 px lobby screen
    await page.screenshot(path=str(live.keep("wall-tv")), full_page=True)  # type: ignore[attr-defined]
    assert errors == []  # no CSP violation, no script error


async def test_another_browser_opens_a_wish_only_with_receipt_and_code(
    live: Live, browser: object, liaison: Liaison, clock: ManualClock, db: Database
) -> None:
    _, wish = await resolved(liaison, clock, 700001, PII_TEXT)
    code = new_access_code()
    async with db.transaction() as conn:
        await WebRepo(conn).set_access_code(wish.id, digest(code))
    page, errors = await phone(browser)
    response = await page.goto(f"{live.url}/wish/{wish.receipt}")  # type: ignore[attr-defined]
    assert response.status == 404 and "路灯" not in await page.content()  # type: ignore[attr-defined]
    await page.fill("input[name=receipt]", wish.receipt)  # type: ignore[attr-defined]
    await page.fill("input[name=code]", "AAAAAA")  # type: ignore[attr-defined]
    await page.click("button[type=submit]")  # type: ignore[attr-defined]
    assert "不正确" in await page.inner_text(".error")  # type: ignore[attr-defined]
    await page.fill("input[name=receipt]", wish.receipt)  # type: ignore[attr-defined]
    await page.fill("input[name=code]", code.lower())  # type: ignore[attr-defined]
    await page.click("button[type=submit]")  # type: ignore[attr-defined]
    await page.wait_for_url(f"**/wish/{wish.receipt}")  # type: ignore[attr-defined]
    body = await page.inner_text("main")  # type: ignore[attr-defined]
    assert "已联系供电所更换灯泡" in body and "已办结" in body
    await page.screenshot(path=str(live.keep("wish-opened")), full_page=True)  # type: ignore[attr-defined]
    assert [e for e in errors if "404" not in e] == []  # the two refusals are 404 on purpose


@pytest.fixture
async def live_chat(
    tmp_path: Path, db: Database, liaison: Liaison, clock: ManualClock, config: object
) -> AsyncIterator[Live]:
    """The web channel with the real conversation (the resident's chat page), served."""
    from bot.conversation import Conversation
    from bot.faq_service import FaqService

    catalog = Catalog("zh_CN")
    faq = FaqService(db, clock)
    await faq.reload()
    talk = Conversation(liaison, catalog, faq)
    settings = Settings(_env_file=None, database=tmp_path / "liaison.db", web_port=0)  # type: ignore[call-arg]
    server = await build_web(settings, db, catalog, clock, liaison, faq, conversation=talk)
    await server.start()
    try:
        yield Live(server.url, server, tmp_path)
    finally:
        await server.stop()


SMALL_PHONE = {"width": 360, "height": 640}
WECHAT_UA = (
    "Mozilla/5.0 (Linux; Android 12; Phone) AppleWebKit/537.36 (KHTML, like Gecko)"
    " Chrome/110.0 Mobile Safari/537.36 MicroMessenger/8.0.40"
)


async def test_the_chat_page_at_360_px_in_wechats_browser(live_chat: Live, browser: object) -> None:
    """QA 10 and 17: a compact composer with a styled photo button (the native file input
    hidden), the header's name and link apart, the newest card above the composer, the
    receipt number on one line, and a location that cannot be had is said."""
    context = await browser.new_context(  # type: ignore[attr-defined]
        viewport=SMALL_PHONE, device_scale_factor=1, locale="zh-CN", user_agent=WECHAT_UA
    )
    page = await context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    box = page.locator
    await page.goto(f"{live_chat.url}/s/huimin")
    await page.wait_for_load_state("load")

    async def rect(selector: str) -> dict[str, float]:
        found = await box(selector).last.bounding_box()
        assert found is not None, selector
        return found

    composer = await rect("form.composer")
    assert composer["height"] <= 0.15 * SMALL_PHONE["height"], composer  # one compact row
    send, text = await rect("button.send"), await rect("textarea[name=text]")
    assert abs(send["y"] + send["height"] - (text["y"] + text["height"])) < 4  # same row
    native = await rect("input[name=photo]")
    assert native["width"] <= 1 and native["height"] <= 1  # "Choose Files" is not shown
    assert "照片" in await box(".composer .file").inner_text()
    name, link = await rect(".bar b"), await rect(".bar a")
    assert link["x"] - (name["x"] + name["width"]) >= 8  # apart, not touching
    newest = await rect("#log .msg")
    assert newest["y"] + newest["height"] <= composer["y"] + 1  # the welcome is not under it

    # a location that cannot be had (not allowed here) is said
    await box(".composer .locate").click()
    await page.wait_for_selector(".composer .locate-failed:not([hidden])")

    # the photo button opens the hidden input (a file chooser), and says what was chosen
    async with page.expect_file_chooser() as chooser_info:
        await box(".composer .file").click()
    chooser = await chooser_info.value
    photo = live_chat.shots / "one.jpg"
    photo.write_bytes(_jpeg())
    await chooser.set_files(str(photo))
    assert "1" in await box(".composer .file").inner_text()

    for label in ("我要留言", "住房物业"):
        await box(f'#log button[data-label="{label}"]').last.click()
        await page.wait_for_load_state("load")
    await page.fill("textarea[name=text]", "电梯经常停运，老人上下楼很困难，希望尽快维修")
    await box("button.send").click()
    await page.wait_for_load_state("load")
    for label in ("下一步", "同意公开", "跳过", "确认提交"):
        await box(f'#log button[data-label="{label}"]').last.click()
        await page.wait_for_load_state("load")
    receipt = box(".access .receipt").last
    lines = await receipt.evaluate("e => e.getClientRects().length")
    assert lines == 1  # "HM-2026-0001" on one line
    composer = await rect("form.composer")
    newest = await rect("#log .msg")
    assert newest["y"] + newest["height"] <= composer["y"] + 1  # the newest card in view
    await page.screenshot(path=str(live_chat.shots / "chat-360.png"))
    assert errors == []  # no CSP violation, no script error
    await context.close()


def _jpeg() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (32, 24), (200, 30, 30)).save(out, "JPEG")
    return out.getvalue()
