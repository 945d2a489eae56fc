"""Input → the seam's neutral Inbound (runs once bot/conversation and bot/actions are merged)."""

from __future__ import annotations

from wechat.messages import Push
from wechat.webhook import Input, inbound, station_of_scene, update_id


def test_each_input_becomes_its_kind() -> None:
    from bot.conversation.events import Kind

    kind = Kind
    base = {"account": "o_a", "key": "wechat:1"}
    start = inbound(Input(start=True, start_payload="huimin", **base))
    assert (start.kind, start.start_payload, start.channel, start.chat) == (
        kind.START,
        "huimin",
        "wechat",
        "o_a",
    )
    assert inbound(Input(text="你好", **base)).kind is kind.TEXT
    assert inbound(Input(command="new", **base)).command == "new"
    assert inbound(Input(photos=("wechat-media:x",), **base)).kind is kind.PHOTO
    assert inbound(Input(location=(1.0, 2.0), **base)).kind is kind.LOCATION
    # decoded strictly: what does not decode is a press without an action, refused politely
    # as "stale" (the same as Telegram's), not a message of an unsupported kind
    forged = inbound(Input(action="garbage!!", **base))
    assert (forged.kind, forged.action) == (kind.ACTION, None)


def test_scene_and_update_ids() -> None:
    assert station_of_scene("st_huimin") == "huimin" and station_of_scene("other") == ""
    msg = Push("gh", "o_a", 1, "text", msg_id="6054768590064713728")
    ev = Push("gh", "o_a", 1, "event", event="subscribe")
    assert update_id(msg) == 6054768590064713728
    assert update_id(ev) < 0 and update_id(ev) == update_id(
        Push("gh", "o_a", 1, "event", event="subscribe")
    )
    assert update_id(ev) != update_id(Push("gh", "o_a", 2, "event", event="subscribe"))
