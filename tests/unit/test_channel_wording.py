"""No channel is told to do what it cannot (QA item 7): the core words its texts by what the
channel's adapter declares it can do (bot/domain/variants.py). The in-memory channel declared
as WeChat declares itself (numbered options, no replying to a message, the menu rather than
commands), the real use cases, a real SQLite file; and the same walk with Telegram's wording."""

from __future__ import annotations

import json

import pytest

from bot import actions
from bot.channel import TELEGRAM_CAPABILITIES
from bot.channels.memory import MemoryChannel, MemoryConversation
from bot.clock import ManualClock
from bot.conversation import Conversation, Reply
from bot.domain.variants import NO_CHANNELS, NO_COMMANDS, NO_REPLY_TO, NUMBERED, candidate_keys
from bot.faq_service import FaqService
from bot.i18n import Catalog
from bot.messages import OutMessage
from bot.services import Liaison
from bot.stations_file import StationsConfig
from storage.db import Database, fetch_all
from tests.conftest import TZ
from tests.unit.test_conversation import button
from web.channel import CAPABILITIES as WEB
from wechat.channel import CAPABILITIES as WECHAT

RESIDENT, DEPUTY = "700001", "800001"  # 张代表 at 惠民, traffic


def test_the_rule_tries_the_most_specific_wording_first() -> None:
    assert candidate_keys("k", ()) == ["k"]
    assert candidate_keys("k", (NUMBERED, NO_REPLY_TO)) == [
        "k~noreply~numbered", "k~noreply", "k~numbered", "k",
    ]  # fmt: skip
    assert TELEGRAM_CAPABILITIES.missing == ()
    assert WECHAT.missing == (NO_REPLY_TO, NUMBERED, NO_COMMANDS, NO_CHANNELS)
    assert WEB.missing == (NO_REPLY_TO, NO_COMMANDS, NO_CHANNELS)
    c = Catalog("zh_CN")
    assert c.worded(WECHAT.missing).t("new.phone").endswith("不想留可以选“跳过”。")
    assert c.worded(()).t("new.phone") == c.t("new.phone")
    # a key with no variant is the same everywhere
    assert c.worded(WECHAT.missing).t("cancel.done") == c.t("cancel.done")


async def conversation(
    db: Database, clock: ManualClock, config: StationsConfig, capabilities: object | None
) -> MemoryConversation:
    catalog = Catalog("zh_CN")
    liaison = Liaison(db, catalog, clock, TZ)
    if capabilities is not None:  # as the composition root registers an adapter's declaration
        liaison.core.capabilities["memory"] = capabilities  # type: ignore[assignment]
    await liaison.directory.sync_config(config, channel="memory")
    faq = FaqService(db, clock)
    await faq.reload()
    return MemoryConversation(Conversation(liaison, catalog, faq), MemoryChannel())


def said(reply: Reply) -> str:
    return "\n".join(m.text for m in reply.messages)


async def queued_to(db: Database, chat: str) -> list[OutMessage]:
    async with db.read() as conn:
        rows = await fetch_all(conn, "SELECT payload FROM outbox WHERE chat_id=? ORDER BY id", (chat,))
    return [OutMessage.from_payload(json.loads(r[0])) for r in rows]


async def walk(talk: MemoryConversation, db: Database) -> dict[str, str]:
    """A resident's wish, the deputy's reply and the resident's thanks; what each was told."""
    c = talk.conversation.catalog
    seen: dict[str, str] = {}
    await talk.say(RESIDENT, "/start huimin")
    reply = await talk.press(RESIDENT, actions.MENU_NEW)
    reply = await talk.press(RESIDENT, button(reply, "道路交通"))
    reply = await talk.say(RESIDENT, "路口的红绿灯坏了三天了")
    seen["more"] = said(reply)
    reply = await talk.press(RESIDENT, button(reply, c.plain("btn.next")))
    seen["public"] = said(reply)
    reply = await talk.press(RESIDENT, button(reply, c.plain("btn.public_yes")))
    seen["phone"] = said(reply)
    reply = await talk.press(RESIDENT, button(reply, c.plain("btn.skip")))
    reply = await talk.press(RESIDENT, button(reply, c.plain("btn.submit")))
    seen["receipt"] = said(reply)
    seen["help"] = said(await talk.say(RESIDENT, "/help"))
    seen["my"] = said(await talk.say(RESIDENT, "/my"))
    [card] = [m for m in await queued_to(db, DEPUTY) if m.buttons]
    seen["card"] = card.text
    await talk.press(DEPUTY, button(Reply(messages=(card,)), c.plain("btn.reply")))
    await talk.say(DEPUTY, "已联系交管部门，明天修好。")
    [note] = [m for m in await queued_to(db, RESIDENT) if "明天修好" in m.text]
    seen["reply"] = note.text
    seen["thanks"] = said(await talk.say(RESIDENT, "好的谢谢"))
    return seen


