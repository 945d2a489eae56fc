"""An in-process fake of the Telegram Bot API for integration tests.

The real python-telegram-bot ``Application``/``Bot`` runs against it unchanged::

    async with FakeTelegram() as fake:
        fake.add_user(42, "Ann")
        bot = telegram.Bot(fake.token, base_url=fake.base_url)
        ...

Behaviour follows the Bot API server (tdlib/telegram-bot-api) rather than convenience:
error texts, HTTP codes, HTML entity parsing (a port of tdlib's ``parse_html``), UTF-16
lengths, getUpdates offset confirmation and long polling are modelled on its sources.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import json
import math
import mimetypes
import re
import secrets
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

__all__ = [
    "ApiRequest",
    "CallbackAnswer",
    "FakeTelegram",
    "InjectedFault",
    "ParseError",
    "RateLimits",
    "RejectedCall",
    "SentMessage",
    "parse_html",
    "parse_markdown",
    "parse_markdown_v2",
    "running_fake",
    "utf16_len",
]

DEFAULT_TOKEN = "123456:TEST-TOKEN-0123456789abcdefghijklmnop"  # BotFather's shape
MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64
MAX_CALLBACK_ANSWER_LENGTH = 200
MAX_UPLOAD_BYTES = 50 * 1024 * 1024  # "Bots can currently send files of any type of up to 50 MB"
MAX_RAW_TEXT_BYTES = 1 << 15  # the server refuses longer raw text before parsing it
LONG_POLL_MAX_TIMEOUT = 50

# Update types delivered when allowed_updates is empty or was never given.
_DEFAULT_EXCLUDED_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
_CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
# Parameters that PTB (and the Bot API) transfer as JSON-serialized strings.
_JSON_PARAMS = frozenset(
    {
        "reply_markup",
        "entities",
        "caption_entities",
        "media",
        "reply_parameters",
        "commands",
        "scope",
        "allowed_updates",
        "link_preview_options",
        "menu_button",
        "message_ids",
    }
)


# --------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------


class ApiError(Exception):
    """An error answered to the client, shaped like the Bot API's JSON error."""

    def __init__(
        self,
        code: int,
        description: str,
        *,
        retry_after: int | None = None,
        injected: bool = False,
        migrate_to_chat_id: int | None = None,
    ) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after
        self.injected = injected
        self.migrate_to_chat_id = migrate_to_chat_id

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.code,
            "description": self.description,
        }
        parameters: dict[str, int] = {}
        if self.migrate_to_chat_id is not None:
            parameters["migrate_to_chat_id"] = self.migrate_to_chat_id
        if self.retry_after is not None:
            parameters["retry_after"] = self.retry_after
        if parameters:  # ResponseParameters
            body["parameters"] = parameters
        return body


def _bad(message: str) -> ApiError:
    """A 400 with the server's lower-casing of the first letter (see fail_query_with_error)."""
    if len(message) >= 2 and (message[1] == "_" or "A" <= message[1] <= "Z"):
        return ApiError(400, f"Bad Request: {message}")
    return ApiError(400, f"Bad Request: {message[:1].lower()}{message[1:]}")


def _forbidden(message: str) -> ApiError:
    return ApiError(403, f"Forbidden: {message}")


def _too_many(retry_after: int) -> ApiError:
    return ApiError(429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after)


class ParseError(ValueError):
    """Raised by the entity parsers with tdlib's message (without the "Can't parse" prefix)."""


# --------------------------------------------------------------------------------------
# Text helpers: UTF-16 lengths, HTML / Markdown parsing, entity clean-up
# --------------------------------------------------------------------------------------


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit of every Telegram offset and limit."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


_HTML_TAGS = frozenset(
    {
        "a",
        "b",
        "strong",
        "i",
        "em",
        "s",
        "strike",
        "del",
        "u",
        "ins",
        "tg-spoiler",
        "tg-emoji",
        "span",
        "pre",
        "code",
        "blockquote",
    }
)
# td::is_space also treats NUL (end of the C string) as a space; the ports rely on it.
_TD_SPACE = frozenset(b" \t\r\n\x00\x0b")
_ENTITY_PRIORITY = {
    "blockquote": 0,
    "expandable_blockquote": 0,
    "pre": 11,
    "code": 20,
    "text_link": 49,
    "text_mention": 49,
    "mention": 50,
    "hashtag": 50,
    "cashtag": 50,
    "bot_command": 50,
    "url": 50,
    "email": 50,
    "phone_number": 50,
    "bold": 90,
    "italic": 91,
    "underline": 92,
    "strikethrough": 93,
    "spoiler": 94,
    "custom_emoji": 99,
}
_HIDDEN_DATA_ENTITIES = frozenset({"text_link", "text_mention", "custom_emoji"})


def _sort_entities(entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(
        entities,
        key=lambda e: (e["offset"], -e["length"], _ENTITY_PRIORITY.get(e["type"], 50)),
    )


def _is_alpha(c: int) -> bool:
    c |= 0x20
    return 0x61 <= c <= 0x7A


def _is_digit(c: int) -> bool:
    return 0x30 <= c <= 0x39


def _is_hex(c: int) -> bool:
    return _is_digit(c) or 0x61 <= (c | 0x20) <= 0x66


def _decode_html_entity(b: bytes, pos: int) -> tuple[int, int]:
    """tdlib's decode_html_entity: (code point or 0, position after the entity)."""

    def at(i: int) -> int:
        return b[i] if i < len(b) else 0

    end = pos + 1
    res = 0
    if at(pos + 1) == 0x23:  # '#'
        end += 1
        if at(pos + 2) == 0x78:  # 'x'
            end += 1
            while _is_hex(at(end)):
                res = res * 16 + int(chr(at(end)), 16)
                end += 1
        else:
            while _is_digit(at(end)):
                res = res * 10 + at(end) - 0x30
                end += 1
        if res == 0 or res >= 0x10FFFF or end - pos >= 10:
            return 0, pos
    else:
        while _is_alpha(at(end)):
            end += 1
        res = {b"lt": 0x3C, b"gt": 0x3E, b"amp": 0x26, b"quot": 0x22}.get(b[pos + 1 : end], 0)
        if not res:
            return 0, pos  # unknown named entities stay literal text
    if at(end) == 0x3B:  # ';'
        end += 1
    return res, end


def _checked_link(url: str) -> str | None:
    """A simplified LinkManager::get_checked_link: normalised URL, or None if invalid."""
    if not url or any(ch.isspace() for ch in url):
        return None
    match = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*):(//)?", url)
    if match and not re.match(r"^[\w.-]+:\d", url):
        scheme = match.group(1).lower()
        if scheme in ("tg", "ton"):
            return url
        if scheme not in ("http", "https") or not match.group(2):
            return None
        rest = url[match.end() :]
    else:
        scheme, rest = "http", url
    host, sep, tail = re.match(r"^([^/?#]*)([/?#]?)(.*)$", rest, re.S).groups()  # type: ignore[union-attr]
    host_name = host.rsplit("@", 1)[-1].split(":", 1)[0]
    if not re.fullmatch(r"(?:[\w-]+\.)+[\w-]{2,}|localhost|\d{1,3}(?:\.\d{1,3}){3}", host_name):
        return None
    path = sep + tail if sep == "/" else "/" + sep + tail
    return f"{scheme}://{host}{path}"


def _link_entity(url: str, offset: int, length: int, users: dict[int, Any] | None) -> dict | None:
    match = re.fullmatch(r"tg://user\?id=(\d+)", url.strip())
    if match:
        user = (users or {}).get(int(match.group(1)))
        if user is None:
            return None
        return {"type": "text_mention", "offset": offset, "length": length, "user": user.to_dict()}
    checked = _checked_link(url)
    if checked is None:
        return None
    return {"type": "text_link", "offset": offset, "length": length, "url": checked}


def parse_html(text: str, users: dict[int, Any] | None = None) -> tuple[str, list[dict[str, Any]]]:
    """Port of tdlib's ``parse_html``: returns (plain text, entities) or raises ParseError.

    Byte offsets in error messages refer to the UTF-8 encoding, as Telegram's do.
    """
    b = text.encode("utf-8")
    n = len(b)

    def at(i: int) -> int:
        return b[i] if i < n else 0

    out = bytearray()
    entities: list[dict[str, Any]] = []
    utf16 = 0
    has_surrogate = False
    # (tag name, argument, UTF-16 offset, byte position in the output)
    stack: list[tuple[str, str, int, int]] = []
    i = 0
    while i < n:
        c = b[i]
        if c == 0x26:  # '&'
            code, after = _decode_html_entity(b, i)
            if code:
                utf16 += 1 + (code > 0xFFFF)
                if 0xD800 <= code <= 0xDFFF:
                    has_surrogate = True
                out += chr(code).encode("utf-8", "surrogatepass")
                i = after
                continue
        if c != 0x3C:  # not '<'
            if (c & 0xC0) != 0x80:
                utf16 += 1 + (c >= 0xF0)
            out.append(c)
            i += 1
            continue

        begin = i
        i += 1
        if at(i) != 0x2F:  # start tag
            while at(i) not in _TD_SPACE and at(i) != 0x3E:
                i += 1
            if at(i) == 0:
                raise ParseError(f"Unclosed start tag at byte offset {begin}")
            tag = b[begin + 1 : i].lower().decode("utf-8", "replace")
            if tag not in _HTML_TAGS:
                raise ParseError(f'Unsupported start tag "{tag}" at byte offset {begin}')
            argument = ""
            while at(i) != 0x3E:
                while at(i) != 0 and at(i) in _TD_SPACE:
                    i += 1
                if at(i) == 0x3E:
                    break
                attr_begin = i
                while at(i) not in _TD_SPACE and at(i) not in b"=>/\"'":
                    i += 1
                attr_name = b[attr_begin:i]
                if not attr_name:
                    raise ParseError(
                        f'Empty attribute name in the tag "{tag}" at byte offset {begin}'
                    )
                while at(i) != 0 and at(i) in _TD_SPACE:
                    i += 1
                if at(i) != 0x3D:  # attribute without a value
                    if at(i) == 0:
                        raise ParseError(f'Unclosed start tag "{tag}" at byte offset {begin}')
                    if tag == "blockquote" and attr_name == b"expandable":
                        argument = "1"
                    continue
                i += 1
                while at(i) != 0 and at(i) in _TD_SPACE:
                    i += 1
                if at(i) == 0:
                    raise ParseError(f'Unclosed start tag "{tag}" at byte offset {begin}')
                value = bytearray()
                if at(i) not in (0x22, 0x27):
                    token_begin = i
                    while _is_alpha(at(i)) or _is_digit(at(i)) or at(i) in (0x2E, 0x2D):
                        i += 1
                    value += b[token_begin:i].lower()
                    if at(i) not in _TD_SPACE and at(i) != 0x3E:
                        raise ParseError(
                            f"Unexpected end of name token at byte offset {token_begin}"
                        )
                else:
                    quote = at(i)
                    i += 1
                    while at(i) != quote and at(i) != 0:
                        if at(i) == 0x26:
                            code, after = _decode_html_entity(b, i)
                            if code:
                                value += chr(code).encode("utf-8", "surrogatepass")
                                i = after
                                continue
                        value.append(at(i))
                        i += 1
                    if at(i) == quote:
                        i += 1
                if at(i) == 0:
                    raise ParseError(f"Unclosed start tag at byte offset {begin}")
                value_s = bytes(value).decode("utf-8", "replace")
                if tag == "a" and attr_name == b"href":
                    argument = value_s
                elif tag == "code" and attr_name == b"class" and value_s.startswith("language-"):
                    argument = value_s[9:]
                elif tag == "span" and attr_name == b"class" and value_s.startswith("tg-"):
                    argument = value_s[3:]
                elif (tag == "tg-emoji" and attr_name == b"emoji-id") or (
                    tag == "blockquote" and attr_name == b"expandable"
                ):
                    argument = value_s if tag == "tg-emoji" else "1"
            if tag == "span" and argument != "spoiler":
                raise ParseError(f'Tag "span" must have class "tg-spoiler" at byte offset {begin}')
            stack.append((tag, argument, utf16, len(out)))
            i += 1
            continue

        # end tag
        if not stack:
            raise ParseError(f"Unexpected end tag at byte offset {begin}")
        while at(i) not in _TD_SPACE and at(i) != 0x3E:
            i += 1
        end_tag = b[begin + 2 : i].lower().decode("utf-8", "replace")
        while at(i) != 0 and at(i) in _TD_SPACE:
            i += 1
        if at(i) != 0x3E:
            raise ParseError(f"Unclosed end tag at byte offset {begin}")
        tag, argument, offset, begin_pos = stack[-1]
        if end_tag and end_tag != tag:
            raise ParseError(
                f'Unmatched end tag at byte offset {begin}, expected "</{tag}>", found "</{end_tag}>"'
            )
        if utf16 > offset:
            length = utf16 - offset
            simple = {
                "i": "italic",
                "em": "italic",
                "b": "bold",
                "strong": "bold",
                "s": "strikethrough",
                "strike": "strikethrough",
                "del": "strikethrough",
                "u": "underline",
                "ins": "underline",
                "tg-spoiler": "spoiler",
                "span": "spoiler",
            }
            last = entities[-1] if entities else None
            same_span = last is not None and last["offset"] == offset and last["length"] == length
            if tag in simple:
                entities.append({"type": simple[tag], "offset": offset, "length": length})
            elif tag == "tg-emoji":
                if not argument.isdigit() or int(argument) == 0 or int(argument) >= 1 << 63:
                    raise ParseError("Invalid custom emoji identifier specified")
                entities.append(
                    {
                        "type": "custom_emoji",
                        "offset": offset,
                        "length": length,
                        "custom_emoji_id": argument,
                    }
                )
            elif tag == "a":
                url = argument or bytes(out[begin_pos:]).decode("utf-8", "replace")
                link = _link_entity(url, offset, length, users)
                if link is not None:
                    entities.append(link)
            elif tag == "pre":
                if same_span and last is not None and last["type"] == "code" and last.get("_lang"):
                    last["type"] = "pre"
                    last["language"] = last.pop("_lang")
                else:
                    entities.append({"type": "pre", "offset": offset, "length": length})
            elif tag == "code":
                if same_span and last is not None and last["type"] == "pre" and argument:
                    last["language"] = argument
                else:
                    entities.append(
                        {"type": "code", "offset": offset, "length": length, "_lang": argument}
                    )
            else:  # blockquote
                kind = "expandable_blockquote" if argument else "blockquote"
                entities.append({"type": kind, "offset": offset, "length": length})
        stack.pop()
        i += 1

    if stack:
        raise ParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    for entity in entities:
        entity.pop("_lang", None)
    if has_surrogate:
        raise ParseError(
            "Text contains invalid Unicode characters after decoding HTML entities, "
            "check for unmatched surrogate code units"
        )
    return bytes(out).decode("utf-8"), _sort_entities(entities)


_MD2_END_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "code": "Code",
    "pre": "Pre",
    "pre_code": "PreCode",
    "text_link": "TextUrl",
    "custom_emoji": "CustomEmoji",
}


