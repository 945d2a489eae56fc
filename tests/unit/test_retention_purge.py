"""Issue 8, privacy: retention (pruning on the scheduler's tick, with the Clock fake) and
`liaison-bot purge` on a real SQLite file through the CLI. Both are new: on the code before
them this module does not even import (bot.retention did not exist)."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import sys
from pathlib import Path

import pytest

from bot.clock import ManualClock
from bot.domain.model import Action, Rating
from bot.retention import Retention, RetentionPolicy
from bot.services import Liaison
from bot.supervision import Supervisor
from storage.broadcasts import DeliveryQueue
from storage.db import Database, fetch_all
from storage.repositories import Attachment, Repos
from tests.conftest import person
from tests.engines import sqlite_only
from tests.unit.test_services import clear_outbox, submit

RESIDENT, ZHANG = 700001, 800001
PHONE = "13812345678"  # what submit() leaves as the resident's phone


async def count_rows(db: Database, table: str) -> int:
    async with db.read() as conn:
        rows = await fetch_all(conn, f"SELECT COUNT(*) FROM {table}")
    return int(rows[0][0])


async def test_retention_prunes_outbox_links_sessions_and_misses_in_batches(
    liaison: Liaison, db: Database, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the inbox was ever pruned: card texts with phone numbers, links, the last
    unanswered question and FAQ misses stayed for ever."""
    policy = RetentionPolicy(outbox_days=7, links_days=30, session_hours=24, faq_miss_days=90)
    sup = Supervisor(db, liaison.core.c, liaison, retention=Retention(db, clock, policy))
    resident, wish = await submit(liaison, RESIDENT, "小区门口路灯坏了三天")
    zhang = await liaison.people.identify(person(ZHANG))
    await liaison.wishes.act(zhang, wish.id, Action.RESOLVE, body="已修好")
    await liaison.wishes.act(resident, wish.id, Action.RATE, rating=Rating.SATISFIED)  # closed
    await liaison.flows.remember_question(resident, "我家电话13812345678，能帮忙吗")
    async with db.transaction() as conn:
        await DeliveryQueue(conn).link([("telegram", str(ZHANG), "41", wish.id)])
        for i in range(5):
            await Repos(conn).add_faq_miss("huimin", "none", f"问题{i}", clock.now())
    await clear_outbox(db)  # delivered
    sent = await count_rows(db, "outbox")
    assert sent >= 3
    # something still pending is never pruned, however old
    async with db.transaction() as conn:
        await conn.execute("INSERT INTO outbox (created_at, channel, chat_id, priority, kind,"
                           " payload, next_attempt_at) SELECT created_at, channel, chat_id,"
                           " priority, kind, payload, next_attempt_at FROM outbox LIMIT 1")

    clock.advance(hours=23, minutes=55)
    assert (await sup.tick())["pruned"] == 0  # nothing is old enough yet
    clock.advance(minutes=6)  # the session is a day old
    await sup.tick()  # within ten minutes of the last run: nothing done
    assert await count_rows(db, "sessions") == 1
    clock.advance(minutes=5)
    await sup.tick()
    assert await count_rows(db, "sessions") == 0
    assert await liaison.flows.recalled_question(resident) is None
    clock.advance(days=7)
    monkeypatch.setattr("bot.retention.BATCH", 2)  # bounded batches, several of them
    done = await Retention(db, clock, policy).prune()
    assert done["outbox"] == sent and await count_rows(db, "outbox") == 1  # the pending one
    assert await count_rows(db, "message_links") == 1  # closed 8 days ago: kept for 30
    clock.advance(days=23)
    assert (await Retention(db, clock, policy).prune())["links"] == 1
    assert await count_rows(db, "faq_misses") == 5
    clock.advance(days=60)
    monkeypatch.setattr("bot.retention.MAX_BATCHES", 2)  # at most 2 x 2 rows in one run
    assert (await Retention(db, clock, policy).prune())["faq_misses"] == 4
    assert (await Retention(db, clock, policy).prune())["faq_misses"] == 1
    assert await count_rows(db, "faq_misses") == 0
    assert await count_rows(db, "wishes") == 1  # the record stays


