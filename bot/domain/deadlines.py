"""Supervision policy (督办): deadlines, reminders, follow-ups and the daily digest. Pure.

A wish carries two due dates: by when it must be accepted (受理时限) and by when it must be
resolved (办结时限). They are computed here from the station's policy and the wish's events;
the scheduler asks `reminders_due` what is owed at a given moment, and storage makes sure each
reminder, keyed by (wish, kind, due date, recipient), is queued exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, tzinfo
from enum import StrEnum

from bot.domain.model import OPEN_STATUSES, Action, Event, Status

DEFAULT_ACCEPT_DAYS = 2
DEFAULT_RESOLVE_DAYS = 15
REMINDER_LEAD = timedelta(days=1)  # the deputy is reminded this long before a deadline
SATURDAY = 5


@dataclass(frozen=True)
class DeadlinePolicy:
    accept_days: int = DEFAULT_ACCEPT_DAYS
    resolve_days: int = DEFAULT_RESOLVE_DAYS
    working_days_only: bool = False  # count Monday to Friday only (no holiday calendar)

    def merged(
        self,
        accept_days: int | None = None,
        resolve_days: int | None = None,
        working_days_only: bool | None = None,
    ) -> DeadlinePolicy:
        """This policy with the values a more specific level sets (None: keep)."""
        return DeadlinePolicy(
            accept_days if accept_days is not None else self.accept_days,
            resolve_days if resolve_days is not None else self.resolve_days,
            working_days_only if working_days_only is not None else self.working_days_only,
        )


def add_days(start: datetime, days: int, tz: tzinfo, working_days_only: bool = False) -> datetime:
    """`days` days after `start`, at the same local time.

    Calendar days by default: a deadline may fall on a weekend. With `working_days_only` only
    Monday to Friday count, so the deadline is always on a working day (a wish submitted on a
    Saturday with two working days is due on Tuesday at the same time).
    """
    if days < 0:
        raise ValueError("days must not be negative")
    local = start.astimezone(tz)
    if not working_days_only:
        due = local + timedelta(days=days)
    else:
        due = local
        counted = 0
        while counted < days:
            due += timedelta(days=1)
            if due.weekday() < SATURDAY:
                counted += 1
    # Re-attach the zone so a DST change in between keeps the wall-clock time.
    naive = due.replace(tzinfo=None)
    return naive.replace(tzinfo=tz).astimezone(start.tzinfo)


@dataclass(frozen=True)
class DueDates:
    accept: datetime | None = None
    resolve: datetime | None = None


def due_after(
    event: Event, current: DueDates, policy: DeadlinePolicy, tz: tzinfo
) -> DueDates | None:
    """The due dates after `event`, or None when the event does not change them.

    - submit: accept and resolve deadlines start;
    - assign / transfer: the (new) deputy has the full acceptance time again; the resolve
      deadline is the station's promise to the resident and stays, but never before the new
      acceptance deadline;
    - accept: a wish without a resolve deadline (older than this feature) gets one;
    - reopen (by staff, or a resident's 不满意 / 未解决): a new round, both deadlines restart.
    """
    at = event.at

    def days(n: int) -> datetime:
        return add_days(at, n, tz, policy.working_days_only)

    if event.action is Action.SUBMIT:
        return DueDates(days(policy.accept_days), days(policy.resolve_days))
    if event.to_status is Status.REOPENED:
        return DueDates(days(policy.accept_days), days(policy.resolve_days))
    if event.action in (Action.ASSIGN, Action.TRANSFER):
        accept = days(policy.accept_days)
        resolve = current.resolve or days(policy.resolve_days)
        return DueDates(accept, max(resolve, accept))
    if event.action is Action.ACCEPT and current.resolve is None:
        return replace(current, resolve=days(policy.resolve_days))
    return None


class ReminderKind(StrEnum):
    ACCEPT_SOON = "accept_soon"  # deputy: one day before the acceptance deadline
    ACCEPT_OVERDUE = "accept_overdue"  # deputy: the acceptance deadline has passed
    RESOLVE_SOON = "resolve_soon"
    RESOLVE_OVERDUE = "resolve_overdue"
    ESCALATE_ACCEPT = "escalate_accept"  # staff (督办): not accepted (or not assigned) in time
    ESCALATE_RESOLVE = "escalate_resolve"  # staff (督办): not resolved in time

    @property
    def to_staff(self) -> bool:
        return self in (ReminderKind.ESCALATE_ACCEPT, ReminderKind.ESCALATE_RESOLVE)


STAFF_TARGET = 0  # the recipient part of a staff reminder's key


@dataclass(frozen=True)
class DueReminder:
    kind: ReminderKind
    due_at: datetime
    target: int  # the deputy reminded, or STAFF_TARGET

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.kind.value, self.due_at.isoformat(), self.target)


AWAITING_ACCEPTANCE = frozenset({Status.SUBMITTED, Status.ASSIGNED, Status.REOPENED})


def reminders_due(
    status: Status,
    deputy_id: int | None,
    dues: DueDates,
    now: datetime,
    lead: timedelta = REMINDER_LEAD,
) -> list[DueReminder]:
    """Every reminder owed for a wish at `now` (the caller drops those already sent).

    Once a deadline has passed only the overdue reminder is owed, so a scheduler that was down
    across both moments sends one message, not two.
    """
    if status not in OPEN_STATUSES:
        return []
    owed: list[DueReminder] = []

    def check(due: datetime | None, soon: ReminderKind, late: ReminderKind, esc: ReminderKind):
        if due is None:
            return
        if now >= due:
            if deputy_id is not None:
                owed.append(DueReminder(late, due, deputy_id))
            owed.append(DueReminder(esc, due, STAFF_TARGET))
        elif now >= due - lead and deputy_id is not None:
            owed.append(DueReminder(soon, due, deputy_id))

    if status in AWAITING_ACCEPTANCE:
        check(
            dues.accept,
            ReminderKind.ACCEPT_SOON,
            ReminderKind.ACCEPT_OVERDUE,
            ReminderKind.ESCALATE_ACCEPT,
        )
    check(
        dues.resolve,
        ReminderKind.RESOLVE_SOON,
        ReminderKind.RESOLVE_OVERDUE,
        ReminderKind.ESCALATE_RESOLVE,
    )
    return owed


def first_reminder_at(
    status: Status, dues: DueDates, lead: timedelta = REMINDER_LEAD
) -> datetime | None:
    """When the scheduler must first look at a wish after it changed (a new status, deputy or
    due dates): its earliest deadline less the lead, None when it is not open or has none.

    Kept on the wish (`wishes.remind_at`, migration 0016) so that every minute reads only the
    wishes whose moment has come, not every open wish with a deadline. Early is harmless (the
    scheduler sends nothing twice); late never happens, since no reminder comes before it."""
    if status not in OPEN_STATUSES:
        return None
    return min((due - lead for due in (dues.accept, dues.resolve) if due), default=None)


def next_reminder_at(
    status: Status, dues: DueDates, now: datetime, lead: timedelta = REMINDER_LEAD
) -> datetime | None:
    """When the scheduler must look at a wish again, once everything owed at `now` is queued:
    the next deadline's "soon" moment, or the deadline itself once the "soon" reminder is
    behind; None when every deadline has passed (its escalation is queued). A deputy assigned
    meanwhile is an event, which sets `first_reminder_at` again."""
    if status not in OPEN_STATUSES:
        return None
    deadlines = [dues.resolve]
    if status in AWAITING_ACCEPTANCE:
        deadlines.append(dues.accept)
    ahead = [due - lead if now < due - lead else due for due in deadlines if due and now < due]
    return min(ahead, default=None)


def is_overdue(status: Status, dues: DueDates, now: datetime) -> bool:
    if status not in OPEN_STATUSES:
        return False
    if dues.resolve is not None and now >= dues.resolve:
        return True
    return status in AWAITING_ACCEPTANCE and dues.accept is not None and now >= dues.accept


def next_due(status: Status, dues: DueDates) -> tuple[str, datetime] | None:
    """The deadline that matters now for an open wish: ("accept" | "resolve", when)."""
    if status not in OPEN_STATUSES:
        return None
    candidates = []
    if status in AWAITING_ACCEPTANCE and dues.accept is not None:
        candidates.append(("accept", dues.accept))
    if dues.resolve is not None:
        candidates.append(("resolve", dues.resolve))
    return min(candidates, key=lambda c: c[1]) if candidates else None


# -- follow-up (回访) and digest --------------------------------------------------------------


def follow_up_after(resolved_at: datetime | None, days: int, now: datetime) -> bool:
    """A rating reminder or questionnaire `days` after resolution is due (0 disables)."""
    return days > 0 and resolved_at is not None and now >= resolved_at + timedelta(days=days)


def digest_day(now: datetime, tz: tzinfo, hour: int) -> date | None:
    """The local day whose digest is due at `now`, or None before the digest hour."""
    local = now.astimezone(tz)
    return local.date() if local.hour >= hour else None


class FollowUpAnswer(StrEnum):
    RESOLVED = "resolved"  # 已解决
    UNRESOLVED = "unresolved"  # 未解决: reopens the wish
    UNSURE = "unsure"  # 不清楚


FOLLOW_UP_CODES = {
    "r": FollowUpAnswer.RESOLVED,
    "u": FollowUpAnswer.UNRESOLVED,
    "k": FollowUpAnswer.UNSURE,
}


class NoteKind(StrEnum):
    """Supervision entries on a wish's timeline besides its state changes."""

    ESCALATED = "escalated"  # overdue, the station's staff were told (督办)
    PUSHED = "pushed"  # staff pushed the deputy (催办)
    RATING_REMINDED = "rating_reminded"
    FOLLOW_UP_ASKED = "follow_up_asked"
    FOLLOW_UP_ANSWERED = "follow_up_answered"
    DEPUTY_LEFT = "deputy_left"  # the deputy left the stations file: back to staff to reassign
    # How a notice about the wish reached a resident on a channel that cannot always push
    # (WeChat): reported back by the channel after delivery (bot/deliveries.py).
    WECHAT_CUSTOM = "wechat_custom"  # a 客服 message inside the window
    WECHAT_TEMPLATE = "wechat_template"  # a template message (a summary)
    WECHAT_SUBSCRIPTION = "wechat_subscription"  # a one-time subscription message
    WECHAT_WAITING = "wechat_waiting"  # no path open: kept for the resident's next message
    WECHAT_SHOWN = "wechat_shown"  # a kept notice shown at the resident's next message


# The entries a channel may report after a delivery (bot/deliveries.py): no other kind.
DELIVERY_NOTES = frozenset(
    {
        NoteKind.WECHAT_CUSTOM,
        NoteKind.WECHAT_TEMPLATE,
        NoteKind.WECHAT_SUBSCRIPTION,
        NoteKind.WECHAT_WAITING,
        NoteKind.WECHAT_SHOWN,
    }
)


@dataclass(frozen=True)
class SupervisionNote:
    at: datetime
    kind: NoteKind
    role: str  # a Role value
    actor_user_id: int | None = None
    body: str = ""
