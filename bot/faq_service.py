"""Answering residents' repeated questions, and learning from the ones the FAQ misses."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from bot.clock import Clock
from bot.domain.masking import mask_pii
from bot.domain.model import InvalidInput
from faq import (
    FaqEntry,
    FaqFileError,
    FaqMatcher,
    bundled_faq_path,
    entry_from_fields,
    group_similar,
    load_faq_file,
    normalize,
    render_answer,
)
from storage.db import Database
from storage.repositories import Repos, StationRow, StoredFaqEntry, add_faq_entry, faq_entries

log = logging.getLogger(__name__)

MAX_QUESTION = 500  # longer messages are not questions; they are wishes


@dataclass(frozen=True)
class FaqReply:
    kind: str  # "answer" | "suggest" | "none" | "chat" (a greeting or thanks: no question)
    answer: str = ""  # plain text (the transport escapes it)
    entry_id: str | None = None
    suggestions: tuple[tuple[str, str], ...] = field(default_factory=tuple)  # (id, question)


class FaqService:
    def __init__(self, db: Database, clock: Clock, path: Path | None = None) -> None:
        self.db = db
        self.clock = clock
        self.path = path or bundled_faq_path("zh_CN")
        self._file_entries = load_faq_file(self.path)
        self._matcher = FaqMatcher(self._file_entries)

    async def reload(self) -> int:
        """Re-read the file and the entries added in chat; the old index stays on any error."""
        file_entries = load_faq_file(self.path)
        async with self.db.read() as conn:
            stored = await faq_entries(conn)
        entries = _merge(file_entries, stored)
        matcher = FaqMatcher(entries)
        self._file_entries = file_entries
        self._matcher = matcher
        log.info("FAQ loaded: %d entries", len(entries))
        return len(entries)

    @property
    def entries(self) -> tuple[FaqEntry, ...]:
        return self._matcher.entries

    def topics(self, station_id: str | None) -> list[FaqEntry]:
        """The entries a resident of ``station_id`` may read (general ones plus their own)."""
        return [e for e in self._matcher.entries if e.applies_to(station_id)]

    def answer_for(self, entry_id: str, station: StationRow | None) -> str | None:
        entry = self._matcher.get(entry_id)
        if entry is None or not entry.applies_to(station.id if station else None):
            return None
        return _render(entry, station)

    async def ask(
        self, text: str, station: StationRow | None, names: Iterable[str] = ()
    ) -> FaqReply:
        """`names`: how the asker's own name may be written (masked in the miss log)."""
        question = text.strip()[:MAX_QUESTION]
        station_id = station.id if station else None
        if not normalize(question):
            # 你好 / 谢谢 / 在吗 / an emoji: nothing to answer, and not a gap in the FAQ either.
            return FaqReply("chat")
        match = self._matcher.match(question, station_id)
        if match.kind == "answer" and match.entry is not None:
            return FaqReply("answer", _render(match.entry, station), match.entry.id)
        # Misses are kept with the station only, never with who asked; phone numbers, ID
        # numbers, e-mail addresses and names typed into the question are masked as well.
        async with self.db.transaction() as conn:
            await Repos(conn).add_faq_miss(
                station_id, match.kind, mask_pii(question, names), self.clock.now()
            )
        if match.kind == "suggest" and match.suggestions:
            return FaqReply(
                "suggest", suggestions=tuple((e.id, e.question) for e in match.suggestions[:3])
            )
        return FaqReply("none")

    async def gaps(
        self, station_ids: Sequence[str] | None, days: int = 30
    ) -> list[tuple[str, int, list[str]]]:
        since = self.clock.now() - timedelta(days=days)
        async with self.db.read() as conn:
            misses = await Repos(conn).faq_misses(station_ids, since)
        # Masked again on the way out: rows stored before names were masked are shown too.
        return [
            (mask_pii(rep), count, [mask_pii(x) for x in examples])
            for rep, count, examples in group_similar(misses)
        ]

    async def add(
        self, question: str, answer: str, user_id: int | None, station_ids: Sequence[str] = ()
    ) -> str:
        """Store an entry typed by staff and rebuild the index; effective immediately."""
        question, answer = question.strip(), answer.strip()
        if not (2 <= len(question) <= 200) or not (2 <= len(answer) <= 2000):
            raise InvalidInput("faq_add_format")
        entry_id = f"staff-{int(self.clock.now().timestamp())}-{secrets.token_hex(3)}"
        try:
            entry = entry_from_fields(entry_id, question, answer, stations=tuple(station_ids))
        except FaqFileError:  # e.g. a question of punctuation or filler words only
            raise InvalidInput("faq_add_format") from None
        stored = StoredFaqEntry(entry.id, entry.question, entry.answer, (), entry.stations)
        async with self.db.transaction() as conn:
            await add_faq_entry(conn, stored, user_id, self.clock.now())
        await self.reload()
        return entry_id


def _merge(file_entries: Sequence[FaqEntry], stored: Sequence[StoredFaqEntry]) -> list[FaqEntry]:
    known = {e.id for e in file_entries}
    extra = [
        FaqEntry(
            id=s.id,
            question=s.question,
            answer=s.answer,
            alternates=s.alternates,
            stations=s.stations,
        )
        for s in stored
        if s.id not in known
    ]
    return [*file_entries, *extra]


def _render(entry: FaqEntry, station: StationRow | None) -> str:
    if station is None:
        return render_answer(entry)
    return render_answer(
        entry, station_name=station.name, address=station.address, reception=station.reception
    )