def parse_markdown_v2(
    text: str, users: dict[int, Any] | None = None
) -> tuple[str, list[dict[str, Any]]]:
    """Port of the core of tdlib's ``parse_markdown_v2`` (blockquotes simplified)."""
    b = text.encode("utf-8")
    n = len(b)

    def at(i: int) -> int:
        return b[i] if i < n else 0

    out = bytearray()
    entities: list[dict[str, Any]] = []
    utf16 = 0
    # (kind, argument, utf16 offset, byte offset in input, byte position in output)
    stack: list[tuple[str, str, int, int, int]] = []
    quote_start: int | None = None
    i = 0
    while i < n:
        c = b[i]
        at_line_start = i == 0 or b[i - 1] == 0x0A
        if at_line_start and not stack:
            if c == 0x3E:  # '>' opens (or continues) a blockquote line
                if quote_start is None:
                    quote_start = utf16
                i += 1
                continue
            if quote_start is not None:
                # the newline that ended the quote belongs to it; trim it off like tdlib
                end = utf16 - 1 if out.endswith(b"\n") else utf16
                if end > quote_start:
                    entities.append(
                        {"type": "blockquote", "offset": quote_start, "length": end - quote_start}
                    )
                quote_start = None
        if c == 0x5C and 0 < at(i + 1) <= 126:  # backslash escape
            out.append(at(i + 1))
            utf16 += 1
            i += 2
            continue
        reserved = b"_*[]()~`>#+-=|{}.!"
        if stack and stack[-1][0] in ("code", "pre", "pre_code"):
            reserved = b"`"
        if c not in reserved:
            if (c & 0xC0) != 0x80:
                utf16 += 1 + (c >= 0xF0)
            out.append(c)
            i += 1
            continue
        top = stack[-1][0] if stack else None
        is_end = (
            (top == "bold" and c == 0x2A)
            or (top == "italic" and c == 0x5F and at(i + 1) != 0x5F)
            or (top == "code" and c == 0x60)
            or (
                top in ("pre", "pre_code") and c == 0x60 and at(i + 1) == 0x60 and at(i + 2) == 0x60
            )
            or (top in ("text_link", "custom_emoji") and c == 0x5D)
            or (top == "underline" and c == 0x5F and at(i + 1) == 0x5F)
            or (top == "strikethrough" and c == 0x7E)
            or (top == "spoiler" and c == 0x7C and at(i + 1) == 0x7C)
        )
        if not is_end:
            start = i
            argument = ""
            if c == 0x5F:
                kind = "italic"
                if at(i + 1) == 0x5F:
                    kind = "underline"
                    i += 1
            elif c == 0x2A:
                kind = "bold"
            elif c == 0x7E:
                kind = "strikethrough"
            elif c == 0x7C and at(i + 1) == 0x7C:
                kind = "spoiler"
                i += 1
            elif c == 0x5B:
                kind = "text_link"
            elif c == 0x21 and at(i + 1) == 0x5B:
                kind = "custom_emoji"
                i += 1
            elif c == 0x60:
                if at(i + 1) == 0x60 and at(i + 2) == 0x60:
                    i += 3
                    kind = "pre"
                    lang_end = i
                    while at(lang_end) not in _TD_SPACE and at(lang_end) != 0x60:
                        lang_end += 1
                    if i != lang_end and lang_end < n and at(lang_end) != 0x60:
                        kind = "pre_code"
                        argument = b[i:lang_end].decode("utf-8", "replace")
                        i = lang_end
                    if at(i) in (0x0A, 0x0D):
                        if at(i + 1) in (0x0A, 0x0D) and at(i) != at(i + 1):
                            i += 2
                        else:
                            i += 1
                    i -= 1
                else:
                    kind = "code"
            else:
                raise ParseError(
                    f"Character '{chr(c)}' is reserved and must be escaped with the preceding '\\'"
                )
            stack.append((kind, argument, utf16, start, len(out)))
            i += 1
            continue

        kind, argument, offset, _start, out_pos = stack.pop()
        skip = utf16 == offset
        entity: dict[str, Any] | None = None
        if kind in ("underline", "spoiler"):
            i += 1
        elif kind in ("pre", "pre_code"):
            i += 2
        elif kind in ("text_link", "custom_emoji"):
            url = ""
            if at(i + 1) != 0x28:
                url = bytes(out[out_pos:]).decode("utf-8", "replace")
            else:
                i += 2
                url_begin = i
                raw = bytearray()
                while i < n and at(i) != 0x29:
                    if at(i) == 0x5C and 0 < at(i + 1) <= 126:
                        raw.append(at(i + 1))
                        i += 2
                        continue
                    raw.append(at(i))
                    i += 1
                if at(i) != 0x29:
                    raise ParseError(f"Can't find end of a URL at byte offset {url_begin}")
                url = raw.decode("utf-8", "replace")
            if kind == "custom_emoji":
                match = re.fullmatch(r"tg://emoji\?id=(\d+)", url)
                if not match:
                    raise ParseError("Custom emoji entity must contain a tg://emoji URL")
                entity = {"type": "custom_emoji", "custom_emoji_id": match.group(1)}
            elif not skip:
                entity = _link_entity(url, offset, utf16 - offset, users)
        if not skip:
            if entity is None and kind not in ("text_link", "custom_emoji"):
                entity = {"type": "pre" if kind == "pre_code" else kind}
                if kind == "pre_code":
                    entity["language"] = argument
            if entity is not None:
                entity["offset"] = offset
                entity["length"] = utf16 - offset
                entities.append(entity)
        i += 1

    if stack:
        kind, _argument, _offset, start, _pos = stack[-1]
        raise ParseError(f"Can't find end of {_MD2_END_NAMES[kind]} entity at byte offset {start}")
    if quote_start is not None and utf16 > quote_start:
        entities.append(
            {"type": "blockquote", "offset": quote_start, "length": utf16 - quote_start}
        )
    return bytes(out).decode("utf-8"), _sort_entities(entities)


def parse_markdown(
    text: str, users: dict[int, Any] | None = None
) -> tuple[str, list[dict[str, Any]]]:
    """Port of tdlib's legacy ``parse_markdown`` (parse_mode "Markdown")."""
    b = text.encode("utf-8")
    n = len(b)

    def at(i: int) -> int:
        return b[i] if i < n else 0

    out = bytearray()
    entities: list[dict[str, Any]] = []
    utf16 = 0
    i = 0
    while i < n:
        c = b[i]
        if c == 0x5C and at(i + 1) in b"_*`[":
            out.append(at(i + 1))
            utf16 += 1
            i += 2
            continue
        if c not in b"_*`[":
            if (c & 0xC0) != 0x80:
                utf16 += 1 + (c >= 0xF0)
            out.append(c)
            i += 1
            continue
        begin = i
        end_char = 0x5D if c == 0x5B else c
        is_pre = False
        language = ""
        i += 1
        if c == 0x60 and at(i) == 0x60 and at(i + 1) == 0x60:
            i += 2
            is_pre = True
            lang_end = i
            while at(lang_end) not in _TD_SPACE and at(lang_end) != 0x60:
                lang_end += 1
            if i != lang_end and lang_end < n and at(lang_end) != 0x60:
                language = b[i:lang_end].decode("utf-8", "replace")
                i = lang_end
            if at(i) in (0x0A, 0x0D):
                i += 2 if at(i + 1) in (0x0A, 0x0D) and at(i) != at(i + 1) else 1
        offset = utf16
        out_pos = len(out)
        while i < n and (
            at(i) != end_char or (is_pre and not (at(i + 1) == 0x60 and at(i + 2) == 0x60))
        ):
            if (at(i) & 0xC0) != 0x80:
                utf16 += 1 + (at(i) >= 0xF0)
            out.append(at(i))
            i += 1
        if i >= n:
            raise ParseError(f"Can't find end of the entity starting at byte offset {begin}")
        if utf16 != offset:
            length = utf16 - offset
            if c == 0x5F:
                entities.append({"type": "italic", "offset": offset, "length": length})
            elif c == 0x2A:
                entities.append({"type": "bold", "offset": offset, "length": length})
            elif c == 0x5B:
                if at(i + 1) == 0x28:
                    i += 2
                    raw = bytearray()
                    while i < n and at(i) != 0x29:
                        raw.append(at(i))
                        i += 1
                    url = raw.decode("utf-8", "replace")
                else:
                    url = bytes(out[out_pos:]).decode("utf-8", "replace")
                link = _link_entity(url, offset, length, users)
                if link is not None:
                    entities.append(link)
            elif is_pre:
                entity = {"type": "pre", "offset": offset, "length": length}
                if language:
                    entity["language"] = language
                entities.append(entity)
            else:
                entities.append({"type": "code", "offset": offset, "length": length})
        if is_pre:
            i += 2
        i += 1
    return bytes(out).decode("utf-8"), _sort_entities(entities)


def _clean_and_trim(
    text: str, entities: list[dict[str, Any]], *, allow_empty: bool
) -> tuple[str, list[dict[str, Any]]]:
    """The parts of tdlib's fix_formatted_text that change what a bot gets back.

    '\\r' and some invisible characters are removed, other control characters become
    spaces, entities lose leading blanks and whitespace-only spans, and the text is
    trimmed of spaces and newlines.
    """
    out: list[str] = []
    new_at: list[int] = []  # old UTF-16 index -> new UTF-16 index
    pos = 0
    for ch in text:
        width = 2 if ord(ch) > 0xFFFF else 1
        new_at.extend([pos] * width)
        if ch == "\r" or "\u2028" <= ch <= "\u202e" or ch in "\u0333\u033f\u030a":
            continue
        if ord(ch) < 32 and ch != "\n":
            ch = " "
        out.append(ch)
        pos += width
    new_at.append(pos)
    text = "".join(out)
    cleaned: list[dict[str, Any]] = []
    for entity in entities:
        start, end = entity["offset"], entity["offset"] + entity["length"]
        entity = dict(entity, offset=new_at[start], length=new_at[end] - new_at[start])
        cleaned.append(entity)

    units = text.encode("utf-16-le")

    def unit(k: int) -> int:
        return int.from_bytes(units[2 * k : 2 * k + 2], "little")

    blank = {0x20, 0x0A}
    kept: list[dict[str, Any]] = []
    for entity in cleaned:
        start, end = entity["offset"], entity["offset"] + entity["length"]
        if entity["type"] not in _HIDDEN_DATA_ENTITIES:
            while start < end and unit(start) in blank:
                start += 1
            if all(unit(k) in blank for k in range(start, end)):
                continue
        if end > start:
            kept.append(dict(entity, offset=start, length=end - start))

    total = len(units) // 2
    last = total
    while last > 0 and unit(last - 1) in blank:
        last -= 1
    first_entity = min((e["offset"] for e in kept), default=last)
    first = 0
    while first < min(first_entity, last) and unit(first) in blank:
        first += 1
    if last <= first:
        if allow_empty:
            return "", []
        raise _bad("Message must be non-empty")
    trimmed = units[2 * first : 2 * last].decode("utf-16-le")
    result = []
    for entity in kept:
        start = max(entity["offset"], first)
        end = min(entity["offset"] + entity["length"], last)
        if end > start:
            result.append(dict(entity, offset=start - first, length=end - start))
    return trimmed, _sort_entities(result)


_AUTO_ENTITY_RE = re.compile(
    r"(?P<url>\bhttps?://[^\s<>\"]+[^\s<>\".,;:!?)\]}'])"
    r"|(?P<email>\b[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b)"
    r"|(?P<bot_command>(?<![\w/<>])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![\w/<>]))"
    r"|(?P<mention>(?<![\w@])@[A-Za-z0-9_]{4,32}\b)"
    r"|(?P<hashtag>(?<![\w#])#\w*[^\W\d]\w*)"
)


