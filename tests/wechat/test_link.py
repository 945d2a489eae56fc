"""Linking a WeChat account to a deputy or staff person with a one-time code (bot/logins.py):
single use, expiring, limited against guessing, never taking another worker's account; and
the rule for a person reachable on several channels."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest

from bot.cli import main
from bot.clock import ManualClock, SystemClock
from bot.domain.notices import NoticeKind
from bot.i18n import Catalog
from bot.logins import (
    LINK_TRIES_OVERALL,
    LINK_TRIES_PER_ACCOUNT,
    LinkOutcome,
    create_link_code,
    redeem_link_code,
)
from bot.messages import IMAGE, Attachment, OutMessage
from bot.retention import Retention
from bot.services import Identity, Liaison
from storage.db import Database, fetch_all, fetch_one
from storage.repositories import Repos
from tests.conftest import person
from tests.fake_wechat import FakeWeChat
from tests.unit.test_services import submit
from tests.web.test_web_run import operator_env  # noqa: F401  (the fixture)
from wechat.api import WeChatApi
from wechat.channel import NoticeTemplates, WeChatChannel
from wechat.channel import Path as DeliveryPath
from wechat.render import render

DEPUTY_WX = "o6_deputyZhang000001"


def wechat(openid: str) -> Identity:
    return Identity("wechat", openid, openid, None)


async def redeem(liaison: Liaison, openid: str, code: str) -> LinkOutcome:
    outcome, _ = await redeem_link_code(liaison.core.db, liaison.core.clock, "wechat", openid, openid, code)
    return outcome


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**8:08d}"


async def test_a_code_links_once_and_the_account_then_is_the_deputy(liaison: Liaison) -> None:
    zhang = await liaison.people.identify(person(800001))
    code = await create_link_code(liaison.core.db, liaison.core.clock, zhang.id)
    assert len(code) == 8 and code.isdigit()
    before = await liaison.people.identify(wechat(DEPUTY_WX))  # WeChat made a resident of them
    assert before.id != zhang.id
    assert await redeem(liaison, DEPUTY_WX, code) is LinkOutcome.LINKED
    assert (await liaison.people.identify(wechat(DEPUTY_WX))).id == zhang.id
    assert await redeem(liaison, DEPUTY_WX, code) is LinkOutcome.WRONG  # used
    second = await create_link_code(liaison.core.db, liaison.core.clock, zhang.id)
    assert await redeem(liaison, DEPUTY_WX, second) is LinkOutcome.ALREADY


async def test_a_code_expires(liaison: Liaison, clock: ManualClock) -> None:
    zhang = await liaison.people.identify(person(800001))
    code = await create_link_code(liaison.core.db, liaison.core.clock, zhang.id)
    clock.advance(minutes=16)
    assert await redeem(liaison, DEPUTY_WX, code) is LinkOutcome.WRONG
    async with liaison.core.db.read() as conn:
        assert await Repos(conn).account("wechat", DEPUTY_WX) is None  # nothing changed


async def test_guessing_is_limited_per_account_and_overall(
    liaison: Liaison, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    zhang = await liaison.people.identify(person(800001))
    code = await create_link_code(liaison.core.db, liaison.core.clock, zhang.id)
    for _ in range(LINK_TRIES_PER_ACCOUNT):
        assert await redeem(liaison, "o6_guesser0000001", wrong(code)) is LinkOutcome.WRONG
    # even the right code is not checked now: a guess cannot be confirmed
    assert await redeem(liaison, "o6_guesser0000001", code) is LinkOutcome.LIMITED
    assert await redeem(liaison, "o6_not_a_number01", "abc") is LinkOutcome.WRONG
    clock.advance(minutes=61)
    code = await create_link_code(liaison.core.db, liaison.core.clock, zhang.id)
    assert await redeem(liaison, "o6_guesser0000001", code) is LinkOutcome.LINKED

    # many accounts guessing together hit the overall limit
    monkeypatch.setattr("bot.logins.LINK_TRIES_OVERALL", 3)
    li = await liaison.people.identify(person(800002))
    code = await create_link_code(liaison.core.db, liaison.core.clock, li.id)
    for i in range(3):
        assert await redeem(liaison, f"o6_swarm00000{i}", wrong(code)) is LinkOutcome.WRONG
    assert await redeem(liaison, "o6_swarm_last01", code) is LinkOutcome.LIMITED
    assert LINK_TRIES_OVERALL > LINK_TRIES_PER_ACCOUNT


async def test_another_workers_account_is_never_taken(liaison: Liaison) -> None:
    zhang = await liaison.people.identify(person(800001))
    li = await liaison.people.identify(person(800002))
    await redeem(liaison, DEPUTY_WX, await create_link_code(liaison.core.db, liaison.core.clock, zhang.id))
    code = await create_link_code(liaison.core.db, liaison.core.clock, li.id)
    assert await redeem(liaison, DEPUTY_WX, code) is LinkOutcome.TAKEN
    assert (await liaison.people.identify(wechat(DEPUTY_WX))).id == zhang.id
    # a resident (not a worker) cannot be linked to anything: codes are made for workers
    resident, _ = await submit(liaison, 700001, "小区门口路灯坏了三天")
    code = await create_link_code(liaison.core.db, liaison.core.clock, resident.id)
    assert await redeem(liaison, "o6_someone0000001", code) is LinkOutcome.WRONG


async def test_a_blocked_telegram_keeps_a_person_reachable_through_wechat(
    liaison: Liaison, db: Database
) -> None:
    """Telegram is chosen while it can push; when it cannot, the linked WeChat is, and the
    person stays reachable (wishes still route to them, staff are not told otherwise). With
    only a pull-only web account left the person is unreachable, as before."""
    zhang = await liaison.people.identify(person(800001))
    await liaison.people.identify(wechat(DEPUTY_WX))
    await redeem(liaison, DEPUTY_WX, await create_link_code(db, liaison.core.clock, zhang.id))
    async with db.read() as conn:
        repos = Repos(conn)
        assert await liaison.notify.address(repos, zhang) == ("telegram", "800001")
    await liaison.people.on_blocked("telegram", "800001")
    async with db.read() as conn:
        repos = Repos(conn)
        assert await liaison.notify.address(repos, zhang) == ("wechat", DEPUTY_WX)
        fresh = await repos.user(zhang.id)
        assert fresh is not None and fresh.unreachable_at is None
    li = await liaison.people.identify(person(800002))
    async with db.transaction() as conn:
        await Repos(conn).add_account(li.id, "web", "dep-li-1", "dep-li-1", liaison.core.clock.now())
    await liaison.people.on_blocked("telegram", "800002")
    async with db.read() as conn:
        fresh = await Repos(conn).user(li.id)
    assert fresh is not None and fresh.unreachable_at is not None


async def test_retention_forgets_old_codes_and_tries(liaison: Liaison, clock: ManualClock) -> None:
    zhang = await liaison.people.identify(person(800001))
    code = await create_link_code(liaison.core.db, liaison.core.clock, zhang.id)
    await redeem(liaison, "o6_guesser0000001", wrong(code))
    clock.advance(days=2)
    done = await Retention(liaison.core.db, clock).prune()
    assert done["link_codes"] == 2
    async with liaison.core.db.read() as conn:
        row = await fetch_one(conn, "SELECT COUNT(*) FROM link_codes")
        assert row is not None and row[0] == 0


def test_login_link_prints_a_wechat_code_when_wechat_is_on(
    operator_env: Path,  # noqa: F811  (the fixture imported above)
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    capsys.readouterr()
    assert main(["login-link", "--person", "800001"]) == 0
    assert "绑定" not in capsys.readouterr().out  # WeChat off: no code to send anywhere
    monkeypatch.setenv("LIAISON_WECHAT_APP_ID", "wx1234567890abcdef")
    monkeypatch.setenv("LIAISON_WECHAT_APP_SECRET", "secret")
    monkeypatch.setenv("LIAISON_WECHAT_TOKEN", "token123")
    assert main(["login-link", "--person", "800001"]) == 0
    out = capsys.readouterr().out
    code = re.search(r'send "绑定 (\d{8})" to the station\'s service account', out)
    assert code and "/login/" in out, out

    async def link() -> LinkOutcome:
        db = Database(operator_env / "liaison.db")
        await db.connect()
        try:
            outcome, _ = await redeem_link_code(
                db, SystemClock(), "wechat", DEPUTY_WX, DEPUTY_WX, code.group(1)
            )
            return outcome
        finally:
            await db.close()

    assert asyncio.run(link()) is LinkOutcome.LINKED


async def test_a_linked_deputys_card_outside_the_window_uses_the_notice_template(
    liaison: Liaison, db: Database
) -> None:
    """The resident's headings (您的心愿已办结) would be wrong on a card about someone else's
    wish: a deputy on WeChat gets the notice template."""
    fake = FakeWeChat()
    await fake.start()
    api = WeChatApi(fake.app_id, fake.app_secret, fake.base_url)
    try:
        zhang = await liaison.people.identify(person(800001))
        await liaison.people.identify(wechat(DEPUTY_WX))
        await redeem(liaison, DEPUTY_WX, await create_link_code(db, liaison.core.clock, zhang.id))
        _, wish = await submit(liaison, 700001, "小区门口路灯坏了三天")
        templates = NoticeTemplates(
            {"result": "TPL_RESULT", "reply": "TPL_REPLY", "notice": "TPL_N"}
        )
        channel = WeChatChannel(db, api, liaison.core.clock, Catalog("zh_CN"), templates)
        async with db.read() as conn:  # the card as the core queued it for the deputy
            (payload,) = await fetch_all(
                conn, "SELECT payload FROM outbox WHERE kind='deputy' AND wish_id=?", (wish.id,)
            )
        card = OutMessage.from_payload(json.loads(payload[0]))
        assert card.notice is NoticeKind.NOTICE
        path = await channel.send(DEPUTY_WX, card)
        assert path is DeliveryPath.TEMPLATE and fake.templates[0]["template_id"] == "TPL_N"
        assert fake.templates[0]["data"]["thing1"]["value"] == "联络站给您的通知"
    finally:
        await api.close()
        await fake.stop()


def test_a_desk_file_is_mentioned_on_wechat_not_lost() -> None:
    """/stats and /export answer with a file (a chart, a workbook): WeChat text says so."""
    chart = Attachment(b"\x89PNG", "liaison-stats.png", "image/png", kind=IMAGE)
    r = render(OutMessage(text="统计图", attachment=chart), Catalog("zh_CN"))
    assert r.texts == ("统计图\n（文件 liaison-stats.png 无法在微信中发送，请在网页工作台或 Telegram 查看）",)
