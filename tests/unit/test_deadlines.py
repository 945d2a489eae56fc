"""The pure deadline policy: calendar and working days, due dates per event, reminders owed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.domain.deadlines import (
    STAFF_TARGET,
    DeadlinePolicy,
    DueDates,
    ReminderKind,
    add_days,
    digest_day,
    due_after,
    first_reminder_at,
    follow_up_after,
    is_overdue,
    next_due,
    next_reminder_at,
    reminders_due,
)
from bot.domain.model import Action, Event, Role, Status
from bot.i18n import Catalog
from bot.stations_file import StationsFileError, parse_stations_yaml
from tests.conftest import STATIONS_YAML

TZ = ZoneInfo("Asia/Shanghai")


def local(y: int, m: int, d: int, h: int = 10, minute: int = 0) -> datetime:
    return datetime(y, m, d, h, minute, tzinfo=TZ).astimezone(UTC)


def event(action: Action, at: datetime, to: Status | None = None) -> Event:
    return Event(action, Role.SYSTEM, None, None, to, at)


# 2026-03-06 is a Friday, 03-07 Saturday, 03-08 Sunday.


def test_calendar_days_keep_the_local_time_and_may_end_on_a_weekend() -> None:
    thursday = local(2026, 3, 5)
    assert add_days(thursday, 2, TZ) == local(2026, 3, 7)  # Saturday: calendar days count
    assert add_days(thursday, 15, TZ) == local(2026, 3, 20)
    assert add_days(thursday, 0, TZ) == thursday
    assert add_days(thursday, 2, TZ).tzinfo == UTC  # stored in the clock's zone


@pytest.mark.parametrize(
    ("start", "days", "due"),
    [
        (local(2026, 3, 5), 2, local(2026, 3, 9)),  # Thu + 2 working days: Fri, Mon
        (local(2026, 3, 6), 2, local(2026, 3, 10)),  # Fri: Mon, Tue
        (local(2026, 3, 7), 1, local(2026, 3, 9)),  # Sat: Mon
        (local(2026, 3, 8), 2, local(2026, 3, 10)),  # Sun: Mon, Tue
        (local(2026, 3, 2), 15, local(2026, 3, 23)),  # Mon + 15 working days: three weeks
        (local(2026, 3, 6, 23, 30), 1, local(2026, 3, 9, 23, 30)),  # late Friday: Monday
    ],
)
def test_working_days_skip_saturday_and_sunday(start: datetime, days: int, due: datetime) -> None:
    assert add_days(start, days, TZ, working_days_only=True) == due
    assert due.astimezone(TZ).weekday() < 5


def test_weekday_is_judged_in_the_station_time_zone() -> None:
    # Friday 07:00 in Shanghai is still Thursday in UTC: one working day is Monday 07:00.
    friday_morning = local(2026, 3, 6, 7)
    assert friday_morning.weekday() == 3  # Thursday in UTC
    assert add_days(friday_morning, 1, TZ, working_days_only=True) == local(2026, 3, 9, 7)


def test_negative_days_are_refused() -> None:
    with pytest.raises(ValueError):
        add_days(local(2026, 3, 5), -1, TZ)


def test_due_dates_per_event() -> None:
    policy = DeadlinePolicy(accept_days=2, resolve_days=15)
    t0 = local(2026, 3, 5)
    dues = due_after(event(Action.SUBMIT, t0, Status.SUBMITTED), DueDates(), policy, TZ)
    assert dues == DueDates(local(2026, 3, 7), local(2026, 3, 20))
    # A transfer gives the new deputy the full acceptance time; the promise to resolve stays.
    t1 = local(2026, 3, 10)
    moved = due_after(event(Action.TRANSFER, t1, Status.ASSIGNED), dues, policy, TZ)
    assert moved == DueDates(local(2026, 3, 12), local(2026, 3, 20))
    # ... but never before the new acceptance deadline.
    late = due_after(event(Action.ASSIGN, local(2026, 3, 19), Status.ASSIGNED), dues, policy, TZ)
    assert late == DueDates(local(2026, 3, 21), local(2026, 3, 21))
    # Accepting, replying, resolving do not move them; reopening starts a new round.
    assert due_after(event(Action.ACCEPT, t1, Status.IN_PROGRESS), dues, policy, TZ) is None
    assert due_after(event(Action.RESOLVE, t1, Status.RESOLVED), dues, policy, TZ) is None
    t2 = local(2026, 4, 1)
    for action in (Action.REOPEN, Action.RATE):
        again = due_after(event(action, t2, Status.REOPENED), dues, policy, TZ)
        assert again == DueDates(local(2026, 4, 3), local(2026, 4, 16))
    assert due_after(event(Action.RATE, t2, Status.CLOSED), dues, policy, TZ) is None
    # A wish from before this feature gets its resolve deadline when accepted.
    legacy = due_after(event(Action.ACCEPT, t1, Status.IN_PROGRESS), DueDates(), policy, TZ)
    assert legacy == DueDates(None, local(2026, 3, 25))


def test_working_day_policy_applies_to_due_dates() -> None:
    policy = DeadlinePolicy(accept_days=2, resolve_days=5, working_days_only=True)
    friday = local(2026, 3, 6)
    dues = due_after(event(Action.SUBMIT, friday, Status.SUBMITTED), DueDates(), policy, TZ)
    assert dues == DueDates(local(2026, 3, 10), local(2026, 3, 13))


def test_reminders_owed_around_each_deadline() -> None:
    dues = DueDates(local(2026, 3, 7), local(2026, 3, 20))
    deputy = 7

    def owed(status: Status, now: datetime, who: int | None = deputy) -> set:
        return {(r.kind, r.target) for r in reminders_due(status, who, dues, now)}

    assert owed(Status.ASSIGNED, local(2026, 3, 5)) == set()
    assert owed(Status.ASSIGNED, local(2026, 3, 6, 10)) == {(ReminderKind.ACCEPT_SOON, deputy)}
    assert owed(Status.ASSIGNED, local(2026, 3, 7)) == {
        (ReminderKind.ACCEPT_OVERDUE, deputy),
        (ReminderKind.ESCALATE_ACCEPT, STAFF_TARGET),
    }
    # accepted: the acceptance deadline no longer matters
    assert owed(Status.IN_PROGRESS, local(2026, 3, 8)) == set()
    assert owed(Status.IN_PROGRESS, local(2026, 3, 19, 11)) == {(ReminderKind.RESOLVE_SOON, deputy)}
    assert owed(Status.IN_PROGRESS, local(2026, 3, 21)) == {
        (ReminderKind.RESOLVE_OVERDUE, deputy),
        (ReminderKind.ESCALATE_RESOLVE, STAFF_TARGET),
    }
    # nobody assigned: only the staff are told, when it is late
    assert owed(Status.SUBMITTED, local(2026, 3, 6, 12), None) == set()
    assert owed(Status.SUBMITTED, local(2026, 3, 7), None) == {
        (ReminderKind.ESCALATE_ACCEPT, STAFF_TARGET)
    }
    for done in (Status.RESOLVED, Status.CLOSED, Status.DECLINED, Status.WITHDRAWN):
        assert owed(done, local(2026, 5, 1)) == set()


def test_reminder_keys_name_the_deadline() -> None:
    dues = DueDates(local(2026, 3, 7), None)
    (a,) = [
        r for r in reminders_due(Status.ASSIGNED, 3, dues, local(2026, 3, 6, 12)) if r.target == 3
    ]
    assert a.key == ("accept_soon", dues.accept.isoformat(), 3)  # type: ignore[union-attr]


def test_overdue_and_next_deadline() -> None:
    dues = DueDates(local(2026, 3, 7), local(2026, 3, 20))
    assert not is_overdue(Status.ASSIGNED, dues, local(2026, 3, 6))
    assert is_overdue(Status.ASSIGNED, dues, local(2026, 3, 8))
    assert not is_overdue(Status.IN_PROGRESS, dues, local(2026, 3, 8))
    assert is_overdue(Status.IN_PROGRESS, dues, local(2026, 3, 21))
    assert not is_overdue(Status.RESOLVED, dues, local(2026, 3, 21))
    assert next_due(Status.ASSIGNED, dues) == ("accept", dues.accept)
    assert next_due(Status.IN_PROGRESS, dues) == ("resolve", dues.resolve)
    assert next_due(Status.CLOSED, dues) is None


def test_follow_up_and_digest_timing() -> None:
    resolved = local(2026, 3, 5)
    assert not follow_up_after(resolved, 3, resolved + timedelta(days=2, hours=23))
    assert follow_up_after(resolved, 3, resolved + timedelta(days=3))
    assert not follow_up_after(resolved, 0, resolved + timedelta(days=300))  # 0 disables
    assert not follow_up_after(None, 3, resolved)
    assert digest_day(local(2026, 3, 5, 8, 59), TZ, 9) is None
    assert digest_day(local(2026, 3, 5, 9), TZ, 9) == local(2026, 3, 5).astimezone(TZ).date()
    # 01:00 UTC is 09:00 in Shanghai: the local day counts
    assert str(digest_day(datetime(2026, 3, 5, 1, tzinfo=UTC), TZ, 9)) == "2026-03-05"


# -- the stations file -----------------------------------------------------------------------


def test_deadlines_in_the_stations_file_override_by_level() -> None:
    text = "deadlines: {accept_days: 3, resolve_days: 20}\n" + STATIONS_YAML.replace(
        "  - {id: environment, name: 环境卫生}",
        "  - {id: environment, name: 环境卫生, deadlines: {resolve_days: 10}}",
    ).replace(
        "    code: XY\n",
        "    code: XY\n    working_days_only: true\n"
        "    deadlines:\n      accept_days: 1\n"
        "      categories: {environment: {resolve_days: 5}}\n",
    )
    config = parse_stations_yaml(text)
    assert config.deadline_policy("huimin", "traffic") == DeadlinePolicy(3, 20, False)
    assert config.deadline_policy("huimin", "environment") == DeadlinePolicy(3, 10, False)
    assert config.deadline_policy("xingyuan", "traffic") == DeadlinePolicy(1, 20, True)
    assert config.deadline_policy("xingyuan", "environment") == DeadlinePolicy(1, 5, True)
    policies = config.deadline_policies()
    assert policies[("xingyuan", "")] == DeadlinePolicy(1, 20, True)
    assert len(policies) == 2 * (1 + len(config.categories))


def test_defaults_without_any_deadlines() -> None:
    config = parse_stations_yaml(STATIONS_YAML)
    assert config.deadline_policy("huimin", "traffic") == DeadlinePolicy(2, 15, False)


@pytest.mark.parametrize(
    ("extra", "where"),
    [
        (
            "    deadlines: {categories: {parking: {accept_days: 1}}}\n",
            ":22: stations #2 › deadlines › categories › parking: unknown category",
        ),
        ("    deadlines: {accept_days: 20, resolve_days: 10}\n", "accept_days (20) is more"),
        ("    deadlines: {accept_days: 0}\n", ":22: stations #2 › deadlines › accept_days"),
        ("    deadlines: {resolve_days: x}\n", "stations #2 › deadlines › resolve_days"),
        ("    working_days_only: sometimes\n", ":22: stations #2 › working_days_only"),
        ("    deadlines: {accept: 1}\n", "stations #2 › deadlines › accept"),
    ],
)
def test_bad_deadlines_are_refused_with_their_place(extra: str, where: str) -> None:
    text = STATIONS_YAML.replace("    code: XY\n", "    code: XY\n" + extra)
    with pytest.raises(StationsFileError) as info:
        parse_stations_yaml(text, "stations.yaml", Catalog("en"))
    assert where in str(info.value)


def test_when_the_scheduler_looks_at_a_wish_again() -> None:
    """`remind_at` (0016): never later than a reminder `reminders_due` would owe."""
    dues = DueDates(accept=local(2026, 3, 5), resolve=local(2026, 3, 20))
    # after a change: the earliest deadline less the lead; nothing for a wish no longer open
    assert first_reminder_at(Status.ASSIGNED, dues) == local(2026, 3, 4)
    assert first_reminder_at(Status.RESOLVED, dues) is None
    assert first_reminder_at(Status.SUBMITTED, DueDates()) is None
    # before the "soon" moment: that moment; after it (the reminder is queued): the deadline
    assert next_reminder_at(Status.ASSIGNED, dues, local(2026, 3, 2)) == local(2026, 3, 4)
    assert next_reminder_at(Status.ASSIGNED, dues, local(2026, 3, 4, 12)) == local(2026, 3, 5)
    # past the acceptance deadline (escalated): the resolution deadline's "soon" moment
    assert next_reminder_at(Status.ASSIGNED, dues, local(2026, 3, 6)) == local(2026, 3, 19)
    # accepted: the acceptance deadline no longer counts
    assert next_reminder_at(Status.IN_PROGRESS, dues, local(2026, 3, 2)) == local(2026, 3, 19)
    # every deadline behind: nothing more
    assert next_reminder_at(Status.ASSIGNED, dues, local(2026, 3, 21)) is None
    assert next_reminder_at(Status.CLOSED, dues, local(2026, 3, 2)) is None
    # whatever `reminders_due` owes at a moment is owed no earlier than the next look
    for hours in range(0, 24 * 20, 7):
        now = local(2026, 3, 1) + timedelta(hours=hours)
        later = next_reminder_at(Status.ASSIGNED, dues, now)
        for owed_at in (now + timedelta(hours=h) for h in range(1, 24 * 20, 5)):
            fresh = {
                (r.kind, r.due_at) for r in reminders_due(Status.ASSIGNED, 7, dues, owed_at)
            } - {(r.kind, r.due_at) for r in reminders_due(Status.ASSIGNED, 7, dues, now)}
            if fresh:
                assert later is not None and later <= owed_at, (now, owed_at, fresh)