async def run_cli(db_path: Path, *args: str, locale: str = "zh_CN", stdin: str = "") -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIAISON_")}
    env.update(LIAISON_DATABASE=str(db_path), LIAISON_LOCALE=locale)
    proc = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "liaison-bot"), *args, env=env, cwd=db_path.parent,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await proc.communicate(stdin.encode())
    return proc.returncode or 0, out.decode()


def dump(db_path: Path) -> str:
    with sqlite3.connect(db_path) as conn:
        return "\n".join(conn.iterdump())


@sqlite_only("reads the SQLite file's bytes, free pages included, for the erased text")
async def test_purge_erases_one_resident_and_keeps_the_statistics(
    liaison: Liaison, db: Database, tmp_path: Path
) -> None:
    # (the phone is checked row by row below: submit() gives the neighbour the same one)
    secrets = ("刘小明", "路灯坏了", "晚上九点", "明天上午去现场", "灯泡已更换", "photo-file-1")
    resident, wish = await submit(liaison, RESIDENT, "我是刘小明，小区门口路灯坏了三天")
    zhang = await liaison.people.identify(person(ZHANG))
    await liaison.wishes.act(zhang, wish.id, Action.REPLY, body="明天上午去现场")
    await liaison.wishes.act(resident, wish.id, Action.SUPPLEMENT, body="晚上九点后完全不亮")
    await liaison.wishes.act(zhang, wish.id, Action.RESOLVE, body="灯泡已更换")
    await liaison.wishes.act(resident, wish.id, Action.RATE, rating=Rating.SATISFIED)
    await liaison.flows.remember_question(resident, "我是刘小明，还有个问题")
    async with db.transaction() as conn:
        await Repos(conn).add_attachments(wish.id, [Attachment("photo", file_ref="photo-file-1")])
        await DeliveryQueue(conn).link([("telegram", str(RESIDENT), "7", wish.id)])
    _, other = await submit(liaison, 700002, "楼道灯也坏了", public=True)
    await liaison.people.identify(person(700002, "陈美"))  # submit() names everyone 刘小明
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO followers (wish_id, user_id, created_at) VALUES (?, ?, '2026-03-01')",
            (other.id, resident.id),
        )
    db_path = tmp_path / "liaison.db"
    await db.close()
    before = dump(db_path)
    assert all(s in before for s in secrets)

    # no such person; then asked to confirm and refused: nothing changes
    code, out = await run_cli(db_path, "purge", "--resident", "123")
    assert code == 1 and "没有 Telegram 用户 123 的记录" in out
    code, out = await run_cli(db_path, "purge", "--resident", str(RESIDENT), stdin="n\n")
    assert code == 1 and "匿名化的心愿：1 条" in out and "已取消" in out
    assert dump(db_path) == before

    code, out = await run_cli(db_path, "purge", "--resident", str(RESIDENT), "--yes")
    assert code == 0, out
    assert "已清除 Telegram 用户 700001 的个人数据" in out and "照片和位置：1 个" in out
    after = dump(db_path)
    for secret in secrets:
        assert secret not in after, secret
    assert "楼道灯也坏了" in after  # the neighbour's wish is untouched
    with sqlite3.connect(db_path) as conn:
        row = conn.execute(
            "SELECT status, category_id, station_id, rating, created_at, resolved_at, text,"
            " phone, public FROM wishes WHERE id=?", (wish.id,),
        ).fetchone()  # fmt: skip
        assert row[:4] == ("closed", "traffic", "huimin", "satisfied") and all(row[4:6])
        assert row[6:] == ("", None, 0)
        events = conn.execute("SELECT action, body FROM wish_events WHERE wish_id=?", (wish.id,))
        # the timeline's steps stay (submit, assign, reply, supplement, accept, resolve,
        # rate), without their text; the rating's entry holds only the rating
        assert [b for _, b in events] == [""] * 6 + ["satisfied"]
        user = conn.execute(
            "SELECT external_id, display_name, stopped FROM users WHERE id=?", (resident.id,)
        ).fetchone()
        assert user == (f"purged:{resident.id}", "", 1)
        outbox_rows = conn.execute(
            "SELECT COUNT(*) FROM outbox WHERE wish_id=? OR user_id=?", (wish.id, resident.id)
        ).fetchone()[0]
        assert outbox_rows == 0  # the cards with the phone number, the messages to them
        for table in ("sessions", "followers", "message_links", "wish_attachments"):
            assert conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] == 0, table
    # English operators read English (LIAISON_LOCALE)
    code, out = await run_cli(db_path, "purge", "--resident", str(RESIDENT), locale="en")
    assert code == 1 and "There is no record of Telegram user 700001" in out


