"""Supervision use cases against a real SQLite file and a clock the test moves by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.clock import ManualClock
from bot.domain.deadlines import FollowUpAnswer, NoteKind
from bot.domain.model import Action, InvalidInput, NotAllowed, Rating, Status
from bot.services import Liaison, NotFound
from bot.supervision import AlreadyAnswered, Supervisor
from storage.db import Database, fetch_all
from storage.repositories import DeputyRow, Repos
from tests.conftest import TZ, person
from tests.unit.test_services import clear_outbox, outbox, submit

RESIDENT, ZHANG, LI, STAFF_HM, STAFF_XY, ADMIN = 700001, 800001, 800002, 900001, 900002, 990001


@pytest.fixture
def sup(liaison: Liaison) -> Supervisor:
    return Supervisor(liaison.core.db, liaison.core.c, liaison, digest_hour=9)


async def pending(db: Database, chat: int | None = None, digests: bool = False) -> list[dict]:
    """Queued messages (to `chat`); daily digests only when asked for."""
    rows = [r for r in await outbox(db) if r["status"] == "pending"]
    if not digests:
        rows = [r for r in rows if "每日督办简报" not in r["text"]]
    return [r for r in rows if chat is None or r["chat"] == str(chat)]


async def due_of(db: Database, wish_id: int) -> tuple[datetime, datetime]:
    async with db.read() as conn:
        rows = await fetch_all(
            conn, "SELECT accept_due_at, resolve_due_at FROM wishes WHERE id=?", (wish_id,)
        )
    return datetime.fromisoformat(rows[0][0]), datetime.fromisoformat(rows[0][1])


async def test_due_dates_are_set_by_submit_transfer_and_reopen(
    sup: Supervisor, liaison: Liaison, db: Database, clock: ManualClock
) -> None:
    t0 = clock.now()
    resident, wish = await submit(liaison, RESIDENT, "小区门口路灯坏了三天")
    assert await due_of(db, wish.id) == (t0 + timedelta(days=2), t0 + timedelta(days=15))
    clock.advance(days=1)
    deputy = await liaison.people.identify(person(ZHANG))
    li = next(d for d in await _deputies(liaison, "huimin") if d.name == "李代表")
    await liaison.wishes.act(deputy, wish.id, Action.TRANSFER, deputy_id=li.id)
    assert await due_of(db, wish.id) == (t0 + timedelta(days=3), t0 + timedelta(days=15))
    li_user = await liaison.people.identify(person(LI))
    await liaison.wishes.act(li_user, wish.id, Action.RESOLVE, body="已修好")
    clock.advance(days=2)
    await liaison.wishes.act(resident, wish.id, Action.RATE, rating=Rating.UNSATISFIED)
    t1 = clock.now()
    assert await due_of(db, wish.id) == (t1 + timedelta(days=2), t1 + timedelta(days=15))


async def _deputies(liaison: Liaison, station: str) -> list[DeputyRow]:
    async with liaison.core.db.read() as conn:
        return await Repos(conn).deputies(station)


async def test_reminders_before_and_after_the_acceptance_deadline(
    sup: Supervisor, liaison: Liaison, db: Database, clock: ManualClock
) -> None:
    await liaison.people.identify(person(STAFF_HM))
    _, wish = await submit(liaison, RESIDENT, "路面有个大坑很危险")
    await clear_outbox(db)
    clock.advance(hours=23)
    await sup.tick()
    assert await pending(db) == []  # more than a day left
    clock.advance(hours=1, minutes=1)
    await sup.tick()
    (soon,) = await pending(db)
    assert soon["chat"] == str(ZHANG) and "请在" in soon["text"] and "受理" in soon["text"]
    assert soon["wish_id"] == wish.id and soon["buttons"][0][0][1] == f"a:acc:{wish.id}"
    await sup.tick()
    assert len(await pending(db)) == 1  # nothing twice
    await clear_outbox(db)

    clock.advance(days=1)
    await sup.tick()
    rows = await pending(db)
    assert {r["chat"] for r in rows} == {str(ZHANG), str(STAFF_HM)}
    escalation = next(r for r in rows if r["chat"] == str(STAFF_HM))
    assert "督办" in escalation["text"] and "张代表" in escalation["text"]
    actions = [b[1] for row in escalation["buttons"] for b in row]
    assert actions == [f"a:trf:{wish.id}", f"sv:p:{wish.id}", f"a:w:{wish.id}"]
    await sup.tick()
    assert len(await pending(db)) == 2
    staff = await liaison.people.identify(person(STAFF_HM))
    notes = (await liaison.queries.wish_detail(staff, wish.id)).notes
    assert [n.kind for n in notes] == [NoteKind.ESCALATED]


async def test_resolve_deadline_reminders_after_acceptance(
    sup: Supervisor, liaison: Liaison, db: Database, clock: ManualClock
) -> None:
    _, wish = await submit(liaison, RESIDENT, "绿化带里的垃圾很多", category="environment")
    deputy = await liaison.people.identify(person(800003))  # 王代表 takes environment
    await liaison.wishes.act(deputy, wish.id, Action.ACCEPT)
    await clear_outbox(db)
    clock.advance(days=5)
    await sup.tick()
    assert await pending(db) == []  # accepted: no acceptance reminders
    clock.advance(days=9, hours=1)
    await sup.tick()
    (soon,) = await pending(db)
    assert soon["chat"] == "800003" and "办结" in soon["text"]
    clock.advance(days=1)
    await sup.tick()
    await sup.tick()
    kinds = sorted(r["chat"] for r in await pending(db))
    assert kinds == ["800003", "800003", str(STAFF_HM)]
    await liaison.wishes.act(deputy, wish.id, Action.RESOLVE, body="已清理")
    await clear_outbox(db)
    clock.advance(days=1)
    await sup.tick()
    assert [r for r in await pending(db) if r["chat"] != str(RESIDENT)] == []


async def test_unassigned_overdue_goes_to_staff_with_assign_button(
    sup: Supervisor, liaison: Liaison, db: Database, clock: ManualClock
) -> None:
    _, wish = await submit(liaison, 700002, "公交站牌被撞坏了", station="xingyuan")
    assert wish.status is Status.SUBMITTED
    await clear_outbox(db)
    clock.advance(days=2)
    await sup.tick()
    (esc,) = await pending(db)
    assert esc["chat"] == str(STAFF_XY) and "未分派" in esc["text"]
    assert [b[1] for row in esc["buttons"] for b in row] == [f"a:asg:{wish.id}", f"a:w:{wish.id}"]


async def test_push_is_for_staff_only_and_goes_on_the_timeline(
    sup: Supervisor, liaison: Liaison, db: Database, clock: ManualClock
) -> None:
    resident, wish = await submit(liaison, RESIDENT, "楼道灯不亮了好几天")
    await clear_outbox(db)
    staff = await liaison.people.identify(person(STAFF_HM))
    _, deputy_name = await sup.push(staff, wish.id)
    assert deputy_name == "张代表"
    (push,) = await pending(db)
    assert push["chat"] == str(ZHANG) and "催办" in push["text"] and push["wish_id"] == wish.id
    with pytest.raises(InvalidInput):  # once an hour is enough
        await sup.push(staff, wish.id)
    clock.advance(hours=1)
    await sup.push(await liaison.people.identify(person(ADMIN)), wish.id)  # county admins too
    assert len(await pending(db)) == 2
    for outsider in (STAFF_XY, 800011, 700009):
        with pytest.raises(NotFound):
            await sup.push(await liaison.people.identify(person(outsider)), wish.id)
    for not_staff in (ZHANG, RESIDENT):
        with pytest.raises(NotAllowed):
            await sup.push(await liaison.people.identify(person(not_staff)), wish.id)
    with pytest.raises(NotFound):
        await sup.push(staff, 99999)
    assert len(await pending(db)) == 2
    detail = await liaison.queries.wish_detail(staff, wish.id)
    assert [n.kind for n in detail.notes] == [NoteKind.PUSHED, NoteKind.PUSHED]
    text = liaison.core.cards.timeline(detail.wish, detail.events, {}, True, notes=detail.notes)
    assert text.count("催办代表") == 2
    await liaison.wishes.act(resident, wish.id, Action.WITHDRAW)
    clock.advance(hours=2)
    with pytest.raises(Exception, match="stale"):
        await sup.push(staff, wish.id)


async def test_overdue_lists_per_station(
    sup: Supervisor, liaison: Liaison, clock: ManualClock
) -> None:
    _, hm = await submit(liaison, RESIDENT, "路面有个大坑很危险")
    _, xy = await submit(liaison, 700002, "电梯经常坏", category="housing", station="xingyuan")
    staff = await liaison.people.identify(person(STAFF_HM))
    assert await sup.overdue(staff) == []
    clock.advance(days=3)
    assert [i.wish.id for i in await sup.overdue(staff)] == [hm.id]
    items = await sup.overdue(await liaison.people.identify(person(ADMIN)))
    assert {i.wish.id for i in items} == {hm.id, xy.id}
    assert items[0].which == "accept"
    line = sup.overdue_line(items[0], clock.now())
    assert "已超 1 天" in line
    with pytest.raises(NotAllowed):
        await sup.overdue(await liaison.people.identify(person(ZHANG)))


async def test_queue_labels_show_the_next_deadline(
    sup: Supervisor, liaison: Liaison, clock: ManualClock
) -> None:
    _, wish = await submit(liaison, RESIDENT, "路面有个大坑很危险")
    dues = await sup.due_dates([wish.id])
    assert sup.due_label(wish, dues[wish.id], clock.now()) == " · 受理时限 2026-03-03 10:00"
    clock.advance(days=3)
    assert "已超受理时限" in sup.due_label(wish, dues[wish.id], clock.now())


async def test_rating_reminder_once_and_never_after_stop(
    sup: Supervisor, liaison: Liaison, db: Database, clock: ManualClock
) -> None:
    _, wish = await submit(liaison, RESIDENT, "健身器材坏了")
    _, other = await submit(liaison, 700002, "长椅坏了")
    deputy = await liaison.people.identify(person(STAFF_HM))
    for w in (wish, other):
        await liaison.wishes.act(deputy, w.id, Action.ACCEPT)
        await liaison.wishes.act(deputy, w.id, Action.RESOLVE, body="已报修")
    stopped = await liaison.people.identify(person(700002))
    await liaison.people.set_stopped(stopped, True)
    await clear_outbox(db)
    clock.advance(days=2, hours=23)
    await sup.tick()
    assert await pending(db, RESIDENT) == []
    clock.advance(hours=1)
    await sup.tick()
    (reminder,) = await pending(db, RESIDENT)
    assert "评价" in reminder["text"] and reminder["buttons"][0][0][1] == f"a:rt:{wish.id}:s"
    clock.advance(days=1)
    await sup.tick()
    assert len(await pending(db, RESIDENT)) == 1
    assert await pending(db, 700002) == []


async def test_follow_up_on_a_closed_wish_reopens_when_not_solved(
    sup: Supervisor, liaison: Liaison, db: Database, clock: ManualClock
) -> None:
    await liaison.people.identify(person(STAFF_HM))
    resident, wish = await submit(liaison, RESIDENT, "下水道堵了")
    deputy = await liaison.people.identify(person(ZHANG))
    await liaison.wishes.act(deputy, wish.id, Action.RESOLVE, body="已疏通")
    clock.advance(days=8)
    assert await liaison.wishes.close_stale() == 1  # unrated: closed by itself
    await clear_outbox(db)
    clock.advance(days=21, hours=23)
    await sup.tick()
    assert await pending(db, RESIDENT) == []
    clock.advance(hours=1)
    await sup.tick()
    (question,) = await pending(db, RESIDENT)
    assert "问题是否真正解决了？" in question["text"]
    assert [b[0] for b in question["buttons"][0]] == ["已解决", "未解决", "不清楚"]
    await sup.tick()
    assert len(await pending(db, RESIDENT)) == 1  # asked once

    # only the resident may answer, and a wish never asked about refuses
    with pytest.raises(NotFound):
        await sup.answer_follow_up(deputy, wish.id, FollowUpAnswer.UNRESOLVED)
    _, fresh = await submit(liaison, RESIDENT, "另一件事")
    with pytest.raises(InvalidInput):
        await sup.answer_follow_up(resident, fresh.id, FollowUpAnswer.RESOLVED)

    await clear_outbox(db)
    reopened = await sup.answer_follow_up(resident, wish.id, FollowUpAnswer.UNRESOLVED, "tg:9")
    assert reopened.status is Status.REOPENED and reopened.reopen_count == 1
    chats = {r["chat"] for r in await pending(db)}
    assert {str(ZHANG), str(STAFF_HM)} <= chats
    with pytest.raises(AlreadyAnswered):
        await sup.answer_follow_up(resident, wish.id, FollowUpAnswer.RESOLVED)
    # redelivered update: nothing happens twice
    await sup.answer_follow_up(resident, wish.id, FollowUpAnswer.UNRESOLVED, "tg:9")
    detail = await liaison.queries.wish_detail(resident, wish.id)
    assert detail.events[-1].action is Action.REOPEN and "回访" in detail.events[-1].body
    assert [n.kind for n in detail.notes] == [
        NoteKind.FOLLOW_UP_ASKED,
        NoteKind.FOLLOW_UP_ANSWERED,
    ]
    assert detail.notes[-1].body == "未解决"
    # new due dates for the new round
    accept_due, _ = await due_of(db, wish.id)
    assert accept_due == clock.now() + timedelta(days=2)


async def test_follow_up_answers_that_do_not_reopen(
    sup: Supervisor, liaison: Liaison, db: Database, clock: ManualClock
) -> None:
    resident, wish = await submit(liaison, RESIDENT, "路灯不亮")
    deputy = await liaison.people.identify(person(ZHANG))
    await liaison.wishes.act(deputy, wish.id, Action.RESOLVE, body="已修")
    await liaison.wishes.act(resident, wish.id, Action.RATE, rating=Rating.SATISFIED)
    clock.advance(days=30)
    await sup.tick()
    done = await sup.answer_follow_up(resident, wish.id, FollowUpAnswer.UNSURE)
    assert done.status is Status.CLOSED


async def test_follow_up_disabled_and_stopped(
    liaison: Liaison, db: Database, clock: ManualClock
) -> None:
    sup = Supervisor(liaison.core.db, liaison.core.c, liaison, rating_reminder_days=0, followup_days=0)
    _, wish = await submit(liaison, RESIDENT, "路灯不亮")
    deputy = await liaison.people.identify(person(ZHANG))
    await liaison.wishes.act(deputy, wish.id, Action.RESOLVE, body="已修")
    await clear_outbox(db)
    clock.advance(days=40)
    await sup.tick()
    assert await pending(db, RESIDENT) == []


async def test_daily_digest_at_the_hour_once_a_day(liaison: Liaison, db: Database) -> None:
    clock = ManualClock(datetime(2026, 3, 2, 0, 30, tzinfo=UTC))  # 08:30 in Shanghai
    liaison.core.clock = clock
    sup = Supervisor(liaison.core.db, liaison.core.c, liaison, digest_hour=9)
    await liaison.people.identify(person(STAFF_HM))
    await liaison.people.identify(person(ADMIN))
    await sup.tick()  # first seen: their digests count from now
    clock.advance(minutes=1)
    _, wish = await submit(liaison, RESIDENT, "路面有个大坑很危险")
    _, xy = await submit(liaison, 700002, "电梯经常坏", category="housing", station="xingyuan")
    await clear_outbox(db)
    await sup.tick()
    assert await pending(db, digests=True) == []  # before 09:00
    clock.advance(minutes=29)
    await sup.tick()
    rows = await pending(db, digests=True)
    assert sorted(r["chat"] for r in rows) == [str(STAFF_HM), str(ADMIN)]
    hm = next(r for r in rows if r["chat"] == str(STAFF_HM))
    assert "每日督办简报" in hm["text"] and wish.receipt in hm["text"]
    assert xy.receipt not in hm["text"]  # another station's
    admin = next(r for r in rows if r["chat"] == str(ADMIN))
    assert wish.receipt in admin["text"] and xy.receipt in admin["text"]
    clock.advance(hours=5)
    await sup.tick()
    assert len(await pending(db, digests=True)) == 2  # once a day
    # the next day: overdue and resolved since the last digest; nothing new
    deputy = await liaison.people.identify(person(800011))
    await liaison.wishes.act(deputy, xy.id, Action.RESOLVE, body="已修好")
    await clear_outbox(db)
    clock.advance(days=2)
    await sup.tick()
    digests = [r for r in await pending(db, digests=True) if "每日督办简报" in r["text"]]
    admin = next(r for r in digests if r["chat"] == str(ADMIN))
    assert "新收心愿：0 条" in admin["text"] and "新办结：1 条" in admin["text"]
    assert "超期未办：1 条" in admin["text"]


async def test_no_digest_of_the_past_and_none_on_a_quiet_day(
    sup: Supervisor, liaison: Liaison, db: Database, clock: ManualClock
) -> None:
    async def digests() -> list[dict]:
        rows = await pending(db, STAFF_HM, digests=True)
        return [r for r in rows if "每日督办简报" in r["text"]]

    await submit(liaison, RESIDENT, "路面有个大坑很危险")
    await liaison.people.identify(person(STAFF_HM))
    await sup.tick()  # 10:00 in Shanghai: first seen, so today's digest is skipped
    assert await digests() == []
    clock.advance(days=1)
    await sup.tick()  # nothing new, resolved or overdue since
    assert await digests() == []
    clock.advance(days=1)  # now it is overdue
    await sup.tick()
    (digest,) = await digests()
    assert "超期未办：1 条" in digest["text"] and "新收心愿：0 条" in digest["text"]


def test_clock_fixture_is_in_the_expected_zone(clock: ManualClock) -> None:
    assert clock.now().astimezone(TZ).hour == 10


def test_supervision_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.settings import SettingsError, load_settings

    settings = load_settings(_env_file=None)
    assert (settings.digest_hour, settings.rating_reminder_days, settings.followup_days) == (
        9,
        3,
        30,
    )
    monkeypatch.setenv("LIAISON_FOLLOWUP_DAYS", "0")
    assert load_settings(_env_file=None).followup_days == 0
    monkeypatch.setenv("LIAISON_DIGEST_HOUR", "24")
    with pytest.raises(SettingsError, match="LIAISON_DIGEST_HOUR"):
        load_settings(_env_file=None)
