"""Fit HTML-formatted text into a platform's length limit without breaking tags or entities."""

from __future__ import annotations

import re

_TOKEN = re.compile(r"<(/?)([a-zA-Z-]+)([^>]*)>|&(?:#\d+|#x[0-9a-fA-F]+|[a-zA-Z]+);|.", re.DOTALL)


def visible_length(html_text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units of the text after entity parsing."""
    return sum(_units(tok) for tok, is_tag in _tokens(html_text) if not is_tag)


def _units(piece: str) -> int:
    if piece.startswith("&") and len(piece) > 1:
        return 1
    return len(piece.encode("utf-16-le")) // 2


def _tokens(html_text: str) -> list[tuple[str, bool]]:
    return [(m.group(0), m.group(2) is not None) for m in _TOKEN.finditer(html_text)]


def _is_tag(token: str) -> bool:
    return token.startswith("<") and token.endswith(">") and len(token) > 2


def split_html(html_text: str, limit: int = 4096) -> list[str]:
    """Split into chunks of at most `limit` visible units, preferring line breaks.

    Tags open at a cut are closed at the end of the chunk and reopened at the start of the next,
    so every chunk is well-formed on its own.
    """
    # The text's own UTF-16 length bounds its visible length (tags and entities only shorten
    # it): nearly every message is far below the limit, and needs no tokenising to know it.
    if len(html_text.encode("utf-16-le")) // 2 <= limit or visible_length(html_text) <= limit:
        return [html_text]
    chunks: list[str] = []
    stack: list[tuple[str, str]] = []  # (name, opening tag)
    current: list[str] = []
    size = 0
    last_break: tuple[int, int, list[tuple[str, str]]] | None = None  # (index, size, stack)

    def flush(upto: int | None = None) -> None:
        nonlocal current, size, last_break
        if upto is None:
            body, rest, open_tags = current, [], list(stack)
        else:
            assert last_break is not None
            body, rest, open_tags = current[:upto], current[upto:], last_break[2]
        closing = "".join(f"</{name}>" for name, _ in reversed(open_tags))
        text = "".join(body) + closing
        # Telegram trims a message: one with only white space left is "message text is empty".
        if "".join(p for p in body if not _is_tag(p)).strip():
            chunks.append(text)
        reopen = [tag for _, tag in open_tags]
        current = reopen + rest
        size = sum(_units(p) for p in rest if not p.startswith("<"))
        last_break = None

    for tok, is_tag in _tokens(html_text):
        if is_tag:
            m = _TOKEN.match(tok)
            assert m is not None
            name = m.group(2).lower()
            if m.group(1):
                if stack and stack[-1][0] == name:
                    stack.pop()
            elif not m.group(3).rstrip().endswith("/"):
                stack.append((name, tok))
            current.append(tok)
            continue
        units = _units(tok)
        if size + units > limit:
            if last_break is not None and last_break[1] > limit // 2:
                flush(last_break[0])
            else:
                flush()
        current.append(tok)
        size += units
        if tok == "\n":
            last_break = (len(current), size, list(stack))
    flush()
    return chunks


def truncate_plain(text: str, limit: int) -> str:
    """Cut plain text (button labels, callback answers) to `limit` characters."""
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"
