"""Staff's FAQ maintenance, broadcasts and the FAQ in groups, with no Telegram: the in-memory
channel, the real use cases and a real SQLite file. The same decisions the Telegram
integration tests (test_faq.py, test_faq_learning.py, test_broadcast.py) walk through the fake
Bot API, now taken by the conversation for every channel."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot import actions
from bot.broadcasts import BroadcastService
from bot.channels.memory import MemoryChannel, MemoryConversation
from bot.clock import ManualClock
from bot.conversation import Conversation, Inbound, Kind, Reply
from bot.conversation.router import COMMANDS
from bot.faq_service import FaqService
from bot.i18n import Catalog
from bot.services import Liaison
from bot.stations_file import StationsConfig
from storage.db import Database
from tests.conftest import ADMIN_ID, TZ

RESIDENT = "700001"
NEIGHBOUR = "700002"
STAFF_HM = "900001"  # staff of 惠民
STAFF_XY = "900002"  # staff of 星苑
MISSED = "去站里找代表要带户口本吗"
MATERIALS = "一般不需要特别的材料"
BOT = "liaison_test_bot"


@pytest.fixture
async def talk(db: Database, clock: ManualClock, config: StationsConfig) -> MemoryConversation:
    catalog = Catalog("zh_CN")
    liaison = Liaison(db, catalog, clock, TZ, admins=[("memory", str(ADMIN_ID))])
    await liaison.directory.sync_config(config, channel="memory")
    faq = FaqService(db, clock)
    await faq.reload()
    broadcasts = BroadcastService(db, liaison, catalog, clock)
    conversation = Conversation(liaison, catalog, faq, broadcasts=broadcasts, bot_name=BOT)
    return MemoryConversation(conversation, MemoryChannel())


def button(reply: Reply, label: str) -> str:
    for message in reply.messages:
        for row in message.buttons:
            for b in row:
                if b.text == label:
                    return b.action
    raise AssertionError(f"no button {label!r} in {[m.buttons for m in reply.messages]}")


def text_of(reply: Reply) -> str:
    return "\n".join(m.text for m in reply.messages)


def plain(talk: MemoryConversation, key: str, **values: object) -> str:
    return talk.conversation.catalog.plain(key, **values)


async def count(db: Database, table: str) -> int:
    async with db.read() as conn:
        row = await (await conn.execute(f"SELECT COUNT(*) FROM {table}")).fetchone()
    assert row is not None
    return int(row[0])


# -- FAQ maintenance ------------------------------------------------------------------------------


async def test_staff_teach_a_missed_question_and_it_is_answered_at_once(
    talk: MemoryConversation,
) -> None:
    await talk.say(RESIDENT, "/start huimin")
    missed = await talk.say(RESIDENT, MISSED)
    assert MATERIALS not in text_of(missed)
    gaps = await talk.say(STAFF_HM, "/faq_gaps")
    assert MISSED in text_of(gaps)
    choose = await talk.press(STAFF_HM, button(gaps, plain(talk, "btn.faq_teach", n=1)))
    assert MISSED in text_of(choose)
    assert actions.decode(button(choose, plain(talk, "btn.faq_new_entry"))).verb == (
        actions.FAQ_NEW_ENTRY
    )
    taught = await talk.press(STAFF_HM, button(choose, "需要带什么材料？"))
    assert taught.toast == plain(talk, "faq.taught_toast") and not taught.alert
    again = await talk.say(NEIGHBOUR, MISSED)
    assert MATERIALS in text_of(again)


async def test_staff_add_an_entry_over_several_lines_and_reload(
    talk: MemoryConversation, db: Database
) -> None:
    answer = "每月第一个周六上午\n在惠民社区党群服务中心二楼"
    added = await talk.say(STAFF_HM, f"/faq_add 便民理发什么时候 ｜ {answer}")
    assert "已添加常见问题" in text_of(added)
    await talk.say(RESIDENT, "/start huimin")
    reply = await talk.say(RESIDENT, "便民理发什么时候")
    assert "每月第一个周六上午" in text_of(reply) and "二楼" in text_of(reply)
    usage = await talk.say(STAFF_HM, "/faq_add 没有分隔符")
    assert text_of(usage) == talk.conversation.catalog.t("faq.add_usage")
    reloaded = await talk.say(STAFF_HM, "/faq_reload")
    assert "已重新加载" in text_of(reloaded)
    assert await count(db, "faq_entries") == 1


@pytest.mark.parametrize(
    "command",
    ["/faq_gaps", "/faq_add 新问题 | 新答案", "/faq_reload", "/broadcast"],
)
async def test_a_resident_typing_a_staff_command_is_refused_and_nothing_changes(
    talk: MemoryConversation, db: Database, command: str
) -> None:
    await talk.say(RESIDENT, "/start huimin")
    entries = len(talk.conversation.faq.entries)
    reply = await talk.say(RESIDENT, command)
    assert plain(talk, "error.not_allowed") in text_of(reply)
    assert not any(m.buttons for m in reply.messages)
    assert len(talk.conversation.faq.entries) == entries
    assert await count(db, "faq_entries") == 0
    broadcasts = talk.conversation.broadcasts
    assert broadcasts is not None
    resident = await talk.conversation.person(_event(RESIDENT))
    assert await broadcasts.draft(resident) is None


async def test_a_resident_pressing_a_forged_teach_button_is_refused(
    talk: MemoryConversation, db: Database
) -> None:
    await talk.say(RESIDENT, "/start huimin")
    await talk.say(RESIDENT, MISSED)
    for data in ("fg:1", "fn:1", "ft:1:0123456789"):
        refused = await talk.press(RESIDENT, data)
        assert refused.alert and refused.toast == plain(talk, "error.not_allowed")
    assert await count(db, "faq_alternates") == 0


async def test_unknown_commands_are_answered_as_unknown(talk: MemoryConversation) -> None:
    assert {"faq_gaps", "faq_add", "faq_reload", "broadcast", "stop"} <= COMMANDS
    for typed in ("/nonsense", "/new@some_other_bot"):
        reply = await talk.say(RESIDENT, typed)
        assert text_of(reply) == talk.conversation.catalog.t("error.unknown_command")


# -- broadcasts ----------------------------------------------------------------------------------


async def test_staff_broadcast_to_their_station_with_preview_and_report(
    talk: MemoryConversation, db: Database
) -> None:
    for resident in (RESIDENT, NEIGHBOUR):
        await talk.say(resident, "/start huimin")
    write = await talk.say(STAFF_HM, "/broadcast")  # one station: straight to the text
    assert text_of(write) == talk.conversation.catalog.t("broadcast.write")
    audience = await talk.say(STAFF_HM, "停水通知：明天 8:00-12:00")
    station = button(audience, plain(talk, "btn.audience_station"))
    assert actions.decode(station) == actions.Action(actions.BROADCAST_AUDIENCE, arg="station")
    preview = await talk.press(STAFF_HM, station)
    assert preview.rebutton == ()  # the audience buttons are taken away
    assert "停水通知" in text_of(preview)
    send = button(preview, plain(talk, "btn.send_broadcast", count=2))
    assert await count(db, "broadcasts") == 0  # nothing before the confirmation
    report = await talk.press(STAFF_HM, send)
    assert report.toast == plain(talk, "broadcast.started_toast")
    assert report.broadcast_progress is not None  # a channel with edits keeps it current
    cancel = button(report, plain(talk, "btn.cancel_broadcast"))
    assert await count(db, "broadcasts") == 1
    broadcasts = talk.conversation.broadcasts
    assert broadcasts is not None
    progress = await broadcasts.progress(report.broadcast_progress)
    assert progress.broadcast.total == 2 and progress.pending == 2
    cancelled = await talk.press(STAFF_HM, cancel)
    assert cancelled.replace and not cancelled.messages[0].buttons  # the report, in place
    refused = await talk.press(STAFF_HM, cancel)
    assert refused.alert and refused.toast == plain(talk, "error.broadcast_finished")


async def test_county_admin_chooses_the_scope_and_other_staff_cannot_use_it(
    talk: MemoryConversation, db: Database
) -> None:
    scope = await talk.say(str(ADMIN_ID), "/broadcast")
    assert text_of(scope) == talk.conversation.catalog.t("broadcast.scope")
    county = button(scope, plain(talk, "btn.scope_county"))
    assert actions.decode(county) == actions.Action(actions.BROADCAST_SCOPE, arg="*")
    for data in (county, "bs:huimin", "ba:ok", "ba:station", "bx:1"):
        refused = await talk.press(STAFF_XY, data)
        assert refused.alert and refused.toast, data
    write = await talk.press(str(ADMIN_ID), county)
    assert write.rebutton == () and "群发" in text_of(write)
    assert await count(db, "broadcasts") == 0


async def test_stop_is_answered_on_any_channel(talk: MemoryConversation) -> None:
    await talk.say(RESIDENT, "/start huimin")
    reply = await talk.say(RESIDENT, "/stop")
    assert text_of(reply) == talk.conversation.catalog.t("stop.done")
    resident = await talk.conversation.person(_event(RESIDENT))
    assert resident.stopped


# -- groups --------------------------------------------------------------------------------------


async def in_group(talk: MemoryConversation, kind: Kind, **fields: object) -> Reply:
    event = replace(_event(RESIDENT), chat="-100123", private=False, kind=kind, key="g-" + str(fields))
    event = replace(event, **fields)  # type: ignore[arg-type]
    return await talk.conversation.handle(event)


async def test_in_a_group_only_the_faq_is_answered(talk: MemoryConversation) -> None:
    await talk.say(RESIDENT, "/start huimin")
    fee = await in_group(talk, Kind.COMMAND, command="faq", args="找代表收费吗")
    assert "免费" in text_of(fee) and not any(m.buttons for m in fee.messages)
    topics = await in_group(talk, Kind.TEXT, text="")  # a bare mention: the topics
    assert text_of(topics) == talk.conversation.catalog.t("faq.topics")
    mine = await in_group(talk, Kind.COMMAND, command="my")
    assert text_of(mine) == talk.conversation.catalog.t("group.private_only", bot=BOT)
    unknown = await in_group(talk, Kind.TEXT, text="我家楼上漏水怎么办")
    assert text_of(unknown) == talk.conversation.catalog.t("group.ask_private", bot=BOT)
    forged = await in_group(talk, Kind.ACTION, action=actions.Action(actions.MENU, arg="my"))
    assert forged.alert and forged.toast == plain(talk, "error.private_only")
    assert not forged.messages
    photo = await in_group(talk, Kind.PHOTO, photos=("x",))
    assert photo == Reply()  # not addressed to the bot: nothing said


def _event(account: str) -> Inbound:
    return Inbound(channel="memory", account=account, chat=account, kind=Kind.TEXT, key="-")


# -- following a wish on the wall (我也关注), on any channel --------------------------------------


async def test_following_a_wish_on_the_wall_relabels_its_button(talk: MemoryConversation) -> None:
    from tests.unit.test_conversation import leave_wish

    receipt = await leave_wish(talk, "小区门口的红绿灯太短")
    wish_id = receipt.messages[-1].wish_id
    assert wish_id is not None
    resident = await talk.conversation.person(_event(RESIDENT))
    number = (await talk.conversation.liaison.queries.wish_detail(resident, wish_id)).wish.receipt
    await talk.say(NEIGHBOUR, "/start huimin")
    wall = await talk.say(NEIGHBOUR, "/wall")
    follow = button(wall, plain(talk, "btn.follow", receipt=number))
    assert actions.decode(follow) == actions.Action(actions.FOLLOW, wish_id, "0")
    on = await talk.press(NEIGHBOUR, follow)
    assert on.toast == plain(talk, "follow.on") and not on.alert
    assert on.rebutton is not None
    labels = [b.text for row in on.rebutton for b in row]
    assert plain(talk, "btn.unfollow", receipt=number) in labels
    off = await talk.press(NEIGHBOUR, follow)
    assert off.toast == plain(talk, "follow.off")
    # a button from before buttons carried their page toggles, and leaves its keyboard alone
    old = await talk.press(NEIGHBOUR, f"fl:{wish_id}")
    assert old.toast == plain(talk, "follow.on") and old.rebutton is None
    # the resident is not offered their own wish, and a forged press is refused
    own = await talk.say(RESIDENT, "/wall")
    assert not any(b.action.startswith("fl:") for m in own.messages for row in m.buttons for b in row)
    refused = await talk.press(RESIDENT, follow)
    assert refused.alert and refused.toast
