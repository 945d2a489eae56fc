"""Transport-neutral outgoing messages, as stored in the outbox and rendered by a transport.

Text is a small HTML subset (b, i, code, a) in which every piece of user text has already been
escaped by the catalog; a transport without HTML strips the tags.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.domain.notices import NoticeKind


@dataclass(frozen=True)
class Button:
    text: str
    action: str  # opaque to transports; re-authorized by the server when it comes back

    def to_dict(self) -> list[str]:
        return [self.text, self.action]


Keyboard = tuple[tuple[Button, ...], ...]

IMAGE = "image"
DOCUMENT = "document"


@dataclass(frozen=True)
class Attachment:
    """A file made for the person being answered (a /stats chart, an /export workbook).

    It travels only in a `Reply`, never through the outbox (whose payloads are JSON): the bytes
    are the answer to the person who asked, and each channel hands them over its own way
    (Telegram: sendPhoto / sendDocument; web: a short-lived download only that session may
    fetch, see web/files.py)."""

    data: bytes = field(repr=False)
    filename: str
    mime: str
    kind: str = DOCUMENT  # IMAGE is shown inline where the channel can; DOCUMENT is a download

    @property
    def is_image(self) -> bool:
        return self.kind == IMAGE


@dataclass(frozen=True)
class OutMessage:
    """One platform call: a text (with buttons), an album of photos, or a location."""

    text: str = ""
    buttons: Keyboard = ()
    photos: tuple[str, ...] = ()  # platform file references, sent as an album before the text
    location: tuple[float, float] | None = None
    wish_id: int | None = None  # a reply to this message is about this wish
    # a generated file; `text` is then its caption (Reply only: to_payload leaves it out)
    attachment: Attachment | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # what kind of notice it is for its recipient, decided when it is queued (bot/notify.py;
    # None: a plain notice). A channel that sends summaries by template picks one by it.
    notice: NoticeKind | None = None
    # a catalog key of a last line that depends on the recipient's channel ("reply to this
    # message" where one can): bot/notify.py adds its wording once it knows the channel, so it
    # is never stored (to_payload leaves it out; the text then carries it)
    hint: str | None = None
    # the platform's id of a public post of ours to take back (a reopened wish's 回音壁 post):
    # the channel deletes it, or replaces it with `text` where it can no longer delete it
    retract: str | None = None

    @property
    def kind(self) -> str:
        if self.attachment is not None:
            return "attachment"
        if self.photos:
            return "photos"
        if self.location is not None:
            return "location"
        return "text"

    def to_payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {"text": self.text}
        if self.buttons:
            data["buttons"] = [[b.to_dict() for b in row] for row in self.buttons]
        if self.photos:
            data["photos"] = list(self.photos)
        if self.location is not None:
            data["location"] = list(self.location)
        if self.wish_id is not None:
            data["wish_id"] = self.wish_id
        if self.notice is not None:
            data["notice"] = self.notice.value
        if self.retract is not None:
            data["retract"] = self.retract
        return data

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> OutMessage:
        loc = data.get("location")
        return cls(
            text=data.get("text", ""),
            buttons=tuple(tuple(Button(t, a) for t, a in row) for row in data.get("buttons", [])),
            photos=tuple(data.get("photos", [])),
            location=(float(loc[0]), float(loc[1])) if loc else None,
            wish_id=data.get("wish_id"),
            notice=_notice(data.get("notice")),
            retract=data.get("retract"),
        )


def _notice(value: Any) -> NoticeKind | None:
    """A stored payload's kind; a row queued before kinds were stored has none."""
    try:
        return NoticeKind(value) if value is not None else None
    except ValueError:
        return None


def keyboard(*rows: list[Button] | tuple[Button, ...]) -> Keyboard:
    return tuple(tuple(r) for r in rows if r)
