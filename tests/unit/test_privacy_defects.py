"""Issue 8, privacy: use cases against a real SQLite file and a clock the test moves by hand.

Each test here failed on the code before the fix it covers."""

from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook

from bot.clock import ManualClock
from bot.domain.deadlines import NoteKind
from bot.domain.model import Action, InvalidInput, Rating, Status
from bot.i18n import Catalog
from bot.reporting import Reporting
from bot.services import Liaison
from bot.stations_file import StationsConfig, parse_stations_yaml
from bot.supervision import Supervisor
from storage.db import Database
from tests.conftest import STATIONS_YAML, TZ, person
from tests.unit.test_reports import START, WANG, build_scenario
from tests.unit.test_services import clear_outbox, outbox, submit

RESIDENT, ZHANG, LI, STAFF_HM, STAFF_XY, ADMIN = 700001, 800001, 800002, 900001, 900002, 990001
ZHANG_LINE = "      - {telegram_id: 800001, name: 张代表, categories: [traffic]}\n"
PHONE = "13812345678"  # what submit() leaves as the resident's phone


def without_zhang() -> str:
    assert ZHANG_LINE in STATIONS_YAML
    return STATIONS_YAML.replace(ZHANG_LINE, "")


def without_xingyuan() -> str:
    head, _, _ = STATIONS_YAML.partition("  - id: xingyuan")
    return head


async def pending_to(db: Database, chat: int) -> list[dict]:
    return [r for r in await outbox(db) if r["status"] == "pending" and r["chat"] == str(chat)]


@pytest.fixture
def sup(liaison: Liaison) -> Supervisor:
    return Supervisor(liaison.core.db, liaison.core.c, liaison, digest_hour=9)


async def test_a_removed_deputy_gets_nothing_and_staff_take_the_wish_back(
    sup: Supervisor, liaison: Liaison, db: Database, clock: ManualClock
) -> None:
    staff = await liaison.people.identify(person(STAFF_HM))
    resident, wish = await submit(liaison, RESIDENT, "小区门口路灯坏了三天")
    zhang = await liaison.people.identify(person(ZHANG))
    await liaison.wishes.act(zhang, wish.id, Action.ACCEPT)
    _, resolved = await submit(liaison, RESIDENT, "路口红绿灯不亮")
    if resolved.deputy_id != wish.deputy_id:  # routing shares traffic with 王代表
        await liaison.wishes.act(staff, resolved.id, Action.TRANSFER, deputy_id=wish.deputy_id)
    await liaison.wishes.act(zhang, resolved.id, Action.RESOLVE, body="已修好")
    await clear_outbox(db)

    await liaison.directory.sync_config(parse_stations_yaml(without_zhang()))
    # the open wish went back to the staff, once, with 改派; its timeline says why
    told = await pending_to(db, STAFF_HM)
    assert len(told) == 1 and wish.receipt in told[0]["text"] and "张代表" in told[0]["text"]
    assert "改派" in str(told[0]["buttons"])
    detail = await liaison.queries.wish_detail(staff, wish.id)
    assert [n.kind for n in detail.notes] == [NoteKind.DEPUTY_LEFT]
    assert detail.wish.status is Status.IN_PROGRESS  # the lifecycle has no "unassign"
    await liaison.directory.sync_config(parse_stations_yaml(without_zhang()))  # the next start
    assert len(await pending_to(db, STAFF_HM)) == 1

    # the resident adds to it: the staff get the supplement, the former deputy nothing
    await liaison.wishes.act(resident, wish.id, Action.SUPPLEMENT, body="晚上九点后完全不亮")
    # 不满意 reopens the other wish: its card, phone included, goes to the staff only
    await liaison.wishes.act(resident, resolved.id, Action.RATE, rating=Rating.UNSATISFIED)
    # deadlines pass: no reminder to the former deputy, and no 催办 either
    clock.advance(days=20)
    await sup.tick()
    assert await pending_to(db, ZHANG) == []
    heard = " ".join(r["text"] for r in await pending_to(db, STAFF_HM))
    assert "晚上九点后完全不亮" in heard and PHONE in heard and resolved.receipt in heard
    with pytest.raises(InvalidInput, match="privacy_deputy_left"):
        await sup.push(staff, wish.id)
    # nor can they act on it any more; staff reassign it with the usual transfer
    with pytest.raises(Exception):  # noqa: B017 - NotFound: they are a stranger to it now
        await liaison.wishes.act(zhang, wish.id, Action.REPLY, body="我还在跟进")
    _, options = await liaison.queries.assign_options(staff, wish.id)
    assert "张代表" not in [d.name for d in options]


