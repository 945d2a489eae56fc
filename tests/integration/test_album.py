"""Photos sent together get one answer: the real PTB Application against the fake Bot API, a
real SQLite file, and a clock moved by hand, so "after the last photo" is the clock's doing and
never a race with a loaded machine.

An album reaches the bot as one update per photo (the same media_group_id), within a fraction of
a second; the old code answered each with its own "照片已收到 n 张" prompt."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from PIL import Image

from bot.app import build
from bot.clock import ManualClock
from bot.domain.draft import MAX_PHOTOS
from storage.db import fetch_one
from storage.repositories import Repos
from tests.fake_telegram import FakeTelegram, SentMessage
from tests.integration import test_wechat
from tests.integration.conftest import RESIDENT, TEST_LIMITS, Harness, settings_for
from tests.integration.test_photos_across_channels import Browser
from tests.integration.test_wechat import OPENID, WeChatRig

WISH = "小区门口路灯坏了三天，晚上很黑"
# Seconds past the quiet time that ends a sending (bot/domain/draft.py PHOTO_SECONDS, 1.5).
AFTER_THE_LAST = 2.0
# The WeChat rig (webhook, channel, fake WeChat) of test_wechat, on this module's harness.
wx = test_wechat.wx


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def harness(fake: FakeTelegram, tmp_path: Path, clock: ManualClock) -> AsyncIterator[Harness]:
    app = await build(settings_for(fake, tmp_path), clock=clock, limits=TEST_LIMITS)
    await app.start()
    h = Harness(fake, app)
    try:
        yield h
    finally:
        await h.app.stop()


async def processed(h: Harness, within: float = 10.0) -> None:
    """Every update the person sent is handled (its direct answers, if any, already sent)."""
    async with asyncio.timeout(within):
        while True:
            async with h.app.db.read() as conn:
                left = await Repos(conn).inbox_unprocessed("telegram")
            if not left and not h.fake.pending_updates:
                return
            await asyncio.sleep(0.02)


async def waiting(h: Harness) -> int:
    """Messages in the outbox not yet delivered (an acknowledgement not yet due)."""
    async with h.app.db.read() as conn:
        return (await Repos(conn).outbox_counts()).get("pending", 0)


async def later(h: Harness, clock: ManualClock) -> None:
    """The quiet time after the last photo passes; what was due is delivered."""
    clock.advance(seconds=AFTER_THE_LAST)
    h.app.dispatcher.wake()
    await h.settle()


def unread(h: Harness) -> list[SentMessage]:
    """The messages to the resident not yet looked at (now looked at)."""
    return h.fake.consume_all(RESIDENT)


async def describing(h: Harness, text: str | None = WISH) -> SentMessage:
    """The /new flow up to the description step (described when `text` is given)."""
    welcome = await h.start_bot(RESIDENT, "huimin")
    prompt = await h.press(RESIDENT, welcome, "我要留言")
    prompt = await h.press(RESIDENT, prompt, "道路交通")
    if text is not None:
        prompt = await h.say(RESIDENT, text)
    await processed(h)
    unread(h)
    return prompt


async def draft_photos(h: Harness) -> tuple[str, ...]:
    async with h.app.db.read() as conn:
        user = await Repos(conn).user_by_external("telegram", str(RESIDENT))
    assert user is not None
    draft = await h.app.liaison.flows.draft(user)
    assert draft is not None
    return draft.photos


def picture(n: int) -> bytes:
    """A small JPEG, a different one for each `n` (a WeChat image is named by its content)."""
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (40 * n % 256, 90, 160)).save(out, "JPEG")
    return out.getvalue()


def largest(update: dict) -> str:
    return update["message"]["photo"][-1]["file_id"]


async def test_an_album_of_four_gets_one_answer_with_the_count_four(
    harness: Harness, clock: ManualClock
) -> None:
    h, fake = harness, harness.fake
    await describing(h)
    album = fake.send_album(RESIDENT, 4)
    await processed(h)
    assert unread(h) == []  # nothing while the album is coming in (the old code: 4 prompts)
    assert await draft_photos(h) == tuple(largest(m) for m in album)  # all kept, in order
    await later(h, clock)
    answers = unread(h)
    assert len(answers) == 1, [m.text for m in answers]
    assert "照片已收到 4 张" in answers[0].text
    # the answer is the step's prompt: its 下一步 goes on, and the wish has the four photos
    step = await h.press(RESIDENT, answers[0], "下一步")
    step = await h.press(RESIDENT, step, "同意公开")
    confirm = await h.press(RESIDENT, step, "跳过")
    assert "照片：4 张" in confirm.text
    receipt = await h.press(RESIDENT, confirm, "确认提交")
    number = receipt.text.split("编号 ")[1].split("（")[0].strip()
    async with h.app.db.read() as conn:
        repos = Repos(conn)
        wish = await repos.wish_by_receipt(number)
        assert wish is not None
        refs = [a.file_ref for a in await repos.attachments(wish.id) if a.kind == "photo"]
    assert refs == [largest(m) for m in album]


async def test_two_albums_in_a_row_get_one_answer_each(
    harness: Harness, clock: ManualClock
) -> None:
    h, fake = harness, harness.fake
    await describing(h)
    first = fake.send_album(RESIDENT, 2)
    await processed(h)
    await later(h, clock)
    answers = unread(h)
    assert [("已收到 2 张" in m.text) for m in answers] == [True]
    second = fake.send_album(RESIDENT, 3)
    await processed(h)
    assert unread(h) == []
    await later(h, clock)
    answers = unread(h)
    assert [("已收到 5 张" in m.text) for m in answers] == [True]
    assert await draft_photos(h) == tuple(largest(m) for m in first + second)


async def test_two_albums_sent_back_to_back_are_one_sending(
    harness: Harness, clock: ManualClock
) -> None:
    """The second album arrives before the first was answered: one answer for both."""
    h, fake = harness, harness.fake
    await describing(h)
    fake.send_album(RESIDENT, 2)
    fake.send_album(RESIDENT, 2)
    await processed(h)
    assert unread(h) == []
    await later(h, clock)
    answers = unread(h)
    assert len(answers) == 1 and "照片已收到 4 张" in answers[0].text
    assert await waiting(h) == 0


async def test_photos_past_the_limit_are_answered_once(
    harness: Harness, clock: ManualClock
) -> None:
    """An album of 7: the first 5 kept, one answer saying so (the old code: 5 prompts and 2
    refusals); one more photo later: one answer again, nothing kept."""
    h, fake = harness, harness.fake
    await describing(h)
    album = fake.send_album(RESIDENT, 7)
    await processed(h)
    assert unread(h) == []
    await later(h, clock)
    answers = unread(h)
    assert len(answers) == 1, [m.text for m in answers]
    assert f"最多附 {MAX_PHOTOS} 张照片，另外 2 张没有保存" in answers[0].text
    assert f"照片已收到 {MAX_PHOTOS} 张" in answers[0].text
    assert answers[0].button("下一步")
    fake.send_photo(RESIDENT)
    await processed(h)
    await later(h, clock)
    answers = unread(h)
    assert len(answers) == 1 and "另外 1 张没有保存" in answers[0].text
    assert await draft_photos(h) == tuple(largest(m) for m in album[:MAX_PHOTOS])


async def test_separate_photos_sent_quickly_get_one_answer(
    harness: Harness, clock: ManualClock
) -> None:
    """ "Send as separate photos" (no album id), or several pictures in a row: the same."""
    h, fake = harness, harness.fake
    await describing(h)
    sent = [fake.send_photo(RESIDENT) for _ in range(3)]
    await processed(h)
    assert unread(h) == []
    await later(h, clock)
    answers = unread(h)
    assert len(answers) == 1 and "照片已收到 3 张" in answers[0].text
    assert await draft_photos(h) == tuple(largest(m) for m in sent)


async def test_the_next_input_answers_with_the_count_instead(
    harness: Harness, clock: ManualClock
) -> None:
    """A location right after the album: its prompt shows the count, and the acknowledgement
    still waiting is taken back (no second prompt)."""
    h, fake = harness, harness.fake
    await describing(h)
    fake.send_album(RESIDENT, 3)
    fake.send_location(RESIDENT, 30.27, 120.15)
    await processed(h)
    answers = unread(h)
    assert len(answers) == 1, [m.text for m in answers]
    assert "照片已收到 3 张，位置：有" in answers[0].text
    assert await waiting(h) == 0
    await later(h, clock)
    assert unread(h) == []


async def test_an_album_before_the_description_is_counted(
    harness: Harness, clock: ManualClock
) -> None:
    h, fake = harness, harness.fake
    await describing(h, text=None)
    fake.send_album(RESIDENT, 3)
    await processed(h)
    assert unread(h) == []
    await later(h, clock)
    answers = unread(h)
    assert len(answers) == 1
    assert "照片已收到 3 张" in answers[0].text and "描述" in answers[0].text
    # the description then gets the step's prompt with the count
    more = await h.say(RESIDENT, WISH)
    assert "照片已收到 3 张" in more.text


async def test_an_album_with_no_wish_being_written_is_explained_once(
    harness: Harness, clock: ManualClock
) -> None:
    h, fake = harness, harness.fake
    await h.start_bot(RESIDENT, "huimin")
    await processed(h)
    unread(h)
    fake.send_album(RESIDENT, 4)
    await processed(h)
    answers = unread(h)
    assert len(answers) == 1 and "/new" in answers[0].text
    await later(h, clock)
    assert unread(h) == []


async def test_the_answer_survives_a_restart(
    harness: Harness, clock: ManualClock, fake: FakeTelegram, tmp_path: Path
) -> None:
    """The photos and their answer are kept in the database: stopped before the answer was due,
    the bot answers once it runs again, with the right count."""
    h = harness
    await describing(h)
    fake.send_album(RESIDENT, 3)
    await processed(h)
    assert unread(h) == []
    await h.app.stop()
    clock.advance(seconds=AFTER_THE_LAST)
    h.app = await build(settings_for(fake, tmp_path), clock=clock, limits=TEST_LIMITS)
    await h.app.start()
    await h.settle()
    answers = unread(h)
    assert len(answers) == 1 and "照片已收到 3 张" in answers[0].text
    assert len(await draft_photos(h)) == 3


# -- WeChat: one image message per picture, each push answered within 5 s -----------------------


async def test_wechat_images_sent_together_get_one_answer(
    wx: WeChatRig, clock: ManualClock
) -> None:
    """Three pictures sent at once are three pushes: each is answered `success` at once (no
    passive reply: the old code made each the step's prompt), then one 客服 message with the
    count, whose numbered option goes on."""
    fake, h = wx.fake, wx.h
    welcome = await wx.send(fake.event(OPENID, "subscribe", "qrscene_st_huimin"))
    prompt = await wx.choose(welcome, "我要留言")
    prompt = await wx.choose(prompt, "道路交通")
    await wx.say(WISH)
    before = len(fake.custom)
    for n in range(3):
        fake.media[f"PIC{n}"] = picture(n)
        result = await fake.push(
            fake.xml(OPENID, "image", PicUrl="http://mmbiz/x.jpg", MediaId=f"PIC{n}")
        )
        assert result.status == 200 and result.plaintext == "success", result.plaintext
    assert len(fake.custom) == before
    await later(h, clock)
    answers = [m["text"]["content"] for m in fake.custom[before:]]
    assert len(answers) == 1 and "照片已收到 3 张" in answers[0], answers
    step = await wx.choose(answers[0], "下一步")
    assert "回音壁" in step
    async with h.app.db.read() as conn:
        user = await Repos(conn).user_by_external("wechat", OPENID)
    assert user is not None
    draft = await h.app.liaison.flows.draft(user)
    assert draft is not None and len(draft.photos) == 3 and len(set(draft.photos)) == 3


# -- the web: the photos of one form post ---------------------------------------------------------


async def test_a_web_post_of_three_photos_keeps_all_three_and_answers_once(
    harness: Harness, clock: ManualClock
) -> None:
    """The web page lets a resident pick up to 3 photos in one post: all are kept, in order
    (the old code kept only the last), and the answer with the count comes once, on the
    page."""
    h = harness
    assert h.app.web is not None
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        browser = Browser(session, f"{h.app.web.url}/s/huimin")
        await browser.open()
        await browser.press("我要留言")
        await browser.press("道路交通")
        await browser.say(WISH)
        form = aiohttp.FormData()
        for name, value in browser._form().items():
            form.add_field(name, value)
        for n in range(3):
            form.add_field("photo", picture(n), filename=f"p{n}.jpg", content_type="image/jpeg")
        page = await browser._post(form)
        assert page.count("照片已收到") == 1  # the prompt after the description only
        await later(h, clock)
        page = await browser.open()
        assert page.count("照片已收到 3 张") == 1
        async with h.app.db.read() as conn:
            row = await fetch_one(conn, "SELECT account FROM web_messages LIMIT 1")
            assert row is not None
            user = await Repos(conn).user_by_external("web", row[0])
        assert user is not None
        draft = await h.app.liaison.flows.draft(user)
        assert draft is not None and len(draft.photos) == 3
        assert all(p.startswith("web:") for p in draft.photos) and len(set(draft.photos)) == 3


async def test_a_menu_command_right_after_an_album_takes_back_its_acknowledgement(
    harness: Harness, clock: ManualClock
) -> None:
    """/faq within the 1.5 s sets the draft aside: the acknowledgement queued for the album
    (which invites them to go on with the wish) is taken back, not sent after the FAQ answer."""
    h = harness
    await describing(h)
    h.fake.send_album(RESIDENT, 2)
    await processed(h)
    await h.say(RESIDENT, "/faq")
    await processed(h)
    unread(h)
    await later(h, clock)
    assert unread(h) == []
