"""The web and WeChat adapters translate their inputs through one function
(bot/conversation/events.py channel_event), so they cannot drift apart: the same input gives
the same event in both, and a button's raw data is decoded by the one action codec."""

from __future__ import annotations

from typing import Any

from bot.actions import decode
from bot.conversation.events import Inbound, Kind
from web.chat import Input as WebInput
from web.chat import event_of
from wechat.webhook import Input as WeChatInput
from wechat.webhook import inbound as wechat_event


def web_event(**fields: Any) -> Inbound:
    return event_of("acct", WebInput(key="k1", **fields))


def wx_event(**fields: Any) -> Inbound:
    return wechat_event(WeChatInput(account="acct", key="k1", **fields))


def neutral(event: Inbound) -> tuple[Any, ...]:
    return (event.kind, event.action, event.command, event.text, event.photos, event.location)


def test_both_channels_translate_alike() -> None:
    for fields in (
        {"text": "路灯坏了"},
        {"action": "a:rt:7:s"},
        {"command": "new"},
        {"photos": ("x:1",), "text": "门口"},
        {"location": (30.1, 120.2)},
    ):
        assert neutral(web_event(**fields)) == neutral(wx_event(**fields)), fields
    assert web_event(action="a:rt:7:s").action == decode("a:rt:7:s")


def test_a_forged_press_is_a_press_without_an_action_in_every_channel() -> None:
    """Telegram passes an undecodable callback as ACTION with no action (answered "this button
    no longer works"); the web and WeChat made it UNSUPPORTED, a different answer."""
    for event in (web_event(action="garbage!!"), wx_event(action="garbage!!")):
        assert (event.kind, event.action) == (Kind.ACTION, None)


def test_starts_carry_the_station() -> None:
    web, wx = web_event(start="huimin"), wx_event(start=True, start_payload="huimin")
    assert (web.kind, web.start_payload) == (wx.kind, wx.start_payload) == (Kind.START, "huimin")
