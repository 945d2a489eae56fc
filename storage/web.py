"""SQL of the web channel: delivered messages, access codes, login links, uploads, the secret."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiosqlite

from bot.domain.model import Wish
from storage.db import fetch_all, fetch_one
from storage.repositories import _wish


@dataclass(frozen=True)
class WebMessage:
    id: int
    account: str
    payload: dict[str, Any]
    created_at: str


@dataclass(frozen=True)
class WallEntry:
    """A resolved public wish with what its 回音壁 post needs (the names are masked there)."""

    wish: Wish
    station_name: str
    category_name: str
    deputy_name: str | None
    resident_name: str


@dataclass(frozen=True)
class StationFigures:
    received: int
    resolved: int
    rated: int
    satisfied: int  # 满意 + 基本满意

    @property
    def satisfaction(self) -> float | None:
        return self.satisfied / self.rated if self.rated else None


class WebRepo:
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn

    # -- messages delivered to web accounts (pull) -------------------------------------------

    async def add_message(self, account: str, payload: dict[str, Any], now: datetime) -> int:
        cursor = await self.conn.execute(
            "INSERT INTO web_messages (account, payload, created_at) VALUES (?, ?, ?)",
            (account, json.dumps(payload, ensure_ascii=False), now.isoformat()),
        )
        return int(cursor.lastrowid or 0)

    async def messages(self, account: str, after: int = 0, limit: int = 200) -> list[WebMessage]:
        """The newest `limit` messages after `after`, oldest first."""
        rows = await fetch_all(
            self.conn,
            "SELECT * FROM (SELECT id, account, payload, created_at FROM web_messages"
            " WHERE account=? AND id>? ORDER BY id DESC LIMIT ?) AS newest ORDER BY id",
            (account, after, limit),
        )
        return [WebMessage(r[0], r[1], json.loads(r[2]), r[3]) for r in rows]

    async def message(self, account: str, message_id: int) -> dict[str, Any] | None:
        """One stored message of this account (None: no such message, or another's)."""
        row = await fetch_one(
            self.conn,
            "SELECT payload FROM web_messages WHERE id=? AND account=?",
            (message_id, account),
        )
        return json.loads(row[0]) if row else None

    async def replace_message(
        self, account: str, message_id: int, old: dict[str, Any], new: dict[str, Any]
    ) -> bool:
        """Rewrite a stored message only if it is still `old` (two requests racing on one card:
        exactly one wins); False when it changed meanwhile or is not this account's."""
        cursor = await self.conn.execute(
            "UPDATE web_messages SET payload=? WHERE id=? AND account=? AND payload=?",
            (
                json.dumps(new, ensure_ascii=False),
                message_id,
                account,
                json.dumps(old, ensure_ascii=False),
            ),
        )
        return cursor.rowcount == 1

    async def forget_shown_codes(self) -> int:
        """Receipt cards stored before codes were shown once kept the code in readable form:
        take it out (the code's hash still opens the wish). How many were rewritten."""
        rows = await fetch_all(
            self.conn,
            "SELECT id, payload FROM web_messages WHERE payload LIKE ?",
            ('%"kind": "access_code"%"code": %',),
        )
        changed = 0
        for message_id, raw in rows:
            payload = json.loads(raw)
            if payload.get("kind") == "access_code" and "code" in payload:
                del payload["code"]
                await self.conn.execute(
                    "UPDATE web_messages SET payload=? WHERE id=?",
                    (json.dumps(payload, ensure_ascii=False), message_id),
                )
                changed += 1
        return changed

    # -- receipt access codes ------------------------------------------------------------------

    async def set_access_code(self, wish_id: int, code_hash: str) -> None:
        await self.conn.execute(
            "INSERT INTO web_access_codes (wish_id, code_hash) VALUES (?, ?)"
            " ON CONFLICT(wish_id) DO UPDATE SET code_hash=excluded.code_hash",
            (wish_id, code_hash),
        )

    async def access_code(self, receipt: str) -> tuple[int, str] | None:
        row = await fetch_one(
            self.conn,
            "SELECT w.id, c.code_hash FROM wishes w JOIN web_access_codes c ON c.wish_id=w.id"
            " WHERE w.receipt=?",
            (receipt,),
        )
        return (row[0], row[1]) if row else None

    async def has_access_code(self, wish_id: int) -> bool:
        row = await fetch_one(
            self.conn, "SELECT 1 FROM web_access_codes WHERE wish_id=?", (wish_id,)
        )
        return row is not None

    # -- one-time login links --------------------------------------------------------------------

    async def add_login_token(self, token_hash: str, user_id: int, expires_at: datetime) -> None:
        await self.conn.execute(
            "INSERT INTO web_login_tokens (token_hash, user_id, expires_at) VALUES (?, ?, ?)",
            (token_hash, user_id, expires_at.isoformat()),
        )

    async def use_login_token(self, token_hash: str, now: datetime) -> int | None:
        """The person a valid, unused, unexpired link logs in; it can never be used again."""
        row = await fetch_one(
            self.conn,
            "SELECT user_id, expires_at, used_at FROM web_login_tokens WHERE token_hash=?",
            (token_hash,),
        )
        if row is None or row[2] is not None or datetime.fromisoformat(row[1]) < now:
            return None
        await self.conn.execute(
            "UPDATE web_login_tokens SET used_at=? WHERE token_hash=?",
            (now.isoformat(), token_hash),
        )
        return int(row[0])

    # -- uploads ---------------------------------------------------------------------------------

    async def add_upload(self, upload_id: str, account: str, now: datetime) -> None:
        await self.conn.execute(
            "INSERT INTO web_uploads (id, account, created_at) VALUES (?, ?, ?)",
            (upload_id, account, now.isoformat()),
        )

    async def upload_owner(self, upload_id: str) -> str | None:
        row = await fetch_one(self.conn, "SELECT account FROM web_uploads WHERE id=?", (upload_id,))
        return row[0] if row else None

    async def wishes_with_file(self, file_ref: str) -> list[int]:
        rows = await fetch_all(
            self.conn, "SELECT wish_id FROM wish_attachments WHERE file_ref=?", (file_ref,)
        )
        return [r[0] for r in rows]

    async def ping(self) -> None:
        """The database answers (for /healthz)."""
        await fetch_one(self.conn, "SELECT 1")

    async def photo_refs(self, wish_id: int) -> list[str]:
        rows = await fetch_all(
            self.conn,
            "SELECT file_ref FROM wish_attachments WHERE wish_id=? AND kind='photo'"
            " AND file_ref IS NOT NULL ORDER BY id",
            (wish_id,),
        )
        return [str(r[0]) for r in rows]

    # -- the secret ------------------------------------------------------------------------------

    async def setting(self, key: str) -> str | None:
        row = await fetch_one(self.conn, "SELECT value FROM web_settings WHERE key=?", (key,))
        return row[0] if row else None

    async def set_setting_once(self, key: str, value: str) -> str:
        """Keep the first value ever stored (two processes starting together agree)."""
        await self.conn.execute(
            "INSERT INTO web_settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO NOTHING",
            (key, value),
        )
        stored = await self.setting(key)
        assert stored is not None
        return stored

    # -- the public wall -------------------------------------------------------------------------

    async def wall(self, station_id: str, limit: int, offset: int) -> tuple[list[WallEntry], int]:
        """Resolved public wishes of a station, newest resolution first, and how many there are."""
        where = (
            "w.station_id=? AND w.public=1 AND w.resolved_at IS NOT NULL"
            " AND w.status IN ('resolved', 'closed')"
        )
        total_row = await fetch_one(
            self.conn, f"SELECT COUNT(*) FROM wishes w WHERE {where}", (station_id,)
        )
        rows = await fetch_all(
            self.conn,
            "SELECT w.*, s.name AS station_name, COALESCE(c.name, w.category_id) AS category_name,"
            " d.name AS deputy_name, COALESCE(u.display_name, '') AS resident_name"
            " FROM wishes w JOIN stations s ON s.id=w.station_id"
            " LEFT JOIN categories c ON c.id=w.category_id"
            " LEFT JOIN deputies d ON d.id=w.deputy_id"
            " LEFT JOIN users u ON u.id=w.resident_id"
            f" WHERE {where} ORDER BY w.resolved_at DESC, w.id DESC LIMIT ? OFFSET ?",
            (station_id, limit, offset),
        )
        entries = [
            WallEntry(
                _wish(r),
                r["station_name"],
                r["category_name"],
                r["deputy_name"],
                r["resident_name"],
            )
            for r in rows
        ]
        return entries, int(total_row[0]) if total_row else 0

    async def figures(self, station_id: str) -> StationFigures:
        row = await fetch_one(
            self.conn,
            "SELECT COUNT(*),"
            " SUM(CASE WHEN resolved_at IS NOT NULL AND status IN ('resolved', 'closed')"
            "     THEN 1 ELSE 0 END),"
            " SUM(CASE WHEN rating IS NOT NULL THEN 1 ELSE 0 END),"
            " SUM(CASE WHEN rating IN ('satisfied', 'basically_satisfied') THEN 1 ELSE 0 END)"
            " FROM wishes WHERE station_id=?",
            (station_id,),
        )
        assert row is not None
        return StationFigures(*(int(v or 0) for v in row))

    # -- grants, replay keys, logins -------------------------------------------------------------

    async def grant(self, account: str, wish_id: int, now: datetime) -> None:
        await self.conn.execute(
            "INSERT OR IGNORE INTO web_grants (account, wish_id, created_at) VALUES (?, ?, ?)",
            (account, wish_id, now.isoformat()),
        )

    async def granted(self, account: str) -> list[int]:
        rows = await fetch_all(
            self.conn,
            "SELECT wish_id FROM web_grants WHERE account=? ORDER BY created_at",
            (account,),
        )
        return [r[0] for r in rows]

    async def use_key(self, key: str, now: datetime) -> bool:
        """False when the key was used before (the POST is a replay)."""
        cursor = await self.conn.execute(
            "INSERT OR IGNORE INTO web_used_keys (key, used_at) VALUES (?, ?)",
            (key, now.isoformat()),
        )
        return cursor.rowcount == 1

    async def login(self, account: str, user_id: int, now: datetime) -> None:
        await self.conn.execute(
            "INSERT INTO web_logins (account, user_id, created_at) VALUES (?, ?, ?)"
            " ON CONFLICT(account) DO UPDATE SET user_id=excluded.user_id,"
            " created_at=excluded.created_at",
            (account, user_id, now.isoformat()),
        )

    async def logged_in(self, account: str) -> int | None:
        """The deputy or staff member this web account is (logged in by a one-time link)."""
        row = await fetch_one(
            self.conn, "SELECT user_id FROM web_logins WHERE account=?", (account,)
        )
        if row is not None:
            return int(row[0])
        row = await fetch_one(
            self.conn,
            "SELECT u.id FROM users u WHERE u.channel='web' AND u.external_id=? AND ("
            " EXISTS (SELECT 1 FROM deputies d WHERE d.user_id=u.id AND d.active=1)"
            " OR EXISTS (SELECT 1 FROM station_staff s WHERE s.user_id=u.id AND s.active=1))",
            (account,),
        )
        return int(row[0]) if row else None

    async def web_account_of(self, user_id: int) -> str | None:
        """The person's own web account, when they have one (the demo's deputies and staff)."""
        row = await fetch_one(
            self.conn, "SELECT external_id FROM users WHERE id=? AND channel='web'", (user_id,)
        )
        return str(row[0]) if row else None

    async def owns(self, account: str, wish_id: int) -> bool:
        """Whether the wish was left by the person of this web account (a person is found
        through any of their accounts, migration 0008)."""
        row = await fetch_one(
            self.conn,
            "SELECT 1 FROM wishes w JOIN user_accounts a ON a.user_id=w.resident_id"
            " WHERE w.id=? AND a.channel='web' AND a.external_id=?",
            (wish_id, account),
        )
        return row is not None

    async def receipt(self, wish_id: int) -> str:
        row = await fetch_one(self.conn, "SELECT receipt FROM wishes WHERE id=?", (wish_id,))
        return row[0] if row else ""

    async def is_worker(self, user_id: int) -> bool:
        row = await fetch_one(
            self.conn,
            "SELECT 1 WHERE EXISTS (SELECT 1 FROM deputies WHERE user_id=? AND active=1)"
            " OR EXISTS (SELECT 1 FROM station_staff WHERE user_id=? AND active=1)",
            (user_id, user_id),
        )
        return row is not None
