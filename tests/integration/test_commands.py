"""Commands typed in Telegram reach the conversation through one translation (handlers/router.py
`on_command`): the conversation's list decides, whatever the command. Through the fake Bot API."""

from __future__ import annotations

from tests.integration.conftest import (
    RESIDENT,
    STAFF_HM,
    Harness,
    assert_no_invalid_calls,
)

BOT = "liaison_test_bot"


async def test_commands_are_decided_by_the_conversation(harness: Harness) -> None:
    h = harness
    await h.start_bot(RESIDENT, "huimin")
    await h.settle()
    h.fake.consume_all(RESIDENT)
    unknown = await h.say(RESIDENT, "/nonsense")
    assert "没有这个命令" in unknown.text
    other_bot = await h.say(RESIDENT, "/new@some_other_bot")
    assert "没有这个命令" in other_bot.text  # a command for another bot is not ours to run
    addressed = await h.say(RESIDENT, f"/NEW@{BOT}")  # Telegram's commands are case-insensitive
    assert "类别" in addressed.text
    await h.say(RESIDENT, "/cancel")
    stop = await h.say(RESIDENT, "/stop")
    assert "已停止接收群发通知" in stop.text
    # a resident typing a staff command: the polite refusal
    refused = await h.say(RESIDENT, "/broadcast")
    assert "没有权限" in refused.text

    # the rest of the line is the command's arguments as typed, line breaks included
    await h.start_bot(STAFF_HM)
    await h.settle()
    h.fake.consume_all(STAFF_HM)
    added = await h.say(STAFF_HM, "/faq_add 便民理发什么时候 | 每月第一个周六上午\n在二楼活动室")
    assert "已添加" in added.text
    answer = await h.say(RESIDENT, "便民理发什么时候")
    assert "每月第一个周六上午\n在二楼活动室" in answer.text
    assert_no_invalid_calls(h.fake)
