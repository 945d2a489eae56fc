"""Scale (issue 12): the faster paths give the same answers as the ones they replaced.

Each test checks a rewritten query or loop against the old way of computing the same thing (kept
here, or still in the code as the row-by-row method), or a defect the rewrite fixed.
"""

from __future__ import annotations

import io
from datetime import UTC, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook

from bot.clock import ManualClock
from bot.domain.model import Action, Event, Rating, Role
from bot.i18n import Catalog
from bot.reporting import Reporting
from bot.reports import build_report, chart_window, monthly_rows
from bot.services import Liaison
from bot.stations_file import StationsConfig, parse_stations_yaml, staff_accounts
from bot.supervision import Supervisor
from storage.db import Database, fetch_all
from storage.reports import ReportsRepo
from storage.repositories import CategoryRow, Repos, StationRow
from storage.supervision import FOLLOW_UP_WINDOW, SupervisionRepo
from tests.conftest import ADMIN_ID, STATIONS_YAML, TZ, person
from tests.unit.test_county_stats import breakdown
from tests.unit.test_reports import START, Scenario, march, scenario  # noqa: F401 - fixture
from tests.unit.test_services import clear_outbox, outbox, submit


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)  # the hand-computed fixture of test_reports starts here


async def test_county_stats_equal_one_report_per_station_over_the_whole_list(
    liaison: Liaison,
    scenario: Scenario,  # noqa: F811
) -> None:
    """The county's reports counted in SQL give exactly the reports that filtering the county's
    whole list per station gave (the hand-computed fixture of test_reports); the breakdown rows
    carry their counts only (bot/county_stats.py)."""
    reporting = Reporting(liaison)
    admin = await liaison.people.identify(person(ADMIN_ID))
    period = march(reporting)
    result = await reporting.stats(admin, period)
    ids = [s.station.id for s in result.stations]
    async with liaison.core.db.read() as conn:
        repo = ReportsRepo(conn)
        facts = await repo.wish_facts(ids, period.start - timedelta(days=200), period.end)
        categories = await repo.category_names()
        deputies = await repo.deputy_names(ids)
    for station in result.stations:
        old = build_report(
            station.station.name,
            [station.station.id],
            facts,  # every station's wishes, as before
            period,
            station.report.made_at,
            TZ,
            category_names=categories,
            deputy_names=deputies,
            unassigned_name=liaison.core.c.plain("reports.unassigned"),
        )
        assert station.report.total == old.total
        assert station.report == breakdown(old)
    assert result.county is not None and result.county.total.received == 8
    assert result.stations[0].report.total.received == 7


DEADLINES_YAML = """
deadlines: {accept_days: 3}
categories:
  - {id: traffic, name: 道路交通, deadlines: {resolve_days: 5}}
  - {id: housing, name: 住房物业}
stations:
  - id: a
    name: 甲站
    code: A
    working_days_only: true
    deadlines:
      resolve_days: 20
      categories:
        housing: {accept_days: 1}
  - id: b
    name: 乙站
    code: B
"""


def test_deadline_policies_by_dict_equal_the_lookup_of_each_pair() -> None:
    config = parse_stations_yaml(DEADLINES_YAML)
    policies = config.deadline_policies()
    assert set(policies) == {(s, c) for s in "ab" for c in ("", "traffic", "housing")}
    for (station, category), policy in policies.items():
        assert policy == config.deadline_policy(station, category)
    assert policies[("a", "housing")].accept_days == 1
    assert policies[("a", "traffic")].resolve_days == 20  # the station beats the category
    assert policies[("b", "traffic")].resolve_days == 5


CHANGED_YAML = """
categories:
  - {id: housing, name: 住房物业}
  - {id: traffic, name: 交通}
  - {id: roads, name: 道路}
stations:
  - id: xingyuan
    name: 星苑站
    code: XY
    staff: [900003, 900002]
    deputies:
      - {telegram_id: 800011, name: 赵代表, categories: [housing, roads]}
      - {telegram_id: 800001, name: 张代表}
  - id: newone
    name: 新站
    code: NW
    staff:
      - 900001
      - accounts: [{channel: wechat, id: o6_staff_wang}, {channel: web, id: staff-wang}]
      - accounts: [{channel: web, id: staff-wang}, {channel: telegram, id: "900004"}]
    deputies:
      - {telegram_id: 800099, name: 钱代表}
      - {accounts: [{channel: wechat, id: o6_li_abcdef}, {channel: telegram, id: "800011"}], name: 李代表}
"""


