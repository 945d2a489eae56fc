"""Retention (what is kept, how long) and erasure on request (`liaison-bot purge`).

Wishes and their timelines are the station's record and stay; what only served delivery or a
conversation is forgotten after a documented period (settings `LIAISON_RETENTION_*`):
delivered outbox rows (full card texts with phone numbers), message links of finished wishes,
idle sessions (drafts, the last unanswered question), FAQ misses, and the photos of wishes
finished long ago. The inbox prunes itself (handlers/polling.py, 7 days). The supervision
scheduler runs `prune` (bot/supervision.py). What a channel keeps only to deliver (its own
tables) it names in jobs of its own, which the composition root passes in (`channel_jobs`,
e.g. wechat/retention.py): the core names no channel.

Photo files (web uploads, WeChat images: bot/media.py FolderMedia) are deleted by a sweep that
runs after the rows' transactions have committed: a file goes once no row refers to it any more
and it is older than a draft can be. Deriving the files from the database, rather than deleting
each file next to its row, makes it crash-safe both ways: a file is never gone while its row
stays (the rows go first, in their own committed transaction), and a file left behind by a crash
(here, in `purge` between its commit and its unlink, or an upload stored just before a crash) is
found by the next sweep, with nothing to remember in between.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
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
# How often the tick also sweeps the photo folders (it lists every kept file).
SWEEP_EVERY = timedelta(hours=1)


@dataclass(frozen=True)
class RetentionPolicy:
    outbox_days: int = 7
    links_days: int = 30
    session_hours: int = 24
    faq_miss_days: int = 90
    photos_days: int = 180  # after the wish was closed, declined or withdrawn


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
        *,
        files: Sequence[FolderMedia] = (),
        channel_jobs: Sequence[ChannelJobs] = (),
    ) -> None:
        self.db = db
        self.clock = clock
        self.policy = policy or RetentionPolicy()
        self.files = tuple(files)  # the folders of photo files this process keeps
        self.channel_jobs = tuple(channel_jobs)
        self._last: datetime | None = None  # in memory: a restart prunes at once, harmlessly
        self._swept: datetime | None = None

    async def tick(self) -> int:
        """Called by the scheduler every minute; prunes every `EVERY`, sweeps every
        `SWEEP_EVERY`."""
        now = self.clock.now()
        if self._last is not None and now - self._last < EVERY:
            return 0
        self._last = now
        sweep = self._swept is None or now - self._swept >= SWEEP_EVERY
        if sweep:
            self._swept = now
        return sum((await self.prune(sweep=sweep)).values())

    async def prune(self, sweep: bool = True) -> dict[str, int]:
        now, p = self.clock.now(), self.policy
        jobs = {
            "outbox": (RetentionRepo.prune_outbox, now - timedelta(days=p.outbox_days)),
            "links": (RetentionRepo.prune_links, now - timedelta(days=p.links_days)),
            "sessions": (RetentionRepo.prune_sessions, now - timedelta(hours=p.session_hours)),
            "faq_misses": (RetentionRepo.prune_faq_misses, now - timedelta(days=p.faq_miss_days)),
            # the photos of wishes finished that long ago (their files: the sweep below)
            "photos": (RetentionRepo.prune_photos, now - timedelta(days=p.photos_days)),
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
            done[name] = await self._batches(prune, before)
        if sweep:
            # A draft's photos are kept as long as the draft (the session period); an upload
            # or image younger than that may still be on its way into one.
            fresh = now - timedelta(hours=p.session_hours)
            async with self.db.read() as conn:
                keep = await RetentionRepo(conn).referenced_elsewhere()

            done["web_uploads"] = await self._prune_uploads(fresh, keep)
            done["photo_files"] = await self._sweep(fresh, keep)
        if any(done.values()):
            log.info("retention: pruned %s", done)
        return done

    async def _batches(self, prune: Any, before: datetime) -> int:
        total = 0
        for _ in range(MAX_BATCHES):
            async with self.db.transaction() as conn:
                n = await prune(RetentionRepo(conn), before, BATCH)
            total += n
            if n < BATCH:
                break
        return total

    async def _prune_uploads(self, before: datetime, keep: frozenset[str]) -> int:
        total, after = 0, ""
        for _ in range(MAX_BATCHES):
            async with self.db.transaction() as conn:
                n, last = await RetentionRepo(conn).prune_uploads(before, BATCH, keep, after)
            total += n
            if last is None:
                break
            after = last
        return total

    async def _sweep(self, fresh: datetime, keep: frozenset[str]) -> int:
        """Delete the kept photo files no row refers to any more (nor a draft, nor a broadcast)
        and older than `fresh`; a partial upload (`.part`) left by a crash too. Runs after the
        rows' transactions have committed."""
        removed = 0
        cutoff = fresh.timestamp()
        # Folders by directory: should the operator point LIAISON_WECHAT_MEDIA_DIR at the web
        # uploads' folder, a file is deleted only if it is unused under every name it may have.
        folders: dict[Path, list[FolderMedia]] = {}
        for media in self.files:
            folders.setdefault(media.folder.absolute(), []).append(media)
        for directory, kinds in folders.items():
            found = await asyncio.to_thread(_old_files, directory, kinds, cutoff)
            for i in range(0, len(found), BATCH):
                chunk = found[i : i + BATCH]
                refs = [ref for names, _ in chunk for ref in names]
                async with self.db.read() as conn:
                    used = await RetentionRepo(conn).photo_refs_in_use(refs)
                for names, path in chunk:
                    if any(ref in used or ref in keep for ref in names):
                        continue
                    # Checked again at the moment of deleting, with no await in between: a
                    # WeChat image received again since the listing had its time renewed
                    # (wechat/webhook.py), and is kept for its new draft.
                    try:
                        if path.stat().st_mtime >= cutoff:
                            continue
                        path.unlink()
                    except FileNotFoundError:
                        continue
                    removed += 1
        return removed


