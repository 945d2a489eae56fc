"""Delivers the outbox: one place that talks to the platform for messages to other people.

Rows are written in the same transaction as the change that caused them, so a crash can at worst
deliver a message twice (sent, then killed before it was marked), never lose it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from enum import StrEnum
from typing import Any, Protocol

from bot.clock import Clock
from bot.domain.model import Status
from bot.messages import OutMessage
from bot.pacing import Limits, Pacer
from storage.broadcasts import DeliveryQueue
from storage.db import Database
from storage.repositories import NewOutgoing, OutboxRow, Repos
from storage.wall import WALL_KIND, WALL_WITHDRAW_KIND, WallPosts

log = logging.getLogger(__name__)


class Failure(StrEnum):
    RETRY_AFTER = "retry_after"  # the platform asked us to slow down
    UNREACHABLE = "unreachable"  # blocked, never started, deactivated, chat gone
    BAD_REQUEST = "bad_request"  # the message itself is wrong: retrying cannot help
    TRANSIENT = "transient"  # network trouble or a server error


class DeliveryError(Exception):
    def __init__(
        self, failure: Failure, description: str, retry_after: float | None = None
    ) -> None:
        super().__init__(description)
        self.failure = failure
        self.description = description
        self.retry_after = retry_after


class Transport(Protocol):
    channel: str

    async def deliver(self, chat_id: str, message: OutMessage) -> str | None:
        """Send one message; return the platform's id of the message replies would quote."""
        ...

    async def edit(self, chat_id: str, message_id: str, message: OutMessage) -> None:
        """Replace the text and buttons of a message sent earlier (progress reports)."""
        ...

    def is_group(self, chat_id: str) -> bool: ...


UnreachableHook = Callable[[int, str], Awaitable[None]]

# The states in which a wish's result stands on the 回音壁 (reopened: withdrawn).
SHOWN_ON_WALL = frozenset({Status.RESOLVED, Status.CLOSED})


FLUSH_SECONDS = 0.05  # successful deliveries are marked in one transaction this often
STALE_SECONDS = 0.5  # a batch older than this is read again (a broadcast may be cancelled)


