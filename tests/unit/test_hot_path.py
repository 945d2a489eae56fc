"""What every FAQ question costs, made cheaper without changing what it does: the remembered
question written behind (it joins the next transaction), the FAQ's verdicts kept per matcher,
the home station read in one statement."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import yaml

from bot.clock import ManualClock
from bot.faq_service import FaqService
from bot.services import Liaison
from storage.db import Database, fetch_all
from storage.repositories import Repos, StationRow
from tests.conftest import person

RESIDENT = 710001
HUIMIN = StationRow("huimin", "惠民社区代表联络站", "HM", "惠民社区党群服务中心", "每周三上午", None)


@pytest.fixture
def no_flush_timer(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only other transactions carry remembered questions (the fallback timer never fires)."""
    monkeypatch.setattr("bot.flows.QUESTION_FLUSH_SECONDS", 3600.0)


async def stored_questions(db: Database) -> dict[int, str | None]:
    async with db.read() as conn:
        rows = await fetch_all(conn, "SELECT user_id, data FROM sessions")
    return {int(r[0]): json.loads(r[1]).get("question") for r in rows}


# -- the remembered question, written behind ---------------------------------------------------


async def test_a_remembered_question_is_read_back_at_once_and_stored_by_the_next_transaction(
    db: Database, liaison: Liaison, no_flush_timer: None
) -> None:
    resident = await liaison.people.identify(person(RESIDENT))
    await liaison.flows.set_session_value(resident, "other", {"kept": 1})  # another feature's key
    await liaison.flows.remember_question(resident, "接待日是哪天")
    assert (await stored_questions(db)).get(resident.id) is None  # held in memory
    # ...but every read of the flow state sees it, e.g. 留言给代表 right after the answer
    assert await liaison.flows.recalled_question(resident) == "接待日是哪天"
    assert (await liaison.flows.read(resident)).data["question"] == "接待日是哪天"
    async with db.transaction():  # any transaction (on Telegram: the inbox's done-marks)
        pass
    assert (await stored_questions(db))[resident.id] == "接待日是哪天"
    assert await liaison.flows.session_value(resident, "other") == {"kept": 1}


async def test_a_rolled_back_transaction_gives_the_questions_back(
    db: Database, liaison: Liaison, no_flush_timer: None
) -> None:
    resident = await liaison.people.identify(person(RESIDENT))
    await liaison.flows.remember_question(resident, "停车位怎么申请")
    with pytest.raises(RuntimeError):
        async with db.transaction():
            raise RuntimeError("the use case failed")
    assert (await stored_questions(db)).get(resident.id) is None
    assert await liaison.flows.recalled_question(resident) == "停车位怎么申请"
    await db.flush_deferred()
    assert (await stored_questions(db))[resident.id] == "停车位怎么申请"


async def test_a_newer_question_is_not_overwritten_by_one_given_back(
    db: Database, liaison: Liaison, no_flush_timer: None
) -> None:
    resident = await liaison.people.identify(person(RESIDENT))
    await liaison.flows.remember_question(resident, "旧问题")
    with pytest.raises(RuntimeError):
        async with db.transaction():
            await liaison.flows.remember_question(resident, "新问题")  # asked meanwhile
            raise RuntimeError
    await db.flush_deferred()
    assert (await stored_questions(db))[resident.id] == "新问题"


async def test_a_cleared_session_stays_cleared(
    db: Database, liaison: Liaison, no_flush_timer: None
) -> None:
    """/cancel after a question: the held question is stored first, then cleared with the rest."""
    resident = await liaison.people.identify(person(RESIDENT))
    await liaison.flows.remember_question(resident, "接待日是哪天")
    assert await liaison.flows.cancel_flows(resident) is True
    assert await liaison.flows.recalled_question(resident) is None
    await db.flush_deferred()
    assert resident.id not in await stored_questions(db)


async def test_closing_the_database_stores_held_questions(
    db: Database, liaison: Liaison, no_flush_timer: None
) -> None:
    resident = await liaison.people.identify(person(RESIDENT))
    await liaison.flows.remember_question(resident, "接待日是哪天")
    await db.close()
    again = Database(db.path)
    await again.connect()
    try:
        assert (await stored_questions(again))[resident.id] == "接待日是哪天"
    finally:
        await again.close()


async def test_a_question_nobody_else_carries_is_stored_by_itself(
    db: Database, liaison: Liaison
) -> None:
    """No other transaction comes (a quiet web chat): the fallback stores it soon anyway."""
    resident = await liaison.people.identify(person(RESIDENT))
    await liaison.flows.remember_question(resident, "接待日是哪天")
    for _ in range(500):  # a generous bound, not a timing assertion
        if (await stored_questions(db)).get(resident.id) == "接待日是哪天":
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the remembered question was never stored")


# -- the FAQ's verdicts, kept per matcher ------------------------------------------------------


@pytest.fixture
async def service(db: Database, clock: ManualClock, liaison: Liaison) -> FaqService:
    faq = FaqService(db, clock)
    await faq.reload()
    return faq


