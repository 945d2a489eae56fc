"""wechat.messages: every push type parsed from what the fake WeChat sends; hostile XML refused."""

from __future__ import annotations

import pytest

from tests.fake_wechat import FakeWeChat
from wechat.messages import BadPush, parse_push, text_reply

F = FakeWeChat(now=1700000000)


def test_text_with_menu_id() -> None:
    p = parse_push(F.text("o_a", "2", bizmsgmenuid="102").encode())
    assert (p.msg_type, p.content, p.menu_id, p.from_user) == ("text", "2", "102", "o_a")
    assert p.dedupe_key == f"msg:{p.msg_id}"


def test_media_location_link() -> None:
    img = parse_push(F.xml("o_a", "image", PicUrl="http://p/1.jpg", MediaId="M1").encode())
    assert img.media_id == "M1"
    voice = parse_push(
        F.xml("o_a", "voice", MediaId="V1", Format="amr", Recognition="你好").encode()
    )
    assert voice.recognition == "你好"
    loc = parse_push(
        F.xml(
            "o_a", "location", Location_X="39.9", Location_Y="116.4", Scale=15, Label="惠民路"
        ).encode()
    )
    assert loc.location == (39.9, 116.4) and loc.label == "惠民路"
    link = parse_push(F.xml("o_a", "link", Title="t", Description="d", Url="http://u").encode())
    assert link.url == "http://u"


@pytest.mark.parametrize(
    ("event", "key", "scene"),
    [
        ("subscribe", "qrscene_st_huimin", "st_huimin"),
        ("SCAN", "st_huimin", "st_huimin"),
        ("subscribe", "", ""),
        ("unsubscribe", "", ""),
        ("CLICK", "MY", ""),
        ("VIEW", "http://x", ""),
    ],
)
def test_events(event: str, key: str, scene: str) -> None:
    p = parse_push(F.event("o_a", event, key).encode())
    assert (p.event, p.scene) == (event, scene)
    # the key too: two menu items tapped in one second are two pushes (a retry repeats both)
    assert p.dedupe_key == f"ev:o_a:1700000000:{event}" + (f":{key}" if key else "")


@pytest.mark.parametrize(
    "body",
    [
        b"not xml",
        b"<root/>",
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><xml><Content>&a;</Content></xml>',
        b"<xml>" + b"<a>x</a>" * 20000 + b"</xml>",
        F.text("bad id!", "x").encode(),
        F.xml("o_a", "text", Content="x", MsgId="12ab").encode(),
        F.xml("o_a", "location", Location_X="91", Location_Y="0", MsgId="1").encode(),
        F.xml("o_a", "image", MsgId="1").encode(),
    ],
)
def test_hostile_or_malformed_is_refused(body: bytes) -> None:
    with pytest.raises(BadPush):
        parse_push(body)


def test_text_reply_swaps_and_escapes_cdata() -> None:
    p = parse_push(F.text("o_a", "hi").encode())
    reply = text_reply(p, "a]]>b", now=1)
    back = parse_push(reply.replace("<MsgType>", "<MsgId>1</MsgId><MsgType>").encode())
    assert back.from_user == F.original_id and back.to_user == "o_a" and back.content == "a]]>b"
