"""The fields of a template or subscription message: which of our values goes into which of the
template's keys, each value made to fit its key's type.

WeChat's current templates (类目模板) have typed keys chosen when the template is added in the
console, e.g. ``thing1`` (事物: at most 20 characters), ``character_string2`` (at most 32 digits,
letters or symbols, no Chinese), ``time3`` (a time such as 2026-12-06 20:15), ``phrase4`` (at
most 5 Chinese characters). The historic ``first`` / ``keyword1..n`` / ``remark`` layout is gone:
first and remark are filtered out, and a value that does not fit its key is refused with errcode
47003 (argument invalid! data.<key>.value invalid). So the mapping is configuration
(LIAISON_WECHAT_TEMPLATE_FIELDS…, README "WeChat"), and every value is cut or cleaned by its key's
type before it is sent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

# Our values a template can show, per notice (wechat/channel.py fills them):
#   heading  the notice's heading for its kind (您的心愿已办结, 代表回复了您的心愿, 联络站给您的通知)
#   receipt  the wish's receipt number (HM-2026-0012), empty for a notice about no wish
#   station  the station's name
#   status   a short status for the kind (已办结 / 已回复 / 新通知)
#   text     the notice's own text
#   time     when it was sent, in the configured time zone (2026-12-06 20:15)
SOURCES = ("heading", "receipt", "station", "status", "text", "time")

# Defaults (README): pick templates with these keys, or set the mapping to the ones you picked.
DEFAULT_TEMPLATE_FIELDS = "thing1=heading,character_string2=receipt,thing3=text,time4=time"
DEFAULT_SUBSCRIPTION_FIELDS = "thing1=heading,thing2=text"

_KEY = re.compile(r"^([a-z_]+?)([0-9]{1,3})$")
_ELLIPSIS = "…"
_TAG = re.compile(r"<[^>]*>")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")

# The documented limits of each type, in characters (参数值内容限制).
LIMITS = {
    "thing": 20,
    "short_thing": 5,
    "character_string": 32,
    "number": 32,
    "letter": 32,
    "symbol": 5,
    "phrase": 5,
    "phone_number": 17,
    "car_number": 8,
    "const": 20,
}


class FieldSpecError(ValueError):
    """A mapping setting that is not `key=value,...` with known values and typed keys."""


def parse_fields(spec: str) -> dict[str, str]:
    """``"thing1=heading, character_string2=receipt"`` -> {template key: our value}."""
    mapping: dict[str, str] = {}
    for part in spec.split(","):
        if not part.strip():
            continue
        key, sep, source = (p.strip() for p in part.partition("="))
        if not sep or not _KEY.match(key) or source not in SOURCES or key in mapping:
            raise FieldSpecError(part.strip())
        mapping[key] = source
    if not mapping:
        raise FieldSpecError(spec)
    return mapping


def key_type(key: str) -> str:
    """``thing3`` -> ``thing``; ``character_string12`` -> ``character_string``."""
    m = _KEY.match(key)
    return m.group(1) if m else key


def _cut(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 1] + _ELLIPSIS


def clean(key: str, value: str) -> str:
    """The value made to fit the key's type: one line, within the type's length, only the
    characters the type takes (a value that cannot fit is better shortened than refused)."""
    text = " ".join(_TAG.sub("", value).split())  # one line: WeChat drops what follows \n
    kind = key_type(key)
    if kind == "character_string":
        return "".join(c for c in text if c.isascii() and c.isprintable() and c != " ")[:32]
    if kind == "number":
        return "".join(c for c in text if c.isdigit() or c == ".")[:32]
    if kind == "letter":
        return "".join(c for c in text if c.isascii() and c.isalpha())[:32]
    if kind == "symbol":
        return "".join(c for c in text if c.isascii() and not c.isalnum() and c != " ")[:5]
    if kind == "phrase":
        return "".join(_CJK.findall(text))[:5]
    if kind == "phone_number":
        return "".join(c for c in text if c.isdigit() or c in "+-")[:17]
    if kind == "name":
        return _cut(text, 10 if _CJK.search(text) else 20)
    if kind in ("time", "date"):
        return text
    return _cut(text, LIMITS.get(kind, 20))


# What an empty value becomes (a broadcast has no receipt; a text without Chinese gives no
# phrase): a template field left empty may be refused, and a notice then only waits.
_EMPTY = {"phrase": "无", "thing": "无", "name": "无", "number": "0", "letter": "x"}


def fill(mapping: Mapping[str, str], values: Mapping[str, str]) -> dict[str, str]:
    """The message's data: each template key with our value for it, cleaned for its type
    (never empty: a placeholder of the key's type instead)."""
    return {
        key: clean(key, values.get(source, "")) or _EMPTY.get(key_type(key), "-")
        for key, source in mapping.items()
    }
