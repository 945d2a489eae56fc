"""`liaison-bot purge` and retention for WeChat residents: their openid, the channel's rows
(window, consents, kept cards, options, delivery paths), their pushes in the inbox and their
kept photos go; the wish stays, anonymised. Before this, `--resident` took Telegram ids only,
the wechat_* rows stayed, and a WeChat push in the inbox (XML) made every purge fail on
json_extract."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
from pathlib import Path

from bot.clock import ManualClock
from bot.domain.draft import Draft
from bot.retention import Retention, RetentionPolicy
from bot.services import Identity, Liaison
from storage.db import Database
from storage.repositories import Attachment, Repos
from storage.wechat import WeChatRepo
from tests.engines import sqlite_only
from tests.fake_wechat import FakeWeChat
from tests.unit.test_services import submit
from wechat.retention import retention_jobs

OPENID = "o6_bmjrPTlm6_2sgVt7hMZOPfL2M"
NEIGHBOUR = "o6_neighbourNeighbour0001"
MEDIA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


async def wechat_wish(liaison: Liaison, openid: str, text: str) -> tuple[int, int]:
    """(person id, wish id) of a wish left on WeChat."""
    user = await liaison.people.identify(Identity("wechat", openid, openid, None))
    await liaison.directory.choose_station(user, "huimin")
    await liaison.flows.start_draft(user)

    def fill(d: Draft) -> Draft:
        return (
            d.with_category("traffic").with_text(text).described().with_public(False)
            .with_phone("13912345678")
        )

    await liaison.flows.update_draft(user, fill)
    wish, _ = await liaison.wishes.submit_draft(user, None)
    return user.id, wish.id


async def channel_rows(
    db: Database, clock: ManualClock, openid: str, wish_id: int, said: str = "我家住3号楼"
) -> None:
    """What the WeChat channel keeps for a resident, and one push of theirs in the inbox."""
    now = clock.now()
    async with db.transaction() as conn:
        repo = WeChatRepo(conn)
        await repo.open_window(openid, "message", now)
        await repo.add_consent(openid, "SUB_RESULT", now)
        await repo.keep_waiting(openid, {"text": "代表回复：明天上午去现场"}, wish_id, now)
        await repo.set_options(openid, ["a:rt:1:s"], now)
        await repo.record_path(wish_id, openid, "waiting", now)
        push = FakeWeChat().text(openid, said)
        await Repos(conn).inbox_add("wechat", abs(hash(openid)) % 10**9, push, now)


async def run_cli(db_path: Path, media: Path, *args: str) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIAISON_")}
    env.update(
        LIAISON_DATABASE=str(db_path), LIAISON_LOCALE="zh_CN", LIAISON_WECHAT_MEDIA_DIR=str(media)
    )
    proc = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "liaison-bot"), *args, env=env, cwd=db_path.parent,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await proc.communicate(b"")
    return proc.returncode or 0, out.decode()


def wechat_counts(db_path: Path, openid: str) -> dict[str, int]:
    with sqlite3.connect(db_path) as conn:
        return {
            table: conn.execute(f"SELECT COUNT(*) FROM {table} WHERE openid=?", (openid,)).fetchone()[0]
            for table in (
                "wechat_windows", "wechat_consents", "wechat_waiting", "wechat_options",
                "wechat_deliveries",
            )
        }  # fmt: skip


@sqlite_only("reads the SQLite file for the erased openid and text")
async def test_purge_erases_a_wechat_resident(
    liaison: Liaison, db: Database, clock: ManualClock, tmp_path: Path
) -> None:
    _, wish_id = await wechat_wish(liaison, OPENID, "我是刘小明，小区门口路灯坏了三天")
    _, other_id = await wechat_wish(liaison, NEIGHBOUR, "楼道灯也坏了")
    await channel_rows(db, clock, OPENID, wish_id)
    await channel_rows(db, clock, NEIGHBOUR, other_id, said="楼道在5号楼")
    media = tmp_path / "media"
    media.mkdir()
    (media / f"{MEDIA}.jpg").write_bytes(b"\xff\xd8photo")
    (media / "neighbour.jpg").write_bytes(b"\xff\xd8photo")
    async with db.transaction() as conn:
        await Repos(conn).add_attachments(wish_id, [Attachment("photo", file_ref=f"wechat-media:{MEDIA}")])
    db_path = tmp_path / "liaison.db"
    await db.close()

    code, out = await run_cli(db_path, media, "purge", "--resident", "o6_bad")
    assert code == 2 and "wechat:OPENID" in out  # neither a Telegram id nor wechat:…
    code, out = await run_cli(db_path, media, "purge", "--resident", "wechat:o6_nobody01")
    assert code == 1 and "没有微信用户 o6_nobody01 的记录" in out

    code, out = await run_cli(db_path, media, "purge", "--resident", f"wechat:{OPENID}", "--yes")
    assert code == 0, out
    assert f"已清除微信用户 {OPENID} 的个人数据" in out
    assert "渠道为送达保留的记录（网页消息、微信待送卡片和选项等）：5 条" in out
    assert "保存的照片文件（网页上传、微信图片）：1 个" in out
    assert "收件箱原始消息：1 条" in out
    with sqlite3.connect(db_path) as conn:
        everything = "\n".join(conn.iterdump())
    for secret in (OPENID, "刘小明", "路灯坏了", "3号楼", MEDIA):
        assert secret not in everything, secret
    assert set(wechat_counts(db_path, OPENID).values()) == {0}
    assert set(wechat_counts(db_path, NEIGHBOUR).values()) == {1}  # the neighbour's stay
    assert "楼道灯也坏了" in everything
    assert not (media / f"{MEDIA}.jpg").exists() and (media / "neighbour.jpg").exists()
    # purged once: the openid is no longer known
    code, out = await run_cli(db_path, media, "purge", "--resident", f"wechat:{OPENID}", "--yes")
    assert code == 1 and "没有微信用户" in out


@sqlite_only("the CLI runs on the SQLite file")
async def test_a_telegram_purge_is_not_broken_by_wechat_pushes_in_the_inbox(
    liaison: Liaison, db: Database, clock: ManualClock, tmp_path: Path
) -> None:
    """The inbox holds WeChat pushes (XML) next to Telegram updates (JSON)."""
    _, wish_id = await wechat_wish(liaison, NEIGHBOUR, "楼道灯也坏了")
    await channel_rows(db, clock, NEIGHBOUR, wish_id)
    await submit(liaison, 700001, "小区门口路灯坏了三天")
    db_path = tmp_path / "liaison.db"
    await db.close()
    code, out = await run_cli(db_path, tmp_path, "purge", "--resident", "700001", "--yes")
    assert code == 0, out
    assert "已清除 Telegram 用户 700001 的个人数据" in out
    assert set(wechat_counts(db_path, NEIGHBOUR).values()) == {1}


async def test_retention_forgets_closed_windows_and_old_delivery_paths(
    liaison: Liaison, db: Database, clock: ManualClock
) -> None:
    _, wish_id = await wechat_wish(liaison, OPENID, "路灯坏了")
    await channel_rows(db, clock, OPENID, wish_id)
    policy = RetentionPolicy(links_days=30)
    jobs = (retention_jobs,)  # the adapter's, as the composition root passes them
    clock.advance(hours=48)  # the window may still be (just) open: kept
    done = await Retention(db, clock, policy, channel_jobs=jobs).prune()
    assert done["wechat_windows"] == 0
    clock.advance(hours=2)
    assert (await Retention(db, clock, policy, channel_jobs=jobs).prune())["wechat_windows"] == 1
    clock.advance(days=30)
    assert (await Retention(db, clock, policy, channel_jobs=jobs).prune())["wechat_deliveries"] == 1
    async with db.read() as conn:
        assert await WeChatRepo(conn).window(OPENID) is None
        assert await WeChatRepo(conn).paths(wish_id) == []
        # a notice still waiting for its resident stays, however old
        assert len(await WeChatRepo(conn).waiting(OPENID)) == 1


async def test_purge_keeps_an_image_another_persons_draft_holds(
    liaison: Liaison, db: Database, tmp_path: Path
) -> None:
    """A WeChat image is one file per picture: the neighbour sent the same photo and has it in
    a draft not yet submitted, so erasing the first resident must not delete the file (it
    checked only other wishes)."""
    from bot.media import wechat_images
    from bot.retention import purge_resident

    _, wish_id = await wechat_wish(liaison, OPENID, "路灯坏了三天")
    ref = f"wechat-media:{MEDIA}"
    async with db.transaction() as conn:
        await Repos(conn).add_attachments(wish_id, [Attachment("photo", file_ref=ref)])
    neighbour = await liaison.people.identify(Identity("wechat", NEIGHBOUR, NEIGHBOUR, None))
    await liaison.directory.choose_station(neighbour, "huimin")
    await liaison.flows.start_draft(neighbour)
    await liaison.flows.update_draft(
        neighbour, lambda d: d.with_category("traffic").with_photo(ref, None)
    )
    media = tmp_path / "media"
    media.mkdir()
    (media / f"{MEDIA}.jpg").write_bytes(b"\xff\xd8photo")

    await purge_resident(db, "wechat", OPENID, files=(wechat_images(media),))
    assert (media / f"{MEDIA}.jpg").exists()
