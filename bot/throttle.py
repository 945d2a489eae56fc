"""Per-person limits on what people send: a token bucket each for messages and button presses.

The check is made for every incoming update before it is queued for processing, so it must be
cheap and must never wait: a dictionary look-up and a little arithmetic. A person past their
budget gets one polite notice (at most one per `notice_seconds`) and their further input is
dropped unprocessed, so a flood costs the bot almost nothing and delays nobody else. Deputies,
staff and county admins are never limited (see `exempt`): their work comes in bursts.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum


class Kind(Enum):
    MESSAGE = "message"
    PRESS = "press"


class Verdict(Enum):
    ALLOW = "allow"
    DROP = "drop"  # over the limit, already told
    NOTICE = "notice"  # over the limit: drop it, and tell the person once


@dataclass(frozen=True)
class PersonLimits:
    """Sustained rates per minute and bursts; a rate of 0 switches that limit off."""

    messages_per_minute: float = 20.0
    message_burst: int = 10
    presses_per_minute: float = 60.0
    press_burst: int = 20
    notice_seconds: float = 600.0  # one notice per person per this many seconds of flooding


class _Bucket:
    __slots__ = ("at", "tokens")

    def __init__(self, tokens: float, at: float) -> None:
        self.tokens = tokens
        self.at = at


class Throttle:
    """Token buckets per (person, kind). Forgets people whose buckets are full again."""

    MAX_PEOPLE = 100_000  # past this, idle buckets (full again anyway) are forgotten

    def __init__(
        self,
        limits: PersonLimits,
        exempt: Callable[[str], bool] = lambda _person: False,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = limits
        self.exempt = exempt
        self._now = monotonic
        self._buckets: dict[tuple[str, Kind], _Bucket] = {}
        self._noticed: dict[str, float] = {}

    def _shape(self, kind: Kind) -> tuple[float, float]:
        lim = self.limits
        if kind is Kind.MESSAGE:
            return lim.messages_per_minute / 60.0, float(lim.message_burst)
        return lim.presses_per_minute / 60.0, float(lim.press_burst)

    def check(self, person: str, kind: Kind) -> Verdict:
        rate, burst = self._shape(kind)
        if rate <= 0:
            return Verdict.ALLOW
        now = self._now()
        bucket = self._buckets.get((person, kind))
        if bucket is None:
            if len(self._buckets) >= self.MAX_PEOPLE:
                self._forget_idle(now)
            bucket = self._buckets[(person, kind)] = _Bucket(burst, now)
        else:
            bucket.tokens = min(burst, bucket.tokens + (now - bucket.at) * rate)
            bucket.at = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return Verdict.ALLOW
        # Only now, on the rare path, ask whether this is someone whose work is not limited.
        if self.exempt(person):
            return Verdict.ALLOW
        last = self._noticed.get(person)
        if last is not None and now - last < self.limits.notice_seconds:
            return Verdict.DROP
        self._noticed[person] = now
        return Verdict.NOTICE

    def _forget_idle(self, now: float) -> None:
        keep: dict[tuple[str, Kind], _Bucket] = {}
        for key, bucket in self._buckets.items():
            rate, burst = self._shape(key[1])
            if bucket.tokens + (now - bucket.at) * rate < burst:
                keep[key] = bucket
        self._buckets = keep
        horizon = self.limits.notice_seconds
        self._noticed = {p: t for p, t in self._noticed.items() if now - t < horizon}
