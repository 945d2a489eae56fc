"""QA fixes of the core seen through Telegram (the real PTB Application against the fake Bot
API): the withdraw confirmation's 取消 (item 24) and the 回音壁 post of a reopened wish (item 20)."""

from __future__ import annotations

from bot.domain.model import Status
from tests.integration.conftest import RESIDENT, ZHANG, Harness, assert_no_invalid_calls
from tests.integration.test_handling_flows import status_of
from tests.integration.test_wish_loop import leave_wish, open_bot


async def test_the_withdraw_confirmation_can_be_cancelled(harness: Harness) -> None:
    h, fake = harness, harness.fake
    await open_bot(h, ZHANG)
    receipt = await leave_wish(h, RESIDENT, "huimin", "道路交通", "小区后门的减速带坏了")
    await h.card_for(ZHANG, receipt)
    view = await h.say(RESIDENT, receipt)
    confirm = await h.press(RESIDENT, view, "撤回")
    assert confirm.button("确认撤回") and confirm.button("取消")
    kept = await h.press(RESIDENT, confirm, "取消")
    assert receipt in kept.text and "没有撤回" in kept.text
    assert await status_of(h, receipt) is Status.ASSIGNED
    assert_no_invalid_calls(fake)
