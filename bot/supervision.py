"""Supervision (督办) use cases: due dates, reminders, escalation, 催办, digests, follow-ups.

Transport-agnostic, like `Liaison`: every change and the messages it causes are written in one
transaction, and everything the scheduler has done is in the database (`reminders_sent`,
`follow_ups`, `digests_sent`), so a restart in the middle of a schedule neither loses nor
repeats a message.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from bot import actions
from bot.cards import ACT_ASSIGN, ACT_TRANSFER, ACT_VIEW, wish_action
from bot.domain.deadlines import (
    REMINDER_LEAD,
    STAFF_TARGET,
    DueDates,
    DueReminder,
    FollowUpAnswer,
    NoteKind,
    ReminderKind,
    SupervisionNote,
    digest_day,
    due_after,
    first_reminder_at,
    follow_up_after,
    next_due,
    next_reminder_at,
    reminders_due,
)
from bot.domain.model import (
    Action,
    Event,
    InvalidInput,
    InvalidTransition,
    NotAllowed,
    Role,
    Status,
    Wish,
)
from bot.i18n import Catalog, Markup
from bot.messages import Button, OutMessage, keyboard
from bot.notify import Notifier
from bot.retention import Retention
from bot.services import PRIORITY_NOTIFY, Liaison, NotFound
from bot.textfit import truncate_plain
from storage.db import Database
from storage.repositories import Repos, StationRow, UserRow
from storage.supervision import FOLLOW_UP_WINDOW, DigestRow, SupervisionRepo

log = logging.getLogger(__name__)

# Buttons: actions.PUSH "sv:p:<wish>" (催办), actions.FOLLOW_UP "sv:f:<wish>:<r|u|k>" (follow-up).
PUSH_COOLDOWN = timedelta(hours=1)  # one 催办 per wish per hour is enough for any deputy
DIGEST_LIST = 10  # receipts listed per section of a digest
BATCH = 500


class AlreadyAnswered(InvalidInput):
    """A follow-up question answered before (the second press changes nothing)."""


@dataclass(frozen=True)
class OverdueItem:
    wish: Wish
    dues: DueDates
    which: str  # "accept" | "resolve"
    due: datetime
    station_name: str
    category_name: str
    deputy_name: str | None


class Supervisor:
    def __init__(
        self,
        db: Database,
        catalog: Catalog,
        liaison: Liaison,
        *,
        digest_hour: int = 9,
        rating_reminder_days: int = 3,
        followup_days: int = 30,
        retention: Retention | None = None,
    ) -> None:
        self.db = db
        self.retention = retention  # pruning rides on this restart-safe tick (bot/retention.py)
        self.c = catalog
        self.liaison = liaison
        self.clock = liaison.core.clock
        self.tz: tzinfo = liaison.core.tz
        self.cards = liaison.core.cards
        self.digest_hour = digest_hour
        self.rating_reminder_days = rating_reminder_days
        self.followup_days = followup_days
        self._tick_lock = asyncio.Lock()
        liaison.core.event_hooks.append(self._on_event)

    # -- due dates, kept by every recorded event ------------------------------------------------

    async def _on_event(self, repos: Repos, wish: Wish, event: Event) -> None:
        sup = SupervisionRepo(repos.conn)
        current = await sup.due_dates(wish.id)
        policy = await sup.policy(wish.station_id, wish.category_id)
        new = due_after(event, current, policy, self.tz)
        if new is not None and new != current:
            await sup.set_due_dates(wish.id, new)
        # a new status, deputy or deadline: the scheduler looks at the wish again in time; a
        # new resolution: its rating reminder and 回访 are owed
        await sup.after_event(
            wish.id,
            first_reminder_at(wish.status, new or current),
            resolved_now=event.to_status is Status.RESOLVED,
            resolved=wish.status is Status.RESOLVED,
        )

    async def backfill_due_dates(self) -> int:
        """Open wishes from before this feature get due dates counted from their submission."""
        async with self.db.read() as conn:
            if not await SupervisionRepo(conn).open_without_due_dates(1):
                return 0
        async with self.db.transaction() as conn:
            sup = SupervisionRepo(conn)
            wishes = await sup.open_without_due_dates(BATCH)
            for wish in wishes:
                policy = await sup.policy(wish.station_id, wish.category_id)
                submitted = Event(
                    Action.SUBMIT, Role.RESIDENT, wish.resident_id, None, wish.status,
                    wish.created_at,
                )  # fmt: skip
                dues = due_after(submitted, DueDates(), policy, self.tz)
                assert dues is not None
                await sup.set_due_dates(wish.id, dues)
                await sup.set_remind_at(wish.id, first_reminder_at(wish.status, dues))
        return len(wishes)

    async def due_dates(self, wish_ids: Sequence[int]) -> dict[int, DueDates]:
        async with self.db.read() as conn:
            return await SupervisionRepo(conn).due_dates_of(list(wish_ids))

    def due_label(self, wish: Wish, dues: DueDates, now: datetime) -> str:
        """' · 办结时限 03-16 10:00' (or overdue) for a line about an open wish; '' if none."""
        found = next_due(wish.status, dues)
        if found is None:
            return ""
        which, due = found
        key = "supervision.queue_overdue" if now >= due else "supervision.queue_due"
        return self.c.t(key, which=self.c.plain(f"supervision.which_{which}"), due=self.when(due))

    def when(self, at: datetime) -> str:
        return self.cards.when(at)

    # -- the scheduler --------------------------------------------------------------------------

    async def run(self, interval: float = 60.0) -> None:
        """The scheduler task: a tick now, then every `interval` seconds."""
        while True:
            try:
                await self.tick()
            except Exception:
                log.exception("supervision tick failed")
            await asyncio.sleep(interval)

    async def tick(self) -> dict[str, int]:
        """Everything owed at the clock's current time; safe to run twice (nothing repeats)."""
        async with self._tick_lock:
            done = {
                "due_dates": await self.backfill_due_dates(),
                "reminders": await self.send_deadline_reminders(),
                "rating_reminders": await self.send_rating_reminders(),
                "follow_ups": await self.send_follow_ups(),
                "digests": await self.send_digests(),
                # last: a failure here must not hold up the reminders above
                "pruned": await self.retention.tick() if self.retention else 0,
            }
        if any(done.values()):
            log.info("supervision: %s", done)
        return done

    # -- deadline reminders and escalation (督办) -------------------------------------------------

    async def send_deadline_reminders(self) -> int:
        """Reminders and escalations owed now, read from the wishes whose moment has come
        (`wishes.remind_at`): the minute's cost follows what is due, not the open backlog."""
        now = self.clock.now()
        async with self.db.read() as conn:
            sup = SupervisionRepo(conn)
            looked_at = await sup.remind_due(now)
            if not looked_at:
                return 0
            candidates = await sup.reminder_candidates(now + REMINDER_LEAD, now)
        sent = 0
        for wish_id in candidates:
            sent += await self._remind(wish_id, now)
        # the others owe nothing now (their "soon" reminder went out, or no deputy has them
        # yet): when to look again, all in one statement
        owing = set(candidates)
        later = [
            (next_reminder_at(status, dues, now), wish_id, was)
            for wish_id, status, dues, was in looked_at
            if wish_id not in owing
        ]
        if later:
            async with self.db.transaction() as conn:
                await SupervisionRepo(conn).move_remind_at(later)
        return sent

    async def _remind(self, wish_id: int, now: datetime) -> int:
        sent = 0
        async with self.db.transaction() as conn:
            repos, sup = Repos(conn), SupervisionRepo(conn)
            wish = await repos.wish(wish_id)
            if wish is None:
                return 0
            dues = await sup.due_dates(wish.id)
            for reminder in reminders_due(wish.status, wish.deputy_id, dues, now):
                if reminder.kind.to_staff:
                    # Escalations are keyed on the deadline alone: a reassigned deputy does not
                    # make the station's staff hear about the same missed deadline again.
                    claimed = await sup.mark_sent(
                        wish.id, reminder.kind.value, reminder.due_at, STAFF_TARGET, now
                    )
                    if claimed:
                        await self._escalate(repos, sup, wish, reminder, now)
                        sent += 1
                elif await sup.mark_sent(
                    wish.id, reminder.kind.value, reminder.due_at, reminder.target, now
                ):
                    await self._remind_deputy(repos, wish, reminder)
                    sent += 1
            await sup.set_remind_at(wish.id, next_reminder_at(wish.status, dues, now))
        return sent

    async def _remind_deputy(self, repos: Repos, wish: Wish, reminder: DueReminder) -> None:
        deputy = await repos.deputy(reminder.target)
        if deputy is None or not await repos.deputy_serves(deputy.id):
            return  # removed from the stations file: the wish is with the staff now
        user = await repos.user(deputy.user_id)
        if user is None:
            return
        names = await repos.category_names()
        text = self.c.t(
            f"supervision.{reminder.kind.value}",
            receipt=wish.receipt,
            category=names.get(wish.category_id, wish.category_id),
            due=self.when(reminder.due_at),
        )
        message = OutMessage(text=text, buttons=self.cards.handler_buttons(wish), wish_id=wish.id)
        await self.liaison.notify.to_person(repos, user, "deputy", PRIORITY_NOTIFY, message)

    async def _escalate(
        self, repos: Repos, sup: SupervisionRepo, wish: Wish, reminder: DueReminder, now: datetime
    ) -> None:
        station = await repos.station(wish.station_id)
        names = await repos.category_names()
        deputy = await repos.deputy(wish.deputy_id) if wish.deputy_id else None
        if reminder.kind is ReminderKind.ESCALATE_ACCEPT and deputy is None:
            key = "supervision.escalate_unassigned"
        else:
            key = f"supervision.{reminder.kind.value}"
        text = self.c.t(
            key,
            receipt=wish.receipt,
            station=station.name if station else wish.station_id,
            category=names.get(wish.category_id, wish.category_id),
            deputy=deputy.name if deputy else self.c.plain("supervision.nobody"),
            status=self.cards.status(wish.status),
            due=self.when(reminder.due_at),
            text=truncate_plain(wish.text, 301),
        )
        serving = deputy is not None and await repos.deputy_serves(deputy.id)
        # no 催办 for a deputy who left the stations file: only 改派 and 查看
        buttons = (
            self.escalation_buttons(wish, deputy is not None)
            if serving or deputy is None
            else self.cards.reassign_buttons(wish)
        )
        message = OutMessage(text=text, buttons=buttons, wish_id=wish.id)
        await self._to_staff(repos, wish.station_id, message)
        label = self.c.plain(f"supervision.which_{reminder.kind.value.removeprefix('escalate_')}")
        await sup.add_note(
            wish.id,
            SupervisionNote(now, NoteKind.ESCALATED, Role.SYSTEM.value, None, label),
        )

    def escalation_buttons(self, wish: Wish, has_deputy: bool) -> tuple:
        b = self.c.plain
        verb = ACT_TRANSFER if has_deputy else ACT_ASSIGN  # the existing assign / transfer flow
        row = [Button(b("supervision.btn_reassign"), wish_action(verb, wish.id))]
        if has_deputy:
            row.append(Button(b("supervision.btn_push"), actions.button(actions.PUSH, wish.id)))
        return keyboard(row, [Button(b("supervision.btn_view"), wish_action(ACT_VIEW, wish.id))])

    # -- 催办: staff push the deputy ---------------------------------------------------------------

    async def push(self, user: UserRow, wish_id: int) -> tuple[Wish, str]:
        """Staff send the wish's deputy a push; recorded on the timeline. Returns the deputy."""
        now = self.clock.now()
        async with self.db.transaction() as conn:
            repos, sup = Repos(conn), SupervisionRepo(conn)
            wish = await repos.wish(wish_id)
            if wish is None:
                raise NotFound("wish")
            actor = await self.liaison.people.actor_in(repos, user)
            roles = wish.roles_of(actor)
            if not roles:
                raise NotFound("wish")  # the same answer as for a wish that does not exist
            if Role.STAFF not in roles:
                raise NotAllowed("push")
            if not wish.is_open:
                raise InvalidTransition("stale")
            deputy = await repos.deputy(wish.deputy_id) if wish.deputy_id else None
            deputy_user = await repos.user(deputy.user_id) if deputy else None
            if deputy is None or deputy_user is None:
                raise InvalidInput("supervision_no_deputy")
            if not await repos.deputy_serves(deputy.id):
                raise InvalidInput("privacy_deputy_left")  # 改派 instead: they left
            last = await sup.last_note_at(wish.id, NoteKind.PUSHED)
            if last is not None and now - last < PUSH_COOLDOWN:
                raise InvalidInput("supervision_pushed_recently")
            dues = await sup.due_dates(wish.id)
            names = await repos.category_names()
            found = next_due(wish.status, dues)
            deadline = ""
            if found is not None:
                which, due = found
                deadline = self.c.t(
                    "supervision.push_deadline" if now < due else "supervision.push_overdue",
                    which=self.c.plain(f"supervision.which_{which}"),
                    due=self.when(due),
                )
            text = self.c.t(
                "supervision.push",
                receipt=wish.receipt,
                category=names.get(wish.category_id, wish.category_id),
                status=self.cards.status(wish.status),
                deadline=Markup(deadline),
                text=truncate_plain(wish.text, 301),
            )
            message = OutMessage(
                text=text, buttons=self.cards.handler_buttons(wish), wish_id=wish.id
            )
            await self.liaison.notify.to_person(
                repos, deputy_user, "deputy", PRIORITY_NOTIFY, message
            )
            await sup.add_note(
                wish.id,
                SupervisionNote(now, NoteKind.PUSHED, Role.STAFF.value, user.id, deputy.name),
            )
        log.info("wish %s: pushed by user %s", wish.id, user.id)
        return wish, deputy.name

    # -- /overdue ---------------------------------------------------------------------------------

    async def overdue(self, user: UserRow) -> list[OverdueItem]:
        now = self.clock.now()
        async with self.db.read() as conn:
            repos = Repos(conn)
            actor = await self.liaison.people.actor_in(repos, user)
            stations = await self.liaison.people.managed_stations(repos, actor)
            if not stations:
                raise NotAllowed("overdue")
            ids = None if actor.is_admin else [s.id for s in stations]
            found = await SupervisionRepo(conn).overdue(ids, now)
            return await self._items(repos, found, now, {s.id: s for s in stations})

    async def _items(
        self,
        repos: Repos,
        found: list[tuple[Wish, DueDates]],
        now: datetime,
        stations: dict[str, StationRow],
    ) -> list[OverdueItem]:
        names = await repos.category_names()
        deputies: dict[int, str] = {}
        items = []
        for wish, dues in found:
            which, due = _missed(wish, dues, now)
            if wish.deputy_id is not None and wish.deputy_id not in deputies:
                deputy = await repos.deputy(wish.deputy_id)
                deputies[wish.deputy_id] = deputy.name if deputy else ""
            station = stations.get(wish.station_id)
            items.append(
                OverdueItem(
                    wish=wish,
                    dues=dues,
                    which=which,
                    due=due,
                    station_name=station.name if station else wish.station_id,
                    category_name=names.get(wish.category_id, wish.category_id),
                    deputy_name=deputies.get(wish.deputy_id) if wish.deputy_id else None,
                )
            )
        return items

    def overdue_line(self, item: OverdueItem, now: datetime) -> Markup:
        days = max(0, (now - item.due).days)
        return self.c.t(
            "supervision.overdue_line",
            receipt=item.wish.receipt,
            station=item.station_name,
            category=item.category_name,
            deputy=item.deputy_name or self.c.plain("supervision.nobody"),
            which=self.c.plain(f"supervision.which_{item.which}"),
            due=self.when(item.due),
            late=self.c.plain("supervision.late_days", days=days)
            if days
            else self.c.plain("supervision.late_today"),
        )

    # -- follow-up (回访) -------------------------------------------------------------------------

    async def send_rating_reminders(self) -> int:
        """One reminder to rate, `rating_reminder_days` after resolution, never repeated."""
        if self.rating_reminder_days <= 0:
            return 0
        now = self.clock.now()
        cutoff = now - timedelta(days=self.rating_reminder_days)
        sent = 0
        async with self.db.transaction() as conn:
            repos, sup = Repos(conn), SupervisionRepo(conn)
            for wish in await sup.unrated_resolved_before(cutoff, BATCH):
                resident = await repos.user(wish.resident_id)
                if resident is None or resident.stopped or wish.resolved_at is None:
                    continue
                if not follow_up_after(wish.resolved_at, self.rating_reminder_days, now):
                    continue
                await sup.rating_reminder_done(wish.id)  # queued now, or before
                if not await sup.mark_sent(wish.id, "rating_reminder", wish.resolved_at, 0, now):
                    continue
                days = max(1, (now - wish.resolved_at).days)
                message = OutMessage(
                    text=self.c.t("supervision.rating_reminder", receipt=wish.receipt, days=days),
                    buttons=self.cards.resident_buttons(wish),
                    wish_id=wish.id,
                )
                await _ask_resident(
                    self.liaison.notify,
                    repos,
                    sup,
                    resident,
                    message,
                    NoteKind.RATING_REMINDED,
                    now,
                )
                sent += 1
        return sent

    async def send_follow_ups(self) -> int:
        """问题是否真正解决了？ once, `followup_days` after resolution (closed wishes too)."""
        if self.followup_days <= 0:
            return 0
        now = self.clock.now()
        cutoff = now - timedelta(days=self.followup_days)
        sent = 0
        async with self.db.transaction() as conn:
            repos, sup = Repos(conn), SupervisionRepo(conn)
            names = await repos.category_names()
            await sup.follow_ups_expired(cutoff - FOLLOW_UP_WINDOW)
            for wish in await sup.follow_up_candidates(cutoff, BATCH):
                resident = await repos.user(wish.resident_id)
                if resident is None or resident.stopped or wish.resolved_at is None:
                    continue
                await sup.follow_up_done(wish.id)  # asked now, or before
                if not await sup.add_follow_up(wish.id, wish.resolved_at, now):
                    continue
                message = OutMessage(
                    text=self.c.t(
                        "supervision.followup_question",
                        receipt=wish.receipt,
                        category=names.get(wish.category_id, wish.category_id),
                        # a month later the resident remembers the day, not the minute
                        submitted=self.when(wish.created_at)[:10],
                        resolved=self.when(wish.resolved_at)[:10],
                        result=truncate_plain(wish.result or "", 301),
                    ),
                    buttons=self.follow_up_buttons(wish.id),
                    wish_id=wish.id,
                )
                await _ask_resident(
                    self.liaison.notify,
                    repos,
                    sup,
                    resident,
                    message,
                    NoteKind.FOLLOW_UP_ASKED,
                    now,
                )
                sent += 1
        return sent

    def follow_up_buttons(self, wish_id: int) -> tuple:
        b = self.c.plain
        return keyboard(
            [
                Button(b("supervision.btn_solved"), actions.button(actions.FOLLOW_UP, wish_id, "r")),
                Button(b("supervision.btn_unsolved"), actions.button(actions.FOLLOW_UP, wish_id, "u")),
                Button(b("supervision.btn_unsure"), actions.button(actions.FOLLOW_UP, wish_id, "k")),
            ]
        )

    async def answer_follow_up(
        self, user: UserRow, wish_id: int, answer: FollowUpAnswer, key: str | None = None
    ) -> Wish:
        """The resident's answer, recorded on the timeline; 未解决 reopens the wish."""
        now = self.clock.now()
        async with self.db.transaction() as conn:
            repos, sup = Repos(conn), SupervisionRepo(conn)
            wish = await repos.wish(wish_id)
            if wish is None:
                raise NotFound("wish")
            if key and await repos.event_key_used(key):
                return wish  # a redelivered update: done already
            actor = await self.liaison.people.actor_in(repos, user)
            if Role.RESIDENT not in wish.roles_of(actor):
                raise NotFound("wish")  # only the resident was asked
            asked = await sup.follow_up(wish.id, wish.resolved_at) if wish.resolved_at else None
            if asked is None:
                raise InvalidInput("stale")  # never asked, or about an earlier resolution
            if asked.answer is not None:
                raise AlreadyAnswered("supervision_answered")
            label = self.c.plain(f"supervision.answer_{answer.value}")
            if answer is FollowUpAnswer.UNRESOLVED:
                before = wish
                body = self.c.plain("supervision.reopen_body")
                wish, event = wish.apply(Action.REOPEN, actor, now, body=body)
                await self.liaison.wishes.record(repos, wish, event, now, key)
                await self.liaison.wishes.after(repos, before, wish, event, now)
            await sup.answer_follow_up(wish.id, asked.resolved_at, answer.value, now)
            await sup.add_note(
                wish.id,
                SupervisionNote(
                    now, NoteKind.FOLLOW_UP_ANSWERED, Role.RESIDENT.value, user.id, label
                ),
            )
        log.info("wish %s: follow-up answered %s", wish.id, answer.value)
        return wish

    # -- the daily digest --------------------------------------------------------------------------

    async def send_digests(self) -> int:
        """Each staff member's digest, once a local day from the digest hour.

        A person's first digest counts from when the scheduler first saw them (opened the bot),
        so a new deployment or a new staff member does not get a digest of the past.

        Everything a digest reports is read first, with a few set-based queries over the period
        only; the write transaction that follows just records the digests and queues them, so
        the single connection is never held while a whole county's digests are put together.
        """
        now = self.clock.now()
        day = digest_day(now, self.tz, self.digest_hour)
        day_text = day.isoformat() if day is not None else None
        baselines: list[UserRow] = []
        owed: list[tuple[UserRow, DigestRow, OutMessage | None, int]] = []
        async with self.db.read() as conn:
            repos, sup = Repos(conn), SupervisionRepo(conn)
            audience = await self._digest_audience(repos)
            ids = [u.id for u, _ in audience]
            if not await sup.digest_owed(ids, day_text):
                return 0
            last = await sup.last_digests(ids)
            due = [(u, st, last[u.id]) for u, st in audience if u.id in last]
            baselines = [u for u, _ in audience if u.id not in last]
            if day_text is not None:
                due = [(u, st, d) for u, st, d in due if d.day < day_text]
            else:
                due = []
            if due:
                # Every figure for every station at once, grouped by station: the same sections
                # serve everyone whose last digest ended at the same moment (usually everyone).
                overdue = await sup.overdue_by_station(now, DIGEST_LIST)
                station_ids = sorted({s.id for _, st, _ in due for s in st})
                changes: dict[datetime, tuple[_ByStation, _ByStation]] = {}
                for since in sorted({d.until for _, _, d in due}):
                    changes[since] = (
                        _by_station(
                            await sup.receipts_between("created_at", station_ids, since, now)
                        ),
                        _by_station(
                            await sup.receipts_between("resolved_at", station_ids, since, now)
                        ),
                    )
                sections: dict[tuple[str, datetime], tuple[str, int] | None] = {}
                for user, user_stations, d in due:
                    new, resolved = changes[d.until]
                    message, items = self._digest(
                        user_stations, d.until, now, new, resolved, overdue, sections
                    )
                    owed.append((user, d, message, items))
        async with self.db.transaction() as conn:
            repos, sup = Repos(conn), SupervisionRepo(conn)
            local_day = now.astimezone(self.tz).date()
            seen = (local_day if day is not None else local_day - timedelta(days=1)).isoformat()
            # the baseline: nothing before this moment is reported
            rows = [(u.id, seen, now, now, 0) for u in baselines]
            rows += [(u.id, day_text or "", d.until, now, items) for u, d, _, items in owed]
            added = await sup.add_digests(rows)
            sends = [(u, m) for u, _, m, _ in owed if m is not None and u.id in added]
            await self.liaison.notify.to_each(repos, "staff", PRIORITY_NOTIFY, sends)
        return len(sends)

    async def _digest_audience(self, repos: Repos) -> list[tuple[UserRow, list[StationRow]]]:
        """Station staff (their stations) and county admins (all), who can be messaged."""
        stations = await repos.stations()
        members: dict[str, list[UserRow]] = {}
        for station_id, u in await SupervisionRepo(repos.conn).staff_memberships():
            members.setdefault(station_id, []).append(u)
        audience: dict[int, tuple[UserRow, list[StationRow]]] = {}
        for station in stations:
            for u in members.get(station.id, []):
                audience.setdefault(u.id, (u, []))[1].append(station)
        for channel, external_id in sorted(self.liaison.core.admins):
            admin = await repos.user_by_external(channel, external_id)
            if admin is not None:
                audience[admin.id] = (admin, list(stations))
        return [
            (u, st)
            for u, st in audience.values()
            if u.started_at is not None and u.unreachable_at is None
        ]

    def _digest(
        self,
        stations: list[StationRow],
        since: datetime,
        now: datetime,
        new_by_station: _ByStation,
        resolved_by_station: _ByStation,
        overdue_by_station: _ByStation,
        sections: dict[tuple[str, datetime], tuple[str, int] | None],
    ) -> tuple[OutMessage | None, int]:
        """One staff member's digest (None when there is nothing to tell) and its item count.

        `sections` keeps each station's section for a `since` once written, for the next
        person who has that station and that `since`."""
        parts: list[str] = []
        total = 0
        for station in stations:
            key = (station.id, since)
            if key not in sections:
                sections[key] = self._digest_station(
                    station,
                    new_by_station.get(station.id, _NONE),
                    resolved_by_station.get(station.id, _NONE),
                    overdue_by_station.get(station.id, _NONE),
                )
            section = sections[key]
            if section is None:
                continue
            parts.append(section[0])
            total += section[1]
        if not parts:
            return None, 0
        # the header and footer are the same for everyone with this `since` (usually everyone)
        frame = sections.get(("", since))
        if frame is None:
            header = self.c.t(
                "supervision.digest_header", since=self.when(since), until=self.when(now)
            )
            frame = sections[("", since)] = (header, 0)
        footer = self.c.t("supervision.digest_footer")
        return OutMessage(text=Markup("\n\n".join([frame[0], *parts, footer]))), total

    def _digest_station(
        self,
        station: StationRow,
        new: tuple[int, list[str]],
        resolved: tuple[int, list[str]],
        overdue: tuple[int, list[str]],
    ) -> tuple[str, int] | None:
        """A station's section of a digest and its item count; None when it has nothing."""
        count = new[0] + resolved[0] + overdue[0]
        if not count:
            return None
        text = self.c.t(
            "supervision.digest_station",
            station=station.name,
            new=new[0],
            new_list=self._receipts(*new),
            overdue=overdue[0],
            overdue_list=self._receipts(*overdue),
            resolved=resolved[0],
            resolved_list=self._receipts(*resolved),
        )
        return text, count

    def _receipts(self, count: int, receipts: list[str]) -> str:
        if not count:
            return ""
        shown = "、".join(receipts[:DIGEST_LIST])
        more = self.c.plain("supervision.and_more") if count > DIGEST_LIST else ""
        return self.c.plain("supervision.list", receipts=shown + more)

    async def _to_staff(self, repos: Repos, station_id: str, message: OutMessage) -> None:
        await self.liaison.notify.to_staff(repos, station_id, [message], message.wish_id)


