"""Use cases against a real SQLite file: the loop, the outbox, authorization, receipts."""

from __future__ import annotations

import asyncio
import json

import pytest

from bot.clock import ManualClock
from bot.domain.draft import Draft
from bot.domain.model import Action, InvalidInput, InvalidTransition, Rating, Status
from bot.services import Liaison, NotFound
from storage.db import Database, fetch_all
from tests.conftest import person


async def outbox(db: Database) -> list[dict]:
    async with db.read() as conn:
        rows = await fetch_all(
            conn, "SELECT chat_id, kind, payload, status FROM outbox ORDER BY id"
        )
    return [{"chat": r[0], "kind": r[1], "status": r[3], **json.loads(r[2])} for r in rows]


async def clear_outbox(db: Database) -> None:
    async with db.transaction() as conn:
        await conn.execute("UPDATE outbox SET status='sent'")


async def submit(
    liaison: Liaison,
    tg_id: int,
    text: str,
    category: str = "traffic",
    station: str = "huimin",
    public: bool = True,
    key: str | None = None,
):
    user = await liaison.people.identify(person(tg_id, "刘小明"))
    await liaison.directory.choose_station(user, station)
    await liaison.flows.start_draft(user)

    def fill(d: Draft) -> Draft:
        return (
            d.with_category(category)
            .with_text(text)
            .described()
            .with_public(public)
            .with_phone("13812345678")
        )

    await liaison.flows.update_draft(user, fill)
    wish, _ = await liaison.wishes.submit_draft(user, key)
    return user, wish


async def test_submit_routes_to_the_specialist_and_queues_the_card(
    liaison: Liaison, db: Database
) -> None:
    user, wish = await submit(liaison, 700001, "小区门口路灯坏了三天")
    assert wish.receipt == "HM-2026-0001"
    assert wish.status is Status.ASSIGNED
    rows = await outbox(db)
    card = [r for r in rows if r["chat"] == "800001"]  # 张代表 takes traffic
    assert len(card) == 1 and "路灯坏了" in card[0]["text"] and "13812345678" in card[0]["text"]
    assert card[0]["wish_id"] == wish.id
    assert not [r for r in rows if r["chat"] == "700001"]  # the resident is answered directly

    detail = await liaison.queries.wish_detail(user, wish.id)
    assert [e.action for e in detail.events] == [Action.SUBMIT, Action.ASSIGN]


async def test_full_loop_with_wall_post_masked(
    liaison: Liaison, db: Database, clock: ManualClock
) -> None:
    resident, wish = await submit(liaison, 700001, "我是刘小明，电话13812345678，门口路灯坏了")
    deputy = await liaison.people.identify(person(800001))
    await liaison.wishes.act(deputy, wish.id, Action.ACCEPT)
    await liaison.wishes.act(deputy, wish.id, Action.REPLY, body="明天上午去现场看")
    clock.advance(days=2)
    await clear_outbox(db)
    await liaison.wishes.act(deputy, wish.id, Action.RESOLVE, body="已联系供电所更换灯泡")
    rows = [r for r in await outbox(db) if r["status"] == "pending"]
    wall = [r for r in rows if r["chat"] == "-1001000000001"]
    assert len(wall) == 1
    assert "13812345678" not in wall[0]["text"] and "138****5678" in wall[0]["text"]
    assert "刘小明" not in wall[0]["text"] and "刘**" in wall[0]["text"]
    assert "已联系供电所更换灯泡" in wall[0]["text"] and "张代表" in wall[0]["text"]
    to_resident = [r for r in rows if r["chat"] == "700001"]
    assert to_resident and [b[1] for b in to_resident[0]["buttons"][0]] == [
        f"a:rt:{wish.id}:s",
        f"a:rt:{wish.id}:b",
        f"a:rt:{wish.id}:u",
    ]
    closed = await liaison.wishes.act(resident, wish.id, Action.RATE, rating=Rating.SATISFIED)
    assert closed.status is Status.CLOSED


async def test_private_wishes_never_reach_the_wall(liaison: Liaison, db: Database) -> None:
    _, wish = await submit(liaison, 700001, "家里的私事，不要公开", public=False)
    deputy = await liaison.people.identify(person(800001))
    await liaison.wishes.act(deputy, wish.id, Action.RESOLVE, body="已电话沟通")
    assert not [r for r in await outbox(db) if r["chat"].startswith("-100")]


