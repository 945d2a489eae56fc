"""SQL for broadcasts, their audiences, and followers of wishes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiosqlite

from storage.db import fetch_all, fetch_one
from storage.repositories import OutboxRow, _outbox, marks

# Who may receive a broadcast: has opened the bot, has not stopped it, can still be reached.
_REACHABLE = "u.started_at IS NOT NULL AND u.stopped = 0 AND u.unreachable_at IS NULL"


@dataclass(frozen=True)
class Recipient:
    user_id: int
    channel: str
    chat_id: str


@dataclass(frozen=True)
class BroadcastRow:
    id: int
    created_by: int
    station_id: str | None
    audience: str
    wish_id: int | None
    text: str
    photos: tuple[str, ...]
    status: str
    total: int
    created_at: datetime
    progress_chat_id: str | None
    progress_message_id: str | None
    progress_at: datetime | None


class Broadcasts:
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn

    async def station_audience(self, station_id: str) -> list[Recipient]:
        """Everyone who has used the station: chose it (QR code, /start) or left a wish there."""
        rows = await fetch_all(
            self.conn,
            # Both halves from an index (users_station, wishes_station_resident): an OR EXISTS
            # here made SQLite scan every user of the deployment.
            f"SELECT u.id, u.channel, u.chat_id FROM users u WHERE {_REACHABLE} AND u.id IN"
            " (SELECT id FROM users WHERE station_id = ?"
            " UNION SELECT resident_id FROM wishes WHERE station_id = ?)"
            " ORDER BY u.id",
            (station_id, station_id),
        )
        return [Recipient(r[0], r[1], r[2]) for r in rows]

    async def county_audience(self) -> list[Recipient]:
        rows = await fetch_all(
            self.conn,
            f"SELECT u.id, u.channel, u.chat_id FROM users u WHERE {_REACHABLE} ORDER BY u.id",
        )
        return [Recipient(r[0], r[1], r[2]) for r in rows]

    async def follower_audience(self, wish_id: int) -> list[Recipient]:
        rows = await fetch_all(
            self.conn,
            f"SELECT u.id, u.channel, u.chat_id FROM followers f JOIN users u ON u.id = f.user_id"
            f" WHERE f.wish_id = ? AND {_REACHABLE} ORDER BY u.id",
            (wish_id,),
        )
        return [Recipient(r[0], r[1], r[2]) for r in rows]

    async def create(
        self,
        *,
        created_by: int,
        station_id: str | None,
        audience: str,
        wish_id: int | None,
        text: str,
        photos: Sequence[str],
        total: int,
        now: datetime,
        idempotency_key: str | None,
    ) -> int:
        cursor = await self.conn.execute(
            "INSERT INTO broadcasts (created_at, created_by, station_id, audience, wish_id, text, photos,"
            " total, idempotency_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                now.isoformat(),
                created_by,
                station_id,
                audience,
                wish_id,
                text,
                json.dumps(list(photos)),
                total,
                idempotency_key,
            ),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    async def enqueue(
        self,
        broadcast_id: int,
        recipients: Sequence[Recipient],
        priority: int,
        payload: dict[str, Any],
        now: datetime,
    ) -> None:
        body = json.dumps(payload, ensure_ascii=False)
        await self.conn.executemany(
            "INSERT INTO outbox (created_at, channel, chat_id, user_id, priority, kind, payload, broadcast_id,"
            " next_attempt_at) VALUES (?, ?, ?, ?, ?, 'broadcast', ?, ?, ?)",
            [
                (
                    now.isoformat(),
                    r.channel,
                    r.chat_id,
                    r.user_id,
                    priority,
                    body,
                    broadcast_id,
                    now.isoformat(),
                )
                for r in recipients
            ],
        )

    async def by_key(self, key: str) -> BroadcastRow | None:
        row = await fetch_one(
            self.conn, "SELECT * FROM broadcasts WHERE idempotency_key = ?", (key,)
        )
        return _broadcast(row) if row else None

    async def get(self, broadcast_id: int) -> BroadcastRow | None:
        row = await fetch_one(self.conn, "SELECT * FROM broadcasts WHERE id = ?", (broadcast_id,))
        return _broadcast(row) if row else None

    async def sending(self) -> list[BroadcastRow]:
        rows = await fetch_all(
            self.conn, "SELECT * FROM broadcasts WHERE status = 'sending' ORDER BY id"
        )
        return [_broadcast(r) for r in rows]

    async def counts(self, broadcast_id: int) -> dict[str, int]:
        rows = await fetch_all(
            self.conn,
            "SELECT status, COUNT(*) FROM outbox WHERE broadcast_id = ? GROUP BY status",
            (broadcast_id,),
        )
        return {r[0]: r[1] for r in rows}

    async def waiting_count(self, broadcast_id: int, prefix: str) -> int:
        """Messages of a broadcast a channel kept for the person's next visit instead of pushing
        them (their sent id starts with `prefix`, bot/channel.py WAITING_PREFIX)."""
        row = await fetch_one(
            self.conn,
            "SELECT COUNT(*) FROM outbox WHERE broadcast_id = ? AND status = 'sent'"
            " AND sent_message_id LIKE ?",
            (broadcast_id, prefix + "%"),
        )
        return int(row[0]) if row else 0

    async def set_progress_message(self, broadcast_id: int, chat_id: str, message_id: str) -> None:
        await self.conn.execute(
            "UPDATE broadcasts SET progress_chat_id = ?, progress_message_id = ? WHERE id = ?",
            (chat_id, message_id, broadcast_id),
        )

    async def touch_progress(self, broadcast_id: int, now: datetime) -> None:
        await self.conn.execute(
            "UPDATE broadcasts SET progress_at = ? WHERE id = ?", (now.isoformat(), broadcast_id)
        )

    async def finish(self, broadcast_id: int, status: str, now: datetime) -> None:
        await self.conn.execute(
            "UPDATE broadcasts SET status = ?, finished_at = ? WHERE id = ? AND status = 'sending'",
            (status, now.isoformat(), broadcast_id),
        )

    async def cancel_pending(self, broadcast_id: int) -> int:
        cursor = await self.conn.execute(
            "UPDATE outbox SET status = 'cancelled' WHERE broadcast_id = ? AND status = 'pending'",
            (broadcast_id,),
        )
        return cursor.rowcount

    # -- followers -------------------------------------------------------------------------

    async def follow(self, wish_id: int, user_id: int, now: datetime) -> bool:
        cursor = await self.conn.execute(
            "INSERT OR IGNORE INTO followers (wish_id, user_id, created_at) VALUES (?, ?, ?)",
            (wish_id, user_id, now.isoformat()),
        )
        return cursor.rowcount > 0

    async def unfollow(self, wish_id: int, user_id: int) -> None:
        await self.conn.execute(
            "DELETE FROM followers WHERE wish_id = ? AND user_id = ?", (wish_id, user_id)
        )

    async def follower_count(self, wish_id: int) -> int:
        row = await fetch_one(
            self.conn, "SELECT COUNT(*) FROM followers WHERE wish_id = ?", (wish_id,)
        )
        return int(row[0]) if row else 0

    async def follower_counts(self, wish_ids: Sequence[int]) -> dict[int, int]:
        # In chunks: a county admin's /queue asks about every open wish of a province, more
        # than the parameters one statement may carry.
        ids = list(wish_ids)
        counts: dict[int, int] = {}
        for i in range(0, max(len(ids), 1), 500):
            chunk = ids[i : i + 500]
            rows = await fetch_all(
                self.conn,
                f"SELECT wish_id, COUNT(*) FROM followers WHERE wish_id IN ({marks(chunk)})"
                " GROUP BY wish_id",
                chunk,
            )
            counts.update((r[0], r[1]) for r in rows)
        return counts

    async def followed(self, user_id: int, wish_ids: Sequence[int]) -> set[int]:
        marks = ",".join("?" * len(wish_ids)) or "-1"
        rows = await fetch_all(
            self.conn,
            f"SELECT wish_id FROM followers WHERE user_id = ? AND wish_id IN ({marks})",
            [user_id, *wish_ids],
        )
        return {r[0] for r in rows}


class DeliveryQueue:
    """The dispatcher's SQL: the next batch of the outbox, and many deliveries marked at once."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn

    async def due(self, now: datetime, limit: int) -> list[OutboxRow]:
        """The oldest pending row of each chat that is due, most urgent first.

        Only the head of each chat's queue is eligible, so a chat's messages arrive in the order
        they were written even when an earlier one is waiting for a retry.
        """
        rows = await fetch_all(
            self.conn,
            "SELECT o.* FROM outbox o INDEXED BY outbox_pending"
            " WHERE o.status = 'pending' AND o.next_attempt_at <= ? AND NOT EXISTS"
            " (SELECT 1 FROM outbox p WHERE p.chat_id = o.chat_id AND p.status = 'pending'"
            " AND p.id < o.id) ORDER BY o.priority, o.id LIMIT ?",
            (now.isoformat(), limit),
        )
        return [_outbox(r) for r in rows]

    async def mark_sent(self, sent: Sequence[tuple[int, str | None]], now: datetime) -> None:
        """(row id, platform message id) of messages the platform accepted."""
        await self.conn.executemany(
            "UPDATE outbox SET status = 'sent', sent_at = ?, sent_message_id = ?,"
            " attempts = attempts + 1 WHERE id = ?",
            [(now.isoformat(), message_id, row_id) for row_id, message_id in sent],
        )

    async def link(self, links: Sequence[tuple[str, str, str, int]]) -> None:
        """(channel, chat id, message id, wish id): replies to these messages concern the wish."""
        await self.conn.executemany(
            "INSERT OR REPLACE INTO message_links (channel, chat_id, message_id, wish_id)"
            " VALUES (?, ?, ?, ?)",
            links,
        )


def _broadcast(r: Any) -> BroadcastRow:
    return BroadcastRow(
        id=r["id"],
        created_by=r["created_by"],
        station_id=r["station_id"],
        audience=r["audience"],
        wish_id=r["wish_id"],
        text=r["text"],
        photos=tuple(json.loads(r["photos"])),
        status=r["status"],
        total=r["total"],
        created_at=datetime.fromisoformat(r["created_at"]),
        progress_chat_id=r["progress_chat_id"],
        progress_message_id=r["progress_message_id"],
        progress_at=datetime.fromisoformat(r["progress_at"]) if r["progress_at"] else None,
    )
