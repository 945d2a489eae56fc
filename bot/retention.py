"""Retention (what is kept, how long) and erasure on request (`liaison-bot purge`).

Wishes and their timelines are the station's record and stay; what only served delivery or a
conversation is forgotten after a documented period (settings `LIAISON_RETENTION_*`):
delivered outbox rows (full card texts with phone numbers), message links of finished wishes,
idle sessions (drafts, the last unanswered question), FAQ misses. The inbox prunes itself
(handlers/polling.py, 7 days). The supervision scheduler runs `prune` (bot/supervision.py).
What a channel keeps only to deliver (its own tables) it names in jobs of its own, which the
composition root passes in (`channel_jobs`, e.g. wechat/retention.py): the core names no
channel.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.clock import Clock
from bot.media import FolderMedia
from storage.db import Database
from storage.desk import DeskRepo
from storage.links import LinkRepo
from storage.privacy import PurgeCounts, PurgeRepo, PurgeTarget, RetentionRepo

log = logging.getLogger(__name__)

BATCH = 500  # rows per transaction: the bot's other work waits at most one short batch
MAX_BATCHES = 20  # per table and run; the rest waits for the next run
EVERY = timedelta(minutes=10)  # how often the scheduler's tick actually prunes


@dataclass(frozen=True)
class RetentionPolicy:
    outbox_days: int = 7
    links_days: int = 30
    session_hours: int = 24
    faq_miss_days: int = 90


# One pruning job: (the transaction's connection, before, at most this many rows) -> rows gone.
Prune = Callable[[Any, datetime, int], Awaitable[int]]
# A channel's jobs: given the policy and now, each job by name with the moment it prunes before.
ChannelJobs = Callable[[RetentionPolicy, datetime], dict[str, tuple[Prune, datetime]]]


def _on_connection(prune: Prune) -> Any:
    """A channel's job (on the connection) called as the RetentionRepo methods are."""

    async def call(repo: RetentionRepo, before: datetime, limit: int) -> int:
        return int(await prune(repo.conn, before, limit))

    return call


async def _links(repo: RetentionRepo, before: datetime, limit: int) -> int:
    return await LinkRepo(repo.conn).prune(before, limit)
async def _expired_files(repo: RetentionRepo, before: datetime, limit: int) -> int:
    """The desk's files on the web (a chart, an export with personal data) once expired."""
    return await DeskRepo(repo.conn).prune(before, limit)


class Retention:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        policy: RetentionPolicy | None = None,
        channel_jobs: Sequence[ChannelJobs] = (),
    ) -> None:
        self.db = db
        self.clock = clock
        self.policy = policy or RetentionPolicy()
        self.channel_jobs = tuple(channel_jobs)
        self._last: datetime | None = None  # in memory: a restart prunes at once, harmlessly

    async def tick(self) -> int:
        """Called by the scheduler every minute; prunes every `EVERY`."""
        now = self.clock.now()
        if self._last is not None and now - self._last < EVERY:
            return 0
        self._last = now
        return sum((await self.prune()).values())

    async def prune(self) -> dict[str, int]:
        now, p = self.clock.now(), self.policy
        jobs = {
            "outbox": (RetentionRepo.prune_outbox, now - timedelta(days=p.outbox_days)),
            "links": (RetentionRepo.prune_links, now - timedelta(days=p.links_days)),
            "sessions": (RetentionRepo.prune_sessions, now - timedelta(hours=p.session_hours)),
            "faq_misses": (RetentionRepo.prune_faq_misses, now - timedelta(days=p.faq_miss_days)),
            # one-time link codes past their expiry, failed tries past the guessing limit's hour
            "link_codes": (_links, now - timedelta(days=1)),
            # each carries its own expiry (web/chat.py FILE_HOURS): gone once it has passed
            "web_files": (_expired_files, now),
        }
        for channel_jobs in self.channel_jobs:
            for name, (prune, before) in channel_jobs(p, now).items():
                jobs[name] = (_on_connection(prune), before)
        done: dict[str, int] = {}
        for name, (prune, before) in jobs.items():
            total = 0
            for _ in range(MAX_BATCHES):
                async with self.db.transaction() as conn:
                    n = await prune(RetentionRepo(conn), before, BATCH)
                total += n
                if n < BATCH:
                    break
            done[name] = total
        if any(done.values()):
            log.info("retention: pruned %s", done)
        return done


class NoSuchResident(LookupError):
    pass


async def purge_preview(db: Database, channel: str, external_id: str) -> tuple[PurgeTarget, PurgeCounts]:
    async with db.read() as conn:
        repo = PurgeRepo(conn)
        target = await repo.target(channel, external_id)
        if target is None:
            raise NoSuchResident(external_id)
        return target, await repo.count(target)


async def purge_resident(
    db: Database, channel: str, external_id: str, files: Sequence[FolderMedia] = ()
) -> PurgeCounts:
    """Erase one person's data as a resident, in one transaction (all or nothing); then the
    photo files this process kept for them (`files`: the web uploads and WeChat images folders),
    unless another wish still has the same file. Telegram keeps its own copies of Telegram
    photos: the Bot API cannot delete them, only the reference is erased."""
    async with db.transaction() as conn:
        repo = PurgeRepo(conn)
        target = await repo.target(channel, external_id)
        if target is None:
            raise NoSuchResident(external_id)
        refs = await repo.photo_refs(target)
        counts = await repo.erase(target)
        shared = await repo.still_used(refs)
    removed = 0
    for ref in refs:
        source = next((f for f in files if f.handles(ref)), None)
        if source is not None and ref not in shared and source.remove(ref):
            removed += 1
    log.info(
        "purged the personal data of user %s (%d wishes anonymised, %d photo files deleted)",
        target.user_id, counts.wishes, removed,
    )  # fmt: skip
    return counts
