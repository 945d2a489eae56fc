"""FAQ entries: the data model, loading and validation of FAQ files, rendering answers."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from faq.normalize import normalize

__all__ = [
    "FaqEntry",
    "FaqFileError",
    "bundled_faq_path",
    "dump_entry_yaml",
    "entry_from_fields",
    "load_faq_file",
    "render_answer",
]

_DATA_DIR = Path(__file__).with_name("data")
# At most 60 characters: "fq:<id>" must fit in a Telegram button's 64 bytes of callback data.
_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,59}")
_FIELDS = ("id", "question", "alternates", "answer", "tags", "stations")
_MAX_TEXT = 4000  # Telegram's message limit is 4096; leave room for the rendered fields


@dataclass(frozen=True)
class FaqEntry:
    id: str
    question: str
    answer: str
    alternates: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    stations: tuple[str, ...] = ()

    def applies_to(self, station_id: str | None) -> bool:
        """Entries without ``stations`` apply everywhere; others only to those stations.

        With no station known, only the general entries apply: a station-specific
        answer (its own parking, its own hotline) would be wrong for anyone else.
        """
        if not self.stations:
            return True
        return station_id is not None and str(station_id) in self.stations


class FaqFileError(ValueError):
    """An FAQ file or entry is invalid; the message names the file, the entry and the problem."""


def bundled_faq_path(locale: str = "zh_CN") -> Path:
    """Path of the knowledge base shipped with the package for ``locale`` (e.g. ``zh_CN``)."""
    if not re.fullmatch(r"[A-Za-z]{2,3}(_[A-Za-z0-9]{2,8})?", locale):
        raise ValueError(f"invalid locale {locale!r}")
    path = _DATA_DIR / f"faq_{locale}.yaml"
    if not path.is_file():
        available = sorted(p.stem.removeprefix("faq_") for p in _DATA_DIR.glob("faq_*.yaml"))
        raise FileNotFoundError(
            f"no bundled FAQ for locale {locale!r} (available: {', '.join(available)})"
        )
    return path


def _text(value: Any, field: str, *, required: bool) -> str:
    if value is None:
        if required:
            raise ValueError(f"missing required field '{field}'")
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"field '{field}' must be text, got {type(value).__name__}")
    text = str(value).strip()
    if required and not text:
        raise ValueError(f"field '{field}' is empty")
    if len(text) > _MAX_TEXT:
        raise ValueError(f"field '{field}' is longer than {_MAX_TEXT} characters")
    return text


def _text_list(value: Any, field: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, Iterable) or isinstance(value, Mapping):
        raise ValueError(f"field '{field}' must be a list of text")
    items: list[str] = []
    for i, item in enumerate(value):
        text = _text(item, f"{field}[{i}]", required=True)
        if text not in items:
            items.append(text)
    return tuple(items)


def _build_entry(raw: Mapping[str, Any]) -> FaqEntry:
    """Validate one entry's fields; raises ValueError describing the problem."""
    unknown = sorted(str(k) for k in raw if k not in _FIELDS)
    if unknown:
        raise ValueError(
            f"unknown field(s) {', '.join(repr(k) for k in unknown)} "
            f"(allowed: {', '.join(_FIELDS)})"
        )
    entry_id = _text(raw.get("id"), "id", required=True)
    if not _ID_RE.fullmatch(entry_id):
        raise ValueError(
            f"id {entry_id!r} must be 1-60 letters, digits, '_', '-' or '.', "
            "starting with a letter or digit"
        )
    question = _text(raw.get("question"), "question", required=True)
    answer = _text(raw.get("answer"), "answer", required=True)
    alternates = tuple(
        a for a in _text_list(raw.get("alternates"), "alternates") if a != question
    )
    if not normalize(question):
        raise ValueError(
            f"question {question!r} has no matchable text (only punctuation or filler words)"
        )
    for i, alternate in enumerate(alternates):
        if not normalize(alternate):
            raise ValueError(f"alternates[{i}] {alternate!r} has no matchable text")
    return FaqEntry(
        id=entry_id,
        question=question,
        answer=answer,
        alternates=alternates,
        tags=_text_list(raw.get("tags"), "tags"),
        stations=_text_list(raw.get("stations"), "stations"),
    )


