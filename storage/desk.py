"""SQL of the web desk of deputies and staff: the files made for one person (chart, export)
and which desk buttons a person gets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import aiosqlite

from storage.db import fetch_one
from storage.repositories import _dt, _ts


@dataclass(frozen=True)
class StoredFile:
    id: str
    account: str
    filename: str
    mime: str
    data: bytes
    expires_at: datetime


class DeskRepo:
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn

    async def add(
        self,
        file_id: str,
        account: str,
        filename: str,
        mime: str,
        data: bytes,
        now: datetime,
        expires_at: datetime,
    ) -> None:
        await self.conn.execute(
            "INSERT INTO web_files (id, account, filename, mime, data, created_at, expires_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (file_id, account, filename, mime, data, _ts(now), _ts(expires_at)),
        )

    async def get(self, file_id: str, account: str, now: datetime) -> StoredFile | None:
        """The file, only for the account it was made for and only until it expires."""
        row = await fetch_one(
            self.conn,
            "SELECT id, account, filename, mime, data, expires_at FROM web_files"
            " WHERE id=? AND account=? AND expires_at>?",
            (file_id, account, _ts(now)),
        )
        if row is None:
            return None
        expires = _dt(row[5])
        assert expires is not None
        return StoredFile(row[0], row[1], row[2], row[3], bytes(row[4]), expires)

    async def prune(self, before: datetime, limit: int) -> int:
        """Files expired before `before` (the retention job passes now)."""
        cursor = await self.conn.execute(
            "DELETE FROM web_files WHERE id IN (SELECT id FROM web_files WHERE expires_at<? LIMIT ?)",
            (_ts(before), limit),
        )
        return cursor.rowcount

    async def roles(self, user_id: int) -> tuple[bool, bool]:
        """(a serving deputy, an active staff member): which desk buttons the page offers.
        Only a convenience: every command is authorised again when it is used."""
        row = await fetch_one(
            self.conn,
            "SELECT EXISTS (SELECT 1 FROM deputies WHERE user_id=? AND active=1),"
            " EXISTS (SELECT 1 FROM station_staff WHERE user_id=? AND active=1)",
            (user_id, user_id),
        )
        return (bool(row[0]), bool(row[1])) if row else (False, False)