async def test_unsatisfied_reopens_and_tells_deputy_and_staff(
    liaison: Liaison, db: Database
) -> None:
    resident, wish = await submit(liaison, 700001, "楼道灯不亮了好几天")
    deputy = await liaison.people.identify(person(800001))
    await liaison.wishes.act(deputy, wish.id, Action.RESOLVE, body="已修")
    await clear_outbox(db)
    wish = await liaison.wishes.act(resident, wish.id, Action.RATE, rating=Rating.UNSATISFIED)
    assert wish.status is Status.REOPENED
    chats = {r["chat"] for r in await outbox(db) if r["status"] == "pending"}
    assert {"800001", "900001"} <= chats


async def test_no_fitting_deputy_goes_to_staff(liaison: Liaison, db: Database) -> None:
    # 星苑's only deputy takes housing; a traffic wish there must be assigned by staff.
    _, wish = await submit(
        liaison, 700002, "公交站牌被撞坏了", category="traffic", station="xingyuan"
    )
    assert wish.status is Status.SUBMITTED and wish.receipt == "XY-2026-0001"
    rows = await outbox(db)
    assert [r["chat"] for r in rows] == ["900002"]
    staff = await liaison.people.identify(person(900002))
    _, options = await liaison.queries.assign_options(staff, wish.id)
    assert [d.name for d in options] == ["赵代表"]
    wish = await liaison.wishes.act(staff, wish.id, Action.ASSIGN, deputy_id=options[0].id)
    assert wish.status is Status.ASSIGNED


async def test_strangers_and_other_stations_cannot_see_or_act(liaison: Liaison) -> None:
    _, wish = await submit(liaison, 700001, "路面有个大坑很危险")
    for outsider in (700009, 800011, 900002, 800002):  # resident, other deputies, other staff
        user = await liaison.people.identify(person(outsider))
        with pytest.raises(NotFound):  # indistinguishable from a wish that does not exist
            await liaison.queries.wish_detail(user, wish.id)
        with pytest.raises(NotFound):
            await liaison.wishes.act(user, wish.id, Action.RESOLVE, body="x")
    admin = await liaison.people.identify(person(990001))
    assert (await liaison.queries.wish_detail(admin, wish.id)).wish.id == wish.id


async def test_stale_press_changes_nothing(liaison: Liaison, db: Database) -> None:
    resident, wish = await submit(liaison, 700001, "垃圾桶满了没人清")
    await liaison.wishes.act(resident, wish.id, Action.WITHDRAW)
    deputy = await liaison.people.identify(person(800001))
    before = await outbox(db)
    with pytest.raises(InvalidTransition):
        await liaison.wishes.act(deputy, wish.id, Action.ACCEPT)
    assert await outbox(db) == before


async def test_redelivered_update_does_not_create_a_second_wish(liaison: Liaison) -> None:
    _, first = await submit(liaison, 700001, "学校门口需要斑马线", key="tg:42")
    user = await liaison.people.identify(person(700001))
    again, _ = await liaison.wishes.submit_draft(user, "tg:42")
    assert again.id == first.id
    deputy = await liaison.people.identify(person(800001))
    await liaison.wishes.act(deputy, first.id, Action.REPLY, body="收到", idempotency_key="tg:43")
    await liaison.wishes.act(deputy, first.id, Action.REPLY, body="收到", idempotency_key="tg:43")
    replies = [
        e for e in (await liaison.queries.wish_detail(deputy, first.id)).events if e.action is Action.REPLY
    ]
    assert len(replies) == 1


async def test_receipts_have_no_gaps_or_duplicates_under_concurrency(liaison: Liaison) -> None:
    results = await asyncio.gather(
        *[submit(liaison, 710000 + i, f"第{i}号心愿的内容") for i in range(40)]
    )
    receipts = sorted(w.receipt for _, w in results)
    assert receipts == [f"HM-2026-{i:04d}" for i in range(1, 41)]


async def test_load_balancing_round_robin_between_equal_deputies(liaison: Liaison) -> None:
    # environment goes to 王代表 (specialist); housing has no specialist at huimin -> 李代表 only
    _, w1 = await submit(liaison, 720001, "绿化带垃圾很多", category="environment")
    _, w2 = await submit(liaison, 720002, "物业不作为的问题", category="housing")
    names = {}
    staff = await liaison.people.identify(person(900001))
    for w in (w1, w2):
        names[w.id] = (await liaison.queries.wish_detail(staff, w.id)).context.deputy_name
    assert names == {w1.id: "王代表", w2.id: "李代表"}
    # two traffic specialists: 张 and 王 alternate as their loads stay equal
    got = []
    for i in range(4):
        _, w = await submit(liaison, 730000 + i, f"交通问题第{i}条")
        got.append((await liaison.queries.wish_detail(staff, w.id)).context.deputy_name)
    assert sorted(got) == ["张代表", "张代表", "王代表", "王代表"]


