"""wechat/fields.py: the template field mapping and each value fitted to its key's type."""

from __future__ import annotations

import pytest

from wechat.fields import (
    DEFAULT_SUBSCRIPTION_FIELDS,
    DEFAULT_TEMPLATE_FIELDS,
    FieldSpecError,
    clean,
    fill,
    key_type,
    parse_fields,
)


def test_mapping_is_parsed_and_checked() -> None:
    assert parse_fields(" thing1 = heading , character_string2=receipt,") == {
        "thing1": "heading",
        "character_string2": "receipt",
    }
    assert parse_fields(DEFAULT_TEMPLATE_FIELDS)["time4"] == "time"
    assert parse_fields(DEFAULT_SUBSCRIPTION_FIELDS) == {"thing1": "heading", "thing2": "text"}
    for bad in (
        "",
        "thing1",
        "thing1=heading,thing1=text",
        "thing=heading",
        "thing1=name",
        "Thing1=heading",
        "first=heading",
    ):
        with pytest.raises(FieldSpecError):
            parse_fields(bad)


def test_values_fit_their_types() -> None:
    assert key_type("character_string12") == "character_string" and key_type("thing3") == "thing"
    thing = clean("thing3", "代表回复：\n已联系供电所，今天下午换好了灯泡，请您留意")
    assert len(thing) == 20 and thing.endswith("…") and "\n" not in thing
    assert clean("thing1", "短") == "短"
    assert clean("thing1", '<a href="https://x">网页</a>留言') == "网页留言"
    assert clean("character_string2", "心愿 HM-2026-0012") == "HM-2026-0012"
    assert clean("character_string2", "A" * 40) == "A" * 32
    assert clean("phrase4", "已办结 (done)") == "已办结"
    assert clean("phrase4", "处理中的心愿事项") == "处理中的心"
    assert clean("number3", "共 12 件") == "12"
    assert clean("time4", "2026-12-06 20:15") == "2026-12-06 20:15"
    assert clean("short_thing2", "一二三四五六") == "一二三四…"
    assert fill({"thing1": "heading", "thing2": "receipt"}, {"heading": "您好"}) == {
        "thing1": "您好",
        "thing2": "无",  # never empty: a placeholder of its type
    }


def test_no_field_is_sent_empty() -> None:
    """A broadcast has no receipt and a Latin-only text gives no phrase: each gets a
    placeholder its type takes instead of an empty value WeChat may refuse."""
    mapping = parse_fields("character_string2=receipt,phrase3=status,thing4=text,number5=text")
    data = fill(mapping, {"receipt": "", "status": "ok", "text": ""})
    assert data == {"character_string2": "-", "phrase3": "无", "thing4": "无", "number5": "0"}
    assert all(clean(key, value) == value for key, value in data.items())