@sqlite_only("reads the SQLite file for the erased ids")
async def test_purge_erases_a_wechat_resident_and_every_account_of_a_person(
    liaison: Liaison, db: Database, clock: ManualClock, tmp_path: Path
) -> None:
    """`purge --channel wechat --resident <openid>` (issue 9): the resident named by their
    WeChat account; what the WeChat channel kept for them goes too. A Telegram purge works while
    WeChat pushes wait in the inbox (json_extract used to fail on their XML), and a purged
    person's accounts no longer say who they were (they used to keep the Telegram id)."""
    from bot.services import Identity
    from storage.wechat import WeChatRepo

    openid = "oWeChatPurge0001"
    wx = await liaison.people.identify(Identity("wechat", openid, openid, "王芳"))
    await liaison.directory.choose_station(wx, "huimin")
    await liaison.flows.start_draft(wx)
    await liaison.flows.update_draft(
        wx, lambda d: d.with_category("traffic").with_text("我是王芳，楼下井盖丢了").described()
        .with_public(False).with_phone("13912345678")
    )  # fmt: skip
    wish, _ = await liaison.wishes.submit_draft(wx, None)
    telegram, _ = await submit(liaison, RESIDENT, "我是刘小明，小区门口路灯坏了三天")
    push = f"<xml><FromUserName><![CDATA[{openid}]]></FromUserName><Content>井盖</Content></xml>"
    async with db.transaction() as conn:
        repo = WeChatRepo(conn)
        await repo.keep_waiting(openid, {"text": "已受理：楼下井盖丢了"}, wish.id, clock.now())
        await repo.set_options(openid, [f"a:w:{wish.id}"], clock.now())
        await repo.open_window(openid, "message", clock.now())
        await Repos(conn).inbox_add("wechat", 1, push, clock.now())
        tg_update = json.dumps({"update_id": 2, "message": {"from": {"id": RESIDENT}, "text": "路灯"}})
        await Repos(conn).inbox_add("telegram", 2, tg_update, clock.now())
    db_path = tmp_path / "liaison.db"
    await db.close()

    code, out = await run_cli(db_path, "purge", "--resident", str(RESIDENT), "--yes")
    assert code == 0, out
    assert "已清除 Telegram 用户 700001 的个人数据" in out and "收件箱原始消息：1 条" in out
    code, out = await run_cli(
        db_path, "purge", "--channel", "wechat", "--resident", openid, stdin="n\n"
    )
    assert code == 1 and "将清除微信用户" in out and "匿名化的心愿：1 条" in out
    assert "渠道为送达保留的记录" in out and "收件箱原始消息：1 条" in out
    code, out = await run_cli(db_path, "purge", "--channel", "wechat", "--resident", openid, "--yes")
    assert code == 0 and f"已清除微信用户 {openid} 的个人数据" in out, out
    after = dump(db_path)
    for secret in (openid, "王芳", "井盖", str(RESIDENT)):
        assert secret not in after, secret
    with sqlite3.connect(db_path) as conn:
        for table in ("wechat_waiting", "wechat_options", "wechat_windows", "inbox"):
            assert conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] == 0, table
        accounts = conn.execute(
            "SELECT user_id, external_id, unreachable_reason FROM user_accounts WHERE user_id IN"
            " (?, ?) ORDER BY user_id", (telegram.id, wx.id),
        ).fetchall()  # fmt: skip
        assert accounts == sorted(
            [(telegram.id, f"purged:{a}", "purged") for (a,) in conn.execute(
                "SELECT id FROM user_accounts WHERE user_id=?", (telegram.id,))]
            + [(wx.id, f"purged:{a}", "purged") for (a,) in conn.execute(
                "SELECT id FROM user_accounts WHERE user_id=?", (wx.id,))]
        )  # fmt: skip
    # nothing of them is left to find: named again, they are not there
    code, out = await run_cli(db_path, "purge", "--channel", "wechat", "--resident", openid)
    assert code == 1 and f"没有微信用户 {openid} 的记录" in out


