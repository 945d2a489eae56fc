"""Long polling that stores each update before Telegram is told it arrived, and processes
updates of different chats concurrently, those of one chat in order.

PTB's own Updater confirms an update's offset with its next getUpdates call, possibly before the
handler has finished, so a crash can lose it. Here every update is written to the inbox table
first; the offset moves on only after that commit. Updates are then processed, and marked done
afterwards (in small batches: a crash re-processes at most the last moment's updates, which the
use cases recognise by their idempotency keys). After a crash, unfinished updates are processed
again; a redelivered update id is ignored.

The processing model:

* one queue per chat: a chat's updates are handled one after another, in the order they came,
  so a person's flow (a draft, a pending reply) sees their messages in order;
* different chats run concurrently, at most `max_in_flight` updates at once; a direct reply that
  waits for its chat's sending budget (see telegram_io.PacedRateLimiter) waits in that chat's
  queue only, never in another's;
* at most `backlog` updates are held in memory: past that, nothing more is fetched until the
  queues drain (Telegram keeps them meanwhile);
* per-person limits (bot.throttle) are checked when an update arrives, before it is queued: a
  flood is dropped there (marked done unprocessed, one polite notice), at the cost of a
  dictionary look-up, so it never reaches a queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from telegram import Update
from telegram.error import Conflict, InvalidToken, NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.ext import Application

from bot.clock import Clock
from bot.core import INBOX_MAX_ATTEMPTS
from bot.throttle import Kind, Throttle, Verdict
from handlers.telegram_io import quiet_send_message_warning
from storage.db import Database
from storage.repositories import Repos

log = logging.getLogger(__name__)

CHANNEL = "telegram"
ALLOWED_UPDATES = ["message", "callback_query", "my_chat_member"]
MAX_ATTEMPTS = INBOX_MAX_ATTEMPTS  # a poison update is skipped after this many crashes or failures
MAX_IN_FLIGHT = 64  # updates processed at once (each in its own chat)
BACKLOG = 2000  # updates held in memory before fetching pauses
FLUSH_SECONDS = 0.02  # processed updates are marked done in one transaction this often
RETRY_SECONDS = 0.5  # after an update failed, its chat is read again from the inbox after this
PRUNE_SECONDS = 600.0
INBOX_DAYS = 7  # processed updates kept to recognise redeliveries (and idempotency keys with them)

LimitedHook = Callable[[Update], Awaitable[None]]


@dataclass
class _Item:
    update_id: int
    update: Update | None  # parsed already when it came straight from getUpdates
    payload: str | None  # from the inbox, parsed when its turn comes
    attempts: int  # attempts before this one


def chat_key(update: Update) -> str:
    """The queue an update joins: its chat, or the person for a press without a message."""
    chat = update.effective_chat
    if chat is not None:
        return str(chat.id)
    user = update.effective_user
    if user is not None:
        return f"u{user.id}"
    return f"#{update.update_id}"


class DurablePoller:
    def __init__(
        self,
        application: Application,
        db: Database,
        clock: Clock,
        timeout: int = 30,
        *,
        throttle: Throttle | None = None,
        on_limited: LimitedHook | None = None,
        max_in_flight: int = MAX_IN_FLIGHT,
        backlog: int = BACKLOG,
    ) -> None:
        self.app = application
        self.db = db
        self.clock = clock
        self.timeout = timeout
        self.throttle = throttle
        self.on_limited = on_limited
        self.backlog = backlog
        self._stopping = asyncio.Event()
        self._arrived = asyncio.Event()
        self._slots = asyncio.Semaphore(max_in_flight)
        self._queues: dict[str, deque[_Item]] = {}
        self._known: set[int] = set()  # queued, in processing, or done and not yet marked
        self._done: list[int] = []
        self._flushed = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        quiet_send_message_warning()  # getUpdates is read raw (see _fetch_loop)

    def wake(self) -> None:
        """Look at the inbox now (after updates were stored by someone else, e.g. a webhook)."""
        self._arrived.set()

    def stop(self) -> None:
        self._stopping.set()
        self._arrived.set()

    async def run(self) -> None:
        try:
            # What a previous process left unfinished is queued first, ahead of anything newer
            # from the same chat.
            try:
                await self._rescan()
            except Exception as exc:
                log.error("could not read the inbox (%s)", type(exc).__name__)
                self._arrived.set()
            await asyncio.gather(self._fetch_loop(), self._rescan_loop(), self._flush_loop())
        finally:
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            with contextlib.suppress(Exception):
                await self._flush()

    # -- fetching --------------------------------------------------------------------------

    async def _fetch_loop(self) -> None:
        # Start without an offset: Telegram then returns exactly the updates not yet confirmed,
        # and those already in the inbox are ignored by update id. Resuming from the stored
        # maximum would be wrong after a quiet week, when Telegram picks new ids at random
        # and an offset above them would confirm (drop) them unseen.
        offset: int | None = None
        backoff = 1.0
        while not self._stopping.is_set():
            while len(self._known) >= self.backlog and not self._stopping.is_set():
                self._flushed.clear()
                await self._flushed.wait()
            try:
                # The raw JSON rather than Bot.get_updates' Update objects: it is what the
                # inbox stores (no Update.to_dict() and back for every update), and only
                # the updates not seen before are parsed. (Bot.get_updates adds the long-poll
                # timeout to the read timeout: so does this.)
                updates = await self.app.bot.do_api_request(
                    "getUpdates",
                    api_kwargs={
                        "offset": offset,
                        "timeout": self.timeout,
                        "allowed_updates": ALLOWED_UPDATES,
                    },
                    read_timeout=2 * self.timeout + 10,
                )
                backoff = 1.0
            except InvalidToken:
                log.critical("Telegram rejected the bot token; check LIAISON_TELEGRAM_TOKEN")
                raise
            except RetryAfter as exc:
                await self._sleep(
                    float(getattr(exc, "_retry_after", timedelta(seconds=5)).total_seconds())
                )
                continue
            except Conflict:
                log.error(
                    "another instance is polling with this token (or a webhook is set); retrying"
                )
                await self._sleep(5)
                continue
            except (TimedOut, NetworkError, TelegramError) as exc:
                log.warning(
                    "getUpdates failed (%s); retrying in %.0fs", type(exc).__name__, backoff
                )
                await self._sleep(backoff)
                backoff = min(backoff * 2, 60)
                continue
            if not isinstance(updates, list) or not updates:
                continue
            now = self.clock.now()
            rows = [(int(u["update_id"]), json.dumps(u, ensure_ascii=False)) for u in updates]
            async with self.db.transaction(quiet=True) as conn:
                # Stored with their first attempt counted: they go to processing at once.
                fresh = await Repos(conn).inbox_add_many(CHANNEL, rows, now, attempts=1)
            offset = max(update_id for update_id, _ in rows) + 1
            for raw, (update_id, payload) in zip(updates, rows, strict=True):
                if update_id in fresh:
                    self._admit(self._parsed(update_id, raw, payload))

    async def _rescan_loop(self) -> None:
        """Updates in the inbox that nobody is processing: left by a crash, stored by someone
        else (wake), or put back after a failure."""
        while not self._stopping.is_set():
            await self._arrived.wait()
            self._arrived.clear()
            if self._stopping.is_set():
                return
            try:
                await self._rescan()
            except Exception as exc:  # the database failing: try again in a moment
                log.error("could not read the inbox (%s)", type(exc).__name__)
                await self._sleep(RETRY_SECONDS)
                self._arrived.set()

    async def _rescan(self) -> None:
        async with self.db.read() as conn:
            pending = await Repos(conn).inbox_pending(CHANNEL, limit=len(self._known) + 500)
        pending = [p for p in pending if p[0] not in self._known]
        if not pending:
            return
        async with self.db.transaction(quiet=True) as conn:
            await Repos(conn).inbox_attempts([p[0] for p in pending], CHANNEL)
        for update_id, payload, attempts in pending:
            self._admit(_Item(update_id, None, payload, attempts))

    def _parsed(self, update_id: int, raw: dict[str, object], payload: str) -> _Item:
        try:
            return _Item(update_id, Update.de_json(raw, self.app.bot), None, 0)
        except Exception:
            # _admit tries again from the stored text, and skips it there with the reason
            return _Item(update_id, None, payload, 0)

    # -- queueing --------------------------------------------------------------------------

    def _admit(self, item: _Item) -> None:
        if item.update_id in self._known:
            return
        self._known.add(item.update_id)
        update = item.update
        if update is None:
            if item.attempts >= MAX_ATTEMPTS:
                log.error("update %s failed %d times; skipping it", item.update_id, item.attempts)
                self._mark_done(item.update_id)
                return
            try:
                update = item.update = Update.de_json(json.loads(item.payload or ""), self.app.bot)
            except Exception as exc:
                # It will never parse: retrying cannot help. (The type only: the message may
                # quote the update, and logs carry ids.)
                log.error("update %s cannot be read (%s); skipping it", item.update_id, type(exc).__name__)
                self._mark_done(item.update_id)
                return
        if not self._allowed(update):
            self._mark_done(item.update_id)
            return
        key = chat_key(update)
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = deque()
            self._spawn(self._drain(key, queue))
        queue.append(item)

    def _allowed(self, update: Update) -> bool:
        """The per-person limit, checked before queueing and without waiting."""
        user = update.effective_user
        if self.throttle is None or user is None or user.is_bot:
            return True
        if update.callback_query is not None:
            kind = Kind.PRESS
        elif update.message is not None:
            kind = Kind.MESSAGE
        else:
            return True  # membership changes and the like are not the person's input
        verdict = self.throttle.check(str(user.id), kind)
        if verdict is Verdict.ALLOW:
            return True
        if verdict is Verdict.NOTICE:
            log.info("user %s is over the %s limit; input dropped", user.id, kind.value)
            if self.on_limited is not None:
                self._spawn(self._tell_limited(update))
        return False

    async def _tell_limited(self, update: Update) -> None:
        assert self.on_limited is not None
        try:
            await self.on_limited(update)
        except Exception as exc:  # a courtesy: the input is dropped either way
            log.info("could not send the limit notice (%s)", type(exc).__name__)

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- processing ------------------------------------------------------------------------

    async def _drain(self, key: str, queue: deque[_Item]) -> None:
        """One chat's updates, in order. Ends when the queue is empty (no await between the
        last look and the removal, so nothing can be appended to a queue nobody drains)."""
        try:
            while queue and not self._stopping.is_set():
                item = queue[0]
                async with self._slots:
                    ok = await self._process(item)
                queue.popleft()
                if not ok:
                    # Put the rest of the chat back as well, so its order is kept: the inbox is
                    # read again in a moment, the failed update first.
                    for rest in queue:
                        self._known.discard(rest.update_id)
                    queue.clear()
                    self._spawn(self._retry_later())
        finally:
            if self._queues.get(key) is queue:
                del self._queues[key]

    async def _process(self, item: _Item) -> bool:
        assert item.update is not None
        try:
            await self.app.process_update(item.update)
        except Exception as exc:
            # Handlers' own errors go to the error handler inside process_update; this is the
            # database failing or the like. The attempt was counted, so after MAX_ATTEMPTS the
            # update is skipped: it never stops the bot.
            log.error("update %s could not be processed (%s)", item.update_id, type(exc).__name__)
            self._known.discard(item.update_id)
            return False
        self._mark_done(item.update_id)
        return True

    async def _retry_later(self) -> None:
        await self._sleep(RETRY_SECONDS)
        self._arrived.set()

    def _mark_done(self, update_id: int) -> None:
        self._done.append(update_id)

    async def _flush_loop(self) -> None:
        loop = asyncio.get_running_loop()
        pruned = loop.time()
        while not self._stopping.is_set():
            await self._sleep(FLUSH_SECONDS)
            try:
                await self._flush()
                if loop.time() - pruned > PRUNE_SECONDS:
                    pruned = loop.time()
                    async with self.db.transaction(quiet=True) as conn:
                        await Repos(conn).inbox_prune(
                            CHANNEL, self.clock.now() - timedelta(days=INBOX_DAYS)
                        )
            except Exception as exc:  # the rows stay pending and are processed again
                if self._stopping.is_set():
                    return  # shutting down: the database may be closed already
                log.error("could not mark updates as processed (%s)", type(exc).__name__)

    async def _flush(self) -> None:
        if not self._done:
            return
        done, self._done = self._done, []
        try:
            async with self.db.transaction(quiet=True) as conn:
                await Repos(conn).inbox_done_many(CHANNEL, done, self.clock.now())
        except BaseException:
            self._done[:0] = done
            raise
        self._known.difference_update(done)
        self._flushed.set()

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)