async def _row_by_row_sync(db: Database, config: StationsConfig, now: ManualClock) -> None:
    """The sync as it was before the batches: one statement per row, through Repos (people
    through `Directory.ensure_person`, as the people branch did it)."""
    directory = Liaison(db, Catalog("zh_CN"), now, TZ).directory
    async with db.transaction() as conn:
        repos = Repos(conn)
        for i, cat in enumerate(config.categories):
            await repos.upsert_category(CategoryRow(cat.id, cat.name), i)
        await repos.deactivate_categories_except(c.id for c in config.categories)
        for i, s in enumerate(config.stations):
            wall = str(s.wall_chat_id) if s.wall_chat_id is not None else None
            await repos.upsert_station(
                StationRow(s.id, s.name, s.code, s.address, s.reception, wall), i
            )
            deputy_users = []
            for d in s.deputies:
                user = await directory.ensure_person(repos, d.all_accounts(), "telegram", now.now())
                await repos.upsert_deputy(s.id, user.id, d.name, d.categories)
                deputy_users.append(user.id)
            await repos.deactivate_deputies_except(s.id, deputy_users)
            staff_users = []
            for member in s.staff:
                accounts = staff_accounts(member)
                user = await directory.ensure_person(repos, accounts, "telegram", now.now())
                staff_users.append(user.id)
            await repos.set_staff(s.id, staff_users)
        await repos.deactivate_stations_except(s.id for s in config.stations)
        await SupervisionRepo(conn).set_policies(config.deadline_policies())


async def _dump(db: Database) -> dict[str, list[tuple[object, ...]]]:
    tables = {
        "stations": "SELECT * FROM stations ORDER BY id",
        "categories": "SELECT * FROM categories ORDER BY id",
        "users": "SELECT id, channel, external_id, chat_id, display_name FROM users ORDER BY id",
        "user_accounts": "SELECT id, user_id, channel, external_id, chat_id FROM user_accounts"
        " ORDER BY id",
        "deputies": "SELECT * FROM deputies ORDER BY id",
        "station_staff": "SELECT * FROM station_staff ORDER BY station_id, user_id",
        "deadline_policies": "SELECT * FROM deadline_policies ORDER BY station_id, category_id",
    }
    async with db.read() as conn:
        return {t: [tuple(r) for r in await fetch_all(conn, q)] for t, q in tables.items()}


async def test_batched_sync_leaves_what_the_row_by_row_sync_left(tmp_path: Path) -> None:
    """Two syncs (the fixture's county, then a file where a station, a category, deputies and
    staff left and others came) end in the same rows both ways, ids included."""
    manual = ManualClock()
    first, second = parse_stations_yaml(STATIONS_YAML), parse_stations_yaml(CHANGED_YAML)
    batched, by_row = Database(tmp_path / "batched.db"), Database(tmp_path / "by_row.db")
    for db in (batched, by_row):
        await db.connect()
    try:
        liaison = Liaison(batched, Catalog("zh_CN"), manual, TZ)
        for config in (first, second):
            await liaison.directory.sync_config(config)
            await _row_by_row_sync(by_row, config, manual)
            assert await _dump(batched) == await _dump(by_row)
        dump = await _dump(batched)
        assert [s[0] for s in dump["stations"] if s[6]] == ["newone", "xingyuan"]
        # deputies of the stations in the file: 赵 and 张 at 星苑, 钱 at the new one
        named = [d[3] for d in dump["deputies"] if d[5] and d[1] in ("xingyuan", "newone")]
        assert sorted(named) == sorted(["赵代表", "张代表", "钱代表", "李代表"])
        # 王 (two staff entries sharing a web account) is one person with three accounts; 李's
        # Telegram account was 赵's already, so 李 is 赵 (the first known account decides)
        accounts = {(a[2], a[3]): a[1] for a in dump["user_accounts"]}
        wang = accounts[("web", "staff-wang")]
        assert accounts[("wechat", "o6_staff_wang")] == accounts[("telegram", "900004")] == wang
        assert accounts[("wechat", "o6_li_abcdef")] == accounts[("telegram", "800011")]
    finally:
        for db in (batched, by_row):
            await db.close()


