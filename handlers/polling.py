"""Long polling that stores each update before Telegram is told it arrived.

PTB's own Updater confirms an update's offset with its next getUpdates call, possibly before the
handler has finished, so a crash can lose it. Here every update is written to the inbox table
first; the offset moves on only after that commit, and updates are processed from the inbox and
marked done afterwards. After a crash, unfinished updates are processed again; the use cases are
idempotent per update id, and a redelivered update id is ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from datetime import timedelta

from telegram import Update
from telegram.error import Conflict, InvalidToken, NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.ext import Application

from bot.clock import Clock
from storage.db import Database
from storage.repositories import Repos

log = logging.getLogger(__name__)

CHANNEL = "telegram"
ALLOWED_UPDATES = ["message", "callback_query", "my_chat_member"]
MAX_ATTEMPTS = 3  # a poison update is skipped after this many crashes or failures


class DurablePoller:
    def __init__(
        self, application: Application, db: Database, clock: Clock, timeout: int = 30
    ) -> None:
        self.app = application
        self.db = db
        self.clock = clock
        self.timeout = timeout
        self._stopping = asyncio.Event()
        self._arrived = asyncio.Event()

    def wake(self) -> None:
        """Look at the inbox now (after updates were stored by someone else, e.g. a webhook)."""
        self._arrived.set()

    def stop(self) -> None:
        self._stopping.set()
        self._arrived.set()

    async def run(self) -> None:
        await asyncio.gather(self._fetch_loop(), self._process_loop())

    async def _fetch_loop(self) -> None:
        # Start without an offset: Telegram then returns exactly the updates not yet confirmed,
        # and those already in the inbox are ignored by update id. Resuming from the stored
        # maximum would be wrong after a quiet week, when Telegram picks new ids at random
        # and an offset above them would confirm (drop) them unseen.
        offset: int | None = None
        backoff = 1.0
        while not self._stopping.is_set():
            try:
                updates = await self.app.bot.get_updates(
                    offset=offset,
                    timeout=self.timeout,
                    allowed_updates=ALLOWED_UPDATES,
                    read_timeout=self.timeout + 10,
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
            if not updates:
                continue
            now = self.clock.now()
            async with self.db.transaction() as conn:
                repos = Repos(conn)
                for update in updates:
                    await repos.inbox_add(
                        CHANNEL,
                        update.update_id,
                        json.dumps(update.to_dict(), ensure_ascii=False),
                        now,
                    )
            offset = max(u.update_id for u in updates) + 1
            self._arrived.set()

    async def _process_loop(self) -> None:
        while not self._stopping.is_set():
            async with self.db.read() as conn:
                pending = await Repos(conn).inbox_pending(CHANNEL, limit=100)
            if not pending:
                self._arrived.clear()
                await self._arrived.wait()
                continue
            for update_id, payload, attempts in pending:
                if self._stopping.is_set():
                    return
                try:
                    await self.process_one(update_id, payload, attempts)
                except Exception as exc:
                    # Handlers' own errors go to the error handler inside process_update; this
                    # is an update PTB cannot parse, or the database failing. The attempt is
                    # counted, so after MAX_ATTEMPTS the update is skipped: it never stops
                    # the updates after it, nor the bot. (The type only: the message may quote
                    # the update, and logs carry ids.)
                    log.error("update %s could not be processed (%s)", update_id, type(exc).__name__)
                    await self._sleep(0.5)
                    break

    async def process_one(self, update_id: int, payload: str, attempts: int) -> None:
        if attempts >= MAX_ATTEMPTS:
            log.error("update %s failed %d times; skipping it", update_id, attempts)
        else:
            async with self.db.transaction() as conn:
                await Repos(conn).inbox_attempt(CHANNEL, update_id)
            update = Update.de_json(json.loads(payload), self.app.bot)
            await self.app.process_update(update)
        async with self.db.transaction() as conn:
            repos = Repos(conn)
            await repos.inbox_done(CHANNEL, update_id, self.clock.now())
            # Keep a week of processed ids to recognise redeliveries; older ones can go.
            if update_id % 500 == 0:
                await repos.inbox_prune(CHANNEL, self.clock.now() - timedelta(days=7))

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)
