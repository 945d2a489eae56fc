"""Wish lifecycle: states, actions, who may do what, and the timeline each change leaves.

A wish (心愿) is a resident's request to their liaison station. Its state only moves through
`Wish.apply`, which checks the transition table and the actor's role and returns the event to
record, so no code path can change a state without leaving a timeline entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum


class Status(StrEnum):
    SUBMITTED = "submitted"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    CLOSED = "closed"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"
    REOPENED = "reopened"


OPEN_STATUSES = frozenset({Status.SUBMITTED, Status.ASSIGNED, Status.IN_PROGRESS, Status.REOPENED})
FINAL_STATUSES = frozenset({Status.CLOSED, Status.DECLINED, Status.WITHDRAWN})


class Role(StrEnum):
    RESIDENT = "resident"  # the wish's own resident
    DEPUTY = "deputy"  # the deputy the wish is assigned to
    STAFF = "staff"  # staff of the wish's station, or a county admin
    SYSTEM = "system"  # routing, timers


class Action(StrEnum):
    SUBMIT = "submit"
    ASSIGN = "assign"
    ACCEPT = "accept"
    REPLY = "reply"
    SUPPLEMENT = "supplement"
    TRANSFER = "transfer"
    RESOLVE = "resolve"
    DECLINE = "decline"
    WITHDRAW = "withdraw"
    RATE = "rate"
    REOPEN = "reopen"
    CLOSE = "close"


class Rating(StrEnum):
    SATISFIED = "satisfied"  # 满意
    BASICALLY_SATISFIED = "basically_satisfied"  # 基本满意
    UNSATISFIED = "unsatisfied"  # 不满意


@dataclass(frozen=True)
class Rule:
    sources: frozenset[Status]
    target: Status | None  # None: the state does not change (a message on the timeline)
    roles: frozenset[Role]


_OPEN = OPEN_STATUSES
_WORKING = frozenset({Status.ASSIGNED, Status.IN_PROGRESS, Status.REOPENED})
_HANDLERS = frozenset({Role.DEPUTY, Role.STAFF})

RULES: dict[Action, Rule] = {
    Action.ASSIGN: Rule(
        frozenset({Status.SUBMITTED}), Status.ASSIGNED, frozenset({Role.STAFF, Role.SYSTEM})
    ),
    Action.ACCEPT: Rule(
        frozenset({Status.ASSIGNED, Status.REOPENED}), Status.IN_PROGRESS, _HANDLERS
    ),
    Action.REPLY: Rule(_WORKING, None, _HANDLERS),
    Action.SUPPLEMENT: Rule(_OPEN, None, frozenset({Role.RESIDENT})),
    Action.TRANSFER: Rule(_WORKING, Status.ASSIGNED, _HANDLERS),
    # Resolving straight from "assigned" is allowed: a deputy on a phone should not need two
    # taps for a quick fix. The acceptance time is then the resolution time.
    Action.RESOLVE: Rule(_WORKING, Status.RESOLVED, _HANDLERS),
    Action.DECLINE: Rule(_OPEN, Status.DECLINED, _HANDLERS),
    Action.WITHDRAW: Rule(_OPEN, Status.WITHDRAWN, frozenset({Role.RESIDENT})),
    Action.RATE: Rule(frozenset({Status.RESOLVED}), Status.CLOSED, frozenset({Role.RESIDENT})),
    Action.REOPEN: Rule(
        frozenset({Status.RESOLVED, Status.CLOSED}),
        Status.REOPENED,
        frozenset({Role.RESIDENT, Role.STAFF}),
    ),
    Action.CLOSE: Rule(frozenset({Status.RESOLVED}), Status.CLOSED, frozenset({Role.SYSTEM})),
}


class DomainError(Exception):
    """A request the domain refuses; `code` selects the polite message shown to the person."""

    code = "error"

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail or self.code)
        self.detail = detail


class NotAllowed(DomainError):
    code = "not_allowed"


class InvalidTransition(DomainError):
    code = "invalid_transition"


class InvalidInput(DomainError):
    code = "invalid_input"


@dataclass(frozen=True)
class Actor:
    """Who is acting, with the memberships the server looked up (never taken from the client)."""

    user_id: int | None  # None for the system
    staff_of: frozenset[str] = frozenset()
    is_admin: bool = False
    deputy_ids: frozenset[int] = frozenset()  # deputy records this user holds, across stations

    @classmethod
    def system(cls) -> Actor:
        return cls(user_id=None)

    def is_staff_of(self, station_id: str) -> bool:
        return self.is_admin or station_id in self.staff_of


@dataclass(frozen=True)
class Event:
    """One timeline entry (民情日记): every transition and every relayed message."""

    action: Action
    role: Role
    actor_user_id: int | None
    from_status: Status | None
    to_status: Status | None
    at: datetime
    body: str = ""
    deputy_id: int | None = None  # the deputy concerned (assignee after an assign/transfer)


@dataclass(frozen=True)
class Wish:
    id: int
    station_id: str
    receipt: str
    resident_id: int
    category_id: str
    text: str
    status: Status
    created_at: datetime
    public: bool = False
    phone: str | None = None
    deputy_id: int | None = None
    accepted_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    result: str | None = None
    decline_reason: str | None = None
    rating: Rating | None = None
    reopen_count: int = 0
    extra: dict[str, object] = field(default_factory=dict, compare=False)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def roles_of(self, actor: Actor) -> frozenset[Role]:
        if actor.user_id is None:
            return frozenset({Role.SYSTEM})
        roles: set[Role] = set()
        if actor.user_id == self.resident_id:
            roles.add(Role.RESIDENT)
        if self.deputy_id is not None and self.deputy_id in actor.deputy_ids:
            roles.add(Role.DEPUTY)
        if actor.is_staff_of(self.station_id):
            roles.add(Role.STAFF)
        return frozenset(roles)

    def can_view(self, actor: Actor) -> bool:
        return bool(self.roles_of(actor))

    def allowed(self, action: Action, actor: Actor) -> bool:
        rule = RULES[action]
        return self.status in rule.sources and bool(self.roles_of(actor) & rule.roles)

    def apply(
        self,
        action: Action,
        actor: Actor,
        at: datetime,
        *,
        body: str = "",
        deputy_id: int | None = None,
        rating: Rating | None = None,
    ) -> tuple[Wish, Event]:
        """Return the wish after `action` and the event to record, or raise a DomainError."""
        if action is Action.SUBMIT:
            raise InvalidTransition("a wish is submitted by creating it")
        rule = RULES[action]
        roles = self.roles_of(actor) & rule.roles
        if not roles:
            raise NotAllowed(f"{action} on {self.receipt}")
        if self.status not in rule.sources:
            raise InvalidTransition(f"{action} from {self.status}")
        # The most specific role names the actor on the timeline: a deputy who is also staff
        # acted as the deputy.
        role = next(r for r in (Role.RESIDENT, Role.DEPUTY, Role.STAFF, Role.SYSTEM) if r in roles)
        target = rule.target
        changes: dict[str, object] = {}
        if action in (Action.ASSIGN, Action.TRANSFER):
            if deputy_id is None:
                raise InvalidInput("no_deputy")
            if deputy_id == self.deputy_id:
                raise InvalidInput("same_deputy")
            changes["deputy_id"] = deputy_id
        elif action is Action.RESOLVE:
            _require_text(body)
            changes["result"] = body
            changes["resolved_at"] = at
            if self.accepted_at is None:
                changes["accepted_at"] = at
        elif action is Action.DECLINE:
            _require_text(body)
            changes["decline_reason"] = body
            changes["closed_at"] = at
        elif action in (Action.REPLY, Action.SUPPLEMENT):
            _require_text(body)
        elif action is Action.ACCEPT:
            if self.accepted_at is None:
                changes["accepted_at"] = at
        elif action is Action.WITHDRAW:
            changes["closed_at"] = at
        elif action is Action.RATE:
            if rating is None:
                raise InvalidInput("no_rating")
            changes["rating"] = rating
            body = rating.value  # the timeline shows what the resident chose
            if rating is Rating.UNSATISFIED:
                target = Status.REOPENED
            else:
                changes["closed_at"] = at
        elif action is Action.CLOSE:
            changes["closed_at"] = at
        if target is Status.REOPENED:
            changes["reopen_count"] = self.reopen_count + 1
            changes["closed_at"] = None
        if target is not None:
            changes["status"] = target
        new = replace(self, **changes)  # type: ignore[arg-type]
        event = Event(
            action=action,
            role=role,
            actor_user_id=actor.user_id,
            from_status=self.status,
            to_status=target,
            at=at,
            body=body,
            deputy_id=new.deputy_id,
        )
        return new, event


def _require_text(body: str) -> None:
    if not body.strip():
        raise InvalidInput("empty_text")


def new_wish_event(resident_id: int, at: datetime, text: str) -> Event:
    return Event(
        action=Action.SUBMIT,
        role=Role.RESIDENT,
        actor_user_id=resident_id,
        from_status=None,
        to_status=Status.SUBMITTED,
        at=at,
        body=text,
    )
