"""People and their accounts: the migration that brings them in, identifying by account, which
account a message goes to, and the stations file's `accounts:` (with `telegram_id` still working).
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import pytest

from bot.clock import ManualClock
from bot.domain.accounts import choose_account
from bot.domain.model import Action
from bot.i18n import Catalog
from bot.people import Identity
from bot.services import Liaison
from bot.stations_file import StationsFileError, parse_stations_yaml
from storage.db import Database, fetch_all
from storage.repositories import AccountRow, Repos
from tests.conftest import STATIONS_YAML, TZ, person
from tests.unit.test_services import clear_outbox, submit

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def web(visitor: str) -> Identity:
    return Identity(channel="web", external_id=visitor, chat_id=visitor)


async def outbox_rows(db: Database) -> list[tuple[str, str, int | None, str]]:
    async with db.read() as conn:
        rows = await fetch_all(
            conn,
            "SELECT channel, chat_id, user_id, kind FROM outbox WHERE status='pending' ORDER BY id",
        )
    return [(r[0], r[1], r[2], r[3]) for r in rows]


# -- the migration ----------------------------------------------------------------------------


def _previous_migrations(path: Path) -> None:
    """A database as the release before accounts left it (migrations below 0008), with data."""
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE schema_migrations "
        "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    for item in sorted(resources.files("storage.migrations").iterdir(), key=lambda i: i.name):
        name = item.name
        if not (name.endswith(".sql") and name[:4].isdigit()) or int(name[:4]) >= 8:
            continue
        conn.executescript(item.read_text(encoding="utf-8"))
        conn.execute(
            "INSERT INTO schema_migrations VALUES (?, ?, datetime('now'))", (int(name[:4]), name)
        )
    conn.execute("INSERT INTO stations (id, name, code) VALUES ('huimin', '惠民', 'HM')")
    conn.executemany(
        "INSERT INTO users (id, channel, external_id, chat_id, display_name, started_at,"
        " unreachable_at, unreachable_reason, stopped, station_id, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (1, "telegram", "800001", "800001", "张", "2026-01-02T00:00:00+00:00", None, None,
             0, "huimin", "2026-01-01T00:00:00+00:00"),
            (2, "telegram", "700001", "700001", "", "2026-01-03T00:00:00+00:00",
             "2026-01-04T00:00:00+00:00", "Forbidden: bot was blocked by the user", 1, None,
             "2026-01-01T00:00:00+00:00"),
            (3, "telegram", "900001", "900001", "", None, None, None, 0, None,
             "2026-01-01T00:00:00+00:00"),
        ],
    )  # fmt: skip
    conn.execute("INSERT INTO deputies (station_id, user_id, name) VALUES ('huimin', 1, '张代表')")
    conn.commit()
    conn.close()


async def test_migration_copies_every_users_account_with_its_reachability(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.db"
    _previous_migrations(path)
    db = Database(path)
    await db.connect()  # applies 0008
    try:
        async with db.read() as conn:
            rows = await fetch_all(
                conn,
                "SELECT user_id, channel, external_id, chat_id, started_at, unreachable_at,"
                " unreachable_reason, created_at FROM user_accounts ORDER BY user_id",
            )
            users = await fetch_all(conn, "SELECT id, display_name, stopped FROM users ORDER BY id")
            repos = Repos(conn)
            blocked = await repos.user_by_external("telegram", "700001")
        assert [tuple(r) for r in rows] == [
            (1, "telegram", "800001", "800001", "2026-01-02T00:00:00+00:00", None, None,
             "2026-01-01T00:00:00+00:00"),
            (2, "telegram", "700001", "700001", "2026-01-03T00:00:00+00:00",
             "2026-01-04T00:00:00+00:00", "Forbidden: bot was blocked by the user",
             "2026-01-01T00:00:00+00:00"),
            (3, "telegram", "900001", "900001", None, None, None, "2026-01-01T00:00:00+00:00"),
        ]  # fmt: skip
        # the person table is untouched (deputies, wishes and staff still point at it)
        assert [tuple(u) for u in users] == [(1, "张", 0), (2, "", 1), (3, "", 0)]
        assert blocked is not None and blocked.id == 2 and blocked.stopped
    finally:
        await db.close()


# -- identifying by account -------------------------------------------------------------------


async def test_a_second_account_of_a_person_is_the_same_person(liaison: Liaison) -> None:
    deputy = await liaison.people.identify(person(800001))
    async with liaison.core.db.transaction() as conn:
        assert await Repos(conn).add_account(deputy.id, "web", "dep-zhang-1", "dep-zhang-1", T0)
    via_web = await liaison.people.identify(web("dep-zhang-1"))
    assert via_web.id == deputy.id
    assert (await liaison.people.actor(via_web)).deputy_ids == (await liaison.people.actor(deputy)).deputy_ids


async def test_a_new_account_makes_a_new_person_with_that_account(liaison: Liaison) -> None:
    visitor = await liaison.people.identify(web("visitor-abc123"))
    again = await liaison.people.identify(web("visitor-abc123"))
    assert again.id == visitor.id
    async with liaison.core.db.read() as conn:
        accounts = await Repos(conn).accounts_of(visitor.id)
    assert [(a.channel, a.external_id) for a in accounts] == [("web", "visitor-abc123")]
    assert accounts[0].started_at is not None


async def test_an_admin_is_recognised_through_any_of_their_accounts(liaison: Liaison) -> None:
    admin = await liaison.people.identify(person(990001))
    async with liaison.core.db.transaction() as conn:
        await Repos(conn).add_account(admin.id, "wechat", "o6_admin_x1", "o6_admin_x1", T0)
    assert (await liaison.people.actor(await liaison.people.identify(Identity("wechat", "o6_admin_x1", "o6_admin_x1")))).is_admin  # fmt: skip


# -- which account a message goes to ----------------------------------------------------------


def _account(id: int, channel: str, started: bool = True, unreachable: bool = False) -> AccountRow:
    return AccountRow(
        id, 1, channel, str(id), str(id), T0 if started else None, T0 if unreachable else None
    )


def test_delivery_prefers_a_reachable_pushing_account() -> None:
    tg, wx, page = _account(3, "telegram"), _account(2, "wechat"), _account(1, "web")
    assert choose_account([page, wx, tg]) is tg
    assert choose_account([page, wx]) is wx
    blocked = _account(3, "telegram", unreachable=True)
    assert choose_account([blocked, page]) is page  # web is pull-only: shown when they look
    never = _account(3, "telegram", started=False)
    assert choose_account([never]) is never  # tried, so the station learns they can't be reached
    assert choose_account([]) is None


async def test_a_deputy_with_telegram_and_web_hears_on_telegram_until_it_fails(
    liaison: Liaison, db: Database, clock: ManualClock
) -> None:
    deputy = await liaison.people.identify(person(800001))
    async with db.transaction() as conn:
        await Repos(conn).add_account(deputy.id, "web", "dep-zhang-1", "dep-zhang-1", T0)
    await liaison.people.identify(web("dep-zhang-1"))
    await submit(liaison, 700001, "小区门口路灯坏了三天")
    cards = [r for r in await outbox_rows(db) if r[3] == "deputy"]
    assert cards == [("telegram", "800001", deputy.id, "deputy")]

    await liaison.people.on_unreachable(deputy.id, "Forbidden: bot was blocked by the user")
    async with db.read() as conn:
        accounts = {a.channel: a for a in await Repos(conn).accounts_of(deputy.id)}
    assert accounts["telegram"].unreachable_at is not None
    assert accounts["web"].unreachable_at is None
    await clear_outbox(db)
    await submit(liaison, 700002, "路口红绿灯不亮", category="pension")  # only 李 or staff
    await liaison.wishes.act(await liaison.people.identify(person(900001)), 2, Action.ASSIGN, deputy_id=1)
    cards = [r for r in await outbox_rows(db) if r[2] == deputy.id]
    assert cards == [("web", "dep-zhang-1", deputy.id, "deputy")]


async def test_a_web_resident_hears_back_on_the_web(liaison: Liaison, db: Database) -> None:
    resident = await liaison.people.identify(web("visitor-abc123"))
    await liaison.directory.choose_station(resident, "huimin")
    await liaison.flows.start_draft(resident)
    await liaison.flows.update_draft(
        resident,
        lambda d: (
            d.with_category("traffic")
            .with_text("路灯坏了")
            .described()
            .with_public(True)
            .with_phone("13812345678")
        ),
    )
    wish, _ = await liaison.wishes.submit_draft(resident)
    await clear_outbox(db)
    deputy = await liaison.people.identify(person(800001))
    await liaison.wishes.act(deputy, wish.id, Action.ACCEPT)
    assert [r for r in await outbox_rows(db) if r[3] == "resident"] == [
        ("web", "visitor-abc123", resident.id, "resident")
    ]


# -- the stations file ------------------------------------------------------------------------

ACCOUNTS_YAML = STATIONS_YAML.replace(
    "staff: [900001]",
    "staff:\n      - 900001\n      - accounts: [{channel: wechat, id: o6_staff_wang}, {channel: web, id: staff-wang}]",
).replace(
    "{telegram_id: 800002, name: 李代表}",
    '{accounts: [{channel: telegram, id: "800002"}, {channel: wechat, id: o6_li_abcdef}], name: 李代表}',
)


async def test_the_stations_file_takes_accounts_and_sync_creates_them(
    db: Database, clock: ManualClock
) -> None:
    config = parse_stations_yaml(ACCOUNTS_YAML)
    liaison = Liaison(db, Catalog("zh_CN"), clock, TZ)
    await liaison.directory.sync_config(config)
    await liaison.directory.sync_config(config)  # a second start changes nothing
    li_tg = await liaison.people.identify(person(800002))
    li_wx = await liaison.people.identify(Identity("wechat", "o6_li_abcdef", "o6_li_abcdef"))
    assert li_tg.id == li_wx.id
    actor = await liaison.people.actor(li_wx)
    assert len(actor.deputy_ids) == 1
    wang = await liaison.people.identify(web("staff-wang"))
    assert (await liaison.people.actor(wang)).staff_of == frozenset({"huimin"})
    assert (await liaison.people.identify(Identity("wechat", "o6_staff_wang", "x"))).id == wang.id
    old_style = await liaison.people.identify(person(900001))  # the plain id list still works
    assert (await liaison.people.actor(old_style)).staff_of == frozenset({"huimin"})
    async with db.read() as conn:
        count = await fetch_all(conn, "SELECT COUNT(*) FROM user_accounts")
    # 4 deputies' telegram + 李's wechat + 2 telegram staff + 王's wechat and web
    assert count[0][0] == 9


async def test_a_deputy_configured_by_telegram_id_later_gets_a_wechat_account(
    liaison: Liaison, db: Database
) -> None:
    before = await liaison.people.identify(person(800001))
    config = parse_stations_yaml(
        STATIONS_YAML.replace(
            "{telegram_id: 800001, name: 张代表,",
            "{telegram_id: 800001, accounts: [{channel: wechat, id: o6_zhang_1}], name: 张代表,",
        )
    )
    await liaison.directory.sync_config(config)
    after = await liaison.people.identify(Identity("wechat", "o6_zhang_1", "o6_zhang_1"))
    assert after.id == before.id


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "{telegram_id: 800002, name: 李代表}",
            '{accounts: [{channel: qq, id: "12345"}], name: 李代表}',
            ":17: stations 第1项 › deputies 第2项 › accounts 第1项 › channel: 未知的渠道",
        ),
        (
            "{telegram_id: 800002, name: 李代表}",
            "{accounts: [{channel: telegram, id: abc}], name: 李代表}",
            ":17: stations 第1项 › deputies 第2项 › accounts 第1项: telegram 账号的 id 格式不对",
        ),
        (
            "{telegram_id: 800002, name: 李代表}",
            "{name: 李代表}",
            ":17: stations 第1项 › deputies 第2项: 至少写一个账号",
        ),
        (
            "{telegram_id: 800002, name: 李代表}",
            '{accounts: [{channel: telegram, id: "800001"}], name: 李代表}',
            ":17: stations 第1项 › deputies 第2项 › accounts 第1项 › id: 重复的“800001”（第 16 行已经用过）",
        ),
        (
            "staff: [900001]",
            "staff: [{accounts: []}]",
            ":14: stations 第1项 › staff 第1项 › accounts: ",
        ),
    ],
)
def test_bad_accounts_are_reported_with_their_line(old: str, new: str, expected: str) -> None:
    text = STATIONS_YAML.replace(old, new, 1)
    assert text != STATIONS_YAML
    with pytest.raises(StationsFileError) as caught:
        parse_stations_yaml(text, "s.yaml", Catalog("zh_CN"))
    assert expected in str(caught.value), str(caught.value)


async def test_a_refusal_marks_only_the_account_that_refused(
    liaison: Liaison, db: Database
) -> None:
    deputy = await liaison.people.identify(person(800001))
    async with db.transaction() as conn:
        await Repos(conn).add_account(deputy.id, "web", "dep-zhang-1", "dep-zhang-1", T0)
    await liaison.people.on_unreachable(deputy.id, "gone", channel="web", chat_id="dep-zhang-1")
    async with db.read() as conn:
        accounts = {a.channel: a for a in await Repos(conn).accounts_of(deputy.id)}
    assert accounts["web"].unreachable_at is not None
    assert accounts["telegram"].unreachable_at is None


async def test_a_channel_that_knows_no_name_keeps_the_stored_one(liaison: Liaison) -> None:
    """A web or WeChat input carries no display name (""): it must not overwrite the Telegram
    name the cards mask by, nor turn every message into a write."""
    from bot.channels.memory import MemoryChannel, MemoryConversation
    from bot.conversation import Conversation
    from bot.faq_service import FaqService

    user = await liaison.people.identify(Identity("telegram", "700777", "700777", "刘小明"))
    async with liaison.core.db.transaction() as conn:
        await Repos(conn).add_account(user.id, "memory", "m-700777", "m-700777", liaison.core.clock.now())
    faq = FaqService(liaison.core.db, liaison.core.clock)
    await faq.reload()
    talk = MemoryConversation(Conversation(liaison, liaison.core.c, faq), MemoryChannel())
    await talk.say("m-700777", "你好")
    async with liaison.core.db.read() as conn:
        stored = await Repos(conn).user(user.id)
    assert stored is not None and stored.display_name == "刘小明"
