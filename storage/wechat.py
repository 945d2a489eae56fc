"""WeChat channel state: the 客服 window per resident, subscription consents, notices kept
waiting, the numbered options last shown, and the bizmsgmenu links shown lately (SQL only here,
as everywhere)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiosqlite

from storage.db import fetch_all, fetch_one
from storage.repositories import _dt, _ts

# bizmsgmenu links kept per person (besides the 48 hours of wechat/retention.py MENU_KEPT):
# many more than the cards anyone scrolls back to, few enough that no person fills the table
MENU_PER_PERSON = 200
# A link's msgmenuid is its row id above this: links sent before ids were stored carry their
# option number (1, 2, ...), which must never meet a new row of the same person (a tap in an
# old message would act on whatever card that row was).
MENU_ID_BASE = 1_000_000


@dataclass(frozen=True)
class WindowState:
    opened_at: datetime
    kind: str  # "message" (48 h, 5 messages) or "event" (1 minute, 3 messages)
    sent: int


@dataclass(frozen=True)
class Waiting:
    id: int
    payload: dict[str, Any]
    wish_id: int | None
    waiting: bool  # no path reached them (else a template or subscription carried a summary)


class WeChatRepo:
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn

    async def open_window(self, openid: str, kind: str, now: datetime) -> None:
        """A resident's message opens the long window; a follow, scan or click opens the short
        one, but never shortens a long one that is still open (WeChat keeps the better one)."""
        current = await self.window(openid)
        if (
            kind == "event"
            and current is not None
            and current.kind == "message"
            and (now - current.opened_at).total_seconds() < 48 * 3600
        ):
            return
        await self.conn.execute(
            "INSERT INTO wechat_windows (openid, opened_at, kind, sent) VALUES (?, ?, ?, 0)"
            " ON CONFLICT(openid) DO UPDATE SET opened_at=excluded.opened_at,"
            " kind=excluded.kind, sent=0",
            (openid, _ts(now), kind),
        )

    async def window(self, openid: str) -> WindowState | None:
        row = await fetch_one(
            self.conn, "SELECT opened_at, kind, sent FROM wechat_windows WHERE openid=?", (openid,)
        )
        if row is None:
            return None
        opened = _dt(row[0])
        assert opened is not None
        return WindowState(opened, row[1], row[2])

    async def count_sent(self, openid: str) -> None:
        await self.conn.execute("UPDATE wechat_windows SET sent=sent+1 WHERE openid=?", (openid,))

    async def close_window(self, openid: str) -> None:
        """WeChat said 45015/45047: believe it over our own count."""
        await self.conn.execute("UPDATE wechat_windows SET sent=99 WHERE openid=?", (openid,))

    async def add_consent(self, openid: str, template_id: str, now: datetime) -> None:
        await self.conn.execute(
            "INSERT OR REPLACE INTO wechat_consents (openid, template_id, granted_at) VALUES (?, ?, ?)",
            (openid, template_id, _ts(now)),
        )

    async def has_consent(self, openid: str, template_id: str) -> bool:
        row = await fetch_one(
            self.conn,
            "SELECT 1 FROM wechat_consents WHERE openid=? AND template_id=?",
            (openid, template_id),
        )
        return row is not None

    async def use_consent(self, openid: str, template_id: str) -> None:
        await self.conn.execute(
            "DELETE FROM wechat_consents WHERE openid=? AND template_id=?", (openid, template_id)
        )

    async def keep_waiting(
        self,
        openid: str,
        payload: dict[str, Any],
        wish_id: int | None,
        now: datetime,
        waiting: bool = True,
    ) -> int:
        cur = await self.conn.execute(
            "INSERT INTO wechat_waiting (openid, payload, waiting, wish_id, created_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (openid, json.dumps(payload, ensure_ascii=False), int(waiting), wish_id, _ts(now)),
        )
        assert cur.lastrowid is not None
        return cur.lastrowid

    async def waiting(self, openid: str) -> list[Waiting]:
        rows = await fetch_all(
            self.conn,
            "SELECT id, payload, wish_id, waiting FROM wechat_waiting WHERE openid=? AND shown_at IS NULL"
            " ORDER BY id",
            (openid,),
        )
        return [Waiting(r[0], json.loads(r[1]), r[2], bool(r[3])) for r in rows]

    async def mark_shown(self, ids: list[int], now: datetime) -> None:
        await self.conn.executemany(
            "UPDATE wechat_waiting SET shown_at=? WHERE id=?", [(_ts(now), i) for i in ids]
        )

    async def count_waiting(self) -> int:
        """Notices that reached no one yet: the "waiting" figure of reports."""
        row = await fetch_one(
            self.conn, "SELECT COUNT(*) FROM wechat_waiting WHERE waiting=1 AND shown_at IS NULL"
        )
        return int(row[0]) if row else 0

    async def waiting_by_station(self, station_ids: Sequence[str]) -> dict[str, int]:
        """Notices still waiting, per station: the wish's station, or for a notice about no
        wish (a broadcast) the station the resident chose."""
        if not station_ids:
            return {}
        rows = await fetch_all(
            self.conn,
            "SELECT COALESCE(w.station_id, u.station_id) AS st, COUNT(*) FROM wechat_waiting k"
            " LEFT JOIN wishes w ON w.id=k.wish_id"
            " LEFT JOIN user_accounts a ON a.channel='wechat' AND a.external_id=k.openid"
            " LEFT JOIN users u ON u.id=a.user_id"
            " WHERE k.waiting=1 AND k.shown_at IS NULL GROUP BY COALESCE(w.station_id, u.station_id)",
        )
        wanted = set(station_ids)
        return {r[0]: int(r[1]) for r in rows if r[0] in wanted}

    async def set_options(
        self, openid: str, actions: list[str], now: datetime, labels: Sequence[str] = ()
    ) -> None:
        """Replace the options on offer: 1..n map to these encoded actions (and, where given,
        the labels shown for them)."""
        await self.conn.execute("DELETE FROM wechat_options WHERE openid=?", (openid,))
        await self.conn.executemany(
            "INSERT INTO wechat_options (openid, number, action, created_at, label)"
            " VALUES (?, ?, ?, ?, ?)",
            [
                (openid, i, a, _ts(now), labels[i - 1] if i <= len(labels) else "")
                for i, a in enumerate(actions, start=1)
            ],
        )

    async def option(self, openid: str, number: int) -> str | None:
        row = await fetch_one(
            self.conn,
            "SELECT action FROM wechat_options WHERE openid=? AND number=?",
            (openid, number),
        )
        return row[0] if row else None

    async def option_label(self, openid: str, number: int) -> str | None:
        """The label shown for option `number` ("" if none was stored), None if no such option."""
        row = await fetch_one(
            self.conn,
            "SELECT label FROM wechat_options WHERE openid=? AND number=?",
            (openid, number),
        )
        return (row[0] or "") if row else None

    async def option_by_label(self, openid: str, label: str) -> str | None:
        """The action of the one option on offer with this label; None when no option or
        several have it (a guess could be the wrong choice)."""
        if not label:
            return None
        rows = await fetch_all(
            self.conn,
            "SELECT action FROM wechat_options WHERE openid=? AND label=? LIMIT 2",
            (openid, label),
        )
        return rows[0][0] if len(rows) == 1 else None

    async def add_menu(
        self, openid: str, actions: Sequence[str], labels: Sequence[str], now: datetime
    ) -> list[int]:
        """Store bizmsgmenu links about to be shown: the id of each (its msgmenuid), in order.
        Ids are never reused (migration 0021), so a tap resolves to the card it was on; the
        person's oldest links beyond MENU_PER_PERSON are dropped (a tap on one is stale)."""
        ids: list[int] = []
        for i, action in enumerate(actions):
            cursor = await self.conn.execute(
                "INSERT INTO wechat_menu (openid, action, label, created_at) VALUES (?, ?, ?, ?)",
                (openid, action, labels[i] if i < len(labels) else "", _ts(now)),
            )
            assert cursor.lastrowid is not None
            ids.append(MENU_ID_BASE + int(cursor.lastrowid))
        if ids:
            await self.conn.execute(
                "DELETE FROM wechat_menu WHERE openid=? AND id <= ("
                "SELECT id FROM wechat_menu WHERE openid=? ORDER BY id DESC LIMIT 1 OFFSET ?)",
                (openid, openid, MENU_PER_PERSON),
            )
        return ids

    async def menu_action(self, openid: str, menu_id: int) -> str | None:
        """The action of the link `menu_id` shown to this person; None if it is gone (or was
        never theirs, or is an option number of a message sent before links had ids)."""
        if menu_id <= MENU_ID_BASE:
            return None
        row = await fetch_one(
            self.conn,
            "SELECT action FROM wechat_menu WHERE id=? AND openid=?",
            (menu_id - MENU_ID_BASE, openid),
        )
        return row[0] if row else None

    async def prune_menu(self, before: datetime, limit: int) -> int:
        """bizmsgmenu links shown before `before`: a tap on one is then a stale press."""
        cur = await self.conn.execute(
            "DELETE FROM wechat_menu WHERE id IN (SELECT id FROM wechat_menu"
            " WHERE created_at < ? ORDER BY id LIMIT ?)",
            (_ts(before), limit),
        )
        return cur.rowcount

    async def record_path(self, wish_id: int, openid: str, path: str, now: datetime) -> None:
        await self.conn.execute(
            "INSERT INTO wechat_deliveries (wish_id, openid, path, at) VALUES (?, ?, ?, ?)",
            (wish_id, openid, path, _ts(now)),
        )

    async def paths(self, wish_id: int) -> list[str]:
        rows = await fetch_all(
            self.conn, "SELECT path FROM wechat_deliveries WHERE wish_id=? ORDER BY id", (wish_id,)
        )
        return [r[0] for r in rows]

    async def inbox_unfinished(self, update_id: int) -> bool:
        """A push stored but never processed (the process stopped in between)."""
        row = await fetch_one(
            self.conn,
            "SELECT 1 FROM inbox WHERE channel='wechat' AND update_id=? AND processed_at IS NULL",
            (update_id,),
        )
        return row is not None

    async def prune_shown(self, before: datetime, limit: int) -> int:
        """Kept cards already shown before `before` (full card texts): like delivered outbox rows."""
        cur = await self.conn.execute(
            "DELETE FROM wechat_waiting WHERE id IN (SELECT id FROM wechat_waiting"
            " WHERE shown_at IS NOT NULL AND shown_at < ? ORDER BY id LIMIT ?)",
            (_ts(before), limit),
        )
        return cur.rowcount

    async def prune_options(self, before: datetime, limit: int) -> int:
        """Numbered options offered before `before`: like an idle session."""
        cur = await self.conn.execute(
            "DELETE FROM wechat_options WHERE rowid IN (SELECT rowid FROM wechat_options"
            " WHERE created_at < ? LIMIT ?)",
            (_ts(before), limit),
        )
        return cur.rowcount

    async def prune_windows(self, before: datetime, limit: int) -> int:
        """客服 windows opened before `before` (closed for good: 48 hours at most)."""
        cur = await self.conn.execute(
            "DELETE FROM wechat_windows WHERE openid IN (SELECT openid FROM wechat_windows"
            " WHERE opened_at < ? LIMIT ?)",
            (_ts(before), limit),
        )
        return cur.rowcount

    async def prune_deliveries(self, before: datetime, limit: int) -> int:
        """Delivery paths recorded before `before`: the wish's timeline keeps the story."""
        cur = await self.conn.execute(
            "DELETE FROM wechat_deliveries WHERE id IN (SELECT id FROM wechat_deliveries"
            " WHERE at < ? ORDER BY id LIMIT ?)",
            (_ts(before), limit),
        )
        return cur.rowcount

    async def prune_inbox(self, before: datetime, limit: int) -> int:
        """Processed WeChat pushes older than `before` (raw messages)."""
        cur = await self.conn.execute(
            "DELETE FROM inbox WHERE rowid IN (SELECT rowid FROM inbox WHERE channel='wechat'"
            " AND processed_at IS NOT NULL AND processed_at < ? LIMIT ?)",
            (_ts(before), limit),
        )
        return cur.rowcount