async def test_follow_up_is_asked_within_its_window_and_not_later(
    liaison: Liaison, db: Database, clock: ManualClock
) -> None:
    """The 回访 candidates are the wishes that came due in the last FOLLOW_UP_WINDOW: one whose
    question is more than that late (the bot was down) is not asked any more."""
    sup = Supervisor(db, liaison.core.c, liaison, rating_reminder_days=0, followup_days=30)
    _, late = await submit(liaison, 700001, "路灯坏了")
    deputy = await liaison.people.identify(person(900001))  # the station's staff may resolve any
    await liaison.wishes.act(deputy, late.id, Action.RESOLVE, body="已修好")
    clock.advance(days=20)
    _, timely = await submit(liaison, 700002, "垃圾没人清")
    await liaison.wishes.act(deputy, timely.id, Action.RESOLVE, body="已清运")
    clock.advance(days=30 + FOLLOW_UP_WINDOW.days - 20 + 1)  # late's question is 31 days late
    await clear_outbox(db)
    await sup.send_follow_ups()
    asked = [r for r in await outbox(db) if "问题是否真正解决了？" in r["text"]]
    assert [r["chat"] for r in asked] == ["700002"]


async def test_digests_of_staff_with_different_stations_and_since(
    liaison: Liaison, db: Database, clock: ManualClock
) -> None:
    """The digests, read set-based for everyone at once, still tell each person about their
    own stations since their own last digest."""
    sup = Supervisor(db, liaison.core.c, liaison, digest_hour=9)
    clock.advance(hours=-clock.now().hour + 1)  # 09:00 in Shanghai
    for tg in (900001, 900002, ADMIN_ID):
        await liaison.people.identify(person(tg))
    await sup.tick()  # baselines: from now
    clock.advance(hours=2)
    _, hm = await submit(liaison, 700001, "路面有坑")
    _, xy = await submit(liaison, 700002, "电梯坏了", category="housing", station="xingyuan")
    async with db.transaction() as conn:  # the admin's last digest was a day earlier
        await conn.execute(
            "UPDATE digests_sent SET since=?, until=? WHERE user_id=(SELECT id FROM users"
            " WHERE external_id=?)",
            ((clock.now() - timedelta(days=3)).isoformat(),
             (clock.now() - timedelta(days=2)).isoformat(), str(ADMIN_ID)),
        )  # fmt: skip
    await clear_outbox(db)
    clock.advance(days=1)
    await sup.tick()
    rows = {r["chat"]: r["text"] for r in await outbox(db) if "每日督办简报" in r["text"]}
    assert set(rows) == {"900001", "900002", str(ADMIN_ID)}
    assert hm.receipt in rows["900001"] and xy.receipt not in rows["900001"]
    assert xy.receipt in rows["900002"] and hm.receipt not in rows["900002"]
    assert hm.receipt in rows[str(ADMIN_ID)] and xy.receipt in rows[str(ADMIN_ID)]
    await sup.tick()
    assert len([r for r in await outbox(db) if "每日督办简报" in r["text"]]) == 3  # once


async def test_xlsx_wraps_every_row_of_a_wide_column(liaison: Liaison) -> None:
    """The wrap of a wide column (a wish's text) reaches every row, once: it used to be applied
    to the last column, once per row (quadratic, minutes for a station's year)."""
    for i in range(3):
        await submit(liaison, 700001 + i, "小区门口的路灯坏了很久" * (i + 1))
    reporting = Reporting(liaison)
    result = await reporting.export(None, "huimin", reporting.period("year"))
    data = await reporting.export_file(result, "xlsx")
    sheet = load_workbook(io.BytesIO(data))[liaison.core.c.plain("reports.sheet_wishes")]
    text_column = next(c for c in sheet[1] if c.value == liaison.core.c.plain("reports.col_text"))
    cells = [row[text_column.column - 1] for row in sheet.iter_rows(min_row=2)]
    assert len(cells) == 3
    assert all(c.alignment.wrap_text for c in cells)


