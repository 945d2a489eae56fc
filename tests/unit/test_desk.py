"""The desk of deputies and staff through the conversation, with no Telegram: the in-memory
channel, the real use cases (Liaison, Reporting, Supervisor), a real SQLite file.

/queue, /unassigned, /assign, /mywork, /overdue, /stats with its chart, /export with its
workbook, 催办 and the 回访 answers: each re-authorised, a refusal changes nothing."""

from __future__ import annotations

import io
import re

import pytest
from openpyxl import load_workbook

from bot import actions
from bot.channels.memory import MemoryChannel, MemoryConversation
from bot.clock import ManualClock
from bot.conversation import Conversation, Inbound, Kind, Reply
from bot.domain.model import Status
from bot.faq_service import FaqService
from bot.i18n import Catalog
from bot.messages import OutMessage
from bot.services import Liaison
from bot.stations_file import StationsConfig
from bot.supervision import Supervisor
from storage.db import Database
from tests.conftest import ADMIN_ID, TZ
from tests.unit.test_conversation import DEPUTY, RESIDENT, button, leave_wish, plain

STAFF = "900001"  # 惠民's staff
OTHER_STAFF = "900002"  # 星苑's staff: not 惠民's


@pytest.fixture
async def talk(db: Database, clock: ManualClock, config: StationsConfig) -> MemoryConversation:
    catalog = Catalog("zh_CN")
    liaison = Liaison(db, catalog, clock, TZ, admins=[("memory", str(ADMIN_ID))])
    await liaison.directory.sync_config(config, channel="memory")
    faq = FaqService(db, clock)
    await faq.reload()
    supervisor = Supervisor(db, catalog, liaison)
    return MemoryConversation(
        Conversation(liaison, catalog, faq, supervisor=supervisor), MemoryChannel()
    )


def attachments(reply: Reply) -> list[OutMessage]:
    return [m for m in reply.messages if m.attachment is not None]


def refused(talk: MemoryConversation, reply: Reply) -> bool:
    """The polite refusal of a command: one message, the error wrapping, no file."""
    wrap = talk.conversation.catalog.plain("error.wrap", text="\x00").split("\x00")[0]
    return len(reply.messages) == 1 and wrap in reply.messages[0].text and not attachments(reply)


async def status(talk: MemoryConversation, wish_id: int) -> Status:
    staff = await talk.conversation.person(
        Inbound(channel="memory", account=STAFF, chat=STAFF, kind=Kind.TEXT, key="-")
    )
    return (await talk.conversation.liaison.queries.wish_detail(staff, wish_id)).wish.status


async def new_wish(talk: MemoryConversation, text: str = "人行道上的地砖松动了") -> tuple[int, str]:
    receipt = await leave_wish(talk, text)
    wish_id = receipt.messages[-1].wish_id
    assert wish_id is not None
    found = re.search(r"HM-\d{4}-\d{4}", receipt.messages[-1].text)
    assert found is not None
    return wish_id, found.group(0)


async def test_a_deputy_sees_the_queue_and_handles_a_wish_from_it(
    talk: MemoryConversation,
) -> None:
    wish_id, receipt = await new_wish(talk)
    queue = await talk.say(DEPUTY, "/queue")
    assert receipt in queue.messages[-1].text
    view = next(b for row in queue.messages[-1].buttons for b in row)
    assert actions.decode(view.action) == actions.Action(actions.VIEW, wish_id)
    card = await talk.press(DEPUTY, view)
    accept = button(card, plain(talk, "btn.accept"))
    await talk.press(DEPUTY, accept)
    await talk.press(DEPUTY, actions.button(actions.RESOLVE, wish_id))
    await talk.say(DEPUTY, "已经安排施工队修好了")
    assert await status(talk, wish_id) is Status.RESOLVED


