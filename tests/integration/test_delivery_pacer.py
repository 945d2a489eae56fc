"""The pacer on its own, with a hand-driven clock: budgets, priorities and 429 pauses."""

from __future__ import annotations

from bot.pacing import INTERACTIVE, Limits, Pacer

BROADCAST = 9


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def drain(pacer: Pacer, priority: int) -> int:
    """Take global tokens at one instant until the pacer says wait; how many were taken."""
    taken = 0
    while pacer.global_delay(priority) == 0:
        pacer._global.tokens -= 1
        taken += 1
    return taken


def test_outbox_traffic_leaves_a_reserve_that_only_replies_may_take() -> None:
    clock = Clock()
    pacer = Pacer(Limits(global_per_second=300), clock)
    sent = drain(pacer, BROADCAST)
    assert 10 <= sent <= 20  # a twentieth of a second's budget, not a whole second's
    assert pacer.global_delay(BROADCAST) > 0
    assert drain(pacer, INTERACTIVE) == 3  # the reserve
    clock.now += 1.0
    assert drain(pacer, BROADCAST) == sent  # refilled, never beyond the burst


def test_the_global_rate_runs_just_under_the_limit() -> None:
    clock = Clock()
    pacer = Pacer(Limits(global_per_second=30), clock)
    total = drain(pacer, BROADCAST)
    for _ in range(1000):  # ten seconds in steps of 10 ms
        clock.now += 0.01
        total += drain(pacer, BROADCAST)
    assert 0.95 * 300 <= total - 4 <= 0.98 * 300


def test_a_429_pauses_that_chat_only() -> None:
    clock = Clock()
    pacer = Pacer(Limits(), clock)
    pacer.pause_chat("42", 5)
    assert 4.9 < pacer.chat_delay("42", group=False) <= 5
    assert pacer.chat_delay("43", group=False) == 0
    assert pacer.global_delay(INTERACTIVE) == 0
    clock.now += 5
    assert pacer.chat_delay("42", group=False) == 0


def test_a_global_429_pauses_everything() -> None:
    clock = Clock()
    pacer = Pacer(Limits(), clock)
    pacer.pause_all(2)
    assert pacer.global_delay(INTERACTIVE) > 1.9
    clock.now += 2.5
    assert pacer.global_delay(INTERACTIVE) == 0


def test_per_chat_and_per_group_budgets() -> None:
    clock = Clock()
    pacer = Pacer(Limits(per_chat_per_second=1, per_chat_burst=3, group_per_minute=20), clock)
    for _ in range(3):
        assert pacer.chat_delay("7", group=False) == 0
        pacer.take_chat("7", group=False)
    assert 1.0 <= pacer.chat_delay("7", group=False) < 1.1  # then one a second
    for _ in range(3):
        pacer.take_chat("-1001", group=True)
    assert 3.0 <= pacer.chat_delay("-1001", group=True) < 3.2  # 20 a minute