async def test_reminder_candidates_leave_out_wishes_that_owe_nothing_yet(
    liaison: Liaison, db: Database, clock: ManualClock
) -> None:
    """A wish whose deadline is a few hours ahead is read once for its "soon" reminder, not
    every minute until the deadline; at the deadline it is a candidate again (escalation)."""
    sup = Supervisor(db, liaison.core.c, liaison)
    _, wish = await submit(liaison, 700001, "井盖丢了")
    async with db.read() as conn:
        due = (await SupervisionRepo(conn).due_dates(wish.id)).accept
    assert due is not None
    clock.advance(seconds=(due - clock.now()).total_seconds() - 3600)  # an hour before
    async with db.read() as conn:
        assert await SupervisionRepo(conn).reminder_candidates(
            clock.now() + timedelta(days=1), clock.now()
        ) == [wish.id]
    assert await sup.send_deadline_reminders() == 1  # the deputy's "accept soon"
    clock.advance(minutes=1)
    async with db.read() as conn:
        repo = SupervisionRepo(conn)
        horizon = clock.now() + timedelta(days=1)
        assert await repo.reminder_candidates(horizon, clock.now()) == []
        assert await repo.reminder_candidates(horizon) == [wish.id]  # without `now`: as before
    assert await sup.send_deadline_reminders() == 0
    clock.advance(hours=1)
    async with db.read() as conn:
        assert await SupervisionRepo(conn).reminder_candidates(
            clock.now() + timedelta(days=1), clock.now()
        ) == [wish.id]
    assert await sup.send_deadline_reminders() == 2  # overdue to the deputy, 督办 to staff


async def test_county_chart_counted_in_sql_equals_the_monthly_figures(
    liaison: Liaison,
    scenario: Scenario,  # noqa: F811
) -> None:
    """The county chart's months, counted in SQL, hold what the figures of the same months
    computed from every wish hold (received, resolved, rated, satisfied)."""
    reporting = Reporting(liaison)
    admin = await liaison.people.identify(person(ADMIN_ID))
    period = march(reporting)
    result = await reporting.stats(admin, period)
    window = chart_window(period, TZ)
    async with liaison.core.db.read() as conn:
        facts = await ReportsRepo(conn).wish_facts(["huimin", "xingyuan"], window.start, window.end)
    expected = monthly_rows(["huimin", "xingyuan"], facts, window, result.chart.made_at, TZ)
    assert [r.key for r in result.chart.by_month] == [r.key for r in expected]
    for got, want in zip(result.chart.by_month, expected, strict=True):
        f, w = got.figures, want.figures
        assert (f.received, f.resolved, f.rated, f.satisfied, f.satisfaction) == (
            w.received, w.resolved, w.rated, w.satisfied, w.satisfaction
        )  # fmt: skip
    assert sum(r.figures.received for r in result.chart.by_month) == 9  # with February's


async def test_first_response_kept_on_the_wish_is_the_earliest_handler_response(
    liaison: Liaison, clock: ManualClock
) -> None:
    """wishes.first_response_at (migration 0014, kept by add_event) is what the timeline's
    MIN(at) over a handler's responses gives, whatever order the events are written in: the
    county's medians read the column, a station's report reads the timeline."""
    _, wish = await submit(liaison, 9001, "路灯坏了")
    wish_id = wish.id
    base = clock.now()
    events = [
        (Action.SUPPLEMENT, Role.RESIDENT, base + timedelta(minutes=1)),  # not a response
        (Action.REPLY, Role.DEPUTY, base + timedelta(hours=5)),
        (Action.REPLY, Role.RESIDENT, base + timedelta(hours=1)),  # a resident's: not one
        (Action.ACCEPT, Role.STAFF, base + timedelta(hours=3, microseconds=7)),  # earlier
        (Action.RESOLVE, Role.DEPUTY, base + timedelta(hours=4)),  # later than the accept
    ]
    expected = [None, base + timedelta(hours=5), base + timedelta(hours=5)]
    expected += [base + timedelta(hours=3, microseconds=7)] * 2
    for (action, role, at), want in zip(events, expected, strict=True):
        async with liaison.core.db.transaction() as conn:
            await Repos(conn).add_event(wish_id, Event(action, role, None, None, None, at))
        async with liaison.core.db.read() as conn:
            stored = await fetch_all(
                conn, "SELECT first_response_at FROM wishes WHERE id=?", [wish_id]
            )
            facts = await ReportsRepo(conn).wish_facts(
                ["huimin"], base - timedelta(days=1), base + timedelta(days=1)
            )
        assert stored[0][0] == (want.astimezone(UTC).isoformat() if want else None)
        assert [f.first_response_at for f in facts if f.id == wish_id] == [want]


