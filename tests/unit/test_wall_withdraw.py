"""A reopened wish's 回音壁 post (QA item 20) in the core: the real use cases on a real SQLite
file (the Telegram deletion is tests/integration/test_core2_fixes.py)."""

from __future__ import annotations

from bot.domain.model import Action, Rating
from bot.services import Liaison
from storage.db import Database, fetch_all
from tests.conftest import person
from tests.unit.test_services import submit


async def test_a_wall_post_still_queued_is_never_sent_once_its_wish_is_reopened(
    liaison: Liaison, db: Database
) -> None:
    """QA item 20, the post not yet delivered: reopening cancels it (nothing to delete later);
    resolved again, a new post is queued."""
    resident, wish = await submit(liaison, 700001, "楼道灯不亮了好几天")
    deputy = await liaison.people.identify(person(800001))
    await liaison.wishes.act(deputy, wish.id, Action.RESOLVE, body="已修")

    async def wall_rows() -> list[tuple[str, str]]:
        async with db.read() as conn:
            rows = await fetch_all(
                conn, "SELECT kind, status FROM outbox WHERE chat_id LIKE '-100%' ORDER BY id"
            )
        return [(r[0], r[1]) for r in rows]

    assert await wall_rows() == [("wall", "pending")]
    await liaison.wishes.act(resident, wish.id, Action.RATE, rating=Rating.UNSATISFIED)
    assert await wall_rows() == [("wall", "cancelled")]
    await liaison.wishes.act(deputy, wish.id, Action.RESOLVE, body="又修了一次")
    assert await wall_rows() == [("wall", "cancelled"), ("wall", "pending")]
