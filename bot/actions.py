"""The one action codec: what a button means, for every channel.

A button carries an encoded `Action` (Telegram callback_data, a web form field, a WeChat numbered
option kept in the session). The data comes back from the client, so `decode` is strict: a verb
outside the closed registry, an id that is not a canonical number, or an argument of the wrong
shape raises `InvalidAction`, and nothing else ever escapes it. Every use case still re-checks the
actor's rights and the wish's state on the server: a well-formed action is not an authorised one.

The wire format is exactly the one the ad-hoc encoders produced before this module existed
("a:acc:12", "st:huimin", "my:2", "m:new", "sv:f:12:r", ...), so buttons already sitting in
people's chats keep working; no transition period is needed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_BYTES = 64  # Telegram's callback_data limit; the strictest channel sets the bound for all
MAX_ID = 999_999_999  # nine digits: fits SQLite's integer and every id the bot hands out


class InvalidAction(ValueError):
    """Data that is not an action this bot could have produced (stale, forged or mangled)."""


@dataclass(frozen=True)
class Action:
    verb: str
    wish_id: int | None = None
    arg: str = ""


@dataclass(frozen=True)
class Verb:
    """One entry of the registry. `prefix` is what the data starts with; a verb about a wish
    carries its id right after the prefix; `arg` is a full-match pattern ("" = no argument)."""

    prefix: str
    wish: bool
    arg: re.Pattern[str]


def _verb(prefix: str, *, wish: bool = False, arg: str = "") -> Verb:
    return Verb(prefix, wish, re.compile(arg, re.ASCII))


_PAGE = r"\d{1,4}"
_ID = r"[1-9]\d{0,8}|0"
_SLUG = r"[a-z0-9_-]{1,32}"

# Wish verbs: the deputy / staff / resident buttons under a wish card ("a:<verb>:<id>[:<arg>]").
ACCEPT = "acc"
REPLY = "rep"
TRANSFER = "trf"
RESOLVE = "res"
DECLINE = "dec"
ASSIGN = "asg"
ASSIGN_TO = "to"  # arg: the chosen deputy's id
SUPPLEMENT = "sup"
WITHDRAW = "wd"  # arg: "" asks, "y" confirms, "n" keeps the wish
RATE = "rt"  # arg: s / b / u
VIEW = "w"
# Resident menus and the /new draft.
MENU = "m"  # arg: new / my / wall / faq
STATION = "st"  # arg: station id
STATION_PAGE = "sp"  # arg: "st:<page>" or "ds:<page>" (which station list)
DRAFT_STATION = "ds"
DRAFT_CATEGORY = "dc"
DRAFT_PUBLIC = "dv"  # arg: 1 / 0
DRAFT_NEXT = "dn"
DRAFT_SKIP_PHONE = "dk"
DRAFT_USE_QUESTION = "dp"
DRAFT_SUBMIT = "do"
DRAFT_CANCEL = "dx"
MY_PAGE = "my"
WALL_PAGE = "wl"
FOLLOW = "fl"  # wish id, arg: the wall page the button is on ("" on buttons made before)
# FAQ.
FAQ_PAGE = "fp"
FAQ_ANSWER = "fq"  # arg: entry id
FAQ_TO_WISH = "fw"  # arg: "0"
FAQ_TEACH = "fg"  # arg: miss id
FAQ_TEACH_TO = "ft"  # arg: "<miss id>:<entry token>"
FAQ_NEW_ENTRY = "fn"  # arg: miss id
# Supervision.
PUSH = "sv:p"  # wish id
FOLLOW_UP = "sv:f"  # wish id, arg: r / u / k
# Broadcasts.
BROADCAST_SCOPE = "bs"  # arg: station id or "*" (the county)
BROADCAST_PAGE = "bp"
BROADCAST_CANCEL = "bx"  # arg: broadcast id
BROADCAST_AUDIENCE = "ba"  # arg: station / followers / ok / x

WISH_VERBS: dict[str, Verb] = {
    ACCEPT: _verb("a:acc", wish=True),
    REPLY: _verb("a:rep", wish=True),
    TRANSFER: _verb("a:trf", wish=True),
    RESOLVE: _verb("a:res", wish=True),
    DECLINE: _verb("a:dec", wish=True),
    ASSIGN: _verb("a:asg", wish=True),
    ASSIGN_TO: _verb("a:to", wish=True, arg=_ID),
    SUPPLEMENT: _verb("a:sup", wish=True),
    WITHDRAW: _verb("a:wd", wish=True, arg=r"[yn]?"),
    RATE: _verb("a:rt", wish=True, arg=r"[sbu]"),
    VIEW: _verb("a:w", wish=True),
}
REGISTRY: dict[str, Verb] = {
    **WISH_VERBS,
    MENU: _verb("m", arg=r"new|my|wall|faq"),
    STATION: _verb("st", arg=_SLUG),
    STATION_PAGE: _verb("sp", arg=r"(?:st|ds):\d{1,3}"),
    DRAFT_STATION: _verb("ds", arg=_SLUG),
    DRAFT_CATEGORY: _verb("dc", arg=_SLUG),
    DRAFT_PUBLIC: _verb("dv", arg=r"[01]"),
    DRAFT_NEXT: _verb("dn"),
    DRAFT_SKIP_PHONE: _verb("dk"),
    DRAFT_USE_QUESTION: _verb("dp"),
    DRAFT_SUBMIT: _verb("do"),
    DRAFT_CANCEL: _verb("dx"),
    MY_PAGE: _verb("my", arg=_PAGE),
    WALL_PAGE: _verb("wl", arg=_PAGE),
    FOLLOW: _verb("fl", wish=True, arg=r"(?:\d{1,4})?"),  # arg: the wall page it is on
    FAQ_PAGE: _verb("fp", arg=r"\d{1,3}"),
    FAQ_ANSWER: _verb("fq", arg=r"[A-Za-z0-9][A-Za-z0-9_.-]{0,59}"),  # faq/model.py entry ids
    FAQ_TO_WISH: _verb("fw", arg=r"0"),
    FAQ_TEACH: _verb("fg", arg=r"\d{1,12}"),
    FAQ_TEACH_TO: _verb("ft", arg=r"\d{1,12}:[0-9a-f]{10}"),
    FAQ_NEW_ENTRY: _verb("fn", arg=r"\d{1,12}"),
    PUSH: _verb("sv:p", wish=True),
    FOLLOW_UP: _verb("sv:f", wish=True, arg=r"[a-z]"),
    BROADCAST_SCOPE: _verb("bs", arg=r"[a-z0-9_*-]{1,32}"),
    BROADCAST_PAGE: _verb("bp", arg=r"\d{1,3}"),
    BROADCAST_CANCEL: _verb("bx", arg=r"[1-9]\d{0,8}"),
    BROADCAST_AUDIENCE: _verb("ba", arg=r"station|followers|ok|x"),
}
# Longest prefix first, so "sv:f" is tried before a hypothetical "sv".
_BY_PREFIX = sorted(((v.prefix, name) for name, v in REGISTRY.items()), key=lambda p: -len(p[0]))
_WISH_ID = re.compile(_ID, re.ASCII)


def encode(action: Action) -> str:
    """The wire form of an action; raises InvalidAction for one `decode` would refuse, so a bad
    button is caught where it is built rather than when somebody presses it."""
    spec = REGISTRY.get(action.verb)
    if spec is None:
        raise InvalidAction(f"unknown verb {action.verb!r}")
    parts = [spec.prefix]
    if spec.wish:
        if action.wish_id is None or not 0 <= action.wish_id <= MAX_ID:
            raise InvalidAction(f"{action.verb} needs a wish id")
        parts.append(str(action.wish_id))
    elif action.wish_id is not None:
        raise InvalidAction(f"{action.verb} takes no wish id")
    if not spec.arg.fullmatch(action.arg):
        raise InvalidAction(f"bad argument for {action.verb}")
    if action.arg:
        parts.append(action.arg)
    data = ":".join(parts)
    if len(data.encode("ascii")) > MAX_BYTES:
        raise InvalidAction("action too long")
    return data


def decode(data: str | bytes | None) -> Action:
    """The action in client data, or InvalidAction. Only canonical encodings are accepted
    (no leading zeros, no stray separators), so encode(decode(d)) == d for every valid d."""
    if isinstance(data, bytes):
        try:
            data = data.decode("ascii")
        except UnicodeDecodeError as exc:
            raise InvalidAction("not ASCII") from exc
    if not isinstance(data, str) or not data or len(data) > MAX_BYTES or not data.isascii():
        raise InvalidAction("not an action")
    for prefix, name in _BY_PREFIX:
        if data == prefix:
            rest = None
        elif data.startswith(prefix + ":"):
            rest = data[len(prefix) + 1 :]
        else:
            continue
        return _parse(name, REGISTRY[name], rest)
    raise InvalidAction("unknown verb")


def _parse(name: str, spec: Verb, rest: str | None) -> Action:
    wish_id: int | None = None
    if spec.wish:
        if rest is None:
            raise InvalidAction("missing wish id")
        number, sep, rest = rest.partition(":")
        if not _WISH_ID.fullmatch(number):
            raise InvalidAction("bad wish id")
        wish_id = int(number)
        if not sep:
            rest = None
        elif rest == "":
            raise InvalidAction("empty argument")
    arg = "" if rest is None else rest
    if rest == "" or not spec.arg.fullmatch(arg):
        raise InvalidAction("bad argument")
    return Action(name, wish_id, arg)


def button(verb: str, wish_id: int | None = None, arg: object = "") -> str:
    """Shorthand for encode(Action(...)) where cards and keyboards are built."""
    return encode(Action(verb, wish_id, str(arg)))


def try_decode(data: str | bytes | None) -> Action | None:
    try:
        return decode(data)
    except InvalidAction:
        return None


def matches(*verbs: str) -> object:
    """A predicate over raw client data for routers that pick a handler by verb (PTB's
    CallbackQueryHandler takes a callable pattern): true when the data decodes to one of `verbs`."""
    unknown = set(verbs) - REGISTRY.keys()
    if unknown:
        raise ValueError(f"unknown verbs {sorted(unknown)}")
    wanted = frozenset(verbs)

    def check(data: object) -> bool:
        action = try_decode(data) if isinstance(data, str) else None
        return action is not None and action.verb in wanted

    return check


# The encoded buttons that carry no variable part, built once.
MENU_NEW = encode(Action(MENU, arg="new"))
MENU_MY = encode(Action(MENU, arg="my"))
MENU_WALL = encode(Action(MENU, arg="wall"))
MENU_FAQ = encode(Action(MENU, arg="faq"))
LEAVE_WISH = encode(Action(FAQ_TO_WISH, arg="0"))
