"""How a notice reached a resident, on the wish's timeline (bot/deliveries.py): the channel says
which entry its path leaves (wechat/channel.py TIMELINE_NOTES); the core checks only that it is
a delivery's entry and that the recipient is the wish's resident, on any channel (wxfix)."""

from __future__ import annotations

from bot.domain.deadlines import DELIVERY_NOTES, NoteKind
from bot.services import Liaison
from storage.db import Database
from storage.reports import ReportsRepo
from tests.conftest import person
from tests.unit.test_services import submit
from wechat.channel import TIMELINE_NOTES, Path


async def notes(db: Database, wish_id: int) -> list[str]:
    async with db.read() as conn:
        events = await ReportsRepo(conn).events_of([wish_id])
    return [e.action for e in events if e.action.startswith("note:")]


async def test_a_delivery_is_noted_for_the_wishs_resident_only(
    liaison: Liaison, db: Database
) -> None:
    _, wish = await submit(liaison, 700001, "小区门口路灯坏了三天")
    await liaison.people.identify(person(800001))
    delivered = liaison.deliveries.delivered
    assert await delivered(wish.id, "telegram", "700001", NoteKind.WECHAT_TEMPLATE)
    assert not await delivered(wish.id, "telegram", "800001", NoteKind.WECHAT_CUSTOM)  # deputy
    assert not await delivered(wish.id, "telegram", "700001", NoteKind.ESCALATED)  # no delivery's
    assert not await delivered(wish.id + 99, "telegram", "700001", NoteKind.WECHAT_SHOWN)
    assert await notes(db, wish.id) == ["note:wechat_template"]


def test_every_wechat_path_leaves_a_delivery_entry() -> None:
    assert set(TIMELINE_NOTES) == {*Path, "shown"}
    assert set(TIMELINE_NOTES.values()) == DELIVERY_NOTES