# station -> (how many, the receipts of the first DIGEST_LIST of them)
_ByStation = dict[str, tuple[int, list[str]]]
_NONE: tuple[int, list[str]] = (0, [])


def _by_station(rows: list[tuple[str, str]]) -> _ByStation:
    """(station, receipt) rows counted by station, each keeping its first DIGEST_LIST receipts
    in the order given."""
    counts: dict[str, int] = {}
    lists: dict[str, list[str]] = {}
    for station_id, receipt in rows:
        n = counts.get(station_id, 0)
        counts[station_id] = n + 1
        if n < DIGEST_LIST:
            lists.setdefault(station_id, []).append(receipt)
    return {station_id: (n, lists[station_id]) for station_id, n in counts.items()}


def _missed(wish: Wish, dues: DueDates, now: datetime) -> tuple[str, datetime]:
    """Which deadline an overdue wish missed (the earlier one if both)."""
    missed = []
    awaiting = wish.status in (Status.SUBMITTED, Status.ASSIGNED, Status.REOPENED)
    if awaiting and dues.accept and now >= dues.accept:
        missed.append(("accept", dues.accept))
    if dues.resolve and now >= dues.resolve:
        missed.append(("resolve", dues.resolve))
    if not missed:  # not overdue after all (a race with a change): show the next deadline
        found = next_due(wish.status, dues)
        return found if found else ("resolve", now)
    return min(missed, key=lambda m: m[1])


async def _ask_resident(
    notify: Notifier,
    repos: Repos,
    sup: SupervisionRepo,
    resident: UserRow,
    message: OutMessage,
    kind: NoteKind,
    now: datetime,
) -> None:
    """Queue a 回访 message to the resident and note it on the wish's timeline."""
    assert message.wish_id is not None
    await notify.to_person(repos, resident, "resident", PRIORITY_NOTIFY, message)
    await sup.add_note(message.wish_id, SupervisionNote(now, kind, Role.SYSTEM.value))