async def test_purge_by_any_account_on_either_engine(
    liaison: Liaison, db: Database, clock: ManualClock
) -> None:
    """The same erasure through the use case, on SQLite and on PostgreSQL (CI runs both): the
    inbox rows are told apart in Python, so neither engine's JSON functions are needed
    (PostgreSQL has no json_extract: purge used to fail there whatever the data)."""
    from bot.retention import NoSuchResident, purge_preview, purge_resident
    from bot.services import Identity
    from storage.wechat import WeChatRepo

    openid = "oWeChatPurge0002"
    wx = await liaison.people.identify(Identity("wechat", openid, openid, "王芳"))
    telegram, _ = await submit(liaison, RESIDENT, "小区门口路灯坏了三天")
    neighbour = 700002
    async with db.transaction() as conn:
        repos = Repos(conn)
        await WeChatRepo(conn).set_options(openid, ["m:new"], clock.now())
        xml = f"<xml><FromUserName><![CDATA[{openid}]]></FromUserName></xml>"
        await repos.inbox_add("wechat", 1, xml, clock.now())
        await repos.inbox_add("wechat", 2, xml.replace(openid, "oSomebodyElse01"), clock.now())
        for update_id, sender in ((3, RESIDENT), (4, neighbour)):
            body = {"update_id": update_id, "callback_query": {"from": {"id": sender}}}
            await repos.inbox_add("telegram", update_id, json.dumps(body), clock.now())
    target, preview = await purge_preview(db, "wechat", openid)
    assert target.user_id == wx.id and (preview.inbox, preview.kept) == (1, 1)
    await purge_resident(db, "wechat", openid)
    done = await purge_resident(db, "telegram", str(RESIDENT))
    assert done.inbox == 1 and done.wishes == 1
    async with db.read() as conn:
        left = await fetch_all(conn, "SELECT channel, update_id FROM inbox ORDER BY update_id")
        options = await fetch_all(conn, "SELECT COUNT(*) FROM wechat_options")
        ids = await fetch_all(
            conn, "SELECT external_id FROM user_accounts WHERE user_id IN (?, ?)",
            (wx.id, telegram.id),
        )  # fmt: skip
    assert [tuple(r) for r in left] == [("wechat", 2), ("telegram", 4)]  # others' rows stay
    assert options[0][0] == 0
    assert ids and all(str(r[0]).startswith("purged:") for r in ids)
    with pytest.raises(NoSuchResident):  # nobody is behind those accounts any more
        await purge_preview(db, "wechat", openid)


async def test_purge_deletes_the_photo_files_kept_for_the_resident(
    liaison: Liaison, db: Database, tmp_path: Path
) -> None:
    """The files behind `wechat-media:` and `web:` photos go with the rows (they used to stay
    on disk, unreferenced); an image another resident's wish also has (same content, one file)
    stays, and so does everyone else's."""
    from bot.media import kept_photo_folders
    from bot.retention import purge_resident
    from bot.services import Identity

    web_files, wechat_files = kept_photo_folders(tmp_path / "liaison.db", tmp_path / "media")
    web_files.folder.mkdir(parents=True)
    wechat_files.folder.mkdir(parents=True)
    mine, shared, theirs = ("a" * 64, "b" * 64, "c" * 64)
    for digest in (mine, shared, theirs):
        (wechat_files.folder / f"{digest}.jpg").write_bytes(b"jpeg")

    async def wish_with(openid: str, *digests: str) -> None:
        wx = await liaison.people.identify(Identity("wechat", openid, openid, ""))
        await liaison.directory.choose_station(wx, "huimin")
        await liaison.flows.start_draft(wx)

        def fill(d):  # type: ignore[no-untyped-def]
            d = d.with_category("traffic").with_text("路灯坏了")
            for digest in digests:
                d = d.with_photo(f"wechat-media:{digest}", None)
            return d.described().with_public(False).with_phone(None)

        await liaison.flows.update_draft(wx, fill)
        await liaison.wishes.submit_draft(wx, None)

    await wish_with("oWeChatPhotos001", mine, shared)
    await wish_with("oWeChatPhotos002", shared, theirs)
    await purge_resident(db, "wechat", "oWeChatPhotos001", (web_files, wechat_files))
    left = sorted(p.stem for p in wechat_files.folder.iterdir())
    assert left == [shared, theirs]
