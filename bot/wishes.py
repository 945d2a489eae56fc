"""Changing wishes: submit, route, every action of the lifecycle, and what others hear of it."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta

from bot.cards import WishContext
from bot.core import (
    Core,
    NotFound,
    Part,
    load_wish,
    wish_context,
)
from bot.domain.draft import MAX_REPLY, Draft
from bot.domain.model import (
    Action,
    Actor,
    Event,
    InvalidInput,
    InvalidTransition,
    NotAllowed,
    Rating,
    Role,
    Status,
    Wish,
    new_wish_event,
)
from bot.domain.receipts import format_receipt
from bot.domain.routing import choose_deputy
from bot.flows import Flows
from bot.notify import Notifier
from bot.people import People
from storage.repositories import (
    Attachment,
    Repos,
    UserRow,
)
from storage.supervision import SupervisionRepo

log = logging.getLogger(__name__)


class Wishes(Part):
    def __init__(self, core: Core, people: People, flows: Flows, notify: Notifier) -> None:
        super().__init__(core)
        self.people = people
        self.flows = flows
        self.notify = notify

    async def submit_draft(
        self, user: UserRow, idempotency_key: str | None = None
    ) -> tuple[Wish, WishContext]:
        now = self.clock.now()
        async with self.db.transaction() as conn:
            repos = Repos(conn)
            if idempotency_key:
                existing = await repos.wish_by_idempotency_key(idempotency_key)
                if existing is not None:
                    return existing, await wish_context(repos, existing)
            state = await self.flows.state(repos, user.id)
            draft = Draft.from_dict(state["draft"]) if state.get("draft") else None
            if draft is None or not draft.ready():
                raise InvalidInput("stale_step")
            await self.flows.check_wish_budget(repos, user)
            assert draft.station_id and draft.category_id and draft.public is not None
            station = await repos.station(draft.station_id)
            if station is None:
                raise NotFound("station")
            year = now.astimezone(self.tz).year
            seq = await repos.next_receipt_seq(station.id, year)
            wish = Wish(
                id=0,
                station_id=station.id,
                receipt=format_receipt(station.code, year, seq),
                resident_id=user.id,
                category_id=draft.category_id,
                text=draft.text,
                status=Status.SUBMITTED,
                created_at=now,
                public=draft.public,
                phone=draft.phone,
            )
            wish_id = await repos.insert_wish(wish, idempotency_key)
            wish = replace(wish, id=wish_id)
            attachments = [Attachment("photo", file_ref=p) for p in draft.photos]
            if draft.location:
                attachments.append(
                    Attachment("location", latitude=draft.location[0], longitude=draft.location[1])
                )
            await repos.add_attachments(wish_id, attachments)
            submitted = new_wish_event(user.id, now, wish.text)
            await repos.add_event(wish_id, submitted)
            for hook in self.core.event_hooks:
                await hook(repos, wish, submitted)
            state.pop("draft", None)
            await self.flows.save_state(repos, user.id, state)
            await repos.set_user_station(user.id, station.id)
            wish = await self.route(repos, wish, now)
            ctx = await wish_context(repos, wish)
        log.info(
            "wish %s submitted at station %s (deputy %s)", wish.id, wish.station_id, wish.deputy_id
        )
        return wish, ctx

    async def route(self, repos: Repos, wish: Wish, now: datetime) -> Wish:
        """Give a new wish to a deputy of its station, or tell the staff nobody fits."""
        deputy_id = choose_deputy(wish.category_id, await repos.deputy_loads(wish.station_id))
        if deputy_id is None:
            ctx = await wish_context(repos, wish)
            dues = (await SupervisionRepo(repos.conn).due_dates_of([wish.id])).get(wish.id)
            await self.notify.to_staff(
                repos, wish.station_id, self.cards.unassigned_notice(wish, ctx, dues), wish.id
            )
            return wish
        wish, event = wish.apply(Action.ASSIGN, Actor.system(), now, deputy_id=deputy_id)
        await self.record(repos, wish, event, now)
        await repos.note_assignment(deputy_id)
        await self.notify.card(repos, wish, deputy_id)
        return wish

    async def finish_input(
        self, user: UserRow, text: str, idempotency_key: str | None = None
    ) -> tuple[Action, Wish]:
        pending = await self.flows.pending_input(user)
        if pending is None:
            raise InvalidInput("stale_step")
        action, wish_id = pending
        try:
            wish = await self.act(
                user, wish_id, action, body=text, idempotency_key=idempotency_key, clear_input=True
            )
        except (NotFound, NotAllowed, InvalidTransition):
            # The wish moved on (transferred, resolved, withdrawn) since the button was pressed:
            # forget the pending input, or every later message would be refused the same way.
            await self.flows.set_session_value(user, "input", None)
            raise
        return action, wish

    async def act(
        self,
        user: UserRow,
        wish_id: int,
        action: Action,
        *,
        body: str = "",
        deputy_id: int | None = None,
        rating: Rating | None = None,
        idempotency_key: str | None = None,
        clear_input: bool = False,
    ) -> Wish:
        body = body.strip()
        if len(body) > MAX_REPLY:
            raise InvalidInput("text_too_long")
        now = self.clock.now()
        async with self.db.transaction() as conn:
            repos = Repos(conn)
            wish = await load_wish(repos, wish_id)
            if idempotency_key and await repos.event_key_used(idempotency_key):
                return wish  # a redelivered update: done already
            actor = await self.people.actor_in(repos, user)
            # First: a stranger's forged press learns nothing, not even that the wish exists.
            if not wish.roles_of(actor):
                raise NotFound("wish")  # the same answer as for a wish that does not exist
            if action in (Action.ASSIGN, Action.TRANSFER):
                if deputy_id is None:
                    raise InvalidInput("no_deputy")
                target = await repos.deputy(deputy_id)
                if target is None or not target.active or target.station_id != wish.station_id:
                    raise InvalidInput("bad_deputy")
                if wish.status is not Status.SUBMITTED:
                    action = Action.TRANSFER
            if action is Action.RESOLVE and wish.status in (Status.ASSIGNED, Status.REOPENED):
                # One tap for a quick fix, but the timeline still shows it was taken on
                # (受理) before it was resolved; the resident hears only the result. If the
                # resolution is refused below, the transaction takes the acceptance back too.
                wish, accepted = wish.apply(Action.ACCEPT, actor, now)
                await self.record(repos, wish, accepted, now, None)
            previous = wish
            wish, event = wish.apply(
                action, actor, now, body=body, deputy_id=deputy_id, rating=rating
            )
            await self.record(repos, wish, event, now, idempotency_key)
            if clear_input:
                state = await self.flows.state(repos, user.id)
                state.pop("input", None)
                await self.flows.save_state(repos, user.id, state)
            await self.after(repos, previous, wish, event, now)
        log.info(
            "wish %s: %s by user %s -> %s", wish.id, event.action.value, user.id, wish.status.value
        )
        return wish

    async def after(
        self, repos: Repos, before: Wish, wish: Wish, event: Event, now: datetime
    ) -> None:
        """Queue what the other parties need to hear about `event`."""
        ctx = await wish_context(repos, wish)
        deputy_name = ctx.deputy_name or self.c.plain("role.staff")
        match event.action:
            case Action.ASSIGN | Action.TRANSFER:
                assert wish.deputy_id is not None
                await repos.note_assignment(wish.deputy_id)
                await self.notify.card(repos, wish, wish.deputy_id)
                if before.deputy_id is not None and event.role is not Role.DEPUTY:
                    await self.notify.to_deputy(
                        repos,
                        before.deputy_id,
                        self.cards.handler_note(wish, "note.transferred_away", to=deputy_name),
                        fallback=False,  # staff moved it: they need not hear it back
                    )
                await self.notify.to_resident(
                    repos,
                    wish,
                    self.cards.resident_note(wish, "resident.assigned", deputy=deputy_name),
                )
            case Action.ACCEPT:
                await self.notify.to_resident(
                    repos,
                    wish,
                    self.cards.resident_note(
                        wish, "resident.accepted", deputy=deputy_name, buttons=True
                    ),
                )
            case Action.REPLY:
                await self.notify.to_resident(
                    repos,
                    wish,
                    self.cards.resident_note(
                        wish, "resident.reply", deputy=deputy_name, text=event.body, buttons=True
                    ),
                )
            case Action.SUPPLEMENT:
                note = self.cards.handler_note(wish, "note.supplement", text=event.body)
                if wish.deputy_id is not None:
                    await self.notify.to_deputy(repos, wish.deputy_id, note)
                else:
                    await self.notify.to_staff(repos, wish.station_id, [note], wish.id)
            case Action.RESOLVE:
                await self.notify.to_resident(
                    repos,
                    wish,
                    self.cards.resident_note(
                        wish, "resident.resolved", deputy=deputy_name, text=event.body, buttons=True
                    ),
                )
                await self.notify.to_followers(repos, wish, ctx, now)
                station = await repos.station(wish.station_id)
                if wish.public and station and station.wall_chat_id:
                    resident = await repos.user(wish.resident_id)
                    ctx = replace(ctx, resident_name=resident.display_name if resident else "")
                    await self.notify.to_wall(
                        repos, station, self.cards.wall_post(wish, ctx, now), now, wish.id
                    )
            case Action.DECLINE:
                await self.notify.to_resident(
                    repos,
                    wish,
                    self.cards.resident_note(wish, "resident.declined", text=event.body),
                )
            case Action.WITHDRAW:
                if wish.deputy_id is not None:
                    await self.notify.to_deputy(
                        repos, wish.deputy_id, self.cards.handler_note(wish, "note.withdrawn")
                    )
            case Action.RATE | Action.REOPEN:
                if wish.status is Status.REOPENED:
                    await self.notify.withdraw_from_wall(repos, wish, now)
                    if wish.deputy_id is not None:
                        await self.notify.card(repos, wish, wish.deputy_id, heading="card.reopened")
                    await self.notify.to_staff(
                        repos,
                        wish.station_id,
                        [self.cards.handler_note(wish, "note.reopened_staff", deputy=deputy_name)],
                        wish.id,
                    )
                    if event.role is not Role.RESIDENT:
                        await self.notify.to_resident(
                            repos, wish, self.cards.resident_note(wish, "resident.reopened")
                        )
                elif wish.deputy_id is not None and wish.rating is not None:
                    label = self.c.plain(f"rating.{wish.rating.value}")
                    await self.notify.to_deputy(
                        repos,
                        wish.deputy_id,
                        self.cards.handler_note(wish, "note.rated", rating=label),
                    )
            case _:
                pass
        # A deputy should know when staff acted on their wish for them.
        if (
            event.role is Role.STAFF
            and wish.deputy_id is not None
            and event.action in (Action.ACCEPT, Action.RESOLVE, Action.DECLINE, Action.REPLY)
        ):
            await self.notify.to_deputy(
                repos,
                wish.deputy_id,
                self.cards.handler_note(
                    wish,
                    "note.staff_acted",
                    action=self.c.plain(f"action.{event.action.value}", to=""),
                ),
            )

    async def record(
        self, repos: Repos, wish: Wish, event: Event, now: datetime, key: str | None = None
    ) -> None:
        """Store a wish's change and its timeline event; the event hooks (supervision's due
        dates) run in the same transaction."""
        await repos.update_wish(wish, now)
        await repos.add_event(wish.id, event, key)
        for hook in self.core.event_hooks:
            await hook(repos, wish, event)

    async def close_stale(self) -> int:
        """Resolved wishes nobody rated close by themselves after the configured days."""
        now = self.clock.now()
        cutoff = now - timedelta(days=self.core.auto_close_days)
        closed = 0
        async with self.db.transaction() as conn:
            repos = Repos(conn)
            for wish in await repos.resolved_before(cutoff, limit=500):
                wish, event = wish.apply(Action.CLOSE, Actor.system(), now)
                await self.record(repos, wish, event, now)
                closed += 1
        return closed
