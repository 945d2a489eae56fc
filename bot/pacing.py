"""Pacing at the platform's limits: one budget shared by every message the bot sends.

Telegram allows about 30 messages per second per bot, about 1 per second into one private chat
(short bursts tolerated) and 20 per minute into a group or channel; past that it answers 429.
Both the outbox dispatcher and the direct replies to the person being answered draw from the
same buckets here, and replies come first: outbox traffic leaves a few tokens in reserve that only
an interactive reply may take, so a resident's answer never waits behind a broadcast.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

INTERACTIVE = 0  # the priority of a direct reply; outbox rows carry their own (higher) numbers


@dataclass(frozen=True)
class Limits:
    global_per_second: float = 30.0
    per_chat_per_second: float = 1.0
    per_chat_burst: int = 3
    group_per_minute: float = 20.0
    group_burst: int = 3
    # Run a little under the limit: our clock and Telegram's never agree exactly, and a request
    # that arrives early by a few milliseconds would otherwise find Telegram's bucket empty.
    safety: float = 0.97
    interactive_reserve: float = 3.0  # global tokens outbox traffic never takes
    # How far ahead of the steady rate the global budget may run after an idle moment, in
    # seconds of sending. Telegram's own burst allowance is not documented: spending a large one
    # at once (as a bucket one second deep would) is how bots get their first 429.
    global_burst_seconds: float = 0.05
    max_attempts: int = 8
    base_backoff: float = 2.0  # the first retry after a network error or 5xx; doubles each time
    max_backoff: float = 300.0
    concurrency: int = 16  # at most this many requests on the wire (fewer while latency is low)


class _Bucket:
    __slots__ = ("at", "burst", "rate", "tokens")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.at = now

    def refill(self, now: float) -> float:
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        return self.tokens


class Pacer:
    def __init__(self, limits: Limits, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._now = monotonic
        rate = limits.global_per_second * limits.safety
        # The interactive reserve, plus a little room for outbox traffic: at least two tokens, so a
        # sender that wakes up a moment late (it always does) keeps what accrued meanwhile.
        burst = limits.interactive_reserve + max(2.0, rate * limits.global_burst_seconds)
        self._global = _Bucket(rate, burst, monotonic())
        self._chats: dict[str, _Bucket] = {}
        self._chat_paused: dict[str, float] = {}
        self._global_paused_until = 0.0

    # -- the global budget ---------------------------------------------------------------------

    def global_delay(self, priority: int) -> float:
        now = self._now()
        if now < self._global_paused_until:
            return self._global_paused_until - now
        need = 1.0 + (0.0 if priority <= INTERACTIVE else self.limits.interactive_reserve)
        tokens = self._global.refill(now)
        return 0.0 if tokens >= need else (need - tokens) / self._global.rate

    async def acquire_global(self, priority: int) -> None:
        while True:  # the wait is computed from the bucket: nothing else signals a refill
            delay = self.global_delay(priority)
            if delay <= 0:
                break
            await asyncio.sleep(delay)
        self._global.tokens -= 1

    def refund_global(self) -> None:
        """Give back a token taken for a message that was not sent after all."""
        self._global.tokens = min(self._global.burst, self._global.tokens + 1)

    # -- one chat ------------------------------------------------------------------------------

    def _chat(self, chat_id: str, group: bool, now: float) -> _Bucket:
        bucket = self._chats.get(chat_id)
        if bucket is None:
            if group:
                rate, burst = self.limits.group_per_minute / 60.0, self.limits.group_burst
            else:
                rate, burst = self.limits.per_chat_per_second, self.limits.per_chat_burst
            bucket = self._chats[chat_id] = _Bucket(rate * self.limits.safety, float(burst), now)
            if len(self._chats) > 100_000:
                self._forget_idle(now)
        return bucket

    def chat_paused(self, chat_id: str) -> float:
        """Seconds left of a pause Telegram asked for (429) in this chat; 0 if none."""
        return max(0.0, self._chat_paused.get(chat_id, 0.0) - self._now())

    def chat_delay(self, chat_id: str, group: bool) -> float:
        now = self._now()
        wait = max(0.0, self._chat_paused.get(chat_id, 0.0) - now)
        bucket = self._chat(chat_id, group, now)
        tokens = bucket.refill(now)
        if tokens < 1:
            wait = max(wait, (1 - tokens) / bucket.rate)
        return wait

    def take_chat(self, chat_id: str, group: bool) -> None:
        now = self._now()
        bucket = self._chat(chat_id, group, now)
        bucket.refill(now)
        bucket.tokens -= 1

    async def acquire_chat(self, chat_id: str, group: bool) -> None:
        while True:
            delay = self.chat_delay(chat_id, group)
            if delay <= 0:
                break
            await asyncio.sleep(delay)
        self.take_chat(chat_id, group)

    def _forget_idle(self, now: float) -> None:
        # A bucket idle for a minute is full again; forgetting it changes nothing.
        self._chats = {k: b for k, b in self._chats.items() if now - b.at < 60}

    # -- 429 -----------------------------------------------------------------------------------

    def pause_chat(self, chat_id: str, seconds: float) -> None:
        self._chat_paused[chat_id] = max(self._chat_paused.get(chat_id, 0.0), self._now() + seconds)
        bucket = self._chats.get(chat_id)
        if bucket is not None:
            bucket.tokens = min(bucket.tokens, 0.0)

    def pause_all(self, seconds: float) -> None:
        self._global_paused_until = max(self._global_paused_until, self._now() + seconds)
        self._global.tokens = min(self._global.tokens, 0.0)