async def test_wechat_is_told_to_choose_numbers_not_to_reply_or_press(
    db: Database, clock: ManualClock, config: StationsConfig
) -> None:
    talk = await conversation(db, clock, config, WECHAT)
    seen = await walk(talk, db)
    everything = "\n".join(seen.values())
    for telegram_only in ("直接回复本消息", "点“下一步”", "点“跳过”", "点按钮", "频道", "直接“回复”"):
        assert telegram_only not in everything, telegram_only
    assert "选“下一步”" in seen["more"] and "选“跳过”" in seen["phone"]
    assert "/wall" not in seen["public"] and "回音壁" in seen["public"]
    assert "/my" not in seen["receipt"] and "“我的心愿”" in seen["receipt"]
    assert "选择“回复”" in seen["card"] and "选择下面的“补充”" in seen["reply"]
    assert "选择一条查看办理记录" in seen["my"]
    # "好的谢谢" after the deputy's reply is acknowledged, not an FAQ miss
    assert "不客气" in seen["thanks"] and "暂时回答不了" not in seen["thanks"]
    async with db.read() as conn:
        assert await fetch_all(conn, "SELECT id FROM faq_misses") == []


async def test_telegram_keeps_its_wording(
    db: Database, clock: ManualClock, config: StationsConfig
) -> None:
    talk = await conversation(db, clock, config, None)  # unregistered: Telegram's texts
    seen = await walk(talk, db)
    assert seen["card"].endswith("\n直接回复本消息，写下的内容会以您的代表身份转给居民。")
    assert seen["reply"].endswith("明天修好。\n\n直接回复本消息可以补充说明。")
    assert "点“下一步”" in seen["more"] and "（公示办理结果的频道）" in seen["public"]
    assert "/my" in seen["receipt"] and "点按钮查看办理记录" in seen["my"]
    assert "/new" in seen["help"]
    assert "不客气" in seen["thanks"]


@pytest.mark.parametrize("text", ["好的谢谢", "收到，谢谢代表", "辛苦了", "ok", "嗯嗯好的"])
def test_thanks_are_acknowledgements(text: str) -> None:
    from faq.acknowledge import is_acknowledgement

    assert is_acknowledgement(text)


@pytest.mark.parametrize("text", ["你好", "代表", "好的停车位在哪", "谢谢，请问接待时间是几点", "可以办居住证吗"])
def test_questions_are_not_acknowledgements(text: str) -> None:
    from faq.acknowledge import is_acknowledgement

    assert not is_acknowledgement(text)


async def test_the_web_keeps_its_buttons_but_is_not_told_to_reply_to_a_message(
    db: Database, clock: ManualClock, config: StationsConfig
) -> None:
    talk = await conversation(db, clock, config, WEB)
    seen = await walk(talk, db)
    assert "直接回复本消息" not in seen["card"] + seen["reply"]
    assert "选择“回复”" in seen["card"] and "选择下面的“补充”" in seen["reply"]
    assert "点“下一步”" in seen["more"]  # the web has buttons
    assert "频道" not in seen["public"] and "/wall" not in seen["public"]
    assert "/new 我要留言" not in seen["help"] and "我要留言：提交心愿" in seen["help"]


async def test_stats_name_who_is_unreachable_without_a_raw_id(
    db: Database, clock: ManualClock
) -> None:
    """QA item 21: /stats lists configured people no channel can reach yet by name, or by role
    and the account's last digits, never the whole id, in words true on every channel."""
    from bot.stations_file import parse_stations_yaml
    from bot.supervision import Supervisor
    from tests.conftest import STATIONS_YAML

    config = parse_stations_yaml(STATIONS_YAML.replace("staff: [900001]", "staff: [900001, 100000102]"))
    catalog = Catalog("zh_CN")
    liaison = Liaison(db, catalog, clock, TZ)
    liaison.core.capabilities["memory"] = WEB
    await liaison.directory.sync_config(config, channel="memory")
    faq = FaqService(db, clock)
    await faq.reload()
    talk = MemoryConversation(
        Conversation(liaison, catalog, faq, supervisor=Supervisor(db, catalog, liaison)),
        MemoryChannel(),
    )
    await talk.say("900001", "/start")
    text = said(await talk.say("900001", "/stats"))
    assert "还没有接入任何渠道" in text and "打开机器人" not in text
    assert "张代表" in text and "工作人员（账号尾号 02）" in text
    assert "100000102" not in text

