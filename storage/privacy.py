"""Retention and erasure: the SQL that forgets what is no longer needed (issue 8, privacy).

Every prune deletes at most `limit` rows per call, so the scheduler can work in bounded batches
(each its own short transaction) and never holds the database for long.
"""

from __future__ import annotations

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
    wechat: int = 0  # WeChat rows: window, consents, kept cards, options, delivery paths
    media: tuple[str, ...] = ()  # kept WeChat photos (file names in the media dir) to delete


@dataclass(frozen=True)
class PurgeTarget:
    user_id: int
    is_worker: bool  # also a deputy or staff member: their account is not anonymised


# Where a person's own id is in a stored raw update (the inbox keeps them for a week).
_INBOX_SENDER = " OR ".join(
    f"json_extract(payload, '$.{kind}.from.id') = ?"
    for kind in ("message", "edited_message", "callback_query", "my_chat_member")
)
# WeChat pushes are XML, not JSON (json_extract would fail on them): the sender's openid is
# looked for in the text. CASE keeps each test to its own channel's rows.
_WECHAT_MEDIA = "wechat-media:"  # wechat/webhook.py: the file_ref of a kept photo
_WECHAT_BY_OPENID = ("wechat_windows", "wechat_consents", "wechat_options")


class PurgeRepo:
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn

    async def target(self, channel: str, external_id: str) -> PurgeTarget | None:
        """The person behind an account: any of theirs (user_accounts), or the one they were
        first known by."""
        row = await fetch_one(
            self.conn,
            "SELECT u.id, EXISTS (SELECT 1 FROM deputies d WHERE d.user_id = u.id)"
            " OR EXISTS (SELECT 1 FROM station_staff s WHERE s.user_id = u.id)"
            " FROM users u WHERE u.id IN (SELECT a.user_id FROM user_accounts a"
            " WHERE a.channel = ? AND a.external_id = ? UNION SELECT x.id FROM users x"
            " WHERE x.channel = ? AND x.external_id = ?) ORDER BY u.id LIMIT 1",
            (channel, external_id, channel, external_id),
        )
        return PurgeTarget(int(row[0]), bool(row[1])) if row else None

    async def _openids(self, user_id: int) -> list[str]:
        """The person's WeChat accounts (openids)."""
        rows = await fetch_all(
            self.conn,
            "SELECT external_id FROM user_accounts WHERE user_id = ? AND channel = 'wechat'"
            " UNION SELECT external_id FROM users WHERE id = ? AND channel = 'wechat'",
            (user_id, user_id),
        )
        return sorted(str(r[0]) for r in rows)

    async def _inbox(self, user_id: int, external_id: str) -> tuple[str, list[object]]:
        """The stored raw updates and pushes this person sent: Telegram's by sender id (the
        id purged by, when it is a Telegram id), WeChat's by openid."""
        openids = await self._openids(user_id)
        wechat = " OR ".join("instr(payload, ?) > 0" for _ in openids) or "0 = 1"
        telegram = _INBOX_SENDER if external_id.isdigit() else "0 = 1"
        params: list[object] = [*(f"<![CDATA[{o}]]>" for o in openids)]
        params += [int(external_id)] * 4 if external_id.isdigit() else []
        return f"CASE WHEN channel = 'wechat' THEN ({wechat}) ELSE ({telegram}) END", params

    async def _wechat(
        self, user_id: int, wish_ids: list[int], whole: bool
    ) -> list[tuple[str, list[object]]]:
        """("table WHERE ...", params) of the person's WeChat rows: those about their wishes, and
        (`whole`: not a worker) everything kept for their openids."""
        openids = await self._openids(user_id) if whole else []
        o, w = marks(openids), marks(wish_ids)
        parts: list[tuple[str, list[object]]] = [
            (f"wechat_waiting WHERE wish_id IN ({w}) OR openid IN ({o})", [*wish_ids, *openids]),
            (
                f"wechat_deliveries WHERE wish_id IN ({w}) OR openid IN ({o})",
                [*wish_ids, *openids],
            ),
        ]
        parts += [(f"{table} WHERE openid IN ({o})", list(openids)) for table in _WECHAT_BY_OPENID]
        return parts

    async def _media(self, wish_ids: list[int]) -> tuple[str, ...]:
        """The file names of kept WeChat photos of these wishes (deleted from disk by the
        caller, who knows the media directory)."""
        rows = await fetch_all(
            self.conn,
            f"SELECT file_ref FROM wish_attachments WHERE wish_id IN ({marks(wish_ids)})"
            " AND file_ref LIKE ?",
            [*wish_ids, _WECHAT_MEDIA + "%"],
        )
        return tuple(sorted({f"{str(r[0])[len(_WECHAT_MEDIA) :]}.jpg" for r in rows}))

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
            return "0", []
        like = " OR ".join("instr(payload, ?) > 0" for _ in receipts)
        return f"(kind IN ('wall', 'follower') AND ({like}))", list(receipts)

    async def _count(self, sql: str, params: list[object]) -> int:
        row = await fetch_one(self.conn, sql, params)
        return int(row[0]) if row else 0

    async def count(self, target: PurgeTarget, external_id: str) -> PurgeCounts:
        """What `erase` would touch, for the confirmation."""
        ids = await self._wish_ids(target.user_id)
        w, uid = marks(ids), target.user_id
        copies, copy_params = await self._copies(ids)
        inbox, inbox_params = await self._inbox(uid, external_id)
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
            inbox=await self._count(f"SELECT COUNT(*) FROM inbox WHERE {inbox}", inbox_params),
            wechat=sum(
                [
                    await self._count(f"SELECT COUNT(*) FROM {where}", params)
                    for where, params in await self._wechat(uid, ids, not target.is_worker)
                ]
            ),
            media=await self._media(ids),
        )

    async def erase(self, target: PurgeTarget, external_id: str) -> PurgeCounts:
        """Erase one resident's personal data; their wishes stay, anonymised, for the figures
        (status, category, station, deputy, dates, deadlines, rating, reopen count)."""
        counts = await self.count(target, external_id)
        ids = await self._wish_ids(target.user_id)
        w, uid = marks(ids), target.user_id
        copies, copy_params = await self._copies(ids)  # before the texts go
        inbox, inbox_params = await self._inbox(uid, external_id)  # before the accounts go
        wechat = await self._wechat(uid, ids, not target.is_worker)
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
        await ex(f"DELETE FROM inbox WHERE {inbox}", inbox_params)
        for where, params in wechat:
            await ex(f"DELETE FROM {where}", params)
        if not target.is_worker:
            # Every account of theirs too (ids, chats): a WeChat openid or Telegram id must not
            # outlive the erasure; writing again starts as a new person.
            await ex(
                "UPDATE user_accounts SET external_id = 'purged:' || id, chat_id = 'purged:' || id,"
                " unreachable_at = COALESCE(unreachable_at, created_at),"
                " unreachable_reason = 'purged' WHERE user_id = ?",
                (uid,),
            )
            # The account row stays (the wishes point at it) but no longer says who it was,
            # and nothing can be sent to it again.
            await ex(
                "UPDATE users SET external_id = 'purged:' || id, chat_id = 'purged:' || id,"
                " display_name = '', station_id = NULL, stopped = 1,"
                " unreachable_at = COALESCE(unreachable_at, created_at),"
                " unreachable_reason = 'purged' WHERE id = ?",
                (uid,),
            )
        return counts
