"""Per-person limits (bot.throttle) and the joining of a split paste (bot.domain.draft)."""

from __future__ import annotations

import pytest

from bot.domain.draft import MAX_TEXT, Draft, Step
from bot.domain.model import InvalidInput
from bot.reports import MAX_PERIOD_DAYS, PeriodTooLong, date_range
from bot.throttle import Kind, PersonLimits, Throttle, Verdict


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_one_notice_then_silence_until_the_notice_interval() -> None:
    clock = Clock()
    limits = PersonLimits(messages_per_minute=6, message_burst=3, notice_seconds=60)
    throttle = Throttle(limits, monotonic=clock)
    verdicts = [throttle.check("7", Kind.MESSAGE) for _ in range(6)]
    assert verdicts == [Verdict.ALLOW] * 3 + [Verdict.NOTICE] + [Verdict.DROP] * 2
    clock.now += 10  # one message's worth (6 a minute) has trickled back
    assert throttle.check("7", Kind.MESSAGE) is Verdict.ALLOW
    assert throttle.check("7", Kind.MESSAGE) is Verdict.DROP  # told already, 10 s ago
    clock.now += 60
    for _ in range(3):
        assert throttle.check("7", Kind.MESSAGE) is Verdict.ALLOW
    assert throttle.check("7", Kind.MESSAGE) is Verdict.NOTICE  # a new flood, a new notice


def test_people_and_kinds_have_their_own_budgets() -> None:
    clock = Clock()
    throttle = Throttle(PersonLimits(message_burst=1, press_burst=1), monotonic=clock)
    assert throttle.check("1", Kind.MESSAGE) is Verdict.ALLOW
    assert throttle.check("1", Kind.MESSAGE) is Verdict.NOTICE
    assert throttle.check("1", Kind.PRESS) is Verdict.ALLOW
    assert throttle.check("2", Kind.MESSAGE) is Verdict.ALLOW


def test_exempt_people_are_asked_about_only_when_over_the_limit() -> None:
    asked: list[str] = []

    def exempt(person: str) -> bool:
        asked.append(person)
        return person == "deputy"

    throttle = Throttle(PersonLimits(message_burst=2), exempt=exempt, monotonic=Clock())
    for _ in range(10):
        assert throttle.check("deputy", Kind.MESSAGE) is Verdict.ALLOW
    assert asked == ["deputy"] * 8
    assert throttle.check("resident", Kind.MESSAGE) is Verdict.ALLOW
    assert throttle.check("resident", Kind.MESSAGE) is Verdict.ALLOW
    assert throttle.check("resident", Kind.MESSAGE) is Verdict.NOTICE


def test_a_rate_of_zero_switches_the_limit_off() -> None:
    throttle = Throttle(PersonLimits(messages_per_minute=0, message_burst=1), monotonic=Clock())
    assert all(throttle.check("1", Kind.MESSAGE) is Verdict.ALLOW for _ in range(100))


def test_parts_of_a_paste_join_and_are_recognised_by_their_timing() -> None:
    draft = Draft(step=Step.TEXT, station_id="huimin", category_id="traffic")
    first = draft.with_text("甲" * 4096, at=100.0)
    assert not draft.continues_paste(100.0)  # the first part starts the description
    assert first.continues_paste(101.5)
    assert not first.continues_paste(103.0)  # a later addition is answered as usual
    second = first.with_text("乙" * 4096, at=101.5)
    assert second.text == "甲" * 4096 + "\n" + "乙" * 4096 and second.step is Step.MORE
    with pytest.raises(InvalidInput, match="description_too_long"):
        second.with_text("丙" * (MAX_TEXT - len(second.text)), at=102.0)
    assert len(second.with_text("丙" * (MAX_TEXT - len(second.text) - 1)).text) == MAX_TEXT


def test_report_periods_are_capped_and_the_calendar_end_is_polite() -> None:
    from datetime import date
    from zoneinfo import ZoneInfo

    tz = ZoneInfo("Asia/Shanghai")
    assert date_range(date(2016, 1, 1), date(2025, 12, 31), tz).label == "2016-01-01~2025-12-31"
    with pytest.raises(PeriodTooLong):
        date_range(date(1000, 1, 1), date(9000, 12, 30), tz)
    with pytest.raises(PeriodTooLong):
        date_range(date(2026, 1, 1), date(9999, 12, 31), tz)
    with pytest.raises(ValueError, match="calendar"):
        date_range(date(9999, 12, 30), date(9999, 12, 31), tz)
    assert MAX_PERIOD_DAYS >= 3653  # ten years with their leap days
