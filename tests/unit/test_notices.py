"""What kind of notice a message is (result / reply / notice) is decided by the core when the
message is queued and travels in the outbox payload (branch wxfix): a channel that sends
summaries by template (WeChat, outside its window) only maps the kind to its template."""

from __future__ import annotations

from bot.clock import ManualClock
from bot.domain.model import Action, Status
from bot.domain.notices import NoticeKind, notice_kind
from bot.messages import OutMessage
from bot.services import Liaison
from storage.db import Database
from storage.repositories import Repos
from tests.conftest import person
from tests.unit.test_services import clear_outbox, outbox, submit


def test_the_kind_follows_the_wishs_state_for_its_own_resident_only() -> None:
    settled = {Status.RESOLVED, Status.CLOSED, Status.DECLINED}
    for status in Status:
        mine = NoticeKind.RESULT if status in settled else NoticeKind.REPLY
        assert notice_kind(status, to_its_resident=True) is mine
        # a deputy's or staff member's card is about someone else's wish
        assert notice_kind(status, to_its_resident=False) is NoticeKind.NOTICE
    assert notice_kind(None, to_its_resident=True) is NoticeKind.NOTICE  # about no wish


def test_the_kind_travels_in_the_payload() -> None:
    message = OutMessage(text="已办结", wish_id=7, notice=NoticeKind.RESULT)
    assert message.to_payload()["notice"] == "result"
    assert OutMessage.from_payload(message.to_payload()) == message
    # a row queued before kinds were stored, or a value this version does not know: none
    assert OutMessage.from_payload({"text": "旧", "wish_id": 7}).notice is None
    assert OutMessage.from_payload({"text": "?", "notice": "urgent"}).notice is None
    assert "notice" not in OutMessage(text="群发").to_payload()


async def test_each_queued_notice_carries_its_kind_for_its_recipient(
    liaison: Liaison, db: Database, clock: ManualClock
) -> None:
    resident, wish = await submit(liaison, 700001, "小区门口路灯坏了三天")
    deputy = await liaison.people.identify(person(800001))
    rows = [r for r in await outbox(db) if r.get("wish_id") == wish.id]
    assert rows and {(r["kind"], r["notice"]) for r in rows} == {("deputy", "notice")}

    async def queued_after(action: Action, body: str = "") -> set[tuple[str, str]]:
        await clear_outbox(db)
        await liaison.wishes.act(deputy, wish.id, action, body=body)
        pending = [r for r in await outbox(db) if r["status"] == "pending"]
        return {(r["kind"], r.get("notice", "")) for r in pending if r.get("wish_id") == wish.id}

    assert ("resident", "reply") in await queued_after(Action.ACCEPT)
    assert ("resident", "reply") in await queued_after(Action.REPLY, "已联系供电所")
    resolved = await queued_after(Action.RESOLVE, "已更换灯泡")
    assert ("resident", "result") in resolved
    assert all(notice == "notice" for kind, notice in resolved if kind != "resident")

    # a caller without the wish at hand (the 回访 of bot/supervision.py): it is read
    await clear_outbox(db)
    async with db.transaction() as conn:
        repos = Repos(conn)
        user = await repos.user(resident.id)
        assert user is not None
        await liaison.notify.to_person(
            repos, user, "resident", 0, OutMessage(text="回访", wish_id=wish.id)
        )
    (asked,) = [r for r in await outbox(db) if r["status"] == "pending"]
    assert asked["notice"] == "result"
