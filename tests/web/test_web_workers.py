"""Deputies and staff logged in on the web (the real aiohttp application, a real SQLite file):
they open the resident-style page of a wish they may see (/wish/<receipt>), by the wish's own
rule and nobody else does; a login link is refused once its person is no longer a deputy or
staff member."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.clock import ManualClock
from bot.conversation import Conversation
from bot.faq_service import FaqService
from bot.i18n import Catalog
from bot.logins import create_login_link
from bot.services import Liaison
from bot.settings import Settings
from bot.stations_file import StationsConfig, parse_stations_yaml
from bot.supervision import Supervisor
from storage.db import Database, fetch_all, fetch_one
from tests.conftest import STATIONS_YAML, TZ, person
from tests.unit.test_privacy_defects import without_zhang
from tests.unit.test_services import submit
from tests.web.test_web_desk import Desk, desk, press  # noqa: F401 - `desk` is a fixture
from tests.web.test_web_pages import log_in
from web.runtime import build_web
from web.server import create_app

__all__ = ["desk"]

STAFF_HM, STAFF_XY = "900001", "900002"  # 惠民's and 星苑's staff members (web accounts)
DEPUTIES_HM = ("800001", "800002", "800003")  # 张, 李, 王代表 at 惠民
ZHAO = "800011"  # 赵代表, at 星苑


def _visible(html: str) -> str:
    """A page without its per-request form fields (CSRF token, one-time key)."""
    return re.sub(r'name="(csrf|key)" value="[^"]+"', "", html)


async def _user_id(db: Database, channel: str, external_id: str) -> int:
    async with db.read() as conn:
        row = await fetch_one(
            conn, "SELECT id FROM users WHERE channel=? AND external_id=?", (channel, external_id)
        )
    assert row is not None
    return int(row[0])


async def _assigned_deputy(db: Database, wish_id: int) -> str:
    """The web account (the stations file's id) of the deputy the wish is assigned to."""
    async with db.read() as conn:
        row = await fetch_one(
            conn,
            "SELECT u.external_id FROM wishes w JOIN deputies d ON d.id = w.deputy_id"
            " JOIN users u ON u.id = d.user_id WHERE w.id=?",
            (wish_id,),
        )
    assert row is not None
    return str(row[0])


async def _done(*browsers: TestClient) -> None:
    """Close the browsers' sessions (closing a TestClient would stop the shared server)."""
    for browser in browsers:
        await browser.session.close()


async def test_the_wishs_deputy_and_its_stations_staff_open_its_page(desk: Desk) -> None:
    _, wish = await submit(desk.liaison, 700001, "小区门口路灯坏了三天")
    assigned = await _assigned_deputy(desk.db, wish.id)
    for allowed in (assigned, STAFF_HM):
        browser = await desk.logged_in(allowed)
        page = await browser.get(f"/wish/{wish.receipt}")
        assert page.status == 200, allowed
        html = await page.text()
        assert wish.receipt in html and "小区门口路灯坏了三天" in html
        await _done(browser)


async def test_other_deputies_and_staff_get_the_page_of_no_wish(desk: Desk) -> None:
    """Another deputy of the same station, a deputy and the staff of another station: exactly
    the 404 of a receipt that does not exist (four logins: under the per-IP login limit)."""
    _, wish = await submit(desk.liaison, 700001, "小区门口路灯坏了三天")
    assigned = await _assigned_deputy(desk.db, wish.id)
    stranger = await desk.browser()
    nothing = await stranger.get("/wish/HM-2026-9999")
    assert nothing.status == 404
    expected = _visible(await nothing.text())
    page = await stranger.get(f"/wish/{wish.receipt}")  # not logged in: nothing
    assert page.status == 404 and _visible(await page.text()) == expected
    await _done(stranger)
    others = [d for d in DEPUTIES_HM if d != assigned] + [ZHAO, STAFF_XY]
    assert len(others) == 4
    for other in others:
        browser = await desk.logged_in(other)
        page = await browser.get(f"/wish/{wish.receipt}")
        html = await page.text()
        assert page.status == 404, other
        assert "路灯" not in html and _visible(html) == expected, other
        await _done(browser)


async def test_a_login_link_of_a_deputy_removed_since_is_refused(desk: Desk) -> None:
    zhang = await _user_id(desk.db, "web", "800001")
    li = await _user_id(desk.db, "web", "800002")
    link = await create_login_link(desk.db, desk.clock, "", zhang)
    kept = await create_login_link(desk.db, desk.clock, "", li)
    # 张代表 leaves the stations file (the next start's sync deactivates him)
    await desk.liaison.directory.sync_config(parse_stations_yaml(without_zhang()), channel="web")
    browser = await desk.browser()
    refused = await log_in(browser, link)
    assert refused.status == 403
    html = await refused.text()
    assert "已不再是本站的代表或工作人员" in html
    assert "set-cookie" not in {k.lower() for k in refused.headers}
    assert (await browser.get("/me")).status == 403  # not logged in as anyone
    assert (await log_in(browser, link)).status == 404  # and the link is used up
    other = await desk.browser()
    assert (await log_in(other, kept)).status == 303  # a deputy still there logs in
    await _done(browser, other)


@pytest.fixture
async def telegram_desk(
    tmp_path: Path, db: Database, clock: ManualClock, config: StationsConfig
) -> AsyncIterator[Desk]:
    """The people configured by Telegram id (a real deployment): a login link makes the browser
    one more of their accounts."""
    catalog = Catalog("zh_CN")
    liaison = Liaison(db, catalog, clock, TZ)
    await liaison.directory.sync_config(config)
    faq = FaqService(db, clock)
    await faq.reload()
    talk = Conversation(liaison, catalog, faq, supervisor=Supervisor(db, catalog, liaison))
    settings = Settings(_env_file=None, database=tmp_path / "liaison.db", web_port=0)  # type: ignore[call-arg]
    web = await build_web(settings, db, catalog, clock, liaison, faq, conversation=talk)
    server = TestServer(create_app(web.ctx))
    await server.start_server()
    try:
        yield Desk(server, db, liaison, clock)
    finally:
        await server.close()


async def test_a_telegram_staff_members_old_link_is_refused_once_removed(
    telegram_desk: Desk,
) -> None:
    """Before, the browser became a web account of the removed person and /me showed it a
    desk (with no role left it looked like a county admin's)."""
    desk = telegram_desk
    staff = await desk.liaison.people.identify(person(int(STAFF_HM)))
    link = await create_login_link(desk.db, desk.clock, "", staff.id)
    await desk.liaison.directory.sync_config(
        parse_stations_yaml(STATIONS_YAML.replace("staff: [900001]", "staff: []"))
    )
    browser: TestClient = await desk.browser()
    refused = await log_in(browser, link)
    assert refused.status == 403 and "已不再是本站的代表或工作人员" in await refused.text()
    assert (await browser.get("/me")).status == 403
    async with desk.db.read() as conn:
        # no browser was made one of their accounts, nor logged in as them
        assert await fetch_all(conn, "SELECT account FROM web_logins") == []
        rows = await fetch_all(
            conn, "SELECT channel FROM user_accounts WHERE user_id=?", (staff.id,)
        )
    assert [r[0] for r in rows] == ["telegram"]
    await _done(browser)
