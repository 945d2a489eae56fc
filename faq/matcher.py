"""Match a resident's message against the FAQ.

Two stages, both over text normalised by :mod:`faq.normalize`:

* **Recall** — BM25 over character unigrams, character bigrams, pinyin bigrams and
  whole lexicon words. Chinese has no spaces, so word tokens are unavailable without a
  segmenter; overlapping bigrams are the standard substitute, and pinyin bigrams let a
  homophone typo (连络/联络, 帐户/账户) still hit. Each *entry* is one BM25 document
  (all its phrasings together), so evidence from several phrasings adds up.
* **Rerank** — for each phrasing of the recalled entries: rapidfuzz similarity over the
  pinyin sequence (homophones compare equal) and over the characters, an alignment score
  for questions buried in longer messages, and IDF-weighted token overlap in both
  directions. An entry scores as its best phrasing.

The decision uses the best score and its margin over the best *other* entry, so two
phrasings of the same entry never make each other look ambiguous.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from rapidfuzz import fuzz, process

from faq.model import FaqEntry, load_faq_file
from faq.normalize import (
    Normalizer,
    default_normalizer,
    pinyin_units,
    significant_length,
    text_units,
)

__all__ = ["FaqMatch", "FaqMatcher", "MatcherTuning", "group_similar"]


@dataclass(frozen=True)
class FaqMatch:
    """Outcome of :meth:`FaqMatcher.match`.

    ``answer``: ``entry`` is the answer to send. ``suggest``: no single confident answer;
    ``suggestions`` holds up to three distinct entries to offer ("您是不是想问…").
    ``none``: nothing relevant. ``score`` is the best entry's score (0-1) and ``margin``
    its lead over the best different entry.
    """

    kind: Literal["answer", "suggest", "none"]
    entry: FaqEntry | None
    suggestions: tuple[FaqEntry, ...]
    score: float
    margin: float


#: Names of the rerank features, in the order of ``MatcherTuning.coef``.
FEATURES = (
    "pinyin_ratio",  # best rapidfuzz ratio over the pinyin sequence of a phrasing
    "char_ratio",  # best rapidfuzz ratio over the characters
    "partial",  # best alignment of the shorter text inside the longer (buried questions)
    "cover_phrasing",  # IDF-weighted share of a phrasing's tokens found in the message
    "cover_message",  # IDF-weighted share of the message's tokens found in a phrasing
    "bm25",  # entry-level BM25, relative to the message's own token weight
    "known",  # share of the message's token weight the FAQ knows at all
)


@dataclass(frozen=True)
class MatcherTuning:
    """Weights and thresholds; defaults are fitted on the tuning half of
    tests/data/faq_labelled.yaml (see bench/faq_bench.py)."""

    # Recall token weights, relative to a character bigram.
    unigram_weight: float = 0.4
    pinyin_weight: float = 0.6
    lexicon_weight: float = 1.0
    concept_weight: float = 1.0
    bm25_k1: float = 1.2
    bm25_b: float = 0.5
    recall_size: int = 12
    # Rerank: score = logistic(bias + coef · features), an estimate of P(entry is right).
    coef: tuple[float, ...] = (3.0, 0.0, 1.0, 2.0, 2.0, 0.0, 2.0)
    bias: float = -6.0
    # Decision.
    answer_score: float = 0.6
    answer_margin: float = 0.1
    suggest_score: float = 0.2
    min_units: int = 2  # fewer normalised units than this: no match at all
    min_chars: int = 3  # fewer significant characters typed than this: no match at all


DEFAULT_TUNING = MatcherTuning()

_CODE_BASE = 0xF0000  # Supplementary Private Use Area A: never occurs in real text
_SYLLABLE_CODES: dict[str, str] = {}


def _code(syllable: str) -> str:
    # One private-use character per toneless syllable (about 400 exist), so rapidfuzz
    # compares pinyin syllable by syllable and homophones are equal characters.
    code = _SYLLABLE_CODES.get(syllable)
    if code is None:
        code = chr(_CODE_BASE + len(_SYLLABLE_CODES))
        _SYLLABLE_CODES[syllable] = code
    return code


def _pinyin_key(units: list[str]) -> list[str]:
    return [
        u if u < "\u3400" else _code(s) for u, s in zip(units, pinyin_units(units), strict=True)
    ]


@dataclass
class _Phrasing:
    entry: int
    text: str  # normalised characters
    pinyin: str  # one code character per syllable; ASCII runs kept
    tokens: frozenset[str]
    weight: float = 0.0  # sum of the token weights, filled in once IDF is known


@dataclass
class _Query:
    text: str
    pinyin: str
    weights: dict[str, float] = field(default_factory=dict)
    total: float = 0.0
    known: float = 0.0  # weight of the tokens that occur somewhere in the FAQ
    recall: dict[int, float] = field(default_factory=dict)  # BM25 per entry


class FaqMatcher:
    """Index of FAQ entries; built once, then :meth:`match` per message (thread-safe reads)."""

    def __init__(
        self,
        entries: Sequence[FaqEntry],
        *,
        tuning: MatcherTuning = DEFAULT_TUNING,
        normalizer: Normalizer | None = None,
    ) -> None:
        self.entries: tuple[FaqEntry, ...] = tuple(entries)
        self.tuning = tuning
        self._norm = normalizer or default_normalizer()
        self._by_id: dict[str, FaqEntry] = {}
        for e in self.entries:
            if e.id in self._by_id:
                raise ValueError(f"duplicate FAQ entry id {e.id!r}")
            self._by_id[e.id] = e
        self._type_weight = {
            "uni": tuning.unigram_weight,
            "bi": 1.0,
            "py": tuning.pinyin_weight,
            "lex": tuning.lexicon_weight,
            "concept": tuning.concept_weight,
        }
        self._build()

    @classmethod
    def from_file(cls, path: str | Path) -> FaqMatcher:
        """Load (all-or-nothing, see :func:`load_faq_file`) and index an FAQ file."""
        return cls(load_faq_file(path))

    def get(self, entry_id: str) -> FaqEntry | None:
        return self._by_id.get(entry_id)

    # -- index -------------------------------------------------------------------------

    def _tokenize(self, text: str) -> tuple[dict[str, str], str]:
        """Token -> type for normalised text, and its pinyin key."""
        units = text_units(text)
        key = _pinyin_key(units)
        tokens: dict[str, str] = dict.fromkeys(units, "uni")
        for a, b in zip(key, key[1:], strict=False):
            tokens[a + b] = "py"
        for a, b in zip(units, units[1:], strict=False):
            tokens[a + b] = "bi"  # overrides "py" when both units are ASCII (same token)
        for word in self._norm.keywords(text):
            tokens[word] = "concept" if word[0] == "#" else "lex"
        return tokens, "".join(key)

    def _build(self) -> None:
        self._phrasings: list[_Phrasing] = []
        self._entry_phrasings: list[list[int]] = []
        self._token_type: dict[str, str] = {}
        entry_tf: list[dict[str, int]] = []
        entry_len: list[int] = []
        df: dict[str, int] = {}
        for index, entry in enumerate(self.entries):
            own: list[int] = []
            tf: dict[str, int] = {}
            length = 0
            seen_texts: set[str] = set()
            for phrase in (entry.question, *entry.alternates):
                text = self._norm.normalize(phrase)
                if not text or text in seen_texts:
                    continue
                seen_texts.add(text)
                tokens, key = self._tokenize(text)
                self._token_type.update(tokens)
                for token in tokens:
                    tf[token] = tf.get(token, 0) + 1
                length += len(tokens)
                own.append(len(self._phrasings))
                self._phrasings.append(_Phrasing(index, text, key, frozenset(tokens)))
            for token in tf:
                df[token] = df.get(token, 0) + 1
            self._entry_phrasings.append(own)
            entry_tf.append(tf)
            entry_len.append(length)

        n = max(len(self.entries), 1)
        self._idf_unknown = math.log(1 + (n + 0.5) / 0.5)
        self._weight: dict[str, float] = {
            token: self._type_weight[self._token_type[token]]
            * math.log(1 + (n - count + 0.5) / (count + 0.5))
            for token, count in df.items()
        }
        for p in self._phrasings:
            p.weight = sum(self._weight[t] for t in p.tokens)

        # BM25 postings with the per-document part precomputed: a query only sums.
        k1, b = self.tuning.bm25_k1, self.tuning.bm25_b
        avg_len = sum(entry_len) / n or 1.0
        postings: dict[str, list[tuple[int, float]]] = {}
        for index, tf in enumerate(entry_tf):
            norm = k1 * (1 - b + b * entry_len[index] / avg_len)
            for token, count in tf.items():
                w = self._weight[token] * count * (k1 + 1) / (count + norm)
                postings.setdefault(token, []).append((index, w))
        self._postings = postings
        self._general = [not e.stations for e in self.entries]
        self._station_masks: dict[str, list[bool]] = {}
        for e in self.entries:
            for station in e.stations:
                if station not in self._station_masks:
                    self._station_masks[station] = [x.applies_to(station) for x in self.entries]

    # -- query -------------------------------------------------------------------------

    def _query(self, text: str) -> _Query:
        tokens, key = self._tokenize(text)
        query = _Query(text, key)
        unknown = self._idf_unknown
        for token, kind in tokens.items():
            # Words the FAQ never uses weigh like the rarest known ones: they are what
            # makes "超市在哪" different from "联络站在哪".
            w = self._weight.get(token)
            if w is None:
                query.weights[token] = self._type_weight[kind] * unknown
            else:
                query.weights[token] = w
                query.known += w
        query.total = sum(query.weights.values())
        return query

    def _recall(self, query: _Query, allowed: list[bool]) -> list[int]:
        scores: dict[int, float] = {}
        get = scores.get
        for token in query.weights:
            for index, w in self._postings.get(token, ()):
                scores[index] = get(index, 0.0) + w
        query.recall = scores
        ranked = sorted((i for i in scores if allowed[i]), key=scores.__getitem__, reverse=True)
        return ranked[: self.tuning.recall_size]

    def _features(self, query: _Query, candidates: list[int]) -> dict[int, list[float]]:
        """Rerank features per candidate entry (each the best over its phrasings)."""
        refs = [i for c in candidates for i in self._entry_phrasings[c]]
        if not refs:
            return {}
        phr = self._phrasings
        pinyin = [phr[i].pinyin for i in refs]
        py_ratio = process.extract(
            query.pinyin, pinyin, scorer=fuzz.ratio, processor=None, limit=None
        )
        char_ratio = process.extract(
            query.text, [phr[i].text for i in refs], scorer=fuzz.ratio, processor=None, limit=None
        )
        partial = process.extract(
            query.pinyin, pinyin, scorer=fuzz.partial_ratio, processor=None, limit=None
        )
        n_feat = len(FEATURES)
        per_ref = [[0.0] * n_feat for _ in refs]
        for _, score, pos in py_ratio:
            per_ref[pos][0] = score / 100
        for _, score, pos in char_ratio:
            per_ref[pos][1] = score / 100
        q_len = len(query.pinyin)
        for _, score, pos in partial:
            # Finding a short phrasing inside a long message proves little.
            short = min(len(pinyin[pos]), q_len)
            per_ref[pos][2] = score / 100 * min(1.0, short / 6)
        q_weights = query.weights
        keys = q_weights.keys()
        total = query.total or 1.0
        best: dict[int, list[float]] = {}
        for pos, ref in enumerate(refs):
            p = phr[ref]
            common = sum(q_weights[tok] for tok in p.tokens & keys)
            feats = per_ref[pos]
            feats[3] = common / p.weight if p.weight else 0.0
            feats[4] = common / total
            current = best.get(p.entry)
            if current is None:
                best[p.entry] = feats
            else:
                for k in range(5):
                    if feats[k] > current[k]:
                        current[k] = feats[k]
        for entry, feats in best.items():
            feats[5] = query.recall.get(entry, 0.0) / total
            feats[6] = query.known / total
        return best

    def _score(self, feats: list[float]) -> float:
        t = self.tuning
        z = t.bias + sum(c * f for c, f in zip(t.coef, feats, strict=True))
        return 1.0 / (1.0 + math.exp(-z)) if z > -50 else 0.0

    def scores(self, text: str, station_id: str | None = None) -> list[tuple[FaqEntry, float]]:
        """All recalled entries with their scores, best first (for tuning and diagnostics)."""
        normalized = self._norm.normalize(text)
        if (
            len(text_units(normalized)) < self.tuning.min_units
            or significant_length(text) < self.tuning.min_chars
        ):
            return []
        allowed = (
            self._general
            if station_id is None
            else self._station_masks.get(str(station_id), self._general)
        )
        query = self._query(normalized)
        candidates = self._recall(query, allowed)
        feats = self._features(query, candidates)
        ranked = sorted(
            ((i, self._score(f)) for i, f in feats.items()), key=lambda kv: kv[1], reverse=True
        )
        return [(self.entries[i], s) for i, s in ranked]

    def match(self, text: str, station_id: str | None = None) -> FaqMatch:
        """Answer, suggest or give up on a resident's message.

        ``station_id`` limits the FAQ to entries for that station plus the general
        ones; with ``None`` only the general entries are considered.
        """
        ranked = self.scores(text, station_id)
        if not ranked:
            return FaqMatch("none", None, (), 0.0, 0.0)
        t = self.tuning
        top_entry, top = ranked[0]
        runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
        margin = top - runner_up
        if top >= t.answer_score and margin >= t.answer_margin:
            return FaqMatch("answer", top_entry, (), top, margin)
        if top >= t.suggest_score:
            suggestions = tuple(e for e, s in ranked[:3] if s >= t.suggest_score)
            return FaqMatch("suggest", None, suggestions, top, margin)
        return FaqMatch("none", None, (), top, margin)


def group_similar(
    questions: Sequence[str], threshold: float = 70.0
) -> list[tuple[str, int, list[str]]]:
    """Cluster questions the FAQ missed, for staff to see which entries are lacking.

    Returns ``(representative, count, examples)`` per cluster, most frequent first.
    The representative is the cluster's most frequent wording; ``examples`` holds up to
    five distinct wordings (most frequent first). Questions that normalise to nothing
    (greetings, emoji) are ignored. ``threshold`` is a 0-100 similarity on the
    normalised pinyin, so homophone variants group together.
    """
    norm = default_normalizer()
    by_key: dict[str, list[str]] = {}
    for question in questions:
        text = norm.normalize(question)
        if text:
            by_key.setdefault(text, []).append(question.strip())
    # Most frequent normalised wordings first: they become the cluster representatives.
    keys = sorted(by_key, key=lambda k: (-len(by_key[k]), k))
    reps: list[str] = []  # pinyin keys of cluster representatives
    clusters: list[list[str]] = []
    for text in keys:
        key = "".join(_pinyin_key(text_units(text)))
        hit = process.extractOne(
            key, reps, scorer=fuzz.ratio, processor=None, score_cutoff=threshold
        )
        if hit is None:
            reps.append(key)
            clusters.append([text])
        else:
            clusters[hit[2]].append(text)
    result: list[tuple[str, int, list[str]]] = []
    for members in clusters:
        originals: dict[str, int] = {}
        for text in members:
            for q in by_key[text]:
                originals[q] = originals.get(q, 0) + 1
        wordings = sorted(originals, key=lambda q: -originals[q])
        result.append((wordings[0], sum(originals.values()), wordings[:5]))
    result.sort(key=lambda r: -r[1])
    return result