async def test_a_deactivated_station_s_staff_hear_nothing(
    liaison: Liaison, db: Database
) -> None:
    await liaison.people.identify(person(STAFF_XY))
    await liaison.people.identify(person(ADMIN))
    resident, wish = await submit(liaison, RESIDENT, "物业电梯坏了", "housing", "xingyuan")
    await clear_outbox(db)
    await liaison.directory.sync_config(parse_stations_yaml(without_xingyuan()))
    await liaison.wishes.act(resident, wish.id, Action.SUPPLEMENT, body="三号楼的电梯")
    await liaison.people.report_not_started()
    assert await pending_to(db, STAFF_XY) == []
    assert await pending_to(db, 800011) == []  # its deputy neither
    # the county admins are responsible for what is left there
    assert any("三号楼的电梯" in r["text"] for r in await pending_to(db, ADMIN))


async def test_a_deputy_exports_only_their_own_wishes(db: Database, config: StationsConfig) -> None:
    """王代表's export used to hold every wish of the station, 李代表's private ones too."""
    clock = ManualClock(START)
    liaison = Liaison(db, Catalog("zh_CN"), clock, TZ, admins=[("telegram", str(ADMIN))])
    await liaison.directory.sync_config(config)
    scenario = await build_scenario(liaison, clock)
    reporting = Reporting(liaison)
    wang = await liaison.people.identify(person(WANG))
    result = await reporting.export(wang, None, reporting.period("2026-03"))
    book = load_workbook(io.BytesIO(await reporting.export_file(result, "xlsx")))
    wishes = list(book["心愿"].iter_rows(values_only=True))
    header = wishes[0]
    rows = [dict(zip(header, r, strict=True)) for r in wishes[1:]]
    assert rows and {r["代表"] for r in rows} == {"王代表"}
    assert result.wishes == len(rows) == 3
    assert scenario.receipts["W3"] not in {r["编号"] for r in rows}  # 李代表's
    timeline = {r[0] for r in list(book["民情日记"].iter_rows(values_only=True))[1:]}
    assert timeline == {r["编号"] for r in rows}
    deputies = [r[0] for r in list(book["代表履职"].iter_rows(values_only=True))[1:]]
    assert deputies == ["王代表"]
    # staff still export the whole station
    staff = await liaison.people.identify(person(STAFF_HM))
    assert (await reporting.export(staff, None, reporting.period("2026-03"))).wishes == 7


async def test_pending_input_and_a_broadcast_being_written_expire(
    liaison: Liaison, clock: ManualClock
) -> None:
    _, wish = await submit(liaison, RESIDENT, "小区门口路灯坏了三天")
    zhang = await liaison.people.identify(person(ZHANG))
    staff = await liaison.people.identify(person(STAFF_HM))
    await liaison.flows.begin_input(zhang, Action.REPLY, wish.id)
    await liaison.flows.set_session_value(staff, "broadcast", {"step": "text", "station_id": "huimin"})
    clock.advance(minutes=29)
    assert await liaison.flows.pending_input(zhang) == (Action.REPLY, wish.id)
    assert await liaison.flows.expire_input(zhang) == [] and await liaison.flows.expire_input(staff) == []
    clock.advance(minutes=2)
    assert await liaison.flows.pending_input(zhang) is None  # never finished with an old one
    assert await liaison.flows.expire_input(zhang) == [("input", wish.receipt)]
    assert await liaison.flows.expire_input(staff) == [("broadcast", "")]
    assert await liaison.flows.session_value(staff, "broadcast") is None
    assert await liaison.flows.expire_input(zhang) == []  # told once
