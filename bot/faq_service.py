"""Answering residents' repeated questions, and learning from the ones the FAQ misses."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import secrets
from collections import OrderedDict
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
    FaqMatch,
    FaqMatcher,
    bundled_faq_path,
    entry_from_fields,
    group_similar,
    load_faq_file,
    normalize,
    render_answer,
)
from faq.acknowledge import is_acknowledgement
from storage.db import Database
from storage.repositories import (
    Repos,
    StationRow,
    StoredFaqEntry,
    add_faq_alternate,
    add_faq_entry,
    delete_faq_misses,
    faq_alternates,
    faq_entries,
    faq_miss_rows,
    faq_miss_text,
)

log = logging.getLogger(__name__)

MAX_QUESTION = 500  # longer messages are not questions; they are wishes
# /faq_gaps groups at most this many of the newest misses: enough to show what recurs,
# and a bound on the work however long the bot has been missing questions.
MAX_GAP_MISSES = 2000
# The matcher's verdicts kept (see FaqService.ask): residents ask the same few things over
# and over, and a verdict costs 1-2 ms of CPU where a look-up costs a microsecond. Bounded:
# at most this many questions (each at most MAX_QUESTION characters) are held.
MATCH_CACHE_SIZE = 4096


@dataclass(frozen=True)
class Gap:
    """A group of similar missed questions; ``miss_id`` is one miss of the representative
    wording, the handle staff use to teach it (:meth:`FaqService.teach`)."""

    question: str
    count: int
    examples: list[str]
    miss_id: int


def entry_token(entry_id: str) -> str:
    """A short stable handle for an entry id, small enough for a button's callback data
    (ids may be 60 characters; Telegram allows 64 bytes for the whole action)."""
    return hashlib.sha1(entry_id.encode("utf-8")).hexdigest()[:10]


@dataclass(frozen=True)
class FaqReply:
    kind: str  # "answer" | "suggest" | "none" | "chat" (a greeting or thanks: no question)
    answer: str = ""  # plain text (the transport escapes it)
    entry_id: str | None = None
    suggestions: tuple[tuple[str, str], ...] = field(default_factory=tuple)  # (id, question)
    # "chat" that thanks or acknowledges ("好的谢谢" after a deputy's reply): answered politely
    thanks: bool = False


class FaqService:
    def __init__(self, db: Database, clock: Clock, path: Path | None = None) -> None:
        self.db = db
        self.clock = clock
        self.path = path or bundled_faq_path("zh_CN")
        self._file_entries = load_faq_file(self.path)  # validated now: a bad file stops start-up
        # Built on first use, or by reload() (which start-up calls at once): building and
        # calibrating the index twice would cost start-up time for nothing.
        self._built: FaqMatcher | None = None
        # (station id, question) -> the verdict of the matcher it was computed with. A matcher
        # is never modified after it is built (reload and add build a new one), so a verdict
        # stays right for as long as that matcher is in use; any other matcher empties it.
        self._verdicts: OrderedDict[tuple[str | None, str], FaqMatch] = OrderedDict()
        self._verdicts_of: FaqMatcher | None = None

    async def reload(self) -> int:
        """Re-read the file and the entries added in chat; the old index stays on any error."""
        file_entries = load_faq_file(self.path)
        async with self.db.read() as conn:
            stored = await faq_entries(conn)
            taught = await faq_alternates(conn)
        entries = _merge(file_entries, stored, taught)
        # Building (and calibrating) the index takes a while on a large FAQ: off the loop.
        matcher = await asyncio.to_thread(FaqMatcher, entries)
        self._file_entries = file_entries
        self._built = matcher
        log.info("FAQ loaded: %d entries", len(entries))
        return len(entries)

    @property
    def _matcher(self) -> FaqMatcher:
        if self._built is None:
            self._built = FaqMatcher(self._file_entries)
        return self._built

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
        if is_acknowledgement(question):
            return FaqReply("chat", thanks=True)
        if not normalize(question):
            # 你好 / 谢谢 / 在吗 / an emoji: nothing to answer, and not a gap in the FAQ either.
            return FaqReply("chat")
        match = self._match(question, station_id)
        if match.kind == "answer" and match.entry is not None:
            return FaqReply("answer", _render(match.entry, station), match.entry.id)
        # Misses are kept with the station only, never with who asked; phone numbers, ID
        # numbers, e-mail addresses and names typed into the question are masked as well.
        # (quiet: a miss is no message for the dispatcher to look for)
        async with self.db.transaction(quiet=True) as conn:
            await Repos(conn).add_faq_miss(
                station_id, match.kind, mask_pii(question, names), self.clock.now()
            )
        if match.kind == "suggest" and match.suggestions:
            return FaqReply(
                "suggest", suggestions=tuple((e.id, e.question) for e in match.suggestions[:3])
            )
        return FaqReply("none")

    def _match(self, question: str, station_id: str | None) -> FaqMatch:
        """The matcher's verdict, from the cache when this matcher already gave it: the exact
        text is the key (not its normalised form), so the verdict is the one the matcher would
        give now, whatever the matcher's evidence is made of."""
        matcher = self._matcher
        if self._verdicts_of is not matcher:
            self._verdicts.clear()
            self._verdicts_of = matcher
        key = (station_id, question)
        found = self._verdicts.get(key)
        if found is not None:
            self._verdicts.move_to_end(key)
            return found
        found = matcher.match(question, station_id)
        self._verdicts[key] = found
        if len(self._verdicts) > MATCH_CACHE_SIZE:
            self._verdicts.popitem(last=False)
        return found

    async def gaps(self, station_ids: Sequence[str] | None, days: int = 30) -> list[Gap]:
        """The newest misses (at most MAX_GAP_MISSES) grouped by similarity, largest first.

        Misses that are now phrasings of an entry (taught since) are left out. The grouping
        runs in a worker thread: it is CPU work that would otherwise stall every chat.
        """
        since = self.clock.now() - timedelta(days=days)
        async with self.db.read() as conn:
            rows = await faq_miss_rows(conn, station_ids, since, MAX_GAP_MISSES)
        known = self._matcher.phrasings()

        def group() -> tuple[dict[str, int], list[tuple[str, int, list[str]]]]:
            newest: dict[str, int] = {}
            texts: list[str] = []
            for miss_id, text in reversed(rows):  # oldest first: ties go to the first asked
                if normalize(text) in known:
                    continue
                newest[text.strip()] = miss_id
                texts.append(text)
            return newest, group_similar(texts)

        newest, groups = await asyncio.to_thread(group)
        # Masked again on the way out: rows stored before names were masked are shown too.
        return [
            Gap(mask_pii(rep), count, [mask_pii(x) for x in examples], newest[rep])
            for rep, count, examples in groups
        ]

    async def missed_question(self, miss_id: int, station_ids: Sequence[str] | None) -> str:
        async with self.db.read() as conn:
            text = await faq_miss_text(conn, miss_id, station_ids)
        if text is None:
            raise InvalidInput("stale")
        return text

    async def likely_entries(
        self, miss_id: int, station_ids: Sequence[str] | None, limit: int = 3
    ) -> tuple[str, list[FaqEntry]]:
        """A missed question and the entries it most likely asks about (best first), among
        those the staff member's stations see."""
        text = await self.missed_question(miss_id, station_ids)
        visible = (
            (lambda e: True)
            if station_ids is None
            else (lambda e: not e.stations or any(s in e.stations for s in station_ids))
        )
        found = [e for e, _ in self._matcher.scores(text, any_station=True) if visible(e)]
        return text, found[:limit]

    def entry_by_token(self, token: str) -> FaqEntry | None:
        for entry in self._matcher.entries:
            if entry_token(entry.id) == token:
                return entry
        return None

    async def teach(
        self, miss_id: int, token: str, user_id: int | None, station_ids: Sequence[str] | None
    ) -> tuple[str, FaqEntry]:
        """Make a missed question another phrasing of an entry; effective at once, stored.

        The misses with the same wording are forgotten: the FAQ answers them now.
        """
        text = await self.missed_question(miss_id, station_ids)
        entry = self.entry_by_token(token)
        if entry is None or (
            station_ids is not None
            and entry.stations
            and not any(s in entry.stations for s in station_ids)
        ):
            raise InvalidInput("stale")
        phrasing = text.strip()[:200]
        key = normalize(phrasing)
        async with self.db.transaction() as conn:
            await add_faq_alternate(conn, entry.id, phrasing, user_id, self.clock.now())
            # Every wording that normalises the same ("…吗？", "…吗") is answered now.
            recent = await faq_miss_rows(
                conn, station_ids, self.clock.now() - timedelta(days=366), MAX_GAP_MISSES
            )
            same = [t for _, t in recent if normalize(t) == key]
            await delete_faq_misses(conn, [text, *same], station_ids)
        await self.reload()
        return phrasing, entry

    async def forget_misses(self, texts: Iterable[str], station_ids: Sequence[str] | None) -> None:
        async with self.db.transaction() as conn:
            await delete_faq_misses(conn, texts, station_ids)

    async def export(self) -> list[FaqEntry]:
        """The FAQ as the bot uses it: the file, plus entries and phrasings added in chat."""
        async with self.db.read() as conn:
            stored = await faq_entries(conn)
            taught = await faq_alternates(conn)
        return _merge(load_faq_file(self.path), stored, taught)

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


def _merge(
    file_entries: Sequence[FaqEntry],
    stored: Sequence[StoredFaqEntry],
    taught: dict[str, list[str]] | None = None,
) -> list[FaqEntry]:
    """File entries, then the entries added in chat, each with the phrasings staff taught
    it (taught phrasings of an entry that no longer exists are kept in the database and
    come back if it does)."""
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
    merged = [*file_entries, *extra]
    if not taught:
        return merged
    return [
        dataclasses.replace(
            e,
            alternates=e.alternates
            + tuple(t for t in taught.get(e.id, ()) if t != e.question and t not in e.alternates),
        )
        if e.id in taught
        else e
        for e in merged
    ]


def _render(entry: FaqEntry, station: StationRow | None) -> str:
    if station is None:
        return render_answer(entry)
    return render_answer(
        entry, station_name=station.name, address=station.address, reception=station.reception
    )
