"""OutMessage (the catalog's small HTML subset, already escaped) → what the templates show."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from markupsafe import Markup

# The subset bot/messages.py allows; anything else in a text would already be escaped.
_ALLOWED = re.compile(r"</?(b|i|code|u|s)>|<a href=\"(https?://|tg://)[^\"<>]*\">|</a>")


@dataclass(frozen=True)
class ButtonView:
    text: str
    action: str


@dataclass(frozen=True)
class FileView:
    """A file made for this person (a chart: shown inline; an export: a download link)."""

    id: str
    name: str
    image: bool
    size_kb: int
    expired: bool


@dataclass(frozen=True)
class MessageView:
    id: int
    mine: bool
    html: Markup
    buttons: tuple[tuple[ButtonView, ...], ...]
    photos: tuple[str, ...]
    location: tuple[float, float] | None
    file: FileView | None = None


@dataclass(frozen=True)
class AccessView:
    """The receipt card's access code (web only: it opens the wish on another device)."""

    id: int
    receipt: str
    code: str
    access: bool = True


def to_html(text: str) -> Markup:
    """Catalog text is escaped HTML of a few tags: keep those, escape any other '<'."""
    out: list[str] = []
    pos = 0
    for m in _ALLOWED.finditer(text):
        out.append(text[pos : m.start()].replace("<", "&lt;").replace(">", "&gt;"))
        tag = m.group(0)
        if tag.startswith("<a "):
            tag = tag[:-1] + ' rel="noopener noreferrer">'
        out.append(tag)
        pos = m.end()
    out.append(text[pos:].replace("<", "&lt;").replace(">", "&gt;"))
    return Markup("".join(out).replace("\n", "<br>\n"))


def file_view(data: Any, now: datetime | None) -> FileView | None:
    if not isinstance(data, dict) or not str(data.get("id", "")).isalnum():
        return None
    try:
        expired = now is not None and datetime.fromisoformat(str(data["expires"])) <= now
    except (KeyError, ValueError):
        expired = True
    return FileView(
        id=str(data["id"]),
        name=str(data.get("name", "")),
        image=bool(data.get("image")),
        size_kb=max(1, int(data.get("size", 0)) // 1024),
        expired=expired,
    )


def view(
    message_id: int, payload: dict[str, Any], now: datetime | None = None
) -> MessageView | AccessView:
    if payload.get("kind") == "access_code":
        return AccessView(message_id, str(payload["receipt"]), str(payload["code"]))
    mine = payload.get("from") == "me"
    text = str(payload.get("text", ""))
    loc = payload.get("location")
    return MessageView(
        id=message_id,
        mine=mine,
        html=Markup.escape(text) if mine else to_html(text),
        buttons=tuple(
            tuple(ButtonView(str(t), str(a)) for t, a in row) for row in payload.get("buttons", [])
        ),
        photos=tuple(str(p) for p in payload.get("photos", []) if str(p).startswith("web:")),
        location=(float(loc[0]), float(loc[1])) if loc else None,
        file=file_view(payload.get("file"), now),
    )