def _auto_entities(text: str, existing: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Entities Telegram detects by itself: URLs, e-mails, /commands, @mentions, #hashtags."""
    blocked = [
        (e["offset"], e["offset"] + e["length"])
        for e in existing
        if e["type"] in ("code", "pre", "text_link", "text_mention", "custom_emoji")
    ]
    found = []
    for match in _AUTO_ENTITY_RE.finditer(text):
        kind = match.lastgroup or "url"
        offset = utf16_len(text[: match.start()])
        length = utf16_len(match.group())
        if any(offset < end and start < offset + length for start, end in blocked):
            continue
        found.append({"type": kind, "offset": offset, "length": length})
    return found


@dataclass
class _FormattedText:
    text: str
    entities: list[dict[str, Any]]


def _format(
    raw: str,
    parse_mode: str,
    entities_json: Any,
    users: dict[int, Any],
) -> _FormattedText:
    """Parse text like Client::get_formatted_text (before the tdlib clean-up)."""
    if len(raw.encode("utf-8")) > MAX_RAW_TEXT_BYTES:
        raise _bad("Text is too long")
    mode = parse_mode.lower()
    if raw and mode and mode != "none":
        parser = {
            "html": parse_html,
            "markdownv2": parse_markdown_v2,
            "markdown": parse_markdown,
        }.get(mode)
        if parser is None:
            raise _bad("Unsupported parse_mode")
        try:
            text, entities = parser(raw, users)
        except ParseError as exc:
            raise _bad(f"Can't parse entities: {exc}") from None
        return _FormattedText(text, entities)
    entities = []
    if isinstance(entities_json, list):
        for item in entities_json:
            entity = _parse_input_entity(item, users)
            if entity is not None:
                entities.append(entity)
        total = utf16_len(raw)
        for entity in _sort_entities(entities):
            if entity["offset"] < 0 or entity["length"] < 0:
                raise _bad(f"Receive an entity with incorrect offset {entity['offset']}")
            if entity["offset"] > total:
                raise _bad(
                    f"Entity begins after the end of the text at UTF-16 offset {entity['offset']}"
                )
            if entity["offset"] + entity["length"] > total:
                raise _bad(
                    f"Entity beginning at UTF-16 offset {entity['offset']} ends after the end "
                    f"of the text at UTF-16 offset {entity['offset'] + entity['length']}"
                )
    return _FormattedText(raw, _sort_entities(entities))


def _parse_input_entity(item: Any, users: dict[int, Any]) -> dict[str, Any] | None:
    def fail(message: str) -> ApiError:
        return _bad(f"Can't parse MessageEntity: {message}")

    if not isinstance(item, dict):
        raise fail("expected an Object")
    for name in ("offset", "length"):
        if name not in item:
            raise fail(f'Can\'t find field "{name}"')
        if not isinstance(item[name], int) or isinstance(item[name], bool):
            raise fail(f'Field "{name}" must be of type Number')
    kind = item.get("type")
    if kind is None:
        raise fail('Can\'t find field "type"')
    if not isinstance(kind, str):
        raise fail('Field "type" must be of type String')
    entity: dict[str, Any] = {"type": kind, "offset": item["offset"], "length": item["length"]}
    simple = {
        "bold",
        "italic",
        "underline",
        "strikethrough",
        "spoiler",
        "code",
        "blockquote",
        "expandable_blockquote",
    }
    if kind in simple:
        return entity
    if kind == "pre":
        if item.get("language"):
            entity["language"] = str(item["language"])
        return entity
    if kind == "text_link":
        if "url" not in item:
            raise fail('Can\'t find field "url"')
        return _link_entity(str(item["url"]), item["offset"], item["length"], users)
    if kind == "text_mention":
        user = item.get("user")
        if not isinstance(user, dict) or "id" not in user:
            raise fail('Can\'t find field "user"')
        known = users.get(int(user["id"]))
        entity["user"] = known.to_dict() if known else user
        return entity
    if kind == "custom_emoji":
        entity["custom_emoji_id"] = str(item.get("custom_emoji_id", ""))
        return entity
    if kind in (
        "mention",
        "hashtag",
        "cashtag",
        "bot_command",
        "url",
        "email",
        "phone_number",
        "bank_card_number",
    ):
        return None  # re-detected by the server
    if not kind:
        raise fail("Type is not specified")
    raise fail("Unsupported type specified")


# --------------------------------------------------------------------------------------
# Public data types
# --------------------------------------------------------------------------------------


@dataclass
class RateLimits:
    """Telegram's documented broadcast limits; token buckets with the given bursts."""

    global_per_second: float = 30.0
    global_burst: int = 30
    private_per_second: float = 1.0
    private_burst: int = 3
    group_per_minute: float = 20.0
    group_burst: int = 20
    # Methods that count as "sending a message".
    methods: frozenset[str] = frozenset(
        {
            "sendMessage",
            "sendPhoto",
            "sendDocument",
            "sendLocation",
            "sendMediaGroup",
            "sendVideo",
            "sendAudio",
            "sendVoice",
            "sendSticker",
            "sendAnimation",
            "sendContact",
            "sendVenue",
            "sendPoll",
            "sendDice",
            "copyMessage",
            "forwardMessage",
        }
    )


@dataclass
class ApiRequest:
    """One HTTP call the bot made: canonical method name and decoded parameters."""

    method: str
    params: dict[str, Any]
    files: dict[str, tuple[str, int]] = field(default_factory=dict)  # name -> (filename, size)


@dataclass
class RejectedCall:
    """A call answered with an error that was not injected by the test."""

    method: str
    params: dict[str, Any]
    error_code: int
    description: str


@dataclass
class CallbackAnswer:
    query_id: str
    text: str | None
    show_alert: bool
    url: str | None = None
    cache_time: int = 0


@dataclass
class InjectedFault:
    """A rule made by fail_next()/delay_next(); consumed as matching calls arrive."""

    method: str | None
    chat_id: int | None
    error_code: int | None
    description: str | None
    retry_after: int | None
    times: int
    delay: float = 0.0
    process_after_delay: bool = True


@dataclass
class FakeStats:
    """Counters for assertions and benchmarks."""

    calls_by_method: Counter[str] = field(default_factory=Counter)
    # the method names exactly as the bot spelled them in the URL (the Bot API is case-insensitive,
    # a stricter server is not: tests check the documented spelling is used)
    methods_as_sent: Counter[str] = field(default_factory=Counter)
    too_many_requests_by_chat: Counter[int] = field(default_factory=Counter)
    updates_delivered: int = 0
    in_flight: int = 0
    max_in_flight: int = 0


@dataclass(eq=False)
class SentMessage:
    """A message the bot sent, kept up to date with later edits and deletion."""

    chat_id: int
    message_id: int
    method: str
    date: int
    text: str | None = None
    caption: str | None = None
    parse_mode: str | None = None
    entities: list[dict[str, Any]] = field(default_factory=list)
    reply_markup: dict[str, Any] | None = None
    photo: str | None = None  # file_id of the largest size
    document: str | None = None
    location: tuple[float, float] | None = None
    reply_to_message_id: int | None = None
    media_group_id: str | None = None
    message_thread_id: int | None = None  # the forum topic it was sent to
    copied_from: tuple[int, int] | None = None  # (chat_id, message_id) for copy/forward
    edits: list[dict[str, Any]] = field(default_factory=list)  # earlier states, oldest first
    deleted: bool = False
    raw: dict[str, Any] = field(default_factory=dict, repr=False)
    consumed: bool = field(default=False, repr=False)  # already returned by next_message/wait_for

    @property
    def content(self) -> str:
        """Text or caption, whichever the message has."""
        return self.text if self.text is not None else (self.caption or "")

    @property
    def button_rows(self) -> list[list[tuple[str, str | None]]]:
        """Inline (text, callback_data) or reply-keyboard (text, None) buttons by row."""
        markup = self.reply_markup or {}
        rows = markup.get("inline_keyboard") or markup.get("keyboard") or []
        result = []
        for row in rows:
            result.append(
                [
                    (b, None)
                    if isinstance(b, str)
                    else (str(b.get("text", "")), b.get("callback_data"))
                    for b in row
                ]
            )
        return result

    @property
    def buttons(self) -> list[tuple[str, str | None]]:
        return [button for row in self.button_rows for button in row]

    def button(self, text_or_data: str) -> tuple[str, str | None] | None:
        for text, data in self.buttons:
            if text_or_data in (text, data):
                return text, data
        return None

    def describe(self) -> str:
        body = self.content.replace("\n", "⏎")
        if len(body) > 160:
            body = body[:157] + "..."
        extras = []
        if self.photo:
            extras.append("photo")
        if self.location:
            extras.append(f"location={self.location}")
        if self.buttons:
            extras.append("buttons=" + ", ".join(f"[{t}|{d}]" for t, d in self.buttons))
        if self.edits:
            extras.append(f"edited×{len(self.edits)}")
        if self.deleted:
            extras.append("DELETED")
        suffix = f"  ({'; '.join(extras)})" if extras else ""
        return f"#{self.message_id} {self.method}: {body!r}{suffix}"


# --------------------------------------------------------------------------------------
# Internal state
# --------------------------------------------------------------------------------------


@dataclass
class _User:
    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None
    is_bot: bool = False
    started: bool = False
    blocked: bool = False
    deactivated: bool = False

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "is_bot": self.is_bot, "first_name": self.first_name}
        if self.last_name:
            data["last_name"] = self.last_name
        if self.username:
            data["username"] = self.username
        if self.language_code:
            data["language_code"] = self.language_code
        return data


@dataclass
class _Chat:
    id: int
    type: str  # private, group, supergroup, channel
    title: str | None = None
    username: str | None = None
    bot_status: str = "member"  # member, administrator, left, kicked
    members: set[int] = field(default_factory=set)
    admins: set[int] = field(default_factory=set)
    user: _User | None = None
    next_message_id: int = 1
    is_forum: bool = False  # a supergroup with topics
    migrated_to: int | None = None  # a group upgraded to this supergroup

    def to_dict(self) -> dict[str, Any]:
        if self.type == "private" and self.user is not None:
            data: dict[str, Any] = {"id": self.id, "first_name": self.user.first_name}
            if self.user.last_name:
                data["last_name"] = self.user.last_name
            if self.user.username:
                data["username"] = self.user.username
        else:
            data = {"id": self.id, "title": self.title or ""}
            if self.username:
                data["username"] = self.username
        data["type"] = self.type
        if self.is_forum:
            data["is_forum"] = True
        return data


@dataclass
class _Stored:
    data: dict[str, Any]
    from_bot: bool
    sent: SentMessage | None = None
    deleted: bool = False
    protected: bool = False


@dataclass
class _File:
    file_id: str
    file_unique_id: str
    data: bytes
    path: str


@dataclass
class _Query:
    user_id: int
    answered: bool = False


class _Params:
    """Request parameters as the Bot API sees them: strings, plus uploaded files."""

    def __init__(
        self,
        values: dict[str, str],
        files: dict[str, tuple[str, bytes, str]],
        alive: Callable[[], bool] = lambda: True,
    ) -> None:
        self.values = values
        self.files = files
        self.alive = alive  # False once the client has hung up

    def has(self, name: str) -> bool:
        return name in self.values and self.values[name] != ""

    def str(self, name: str) -> str:
        return self.values.get(name, "")

    def int(self, name: str, default: int = 0) -> int:
        raw = self.values.get(name, "").strip()
        match = re.match(r"^[+-]?\d+", raw)  # td::to_integer ignores trailing junk
        return int(match.group()) if match else default

    def float(self, name: str) -> float:
        try:
            return float(self.values.get(name, "").strip() or "0")
        except ValueError:
            return 0.0

    def bool(self, name: str) -> bool:
        return self.values.get(name, "").strip().lower() in ("true", "1", "yes")

    def json(self, name: str) -> Any:
        """Decoded JSON value; None when absent. Raises ValueError on malformed JSON."""
        raw = self.values.get(name, "")
        if raw == "":
            return None
        return json.loads(raw)


