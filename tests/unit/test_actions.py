"""The one action codec: round trips, strictness, and the wire format of buttons already sent."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot import actions
from bot.actions import MAX_BYTES, Action, InvalidAction, decode, encode


def _valid_actions() -> st.SearchStrategy[Action]:
    def for_verb(name: str) -> st.SearchStrategy[Action]:
        spec = actions.REGISTRY[name]
        ids = st.integers(0, actions.MAX_ID) if spec.wish else st.none()
        args = st.from_regex(spec.arg, fullmatch=True)
        return st.builds(Action, st.just(name), ids, args)

    return st.sampled_from(sorted(actions.REGISTRY)).flatmap(for_verb)


@given(_valid_actions())
def test_decode_inverts_encode(action: Action) -> None:
    try:
        data = encode(action)
    except InvalidAction:  # only for being too long (a 60-character FAQ id behind a prefix)
        return
    assert data.isascii() and len(data.encode()) <= MAX_BYTES
    assert decode(data) == action
    assert encode(decode(data)) == data


@given(st.text(max_size=80))
def test_decode_raises_only_invalid_action_on_any_text(data: str) -> None:
    try:
        action = decode(data)
    except InvalidAction:
        return
    assert encode(action) == data  # whatever decodes is canonical


@given(st.binary(max_size=80))
def test_decode_raises_only_invalid_action_on_any_bytes(data: bytes) -> None:
    try:
        action = decode(data)
    except InvalidAction:
        return
    assert encode(action) == data.decode("ascii")


@pytest.mark.parametrize(
    "data",
    [
        "a:acc:12",
        "a:to:42:7",
        "a:rt:3:s",
        "a:wd:5:y",
        "a:w:1",
        "st:huimin",
        "sp:ds:2",
        "ds:huimin",
        "dc:env",
        "dv:1",
        "dn",
        "do",
        "my:2",
        "wl:0",
        "fl:9",
        "m:new",
        "m:faq",
        "fp:1",
        "fq:station_intro",
        "fw:0",
        "fg:12",
        "ft:12:0123456789",
        "fn:12",
        "sv:p:12",
        "sv:f:12:r",
        "bs:*",
        "bp:1",
        "bx:3",
        "ba:ok",
    ],
)
def test_buttons_already_in_chats_still_decode(data: str) -> None:
    assert encode(decode(data)) == data


@pytest.mark.parametrize(
    "data",
    [
        "",
        "a:acc:012",  # not canonical
        "a:acc:12:",
        "a:acc:",
        "a:acc",
        "a:zz:1",
        "m:admin",
        "dn:1",
        "dv:2",
        "my:x",
        "fw:1",
        "ft:12:XYZ",
        "sv:p:1:2",
        "st:" + "a" * 40,
        "x" * 65,
    ],
)
def test_malformed_data_is_refused(data: str) -> None:
    with pytest.raises(InvalidAction):
        decode(data)


@pytest.mark.parametrize(
    "action",
    [
        Action("nope"),
        Action(actions.ACCEPT),  # needs a wish
        Action(actions.MENU, 3, "new"),  # takes none
        Action(actions.RATE, 1, "x"),
        Action(actions.ACCEPT, actions.MAX_ID + 1),
    ],
)
def test_encode_refuses_what_decode_would_refuse(action: Action) -> None:
    with pytest.raises(InvalidAction):
        encode(action)


def test_matches_checks_the_verb_not_a_prefix() -> None:
    check = actions.matches(actions.MENU)
    assert check("m:new") and not check("m:newer") and not check("my:1")
    with pytest.raises(ValueError):
        actions.matches("unknown")
