"""Broadcasts by station staff, and residents following a wish."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any

from bot import actions
from bot.channel import WAITING_PREFIX
from bot.clock import Clock
from bot.dispatcher import Transport
from bot.domain.masking import mask_pii
from bot.domain.model import Actor, InvalidInput, NotAllowed, Status
from bot.domain.receipts import normalize_receipt
from bot.i18n import Catalog, Markup
from bot.messages import Button, OutMessage, keyboard
from bot.services import PRIORITY_BROADCAST, Liaison, NotFound
from storage.broadcasts import BroadcastRow, Broadcasts, Recipient
from storage.db import Database
from storage.repositories import Repos, UserRow

log = logging.getLogger(__name__)

MAX_TEXT = 3000
SESSION_KEY = "broadcast"
COUNTY = "*"  # the scope of a county admin's broadcast to every station
PROGRESS_EVERY_SECONDS = 3.0


@dataclass(frozen=True)
class BroadcastDraft:
    step: str  # "text" | "audience" | "receipt" | "confirm"
    station_id: str  # a station id, or COUNTY
    text: str = ""
    photo: str | None = None
    audience: str | None = None  # "station" | "followers" | "county"
    wish_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BroadcastDraft:
        return cls(**data)

    def expect(self, *steps: str) -> None:
        if self.step not in steps:
            raise InvalidInput("stale_step")


@dataclass(frozen=True)
class Progress:
    broadcast: BroadcastRow
    sent: int
    unreachable: int
    failed: int
    cancelled: int
    pending: int
    # kept for WeChat residents no path could reach now: shown at their next message (not in
    # `sent`)
    waiting: int = 0

    @property
    def done(self) -> bool:
        return self.pending == 0


class BroadcastService:
    def __init__(self, db: Database, liaison: Liaison, catalog: Catalog, clock: Clock) -> None:
        self.db = db
        self.liaison = liaison
        self.c = catalog
        self.clock = clock

    # -- writing a broadcast -------------------------------------------------------------------

    async def scopes(self, user: UserRow) -> tuple[list[tuple[str, str]], bool]:
        """The stations this person may broadcast to, as (id, name), and whether county-wide."""
        actor = await self.liaison.people.actor(user)
        stations = [s for s in await self.liaison.directory.stations() if actor.is_staff_of(s.id)]
        if not stations:
            raise NotAllowed("broadcast")
        return [(s.id, s.name) for s in stations], actor.is_admin

    async def begin(self, user: UserRow, scope: str) -> BroadcastDraft:
        actor = await self.liaison.people.actor(user)
        self._check_scope(actor, scope)
        if scope != COUNTY and await self.liaison.directory.station(scope) is None:
            raise NotFound("station")
        draft = BroadcastDraft(step="text", station_id=scope)
        await self.liaison.flows.set_session_value(user, SESSION_KEY, draft.to_dict())
        return draft

    async def draft(self, user: UserRow) -> BroadcastDraft | None:
        data = await self.liaison.flows.session_value(user, SESSION_KEY)
        return BroadcastDraft.from_dict(data) if data else None

    async def _save(self, user: UserRow, draft: BroadcastDraft | None) -> None:
        await self.liaison.flows.set_session_value(user, SESSION_KEY, draft.to_dict() if draft else None)

    async def set_text(self, user: UserRow, text: str, photo: str | None = None) -> BroadcastDraft:
        draft = await self._require(user)
        draft.expect("text")
        text = text.strip()
        if not text:
            raise InvalidInput("empty_text")
        if len(text) > MAX_TEXT:
            raise InvalidInput("broadcast_too_long")
        step = "confirm" if draft.station_id == COUNTY else "audience"
        draft = replace(
            draft,
            text=text,
            photo=photo,
            step=step,
            audience="county" if step == "confirm" else None,
        )
        await self._save(user, draft)
        return draft

    async def set_audience(self, user: UserRow, audience: str) -> BroadcastDraft:
        draft = await self._require(user)
        draft.expect("audience")
        if audience not in ("station", "followers"):
            raise InvalidInput("stale")
        draft = replace(
            draft, audience=audience, step="confirm" if audience == "station" else "receipt"
        )
        await self._save(user, draft)
        return draft

    async def set_wish(self, user: UserRow, receipt_text: str) -> BroadcastDraft:
        draft = await self._require(user)
        draft.expect("receipt")
        receipt = normalize_receipt(receipt_text)
        if receipt is None:
            raise InvalidInput("bad_receipt")
        wish = await self.liaison.queries.find_receipt(user, receipt)
        if wish.station_id != draft.station_id:
            raise NotFound("receipt")
        draft = replace(draft, wish_id=wish.id, step="confirm")
        await self._save(user, draft)
        return draft

    async def cancel_draft(self, user: UserRow) -> None:
        await self._save(user, None)

    async def preview(self, user: UserRow) -> tuple[OutMessage, int]:
        draft = await self._require(user)
        draft.expect("confirm")
        async with self.db.read() as conn:
            recipients = await self._audience(Broadcasts(conn), draft)
        return await self._message(draft), len(recipients)

    async def confirm(self, user: UserRow, idempotency_key: str | None = None) -> BroadcastRow:
        """Queue the broadcast for everyone at once, in one transaction with its record."""
        draft = await self._require(user)
        draft.expect("confirm")
        actor = await self.liaison.people.actor(user)
        self._check_scope(actor, draft.station_id)  # rights may have changed since the draft
        message = await self._message(draft)
        now = self.clock.now()
        async with self.db.transaction() as conn:
            store = Broadcasts(conn)
            if idempotency_key and (done := await store.by_key(idempotency_key)) is not None:
                return done
            recipients = await self._audience(store, draft)
            if not recipients:
                raise InvalidInput("no_recipients")
            broadcast_id = await store.create(
                created_by=user.id,
                station_id=None if draft.station_id == COUNTY else draft.station_id,
                audience=draft.audience or "station",
                wish_id=draft.wish_id,
                text=draft.text,
                photos=[draft.photo] if draft.photo else [],
                total=len(recipients),
                now=now,
                idempotency_key=idempotency_key,
            )
            await store.enqueue(
                broadcast_id, recipients, PRIORITY_BROADCAST, message.to_payload(), now
            )
            row = await store.get(broadcast_id)
        await self._save(user, None)
        assert row is not None
        log.info("broadcast %s queued for %d recipients", row.id, row.total)
        return row

    async def attach_progress(self, broadcast_id: int, chat_id: str, message_id: str) -> None:
        async with self.db.transaction() as conn:
            await Broadcasts(conn).set_progress_message(broadcast_id, chat_id, message_id)

    async def cancel(self, user: UserRow, broadcast_id: int) -> int:
        actor = await self.liaison.people.actor(user)
        async with self.db.transaction() as conn:
            store = Broadcasts(conn)
            row = await store.get(broadcast_id)
            if row is None:
                raise NotFound("broadcast_missing")
            if row.created_by != user.id:
                self._check_scope(actor, row.station_id or COUNTY)
            if row.status != "sending":
                raise InvalidInput("broadcast_finished")
            cancelled = await store.cancel_pending(broadcast_id)
            await store.finish(broadcast_id, "cancelled", self.clock.now())
        log.info("broadcast %s cancelled; %d messages not sent", broadcast_id, cancelled)
        return cancelled

    async def progress(self, broadcast_id: int) -> Progress:
        async with self.db.read() as conn:
            store = Broadcasts(conn)
            row = await store.get(broadcast_id)
            if row is None:
                raise NotFound("broadcast_missing")
            counts = await store.counts(broadcast_id)
            waiting = await store.waiting_count(broadcast_id, WAITING_PREFIX)
        return Progress(
            broadcast=row,
            sent=counts.get("sent", 0) - waiting,
            waiting=waiting,
            unreachable=counts.get("unreachable", 0),
            failed=counts.get("dead", 0),
            cancelled=counts.get("cancelled", 0),
            pending=counts.get("pending", 0),
        )

    def render_progress(self, p: Progress, now: datetime) -> OutMessage:
        b = p.broadcast
        if b.status == "cancelled":
            text = self.c.t(
                "broadcast.cancelled", id=b.id, sent=p.sent, cancelled=p.cancelled, total=b.total
            )
            if p.waiting:
                text = Markup(text + "\n" + self.c.t("broadcast.waiting", waiting=p.waiting))
            return OutMessage(text=text)
        if p.done:
            text = self.c.t(
                "broadcast.finished",
                id=b.id,
                sent=p.sent,
                unreachable=p.unreachable,
                failed=p.failed,
                total=b.total,
            )
            if p.waiting:
                text = Markup(text + "\n" + self.c.t("broadcast.waiting", waiting=p.waiting))
            return OutMessage(text=text)
        elapsed = max(1.0, (now - b.created_at).total_seconds())
        done = p.sent + p.waiting + p.unreachable + p.failed
        eta = int(p.pending * elapsed / done) if done else None
        text = self.c.t(
            "broadcast.progress",
            id=b.id,
            sent=p.sent,
            failed=p.unreachable + p.failed,
            pending=p.pending,
            total=b.total,
            eta=self.c.plain("broadcast.eta", seconds=eta)
            if eta is not None
            else self.c.plain("broadcast.eta_unknown"),
        )
        return OutMessage(
            text=text,
            buttons=keyboard([Button(self.c.plain("btn.cancel_broadcast"), actions.button(actions.BROADCAST_CANCEL, arg=b.id))]),
        )

    # -- followers -----------------------------------------------------------------------------

    async def toggle_follow(self, user: UserRow, wish_id: int) -> bool:
        """Follow a public wish (or stop following it); True if now following."""
        async with self.db.transaction() as conn:
            repos = Repos(conn)
            wish = await repos.wish(wish_id)
            if wish is None or not wish.public or wish.status not in _FOLLOWABLE:
                raise NotFound("wish")
            if wish.resident_id == user.id:
                raise InvalidInput("own_wish")
            store = Broadcasts(conn)
            if await store.follow(wish_id, user.id, self.clock.now()):
                return True
            await store.unfollow(wish_id, user.id)
            return False

    # -- helpers -------------------------------------------------------------------------------

    async def _require(self, user: UserRow) -> BroadcastDraft:
        draft = await self.draft(user)
        if draft is None:
            raise InvalidInput("stale_step")
        return draft

    def _check_scope(self, actor: Actor, scope: str) -> None:
        if (scope == COUNTY and not actor.is_admin) or (
            scope != COUNTY and not actor.is_staff_of(scope)
        ):
            raise NotAllowed("broadcast")

    async def _audience(self, store: Broadcasts, draft: BroadcastDraft) -> list[Recipient]:
        if draft.audience == "county":
            return await store.county_audience()
        if draft.audience == "followers" and draft.wish_id is not None:
            return await store.follower_audience(draft.wish_id)
        return await store.station_audience(draft.station_id)

    async def _message(self, draft: BroadcastDraft) -> OutMessage:
        if draft.station_id == COUNTY:
            sender = self.c.plain("broadcast.county")
        else:
            station = await self.liaison.directory.station(draft.station_id)
            sender = station.name if station else draft.station_id
        # A broadcast is public: a resident's mobile, ID number, e-mail or self-introduced name
        # pasted into it is masked (landlines are the offices'), and the preview shows it so.
        masked = mask_pii(draft.text, landlines=False)
        text = Markup(self.c.t("broadcast.message", sender=sender, text=masked))
        return OutMessage(text=text, photos=(draft.photo,) if draft.photo else ())


_FOLLOWABLE = frozenset(
    {Status.SUBMITTED, Status.ASSIGNED, Status.IN_PROGRESS, Status.REOPENED, Status.RESOLVED}
)


class BroadcastMonitor:
    """Keeps each broadcast's progress message current and closes finished broadcasts.

    It works from the database alone, so after a restart it picks up where it stopped.
    """

    def __init__(
        self, service: BroadcastService, transports: dict[str, Transport], clock: Clock
    ) -> None:
        self.service = service
        self.transports = transports
        self.clock = clock

    async def run(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:
                log.exception("broadcast monitor failed")
            await asyncio.sleep(1.0)

    async def run_once(self) -> None:
        async with self.service.db.read() as conn:
            sending = await Broadcasts(conn).sending()
        for row in sending:
            progress = await self.service.progress(row.id)
            now = self.clock.now()
            if progress.done:
                async with self.service.db.transaction() as conn:
                    await Broadcasts(conn).finish(row.id, "done", now)
                progress = await self.service.progress(row.id)
                log.info(
                    "broadcast %s finished: %d sent, %d waiting, %d unreachable, %d failed",
                    row.id,
                    progress.sent,
                    progress.waiting,
                    progress.unreachable,
                    progress.failed,
                )
            elif (
                row.progress_at and (now - row.progress_at).total_seconds() < PROGRESS_EVERY_SECONDS
            ):
                continue
            await self._show(progress, now)

    async def _show(self, progress: Progress, now: datetime) -> None:
        b = progress.broadcast
        if b.progress_chat_id and b.progress_message_id:
            async with self.service.db.read() as conn:
                creator = await Repos(conn).user(b.created_by)
            transport = self.transports.get(creator.channel) if creator else None
            if transport is not None:
                try:
                    await transport.edit(
                        b.progress_chat_id,
                        b.progress_message_id,
                        self.service.render_progress(progress, now),
                    )
                except Exception as exc:  # a progress report must never stop the broadcast
                    log.info("broadcast %s: progress not shown (%s)", b.id, exc)
        async with self.service.db.transaction() as conn:
            await Broadcasts(conn).touch_progress(b.id, now)