async def test_unreachable_deputy_is_reported_to_staff_once(liaison: Liaison, db: Database) -> None:
    deputy = await liaison.people.identify(person(800002))
    await clear_outbox(db)
    await liaison.people.on_unreachable(deputy.id, "Forbidden: bot was blocked by the user")
    await liaison.people.on_unreachable(deputy.id, "Forbidden: bot was blocked by the user")
    notes = [r for r in await outbox(db) if r["status"] == "pending"]
    assert [r["chat"] for r in notes] == ["900001"] and "李代表" in notes[0]["text"]


async def test_never_started_people_are_reported(liaison: Liaison, db: Database) -> None:
    await liaison.people.identify(person(900001))  # staff opened the bot; the deputies have not
    count = await liaison.people.report_not_started()
    assert count >= 3
    notes = [r for r in await outbox(db) if r["chat"] == "900001"]
    assert notes and all(name in notes[0]["text"] for name in ("张代表", "李代表", "王代表"))


async def test_auto_close_after_seven_days(liaison: Liaison, clock: ManualClock) -> None:
    resident, wish = await submit(liaison, 700001, "健身器材坏了")
    deputy = await liaison.people.identify(person(800001))
    await liaison.wishes.act(deputy, wish.id, Action.RESOLVE, body="已报修")
    clock.advance(days=6)
    assert await liaison.wishes.close_stale() == 0
    clock.advance(days=2)
    assert await liaison.wishes.close_stale() == 1
    detail = await liaison.queries.wish_detail(resident, wish.id)
    assert detail.wish.status is Status.CLOSED and detail.events[-1].action is Action.CLOSE


async def test_sync_never_deletes_wishes(liaison: Liaison, config) -> None:
    _, wish = await submit(liaison, 700001, "修路的事情")
    smaller = config.model_copy(update={"stations": config.stations[1:]})
    await liaison.directory.sync_config(smaller)
    staff = await liaison.people.identify(person(990001))
    assert (await liaison.queries.wish_detail(staff, wish.id)).wish.receipt == wish.receipt


async def test_one_tap_resolution_still_shows_the_acceptance_on_the_timeline(
    liaison: Liaison, db: Database
) -> None:
    resident, wish = await submit(liaison, 700001, "路口的交通标志被撞歪了")
    deputy = await liaison.people.identify(person(800001))
    await clear_outbox(db)
    done = await liaison.wishes.act(deputy, wish.id, Action.RESOLVE, body="已扶正")
    assert done.status is Status.RESOLVED and done.accepted_at == done.resolved_at
    detail = await liaison.queries.wish_detail(resident, wish.id)
    steps = [(e.action, e.to_status) for e in detail.events]
    assert steps[-2:] == [
        (Action.ACCEPT, Status.IN_PROGRESS),
        (Action.RESOLVE, Status.RESOLVED),
    ]
    to_resident = [r for r in await outbox(db) if r["chat"] == "700001"]
    assert len(to_resident) == 1 and "已扶正" in to_resident[0]["text"]  # the result only


async def test_a_refused_resolution_takes_the_implicit_acceptance_back(
    liaison: Liaison,
) -> None:
    resident, wish = await submit(liaison, 700001, "路口的交通标志被撞歪了")
    deputy = await liaison.people.identify(person(800001))
    with pytest.raises(InvalidInput):  # a resolution needs its result text
        await liaison.wishes.act(deputy, wish.id, Action.RESOLVE, body="   ")
    detail = await liaison.queries.wish_detail(resident, wish.id)
    assert detail.wish.status is Status.ASSIGNED
    assert Action.ACCEPT not in [e.action for e in detail.events]


async def test_the_start_up_notice_shows_no_raw_account_id(liaison: Liaison, db: Database) -> None:
    """QA item 21's start-up twin: a staff member known only by account (900002, no name in the
    stations file) is shown by role and the account's last digits, never the whole id."""
    await liaison.people.identify(person(900001))
    await liaison.people.report_not_started()
    texts = [r["text"] for r in await outbox(db)]
    assert texts and not any("900002" in t for t in texts)
    assert any("账号尾号 02" in t for t in texts)
