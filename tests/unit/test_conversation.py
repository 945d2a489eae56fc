"""The conversation with no Telegram: the in-memory channel, the real use cases, a real SQLite
file. The same flows the Telegram integration tests walk through the fake Bot API."""

from __future__ import annotations

import pytest

from bot import actions
from bot.actions import Action
from bot.channels.memory import MemoryChannel, MemoryConversation
from bot.clock import ManualClock
from bot.conversation import Conversation, Kind, Reply
from bot.domain.model import Status
from bot.faq_service import FaqService
from bot.i18n import Catalog
from bot.services import Liaison
from bot.stations_file import StationsConfig
from storage.db import Database
from tests.conftest import ADMIN_ID, TZ

RESIDENT = "700001"
DEPUTY = "800001"  # 张代表 at 惠民, traffic


@pytest.fixture
async def talk(db: Database, clock: ManualClock, config: StationsConfig) -> MemoryConversation:
    catalog = Catalog("zh_CN")
    liaison = Liaison(db, catalog, clock, TZ, admins=[("memory", str(ADMIN_ID))])
    await liaison.directory.sync_config(config, channel="memory")  # the station's people use this channel
    faq = FaqService(db, clock)
    await faq.reload()
    return MemoryConversation(Conversation(liaison, catalog, faq), MemoryChannel())


def button(reply: Reply, label: str) -> str:
    for message in reply.messages:
        for row in message.buttons:
            for b in row:
                if b.text == label:
                    return b.action
    raise AssertionError(f"no button {label!r} in {[m.buttons for m in reply.messages]}")


def plain(talk: MemoryConversation, key: str) -> str:
    return talk.conversation.catalog.plain(key)


async def leave_wish(talk: MemoryConversation, text: str) -> Reply:
    await talk.say(RESIDENT, "/start huimin")
    reply = await talk.press(RESIDENT, actions.MENU_NEW)
    reply = await talk.press(RESIDENT, button(reply, "道路交通"))
    reply = await talk.say(RESIDENT, text)
    reply = await talk.press(RESIDENT, button(reply, plain(talk, "btn.next")))
    reply = await talk.press(RESIDENT, button(reply, plain(talk, "btn.public_yes")))
    reply = await talk.press(RESIDENT, button(reply, plain(talk, "btn.skip")))
    assert text in reply.messages[-1].text  # the confirmation shows what will be sent
    return await talk.press(RESIDENT, button(reply, plain(talk, "btn.submit")))


async def test_start_greets_with_the_station_and_the_menu(talk: MemoryConversation) -> None:
    reply = await talk.say(RESIDENT, "/start huimin")
    assert "惠民社区代表联络站" in reply.messages[-1].text
    assert button(reply, plain(talk, "btn.new")) == actions.MENU_NEW
    assert talk.channel.seen_by(RESIDENT)[-1] == reply.messages[-1]


async def test_a_resident_leaves_a_wish_and_gets_a_receipt(talk: MemoryConversation) -> None:
    receipt = await leave_wish(talk, "路口的红绿灯坏了三天了")
    assert receipt.toast == plain(talk, "new.submitted_toast")
    assert receipt.rebutton == ()  # the confirm buttons are taken away
    wish_id = receipt.messages[-1].wish_id
    assert wish_id is not None
    liaison = talk.conversation.liaison
    resident = await talk.conversation.person(_event(RESIDENT))
    page = await liaison.queries.my_wishes(resident, 0)
    assert [w.id for w, _ in page.items] == [wish_id]
    assert page.items[0][0].receipt in receipt.messages[-1].text


async def test_a_faq_question_is_answered_with_a_way_to_leave_a_wish(
    talk: MemoryConversation,
) -> None:
    await talk.say(RESIDENT, "/start huimin")
    entry = talk.conversation.faq.topics("huimin")[0]
    reply = await talk.say(RESIDENT, entry.question)
    assert button(reply, plain(talk, "btn.leave_wish")) == actions.LEAVE_WISH
    # 留言给代表 starts a wish from the question just asked
    reply = await talk.press(RESIDENT, actions.LEAVE_WISH)
    assert entry.question in "".join(m.text for m in reply.messages)


async def test_a_deputy_accepts_and_resolves_and_the_resident_rates(
    talk: MemoryConversation,
) -> None:
    receipt = await leave_wish(talk, "人行道上的地砖松动了")
    wish_id = receipt.messages[-1].wish_id
    assert wish_id is not None
    accepted = await talk.press(DEPUTY, actions.button(actions.ACCEPT, wish_id))
    assert accepted.toast == plain(talk, "work.accepted_toast") and not accepted.alert
    asked = await talk.press(DEPUTY, actions.button(actions.RESOLVE, wish_id))
    assert asked.messages and not asked.alert
    done = await talk.say(DEPUTY, "已经安排施工队修好了")
    assert "已" in done.messages[-1].text
    liaison = talk.conversation.liaison
    resident = await talk.conversation.person(_event(RESIDENT))
    detail = await liaison.queries.wish_detail(resident, wish_id)
    assert detail.wish.status is Status.RESOLVED
    rated = await talk.press(RESIDENT, actions.button(actions.RATE, wish_id, "s"))
    assert rated.toast == plain(talk, "rate.toast")


async def test_refusals_change_nothing_and_say_why(talk: MemoryConversation) -> None:
    receipt = await leave_wish(talk, "小区门口的路灯不亮")
    wish_id = receipt.messages[-1].wish_id
    assert wish_id is not None
    # a resident cannot accept their own wish
    refused = await talk.press(RESIDENT, actions.button(actions.ACCEPT, wish_id))
    assert refused.alert and refused.toast and refused.rebutton is None
    resident = await talk.conversation.person(_event(RESIDENT))
    before = (await talk.conversation.liaison.queries.wish_detail(resident, wish_id)).wish.status
    refused = await talk.press(RESIDENT, actions.button(actions.ACCEPT, wish_id))
    after = (await talk.conversation.liaison.queries.wish_detail(resident, wish_id)).wish.status
    assert refused.alert and after is before
    # forged or stale data never reaches a use case
    forged = await talk.press(RESIDENT, "a:acc:99999999999")
    assert forged.alert and forged.toast == plain(talk, "error.stale")


def _event(account: str):  # type: ignore[no-untyped-def]
    from bot.conversation import Inbound

    return Inbound(channel="memory", account=account, chat=account, kind=Kind.TEXT, key="-")


def test_an_encoded_action_round_trips_through_the_harness() -> None:
    assert actions.decode(actions.MENU_NEW) == Action(actions.MENU, arg="new")
