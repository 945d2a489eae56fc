"""purge --receipt goes by the wish's resident, not by an account first known as theirs: a
WeChat openid a resident wrote from and later bound to a deputy moves to the deputy
(bot/logins.py), and the deputy must not be the person erased (review of branch core2)."""

from __future__ import annotations

from bot.logins import create_link_code, redeem_link_code
from bot.retention import purge_preview, resident_of_receipt
from bot.services import Identity
from storage.privacy import PurgeRepo
from storage.repositories import Repos

OPENID = "oWx_resident_then_deputy"


async def test_purge_by_receipt_targets_the_resident_after_their_account_moved(
    liaison, db, clock  # type: ignore[no-untyped-def]
) -> None:
    user = await liaison.people.identify(
        Identity(channel="wechat", external_id=OPENID, chat_id=OPENID, display_name=None)
    )
    await liaison.directory.choose_station(user, "huimin")
    await liaison.flows.start_draft(user)
    await liaison.flows.update_draft(
        user,
        lambda d: d.with_category("traffic").with_text("楼道灯坏了").described()
        .with_public(False).with_phone("13812345678"),
    )
    wish, _ = await liaison.wishes.submit_draft(user, None)
    async with db.read() as conn:
        deputy = await Repos(conn).user_by_external("telegram", "800001")
    assert deputy is not None
    code = await create_link_code(db, clock, deputy.id)
    await redeem_link_code(db, clock, "wechat", OPENID, OPENID, code)

    user_id, channel, external_id = await resident_of_receipt(db, wish.receipt)
    assert (user_id, channel, external_id) == (user.id, "wechat", OPENID)
    target, counts = await purge_preview(db, channel, external_id, user_id)
    assert target.user_id == user.id and not target.is_worker
    assert counts.wishes == 1
    # by the account alone, the openid is the deputy's now: its current holder, never a row
    # picked at random among the two
    async with db.read() as conn:
        holder = await PurgeRepo(conn).target("wechat", OPENID)
    assert holder is not None and holder.user_id == deputy.id and holder.is_worker
