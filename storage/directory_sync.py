"""The stations file's directory written in batches: one `executemany` per table.

The same rows and the same end state as `Repos.upsert_station`, `ensure_user`,
`upsert_deputy`, `deactivate_deputies_except`, `set_staff` and `SupervisionRepo.set_policies`
called row by row, which for a province (2 000 stations, 14 000 people) meant tens of
thousands of awaited statements at every start.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime

import aiosqlite

from bot.domain.deadlines import DeadlinePolicy
from storage.db import fetch_all
from storage.repositories import CategoryRow, StationRow, _ts, marks

CHUNK = 500  # ids per IN (…) list, well under any engine's parameter limit


class DirectorySync:
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn

    async def categories(self, categories: Sequence[CategoryRow]) -> None:
        """Upsert in file order (the position), deactivate every other category."""
        await self.conn.executemany(
            "INSERT INTO categories (id, name, position, active) VALUES (?, ?, ?, 1)"
            " ON CONFLICT(id) DO UPDATE SET name=excluded.name, position=excluded.position, active=1",
            [(c.id, c.name, i) for i, c in enumerate(categories)],
        )
        keep = [c.id for c in categories]
        placeholders = marks(keep) if keep else "''"
        await self.conn.execute(
            f"UPDATE categories SET active=0 WHERE id NOT IN ({placeholders})", keep
        )

    async def stations(self, stations: Sequence[StationRow]) -> None:
        """Upsert in file order (the position), deactivate every other station."""
        await self.conn.executemany(
            "INSERT INTO stations (id, name, code, address, reception, wall_chat_id, active, position)"
            " VALUES (?, ?, ?, ?, ?, ?, 1, ?) ON CONFLICT(id) DO UPDATE SET name=excluded.name,"
            " code=excluded.code, address=excluded.address, reception=excluded.reception,"
            " wall_chat_id=excluded.wall_chat_id, active=1, position=excluded.position",
            [
                (s.id, s.name, s.code, s.address, s.reception, s.wall_chat_id, i)
                for i, s in enumerate(stations)
            ],
        )
        keep = {s.id for s in stations}
        rows = await fetch_all(self.conn, "SELECT id FROM stations WHERE active=1")
        gone = [(r[0],) for r in rows if r[0] not in keep]
        await self.conn.executemany("UPDATE stations SET active=0 WHERE id=?", gone)

    async def users(
        self, channel: str, external_ids: Sequence[str], now: datetime
    ) -> dict[str, int]:
        """Create the people not known yet (in this order, so ids come out as one by one), keep
        the display name of those who are; their user id by external id."""
        order = list(dict.fromkeys(external_ids))
        await self.conn.executemany(
            "INSERT INTO users (channel, external_id, chat_id, display_name, created_at)"
            " VALUES (?, ?, ?, '', ?) ON CONFLICT(channel, external_id) DO UPDATE SET"
            " chat_id=excluded.chat_id",
            [(channel, e, e, _ts(now)) for e in order],
        )
        ids: dict[str, int] = {}
        for i in range(0, len(order), CHUNK):
            chunk = order[i : i + CHUNK]
            rows = await fetch_all(
                self.conn,
                f"SELECT external_id, id FROM users WHERE channel=? AND external_id IN ({marks(chunk)})",
                [channel, *chunk],
            )
            ids.update((r[0], r[1]) for r in rows)
        return ids

    async def deputies(
        self,
        station_ids: Sequence[str],
        deputies: Sequence[tuple[str, int, str, Sequence[str]]],
    ) -> None:
        """(station id, user id, name, categories) upserted; any other deputy of these
        stations deactivated (deputies of stations not named are left as they are)."""
        await self.conn.executemany(
            "INSERT INTO deputies (station_id, user_id, name, categories, active) VALUES (?, ?, ?, ?, 1)"
            " ON CONFLICT(station_id, user_id) DO UPDATE SET name=excluded.name,"
            " categories=excluded.categories, active=1",
            [(s, u, n, json.dumps(sorted(c))) for s, u, n, c in deputies],
        )
        named = set(station_ids)
        keep = {(s, u) for s, u, _, _ in deputies}
        rows = await fetch_all(
            self.conn, "SELECT id, station_id, user_id FROM deputies WHERE active=1"
        )
        gone = [(r[0],) for r in rows if r[1] in named and (r[1], r[2]) not in keep]
        await self.conn.executemany("UPDATE deputies SET active=0 WHERE id=?", gone)

    async def staff(self, station_ids: Sequence[str], staff: Sequence[tuple[str, int]]) -> None:
        """Exactly these (station id, user id) memberships active for the stations named."""
        await self.conn.executemany(
            "UPDATE station_staff SET active=0 WHERE station_id=?", [(s,) for s in station_ids]
        )
        await self.conn.executemany(
            "INSERT INTO station_staff (station_id, user_id, active) VALUES (?, ?, 1)"
            " ON CONFLICT(station_id, user_id) DO UPDATE SET active=1",
            list(dict.fromkeys(staff)),
        )

    async def policies(self, policies: Mapping[tuple[str, str], DeadlinePolicy]) -> None:
        """Replace the effective deadline policies."""
        await self.conn.execute("DELETE FROM deadline_policies")
        await self.conn.executemany(
            "INSERT INTO deadline_policies (station_id, category_id, accept_days,"
            " resolve_days, working_days_only) VALUES (?, ?, ?, ?, ?)",
            [
                (s, c, p.accept_days, p.resolve_days, int(p.working_days_only))
                for (s, c), p in sorted(policies.items())
            ],
        )