def _to_param(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


_INT_PARAMS = frozenset(
    {
        "chat_id",
        "from_chat_id",
        "message_id",
        "user_id",
        "reply_to_message_id",
        "offset",
        "limit",
        "timeout",
        "cache_time",
        "message_thread_id",
    }
)


def _decoded_params(values: dict[str, str]) -> dict[str, Any]:
    """Parameters for the request log: JSON fields decoded, integer ids as int."""
    decoded: dict[str, Any] = {}
    for name, value in values.items():
        if name in _INT_PARAMS and re.fullmatch(r"-?\d+", value):
            decoded[name] = int(value)
            continue
        if name in _JSON_PARAMS:
            try:
                decoded[name] = json.loads(value)
                continue
            except ValueError:
                pass
        decoded[name] = value
    return decoded


class _Bucket:
    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = time.monotonic()

    def wait_needed(self) -> float:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    def take(self) -> None:
        self.tokens -= 1


# --------------------------------------------------------------------------------------
# The fake server
# --------------------------------------------------------------------------------------


class FakeTelegram:
    """A Bot API server on 127.0.0.1 with helpers to play users and observe the bot."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        bot_username: str = "liaison_test_bot",
        *,
        bot_first_name: str = "Liaison Test Bot",
        rate_limits: bool | RateLimits = False,
        privacy_mode: bool = True,
        log_requests: bool = True,
    ) -> None:
        self.token = token
        self.bot_username = bot_username
        self.bot_id = int(token.split(":", 1)[0]) if token.split(":", 1)[0].isdigit() else 123456
        self.bot_first_name = bot_first_name
        self.limits = rate_limits if isinstance(rate_limits, RateLimits) else RateLimits()
        self.rate_limits = bool(rate_limits)
        # With privacy mode on, group messages reach the bot only if meant for it.
        self.privacy_mode = privacy_mode
        # Benchmarks can switch off the per-request log (sent/rejected are always kept).
        self.log_requests = log_requests

        self.sent: list[SentMessage] = []
        self.requests: list[ApiRequest] = []
        self.rejected: list[RejectedCall] = []
        self.injected_failures: list[RejectedCall] = []
        self.unanswered: list[RejectedCall] = []  # errors for clients that had hung up
        self.callback_answers: list[CallbackAnswer] = []
        self.chat_actions: list[tuple[int, str]] = []
        self.updates_confirmed = 0
        self.dropped_updates: list[dict[str, Any]] = []
        self.stats = FakeStats()
        self.webhook_url = ""
        self.commands: dict[tuple[str, str], list[dict[str, str]]] = {}
        self.menu_buttons: dict[int | None, dict[str, Any]] = {}
        self.descriptions: dict[str, dict[str, str]] = {}

        self._users: dict[int, _User] = {}
        self._chats: dict[int, _Chat] = {}
        self._messages: dict[tuple[int, int], _Stored] = {}
        self._files: dict[str, _File] = {}
        self._files_by_path: dict[str, _File] = {}
        self._queries: dict[str, _Query] = {}
        self._updates: list[dict[str, Any]] = []
        self._next_update_id = 1000
        self._allowed_updates: frozenset[str] | None = None
        self._poll_generation = 0
        self._poll_abort_reason = ""
        self._faults: list[InjectedFault] = []
        self._waiters: set[asyncio.Future[None]] = set()
        self._scan_start = 0
        self._photo_sets: dict[str, list[dict[str, Any]]] = {}
        self._buckets: dict[Any, _Bucket] = {}
        self._counter = itertools.count(1)
        self._album_ids = itertools.count(1)  # media_group_id of albums users send
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        # Bot API method names are case-insensitive; handlers are the _m_<method> coroutines.
        self._methods: dict[str, Callable[[_Params], Any]] = {
            name[3:].lower(): getattr(self, name) for name in dir(self) if name.startswith("_m_")
        }
        self._canonical = {
            name[3:].lower(): name[3:] for name in dir(self) if name.startswith("_m_")
        }

    # ---------------------------------------------------------------- lifecycle

    async def start(self, port: int = 0) -> None:
        """Listen on 127.0.0.1 (a free port unless one is given)."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_route("GET", "/file/bot{token}/{path:.+}", self._handle_file)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        server = site._server
        assert server is not None and server.sockets  # type: ignore[union-attr]
        self._port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._closing = False

    async def stop(self) -> None:
        """Answer pending long polls and delays, then shut the server down."""
        self._closing = True
        self._notify()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeTelegram:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("FakeTelegram is not started")
        return self._port

    @property
    def base_url(self) -> str:
        """For ``Bot(token, base_url=...)``: PTB appends the token."""
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        """For ``Bot(token, base_file_url=...)`` so File.download_* reaches the fake."""
        return f"http://127.0.0.1:{self.port}/file/bot"

    @property
    def bot_user(self) -> dict[str, Any]:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.bot_first_name,
            "username": self.bot_username,
        }

    # ---------------------------------------------------------------- world setup

    def add_user(
        self,
        user_id: int,
        first_name: str,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "zh-hans",
        *,
        started: bool = False,
    ) -> dict[str, Any]:
        """A user the bot can know of; it may message them only after they write first."""
        user = _User(user_id, first_name, last_name, username, language_code, started=started)
        self._users[user_id] = user
        chat = self._chats.get(user_id)
        if chat is None:
            self._chats[user_id] = _Chat(user_id, "private", user=user)
        else:
            chat.user = user
        return user.to_dict()

    def add_group(
        self,
        chat_id: int,
        title: str,
        *,
        supergroup: bool | None = None,
        bot_is_member: bool = True,
        bot_is_admin: bool = False,
        members: Iterable[int] = (),
        username: str | None = None,
        forum: bool = False,
    ) -> dict[str, Any]:
        """A group; ids starting with -100 are supergroups unless told otherwise. A ``forum``
        supergroup has topics: messages in one carry its message_thread_id."""
        if supergroup is None:
            supergroup = str(chat_id).startswith("-100")
        status = "administrator" if bot_is_admin else ("member" if bot_is_member else "left")
        chat = _Chat(
            chat_id,
            "supergroup" if supergroup else "group",
            title=title,
            username=username,
            bot_status=status,
            members=set(members),
            is_forum=forum and supergroup,
        )
        self._chats[chat_id] = chat
        return chat.to_dict()

    def migrate_group(self, chat_id: int, new_chat_id: int) -> dict[str, Any]:
        """The group is upgraded to a supergroup with a new id; sending to the old id then fails
        with 400 and ``parameters.migrate_to_chat_id`` (ResponseParameters)."""
        old = self._chats[chat_id]
        if old.type != "group":
            raise AssertionError("only basic groups are upgraded to supergroups")
        new = _Chat(
            new_chat_id,
            "supergroup",
            title=old.title,
            username=old.username,
            bot_status=old.bot_status,
            members=set(old.members),
            admins=set(old.admins),
        )
        self._chats[new_chat_id] = new
        old.migrated_to = new_chat_id
        return new.to_dict()

    def add_channel(
        self,
        chat_id: int,
        title: str,
        bot_is_member: bool = True,
        *,
        bot_is_admin: bool | None = None,
        username: str | None = None,
    ) -> dict[str, Any]:
        """A channel; bots are added to channels as administrators."""
        admin = bot_is_member if bot_is_admin is None else bot_is_admin
        status = "administrator" if admin else ("member" if bot_is_member else "left")
        chat = _Chat(chat_id, "channel", title=title, username=username, bot_status=status)
        self._chats[chat_id] = chat
        return chat.to_dict()

    def set_bot_status(self, chat_id: int, status: str) -> None:
        """Change the bot's membership: member, administrator, left or kicked."""
        self._chats[chat_id].bot_status = status

    def block(self, user_id: int, *, notify: bool = True) -> None:
        """The user blocks the bot (Telegram then sends a my_chat_member update)."""
        user = self._user(user_id)
        user.blocked = True
        if notify:
            self._my_chat_member(user, "member", "kicked")

    def unblock(self, user_id: int, *, notify: bool = True) -> None:
        user = self._user(user_id)
        user.blocked = False
        if notify:
            self._my_chat_member(user, "kicked", "member")

    def deactivate(self, user_id: int) -> None:
        """The account is deleted: every call for it fails with "user is deactivated"."""
        self._user(user_id).deactivated = True

    def user(self, user_id: int) -> dict[str, Any]:
        return self._user(user_id).to_dict()

    # ---------------------------------------------------------------- playing users

    def send_text(
        self,
        user_id: int,
        text: str,
        reply_to: SentMessage | int | None = None,
        *,
        chat_id: int | None = None,
        thread_id: int | None = None,
    ) -> dict[str, Any]:
        """The user sends text (to the bot, or to ``chat_id``, in its forum topic ``thread_id``);
        returns the Update dict.

        Commands, mentions, URLs and hashtags get entities as real clients produce them.
        For group messages hidden by privacy mode the returned update_id is None.
        """
        content: dict[str, Any] = {"text": text}
        if thread_id is not None:
            chat = self._chats.get(user_id if chat_id is None else chat_id)
            if chat is None or not chat.is_forum:
                raise AssertionError("topics exist only in forum supergroups (add_group(forum=))")
            content["message_thread_id"] = thread_id
            content["is_topic_message"] = True
        entities = _auto_entities(text, [])
        if entities:
            content["entities"] = entities
        return self._user_message(user_id, content, reply_to, chat_id)

    def send_group_text(
        self,
        chat_id: int,
        user_id: int,
        text: str,
        *,
        mention_bot: bool = False,
        reply_to: SentMessage | int | None = None,
    ) -> dict[str, Any]:
        """A group message, optionally addressed to the bot with an @mention."""
        if mention_bot:
            text = f"@{self.bot_username} {text}"
        return self.send_text(user_id, text, reply_to, chat_id=chat_id)

    def send_photo(
        self,
        user_id: int,
        caption: str | None = None,
        reply_to: SentMessage | int | None = None,
        *,
        data: bytes | None = None,
        chat_id: int | None = None,
        media_group_id: str | None = None,
    ) -> dict[str, Any]:
        """A photo from a person; `media_group_id`: one photo of an album (Telegram delivers an
        album as one message per photo, each carrying the album's id)."""
        content: dict[str, Any] = {"photo": self._photo_sizes(data)}
        if media_group_id:
            content["media_group_id"] = media_group_id
        if caption:
            content["caption"] = caption
            entities = _auto_entities(caption, [])
            if entities:
                content["caption_entities"] = entities
        return self._user_message(user_id, content, reply_to, chat_id)

    def send_album(
        self, user_id: int, count: int, caption: str | None = None
    ) -> list[dict[str, Any]]:
        """An album of `count` photos (2-10, as Telegram allows), the caption on the first."""
        assert 2 <= count <= 10, "an album has 2 to 10 photos"
        group = str(10**17 + next(self._album_ids))
        return [
            self.send_photo(user_id, caption if i == 0 else None, media_group_id=group)
            for i in range(count)
        ]

    def send_location(
        self, user_id: int, lat: float, lon: float, *, chat_id: int | None = None
    ) -> dict[str, Any]:
        return self._user_message(
            user_id, {"location": {"latitude": lat, "longitude": lon}}, None, chat_id
        )

    def send_contact(
        self,
        user_id: int,
        phone: str,
        first_name: str | None = None,
        *,
        own: bool = True,
        chat_id: int | None = None,
    ) -> dict[str, Any]:
        """A shared contact; ``own`` makes it the sender's own (request_contact button)."""
        user = self._user(user_id)
        contact: dict[str, Any] = {
            "phone_number": phone,
            "first_name": first_name or user.first_name,
        }
        if own:
            contact["user_id"] = user_id
            if user.last_name:
                contact["last_name"] = user.last_name
        return self._user_message(user_id, {"contact": contact}, None, chat_id)

    def send_sticker(self, user_id: int, emoji: str = "😀", *, chat_id: int | None = None) -> dict:
        file = self._new_file("stickers", b"RIFF" + secrets.token_bytes(200), ".webp")
        sticker = {
            "file_id": file.file_id,
            "file_unique_id": file.file_unique_id,
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
            "file_size": len(file.data),
        }
        return self._user_message(user_id, {"sticker": sticker}, None, chat_id)

    def send_voice(
        self,
        user_id: int,
        duration: int = 3,
        *,
        data: bytes | None = None,
        chat_id: int | None = None,
    ) -> dict[str, Any]:
        file = self._new_file("voice", data or b"OggS" + secrets.token_bytes(400), ".oga")
        voice = {
            "file_id": file.file_id,
            "file_unique_id": file.file_unique_id,
            "duration": duration,
            "mime_type": "audio/ogg",
            "file_size": len(file.data),
        }
        return self._user_message(user_id, {"voice": voice}, None, chat_id)

    def send_document(
        self,
        user_id: int,
        file_name: str = "file.pdf",
        data: bytes | None = None,
        mime_type: str = "application/pdf",
        caption: str | None = None,
        *,
        chat_id: int | None = None,
    ) -> dict[str, Any]:
        file = self._new_file("documents", data or b"%PDF-1.4\n" + secrets.token_bytes(300), "")
        document = {
            "file_name": file_name,
            "mime_type": mime_type,
            "file_id": file.file_id,
            "file_unique_id": file.file_unique_id,
            "file_size": len(file.data),
        }
        content: dict[str, Any] = {"document": document}
        if caption:
            content["caption"] = caption
        return self._user_message(user_id, content, None, chat_id)

    def send_video(
        self,
        user_id: int,
        duration: int = 5,
        caption: str | None = None,
        *,
        chat_id: int | None = None,
    ) -> dict[str, Any]:
        file = self._new_file(
            "videos", b"\x00\x00\x00\x18ftypmp42" + secrets.token_bytes(600), ".mp4"
        )
        video = {
            "file_id": file.file_id,
            "file_unique_id": file.file_unique_id,
            "width": 640,
            "height": 360,
            "duration": duration,
            "mime_type": "video/mp4",
            "file_size": len(file.data),
        }
        content: dict[str, Any] = {"video": video}
        if caption:
            content["caption"] = caption
        return self._user_message(user_id, content, None, chat_id)

    def edit_text(
        self, user_id: int, message_id: int, text: str, *, chat_id: int | None = None
    ) -> dict:
        """The user edits one of their text messages (an edited_message update)."""
        chat_id = user_id if chat_id is None else chat_id
        stored = self._messages.get((chat_id, message_id))
        if stored is None or stored.from_bot or stored.data.get("from", {}).get("id") != user_id:
            raise AssertionError(f"user {user_id} has no message {message_id} in chat {chat_id}")
        stored.data["text"] = text
        stored.data.pop("entities", None)
        entities = _auto_entities(text, [])
        if entities:
            stored.data["entities"] = entities
        stored.data["edit_date"] = int(time.time())
        kind = "edited_channel_post" if self._chats[chat_id].type == "channel" else "edited_message"
        return self._enqueue(kind, copy.deepcopy(stored.data))

    def press(
        self,
        user_id: int,
        message: SentMessage | int,
        button: str,
        *,
        chat_id: int | None = None,
        inaccessible: bool = False,
    ) -> dict[str, Any]:
        """Press an inline button (matched by text or callback_data) on a bot message.

        The button must be on the message's current markup, and the message must have
        been sent by the bot into a chat the user is in. With ``inaccessible`` the query
        carries an InaccessibleMessage (chat, message_id, date 0), as Telegram sends for a
        message too old for its content to be available.
        """
        stored = self._stored_for_press(user_id, message, chat_id)
        markup = stored.data.get("reply_markup") or {}
        rows = markup.get("inline_keyboard") or []
        found = None
        for row in rows:
            for candidate in row:
                if button in (candidate.get("text"), candidate.get("callback_data")):
                    found = candidate
                    break
            if found:
                break
        sent = stored.sent
        if found is None:
            listing = sent.describe() if sent else json.dumps(stored.data, ensure_ascii=False)
            raise AssertionError(f"no inline button {button!r} on message {listing}")
        if "callback_data" not in found:
            raise AssertionError(
                f"button {found!r} has no callback_data; pressing it sends nothing"
            )
        if inaccessible:
            stub = {key: stored.data[key] for key in ("chat", "message_id")} | {"date": 0}
            return self._callback_query(user_id, stub, found["callback_data"])
        return self._callback_query(user_id, stored.data, found["callback_data"])

    def press_raw(
        self, user_id: int, message_id: int, data: str, *, chat_id: int | None = None
    ) -> dict[str, Any]:
        """A forged callback query with arbitrary data (as a malicious client could send)."""
        self._touch(self._user(user_id))
        chat_id = user_id if chat_id is None else chat_id
        stored = self._messages.get((chat_id, message_id))
        if stored is not None and not stored.deleted:
            message = copy.deepcopy(stored.data)
        else:
            chat = self._chats.get(chat_id)
            chat_dict = chat.to_dict() if chat else {"id": chat_id, "type": "private"}
            message = {"chat": chat_dict, "message_id": message_id, "date": 0}
        return self._callback_query(user_id, message, data)

    # ---------------------------------------------------------------- observing the bot

    def messages_to(self, chat_id: int, *, include_deleted: bool = True) -> list[SentMessage]:
        return [m for m in self.sent if m.chat_id == chat_id and (include_deleted or not m.deleted)]

    def last_to(self, chat_id: int) -> SentMessage | None:
        messages = self.messages_to(chat_id)
        return messages[-1] if messages else None

    def message(self, chat_id: int, message_id: int) -> SentMessage | None:
        stored = self._messages.get((chat_id, message_id))
        return stored.sent if stored else None

    def unconsumed(self, chat_id: int | None = None) -> list[SentMessage]:
        return [
            m
            for m in itertools.islice(self.sent, self._first_unconsumed(), None)
            if not m.consumed and (chat_id is None or m.chat_id == chat_id)
        ]

    def consume_all(self, chat_id: int | None = None) -> list[SentMessage]:
        """Mark everything sent so far (to ``chat_id``) as seen; returns those messages."""
        pending = self.unconsumed(chat_id)
        for m in pending:
            m.consumed = True
        return pending

    def _first_unconsumed(self) -> int:
        """Index before which everything is consumed (keeps waiting O(new messages))."""
        i = self._scan_start
        while i < len(self.sent) and self.sent[i].consumed:
            i += 1
        self._scan_start = i
        return i

    async def next_message(self, chat_id: int, timeout: float = 5.0) -> SentMessage:  # noqa: ASYNC109
        """The next message to ``chat_id`` not yet returned by next_message/wait_for."""
        return await self.wait_for(chat_id=chat_id, timeout=timeout)

    async def wait_for(
        self,
        predicate: Callable[[SentMessage], bool] | None = None,
        *,
        chat_id: int | None = None,
        text_contains: str | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109 - a deadline for the awaited message, by design
    ) -> SentMessage:
        """The first unconsumed message matching all filters, waiting for it if needed."""

        def match(m: SentMessage) -> bool:
            return (
                (chat_id is None or m.chat_id == chat_id)
                and (text_contains is None or text_contains in m.content)
                and (predicate is None or predicate(m))
            )

        found: list[SentMessage] = []

        def ready() -> bool:
            for m in itertools.islice(self.sent, self._first_unconsumed(), None):
                if not m.consumed and match(m):
                    found.append(m)
                    return True
            return False

        wanted = [f"chat_id={chat_id}" if chat_id is not None else "any chat"]
        if text_contains is not None:
            wanted.append(f"text containing {text_contains!r}")
        if predicate is not None:
            wanted.append("matching the predicate")
        await self.wait_until(
            ready, timeout, what=f"a message to {' '.join(wanted)}", chat_id=chat_id
        )
        found[0].consumed = True
        return found[0]

    async def wait_until(
        self,
        condition: Callable[[], bool],
        timeout: float = 5.0,  # noqa: ASYNC109 - a deadline for the condition, by design
        *,
        what: str = "the condition",
        chat_id: int | None = None,
    ) -> None:
        """Wait until ``condition()`` holds; it is re-checked on every change in the fake."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not condition():
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(
                    f"timed out after {timeout}s waiting for {what}\n{self.dump(chat_id)}"
                )
            await self._wait_change(remaining)

    async def expect_no_message(self, chat_id: int | None = None, within: float = 0.3) -> None:
        """Fail if a new (unconsumed) message to ``chat_id`` appears within ``within`` s."""
        try:
            message = await self.wait_for(chat_id=chat_id, timeout=within)
        except AssertionError:
            return
        raise AssertionError(f"unexpected message {message.describe()}\n{self.dump(chat_id)}")

    def dump(self, chat_id: int | None = None) -> str:
        """A readable account of what the bot sent (to ``chat_id``) and what failed."""
        messages = self.sent if chat_id is None else self.messages_to(chat_id)
        lines = [f"sent to {'all chats' if chat_id is None else chat_id} ({len(messages)}):"]
        for m in messages[-30:]:
            seen = " " if m.consumed else "*"
            lines.append(f"  {seen} chat {m.chat_id} {m.describe()}")
        if self.rejected:
            lines.append(f"rejected calls ({len(self.rejected)}):")
            for r in self.rejected[-10:]:
                lines.append(f"    {r.method} -> {r.error_code} {r.description}")
        lines.append(
            f"pending updates: {len(self._updates)}; confirmed up to {self.updates_confirmed}"
        )
        return "\n".join(lines)

    def calls(self, method: str) -> list[ApiRequest]:
        """Logged requests of one method (case-insensitive)."""
        return [r for r in self.requests if r.method.lower() == method.lower()]

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        return list(self._updates)

    def file_bytes(self, file_id: str) -> bytes:
        """The content of a file the bot uploaded (a photo's largest size, a document)."""
        return self._files[file_id].data

    def clear_observations(self) -> None:
        """Forget sent/requests/rejected/answers (the world state is kept)."""
        self.sent.clear()
        self._scan_start = 0
        self.requests.clear()
        self.rejected.clear()
        self.injected_failures.clear()
        self.callback_answers.clear()
        self.chat_actions.clear()

    # ---------------------------------------------------------------- fault injection

    def fail_next(
        self,
        method: str | None = None,
        chat_id: int | None = None,
        error_code: int = 500,
        description: str | None = None,
        retry_after: int | None = None,
        times: int = 1,
    ) -> InjectedFault:
        """Make the next ``times`` matching calls fail with the given error."""
        if error_code == 429 and retry_after is None:
            retry_after = 1
        if description is None:
            description = {
                400: "Bad Request: injected failure",
                403: "Forbidden: bot was blocked by the user",
                409: "Conflict: injected failure",
                429: f"Too Many Requests: retry after {retry_after}",
                500: "Internal Server Error",
                502: "Bad Gateway",
            }.get(error_code, "Injected failure")
        fault = InjectedFault(method, chat_id, error_code, description, retry_after, times)
        self._faults.append(fault)
        return fault

    def delay_next(
        self,
        seconds: float,
        method: str | None = None,
        chat_id: int | None = None,
        times: int = 1,
        *,
        process: bool = True,
    ) -> InjectedFault:
        """Hold matching calls for ``seconds`` (longer than the client timeout = TimedOut).

        With ``process`` the call still takes effect afterwards, like a real request
        that timed out on the client but reached Telegram.
        """
        fault = InjectedFault(method, chat_id, None, None, None, times, seconds, process)
        self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        self._faults.clear()

    # ---------------------------------------------------------------- HTTP layer

    async def _handle(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        raw_method = request.match_info["method"]
        if token != self.token:
            if re.fullmatch(r"\d+:[\w-]+", token):
                return self._json(ApiError(401, "Unauthorized").to_json(), 401)
            return self._json(ApiError(404, "Not Found").to_json(), 404)
        self.stats.in_flight += 1
        self.stats.max_in_flight = max(self.stats.max_in_flight, self.stats.in_flight)
        try:
            return await self._dispatch(request, raw_method)
        finally:
            self.stats.in_flight -= 1

    async def _dispatch(self, request: web.Request, raw_method: str) -> web.Response:
        name = raw_method.lower()
        method = self._canonical.get(name, raw_method)
        try:
            values, files = await self._read_params(request)
        except ApiError as exc:
            return self._json(exc.to_json(), exc.code)

        def alive() -> bool:
            return request.transport is not None and not request.transport.is_closing()

        params = _Params(values, files, alive)
        if self.log_requests:
            self.requests.append(
                ApiRequest(
                    method,
                    _decoded_params(values),
                    {k: (v[0], len(v[1])) for k, v in files.items()},
                )
            )
        self.stats.calls_by_method[method] += 1
        self.stats.methods_as_sent[raw_method] += 1
        handler = self._methods.get(name)
        try:
            if handler is None:
                raise ApiError(404, "Not Found")
            await self._apply_faults(method, params)
            if self.rate_limits and method in self.limits.methods:
                self._check_rate(method, params)
            result = await handler(params)
            description = None
            if isinstance(result, tuple):
                result, description = result
            body: dict[str, Any] = {"ok": True, "result": result}
            if description:
                body["description"] = description
            return self._json(body, 200)
        except ApiError as exc:
            record = RejectedCall(method, _decoded_params(values), exc.code, exc.description)
            if exc.injected:
                self.injected_failures.append(record)
            elif not alive():
                # e.g. a long poll the client abandoned, then aborted by its next getUpdates
                self.unanswered.append(record)
            else:
                self.rejected.append(record)
            if exc.code == 429:
                chat_key = params.int("chat_id") if params.has("chat_id") else 0
                self.stats.too_many_requests_by_chat[chat_key] += 1
            return self._json(exc.to_json(), exc.code)

    async def _read_params(
        self, request: web.Request
    ) -> tuple[dict[str, str], dict[str, tuple[str, bytes, str]]]:
        values: dict[str, str] = dict(request.query)
        files: dict[str, tuple[str, bytes, str]] = {}
        if request.method != "POST" or not request.can_read_body:
            return values, files
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                raise ApiError(
                    400, "Bad Request: can't parse JSON encoded request parameters"
                ) from None
            if not isinstance(body, dict):
                raise ApiError(400, "Bad Request: can't parse JSON encoded request parameters")
            for key, value in body.items():
                converted = _to_param(value)
                if converted is not None:
                    values[key] = converted
            return values, files
        form = await request.post()
        for key, value in form.items():
            if isinstance(value, web.FileField):
                files[key] = (value.filename, value.file.read(), value.content_type)
            else:
                values[key] = str(value)
        return values, files

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return self._json(ApiError(401, "Unauthorized").to_json(), 401)
        file = self._files_by_path.get(request.match_info["path"])
        if file is None:
            return self._json(ApiError(404, "Not Found").to_json(), 404)
        return web.Response(body=file.data, content_type="application/octet-stream")

    @staticmethod
    def _json(body: dict[str, Any], status: int) -> web.Response:
        return web.Response(
            text=json.dumps(body, ensure_ascii=False),
            status=status,
            content_type="application/json",
        )

    async def _apply_faults(self, method: str, params: _Params) -> None:
        chat_id = params.int("chat_id") if params.has("chat_id") else None
        for fault in list(self._faults):
            if fault.method is not None and fault.method.lower() != method.lower():
                continue
            if fault.chat_id is not None and fault.chat_id != chat_id:
                continue
            fault.times -= 1
            if fault.times <= 0:
                self._faults.remove(fault)
            if fault.delay:
                await self._sleep(fault.delay)
                if not fault.process_after_delay:
                    raise ApiError(500, "Internal Server Error: request dropped", injected=True)
            if fault.error_code is not None:
                raise ApiError(
                    fault.error_code,
                    fault.description or "",
                    retry_after=fault.retry_after,
                    injected=True,
                )
            return

    def _check_rate(self, method: str, params: _Params) -> None:
        limits = self.limits
        try:
            chat = self._resolve_chat(params.str("chat_id"))
        except ApiError:
            chat = None  # the method itself will report the bad chat
        buckets = [
            self._bucket("global", limits.global_per_second, limits.global_burst),
        ]
        if chat is not None:
            if chat.type == "private":
                buckets.append(
                    self._bucket(chat.id, limits.private_per_second, limits.private_burst)
                )
            else:
                buckets.append(
                    self._bucket(chat.id, limits.group_per_minute / 60, limits.group_burst)
                )
        wait = max(bucket.wait_needed() for bucket in buckets)
        if wait > 0:
            raise _too_many(max(1, math.ceil(wait)))
        for bucket in buckets:
            bucket.take()

    def _bucket(self, key: Any, rate: float, burst: int) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(rate, burst)
        return bucket

    # ---------------------------------------------------------------- change notification

    def _notify(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()

    async def _wait_change(self, seconds: float) -> None:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.add(waiter)
        try:
            await asyncio.wait({waiter}, timeout=seconds)
        finally:
            self._waiters.discard(waiter)

    async def _sleep(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while not self._closing and loop.time() < deadline:
            await self._wait_change(deadline - loop.time())

    # ---------------------------------------------------------------- helpers

    def _user(self, user_id: int) -> _User:
        user = self._users.get(user_id)
        if user is None:
            raise AssertionError(f"unknown user {user_id}; call add_user() first")
        return user

    def _touch(self, user: _User) -> None:
        """The bot now knows the user (they appeared in an update)."""
        if user.id not in self._chats:
            self._chats[user.id] = _Chat(user.id, "private", user=user)

    def _resolve_chat(self, chat_id_str: str) -> _Chat:
        if not chat_id_str:
            raise _bad("chat_id is empty")
        if chat_id_str.startswith("@"):
            name = chat_id_str[1:].lower()
            for chat in self._chats.values():
                if chat.type != "private" and (chat.username or "").lower() == name:
                    return chat
            raise _bad("chat not found")
        match = re.match(r"^[+-]?\d+", chat_id_str.strip())
        chat = self._chats.get(int(match.group())) if match else None
        if chat is None:
            raise _bad("chat not found")
        return chat

    def _chat_for_write(self, chat_id_str: str, *, sending: bool = True) -> _Chat:
        chat = self._resolve_chat(chat_id_str)
        if chat.migrated_to is not None:
            raise ApiError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                migrate_to_chat_id=chat.migrated_to,
            )
        if chat.type == "private":
            user = chat.user
            assert user is not None
            if user.deactivated:
                raise _forbidden("user is deactivated")
            if user.blocked:
                raise _forbidden("bot was blocked by the user")
            if sending and not user.started:
                raise _forbidden("bot can't initiate conversation with a user")
            return chat
        kind = {"group": "group", "supergroup": "supergroup", "channel": "channel"}[chat.type]
        if chat.bot_status == "kicked":
            raise _forbidden(f"bot was kicked from the {kind} chat")
        if chat.bot_status == "left":
            raise _forbidden(f"bot is not a member of the {kind} chat")
        if chat.type == "channel" and chat.bot_status != "administrator":
            raise _bad("need administrator rights in the channel chat")
        return chat

    def _photo_sizes(self, data: bytes | None = None) -> list[dict[str, Any]]:
        sizes = []
        for width, height, nbytes in ((90, 67, 1200), (320, 240, 9000), (800, 600, 40000)):
            blob = b"\xff\xd8\xff\xe0" + secrets.token_bytes(nbytes)
            if width == 800 and data is not None:
                blob = data
            file = self._new_file("photos", blob, ".jpg")
            sizes.append(
                {
                    "file_id": file.file_id,
                    "file_unique_id": file.file_unique_id,
                    "file_size": len(blob),
                    "width": width,
                    "height": height,
                }
            )
        for size in sizes:  # sending any size's file_id again reuses the whole photo
            self._photo_sets[size["file_id"]] = sizes
        return sizes

    def _new_file(self, folder: str, data: bytes, suffix: str) -> _File:
        n = next(self._counter)
        prefix = {"photos": "AgACAgUAAxkBAAI", "documents": "BQACAgUAAxkBAAI"}.get(
            folder, "CQACAgUAAxkBAAI"
        )
        file_id = f"{prefix}{n:06d}{secrets.token_urlsafe(24)}"
        file = _File(
            file_id, f"AQAD{n:06d}{secrets.token_urlsafe(6)}", data, f"{folder}/file_{n}{suffix}"
        )
        self._files[file_id] = file
        self._files_by_path[file.path] = file
        return file

    def _enqueue(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        allowed = self._allowed_updates
        if allowed is not None and kind not in allowed:
            update = {"update_id": None, kind: payload}
            self.dropped_updates.append(update)
            return update
        if allowed is None and kind in _DEFAULT_EXCLUDED_UPDATES:
            update = {"update_id": None, kind: payload}
            self.dropped_updates.append(update)
            return update
        update = {"update_id": self._next_update_id, kind: payload}
        self._next_update_id += 1
        self._updates.append(update)
        self._notify()
        return update

    def _user_message(
        self,
        user_id: int,
        content: dict[str, Any],
        reply_to: SentMessage | int | None,
        chat_id: int | None,
    ) -> dict[str, Any]:
        user = self._user(user_id)
        if user.deactivated:
            raise AssertionError(f"user {user_id} is deactivated and cannot send messages")
        self._touch(user)
        chat = self._chats.get(user_id if chat_id is None else chat_id)
        if chat is None:
            raise AssertionError(f"unknown chat {chat_id}; call add_group()/add_channel() first")
        if chat.type == "private":
            if chat.id != user_id:
                raise AssertionError("a user can only write to the bot in their own private chat")
            if user.blocked:  # restarting a blocked bot unblocks it first
                self.unblock(user_id)
            user.started = True  # writing to a bot allows it to answer, as on Telegram
        else:
            chat.members.add(user_id)
        message: dict[str, Any] = {
            "message_id": self._next_message_id(chat),
            "from": user.to_dict(),
            "chat": chat.to_dict(),
            "date": int(time.time()),
        }
        reply_stored = None
        if reply_to is not None:
            reply_id = reply_to.message_id if isinstance(reply_to, SentMessage) else int(reply_to)
            reply_stored = self._messages.get((chat.id, reply_id))
            if reply_stored is None or reply_stored.deleted:
                raise AssertionError(f"no message {reply_id} in chat {chat.id} to reply to")
            quoted = copy.deepcopy(reply_stored.data)
            quoted.pop("reply_to_message", None)
            message["reply_to_message"] = quoted
        message.update(content)
        self._messages[(chat.id, message["message_id"])] = _Stored(message, from_bot=False)
        if chat.type != "private" and not self._group_message_visible(chat, message, reply_stored):
            return {"update_id": None, "message": copy.deepcopy(message)}
        return self._enqueue("message", copy.deepcopy(message))

    def _group_message_visible(
        self, chat: _Chat, message: dict[str, Any], reply_stored: _Stored | None
    ) -> bool:
        if not self.privacy_mode or chat.bot_status == "administrator":
            return True
        if chat.bot_status in ("left", "kicked"):
            return False
        if reply_stored is not None and reply_stored.from_bot:
            return True
        text = message.get("text") or message.get("caption") or ""
        entities = message.get("entities") or message.get("caption_entities") or []
        encoded = text.encode("utf-16-le")
        for entity in entities:
            start, length = entity["offset"], entity["length"]
            piece = encoded[2 * start : 2 * (start + length)].decode("utf-16-le")
            if entity["type"] == "mention" and piece[1:].lower() == self.bot_username.lower():
                return True
            if entity["type"] == "bot_command":
                target = piece.partition("@")[2]
                if not target or target.lower() == self.bot_username.lower():
                    return True
        return False

    def _my_chat_member(self, user: _User, old: str, new: str) -> None:
        now = int(time.time())
        self._enqueue(
            "my_chat_member",
            {
                "chat": self._chats[user.id].to_dict(),
                "from": user.to_dict(),
                "date": now,
                "old_chat_member": {"user": self.bot_user, "status": old}
                | ({"until_date": 0} if old == "kicked" else {}),
                "new_chat_member": {"user": self.bot_user, "status": new}
                | ({"until_date": 0} if new == "kicked" else {}),
            },
        )

    def _stored_for_press(
        self, user_id: int, message: SentMessage | int, chat_id: int | None
    ) -> _Stored:
        if isinstance(message, SentMessage):
            chat_id, message_id = message.chat_id, message.message_id
        else:
            chat_id, message_id = (user_id if chat_id is None else chat_id), int(message)
        stored = self._messages.get((chat_id, message_id))
        if stored is None or not stored.from_bot:
            raise AssertionError(f"the bot sent no message {message_id} to chat {chat_id}")
        if stored.deleted:
            raise AssertionError(f"message {message_id} in chat {chat_id} was deleted")
        chat = self._chats[chat_id]
        if chat.type == "private" and chat_id != user_id:
            raise AssertionError(
                f"message {message_id} was sent to {chat_id}, not to user {user_id}"
            )
        if chat.type != "private" and user_id not in chat.members:
            chat.members.add(user_id)
        return stored

    def _callback_query(self, user_id: int, message: dict[str, Any], data: str) -> dict[str, Any]:
        user = self._user(user_id)
        self._touch(user)
        query_id = str(4_000_000_000_000_000 + next(self._counter) * 7919 + secrets.randbelow(7919))
        self._queries[query_id] = _Query(user_id)
        chat_id = message["chat"]["id"]
        query = {
            "id": query_id,
            "from": user.to_dict(),
            "message": copy.deepcopy(message),
            "chat_instance": str(-(abs(hash((self.bot_id, chat_id))) % 10**18)),
            "data": data,
        }
        return self._enqueue("callback_query", query)

    def _next_message_id(self, chat: _Chat) -> int:
        message_id = chat.next_message_id
        chat.next_message_id += 1
        return message_id

    # ---------------------------------------------------------------- reply markup & text

    def _reply_markup(self, params: _Params) -> dict[str, Any] | None:
        """Parse reply_markup like Client::get_reply_markup; returns a normalised dict."""
        raw = params.str("reply_markup")
        if not raw:
            return None
        try:
            value = json.loads(raw)
        except ValueError:
            raise _bad("Can't parse reply keyboard markup JSON object") from None
        if not isinstance(value, dict):
            raise _bad("Object expected as reply markup")
        keyboard = value.get("keyboard")
        if keyboard is not None:
            if not isinstance(keyboard, list):
                raise _bad('Field "keyboard" must be of type Array')
            rows = []
            for row in keyboard:
                if not isinstance(row, list):
                    raise _bad('Field "keyboard" must be an Array of Arrays')
                new_row = []
                for button in row:
                    if isinstance(button, str):
                        new_row.append({"text": button})
                    elif isinstance(button, dict):
                        if "text" not in button:
                            raise _bad("Can't parse keyboard button: Can't find field \"text\"")
                        new_row.append(button)
                    else:
                        raise _bad(
                            "Can't parse keyboard button: KeyboardButton must be a String or an Object"
                        )
                rows.append(new_row)
            if rows:
                return dict(value, keyboard=rows)
        inline = value.get("inline_keyboard")
        if inline is not None:
            if not isinstance(inline, list):
                raise _bad('Field "inline_keyboard" must be of type Array')
            rows = []
            for row in inline:
                if not isinstance(row, list):
                    raise _bad(
                        'Field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays'
                    )
                rows.append([self._inline_button(button) for button in row])
            if rows:
                return {"inline_keyboard": rows}
        if value.get("remove_keyboard") or value.get("hide_keyboard"):
            return value
        if value.get("force_reply"):
            return value
        return None

    @staticmethod
    def _inline_button(button: Any) -> dict[str, Any]:
        def fail(message: str) -> ApiError:
            return _bad(f"Can't parse inline keyboard button: {message}")

        if not isinstance(button, dict):
            raise fail("InlineKeyboardButton must be an Object")
        if "text" not in button:
            raise fail('Can\'t find field "text"')
        text = button["text"]
        if isinstance(text, bool) or not isinstance(text, (str, int, float)):
            raise fail('Field "text" must be of type String')
        result: dict[str, Any] = {"text": str(text)}
        for name in ("url", "callback_data"):
            if name in button:
                value = button[name]
                if isinstance(value, bool) or not isinstance(value, (str, int, float)):
                    raise fail(f'Field "{name}" must be of type String')
                if str(value):
                    result[name] = str(value)
                    return result
        for name in (
            "callback_game",
            "pay",
            "switch_inline_query",
            "switch_inline_query_chosen_chat",
            "switch_inline_query_current_chat",
            "login_url",
            "web_app",
            "copy_text",
        ):
            if name in button:
                result[name] = button[name]
                return result
        raise fail("Text buttons are unallowed in the inline keyboard")

    @staticmethod
    def _server_check_markup(markup: dict[str, Any] | None) -> None:
        """Checks Telegram's servers make after the Bot API accepted the markup."""
        if not markup or "inline_keyboard" not in markup:
            return
        total = 0
        for row in markup["inline_keyboard"]:
            for button in row:
                total += 1
                if not button["text"].strip():
                    raise _bad("BUTTON_TEXT_INVALID")
                data = button.get("callback_data")
                if data is not None and len(data.encode("utf-8")) > MAX_CALLBACK_DATA_BYTES:
                    raise _bad("BUTTON_DATA_INVALID")
                url = button.get("url")
                if url is not None and _checked_link(url) is None:
                    raise _bad("BUTTON_URL_INVALID")
        if total > 100:
            raise _bad("reply markup is too long")

    def _text(self, params: _Params, name: str, entities_name: str) -> _FormattedText:
        try:
            entities_json = params.json(entities_name)
        except ValueError:
            entities_json = None  # the Bot API silently ignores unparsable entities
        return _format(params.str(name), params.str("parse_mode"), entities_json, self._users)

    def _reply_target(self, params: _Params, chat: _Chat) -> _Stored | None:
        message_id = 0
        allow_without = params.bool("allow_sending_without_reply")
        if params.has("reply_parameters"):
            try:
                value = params.json("reply_parameters")
            except ValueError:
                raise _bad("Can't parse reply parameters JSON object") from None
            if not isinstance(value, dict):
                raise _bad("Object expected as reply parameters")
            if "message_id" not in value:
                raise _bad("Can't parse reply parameters: Can't find field \"message_id\"")
            message_id = int(value["message_id"])
            allow_without = bool(value.get("allow_sending_without_reply", False))
            if value.get("chat_id") not in (None, "", chat.id, str(chat.id)):
                chat = self._resolve_chat(str(value["chat_id"]))
        elif params.has("reply_to_message_id"):
            message_id = params.int("reply_to_message_id")
        if message_id <= 0:
            return None
        stored = self._messages.get((chat.id, message_id))
        if stored is None or stored.deleted:
            if allow_without:
                return None
            raise _bad("message to be replied not found")
        return stored

    def _finish_text(
        self, formatted: _FormattedText, *, caption: bool, editing: bool
    ) -> _FormattedText:
        text, entities = _clean_and_trim(formatted.text, formatted.entities, allow_empty=caption)
        limit = MAX_CAPTION_LENGTH if caption else MAX_TEXT_LENGTH
        if utf16_len(text) > limit:
            if caption:
                raise _bad("MEDIA_CAPTION_TOO_LONG" if editing else "message caption is too long")
            raise _bad("MESSAGE_TOO_LONG" if editing else "message is too long")
        entities = _sort_entities(entities + _auto_entities(text, entities))
        return _FormattedText(text, entities)

    def _store_bot_message(
        self,
        chat: _Chat,
        method: str,
        content: dict[str, Any],
        *,
        markup: dict[str, Any] | None,
        reply: _Stored | None,
        params: _Params,
        media_group_id: str | None = None,
    ) -> SentMessage:
        message: dict[str, Any] = {"message_id": self._next_message_id(chat)}
        if chat.type == "channel":
            message["sender_chat"] = chat.to_dict()
        else:
            message["from"] = self.bot_user
        message["chat"] = chat.to_dict()
        message["date"] = int(time.time())
        thread_id = params.int("message_thread_id") or None
        if thread_id is not None and chat.is_forum:
            message["message_thread_id"] = thread_id
            message["is_topic_message"] = True
        if media_group_id:
            message["media_group_id"] = media_group_id
        if reply is not None:
            quoted = copy.deepcopy(reply.data)
            quoted.pop("reply_to_message", None)
            message["reply_to_message"] = quoted
        if params.bool("protect_content"):
            message["has_protected_content"] = True
        message.update(content)
        if markup and "inline_keyboard" in markup:
            message["reply_markup"] = copy.deepcopy(markup)
        sent = SentMessage(
            chat_id=chat.id,
            message_id=message["message_id"],
            method=method,
            date=message["date"],
            parse_mode=params.str("parse_mode") or None,
            reply_markup=copy.deepcopy(markup),
            reply_to_message_id=reply.data["message_id"] if reply else None,
            media_group_id=media_group_id,
            message_thread_id=message.get("message_thread_id"),
        )
        self._sync_sent(sent, message)
        self._messages[(chat.id, sent.message_id)] = _Stored(
            message, from_bot=True, sent=sent, protected=params.bool("protect_content")
        )
        self.sent.append(sent)
        self._notify()
        return sent

    @staticmethod
    def _sync_sent(sent: SentMessage, message: dict[str, Any]) -> None:
        sent.raw = copy.deepcopy(message)
        sent.text = message.get("text")
        sent.caption = message.get("caption")
        sent.entities = copy.deepcopy(
            message.get("entities") or message.get("caption_entities") or []
        )
        photo = message.get("photo")
        sent.photo = photo[-1]["file_id"] if photo else None
        document = message.get("document")
        sent.document = document["file_id"] if document else None
        location = message.get("location")
        sent.location = (location["latitude"], location["longitude"]) if location else None

    def _text_content(self, formatted: _FormattedText) -> dict[str, Any]:
        content: dict[str, Any] = {"text": formatted.text}
        if formatted.entities:
            content["entities"] = formatted.entities
        return content

    def _caption_content(self, formatted: _FormattedText | None) -> dict[str, Any]:
        if formatted is None or not formatted.text:
            return {}
        content: dict[str, Any] = {"caption": formatted.text}
        if formatted.entities:
            content["caption_entities"] = formatted.entities
        return content

    def _input_file(
        self, params: _Params, name: str, value: str | None = None
    ) -> tuple[_File, str]:
        """Resolve an uploaded file, attach:// reference, known file_id or URL."""
        raw = params.str(name) if value is None else value
        if raw.startswith("attach://"):
            upload = params.files.get(raw[len("attach://") :])
            if upload is None:
                raise _bad(f"Can't parse InputMedia: media not found ({raw})")
            return self._new_file("uploads", upload[1], ""), upload[0]
        if not raw and name in params.files:
            upload = params.files[name]
            return self._new_file("uploads", upload[1], ""), upload[0]
        if not raw:
            raise _bad(f"there is no {name} in the request")
        if raw in self._files:
            return self._files[raw], self._files[raw].path.rsplit("/", 1)[-1]
        if re.match(r"^https?://", raw):
            return self._new_file(
                "downloads", b"\xff\xd8\xff\xe0" + secrets.token_bytes(2000), ""
            ), raw
        raise _bad("wrong file identifier/HTTP URL specified")

    def _photo_from(self, params: _Params, value: str | None = None) -> list[dict[str, Any]]:
        file, _name = self._input_file(params, "photo", value)
        known = self._photo_sets.get(file.file_id)
        return copy.deepcopy(known) if known else self._photo_sizes(file.data)

    # ---------------------------------------------------------------- Bot API methods

    async def _m_getMe(self, params: _Params) -> dict[str, Any]:
        return self.bot_user | {
            "can_join_groups": True,
            "can_read_all_group_messages": not self.privacy_mode,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _m_close(self, params: _Params) -> bool:
        return True

    async def _m_logOut(self, params: _Params) -> bool:
        return True

    async def _m_getUpdates(self, params: _Params) -> list[dict[str, Any]]:
        if self.webhook_url:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = params.int("offset")
        limit = params.int("limit", 100)
        limit = 100 if limit <= 0 or limit > 100 else limit
        timeout = max(0, min(params.int("timeout"), LONG_POLL_MAX_TIMEOUT))
        if params.has("allowed_updates"):
            self._set_allowed_updates(params)

        # A new getUpdates call terminates the previous long poll with 409 (abort_long_poll).
        self._abort_long_poll(
            "terminated by other getUpdates request; make sure that only one bot instance is running"
        )
        generation = self._poll_generation

        next_id = self._next_update_id
        if offset < 0:
            keep = self._updates[offset:] if -offset < len(self._updates) else self._updates
            self._forget_before(keep[0]["update_id"] if keep else next_id)
            offset = 0
        elif 0 < offset <= next_id:
            self._forget_before(offset)
        # offsets in the future are ignored: the queue is read from its head

        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            batch = [
                u
                for u in self._updates
                if offset <= 0 or u["update_id"] >= offset or offset > next_id
            ]
            batch = batch[:limit]
            if batch or timeout == 0 or self._closing or not params.alive():
                break
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            await self._wait_change(remaining)
            if generation != self._poll_generation:
                raise ApiError(409, f"Conflict: {self._poll_abort_reason}")
        self.stats.updates_delivered += len(batch)
        return copy.deepcopy(batch)

    def _abort_long_poll(self, reason: str) -> None:
        self._poll_generation += 1
        self._poll_abort_reason = reason
        self._notify()

    def _forget_before(self, update_id: int) -> None:
        self._updates = [u for u in self._updates if u["update_id"] >= update_id]
        self.updates_confirmed = max(self.updates_confirmed, update_id - 1)

    def _set_allowed_updates(self, params: _Params) -> None:
        try:
            value = params.json("allowed_updates")
        except ValueError:
            return
        if isinstance(value, list):
            names = {str(v) for v in value}
            self._allowed_updates = frozenset(names) if names else None

    async def _m_deleteWebhook(self, params: _Params) -> tuple[bool, str]:
        if params.bool("drop_pending_updates"):
            self._forget_before(self._next_update_id)
        had = bool(self.webhook_url)
        self.webhook_url = ""
        return True, "Webhook was deleted" if had else "Webhook is already deleted"

    async def _m_setWebhook(self, params: _Params) -> tuple[bool, str]:
        url = params.str("url")
        if not url:
            return await self._m_deleteWebhook(params)
        if not url.startswith("https://"):
            raise _bad("bad webhook: An HTTPS URL must be provided for webhook")
        if params.bool("drop_pending_updates"):
            self._forget_before(self._next_update_id)
        if params.has("allowed_updates"):
            self._set_allowed_updates(params)
        self.webhook_url = url
        self._abort_long_poll("terminated by setWebhook request")
        return True, "Webhook was set"

    async def _m_getWebhookInfo(self, params: _Params) -> dict[str, Any]:
        info: dict[str, Any] = {
            "url": self.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if self._allowed_updates is not None:
            info["allowed_updates"] = sorted(self._allowed_updates)
        return info

    def _command_key(self, params: _Params) -> tuple[str, str]:
        try:
            scope = params.json("scope") or {"type": "default"}
        except ValueError:
            raise _bad("Can't parse BotCommandScope JSON object") from None
        if not isinstance(scope, dict) or "type" not in scope:
            raise _bad("Can't parse BotCommandScope: Can't find field \"type\"")
        language = params.str("language_code")
        if language and not re.fullmatch(r"[a-z]{2}", language):
            raise _bad("Invalid language code specified")
        return json.dumps(scope, sort_keys=True), language

    async def _m_setMyCommands(self, params: _Params) -> bool:
        try:
            commands = params.json("commands")
        except ValueError:
            raise _bad("Can't parse commands JSON object") from None
        commands = commands or []
        if not isinstance(commands, list):
            raise _bad("Expected an Array of BotCommand")
        result = []
        for item in commands:
            if not isinstance(item, dict):
                raise _bad("Can't parse BotCommand: expected an Object")
            for name in ("command", "description"):
                if name not in item:
                    raise _bad(f"Can't parse BotCommand: Can't find field \"{name}\"")
            command = str(item["command"]).strip().removeprefix("/")
            description = str(item["description"]).strip()
            if not command:
                raise _bad("Command must be non-empty")
            if len(command) > 32:
                raise _bad("Command length must not exceed 32")
            if not description:
                raise _bad("Command description must be non-empty")
            if len(description) > 256:
                raise _bad("Command description length must not exceed 256")
            if not re.fullmatch(r"[a-z0-9_]+", command):
                raise _bad("BOT_COMMAND_INVALID")
            result.append({"command": command, "description": description})
        if len(result) > 100:
            raise _bad("BOT_COMMANDS_TOO_MUCH")
        self.commands[self._command_key(params)] = result
        return True

    async def _m_getMyCommands(self, params: _Params) -> list[dict[str, str]]:
        return self.commands.get(self._command_key(params), [])

    async def _m_deleteMyCommands(self, params: _Params) -> bool:
        self.commands.pop(self._command_key(params), None)
        return True

    async def _m_setChatMenuButton(self, params: _Params) -> bool:
        chat_id = self._resolve_chat(params.str("chat_id")).id if params.has("chat_id") else None
        try:
            button = params.json("menu_button") or {"type": "default"}
        except ValueError:
            raise _bad("Can't parse menu button JSON object") from None
        if not isinstance(button, dict) or button.get("type") not in (
            "default",
            "commands",
            "web_app",
        ):
            raise _bad("Can't parse MenuButton: Unsupported type specified")
        self.menu_buttons[chat_id] = button
        return True

    async def _m_getChatMenuButton(self, params: _Params) -> dict[str, Any]:
        chat_id = self._resolve_chat(params.str("chat_id")).id if params.has("chat_id") else None
        button = (
            self.menu_buttons.get(chat_id) or self.menu_buttons.get(None) or {"type": "commands"}
        )
        return {"type": "commands"} if button.get("type") == "default" else button

    def _set_description(self, kind: str, field_name: str, limit: int, params: _Params) -> bool:
        value = params.str(field_name)
        if len(value) > limit:
            raise _bad(f"{kind} is too long")
        self.descriptions.setdefault(kind, {})[params.str("language_code")] = value
        return True

    async def _m_setMyDescription(self, params: _Params) -> bool:
        return self._set_description("description", "description", 512, params)

    async def _m_getMyDescription(self, params: _Params) -> dict[str, str]:
        lang = params.str("language_code")
        return {"description": self.descriptions.get("description", {}).get(lang, "")}

    async def _m_setMyShortDescription(self, params: _Params) -> bool:
        return self._set_description("short_description", "short_description", 120, params)

    async def _m_getMyShortDescription(self, params: _Params) -> dict[str, str]:
        lang = params.str("language_code")
        return {"short_description": self.descriptions.get("short_description", {}).get(lang, "")}

    async def _m_setMyName(self, params: _Params) -> bool:
        return self._set_description("name", "name", 64, params)

    async def _m_getMyName(self, params: _Params) -> dict[str, str]:
        lang = params.str("language_code")
        return {"name": self.descriptions.get("name", {}).get(lang, "") or self.bot_first_name}

    @staticmethod
    def _check_link_preview_options(params: _Params) -> None:
        try:
            value = params.json("link_preview_options")
        except ValueError:
            raise _bad("Can't parse link preview options JSON object") from None
        if value is not None and not isinstance(value, dict):
            raise _bad("Object expected as link preview options")

    async def _m_sendMessage(self, params: _Params) -> dict[str, Any]:
        self._check_link_preview_options(params)
        if not params.str("text"):
            raise _bad("Message text is empty")
        formatted = self._text(params, "text", "entities")
        markup = self._reply_markup(params)
        chat = self._chat_for_write(params.str("chat_id"))
        reply = self._reply_target(params, chat)
        formatted = self._finish_text(formatted, caption=False, editing=False)
        self._server_check_markup(markup)
        sent = self._store_bot_message(
            chat,
            "sendMessage",
            self._text_content(formatted),
            markup=markup,
            reply=reply,
            params=params,
        )
        return copy.deepcopy(sent.raw)

    async def _send_media(self, params: _Params, method: str, build: Callable[[], dict]) -> dict:
        caption = self._text(params, "caption", "caption_entities")
        markup = self._reply_markup(params)
        chat = self._chat_for_write(params.str("chat_id"))
        reply = self._reply_target(params, chat)
        content = build()
        caption = self._finish_text(caption, caption=True, editing=False)
        content.update(self._caption_content(caption))
        self._server_check_markup(markup)
        sent = self._store_bot_message(
            chat, method, content, markup=markup, reply=reply, params=params
        )
        return copy.deepcopy(sent.raw)

    async def _m_sendPhoto(self, params: _Params) -> dict[str, Any]:
        return await self._send_media(
            params, "sendPhoto", lambda: {"photo": self._photo_from(params)}
        )

    async def _m_sendDocument(self, params: _Params) -> dict[str, Any]:
        def build() -> dict[str, Any]:
            if any(len(upload[1]) > MAX_UPLOAD_BYTES for upload in params.files.values()):
                raise ApiError(413, "Request Entity Too Large")
            file, name = self._input_file(params, "document")
            file_name = name.rsplit("/", 1)[-1] or "document"
            return {
                "document": {
                    "file_name": file_name,
                    "mime_type": mimetypes.guess_type(file_name)[0] or "application/octet-stream",
                    "file_id": file.file_id,
                    "file_unique_id": file.file_unique_id,
                    "file_size": len(file.data),
                }
            }

        return await self._send_media(params, "sendDocument", build)

    async def _m_sendLocation(self, params: _Params) -> dict[str, Any]:
        markup = self._reply_markup(params)
        if not params.str("latitude").strip():
            raise ApiError(400, "Bad Request: latitude is empty")
        if not params.str("longitude").strip():
            raise ApiError(400, "Bad Request: longitude is empty")
        chat = self._chat_for_write(params.str("chat_id"))
        reply = self._reply_target(params, chat)
        lat, lon = params.float("latitude"), params.float("longitude")
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise _bad("GEO_POINT_INVALID")  # the server's error for impossible coordinates
        location: dict[str, Any] = {"latitude": lat, "longitude": lon}
        if params.has("horizontal_accuracy"):
            location["horizontal_accuracy"] = params.float("horizontal_accuracy")
        if params.has("live_period"):
            location["live_period"] = params.int("live_period")
        self._server_check_markup(markup)
        sent = self._store_bot_message(
            chat, "sendLocation", {"location": location}, markup=markup, reply=reply, params=params
        )
        return copy.deepcopy(sent.raw)

    async def _m_sendMediaGroup(self, params: _Params) -> list[dict[str, Any]]:
        if not params.has("media"):
            raise _bad("media is empty")
        try:
            media = params.json("media")
        except ValueError:
            raise _bad("Can't parse media JSON object") from None
        if not isinstance(media, list):
            raise _bad("Expected an Array of InputMedia")
        prepared = []
        for item in media:
            if not isinstance(item, dict):
                raise _bad("Can't parse InputMedia: expected an Object")
            caption = _format(
                str(item.get("caption", "")),
                str(item.get("parse_mode", "")),
                item.get("caption_entities"),
                self._users,
            )
            kind = item.get("type")
            if kind not in ("photo", "video", "audio", "document"):
                raise _bad(f'Can\'t parse InputMedia: type "{kind}" is unsupported')
            prepared.append((kind, str(item.get("media", "")), caption))
        chat = self._chat_for_write(params.str("chat_id"))
        reply = self._reply_target(params, chat)
        if not prepared:
            raise _bad("There are no messages to send")
        if len(prepared) > 10:
            raise _bad("Too many messages to send as an album")
        kinds = {k for k, _m, _c in prepared}
        if len(kinds) > 1 and not kinds <= {"photo", "video"}:
            raise _bad("Can't use the media of the specified type in the album")
        group_id = str(13_000_000_000_000_000 + next(self._counter))
        results = []
        for kind, value, caption in prepared:
            if kind == "photo":
                content: dict[str, Any] = {"photo": self._photo_from(params, value)}
            else:
                file, name = self._input_file(params, kind, value)
                content = {
                    kind: {
                        "file_id": file.file_id,
                        "file_unique_id": file.file_unique_id,
                        "file_size": len(file.data),
                    }
                }
                if kind == "document":
                    content[kind]["file_name"] = name.rsplit("/", 1)[-1] or "document"
            content.update(
                self._caption_content(self._finish_text(caption, caption=True, editing=False))
            )
            sent = self._store_bot_message(
                chat,
                "sendMediaGroup",
                content,
                markup=None,
                reply=reply,
                params=params,
                media_group_id=group_id,
            )
            results.append(copy.deepcopy(sent.raw))
        return results

    async def _m_sendChatAction(self, params: _Params) -> bool:
        chat = self._chat_for_write(params.str("chat_id"))
        action = params.str("action")
        if action not in _CHAT_ACTIONS:
            raise ApiError(400, "Bad Request: wrong parameter action in request")
        self.chat_actions.append((chat.id, action))
        return True

    def _editable(self, params: _Params, what: str = "message to edit") -> tuple[_Chat, _Stored]:
        if params.has("inline_message_id"):
            raise _bad("MESSAGE_ID_INVALID")
        chat = self._resolve_chat(params.str("chat_id"))
        if chat.type == "private" and chat.user is not None:
            if chat.user.deactivated:
                raise _forbidden("user is deactivated")
            if chat.user.blocked:
                raise _forbidden("bot was blocked by the user")
        elif chat.bot_status in ("left", "kicked"):
            self._chat_for_write(params.str("chat_id"))
        message_id = params.int("message_id")
        stored = self._messages.get((chat.id, message_id))
        if message_id <= 0 or stored is None or stored.deleted:
            raise _bad(f"{what} not found")
        if not stored.from_bot:
            raise _bad("message can't be edited")
        return chat, stored

    def _apply_edit(
        self,
        stored: _Stored,
        method: str,
        content: dict[str, Any],
        markup: dict | None,
        replace: tuple[str, ...] = (),
    ) -> dict:
        sent = stored.sent
        if sent is not None:
            sent.edits.append(
                {
                    "method": method,
                    "text": sent.text,
                    "caption": sent.caption,
                    "entities": sent.entities,
                    "reply_markup": sent.reply_markup,
                    "parse_mode": sent.parse_mode,
                }
            )
        data = stored.data
        for key in replace:
            data.pop(key, None)
        data.update(content)
        data.pop("reply_markup", None)
        if markup and "inline_keyboard" in markup:
            data["reply_markup"] = copy.deepcopy(markup)
        data["edit_date"] = int(time.time())
        if sent is not None:
            sent.reply_markup = copy.deepcopy(markup)
            self._sync_sent(sent, data)
        self._notify()
        return copy.deepcopy(data)

    @staticmethod
    def _current_inline(data: dict[str, Any]) -> dict[str, Any] | None:
        return data.get("reply_markup")

    async def _m_editMessageText(self, params: _Params) -> dict[str, Any]:
        self._check_link_preview_options(params)
        if not params.str("text"):
            raise _bad("Message text is empty")
        formatted = self._text(params, "text", "entities")
        markup = self._reply_markup(params)
        _chat, stored = self._editable(params)
        if "text" not in stored.data:
            raise _bad("there is no text in the message to edit")
        formatted = self._finish_text(formatted, caption=False, editing=True)
        new_markup = markup if markup and "inline_keyboard" in markup else None
        if (
            formatted.text == stored.data.get("text")
            and formatted.entities == (stored.data.get("entities") or [])
            and new_markup == self._current_inline(stored.data)
        ):
            raise _bad(_NOT_MODIFIED)
        self._server_check_markup(markup)
        if stored.sent is not None:
            stored.sent.parse_mode = params.str("parse_mode") or None
        return self._apply_edit(
            stored,
            "editMessageText",
            self._text_content(formatted),
            new_markup,
            ("text", "entities"),
        )

    async def _m_editMessageCaption(self, params: _Params) -> dict[str, Any]:
        caption = self._text(params, "caption", "caption_entities")
        markup = self._reply_markup(params)
        _chat, stored = self._editable(params)
        if not any(
            k in stored.data for k in ("photo", "document", "video", "audio", "animation", "voice")
        ):
            raise _bad("there is no caption in the message to edit")
        caption = self._finish_text(caption, caption=True, editing=True)
        new_markup = markup if markup and "inline_keyboard" in markup else None
        if (
            (caption.text or None) == stored.data.get("caption")
            and caption.entities == (stored.data.get("caption_entities") or [])
            and new_markup == self._current_inline(stored.data)
        ):
            raise _bad(_NOT_MODIFIED)
        self._server_check_markup(markup)
        return self._apply_edit(
            stored,
            "editMessageCaption",
            self._caption_content(caption),
            new_markup,
            ("caption", "caption_entities"),
        )

    async def _m_editMessageReplyMarkup(self, params: _Params) -> dict[str, Any]:
        markup = self._reply_markup(params)
        _chat, stored = self._editable(params)
        new_markup = markup if markup and "inline_keyboard" in markup else None
        if new_markup == self._current_inline(stored.data):
            raise _bad(_NOT_MODIFIED)
        self._server_check_markup(markup)
        return self._apply_edit(stored, "editMessageReplyMarkup", {}, new_markup)

    def _delete(self, chat: _Chat, message_id: int) -> None:
        stored = self._messages.get((chat.id, message_id))
        if message_id <= 0 or stored is None or stored.deleted:
            raise _bad("message to delete not found")
        if not stored.from_bot and chat.type != "private" and chat.bot_status != "administrator":
            raise _bad("message can't be deleted")
        stored.deleted = True
        if stored.sent is not None:
            stored.sent.deleted = True
        self._notify()

    async def _m_deleteMessage(self, params: _Params) -> bool:
        chat = self._resolve_chat(params.str("chat_id"))
        self._delete(chat, params.int("message_id"))
        return True

    async def _m_deleteMessages(self, params: _Params) -> bool:
        chat = self._resolve_chat(params.str("chat_id"))
        try:
            ids = params.json("message_ids")
        except ValueError:
            raise _bad("Can't parse message identifiers JSON object") from None
        if not isinstance(ids, list) or not 1 <= len(ids) <= 100:
            raise _bad(
                "Too few message identifiers specified"
                if not ids
                else "Too many message identifiers specified"
            )
        for message_id in ids:
            with contextlib.suppress(ApiError):  # deleteMessages skips missing messages
                self._delete(chat, int(message_id))
        return True

    async def _m_answerCallbackQuery(self, params: _Params) -> bool:
        query_id = params.str("callback_query_id")
        query = self._queries.get(query_id)
        if query is None or query.answered:
            raise _bad("query is too old and response timeout expired or query ID is invalid")
        text = params.str("text")
        if utf16_len(text) > MAX_CALLBACK_ANSWER_LENGTH:
            raise _bad("MESSAGE_TOO_LONG")
        query.answered = True
        self.callback_answers.append(
            CallbackAnswer(
                query_id,
                text or None,
                params.bool("show_alert"),
                params.str("url") or None,
                params.int("cache_time"),
            )
        )
        self._notify()
        return True

    async def _m_getChat(self, params: _Params) -> dict[str, Any]:
        chat = self._resolve_chat(params.str("chat_id"))
        data = chat.to_dict() | {
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }
        if chat.type != "private":
            data["permissions"] = {"can_send_messages": True}
        return data

    def _member(self, chat: _Chat, user_id: int) -> dict[str, Any]:
        if user_id == self.bot_id:
            user = self.bot_user
            status = "member" if chat.type == "private" else chat.bot_status
        else:
            known = self._users.get(user_id)
            if known is None:
                raise _bad("user not found")
            user = known.to_dict()
            if chat.type == "private":
                status = "member" if user_id == chat.id else "left"
            elif user_id in chat.admins:
                status = "administrator"
            else:
                status = "member" if user_id in chat.members else "left"
        if status == "administrator":
            rights = dict.fromkeys(
                (
                    "can_be_edited",
                    "is_anonymous",
                    "can_manage_chat",
                    "can_delete_messages",
                    "can_manage_video_chats",
                    "can_restrict_members",
                    "can_promote_members",
                    "can_change_info",
                    "can_invite_users",
                    "can_post_stories",
                    "can_edit_stories",
                    "can_delete_stories",
                ),
                False,
            )
            rights.update(can_manage_chat=True, can_delete_messages=True, can_invite_users=True)
            if chat.type == "channel":
                rights.update(can_post_messages=True, can_edit_messages=True)
            else:
                rights["can_pin_messages"] = True
            return {"user": user, "status": status, **rights}
        if status == "kicked":
            return {"user": user, "status": status, "until_date": 0}
        return {"user": user, "status": status}

    async def _m_getChatMember(self, params: _Params) -> dict[str, Any]:
        chat = self._resolve_chat(params.str("chat_id"))
        user_id = params.int("user_id")
        if user_id <= 0:
            raise _bad("invalid user_id specified")
        return self._member(chat, user_id)

    async def _m_getChatAdministrators(self, params: _Params) -> list[dict[str, Any]]:
        chat = self._resolve_chat(params.str("chat_id"))
        if chat.type == "private":
            raise _bad("there are no administrators in the private chat")
        ids = list(chat.admins) + ([self.bot_id] if chat.bot_status == "administrator" else [])
        return [self._member(chat, user_id) for user_id in ids]

    async def _m_getChatMemberCount(self, params: _Params) -> int:
        chat = self._resolve_chat(params.str("chat_id"))
        if chat.type == "private":
            return 2
        return len(chat.members | chat.admins) + (chat.bot_status in ("member", "administrator"))

    def _source_message(self, params: _Params, what: str) -> _Stored:
        from_chat = self._resolve_chat(params.str("from_chat_id"))
        message_id = params.int("message_id")
        stored = self._messages.get((from_chat.id, message_id))
        if message_id <= 0 or stored is None or stored.deleted:
            raise _bad(f"message to {what} not found")
        if stored.protected:
            raise _bad(f"message can't be {'forwarded' if what == 'forward' else 'copied'}")
        return stored

    _CONTENT_KEYS = (
        "text",
        "entities",
        "photo",
        "document",
        "video",
        "voice",
        "audio",
        "sticker",
        "location",
        "contact",
        "caption",
        "caption_entities",
    )

    async def _m_copyMessage(self, params: _Params) -> dict[str, int]:
        caption = (
            self._text(params, "caption", "caption_entities") if params.has("caption") else None
        )
        markup = self._reply_markup(params)
        source = self._source_message(params, "copy")
        chat = self._chat_for_write(params.str("chat_id"))
        reply = self._reply_target(params, chat)
        content = {k: copy.deepcopy(v) for k, v in source.data.items() if k in self._CONTENT_KEYS}
        if caption is not None and "text" not in content:
            content.pop("caption", None)
            content.pop("caption_entities", None)
            content.update(
                self._caption_content(self._finish_text(caption, caption=True, editing=False))
            )
        self._server_check_markup(markup)
        sent = self._store_bot_message(
            chat, "copyMessage", content, markup=markup, reply=reply, params=params
        )
        sent.copied_from = (source.data["chat"]["id"], source.data["message_id"])
        return {"message_id": sent.message_id}

    async def _m_forwardMessage(self, params: _Params) -> dict[str, Any]:
        source = self._source_message(params, "forward")
        chat = self._chat_for_write(params.str("chat_id"))
        data = source.data
        if data["chat"]["type"] == "channel":
            origin: dict[str, Any] = {
                "type": "channel",
                "chat": data["chat"],
                "message_id": data["message_id"],
                "date": data["date"],
            }
        else:
            sender = data.get("from") or self.bot_user
            origin = {"type": "user", "sender_user": sender, "date": data["date"]}
        content = {k: copy.deepcopy(v) for k, v in data.items() if k in self._CONTENT_KEYS}
        content["forward_origin"] = origin
        sent = self._store_bot_message(
            chat, "forwardMessage", content, markup=None, reply=None, params=params
        )
        sent.copied_from = (data["chat"]["id"], data["message_id"])
        return copy.deepcopy(sent.raw)

    async def _m_getFile(self, params: _Params) -> dict[str, Any]:
        file_id = params.str("file_id")
        if not file_id:
            raise _bad("file_id not specified")
        file = self._files.get(file_id)
        if file is None:
            raise _bad("invalid file_id")
        return {
            "file_id": file.file_id,
            "file_unique_id": file.file_unique_id,
            "file_size": len(file.data),
            "file_path": file.path,
        }


_NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the same "
    "as a current content and reply markup of the message"
)


@contextlib.asynccontextmanager
async def running_fake(**kwargs: Any) -> AsyncIterator[FakeTelegram]:
    """``async with running_fake(rate_limits=True) as fake: ...``"""
    fake = FakeTelegram(**kwargs)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()
