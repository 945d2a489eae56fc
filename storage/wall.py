"""The 回音壁 posts of wishes (table wall_posts): recorded when delivered, forgotten once their
withdrawal is queued."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import aiosqlite

from storage.db import fetch_all

WALL_KIND = "wall"  # the outbox kind of a 回音壁 post
WALL_WITHDRAW_KIND = "wall_withdraw"  # the outbox kind of its withdrawal


@dataclass(frozen=True)
class WallPost:
    channel: str
    chat_id: str
    message_id: str


class WallPosts:
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn

    async def record(
        self, wish_id: int, channel: str, chat_id: str, message_id: str, now: datetime
    ) -> None:
        await self.conn.execute(
            "INSERT OR REPLACE INTO wall_posts (wish_id, channel, chat_id, message_id, posted_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (wish_id, channel, chat_id, message_id, now.isoformat()),
        )

    async def take(self, wish_id: int) -> list[WallPost]:
        """The wish's posts, forgotten here (their withdrawal is queued by the caller)."""
        rows = await fetch_all(
            self.conn,
            "SELECT channel, chat_id, message_id FROM wall_posts WHERE wish_id = ?"
            " ORDER BY posted_at",
            (wish_id,),
        )
        await self.conn.execute("DELETE FROM wall_posts WHERE wish_id = ?", (wish_id,))
        return [WallPost(r[0], r[1], r[2]) for r in rows]

    async def cancel_pending(self, wish_id: int) -> int:
        """Posts of the wish still waiting in the outbox: never sent now."""
        cursor = await self.conn.execute(
            "UPDATE outbox SET status = 'cancelled' WHERE kind = ? AND wish_id = ?"
            " AND status = 'pending'",
            (WALL_KIND, wish_id),
        )
        return cursor.rowcount or 0