async def test_digest_counts_every_overdue_wish_of_each_station(
    liaison: Liaison, db: Database, clock: ManualClock
) -> None:
    """Each station's overdue section counts all of its overdue wishes. The digest used to take
    the county's first 500 overdue wishes (by deadline) and pick each station's from those, so
    a station whose wishes came due after 500 others' was told it had none."""
    sup = Supervisor(db, liaison.core.c, liaison, digest_hour=9)
    clock.advance(hours=-clock.now().hour + 1)  # 09:00 in Shanghai
    for tg in (900001, 900002):
        await liaison.people.identify(person(tg))
    await sup.tick()  # baselines: from now
    _, hm = await submit(liaison, 700001, "路面有坑")
    _, xy = await submit(liaison, 700002, "电梯坏了", category="housing", station="xingyuan")
    earlier = (clock.now() + timedelta(hours=1)).isoformat()  # before both wishes' deadlines
    async with db.transaction() as conn:  # 500 more of huimin's, due before xingyuan's
        await conn.executemany(
            "INSERT INTO wishes (station_id, receipt, resident_id, category_id, text, status,"
            " created_at, updated_at, accept_due_at, resolve_due_at) SELECT station_id, ?,"
            " resident_id, category_id, text, status, created_at, updated_at, ?, resolve_due_at"
            " FROM wishes WHERE id=?",
            [(f"HM-2025-{i:04d}", earlier, hm.id) for i in range(500)],
        )
    clock.advance(days=10)  # every one of them past its acceptance deadline
    await clear_outbox(db)
    await sup.tick()
    rows = {r["chat"]: r["text"] for r in await outbox(db) if "每日督办简报" in r["text"]}
    assert "超期未办：501 条" in rows["900001"]
    assert "HM-2025-0000" in rows["900001"] and "HM-2025-0010" not in rows["900001"]  # first 10
    assert "超期未办：1 条" in rows["900002"] and xy.receipt in rows["900002"]


async def remind_at(db: Database, wish_id: int) -> str | None:
    async with db.read() as conn:
        rows = await fetch_all(conn, "SELECT remind_at FROM wishes WHERE id=?", (wish_id,))
    return rows[0][0]


async def test_a_reopened_wish_is_looked_at_again_for_its_new_deadlines(
    liaison: Liaison, db: Database, clock: ManualClock
) -> None:
    """The minute reads only wishes whose `remind_at` has come: a resolved wish has none, and
    the event that reopens it (new deadlines) sets it again, so its reminders come as before."""
    sup = Supervisor(db, liaison.core.c, liaison, rating_reminder_days=0, followup_days=0)
    resident, wish = await submit(liaison, 700001, "井盖丢了")
    deputy = await liaison.people.identify(person(800001))
    await liaison.wishes.act(deputy, wish.id, Action.RESOLVE, body="已补上")
    assert await remind_at(db, wish.id) is None
    clock.advance(days=1)
    await liaison.wishes.act(resident, wish.id, Action.RATE, rating=Rating.UNSATISFIED)
    async with db.read() as conn:
        accept = (await SupervisionRepo(conn).due_dates(wish.id)).accept
    assert accept is not None
    assert await remind_at(db, wish.id) == (accept - timedelta(days=1)).isoformat()
    await clear_outbox(db)
    clock.advance(days=1, minutes=1)  # within a day of the new acceptance deadline
    await sup.tick()
    (soon,) = [r for r in await outbox(db) if r["status"] == "pending"]
    assert soon["chat"] == "800001" and "请在" in soon["text"] and "受理" in soon["text"]
    assert await remind_at(db, wish.id) == accept.isoformat()  # next: the deadline itself