def entry_from_fields(
    id: str,
    question: str,
    answer: str,
    alternates: Sequence[str] = (),
    tags: Sequence[str] = (),
    stations: Sequence[str] = (),
) -> FaqEntry:
    """Build a validated entry (e.g. typed by staff in chat); raises FaqFileError if invalid."""
    raw = {
        "id": id,
        "question": question,
        "answer": answer,
        "alternates": list(alternates),
        "tags": list(tags),
        "stations": list(stations),
    }
    try:
        return _build_entry(raw)
    except ValueError as exc:
        raise FaqFileError(f"entry {id!r}: {exc}") from None


def dump_entry_yaml(entry: FaqEntry) -> str:
    """One entry as a YAML list item, ready to append to an FAQ file (bare list format)."""
    data: dict[str, Any] = {"id": entry.id, "question": entry.question}
    if entry.alternates:
        data["alternates"] = list(entry.alternates)
    data["answer"] = entry.answer
    if entry.tags:
        data["tags"] = list(entry.tags)
    if entry.stations:
        data["stations"] = list(entry.stations)
    text: str = yaml.safe_dump(
        [data], allow_unicode=True, sort_keys=False, default_flow_style=False, width=1000
    )
    return "\n" + text


def _entries_of(document: Any, path: Path) -> list[Any]:
    if isinstance(document, list):
        return document
    if isinstance(document, dict) and isinstance(document.get("entries"), list):
        return list(document["entries"])
    raise FaqFileError(
        f"{path}: expected a list of entries (or a mapping with an 'entries' list), "
        f"got {type(document).__name__}"
    )


def load_faq_file(path: str | Path) -> list[FaqEntry]:
    """Load and validate an FAQ file; all-or-nothing.

    The file is either a YAML list of entries or a mapping with an ``entries`` list.
    Any problem raises FaqFileError naming the file, the entry (id, or index when the
    id itself is missing or bad) and the problem; nothing is returned half-loaded.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FaqFileError(f"{path}: cannot read file: {exc}") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise FaqFileError(f"{path}: invalid YAML: {exc}") from None
    if document is None:
        raise FaqFileError(f"{path}: file has no entries")
    raw_entries = _entries_of(document, path)
    if not raw_entries:
        raise FaqFileError(f"{path}: file has no entries")

    entries: list[FaqEntry] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(raw_entries):
        label = f"entry #{index + 1}"
        if isinstance(raw, dict) and isinstance(raw.get("id"), str) and raw["id"].strip():
            label += f" (id {raw['id'].strip()!r})"
        if not isinstance(raw, dict):
            raise FaqFileError(f"{path}: {label}: expected a mapping, got {type(raw).__name__}")
        try:
            entry = _build_entry(raw)
        except ValueError as exc:
            raise FaqFileError(f"{path}: {label}: {exc}") from None
        if entry.id in seen:
            raise FaqFileError(
                f"{path}: {label}: duplicate id {entry.id!r} (first used by entry #{seen[entry.id]})"
            )
        seen[entry.id] = index + 1
        entries.append(entry)
    return entries


_PLACEHOLDER_RE = re.compile(r"\{(station_name|address|reception)\}")
# Shown when the station has not filled the field in, so that sentences still read.
_FALLBACKS = {
    "station_name": "本联络站",
    "address": "请以联络站公告为准",
    "reception": "请以联络站公告为准",
}


def render_answer(
    entry: FaqEntry, *, station_name: str = "", address: str = "", reception: str = ""
) -> str:
    """Fill the station placeholders in the answer.

    Only ``{station_name}``, ``{address}`` and ``{reception}`` are replaced, in one pass:
    other braces stay as they are and substituted values are never re-expanded.
    Empty values fall back to neutral wording.
    """
    values = {"station_name": station_name, "address": address, "reception": reception}

    def fill(match: re.Match[str]) -> str:
        key = match.group(1)
        return values[key].strip() or _FALLBACKS[key]

    return _PLACEHOLDER_RE.sub(fill, entry.answer)
