"""Retention and erasure: the SQL that forgets what is no longer needed (issue 8, privacy).

Every prune deletes at most `limit` rows per call, so the scheduler can work in bounded batches
(each its own short transaction) and never holds the database for long.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime

import aiosqlite

from storage.db import fetch_all, fetch_one
from storage.repositories import _ts, marks

# Outbox rows still needed: pending ones, and those of a broadcast still sending (its progress
# and final report count them).
_FINISHED_OUTBOX = (
    "status <> 'pending' AND created_at < ? AND (broadcast_id IS NULL OR broadcast_id NOT IN"
    " (SELECT id FROM broadcasts WHERE status = 'sending'))"
)
_FINAL = "('closed', 'declined', 'withdrawn')"
# A kept photo's reference in any text (a session's JSON, a broadcast's list): bot/media.py's
# prefixes and the characters of their ids.
_PHOTO_REF = re.compile(r"(?:web|wechat-media):[A-Za-z0-9_-]{1,128}")


class RetentionRepo:
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn

    async def prune_outbox(self, before: datetime, limit: int) -> int:
        """Delivered, failed and cancelled messages (full card texts, phone numbers included)."""
        cur = await self.conn.execute(
            f"DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE {_FINISHED_OUTBOX}"
            " ORDER BY id LIMIT ?)",
            (_ts(before), limit),
        )
        return cur.rowcount

    async def prune_links(self, before: datetime, limit: int) -> int:
        """Which message is about which wish, for wishes finished before `before`: a reply to
        such a message could do nothing anyway (a reopened wish gets a new card and link)."""
        cur = await self.conn.execute(
            "DELETE FROM message_links WHERE rowid IN (SELECT l.rowid FROM message_links l"
            f" JOIN wishes w ON w.id = l.wish_id WHERE w.status IN {_FINAL}"
            " AND w.closed_at IS NOT NULL AND w.closed_at < ? LIMIT ?)",
            (_ts(before), limit),
        )
        return cur.rowcount

    async def prune_sessions(self, before: datetime, limit: int) -> int:
        """Flows untouched since `before`: a draft left unfinished, the last unanswered
        question (kept unmasked to prefill a wish)."""
        cur = await self.conn.execute(
            "DELETE FROM sessions WHERE user_id IN (SELECT user_id FROM sessions"
            " WHERE updated_at < ? LIMIT ?)",
            (_ts(before), limit),
        )
        return cur.rowcount

    async def prune_faq_misses(self, before: datetime, limit: int) -> int:
        cur = await self.conn.execute(
            "DELETE FROM faq_misses WHERE id IN (SELECT id FROM faq_misses WHERE at < ?"
            " ORDER BY id LIMIT ?)",
            (_ts(before), limit),
        )
        return cur.rowcount

    # -- photos (bot/retention.py: the rows here, then the files nothing refers to any more) --

    async def prune_photos(self, before: datetime, limit: int) -> int:
        """The photos of wishes finished (closed, declined, withdrawn) before `before`: every
        channel's reference (a Telegram file id is only that; the files this process keeps
        are deleted by the sweep once no row refers to them). The wish keeps its text."""
        cur = await self.conn.execute(
            "DELETE FROM wish_attachments WHERE id IN (SELECT a.id FROM wish_attachments a"
            f" JOIN wishes w ON w.id = a.wish_id WHERE a.kind = 'photo' AND w.status IN {_FINAL}"
            " AND w.closed_at IS NOT NULL AND w.closed_at < ? ORDER BY a.id LIMIT ?)",
            (_ts(before), limit),
        )
        return cur.rowcount

    async def prune_uploads(
        self, before: datetime, limit: int, keep: frozenset[str], after: str = ""
    ) -> tuple[int, str | None]:
        """Web uploads made before `before` that no wish has (its photos aged out or purged, a
        draft abandoned: the uploader could still fetch them at /u/<id>.jpg), except those in
        `keep` (a draft or a broadcast still refers to them). Looks at `limit` of them with ids
        after `after`; returns how many it deleted and the last id it looked at (None when it
        saw fewer than `limit`: the end), so kept ones never hold the others back."""
        rows = await fetch_all(
            self.conn,
            "SELECT u.id FROM web_uploads u WHERE u.id > ? AND u.created_at < ? AND NOT EXISTS"
            " (SELECT 1 FROM wish_attachments a WHERE a.file_ref = 'web:' || u.id)"
            " ORDER BY u.id LIMIT ?",
            (after, _ts(before), limit),
        )
        ids = [str(r[0]) for r in rows if f"web:{r[0]}" not in keep]
        if ids:
            await self.conn.execute(f"DELETE FROM web_uploads WHERE id IN ({marks(ids)})", ids)
        return len(ids), (str(rows[-1][0]) if len(rows) == limit else None)

    async def referenced_elsewhere(self) -> frozenset[str]:
        """Photo references outside the wishes' attachments: in a flow under way (a draft's
        photos, a broadcast being written; found in the session's text whatever the flow's
        shape) and in broadcasts (a station's notice, kept with it)."""
        rows = await fetch_all(
            self.conn,
            "SELECT data FROM sessions WHERE data LIKE '%web:%' OR data LIKE '%wechat-media:%'"
            " UNION ALL SELECT photos FROM broadcasts WHERE photos <> '[]'",
        )
        return frozenset(ref for r in rows for ref in _PHOTO_REF.findall(str(r[0])))

    async def photo_refs_in_use(self, refs: list[str]) -> set[str]:
        """Which of these references a wish or a web upload row still has."""
        used: set[str] = set()
        for i in range(0, len(refs), 500):  # bounded statements (SQLite's variable limit)
            chunk = refs[i : i + 500]
            rows = await fetch_all(
                self.conn,
                "SELECT DISTINCT file_ref FROM wish_attachments"
                f" WHERE file_ref IN ({marks(chunk)})",
                chunk,
            )
            used.update(str(r[0]) for r in rows)
            uploads = [r[len("web:") :] for r in chunk if r.startswith("web:")]
            if uploads:
                rows = await fetch_all(
                    self.conn,
                    f"SELECT id FROM web_uploads WHERE id IN ({marks(uploads)})",
                    uploads,
                )
                used.update(f"web:{r[0]}" for r in rows)
        return used


@dataclass(frozen=True)
class PurgeCounts:
    """What erasing one resident touched (or would touch)."""

    wishes: int = 0  # anonymised, kept for the statistics
    timeline: int = 0  # timeline entries whose text was erased
    attachments: int = 0
    outbox: int = 0
    links: int = 0
    followers: int = 0
    sessions: int = 0
    inbox: int = 0
    kept: int = 0  # what a channel kept for the person (web messages, WeChat cards and options)
    media: int = 0  # photo files kept for the person (web uploads, WeChat images), deleted too


@dataclass(frozen=True)
class PurgeTarget:
    user_id: int
    is_worker: bool  # also a deputy or staff member: their account is not anonymised
    accounts: tuple[tuple[str, str], ...] = ()  # every (channel, external id) of the person


# The inbox keeps each channel's raw input for a week, in that channel's own format: Telegram's
# updates as JSON (the sender's id at <kind>.from.id), WeChat's pushes as XML (FromUserName).
# Which rows are the person's is read here, in Python: SQLite's json_extract fails on a WeChat
# row's XML, and PostgreSQL has neither json_extract nor instr.
_TELEGRAM_KINDS = ("message", "edited_message", "callback_query", "my_chat_member")


def _telegram_sender(payload: str) -> int | None:
    try:
        update = json.loads(payload)
    except ValueError:
        return None
    for kind in _TELEGRAM_KINDS:
        part = update.get(kind) if isinstance(update, dict) else None
        sender = part.get("from") if isinstance(part, dict) else None
        if isinstance(sender, dict) and isinstance(sender.get("id"), int):
            return int(sender["id"])
    return None


def _is_from(channel: str, payload: str, accounts: tuple[tuple[str, str], ...]) -> bool:
    if channel == "telegram":
        sender = _telegram_sender(payload)
        return sender is not None and ("telegram", str(sender)) in accounts
    if channel == "wechat":
        return any(
            f"<FromUserName><![CDATA[{openid}]]></FromUserName>" in payload
            for c, openid in accounts
            if c == "wechat"
        )
    return False


# What a channel keeps for an account to deliver or show (table, its account column, channel).
_KEPT = (
    ("web_messages", "account", "web"),
    ("web_grants", "account", "web"),
    ("web_uploads", "account", "web"),
    ("wechat_waiting", "openid", "wechat"),
    ("wechat_options", "openid", "wechat"),
    ("wechat_menu", "openid", "wechat"),
    ("wechat_windows", "openid", "wechat"),
    ("wechat_consents", "openid", "wechat"),
    ("wechat_deliveries", "openid", "wechat"),
)
# What a channel keeps about a wish whoever it was for (a notice waiting for the resident, the
# delivery paths): goes with the resident's wishes even when the person is also a worker.
_ABOUT_WISH = ("wechat_waiting", "wechat_deliveries")
# Photos whose files this process keeps (web/server.py uploads, wechat/webhook.py images);
# Telegram's file ids are Telegram's copies.
_KEPT_FILES = ("web:", "wechat-media:")


class PurgeRepo:
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn

    async def resident_of_receipt(self, receipt: str) -> tuple[int, str, str] | None:
        """The resident of the wish with this receipt number: their user id and the account
        (channel, id) they were first known by, whatever channel they wrote from; None if there
        is no such wish (or its resident was purged already). The id is what a purge goes by:
        an account first known as theirs may since belong to someone else (a WeChat openid
        bound to a deputy moves to the deputy, bot/logins.py)."""
        row = await fetch_one(
            self.conn,
            "SELECT u.id, u.channel, u.external_id FROM wishes w"
            " JOIN users u ON u.id = w.resident_id WHERE w.receipt = ?",
            (receipt,),
        )
        if row is None or str(row[2]).startswith("purged:"):
            return None
        return int(row[0]), str(row[1]), str(row[2])

    async def target(
        self, channel: str, external_id: str, user_id: int | None = None
    ) -> PurgeTarget | None:
        """The person behind any one of their accounts, with all their accounts; `user_id`
        names the person outright (the account is then only how they are shown). An account
        now held by one person and first known as another's (it moved when bound) is the
        holder's: the current owner in user_accounts comes first, never an arbitrary row."""
        if user_id is None:
            where = (
                "u.id IN (SELECT user_id FROM user_accounts WHERE channel = ? AND external_id = ?)"
                " OR (u.channel = ? AND u.external_id = ?)"
            )
            params: tuple[object, ...] = (channel, external_id, channel, external_id)
            order = (
                " ORDER BY u.id IN (SELECT user_id FROM user_accounts"
                " WHERE channel = ? AND external_id = ?) DESC, u.id"
            )
            params += (channel, external_id)
        else:
            where, order, params = "u.id = ?", "", (user_id,)
        row = await fetch_one(
            self.conn,
            "SELECT u.id, EXISTS (SELECT 1 FROM deputies d WHERE d.user_id = u.id)"
            " OR EXISTS (SELECT 1 FROM station_staff s WHERE s.user_id = u.id)"
            f" FROM users u WHERE {where}{order} LIMIT 1",
            params,
        )
        if row is None:
            return None
        user_id = int(row[0])
        rows = await fetch_all(
            self.conn,
            "SELECT channel, external_id FROM user_accounts WHERE user_id = ?"
            " UNION SELECT channel, external_id FROM users WHERE id = ?",
            (user_id, user_id),
        )
        accounts = tuple(sorted({(str(r[0]), str(r[1])) for r in rows}))
        return PurgeTarget(user_id, bool(row[1]), accounts)

    async def count(self, target: PurgeTarget) -> PurgeCounts:
        """What `erase` would touch, for the confirmation."""
        ids = await self._wish_ids(target.user_id)
        w, uid = marks(ids), target.user_id
        copies, copy_params = await self._copies(ids)
        kept = 0
        for table, where, params in self._kept(target, ids):
            kept += await self._count(f"SELECT COUNT(*) FROM {table} WHERE {where}", params)
        return PurgeCounts(
            wishes=len(ids),
            timeline=await self._count(
                f"SELECT COUNT(*) FROM wish_events WHERE wish_id IN ({w}) AND body <> ''"
                " AND action <> 'rate'",
                ids,
            ),
            attachments=await self._count(
                f"SELECT COUNT(*) FROM wish_attachments WHERE wish_id IN ({w})", ids
            ),
            outbox=await self._count(
                f"SELECT COUNT(*) FROM outbox WHERE user_id = ? OR wish_id IN ({w}) OR {copies}",
                [uid, *ids, *copy_params],
            ),
            links=await self._count(
                f"SELECT COUNT(*) FROM message_links WHERE wish_id IN ({w}) OR chat_id ="
                " (SELECT chat_id FROM users WHERE id = ?)",
                [*ids, uid],
            ),
            followers=await self._count(
                f"SELECT COUNT(*) FROM followers WHERE user_id = ? OR wish_id IN ({w})",
                [uid, *ids],
            ),
            sessions=await self._count("SELECT COUNT(*) FROM sessions WHERE user_id = ?", [uid]),
            inbox=len(await self._inbox_rows(target)),
            kept=kept,
            media=sum(
                1 for ref in await self.photo_refs(target) if ref.startswith(_KEPT_FILES)
            ),
        )

    async def _inbox_rows(self, target: PurgeTarget) -> list[tuple[str, int]]:
        """The inbox rows (channel, update id) that came from any of the person's accounts."""
        channels = sorted({c for c, _ in target.accounts if c in ("telegram", "wechat")})
        if not channels:
            return []
        rows = await fetch_all(
            self.conn,
            f"SELECT channel, update_id, payload FROM inbox WHERE channel IN ({marks(channels)})",
            channels,
        )
        return [
            (str(r[0]), int(r[1])) for r in rows if _is_from(str(r[0]), str(r[2]), target.accounts)
        ]

    def _kept(
        self, target: PurgeTarget, wish_ids: list[int]
    ) -> list[tuple[str, str, list[object]]]:
        """(table, condition, params) of what a channel kept for the person's accounts (a
        deputy's or staff member's accounts are theirs as workers too, their desk, and stay,
        like the accounts themselves) and about the person's wishes."""
        found: list[tuple[str, str, list[object]]] = []
        for table, column, channel in _KEPT:
            values: list[object] = (
                [] if target.is_worker else [i for c, i in target.accounts if c == channel]
            )
            about = wish_ids if table in _ABOUT_WISH else []
            parts = [f"{column} IN ({marks(values)})"] if values else []
            parts += [f"wish_id IN ({marks(about)})"] if about else []
            if parts:
                found.append((table, " OR ".join(parts), [*values, *about]))
        return found

    async def erase(self, target: PurgeTarget) -> PurgeCounts:
        """Erase one resident's personal data; their wishes stay, anonymised, for the figures
        (status, category, station, deputy, dates, deadlines, rating, reopen count)."""
        counts = await self.count(target)
        ids = await self._wish_ids(target.user_id)
        w, uid = marks(ids), target.user_id
        copies, copy_params = await self._copies(ids)  # before the texts go
        inbox = await self._inbox_rows(target)
        ex = self.conn.execute
        # Text the resident wrote or that was written to them about their wishes (replies and
        # results quote names, addresses and numbers); no longer public anywhere.
        await ex(
            f"UPDATE wishes SET text = '', phone = NULL, result = CASE WHEN result IS NULL"
            " THEN NULL ELSE '' END, decline_reason = CASE WHEN decline_reason IS NULL THEN NULL"
            f" ELSE '' END, public = 0 WHERE id IN ({w})",
            ids,
        )
        # a rating's entry holds only the rating chosen (kept, like the wish's rating)
        await ex(
            f"UPDATE wish_events SET body = '' WHERE wish_id IN ({w}) AND action <> 'rate'", ids
        )
        await ex(f"DELETE FROM wish_attachments WHERE wish_id IN ({w})", ids)
        await ex(
            f"DELETE FROM outbox WHERE user_id = ? OR wish_id IN ({w}) OR {copies}",
            [uid, *ids, *copy_params],
        )
        await ex(
            f"DELETE FROM message_links WHERE wish_id IN ({w}) OR chat_id ="
            " (SELECT chat_id FROM users WHERE id = ?)",
            [*ids, uid],
        )
        await ex(f"DELETE FROM followers WHERE user_id = ? OR wish_id IN ({w})", [uid, *ids])
        await ex("DELETE FROM sessions WHERE user_id = ?", (uid,))
        for channel, update_id in inbox:
            await ex("DELETE FROM inbox WHERE channel = ? AND update_id = ?", (channel, update_id))
        for table, where, params in self._kept(target, ids):
            await ex(f"DELETE FROM {table} WHERE {where}", params)
        if not target.is_worker:
            # The account rows stay (the wishes point at the person) but no longer say who it
            # was, and nothing can be sent to them again; coming back is a new person.
            await ex(
                "UPDATE users SET external_id = 'purged:' || id, chat_id = 'purged:' || id,"
                " display_name = '', station_id = NULL, stopped = 1,"
                " unreachable_at = COALESCE(unreachable_at, created_at),"
                " unreachable_reason = 'purged' WHERE id = ?",
                (uid,),
            )
            await ex(
                "UPDATE user_accounts SET external_id = 'purged:' || id,"
                " chat_id = 'purged:' || id,"
                " unreachable_at = COALESCE(unreachable_at, created_at),"
                " unreachable_reason = 'purged' WHERE user_id = ?",
                (uid,),
            )
        return counts

    async def photo_refs(self, target: PurgeTarget) -> list[str]:
        """The photos of the person's wishes and their web uploads (files the process keeps:
        the caller deletes them once the rows are gone, see `still_used`)."""
        ids = await self._wish_ids(target.user_id)
        refs: list[str] = []
        if ids:
            rows = await fetch_all(
                self.conn,
                f"SELECT file_ref FROM wish_attachments WHERE wish_id IN ({marks(ids)})"
                " AND kind = 'photo' AND file_ref IS NOT NULL",
                ids,
            )
            refs += [str(r[0]) for r in rows]
        web = [a for c, a in target.accounts if c == "web"]
        if web:
            rows = await fetch_all(
                self.conn, f"SELECT id FROM web_uploads WHERE account IN ({marks(web)})", web
            )
            refs += [f"web:{r[0]}" for r in rows]
        return list(dict.fromkeys(refs))

    async def still_used(self, refs: list[str]) -> set[str]:
        """Which of these photos another wish still has (a WeChat image is named by its
        content, so two residents sending the same picture share one file)."""
        if not refs:
            return set()
        rows = await fetch_all(
            self.conn,
            f"SELECT DISTINCT file_ref FROM wish_attachments WHERE file_ref IN ({marks(refs)})",
            refs,
        )
        return {str(r[0]) for r in rows}

    async def _wish_ids(self, user_id: int) -> list[int]:
        rows = await fetch_all(self.conn, "SELECT id FROM wishes WHERE resident_id = ?", (user_id,))
        return [int(r[0]) for r in rows]

    async def _receipts(self, wish_ids: list[int]) -> list[str]:
        rows = await fetch_all(
            self.conn, f"SELECT receipt FROM wishes WHERE id IN ({marks(wish_ids)})", wish_ids
        )
        return [str(r[0]) for r in rows]

    async def _copies(self, wish_ids: list[int]) -> tuple[str, list[object]]:
        """Outbox rows about the wishes that carry no wish id: 回音壁 posts and follower
        notices (masked, but still their text), found by receipt."""
        receipts = await self._receipts(wish_ids)
        if not receipts:
            return "1 = 0", []  # (PostgreSQL takes no integer for a condition)
        # LIKE, which both engines have (PostgreSQL has no instr); a receipt has no wildcard
        like = " OR ".join("payload LIKE ?" for _ in receipts)
        return f"(kind IN ('wall', 'follower') AND ({like}))", [f"%{r}%" for r in receipts]

    async def _count(self, sql: str, params: list[object]) -> int:
        row = await fetch_one(self.conn, sql, params)
        return int(row[0]) if row else 0