async def test_migration_0016_leaves_the_escalated_backlog_out_of_the_minute(
    liaison: Liaison, db: Database, clock: ManualClock
) -> None:
    """Migrating a database from before 0016: open wishes with a deadline still to escalate
    are looked at by the first tick (which sends nothing they did not owe and sets their next
    moment); wishes past every deadline, escalated, are never read by the minute again."""
    sup = Supervisor(db, liaison.core.c, liaison, rating_reminder_days=0, followup_days=0)
    _, late = await submit(liaison, 700001, "井盖丢了")
    clock.advance(days=16)  # past both deadlines
    await sup.tick()  # escalated twice
    _, fresh = await submit(liaison, 700002, "路灯不亮")
    _, done = await submit(liaison, 700003, "垃圾桶满了")
    await liaison.wishes.act(await liaison.people.identify(person(900001)), done.id,
                             Action.RESOLVE, body="已清运")  # fmt: skip
    async with db.transaction() as conn:  # the database as it was before 0016
        for index in (
            "wishes_remind",
            "wishes_rating_reminder_due",
            "wishes_follow_up_due",
            "wishes_open_due",
        ):
            await conn.execute(f"DROP INDEX {index}")
        for column in ("remind_at", "rating_reminder_due", "follow_up_due"):
            await conn.execute(f"ALTER TABLE wishes DROP COLUMN {column}")
        await conn.execute("DELETE FROM schema_migrations WHERE version=16")
    await db.close()
    await db.connect()  # applies 0016 again
    assert (await remind_at(db, late.id), await remind_at(db, fresh.id)) == (None, "")
    async with db.read() as conn:
        marks = await fetch_all(
            conn,
            "SELECT id, rating_reminder_due, follow_up_due FROM wishes WHERE id IN (?, ?)",
            (late.id, done.id),
        )
    assert sorted(tuple(r) for r in marks) == [(late.id, None, None), (done.id, 1, 1)]
    await clear_outbox(db)
    await sup.tick()
    assert [r for r in await outbox(db) if r["status"] == "pending"] == []  # nothing owed yet
    async with db.read() as conn:
        accept = (await SupervisionRepo(conn).due_dates(fresh.id)).accept
        assert await SupervisionRepo(conn).remind_due(clock.now()) == []
    assert accept is not None
    assert await remind_at(db, fresh.id) == (accept - timedelta(days=1)).isoformat()
    assert await remind_at(db, late.id) is None
    clock.advance(days=1, minutes=1)  # the fresh wish's "soon" moment
    await sup.tick()
    (soon,) = [
        r for r in await outbox(db) if r["status"] == "pending" and "每日督办简报" not in r["text"]
    ]
    assert soon["wish_id"] == fresh.id and "受理" in soon["text"]


async def test_follow_up_marks_keep_a_stopped_residents_question_until_asked(
    liaison: Liaison, db: Database, clock: ManualClock
) -> None:
    """The minute reads the resolved wishes marked as owing a rating reminder or a 回访; the
    mark stays while the resident has stopped the bot (asked once they come back, as before)
    and goes once the question is queued."""
    sup = Supervisor(db, liaison.core.c, liaison, rating_reminder_days=3, followup_days=30)
    resident, wish = await submit(liaison, 700001, "路灯坏了")
    staff = await liaison.people.identify(person(900001))
    await liaison.wishes.act(staff, wish.id, Action.RESOLVE, body="已修好")

    async def marks() -> tuple[int | None, int | None]:
        async with db.read() as conn:
            rows = await fetch_all(
                conn,
                "SELECT rating_reminder_due, follow_up_due FROM wishes WHERE id=?",
                (wish.id,),
            )
        return rows[0][0], rows[0][1]

    assert await marks() == (1, 1)
    async with db.transaction() as conn:
        await Repos(conn).set_stopped(resident.id, True)
    clock.advance(days=3, minutes=1)
    await sup.tick()
    assert await marks() == (1, 1)  # not asked: still owed
    async with db.transaction() as conn:
        await Repos(conn).set_stopped(resident.id, False)
    await clear_outbox(db)
    clock.advance(minutes=1)
    await sup.tick()
    (reminder,) = [r for r in await outbox(db) if r["status"] == "pending"]
    assert reminder["chat"] == "700001" and reminder["wish_id"] == wish.id
    assert await marks() == (None, 1)
    clock.advance(days=27)
    await sup.tick()  # 30 days after the resolution: the 回访
    asked = [r for r in await outbox(db) if "问题是否真正解决了？" in r["text"]]
    assert [r["chat"] for r in asked] == ["700001"]
    assert await marks() == (None, None)
