"""`liaison-bot purge --receipt` (QA item 18): a web resident's visitor id is in an HttpOnly
cookie, so the operator finds the resident by the receipt number they can give; the
confirmation names the wish and the account before anything is erased. Real subprocess runs of
the command on a real SQLite file."""

from __future__ import annotations

from pathlib import Path

from bot.domain.draft import Draft
from bot.services import Identity, Liaison
from storage.db import Database, fetch_all
from tests.engines import sqlite_only
from tests.unit.test_retention_purge import run_cli

VISITOR = "v7Hq2mZkP4wX9cBn"


async def web_wish(liaison: Liaison, text: str) -> str:
    user = await liaison.people.identify(
        Identity(channel="web", external_id=VISITOR, chat_id=VISITOR, display_name=None)
    )
    await liaison.directory.choose_station(user, "huimin")
    await liaison.flows.start_draft(user)

    def fill(d: Draft) -> Draft:
        return d.with_category("traffic").with_text(text).described().with_public(False).with_phone("13812345678")

    await liaison.flows.update_draft(user, fill)
    wish, _ = await liaison.wishes.submit_draft(user, None)
    return wish.receipt


@sqlite_only("the command runs on the SQLite file")
async def test_purge_finds_a_web_resident_by_receipt(
    liaison: Liaison, db: Database, tmp_path: Path
) -> None:
    receipt = await web_wish(liaison, "我家楼下的路灯坏了三天")
    db_path = Path(db.path)
    code, out = await run_cli(db_path, "purge", "--receipt", receipt.lower(), stdin="n\n")
    assert code == 1 and "已取消" in out
    assert f"心愿 {receipt} 的居民是网页用户 {VISITOR}" in out and "心愿：1" in out.replace(" ", "")
    async with db.read() as conn:
        [(text,)] = await fetch_all(conn, "SELECT text FROM wishes WHERE receipt=?", (receipt,))
    assert "路灯" in text  # nothing erased before the confirmation
    code, out = await run_cli(db_path, "purge", "--receipt", receipt, "--yes")
    assert code == 0, out
    async with db.read() as conn:
        [(text, phone)] = await fetch_all(
            conn, "SELECT text, phone FROM wishes WHERE receipt=?", (receipt,)
        )
    assert "路灯" not in (text or "") and not phone
    # the same receipt again: its resident is gone, said plainly
    code, out = await run_cli(db_path, "purge", "--receipt", receipt, "--yes")
    assert code == 1 and "没有编号为" in out
    code, out = await run_cli(db_path, "purge", "--receipt", "not a receipt")
    assert code == 2 and "不是心愿编号" in out
