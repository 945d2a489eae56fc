"""SQL of linking an account to a person with a one-time code (bot/logins.py decides)."""

from __future__ import annotations

from datetime import datetime

import aiosqlite

from storage.db import fetch_one
from storage.repositories import _ts


class LinkRepo:
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn

    async def add_code(self, code_hash: str, user_id: int, expires_at: datetime) -> bool:
        """False if this hash is already there (the caller draws another code)."""
        cur = await self.conn.execute(
            "INSERT INTO link_codes (code_hash, user_id, expires_at) VALUES (?, ?, ?)"
            " ON CONFLICT(code_hash) DO NOTHING",
            (code_hash, user_id, _ts(expires_at)),
        )
        return cur.rowcount > 0

    async def valid_code(self, code_hash: str, now: datetime) -> int | None:
        """The person a valid (unused, unexpired) code links to."""
        row = await fetch_one(
            self.conn,
            "SELECT user_id FROM link_codes WHERE code_hash=? AND used_at IS NULL"
            " AND expires_at > ?",
            (code_hash, _ts(now)),
        )
        return int(row[0]) if row else None

    async def use_code(self, code_hash: str, now: datetime) -> None:
        await self.conn.execute(
            "UPDATE link_codes SET used_at=? WHERE code_hash=?", (_ts(now), code_hash)
        )

    async def add_attempt(self, channel: str, external_id: str, now: datetime) -> None:
        await self.conn.execute(
            "INSERT INTO link_attempts (channel, external_id, at) VALUES (?, ?, ?)",
            (channel, external_id, _ts(now)),
        )

    async def attempts(self, since: datetime, channel: str = "", external_id: str = "") -> int:
        """Failed tries since `since`: of one account, or (no account given) of everyone."""
        if channel:
            row = await fetch_one(
                self.conn,
                "SELECT COUNT(*) FROM link_attempts WHERE channel=? AND external_id=? AND at > ?",
                (channel, external_id, _ts(since)),
            )
        else:
            row = await fetch_one(
                self.conn, "SELECT COUNT(*) FROM link_attempts WHERE at > ?", (_ts(since),)
            )
        return int(row[0]) if row else 0

    async def move_account(self, account_id: int, user_id: int, now: datetime) -> None:
        """The account now belongs to this person, reachable (they just wrote from it)."""
        await self.conn.execute(
            "UPDATE user_accounts SET user_id=?, started_at=COALESCE(started_at, ?),"
            " unreachable_at=NULL, unreachable_reason=NULL WHERE id=?",
            (user_id, _ts(now), account_id),
        )

    async def prune(self, before: datetime, limit: int) -> int:
        """Codes expired and tries made before `before`."""
        cur = await self.conn.execute(
            "DELETE FROM link_codes WHERE code_hash IN (SELECT code_hash FROM link_codes"
            " WHERE expires_at < ? LIMIT ?)",
            (_ts(before), limit),
        )
        done = cur.rowcount
        cur = await self.conn.execute(
            "DELETE FROM link_attempts WHERE id IN (SELECT id FROM link_attempts WHERE at < ?"
            " ORDER BY id LIMIT ?)",
            (_ts(before), limit),
        )
        return done + cur.rowcount
