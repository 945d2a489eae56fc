"""A wish being written: the steps of the /new flow and their validation."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import Any

from bot.domain.model import InvalidInput

# A description may be longer than one Telegram message (4 096 characters): a client splits a
# long paste into several messages, which are joined here; the card then goes to the deputy in
# several messages, the buttons on the last. The cap keeps a card readable on a phone.
MAX_TEXT = 12_000
MIN_TEXT = 4
MAX_PHOTOS = 5
MAX_REPLY = 4096  # a reply or supplement: one message, as much as Telegram takes in one
# Parts of a description arriving this close together are one paste the client split.
PASTE_SECONDS = 2.0
# Photos arriving this close together (or carrying one album's group) are one sending: a client
# delivers an album, or pictures picked together, as one message per photo within a fraction of
# a second. The sending is acknowledged once, this long after its last photo.
PHOTO_SECONDS = 1.5

_MOBILE = re.compile(r"^(?:\+?86)?1[3-9]\d{9}$")
_LANDLINE = re.compile(r"^0\d{2,3}\d{7,8}$")


class Step(StrEnum):
    STATION = "station"
    CATEGORY = "category"
    TEXT = "text"
    MORE = "more"  # text given; photos or a location may follow
    PUBLIC = "public"
    PHONE = "phone"
    CONFIRM = "confirm"


@dataclass(frozen=True)
class Draft:
    step: Step = Step.STATION
    station_id: str | None = None
    category_id: str | None = None
    text: str = ""
    photos: tuple[str, ...] = ()
    location: tuple[float, float] | None = None
    public: bool | None = None
    phone: str | None = None
    skipped_phone: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["step"] = self.step.value
        data["photos"] = list(self.photos)
        data["location"] = list(self.location) if self.location else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Draft:
        loc = data.get("location")
        return cls(
            step=Step(data.get("step", Step.STATION)),
            station_id=data.get("station_id"),
            category_id=data.get("category_id"),
            text=data.get("text", ""),
            photos=tuple(data.get("photos", ())),
            location=(float(loc[0]), float(loc[1])) if loc else None,
            public=data.get("public"),
            phone=data.get("phone"),
            skipped_phone=bool(data.get("skipped_phone", False)),
            extra=dict(data.get("extra", {})),
        )

    def expect(self, *steps: Step) -> None:
        """Refuse a button or message that belongs to another step (stale or forged)."""
        if self.step not in steps:
            raise InvalidInput("stale_step")

    def with_station(self, station_id: str) -> Draft:
        return replace(self, station_id=station_id, step=Step.CATEGORY)

    def with_category(self, category_id: str) -> Draft:
        self.expect(Step.CATEGORY)
        return replace(self, category_id=category_id, step=Step.TEXT)

    def with_text(self, text: str, at: float | None = None) -> Draft:
        """Add a part of the description; `at` (seconds, any epoch) is when it arrived, so
        that the next part can tell whether it continues the same paste."""
        self.expect(Step.TEXT, Step.MORE)
        text = text.strip()
        combined = f"{self.text}\n{text}" if self.text else text
        if len(combined) > MAX_TEXT:
            raise InvalidInput("description_too_long")
        if len(combined) < MIN_TEXT:
            raise InvalidInput("text_too_short")
        extra = self.extra if at is None else {**self.extra, "text_at": at}
        return replace(self, text=combined, step=Step.MORE, extra=extra)

    def continues_paste(self, at: float) -> bool:
        """Whether text arriving at `at` is the next part of a paste the client split (the
        description step, the last part only moments ago): it is joined without a new prompt."""
        last = self.extra.get("text_at")
        return (
            self.step is Step.MORE
            and isinstance(last, int | float)
            and 0 <= at - last <= PASTE_SECONDS
        )

    def with_photo(self, file_ref: str, caption: str | None) -> Draft:
        self.expect(Step.TEXT, Step.MORE)
        if len(self.photos) >= MAX_PHOTOS:
            raise InvalidInput("too_many_photos")
        d = replace(self, photos=(*self.photos, file_ref))
        if caption and caption.strip():
            return d.with_text(caption)
        return d  # without words the step stays: the description is still needed

    def with_photos(
        self, refs: tuple[str, ...], caption: str | None, at: float, group: str = ""
    ) -> Draft:
        """Photos of one input, in order, arriving at `at` (seconds, any epoch), with the
        channel's album hint `group`. Unlike `with_photo`, photos past MAX_PHOTOS are not an
        error: they are counted, in `sending`, as not kept, so that a sending of ten photos is
        answered once (with the count kept and the count refused), not once per photo. A photo
        the draft already has (a repeated update after a crash) is not added twice."""
        self.expect(Step.TEXT, Step.MORE)
        sending = self.sending if self.continues_sending(at, group) else {}
        refused = int(sending.get("refused", 0))
        photos = list(self.photos)
        for ref in refs:
            if ref in photos:
                continue
            if len(photos) >= MAX_PHOTOS:
                refused += 1
            else:
                photos.append(ref)
        extra = {**self.extra, "sending": {"at": at, "group": group, "refused": refused}}
        d = replace(self, photos=tuple(photos), extra=extra)
        if caption and caption.strip():
            return d.with_text(caption)
        return d  # without words the step stays: the description is still needed

    @property
    def sending(self) -> dict[str, Any]:
        """The photos being sent now: when the last came, its album group, how many were
        refused (past MAX_PHOTOS); {} before any photo."""
        found = self.extra.get("sending")
        return found if isinstance(found, dict) else {}

    @property
    def refused_photos(self) -> int:
        return int(self.sending.get("refused", 0))

    def continues_sending(self, at: float, group: str = "") -> bool:
        """Whether a photo arriving at `at` belongs to the sending under way: the same album,
        or within PHOTO_SECONDS of the sending's last photo."""
        return same_sending(self.sending, at, group)

    def with_location(self, latitude: float, longitude: float) -> Draft:
        self.expect(Step.TEXT, Step.MORE)
        if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
            raise InvalidInput("bad_location")
        return replace(self, location=(latitude, longitude))

    def described(self) -> Draft:
        self.expect(Step.MORE)
        return replace(self, step=Step.PUBLIC)

    def with_public(self, public: bool) -> Draft:
        self.expect(Step.PUBLIC)
        return replace(self, public=public, step=Step.PHONE)

    def with_phone(self, phone: str | None) -> Draft:
        self.expect(Step.PHONE)
        if phone is None:
            return replace(self, phone=None, skipped_phone=True, step=Step.CONFIRM)
        return replace(self, phone=normalize_phone(phone), step=Step.CONFIRM)

    def ready(self) -> bool:
        return (
            self.step is Step.CONFIRM
            and self.station_id is not None
            and self.category_id is not None
            and len(self.text) >= MIN_TEXT
            and self.public is not None
        )


def same_sending(last: dict[str, Any], at: float, group: str = "") -> bool:
    """Whether a photo arriving at `at` (album hint `group`) continues the sending whose last
    photo is `last` ({"at": seconds, "group": hint}; {} for none): an album's photos are one
    sending whatever their pace, other photos when they come within PHOTO_SECONDS."""
    if not last:
        return False
    if group and last.get("group") == group:
        return True
    previous = last.get("at")
    return isinstance(previous, int | float) and 0 <= at - previous <= PHOTO_SECONDS


def normalize_phone(text: str) -> str:
    """A mainland mobile or landline number, digits only; raises InvalidInput otherwise."""
    digits = re.sub(r"[\s\-()（）]", "", text.strip())
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    if _MOBILE.match(digits) or _LANDLINE.match(digits):
        return digits
    raise InvalidInput("bad_phone")
