"""Retention forgets what the WeChat channel kept only to deliver: cards once shown, options
offered long ago, processed pushes; a card still waiting for its resident stays. The jobs are
the adapter's (wechat/retention.py); the composition root hands them to the core's retention,
also while the channel is off."""

from __future__ import annotations

from pathlib import Path

from bot.app import retention
from bot.clock import ManualClock
from bot.retention import Retention
from bot.settings import Settings
from storage.db import Database, fetch_one
from storage.repositories import Repos
from storage.wechat import WeChatRepo


async def count(db: Database, sql: str) -> int:
    async with db.read() as conn:
        row = await fetch_one(conn, sql)
    return int(row[0]) if row else 0


async def test_retention_prunes_the_wechat_tables(
    db: Database, clock: ManualClock, tmp_path: Path
) -> None:
    async with db.transaction() as conn:
        repo = WeChatRepo(conn)
        shown = await repo.keep_waiting(
            "o_a", {"text": "已办结，电话13812345678"}, None, clock.now()
        )
        await repo.keep_waiting("o_b", {"text": "仍在等待"}, None, clock.now())
        await repo.mark_shown([shown], clock.now())
        await repo.set_options("o_a", ["a:rt:1:s", "a:rt:1:b"], clock.now())
        await Repos(conn).inbox_add("wechat", 42, "<xml/>", clock.now())
        await Repos(conn).inbox_done("wechat", 42, clock.now())
    clock.advance(days=8)
    assert not {n for n in await Retention(db, clock).prune() if n.startswith("wechat")}
    # as bot/app.py builds it, the WeChat channel off (no app id): its tables are pruned anyway
    # photo folders in tmp_path: the sweep must never look at the working directory's
    off = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database=tmp_path / "x.db",
        wechat_media_dir=tmp_path / "wx",
    )
    assert not off.wechat_app_id
    done = await retention(db, clock, off).prune()
    assert (done["wechat_shown"], done["wechat_options"], done["wechat_inbox"]) == (1, 2, 1)
    assert await count(db, "SELECT COUNT(*) FROM wechat_waiting") == 1  # o_b's, still waiting
    assert await count(db, "SELECT COUNT(*) FROM wechat_options") == 0
    assert await count(db, "SELECT COUNT(*) FROM inbox WHERE channel='wechat'") == 0