class Dispatcher:
    """One loop that picks due rows, paces them, and delivers each in its own task.

    Deliveries the platform accepted are marked sent in batches (every FLUSH_SECONDS) rather than
    one transaction per message (except those about a wish, whose replies must find the wish at
    once): at hundreds of messages a second that is the difference between running at the
    platform's limit and queueing on the database. A crash in between re-sends at most the last
    moment's messages once: the promise is "nothing lost, at most one duplicate per crash",
    never "exactly once", which no platform API allows.

    How many requests are on the wire adapts to their latency (see _window), between 4 and
    Limits.concurrency. A batch of rows read more than STALE_SECONDS ago is read again before
    more of it is sent, so a cancelled broadcast stops within that time.
    """

    def __init__(
        self,
        db: Database,
        transports: dict[str, Transport],
        clock: Clock,
        on_unreachable: UnreachableHook,
        pacer: Pacer | None = None,
    ) -> None:
        self.db = db
        self.transports = transports
        self.clock = clock
        self.on_unreachable = on_unreachable
        self.pacer = pacer or Pacer(Limits())
        self.limits = self.pacer.limits
        self._recent_429: dict[str, float] = {}
        self._wake = asyncio.Event()
        self._stopping = False
        self._in_flight: set[str] = set()  # chats with a request on the wire
        self._busy_rows: set[int] = set()  # rows on the wire, or sent and not yet marked
        self._sent: list[tuple[OutboxRow, str | None]] = []
        self._latency = 0.1  # moving average of one request's duration, seconds
        db.on_commit(self.wake)

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        log.info("dispatcher started")
        loop = asyncio.get_running_loop()
        tasks: set[asyncio.Task[None]] = set()
        flusher = asyncio.create_task(self._flush_loop())
        # About a quarter second of sending per fetch, so a new urgent row is picked up quickly
        # even while thousands of broadcast rows are waiting.
        batch = max(10, int(self.limits.global_per_second / 4))
        try:
            while not self._stopping:
                self._wake.clear()
                rows = await self._due(batch + len(self._busy_rows))
                fetched = loop.time()
                started = 0
                waiting = 0.0
                for row in rows:
                    if self._stopping:
                        break
                    if row.id in self._busy_rows or row.chat_id in self._in_flight:
                        continue
                    transport = self.transports.get(row.channel)
                    if transport is None:
                        await self._fail(row, "dead", f"no transport for channel {row.channel}")
                        continue
                    group = transport.is_group(row.chat_id)
                    delay = self.pacer.chat_delay(row.chat_id, group)
                    if delay > 0:
                        waiting = min(waiting or delay, delay)
                        continue
                    while len(tasks) >= self._window():
                        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                    await self.pacer.acquire_global(row.priority)
                    if (
                        self._stopping
                        or loop.time() - fetched > STALE_SECONDS
                        or self.pacer.chat_delay(row.chat_id, group) > 0  # a 429 meanwhile
                    ):
                        self.pacer.refund_global()
                        started += 1  # read the queue again at once
                        break
                    self.pacer.take_chat(row.chat_id, group)
                    self._in_flight.add(row.chat_id)
                    self._busy_rows.add(row.id)
                    task = asyncio.create_task(self._deliver(transport, row))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                    started += 1
                if started:
                    continue
                timeout = await self._idle_timeout(rows, waiting)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout)
        finally:
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher
            await self._flush()
        log.info("dispatcher stopped")

    def _window(self) -> int:
        """How many requests may be on the wire: enough to keep the global rate going at the
        current request latency, with room to spare, and no more. Each extra connection costs
        client CPU on every request (the HTTP pool checks them all), which at hundreds of
        messages a second is what limits the rate; at Telegram's 30/s over a slow link it is the
        latency that needs more requests in flight."""
        want = math.ceil(self.limits.global_per_second * self._latency * 1.5) + 2
        return max(4, min(self.limits.concurrency, want))

    async def _due(self, limit: int) -> list[OutboxRow]:
        async with self.db.read() as conn:
            return await DeliveryQueue(conn).due(self.clock.now(), limit=limit)

    async def _idle_timeout(self, rows: list[OutboxRow], waiting: float) -> float:
        if waiting:
            return max(0.01, waiting)
        if rows:
            return 0.05  # more may be due once the in-flight ones finish
        async with self.db.read() as conn:
            nxt = await Repos(conn).next_outbox_time()
        if nxt is None:
            return 5.0
        return min(5.0, max(0.01, (nxt - self.clock.now()).total_seconds()))

    async def _deliver(self, transport: Transport, row: OutboxRow) -> None:
        marked_later = False
        try:
            message = OutMessage.from_payload(row.payload)
            began = time.monotonic()
            try:
                if message.retract is not None:
                    message_id = await self._retract(transport, row, message)
                else:
                    message_id = await transport.deliver(row.chat_id, message)
            except DeliveryError as exc:
                await self._failed(row, exc)
            except Exception as exc:  # a bug in a transport must not stop delivery to everyone
                log.exception("outbox %s: unexpected delivery error", row.id)
                await self._failed(row, DeliveryError(Failure.TRANSIENT, type(exc).__name__))
            else:
                self._latency += 0.1 * (time.monotonic() - began - self._latency)
                wall_post = row.kind == WALL_KIND and row.wish_id is not None
                if message_id is not None and (message.wish_id is not None or wall_post):
                    # A reply to this message must find its wish at once, and a reopening must
                    # find the 回音壁 post to withdraw: marked right away.
                    async with self.db.transaction() as conn:
                        queue = DeliveryQueue(conn)
                        await queue.mark_sent([(row.id, message_id)], self.clock.now())
                        if message.wish_id is not None:
                            await queue.link(
                                [(row.channel, row.chat_id, message_id, message.wish_id)]
                            )
                        if wall_post:
                            await self._posted(conn, row, message_id)
                else:
                    self._sent.append((row, message_id))
                    marked_later = True
        finally:
            self._in_flight.discard(row.chat_id)
            if not marked_later:
                self._busy_rows.discard(row.id)
            self._wake.set()

    async def _retract(
        self, transport: Transport, row: OutboxRow, message: OutMessage
    ) -> str | None:
        """Take back a public post (a reopened wish's 回音壁 post). A channel that cannot has
        nothing to take back: the row is done."""
        retract = getattr(transport, "retract", None)
        if retract is not None:
            await retract(row.chat_id, message.retract, message)
        return None

    async def _posted(self, conn: Any, row: OutboxRow, message_id: str) -> None:
        """A 回音壁 post went out: where it is, recorded, so a reopening withdraws it. Reopened
        while it was on its way (the reopening found nothing to withdraw yet), it is withdrawn
        now, in the same transaction."""
        assert row.wish_id is not None
        repos = Repos(conn)
        posts = WallPosts(conn)
        await posts.record(row.wish_id, row.channel, row.chat_id, message_id, self.clock.now())
        wish = await repos.wish(row.wish_id)
        if wish is not None and wish.status not in SHOWN_ON_WALL:
            await posts.cancel_pending(wish.id)
            await repos.enqueue(
                [
                    NewOutgoing(
                        channel=post.channel, chat_id=post.chat_id, user_id=None,
                        kind=WALL_WITHDRAW_KIND, priority=row.priority, wish_id=wish.id,
                        payload=OutMessage(text="", retract=post.message_id).to_payload(),
                    )
                    for post in await posts.take(wish.id)
                ],
                self.clock.now(),
            )  # fmt: skip

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            try:
                await self._flush()
            except Exception:  # the rows stay pending and are sent again: never lost
                log.exception("could not mark deliveries as sent")

    async def _flush(self) -> None:
        if not self._sent:
            return
        done, self._sent = self._sent, []
        try:
            async with self.db.transaction() as conn:
                queue = DeliveryQueue(conn)
                await queue.mark_sent([(row.id, mid) for row, mid in done], self.clock.now())
        except BaseException:
            self._sent[:0] = done
            raise
        for row, _ in done:
            self._busy_rows.discard(row.id)

    async def _failed(self, row: OutboxRow, exc: DeliveryError) -> None:
        now = self.clock.now()
        desc = exc.description[:500]
        if exc.failure is Failure.RETRY_AFTER:
            seconds = exc.retry_after or 1.0
            self._rate_limited(row.chat_id, seconds)
            log.warning("outbox %s: rate limited for %.0fs", row.id, seconds)
            if row.attempts + 1 >= self.limits.max_attempts * 3:
                await self._fail(row, "dead", desc)
                return
            async with self.db.transaction() as conn:
                await Repos(conn).outbox_retry(row.id, now + timedelta(seconds=seconds), desc, True)
        elif exc.failure is Failure.UNREACHABLE:
            transport = self.transports.get(row.channel)
            if transport is not None and transport.is_group(row.chat_id):
                # A 回音壁 channel or group: the bot was removed, lost its admin rights, or the
                # id is wrong. Only the operator can fix that, so it is said loudly.
                log.warning(
                    "outbox %s: cannot post to chat %s (%s); check the bot is an admin there "
                    "and wall_chat_id in the stations file",
                    row.id,
                    row.chat_id,
                    desc,
                )
            else:
                log.info("outbox %s: recipient unreachable (%s)", row.id, desc)
            async with self.db.transaction() as conn:
                repos = Repos(conn)
                await repos.outbox_fail(row.id, "unreachable", desc)
                await repos.outbox_fail_pending_for_chat(row.channel, row.chat_id, desc)
            if row.user_id is not None:
                await self.on_unreachable(row.user_id, desc)
        elif exc.failure is Failure.BAD_REQUEST:
            log.error("outbox %s: rejected by the platform: %s", row.id, desc)
            await self._fail(row, "dead", desc)
        else:
            if row.attempts + 1 >= self.limits.max_attempts:
                log.error(
                    "outbox %s: giving up after %d attempts: %s", row.id, row.attempts + 1, desc
                )
                await self._fail(row, "dead", desc)
                return
            backoff = min(self.limits.max_backoff, self.limits.base_backoff * 2.0**row.attempts)
            log.warning("outbox %s: transient failure, retry in %.1fs: %s", row.id, backoff, desc)
            async with self.db.transaction() as conn:
                await Repos(conn).outbox_retry(row.id, now + timedelta(seconds=backoff), desc, True)

    def _rate_limited(self, chat_id: str, seconds: float) -> None:
        """Pause the chat Telegram named; if several chats are refused at once, the limit hit
        was the bot's global one, and everything pauses."""
        now = time.monotonic()
        self._recent_429 = {c: t for c, t in self._recent_429.items() if now - t < 1.0}
        self._recent_429[chat_id] = now
        self.pacer.pause_chat(chat_id, seconds)
        if len(self._recent_429) >= 3:
            self.pacer.pause_all(seconds)

    async def _fail(self, row: OutboxRow, status: str, error: str) -> None:
        async with self.db.transaction() as conn:
            await Repos(conn).outbox_fail(row.id, status, error)
