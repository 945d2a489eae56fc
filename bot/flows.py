"""A person's unfinished business: the /new draft, pending text input, other per-feature state."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from bot.core import (
    PRIORITY_INTERACTIVE,
    Core,
    NotFound,
    Part,
    check_allowed,
    load_wish,
)
from bot.directory import Directory
from bot.domain.draft import PHOTO_SECONDS, Draft, Step
from bot.domain.model import (
    Action,
    InvalidInput,
    Wish,
)
from bot.messages import OutMessage
from bot.notify import outgoing
from bot.people import People
from storage.repositories import (
    Repos,
    UserRow,
)

log = logging.getLogger(__name__)

# The outbox kind of the acknowledgement of photos being sent (add_photos), and the flow state's
# key saying where the last one was queued, so the next answer can take it back.
PHOTO_ACK = "photo_ack"
# The flow state's key of the last photo sent with no draft to take it (its sending is explained
# once: bot/conversation/router.py photo_out_of_place).
PHOTOS_OUT_OF_PLACE = "photos_out_of_place"
# Keys that only remember what was said: nothing a person could cancel.
BOOKKEEPING = frozenset({PHOTO_ACK, PHOTOS_OUT_OF_PLACE})
# The draft set aside by a menu command (/faq, /my, /wall, /help) while it was being filled:
# kept, but what the person writes next is no longer read as its text (QA item 19: a question
# typed after 常见问题 was added to the wish). /new or a press of one of its buttons takes it up.
ASIDE_KEY = "draft_aside"
# A remembered question waits at most this long in memory when nobody else opens a
# transaction it can join (see Flows.remember_question). Longer than the inbox's 20 ms
# done-mark batches, which carry it on Telegram; on other channels the bound of its wait.
QUESTION_FLUSH_SECONDS = 0.05


@dataclass(frozen=True)
class FlowState:
    """A person's flow state (every feature's key) and when it last changed, read once for a
    turn: free text asks about expiry, pending input, a broadcast and a draft in a row."""

    data: dict[str, Any]
    updated_at: datetime | None = None


class Flows(Part):
    def __init__(self, core: Core, people: People, directory: Directory) -> None:
        super().__init__(core)
        self.people = people
        self.directory = directory
        # Questions remembered and not yet stored: user id -> (text, when). See
        # remember_question; reads of the flow state see them from here meanwhile.
        self._questions: dict[int, tuple[str, datetime]] = {}
        self._flush_task: asyncio.Task[None] | None = None
        self.db.defer_writes(self)

    async def state(self, repos: Repos, user_id: int) -> dict[str, Any]:
        """The person's flow state, read inside the caller's transaction (every feature its own key)."""
        found = await repos.session(user_id)
        return self._with_question(user_id, found[1] if found else {})

    def _with_question(self, user_id: int, data: dict[str, Any]) -> dict[str, Any]:
        held = self._questions.get(user_id)
        if held is not None:
            data["question"] = held[0]
        return data

    async def save_state(self, repos: Repos, user_id: int, state: dict[str, Any]) -> None:
        """Store the state with the caller's change; an empty state removes the session."""
        if any(state.values()):
            await repos.set_session(user_id, "state", state, self.clock.now())
        else:
            await repos.clear_session(user_id)

    async def read(self, user: UserRow) -> FlowState:
        async with self.db.read() as conn:
            found = await Repos(conn).session_with_time(user.id)
        held = self._questions.get(user.id)
        if held is not None:  # as it will be stored (see remember_question)
            return FlowState(self._with_question(user.id, found[0] if found else {}), held[1])
        return FlowState(*found) if found else FlowState({})

    def needs_expiry(self, state: FlowState) -> bool:
        """Whether `expire_input` has something to drop (without asking the database again)."""
        return state.updated_at is not None and self._has_expired(state.data, state.updated_at)

    def draft_in(self, state: FlowState) -> Draft | None:
        """The draft free text, photos and locations go to: none while it is set aside."""
        data = state.data.get("draft")
        return Draft.from_dict(data) if data and not state.data.get(ASIDE_KEY) else None

    async def set_draft_aside(self, user: UserRow) -> bool:
        """Keep the draft being filled but stop reading what comes next as its text; whether
        one was set aside just now."""
        async with self.db.transaction() as conn:
            repos = Repos(conn)
            state = await self.state(repos, user.id)
            if not state.get("draft") or state.get(ASIDE_KEY):
                return False
            state[ASIDE_KEY] = True
            # photos' acknowledgement still waiting would invite them to go on with the wish
            # just set aside; /new shows the count when it is taken up again
            await self._take_back_photo_ack(repos, state)
            await self.save_state(repos, user.id, state)
        return True

    async def resume_draft(self, user: UserRow) -> Draft | None:
        """The draft set aside, taken up again (None if there is none set aside)."""
        async with self.db.transaction() as conn:
            repos = Repos(conn)
            state = await self.state(repos, user.id)
            if not state.get("draft") or not state.pop(ASIDE_KEY, None):
                return None
            await self.save_state(repos, user.id, state)
            return Draft.from_dict(state["draft"])

    def pending_in(self, state: FlowState) -> tuple[Action, int] | None:
        data = state.data.get("input")
        if not data or self._input_expired(data.get("at")):
            return None
        return Action(data["action"]), int(data["wish_id"])

    async def draft(self, user: UserRow) -> Draft | None:
        return self.draft_in(await self.read(user))

    async def check_wish_budget(self, repos: Repos, user: UserRow) -> None:
        """Refuse a new wish past the daily limit: a resident sending forty wishes in a row
        must not put forty cards on a deputy's phone."""
        if self.core.wishes_per_day <= 0:
            return
        since = self.clock.now() - timedelta(days=1)
        if await repos.wishes_submitted_since(user.id, since) >= self.core.wishes_per_day:
            raise InvalidInput("wish_limit")

    async def start_draft(self, user: UserRow, prefill: str | None = None) -> Draft:
        async with self.db.read() as conn:
            await self.check_wish_budget(Repos(conn), user)
        station = await self.directory.home_station(user)
        draft = Draft()
        if station is not None:
            draft = draft.with_station(station.id)
        if prefill:
            draft = replace(draft, extra={"prefill": prefill[:2000]})
        async with self.db.transaction() as conn:
            repos = Repos(conn)
            state = await self.state(repos, user.id)
            state["draft"] = draft.to_dict()
            state.pop("input", None)
            await self._take_back_photo_ack(repos, state)
            state.pop(ASIDE_KEY, None)
            await self.save_state(repos, user.id, state)
        return draft

    async def update_draft(
        self, user: UserRow, change: Callable[[Draft], Draft], *, answered: bool = True
    ) -> Draft:
        """Apply a pure draft change; raises InvalidInput (nothing saved) if it is refused.
        `answered`: the caller answers with the draft's next prompt, which shows the photo
        count, so an acknowledgement of photos still waiting in the outbox is taken back (a
        part of a split paste, answered by nothing, leaves it)."""
        async with self.db.transaction() as conn:
            repos = Repos(conn)
            state = await self.state(repos, user.id)
            if not state.get("draft"):
                raise InvalidInput("no_draft")
            draft = change(Draft.from_dict(state["draft"]))
            if answered:
                await self._take_back_photo_ack(repos, state)
            if draft.step is Step.CATEGORY and draft.station_id:
                if await repos.station(draft.station_id) is None:
                    raise NotFound("station")
                await repos.set_user_station(user.id, draft.station_id)
            if draft.category_id and not any(
                c.id == draft.category_id for c in await repos.categories()
            ):
                raise InvalidInput("bad_category")
            state["draft"] = draft.to_dict()
            state.pop(ASIDE_KEY, None)  # a press of one of its buttons takes it up again
            await self.save_state(repos, user.id, state)
        return draft

    async def add_photos(
        self,
        user: UserRow,
        refs: tuple[str, ...],
        caption: str | None,
        *,
        group: str,
        channel: str,
        chat: str,
        acknowledgement: Callable[[Draft], OutMessage],
    ) -> Draft:
        """Keep the photos of one input on the draft and acknowledge the sending once, after
        its last photo: the acknowledgement (made from the new draft: the count kept, any
        refused) is queued in the outbox, due PHOTO_SECONDS from now, in place of the one the
        previous photo queued if it is still waiting. So an album of five photos, which arrives
        as five inputs within a fraction of a second, gets one message with the count 5.

        Why the outbox and not a timer: the person's queue of inputs must never wait (no sleep
        in a turn, their next photo is processed at once), and the outbox is the one durable
        timer there is: the dispatcher wakes for a row's due time, delivers it on the channel
        the photos came by (a WeChat 客服 message, the web page's stream), and a crash loses
        neither the photos (kept in this transaction) nor the acknowledgement."""
        now = self.clock.now()
        async with self.db.transaction() as conn:
            repos = Repos(conn)
            state = await self.state(repos, user.id)
            if not state.get("draft"):
                raise InvalidInput("no_draft")
            draft = Draft.from_dict(state["draft"]).with_photos(
                refs, caption, now.timestamp(), group
            )
            await self._take_back_photo_ack(repos, state)
            ack = acknowledgement(draft)
            row = outgoing(channel, chat, user.id, PHOTO_ACK, PRIORITY_INTERACTIVE, ack)
            await repos.enqueue(
                [replace(row, not_before=now + timedelta(seconds=PHOTO_SECONDS))], now
            )
            state[PHOTO_ACK] = {"channel": channel, "chat": chat}
            state["draft"] = draft.to_dict()
            await self.save_state(repos, user.id, state)
        log.info("user %s: %d photo(s) taken, acknowledgement queued", user.id, len(refs))
        return draft

    async def _take_back_photo_ack(self, repos: Repos, state: dict[str, Any]) -> None:
        """Cancel the photo acknowledgement still waiting in the outbox, if one was queued:
        the answer being given now supersedes it (or the draft it counted is gone)."""
        queued = state.pop(PHOTO_ACK, None)
        if isinstance(queued, dict):
            await repos.outbox_cancel_pending(
                str(queued.get("channel", "")), str(queued.get("chat", "")), PHOTO_ACK
            )

    async def cancel_flows(self, user: UserRow) -> bool:
        async with self.db.transaction() as conn:
            repos = Repos(conn)
            found = await repos.session(user.id)
            if found is not None:
                await self._take_back_photo_ack(repos, found[1])
            await repos.clear_session(user.id)
        return found is not None and any(
            value for key, value in found[1].items() if key not in BOOKKEEPING
        )

    async def session_value(self, user: UserRow, key: str) -> Any:
        """One piece of a person's flow state (other features keep theirs under their own key)."""
        async with self.db.read() as conn:
            return (await self.state(Repos(conn), user.id)).get(key)

    async def set_session_value(self, user: UserRow, key: str, value: Any) -> None:
        async with self.db.transaction() as conn:
            repos = Repos(conn)
            state = await self.state(repos, user.id)
            if value is None:
                state.pop(key, None)
            else:
                state[key] = value
            await self.save_state(repos, user.id, state)

    async def remember_question(self, user: UserRow, text: str) -> None:
        """Keep an unanswered question, so "leave it as a wish" can prefill it.

        Every FAQ question does this, and a transaction of its own per question was a tenth of
        the bot's time under load. So the question is held in memory and joins the next
        transaction anyone opens (storage.db.DeferredWrites): on Telegram the inbox's batch of
        done-marks, which marks this very update done, so it can never be marked done without
        its question stored (a crash before that batch processes the update again, which
        remembers it again); otherwise a transaction of its own after at most
        QUESTION_FLUSH_SECONDS. Meanwhile every read of the flow state here sees it."""
        self._questions[user.id] = (text[:2000], self.clock.now())
        self._schedule_flush()

    def _schedule_flush(self) -> None:
        if self._flush_task is None or self._flush_task.done():
            self._flush_task = asyncio.get_running_loop().create_task(self._flush_soon())

    async def _flush_soon(self) -> None:
        await asyncio.sleep(QUESTION_FLUSH_SECONDS)
        try:
            await self.db.flush_deferred()
        except Exception as exc:  # kept in memory: the next transaction takes them
            log.error("could not store remembered questions (%s)", type(exc).__name__)

    # storage.db.DeferredWrites: the remembered questions join a transaction

    def pending(self) -> bool:
        return bool(self._questions)

    async def write(self, conn: Any) -> Callable[[], None]:
        held, self._questions = self._questions, {}

        def take_back() -> None:  # rolled back: they go with the next transaction
            for user_id, question in held.items():
                self._questions.setdefault(user_id, question)  # (a newer one stays)
            self._schedule_flush()

        try:
            repos = Repos(conn)
            states = await repos.sessions_data(list(held))
            rows = []
            for user_id, (text, at) in held.items():
                state = states.get(user_id, {})
                state["question"] = text
                rows.append((user_id, state, at))
            await repos.set_sessions(rows)
        except BaseException:
            take_back()  # the transaction rolls back without them
            raise
        return take_back

    async def recalled_question(self, user: UserRow) -> str | None:
        async with self.db.read() as conn:
            return (await self.state(Repos(conn), user.id)).get("question")

    async def begin_input(self, user: UserRow, action: Action, wish_id: int) -> Wish:
        """Remember that this person's next text is the body of `action` on the wish."""
        async with self.db.transaction() as conn:
            repos = Repos(conn)
            wish = await load_wish(repos, wish_id)
            actor = await self.people.actor_in(repos, user)
            check_allowed(wish, action, actor)
            state = await self.state(repos, user.id)
            state["input"] = {
                "action": action.value,
                "wish_id": wish.id,
                "at": self.clock.now().isoformat(),
            }
            await self.save_state(repos, user.id, state)
        return wish

    async def pending_input(self, user: UserRow) -> tuple[Action, int] | None:
        return self.pending_in(await self.read(user))

    def _input_expired(self, at: str | None) -> bool:
        if not at:
            return True  # from before expiry existed: as old as it gets
        return self.clock.now() - datetime.fromisoformat(at) > self.core.input_timeout

    def _has_expired(self, state: dict[str, Any], updated_at: datetime) -> bool:
        pending = state.get("input")
        if pending and self._input_expired(pending.get("at")):
            return True
        return (
            bool(state.get("broadcast")) and self.clock.now() - updated_at > self.core.input_timeout
        )

    async def expire_input(self, user: UserRow) -> list[tuple[str, str]]:
        """Forget pending input older than `input_timeout`; what was dropped, for a polite
        note: ("input", receipt) for a wish's pending text, ("broadcast", "") for a broadcast
        being written (judged by the session's last change)."""
        dropped: list[tuple[str, str]] = []
        async with self.db.read() as conn:  # every message asks: no write unless something expired
            found = await Repos(conn).session_with_time(user.id)
        if found is None or not self._has_expired(*found):
            return dropped
        async with self.db.transaction() as conn:
            repos = Repos(conn)
            found = await repos.session_with_time(user.id)
            if found is None:
                return dropped
            state, updated_at = found
            pending = state.get("input")
            if pending and self._input_expired(pending.get("at")):
                wish = await repos.wish(int(pending.get("wish_id", 0)))
                dropped.append(("input", wish.receipt if wish else ""))
                state.pop("input")
            if state.get("broadcast") and self._has_expired({"broadcast": 1}, updated_at):
                dropped.append(("broadcast", ""))
                state.pop("broadcast")
            if dropped:
                await self.save_state(repos, user.id, state)
        if dropped:
            log.info("user %s: expired pending input %s", user.id, [k for k, _ in dropped])
        return dropped
