"""OutMessage (the catalog's small HTML subset, already escaped) → what the templates show."""

from __future__ import annotations

import hashlib
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


@dataclass(frozen=True)
class NoteView:
    """A press's short answer (Telegram's toast; `alert`: a refusal or a note to read)."""

    id: int
    text: str
    alert: bool
    note: bool = True


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


def photo_digest(ref: str) -> str:
    """Names a wish's photo in a URL without showing its reference (a Telegram file id is
    a credential of sorts: whoever has it and the token can download the file)."""
    return hashlib.sha256(ref.encode()).hexdigest()[:32]


def photo_url(ref: str, wish_id: object) -> str | None:
    """Where the page finds a photo: a web upload at /u/, any other channel's photo of a wish
    at /wp/<wish>/<digest>.jpg (both re-check who asks on every request)."""
    if ref.startswith("web:"):
        return f"/u/{ref[4:]}.jpg"
    if isinstance(wish_id, int) and not isinstance(wish_id, bool):
        return f"/wp/{wish_id}/{photo_digest(ref)}.jpg"
    return None  # a photo about no wish: nothing may authorise it


def photo_urls(refs: Any, wish_id: object) -> tuple[str, ...]:
    urls = (photo_url(str(r), wish_id) for r in refs or ())
    return tuple(u for u in urls if u is not None)


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
    message_id: int, payload: dict[str, Any], now: datetime | None = None, code: str = ""
) -> MessageView | AccessView | NoteView:
    if payload.get("kind") == "access_code":  # the code itself only as `reveal` made it
        return AccessView(message_id, str(payload["receipt"]), str(code or ""))
    if payload.get("kind") == "note":
        return NoteView(message_id, str(payload.get("text", "")), bool(payload.get("alert")))
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
        photos=photo_urls(payload.get("photos", []), payload.get("wish_id")),
        location=(float(loc[0]), float(loc[1])) if loc else None,
        file=file_view(payload.get("file"), now),
    )