async def test_a_kept_verdict_is_the_matchers_own(service: FaqService) -> None:
    data = yaml.safe_load(
        (Path(__file__).parents[1] / "data/faq_labelled.yaml").read_text(encoding="utf-8")
    )
    asked = [q for qs in data["answers"].values() for q in qs][::8] + data["offtopic"][:20]
    first = [await service.ask(q, HUIMIN) for q in asked]
    again = [await service.ask(q, HUIMIN) for q in asked]  # from the cache
    assert again == first
    matcher = service._matcher
    for q, reply in zip(asked, again, strict=True):
        match = matcher.match(q.strip(), "huimin")
        assert reply.kind == (match.kind if match.kind != "answer" else "answer")
        assert reply.entry_id == (match.entry.id if match.kind == "answer" and match.entry else None)


async def test_a_verdict_is_forgotten_when_the_faq_changes(service: FaqService) -> None:
    question = "小区的充电桩什么时候装好"
    before = await service.ask(question, HUIMIN)
    assert before.kind != "answer"
    await service.add("小区的充电桩什么时候装好", "预计下个月底完工。", user_id=None)
    after = await service.ask(question, HUIMIN)
    assert after.kind == "answer" and "下个月底" in after.answer


async def test_kept_verdicts_are_bounded(
    service: FaqService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bot.faq_service.MATCH_CACHE_SIZE", 3)
    for q in ("接待日是哪天", "联络站在哪里", "怎么留言给代表", "处理要多久", "能匿名吗"):
        await service.ask(q, HUIMIN)
    assert len(service._verdicts) == 3
    # the newest are the ones kept, per station
    assert ("huimin", "能匿名吗") in service._verdicts
    assert ("huimin", "接待日是哪天") not in service._verdicts


# -- the home station in one statement ---------------------------------------------------------


async def test_the_home_station_is_the_chosen_one_else_the_only_one(
    db: Database, liaison: Liaison
) -> None:
    resident = await liaison.people.identify(person(RESIDENT))
    # two stations, none chosen: none to assume
    assert await liaison.directory.home_station(resident) is None
    await liaison.directory.choose_station(resident, "xingyuan")
    found = await liaison.directory.home_station(resident)  # the row `resident` predates it
    assert found is not None and found.id == "xingyuan"
    async with db.transaction() as conn:
        await conn.execute("UPDATE stations SET active=0 WHERE id='xingyuan'")
    # the chosen station closed, one left: that one
    found = await liaison.directory.home_station(resident)
    assert found is not None and found.id == "huimin"
    async with db.transaction() as conn:
        await conn.execute("UPDATE stations SET active=1 WHERE id='xingyuan'")
        await Repos(conn).set_user_station(resident.id, "huimin")
    found = await liaison.directory.home_station(resident)
    assert found is not None and found.id == "huimin"
    async with db.transaction() as conn:
        await conn.execute("UPDATE stations SET active=0 WHERE id='huimin'")
    # the chosen station closed, one other left: that one; none left: nothing
    found = await liaison.directory.home_station(resident)
    assert found is not None and found.id == "xingyuan"
    async with db.transaction() as conn:
        await conn.execute("UPDATE stations SET active=0")
    assert await liaison.directory.home_station(resident) is None


# -- a transaction cancelled while it begins -----------------------------------------------------


async def test_a_transaction_cancelled_while_it_begins_leaves_the_connection_usable(
    db: Database, liaison: Liaison, no_flush_timer: None
) -> None:
    """A shutdown cancels the inbox's tasks wherever they are; one awaiting BEGIN had BEGIN run
    all the same (in aiosqlite's thread) and left the shared connection inside a transaction,
    so every later transaction failed, the one storing held-back writes at close included."""
    resident = await liaison.people.identify(person(RESIDENT))

    async def begins() -> None:
        async with db.transaction():
            await asyncio.sleep(3600)  # never reached when cancelled at BEGIN

    task = asyncio.create_task(begins())
    await asyncio.sleep(0)  # the task took the lock and awaits its BEGIN
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await liaison.flows.remember_question(resident, "接待日是哪天")
    await db.flush_deferred()  # a transaction: failed with "within a transaction" before
    assert (await stored_questions(db))[resident.id] == "接待日是哪天"


async def test_a_failed_write_of_held_questions_keeps_them(
    db: Database, liaison: Liaison, no_flush_timer: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    resident = await liaison.people.identify(person(RESIDENT))
    await liaison.flows.remember_question(resident, "接待日是哪天")
    original = Repos.set_sessions

    async def fails_once(self: Repos, rows: object) -> None:
        monkeypatch.setattr(Repos, "set_sessions", original)
        raise RuntimeError("disk full")

    monkeypatch.setattr(Repos, "set_sessions", fails_once)
    with pytest.raises(RuntimeError):
        await db.flush_deferred()
    assert await liaison.flows.recalled_question(resident) == "接待日是哪天"
    await db.flush_deferred()
    assert (await stored_questions(db))[resident.id] == "接待日是哪天"
