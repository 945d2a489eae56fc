"""The whole loop across channels, black-box: a resident in a real headless Chromium at a phone's
size (390×844) on /s/huimin, the deputy on Telegram against the fake Bot API, the 回音壁 page, and a
second browser that can open the wish only with its receipt and access code."""

from __future__ import annotations

import io
import os
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PIL import Image

from tests.integration.conftest import ZHANG, Harness
from tests.integration.test_wish_loop import open_bot
from tests.web.test_browser import ARGS, CHROMIUM, DOCS, PHONE
from tests.web.test_web_pages import _jpeg_with_gps

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium: apt-get install -y chromium fonts-noto-cjk"),
]  # fmt: skip

WISH = "我是刘小明，电话13812345678，小区门口路灯坏了三天，晚上很黑"


@pytest.fixture
async def chromium() -> AsyncIterator[object]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield browser
        finally:
            await browser.close()


async def tap(page: object, label: str) -> None:
    """Press the newest button with this label (older cards keep theirs)."""
    await page.locator(f'#log button[data-label="{label}"]').last.click()  # type: ignore[attr-defined]
    await page.wait_for_load_state()  # type: ignore[attr-defined]


async def test_resident_on_the_web_deputy_on_telegram(
    harness: Harness, chromium: object, tmp_path: Path
) -> None:
    h, fake = harness, harness.fake
    assert h.app.web is not None and h.app.web.ctx.chat is not None, "the web chat is not wired"
    base = h.app.web.url
    await open_bot(h, ZHANG)
    context = await chromium.new_context(viewport=PHONE, locale="zh-CN")  # type: ignore[attr-defined]
    page = await context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    # the QR code opens the station's page: the welcome and its three buttons
    await page.goto(f"{base}/s/huimin")
    for label in ("我要留言", "我的心愿", "常见问题"):
        assert await page.locator(f'#log button[data-label="{label}"]').count() >= 1, label
    await page.screenshot(path=str(tmp_path / "resident.png"))
    await tap(page, "我要留言")
    await tap(page, "道路交通")
    await page.fill("textarea[name=text]", WISH)
    await page.click("button.send")
    photo = tmp_path / "lamp.jpg"
    photo.write_bytes(_jpeg_with_gps())
    await page.set_input_files("input[name=photo]", str(photo))
    await page.click("button.send")
    await page.wait_for_selector("#log img.photo")
    await tap(page, "下一步")
    await tap(page, "同意公开")
    await tap(page, "跳过")
    await tap(page, "确认提交")
    access = page.locator(".access").last
    receipt = (await access.locator(".receipt").inner_text()).strip()
    code = (await access.locator(".code").inner_text()).strip()
    assert re.fullmatch(r"HM-\d{4}-\d{4}", receipt) and len(code) == 6

    # the photo served back to the resident has no EXIF (no GPS)
    src = await page.locator("#log img.photo").first.get_attribute("src")
    served = await context.request.get(f"{base}{src}")
    with Image.open(io.BytesIO(await served.body())) as img:
        assert not img.getexif()

    # the deputy on Telegram: accept and resolve
    card = await h.card_for(ZHANG, receipt)
    assert "路灯坏了三天" in card.text
    # with the resident's photo, uploaded to Telegram (a `web:` reference is no file id there)
    photos = [m for m in fake.messages_to(ZHANG) if m.photo and m.message_id < card.message_id]
    assert photos, fake.dump(ZHANG)
    with Image.open(io.BytesIO(fake.file_bytes(photos[-1].photo or ""))) as img:
        assert img.format == "JPEG" and not img.getexif()
    fake.press(ZHANG, card, "受理")
    await fake.wait_for(chat_id=ZHANG, text_contains="已受理")
    card = fake.message(ZHANG, card.message_id)
    await h.press(ZHANG, card, "办结")
    await h.say(ZHANG, "已联系供电所，今天下午换好了灯泡")

    # the open page shows the resolution without a reload, with the rating buttons
    await page.wait_for_selector("#log >> text=今天下午换好了灯泡", timeout=30_000)
    await page.screenshot(path=str(tmp_path / "resident-resolved.png"), full_page=False)
    await tap(page, "满意")
    await page.wait_for_selector("#log >> text=感谢您的评价")

    # the 回音壁 shows it, masked
    wall = await context.new_page()
    await wall.goto(f"{base}/wall/huimin")
    text = await wall.inner_text("main")
    assert receipt in text and "今天下午换好了灯泡" in text
    assert "13812345678" not in text and "刘小明" not in text and "138****5678" in text

    # another browser: nothing without the code, the wish with it
    other = await chromium.new_context(viewport=PHONE, locale="zh-CN")  # type: ignore[attr-defined]
    second = await other.new_page()
    response = await second.goto(f"{base}/wish/{receipt}")
    assert response.status == 404 and "路灯" not in await second.content()
    await second.fill("input[name=receipt]", receipt)
    await second.fill("input[name=code]", code)
    await second.click("button[type=submit]")
    await second.wait_for_url(f"**/wish/{receipt}")
    assert "今天下午换好了灯泡" in await second.inner_text("main")
    assert [e for e in errors if "404" not in e] == []
    if os.environ.get("LIAISON_UPDATE_SCREENSHOTS") == "1":
        for name in ("resident.png", "resident-resolved.png"):
            shutil.copy(tmp_path / name, DOCS / name)
