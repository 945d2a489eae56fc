"""What the WeChat channel adds to the core's figures, from its own tables: the notices it keeps
for residents' next messages (no path could push them), per station, for /stats. The composition
root hands it to the core (bot/app.py new_liaison, bot/queries.py WaitingCount) whether or not
the channel is on, as its retention jobs: what an earlier run kept is still waiting."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from storage.wechat import WeChatRepo


async def waiting_by_station(conn: Any, station_ids: Sequence[str]) -> dict[str, int]:
    """The notices still waiting, per station (the wish's, or for a broadcast the station the
    resident chose), on the read's connection."""
    return await WeChatRepo(conn).waiting_by_station(station_ids)