def _old_files(
    directory: Path, kinds: list[FolderMedia], cutoff: float
) -> list[tuple[tuple[str, ...], Path]]:
    """The directory's photo files last written before `cutoff`, each with the references it
    may be known by (one per kind of kept photo whose name it has), and its partial uploads
    (`<id>.part`, known by none). Names of no kind are left alone."""
    found: list[tuple[tuple[str, ...], Path]] = []
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:  # the channel never stored anything
        return found
    for entry in entries:
        stem, dot, suffix = entry.name.rpartition(".")
        if not dot or suffix not in ("jpg", "part"):
            continue
        names = tuple(k.prefix + stem for k in kinds if k.path_of(k.prefix + stem) is not None)
        if not names or not entry.is_file(follow_symlinks=False):
            continue
        try:
            if entry.stat(follow_symlinks=False).st_mtime >= cutoff:
                continue
        except FileNotFoundError:
            continue
        found.append((names if suffix == "jpg" else (), Path(entry.path)))
    return found


class NoSuchResident(LookupError):
    pass


async def resident_of_receipt(db: Database, receipt: str) -> tuple[int, str, str]:
    """`purge --receipt`: the resident of a wish, their user id and an account of theirs
    (channel, id); a web resident's visitor id is in an HttpOnly cookie, the receipt number is
    what they can give."""
    async with db.read() as conn:
        found = await PurgeRepo(conn).resident_of_receipt(receipt)
    if found is None:
        raise NoSuchResident(receipt)
    return found


async def purge_preview(
    db: Database, channel: str, external_id: str, user_id: int | None = None
) -> tuple[PurgeTarget, PurgeCounts]:
    async with db.read() as conn:
        repo = PurgeRepo(conn)
        target = await repo.target(channel, external_id, user_id)
        if target is None:
            raise NoSuchResident(external_id)
        return target, await repo.count(target)


async def purge_resident(
    db: Database,
    channel: str,
    external_id: str,
    files: Sequence[FolderMedia] = (),
    user_id: int | None = None,
) -> PurgeCounts:
    """Erase one person's data as a resident, in one transaction (all or nothing); then the
    photo files this process kept for them (`files`: the web uploads and WeChat images folders),
    unless another wish still has the same file. Telegram keeps its own copies of Telegram
    photos: the Bot API cannot delete them, only the reference is erased."""
    async with db.transaction() as conn:
        repo = PurgeRepo(conn)
        target = await repo.target(channel, external_id, user_id)
        if target is None:
            raise NoSuchResident(external_id)
        refs = await repo.photo_refs(target)
        counts = await repo.erase(target)
        # a WeChat image is one file per picture: another person's wish, draft or broadcast
        # may hold the same file (their own session rows are gone by now)
        shared = await repo.still_used(refs) | await RetentionRepo(conn).referenced_elsewhere()
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