async def test_a_resident_gets_no_desk(talk: MemoryConversation) -> None:
    wish_id, _ = await new_wish(talk)
    before = await status(talk, wish_id)  # assigned to 张代表 by its category
    for command in ("/queue", "/unassigned", "/assign", "/overdue", "/stats", "/export"):
        reply = await talk.say(RESIDENT, command)
        assert refused(talk, reply), (command, reply)
    # 催办 pressed by a resident (forged): an alert, nothing recorded
    push = await talk.press(RESIDENT, actions.button(actions.PUSH, wish_id))
    assert push.alert and push.toast and not push.messages
    assert await status(talk, wish_id) is before


async def test_staff_get_the_stats_with_the_chart_as_an_image(talk: MemoryConversation) -> None:
    await new_wish(talk)
    reply = await talk.say(STAFF, "/stats")
    assert "惠民社区代表联络站" in reply.messages[0].text
    [chart] = attachments(reply)
    assert chart.attachment is not None and chart.attachment.is_image
    assert chart.attachment.mime == "image/png" and chart.attachment.data[:8] == b"\x89PNG\r\n\x1a\n"
    assert chart.to_payload().keys() == {"text"}  # never bytes in a payload (the outbox is JSON)
    bad = await talk.say(STAFF, "/stats 1999-13")
    assert bad.messages[-1].text == talk.conversation.catalog.t("reports.bad_period")
    assert not attachments(bad)


async def test_staff_export_the_workbook_with_the_wish_in_it(talk: MemoryConversation) -> None:
    _, receipt = await new_wish(talk, "小区门口的路灯不亮")
    reply = await talk.say(STAFF, "/export")
    [doc] = attachments(reply)
    file = doc.attachment
    assert file is not None and not file.is_image and file.filename.endswith(".xlsx")
    assert "惠民社区代表联络站" in doc.text
    book = load_workbook(io.BytesIO(file.data), read_only=True)
    cells = {str(c) for ws in book.worksheets for row in ws.iter_rows(values_only=True) for c in row}
    assert receipt in cells and any("路灯不亮" in c for c in cells)
    # another station's staff cannot export this one
    other = await talk.say(OTHER_STAFF, "/export month huimin")
    assert refused(talk, other)


async def test_staff_assign_by_receipt_and_see_overdue_and_push(
    talk: MemoryConversation, clock: ManualClock
) -> None:
    wish_id, receipt = await new_wish(talk)
    listed = await talk.say(STAFF, "/unassigned")  # assigned by its category: nothing waits
    assert listed.messages[-1].text == talk.conversation.catalog.t("assign.none")
    choose = await talk.say(STAFF, f"/assign {receipt}")
    names = {b.text for row in choose.messages[-1].buttons for b in row}
    assert {"李代表", "王代表"} <= names  # 转办 to a colleague
    unknown = await talk.say(STAFF, "/assign HM-2020-9999")
    assert "HM-2020-9999" in unknown.messages[-1].text
    await talk.press(DEPUTY, actions.button(actions.ACCEPT, wish_id))
    clock.advance(days=40)  # past the 办结 deadline
    overdue = await talk.say(STAFF, "/overdue")
    assert receipt in overdue.messages[-1].text
    push = button(overdue, plain(talk, "supervision.btn_push"))
    pushed = await talk.press(STAFF, push)
    assert pushed.toast == plain(talk, "supervision.pushed_toast") and not pushed.alert
    assert any(receipt in m.message.text for m in talk.channel.deliveries if m.chat == STAFF)
    # the deputy may not push themselves
    again = await talk.press(DEPUTY, push)
    assert again.alert and not again.messages


async def test_a_deputy_has_their_work_summary_and_a_masked_export(
    talk: MemoryConversation,
) -> None:
    wish_id, _ = await new_wish(talk)
    await talk.press(DEPUTY, actions.button(actions.ACCEPT, wish_id))
    mine = await talk.say(DEPUTY, "/mywork")
    assert "张代表" in mine.messages[-1].text
    reply = await talk.say(DEPUTY, "/export")
    [doc] = attachments(reply)
    assert talk.conversation.catalog.plain("reports.export_masked") in doc.text
