"""The wish lifecycle: transitions, roles, and the timeline every change leaves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.model import (
    FINAL_STATUSES,
    OPEN_STATUSES,
    RULES,
    Action,
    Actor,
    DomainError,
    InvalidInput,
    InvalidTransition,
    NotAllowed,
    Rating,
    Role,
    Status,
    Wish,
)

T0 = datetime(2026, 5, 1, 1, 0, tzinfo=UTC)
RESIDENT = Actor(user_id=1)
DEPUTY_A = Actor(user_id=2, deputy_ids=frozenset({10}))
DEPUTY_B = Actor(user_id=3, deputy_ids=frozenset({11}))
STAFF = Actor(user_id=4, staff_of=frozenset({"huimin"}))
OTHER_STAFF = Actor(user_id=5, staff_of=frozenset({"xingyuan"}))
ADMIN = Actor(user_id=6, is_admin=True)
STRANGER = Actor(user_id=7)
SYSTEM = Actor.system()
ACTORS = [RESIDENT, DEPUTY_A, DEPUTY_B, STAFF, OTHER_STAFF, ADMIN, STRANGER, SYSTEM]


def wish(**changes: object) -> Wish:
    base = Wish(
        id=1,
        station_id="huimin",
        receipt="HM-2026-0001",
        resident_id=1,
        category_id="traffic",
        text="路灯坏了三天",
        status=Status.SUBMITTED,
        created_at=T0,
    )
    return Wish(**{**base.__dict__, **changes})  # type: ignore[arg-type]


def test_happy_path_records_every_step() -> None:
    w = wish()
    w, e1 = w.apply(Action.ASSIGN, SYSTEM, T0, deputy_id=10)
    w, e2 = w.apply(Action.ACCEPT, DEPUTY_A, T0 + timedelta(hours=1))
    w, e3 = w.apply(Action.REPLY, DEPUTY_A, T0 + timedelta(hours=2), body="明天去看")
    w, e4 = w.apply(Action.RESOLVE, DEPUTY_A, T0 + timedelta(days=2), body="已修好")
    w, e5 = w.apply(Action.RATE, RESIDENT, T0 + timedelta(days=3), rating=Rating.SATISFIED)
    assert w.status is Status.CLOSED
    assert [e.action for e in (e1, e2, e3, e4, e5)] == [
        Action.ASSIGN,
        Action.ACCEPT,
        Action.REPLY,
        Action.RESOLVE,
        Action.RATE,
    ]
    assert e1.role is Role.SYSTEM and e2.role is Role.DEPUTY and e5.role is Role.RESIDENT
    assert e3.to_status is None  # a reply changes no state but is on the timeline
    assert w.accepted_at == T0 + timedelta(hours=1)
    assert w.result == "已修好" and w.rating is Rating.SATISFIED and w.closed_at is not None


def test_unsatisfied_rating_reopens_to_the_same_deputy() -> None:
    w = wish(status=Status.RESOLVED, deputy_id=10, accepted_at=T0, resolved_at=T0, result="x")
    w, event = w.apply(Action.RATE, RESIDENT, T0, rating=Rating.UNSATISFIED)
    assert w.status is Status.REOPENED and w.deputy_id == 10 and w.reopen_count == 1
    assert event.to_status is Status.REOPENED
    w, _ = w.apply(Action.ACCEPT, DEPUTY_A, T0)
    assert w.status is Status.IN_PROGRESS


def test_only_the_assigned_deputy_acts_as_deputy() -> None:
    w = wish(status=Status.ASSIGNED, deputy_id=10)
    with pytest.raises(NotAllowed):
        w.apply(Action.ACCEPT, DEPUTY_B, T0)
    with pytest.raises(NotAllowed):
        w.apply(Action.ACCEPT, OTHER_STAFF, T0)
    with pytest.raises(NotAllowed):
        w.apply(Action.WITHDRAW, STRANGER, T0)
    # staff of the station and county admins may act on any wish of the station
    assert w.apply(Action.ACCEPT, STAFF, T0)[1].role is Role.STAFF
    assert w.apply(Action.ACCEPT, ADMIN, T0)[1].role is Role.STAFF


def test_visibility_is_limited_to_the_parties() -> None:
    w = wish(status=Status.ASSIGNED, deputy_id=10)
    assert w.can_view(RESIDENT) and w.can_view(DEPUTY_A) and w.can_view(STAFF) and w.can_view(ADMIN)
    assert not w.can_view(DEPUTY_B) and not w.can_view(OTHER_STAFF) and not w.can_view(STRANGER)


def test_stale_actions_are_refused() -> None:
    w = wish(status=Status.WITHDRAWN, deputy_id=10)
    with pytest.raises(InvalidTransition):
        w.apply(Action.RESOLVE, DEPUTY_A, T0, body="done")
    w = wish(status=Status.CLOSED, deputy_id=10)
    with pytest.raises(InvalidTransition):
        w.apply(Action.RATE, RESIDENT, T0, rating=Rating.SATISFIED)


def test_bodies_and_targets_are_required() -> None:
    w = wish(status=Status.IN_PROGRESS, deputy_id=10)
    with pytest.raises(InvalidInput):
        w.apply(Action.RESOLVE, DEPUTY_A, T0, body="   ")
    with pytest.raises(InvalidInput):
        w.apply(Action.TRANSFER, DEPUTY_A, T0)
    with pytest.raises(InvalidInput):
        w.apply(Action.TRANSFER, DEPUTY_A, T0, deputy_id=10)


def test_resolving_without_accepting_sets_acceptance_time() -> None:
    w = wish(status=Status.ASSIGNED, deputy_id=10)
    w, _ = w.apply(Action.RESOLVE, DEPUTY_A, T0 + timedelta(days=1), body="已处理")
    assert w.accepted_at == w.resolved_at == T0 + timedelta(days=1)


# -- property: no sequence of actions by any role reaches an invalid state ---------------------

steps = st.lists(
    st.tuples(
        st.sampled_from([a for a in Action if a is not Action.SUBMIT]),
        st.sampled_from(ACTORS),
        st.sampled_from([None, 10, 11]),
        st.sampled_from(list(Rating)),
        st.sampled_from(["", "好的", "  "]),
    ),
    max_size=40,
)


@settings(max_examples=400, deadline=None)
@given(steps)
def test_no_sequence_reaches_an_invalid_state_or_skips_the_timeline(seq: list) -> None:
    w = wish()
    timeline = []
    now = T0
    for action, actor, deputy_id, rating, body in seq:
        now += timedelta(hours=1)
        before = w
        try:
            w, event = w.apply(action, actor, now, body=body, deputy_id=deputy_id, rating=rating)
        except DomainError:
            assert w == before  # a refused action changes nothing
            continue
        timeline.append(event)
        rule = RULES[action]
        # the change was allowed: right source state, a permitted role
        assert before.status in rule.sources
        assert event.role in rule.roles and event.role in before.roles_of(actor)
        assert event.from_status is before.status
        # every state change is on the timeline, and only changes listed in the rules happen
        if w.status is not before.status:
            assert event.to_status is w.status
        else:
            assert event.to_status in (None, w.status)
        # invariants of the resulting state
        if w.status in (Status.ASSIGNED, Status.IN_PROGRESS, Status.RESOLVED):
            assert w.deputy_id is not None
        if w.status is Status.RESOLVED:
            assert w.result and w.resolved_at and w.accepted_at
        if w.status in FINAL_STATUSES:
            assert w.closed_at is not None
        if w.status in OPEN_STATUSES:
            assert w.closed_at is None or (w.status is Status.REOPENED and w.closed_at is None)
        assert w.reopen_count == sum(1 for e in timeline if e.to_status is Status.REOPENED)
    # final states are final except the documented reopen of a closed wish
    for action in Action:
        if action is Action.SUBMIT or w.status not in (Status.DECLINED, Status.WITHDRAWN):
            continue
        for actor in ACTORS:
            assert not w.allowed(action, actor)
