"""Report figures: the pure computations, and /stats and /mywork on a fixture built through the
real use cases with a clock the test moves, checked against figures worked out by hand."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest

from bot.clock import ManualClock
from bot.domain.model import Action, NotAllowed, Rating, Status
from bot.reporting import Reporting
from bot.reports import (
    Deadlines,
    Period,
    WishFacts,
    chart_window,
    date_range,
    lateness,
    median,
    months_between,
    parse_period,
    percentile,
    satisfaction_rate,
)
from bot.services import Liaison
from tests.conftest import ADMIN_ID, TZ, person
from tests.unit.test_services import submit

T0 = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)  # 10:00 on 1 March in Shanghai
START = datetime(2026, 2, 27, 2, 0, tzinfo=UTC)
ZHANG, LI, WANG, ZHAO = 800001, 800002, 800003, 800011
STAFF_HM, STAFF_XY = 900001, 900002


# -- pure ---------------------------------------------------------------------------------------


def test_median_and_nearest_rank_percentile() -> None:
    assert median([]) is None and percentile([], 90) is None
    assert median([5]) == 5 and median([3, 1, 2]) == 2 and median([4, 1, 3, 2]) == 2.5
    values = list(range(1, 11))  # 1..10: p90 is the 9th smallest
    assert percentile(values, 90) == 9 and percentile(values, 100) == 10
    assert percentile([1, 10, 30], 90) == 30 and percentile([7], 50) == 7


def test_satisfaction_counts_satisfied_and_basically_satisfied_over_rated() -> None:
    ratings = [Rating.SATISFIED, Rating.BASICALLY_SATISFIED, Rating.UNSATISFIED, None, None]
    assert satisfaction_rate(ratings) == pytest.approx(200 / 3)
    assert satisfaction_rate([None]) is None


def test_periods_are_calendar_units_in_the_station_time_zone() -> None:
    now = datetime(2026, 3, 31, 17, 0, tzinfo=UTC)  # already 1 April in Shanghai
    month = parse_period("month", now, TZ)
    assert month.label == "2026-04"
    assert month.start == datetime(2026, 3, 31, 16, 0, tzinfo=UTC)
    assert month.end == datetime(2026, 4, 30, 16, 0, tzinfo=UTC)
    quarter = parse_period("quarter", now, TZ)
    assert quarter.label == "2026Q2" and quarter.start == month.start
    assert quarter.end == datetime(2026, 6, 30, 16, 0, tzinfo=UTC)
    year = parse_period("本年", now, TZ)
    assert (year.start, year.end) == (
        datetime(2025, 12, 31, 16, 0, tzinfo=UTC),
        datetime(2026, 12, 31, 16, 0, tzinfo=UTC),
    )
    assert parse_period("2026-02", now, TZ).label == "2026-02"
    assert parse_period("2026q1", now, TZ).label == "2026Q1"
    assert parse_period("2025", now, TZ).label == "2025"
    for bad in ("week", "2026-13", "yesterday", "2026Q5"):
        with pytest.raises(ValueError):
            parse_period(bad, now, TZ)
    span = date_range(date(2026, 1, 1), date(2026, 3, 31), TZ)
    assert months_between(span, TZ) == ["2026-01", "2026-02", "2026-03"]
    with pytest.raises(ValueError):
        date_range(date(2026, 3, 1), date(2026, 2, 1), TZ)


def test_chart_window_shows_six_months_up_to_a_short_period() -> None:
    march = parse_period("2026-03", T0, TZ)
    assert months_between(chart_window(march, TZ), TZ) == [
        "2025-10",
        "2025-11",
        "2025-12",
        "2026-01",
        "2026-02",
        "2026-03",
    ]
    year = parse_period("2026", T0, TZ)
    assert chart_window(year, TZ) == year


def _facts(**kw: object) -> WishFacts:
    base: dict[str, object] = dict(
        id=1,
        station_id="huimin",
        receipt="HM-2026-0001",
        category_id="traffic",
        deputy_id=1,
        status=Status.ASSIGNED,
        created_at=T0,
    )
    base.update(kw)
    return WishFacts(**base)  # type: ignore[arg-type]


def test_lateness_uses_the_default_deadlines_or_the_stored_due_dates() -> None:
    h = timedelta(hours=1)
    # waiting, 47 h old: not late yet; 49 h old: the acceptance deadline has passed
    assert not lateness(_facts(), T0 + 47 * h).late
    assert lateness(_facts(), T0 + 49 * h).accept_late
    # accepted in time, resolved on day 16: resolution late
    late = lateness(
        _facts(status=Status.CLOSED, accepted_at=T0 + h, resolved_at=T0 + 16 * 24 * h),
        T0 + 40 * 24 * h,
    )
    assert (late.accept_late, late.resolve_late) == (False, True)
    # a stored, longer resolve deadline makes the same wish on time
    stored = _facts(
        status=Status.CLOSED,
        accepted_at=T0 + h,
        resolved_at=T0 + 16 * 24 * h,
        resolve_due=T0 + 20 * 24 * h,
    )
    assert not lateness(stored, T0 + 40 * 24 * h).late
    # a withdrawn wish stops the clocks when it is withdrawn
    assert not lateness(_facts(status=Status.WITHDRAWN, closed_at=T0 + h), T0 + 900 * h).late
    # declining counts as the answer to the acceptance deadline
    declined = _facts(status=Status.DECLINED, closed_at=T0 + 50 * h)
    assert lateness(declined, T0 + 900 * h).accept_late
    assert not lateness(declined, T0 + 900 * h, Deadlines(accept_days=3)).late


# -- the fixture --------------------------------------------------------------------------------


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@dataclass
class Scenario:
    ids: dict[str, int]
    receipts: dict[str, str]


async def build_scenario(liaison: Liaison, clock: ManualClock) -> Scenario:
    """Eight wishes at 惠民 and one at 星苑; times in hours after T0 (1 March, 10:00 local).

    W0  env      王  27 Feb, never touched (February: outside the March report)
    W7  housing  李  1 March 01:00 local (still 28 Feb in UTC), never touched
    W1  env      王  0h; accepted +10h, resolved +72h, 满意
    W2  housing  李  24h; accepted +30h, resolved +480h (day 20: late), 基本满意
    W3  housing  李  48h; replied +5h, declined +96h (acceptance late)
    W4  env      王  72h; withdrawn +1h
    W5  env      王  96h; accepted +1h, resolved +48h, 不满意 → reopened
    W6  pension  李  120h; never touched
    X1  housing  赵  at 星苑, 1h, never touched
    The report is made at 600h (26 March).
    """
    ids: dict[str, int] = {}
    receipts: dict[str, str] = {}
    wang = await liaison.people.identify(person(WANG))
    li = await liaison.people.identify(person(LI))

    async def new(key: str, resident: int, category: str, station: str = "huimin") -> None:
        _, wish = await submit(
            liaison, resident, f"{key}：电话13812345678，请帮忙", category=category, station=station
        )
        ids[key], receipts[key] = wish.id, wish.receipt

    def at(hours: float) -> None:
        target = T0 + timedelta(hours=hours)
        assert target >= clock.now()
        clock.advance(seconds=(target - clock.now()).total_seconds())

    async def resident(key: str):  # type: ignore[no-untyped-def]
        return await liaison.people.identify(person(700000 + int(key[1:]) if key[1:].isdigit() else 0))

    await new("W0", 700000, "environment")
    at(-9)
    await new("W7", 700007, "housing")
    at(0)
    await new("W1", 700001, "environment")
    at(1)
    await new("X1", 700011, "housing", station="xingyuan")
    at(10)
    await liaison.wishes.act(wang, ids["W1"], Action.ACCEPT)
    at(24)
    await new("W2", 700002, "housing")
    at(48)
    await new("W3", 700003, "housing")
    at(53)
    await liaison.wishes.act(li, ids["W3"], Action.REPLY, body="收到，我们了解一下")
    at(54)
    await liaison.wishes.act(li, ids["W2"], Action.ACCEPT)
    at(72)
    await liaison.wishes.act(wang, ids["W1"], Action.RESOLVE, body="已处理")
    await new("W4", 700004, "environment")
    at(73)
    await liaison.wishes.act(await resident("W4"), ids["W4"], Action.WITHDRAW)
    at(74)
    await liaison.wishes.act(await resident("W1"), ids["W1"], Action.RATE, rating=Rating.SATISFIED)
    at(96)
    await new("W5", 700005, "environment")
    at(97)
    await liaison.wishes.act(wang, ids["W5"], Action.ACCEPT)
    at(120)
    await new("W6", 700006, "pension")
    at(144)
    await liaison.wishes.act(li, ids["W3"], Action.DECLINE, body="请拨打12345热线")
    await liaison.wishes.act(wang, ids["W5"], Action.RESOLVE, body="已清理")
    at(145)
    await liaison.wishes.act(await resident("W5"), ids["W5"], Action.RATE, rating=Rating.UNSATISFIED)
    at(504)
    await liaison.wishes.act(li, ids["W2"], Action.RESOLVE, body="物业已整改")
    at(505)
    await liaison.wishes.act(
        await resident("W2"), ids["W2"], Action.RATE, rating=Rating.BASICALLY_SATISFIED
    )
    at(600)
    return Scenario(ids, receipts)


@pytest.fixture
async def scenario(liaison: Liaison, clock: ManualClock) -> Scenario:
    return await build_scenario(liaison, clock)


@pytest.fixture
def reporting(liaison: Liaison) -> Reporting:
    return Reporting(liaison)


def march(reporting: Reporting) -> Period:
    return reporting.period("2026-03")


async def test_station_figures_match_the_hand_computed_ones(
    liaison: Liaison, reporting: Reporting, scenario: Scenario
) -> None:
    staff = await liaison.people.identify(person(STAFF_HM))
    result = await reporting.stats(staff, march(reporting))
    assert [s.station.id for s in result.stations] == ["huimin"] and result.county is None
    f = result.stations[0].report.total
    assert (f.received, f.accepted, f.resolved, f.declined, f.withdrawn, f.open) == (
        7,
        3,
        2,
        1,
        1,
        3,
    )
    assert f.resolution_rate == pytest.approx(100 * 2 / 6)
    assert (f.accept_median_h, f.accept_p90_h) == (10, 30)
    assert (f.resolve_median_h, f.resolve_p90_h) == (276, 480)
    assert f.overdue == 5  # W7, W2, W3, W5, W6
    assert (f.finished, f.on_time) == (3, 1) and f.on_time_rate == pytest.approx(100 / 3)
    assert (f.rated, f.satisfied) == (3, 2) and f.satisfaction == pytest.approx(200 / 3)
    assert f.reopened == 1 and f.response_median_h == 7.5

    cats = {r.key: r for r in result.stations[0].report.by_category}
    assert [r.name for r in result.stations[0].report.by_category] == [
        "环境卫生",
        "住房物业",
        "社会保障",
    ]
    assert (cats["environment"].figures.received, cats["environment"].figures.resolved) == (3, 1)
    assert cats["environment"].figures.satisfaction == 50
    assert (cats["housing"].figures.received, cats["housing"].figures.satisfaction) == (3, 100)
    assert cats["pension"].figures.satisfaction is None

    deps = {r.name: r.figures for r in result.stations[0].report.by_deputy}
    assert set(deps) == {"王代表", "李代表"}
    assert (deps["王代表"].received, deps["王代表"].overdue, deps["王代表"].on_time_rate) == (
        3,
        1,
        100,
    )
    assert (deps["李代表"].received, deps["李代表"].overdue, deps["李代表"].on_time_rate) == (
        4,
        4,
        0,
    )
    assert deps["李代表"].response_median_h == 17.5

    # the counts by status of the old /stats are still there, for all time
    counts = result.stations[0].counts
    assert counts.total == 8 and counts.by_status["declined"] == 1

    # months: the chart's six months end in March; February holds W0 only
    months = {r.key: r.figures for r in result.chart.by_month}
    assert list(months)[-2:] == ["2026-02", "2026-03"]
    assert months["2026-02"].received == 1 and months["2026-03"].received == 7


async def test_february_and_the_year(
    liaison: Liaison, reporting: Reporting, scenario: Scenario
) -> None:
    staff = await liaison.people.identify(person(STAFF_HM))
    feb = (await reporting.stats(staff, reporting.period("2026-02"))).stations[0].report.total
    assert (feb.received, feb.overdue, feb.open) == (1, 1, 1)
    year = (await reporting.stats(staff, reporting.period("2026"))).stations[0].report
    assert year.total.received == 8
    assert [(r.key, r.figures.received) for r in year.by_month][:4] == [
        ("2026-01", 0),
        ("2026-02", 1),
        ("2026-03", 7),
        ("2026-04", 0),
    ]


async def test_admin_sees_every_station_and_the_county(
    liaison: Liaison, reporting: Reporting, scenario: Scenario
) -> None:
    admin = await liaison.people.identify(person(ADMIN_ID))
    result = await reporting.stats(admin, march(reporting))
    assert [s.station.id for s in result.stations] == ["huimin", "xingyuan"]
    assert result.stations[1].report.total.received == 1
    assert result.county is not None and result.county.total.received == 8
    assert result.chart.title == "全县（区）合计"
    other = await liaison.people.identify(person(STAFF_XY))
    only = await reporting.stats(other, march(reporting))
    assert [s.station.id for s in only.stations] == ["xingyuan"]


async def test_residents_and_deputies_get_no_station_statistics(
    liaison: Liaison, reporting: Reporting, scenario: Scenario
) -> None:
    for tg in (700001, WANG):
        user = await liaison.people.identify(person(tg))
        with pytest.raises(NotAllowed):
            await reporting.stats(user, march(reporting))


async def test_mywork_is_the_deputys_own_summary(
    liaison: Liaison, reporting: Reporting, scenario: Scenario
) -> None:
    wang = await liaison.people.identify(person(WANG))
    [work] = await reporting.my_work(wang, march(reporting))
    s = work.summary
    assert (s.name, s.handled, work.station.id) == ("王代表", 3, "huimin")
    assert s.figures.on_time_rate == 100 and s.figures.response_median_h == 5.5
    assert s.figures.satisfaction == 50 and s.figures.reopened == 1
    li = await liaison.people.identify(person(LI))
    [work] = await reporting.my_work(li, march(reporting))
    assert (work.summary.handled, work.summary.figures.on_time_rate) == (4, 0)
    for tg in (700001, STAFF_HM):
        user = await liaison.people.identify(person(tg))
        with pytest.raises(NotAllowed):
            await reporting.my_work(user, march(reporting))


async def test_stored_due_dates_take_precedence(
    liaison: Liaison, reporting: Reporting, scenario: Scenario
) -> None:
    """When the supervision feature stores due dates on a wish, the figures use them."""
    async with liaison.core.db.transaction() as conn:
        # W2 was resolved on day 20; give it a 25-day deadline
        await conn.execute(
            "UPDATE wishes SET resolve_due_at=?, accept_due_at=? WHERE id=?",
            (
                (T0 + timedelta(days=26)).isoformat(),
                (T0 + timedelta(days=3)).isoformat(),
                scenario.ids["W2"],
            ),
        )
    staff = await liaison.people.identify(person(STAFF_HM))
    f = (await reporting.stats(staff, march(reporting))).stations[0].report.total
    assert f.overdue == 4  # W2 is on time now
    deps = {
        r.name: r.figures
        for r in (await reporting.stats(staff, march(reporting))).stations[0].report.by_deputy
    }
    assert deps["李代表"].on_time == 1
