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

A long message (a story, then the question) is also read clause by clause: its last
clause, last two, first, and what follows the last 请问/想问 (``Normalizer.focus``); an
entry scores as its best reading, a clause's score discounted, and a clause that names no
topic is skipped.

Content words (issue 11): the message is segmented with general-language word statistics
(:mod:`faq.lexicon`) and its content words are looked up in each entry's phrasings and in its
answer and tags; the share found is added to the rerank log-odds, and entries using them are
recalled too. A station's FAQ has one or two phrasings an entry, so its answers carry most of
the residents' vocabulary.

Whole-entry characters (round 3 of issue 11): each entry is also one BM25 document of the
characters and character bigrams of its phrasings, answer and tags. That evidence orders the
candidates (see MatcherTuning.doc_weight) without changing their scores, and proposes candidates
of its own. Pinyin typed in Latin letters (dibao, sfz) is read as the FAQ's word with that sound.

The decision uses the best score and its margin over the best *other* entry, so two
phrasings of the same entry never make each other look ambiguous. Two guards keep a
confident answer for when the message's topic is really the entry's: a message with
topic words is answered only by an entry that uses most of them somewhere ("代表的电话"
is not the station's phone), and a message without any (frames only: "电话多少") needs a
higher score. On top of that fixed rule, a second one is calibrated on the loaded FAQ when it
is built (:meth:`FaqMatcher._calibrate`): the fitted weights only mean "probability right" on
FAQs like the bundled one. What neither rule answers, a decision model may (boosted trees over
features that mean the same on any FAQ: whether the rankers agree on the best entry, its lead
in each, the words that tell it from the runner-up; see DECISION_FEATURES).
"""

from __future__ import annotations

import dataclasses
import gc
import heapq
import json
import math
import operator
import random
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from rapidfuzz import fuzz, process

from faq.bank import IntentBank, PhrasingIndex, default_bank
from faq.lexicon import Synonyms, synonyms, word_stats, word_vectors
from faq.model import FaqEntry, load_faq_file
from faq.normalize import (
    Normalizer,
    default_normalizer,
    pinyin_key,
    pinyin_units,
    significant_length,
    text_units,
)

if TYPE_CHECKING:
    import numpy as np

__all__ = ["Calibration", "FaqMatch", "FaqMatcher", "MatcherTuning", "group_similar"]


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
    "keywords_phrasing",  # weighted share of a phrasing's keywords (lexicon, concepts) found
    "keywords_message",  # weighted share of the message's keywords found in a phrasing
    "keywords_entry",  # weighted share of the message's keywords the entry uses (0: none)
)


@dataclass(frozen=True)
class MatcherTuning:
    """Weights and thresholds. ``coef`` and ``bias`` are a logistic regression fitted on the
    tuning half of tests/data/faq_labelled.yaml plus the tuning half of faq_fresh.yaml
    (``python bench/faq_bench.py --fit``; fitted before the clause readings and the last
    table additions: a refit after them scored worse on messages outside both sets, so it
    was not adopted). The decision thresholds were chosen on the same data and on
    throw-away probe messages, for confident-wrong and off-topic answers well under 2 % and
    5 %, favouring a suggestion over a doubtful answer."""

    # Recall token weights, relative to a character bigram.
    unigram_weight: float = 0.4
    lexicon_weight: float = 1.0
    concept_weight: float = 1.0
    frame_weight: float = 1.0
    # Added to every IDF: the domain's core words (代表, 心愿) occur in most entries, yet a
    # message without them is usually not about the FAQ at all.
    idf_floor: float = 0.5
    bm25_k1: float = 1.2
    bm25_b: float = 0.5
    recall_size: int = 12
    common_share: float = 0.25  # tokens in more entries than this share skip recall
    # Rerank: score = logistic(bias + coef · features), an estimate of P(entry is right).
    coef: tuple[float, ...] = (1.71, 1.86, -0.16, 3.93, -1.03, 6.65, -4.61, 1.66, -0.03, 1.74)
    bias: float = -6.50
    # Decision.
    answer_score: float = 0.7
    answer_margin: float = 0.1
    answer_score_no_topic: float = 0.8  # answer_score for a message without topic words
    answer_topic_share: float = 0.7  # keywords_entry needed to answer (see match)
    suggest_score: float = 0.05
    min_units: int = 2  # fewer normalised units than this: no match at all
    min_chars: int = 3  # fewer significant characters typed than this: no match at all
    focus_min_chars: int = 18  # longer messages are also matched clause by clause
    focus_discount: float = 0.85  # a clause's scores count this much (see _ranked)
    # Calibration on the loaded FAQ (see _calibrate): the fitted weights above make scores
    # mean "probability right" only on FAQs like the bundled one; on a station's own FAQ
    # they shrink. At load the matcher measures its own scores on held-out phrasings of
    # that FAQ (perturbed as residents type) and on generic off-topic messages, and adds
    # an "answer" rule in log-odds whose thresholds keep wrong and off-topic answers rare.
    # Evidence from general-language content words (faq.lexicon): the share of the message's
    # content-word weight found in the entry's phrasings and in its answer and tags. An
    # FAQ with one or two phrasings per entry rarely uses the resident's words in its
    # questions, but its answer usually does (物业费, 厨余, 对口学校). Added to the
    # rerank log-odds; weights chosen leave-one-FAQ-out (bench/faq_bench.py --loo).
    content_min_weight: float = 0.25  # words weighing less are function words
    answer_weight: float = 6.0
    phrasing_word_weight: float = 2.0
    answer_chars: int = 400  # the head of an answer that is indexed
    content_max_entries: int = 3000  # larger FAQs go without (see _build_content)
    content_recall: int = 4  # entries recalled by content words on top of BM25's
    # A content word of the message that the FAQ never uses is replaced by its first general
    # synonym (faq.lexicon.synonyms) the FAQ does use, at this share of its weight (0: off).
    # Leave-one-FAQ-out, 0.5 raised top-3 by 0.5-1.4 points an FAQ (see README).
    synonym_weight: float = 0.5
    # Only topic words (two characters or more, weighing at least this) are replaced: a
    # common word's synonyms (今天, 帮, 哪个) made every chatter message look like the FAQ.
    synonym_min_weight: float = 0.6
    calibrate: bool = True
    calibration_queries: int = 120  # held-out phrasings scored at load (at most)
    calibration_entries: int = 300  # size of the FAQ sample they are scored against
    calibration_wrong: float = 0.01  # share of held-out phrasings answered wrongly, at most
    calibration_offtopic: float = 0.0  # share of off-topic messages answered, at most
    # Decision model (rounds 2, 5 and 6 of issue 11): P(the best entry is right) from
    # FAQ-agnostic features of the best entry, its runner-up and the other rankers (see
    # DECISION_FEATURES and FaqMatcher._decision_features): boosted depth-2 trees fitted on
    # the five tuning eval FAQs plus the bundled FAQ cut to two alternates, with off-topic messages
    # as negatives, shipped as data in data/decision_trees.json (``python
    # bench/faq_bench.py --fit-decision`` rewrites it). It answers when it reaches
    # ``decision_threshold`` (chosen with the fit on out-of-fold probabilities: pooled
    # confident-wrong <= 1 %, off-topic answered <= 2 %, of which <= 0.5 % by the model),
    # and only where _decision_allowed. Only on a calibrated matcher: some features are
    # measured against the FAQ's own suggestion level (Calibration.suggest_z).
    # ``decision_trees``: per tree, its nodes (feature, cut, left, right, value); a node
    # with feature -1 is a leaf adding ``value`` to the log-odds (see decision_probability).
    decision_trees: tuple[tuple[tuple[int, float, int, int, float], ...], ...] = field(
        default_factory=lambda: _shipped_decision()[0]
    )
    decision_base: float = field(default_factory=lambda: _shipped_decision()[1])
    decision_threshold: float = field(default_factory=lambda: _shipped_decision()[2])
    # ...and never with a lead under this (log-odds over the runner-up's score): two entries
    # scoring alike is the very case for suggestions, as in the calibrated rule.
    decision_min_lead: float = 1.0
    # Whole-entry character evidence (round 3 of issue 11, see FaqMatcher._build_docs): BM25
    # over the characters and character bigrams of an entry's phrasings, answer and tags
    # (each entry one document, IDF over the loaded FAQ's entries). It reaches what the
    # word-level evidence misses -- a single-character topic (灯 for 路灯, 账 for 账目), a word
    # the lexicon splits differently, a Traditional or dialect form sharing a character.
    # It orders the candidates: an entry ranks by its score's log-odds plus
    # ``doc_weight * (s / best s - 1)``, so the best entry by this evidence loses nothing and
    # the others lose in proportion to how much less of the message they explain; the
    # scores (what every threshold means) are left as they are. Ranking on the eval FAQs
    # is flat between 12 and 24; bench/faq_bench.py chooses it leave-one-FAQ-out.
    doc_weight: float = 16.0
    doc_answer_weight: float = 1.0  # an answer's occurrence of a gram, against a phrasing's
    doc_k1: float = 1.2
    doc_b: float = 0.75
    doc_recall: int = 4  # entries recalled by this evidence on top of the others
    doc_postings_max: int = 40  # see _build_docs
    # General word vectors (round 4 of issue 11, see FaqMatcher._build_vectors): cosine of
    # the message's and each entry's phrasings' weighted mean word vector; an entry ranks
    # ``vec_weight * (cos - best cos)`` lower. 0 leaves the vectors unloaded.
    vec_weight: float = 16.0
    # Pinyin typed in Latin letters (dibao, shebao, jiazhuang dianti) and pinyin initials
    # (sfz, gjj) are read as the FAQ's own word with that sound, when exactly one word of
    # the FAQ has it (see FaqMatcher._romanized); for FAQs up to this many entries.
    romanized_max_entries: int = 500
    # The general intent bank (round 8 of issue 11, faq/bank.py, data/intents_zh/): each entry
    # is mapped to the bank intent it asks when both are each other's best match (mean cosine
    # of the entry's phrasings with the intent at least ``bank_min_score``, leading the next
    # intent by ``bank_min_lead``); a mapped entry is indexed with the intent's first
    # ``bank_phrasings`` phrasings besides its own. For FAQs up to ``bank_max_entries``.
    bank: bool = True
    bank_max_entries: int = 400
    bank_phrasings: int = 4
    bank_min_score: float = 0.4
    bank_min_lead: float = 0.1
    # A bank phrasing counts this much less (log-odds) than the station's own when it is the
    # entry's best: the station's text leads.
    bank_penalty: float = 1.0
    # The negative use (see FaqMatcher._bank_veto): a message whose best intent is not the
    # intent of the entry about to be answered, scoring at least ``bank_guard_min`` and
    # ``bank_guard_lead`` above the entry's own support, is not answered confidently.
    # ``bank_guard_unmapped``: also when the entry has no intent (the bank may lack its topic).
    bank_guard: bool = True
    bank_guard_min: float = 0.4
    bank_guard_lead: float = 0.0
    bank_guard_unmapped: bool = False


#: Names of the decision features, in the order FaqMatcher._decision_features returns them
#: (the trees in ``MatcherTuning.decision_trees`` index this list). "best" is the entry the
#: answer order puts first, "runner-up" the second; every feature means the same on any FAQ.
DECISION_FEATURES = (
    "z_top",  # log-odds of the best entry's score (capped)
    "lead",  # its lead over the runner-up's, capped at +-8
    "lead_floored",  # the same with the runner-up floored at the FAQ's suggestion level
    "content_share",  # share of the message's content-word weight the entry uses (_content_share)
    "content_share_2",  # the same for the runner-up
    "topic_share",  # share of the message's topic keywords the entry uses (feature 9)
    "doc_share",  # the best entry's character BM25 relative to a perfect match (_doc_scores)
    "doc_lead",  # its relative lead over the runner-up's (0 when the runner-up explains more)
    "cosine",  # word-vector cosine of the message and the entry (_sentence_vector)
    "cosine_lead",  # its lead over the best other candidate's cosine
    "first_by_doc",  # 1 when the character evidence alone also puts the entry first
    "first_by_cosine",  # ...the word vectors alone
    "first_by_fitted",  # ...the fitted rerank score alone (no content words)
    "first_suggested",  # ...the suggestion order (with the vectors)
    "own_words",  # share of the message's content words in the entry and not the runner-up
    "rival_words",  # ...in the runner-up and not the entry
    "entry_covered",  # share of the entry's phrasing words (weighted) the message uses
    "entry_covered_lead",  # its lead over the runner-up's
    "content_words",  # number of content words in the message (capped at 6)
    "log_length",  # log(1 + normalised length)
    "z_fitted",  # log-odds of the best entry by the fitted weights alone (no content words)
    "pinyin_ratio",  # rerank features of the best entry's best phrasing
    "char_ratio",
    "cover_message",
    "bm25",
    "has_topic",  # 1 when the message has topic keywords at all
    "main_word_known",  # 1 when some candidate uses the message's main content word
    "z_over_suggest",  # z_top above the FAQ's calibrated suggestion level
    "main_word_used",  # 1 when the best entry uses it
)

_DECISION_PATH = Path(__file__).with_name("data") / "decision_trees.json"
_decision_cache: list[tuple[tuple[tuple[tuple[int, float, int, int, float], ...], ...], float, float]] = []


def _shipped_decision() -> tuple[
    tuple[tuple[tuple[int, float, int, int, float], ...], ...], float, float
]:
    """(trees, base log-odds, threshold) of the shipped decision model, read once."""
    if not _decision_cache:
        data = json.loads(_DECISION_PATH.read_text(encoding="utf-8"))
        if list(data["features"]) != list(DECISION_FEATURES):
            raise ValueError(f"{_DECISION_PATH.name} was fitted on other features")
        trees = tuple(
            tuple((int(f), float(c), int(a), int(b), float(v)) for f, c, a, b, v in tree)
            for tree in data["trees"]
        )
        _decision_cache.append((trees, float(data["base"]), float(data["threshold"])))
    return _decision_cache[0]


_LEAD = DECISION_FEATURES.index("lead")
_OWN_WORDS = DECISION_FEATURES.index("own_words")
_MAIN_WORD_KNOWN = DECISION_FEATURES.index("main_word_known")


def _decision_allowed(feats: Sequence[float], tuning: MatcherTuning) -> bool:
    """Whether the decision model may answer at all: the best entry leads the runner-up by
    ``decision_min_lead``, the message's main content word is one some candidate uses (the
    message is about something this FAQ talks of: not 医院 or a name), and some content word
    of the message is the best entry's and not the runner-up's (evidence for this entry
    rather than its neighbour). Leave-one-FAQ-out these cost 3 points of answered right
    and keep chatter around a known frame (医院几点开门) from being answered."""
    return (
        feats[_LEAD] >= tuning.decision_min_lead
        and feats[_MAIN_WORD_KNOWN] > 0
        and feats[_OWN_WORDS] > 0
    )


def decision_probability(feats: Sequence[float], tuning: MatcherTuning) -> float:
    """P(the best entry is right) by the decision trees (0 without any)."""
    if not tuning.decision_trees:
        return 0.0
    z = tuning.decision_base
    for nodes in tuning.decision_trees:
        i = 0
        while True:
            feature, cut, left, right, value = nodes[i]
            if feature < 0:
                z += value
                break
            i = left if feats[feature] <= cut else right
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


DEFAULT_TUNING = MatcherTuning()


@dataclass(frozen=True)
class Calibration:
    """Decision thresholds fitted on the loaded FAQ, in log-odds of the rerank score.

    ``answer_z``/``answer_margin_z``: a confident answer also when the best entry's
    log-odds and its lead over the runner-up reach these (on top of the fixed rule).
    ``suggest_z``: entries scoring at least this are offered as suggestions.
    """

    answer_z: float
    answer_margin_z: float
    suggest_z: float
    answer_cover: float = 0.0  # share of the message's content words the entry uses
    positives: int = 0
    negatives: int = 0


_Z_CAP = 13.8  # log-odds are capped here in the decision features (p within 1e-6 of 0 or 1)


def _capped_logit(p: float) -> float:
    return max(-_Z_CAP, min(_Z_CAP, _logit(p)))


def _logit(p: float) -> float:
    if p <= 1e-12:
        return -27.6
    if p >= 1 - 1e-12:
        return 27.6
    return math.log(p / (1 - p))

_SENTENCE = re.compile(r"[。！？；!?;\n]+")
_PUA = "\U000f0000"  # first pinyin code character (see normalize.pinyin_key)
_ASCII_ALNUM = re.compile(r"[0-9a-z]")
_LATIN_RUN = re.compile(r"[A-Za-z]{2,}")
_VOWEL = re.compile(r"[aeiouv]")
_NO_KEYWORDS: frozenset[str] = frozenset()


def _suggestion_order(
    full: list[tuple[int, float, list[float]]],
) -> list[tuple[int, float, list[float]]]:
    """The ranked entries in the order suggestions are offered: with the word-vector
    evidence (see FaqMatcher._ranked), the feature after the character share."""
    return sorted(full, key=lambda row: row[2][len(FEATURES) + 2], reverse=True)


def _doc_gram_list(text: str) -> list[str]:
    """Characters and character bigrams of normalised text (a space breaks bigrams)."""
    grams: list[str] = []
    for piece in text.split():
        grams.extend(piece)
        grams.extend(map(operator.add, piece, piece[1:]))
    return grams


def _doc_grams(text: str) -> set[str]:
    return set(_doc_gram_list(text))


@dataclass
class _Query:
    text: str
    pinyin: str
    weights: dict[str, float]  # token -> rerank weight (unknown tokens weigh the most)
    total: float  # sum of weights
    known: float  # weight of the tokens that occur somewhere in the FAQ
    keywords: frozenset[str]  # topic tokens (lexicon words and concepts)
    keyword_weight: float
    recall: dict[int, float] = field(default_factory=dict)  # BM25 per recalled entry
    recall_norm: float = 0.0  # BM25 of a perfect match, to make recall scores relative


class FaqMatcher:
    """Index of FAQ entries; built once, then :meth:`match` per message.

    The index is never modified after construction, so concurrent ``match`` calls are
    safe. To change the FAQ, build a new matcher and swap the reference.
    """

    def __init__(
        self,
        entries: Sequence[FaqEntry],
        *,
        tuning: MatcherTuning = DEFAULT_TUNING,
        normalizer: Normalizer | None = None,
        bank: IntentBank | None = None,
    ) -> None:
        """``bank``: the intent bank to use (default: the shipped one, see faq.bank), only
        with ``tuning.bank`` set."""
        self.entries: tuple[FaqEntry, ...] = tuple(entries)
        self.tuning = tuning
        self._norm = normalizer or default_normalizer()
        self._by_id: dict[str, FaqEntry] = {}
        for e in self.entries:
            if e.id in self._by_id:
                raise ValueError(f"duplicate FAQ entry id {e.id!r}")
            self._by_id[e.id] = e
        self._kind_weight = {
            "uni": tuning.unigram_weight,
            "bi": 1.0,
            "ascii": 1.0,
            "lex": tuning.lexicon_weight,
            "concept": tuning.concept_weight,
            "frame": tuning.frame_weight,
        }
        # The index is ~10^6 small objects; cyclic GC passes over them while they are
        # being created cost a third of the build time and can free nothing.
        gc_was_enabled = gc.isenabled()
        gc.disable()
        # Phrasings an entry gains from the bank (see _build_bank), after its own.
        self._extra: dict[int, tuple[str, ...]] = {}
        try:
            self._build()
            self._build_bank(bank)
        finally:
            if gc_was_enabled:
                gc.enable()
        self.calibration: Calibration | None = self._calibrate() if tuning.calibrate else None

    @classmethod
    def from_file(cls, path: str | Path) -> FaqMatcher:
        """Load (all-or-nothing, see :func:`load_faq_file`) and index an FAQ file."""
        return cls(load_faq_file(path))

    def get(self, entry_id: str) -> FaqEntry | None:
        return self._by_id.get(entry_id)

    # -- index -------------------------------------------------------------------------

    def _tokenize(self, text: str) -> tuple[set[str], str, frozenset[str]]:
        """Tokens of normalised text, its pinyin key, and its topic keywords.

        Unigrams and bigrams are taken over the pinyin key, not the characters: a
        homophone typo then costs nothing in recall or overlap, and the exact characters
        still count through the character ratio feature.
        """
        key = pinyin_key(text)
        units = list(key) if _ASCII_ALNUM.search(key) is None else text_units(key)
        tokens = set(units)
        tokens.update(map(operator.add, units, units[1:]))
        keywords = self._norm.keywords(text)
        tokens.update(keywords)
        topic = frozenset(k for k in keywords if k[0] != "~") if keywords else _NO_KEYWORDS
        return tokens, key, topic

    def _kind(self, token: str) -> str:
        first = token[0]
        if first == "#":
            return "concept"
        if first == "~":
            return "frame"
        if token in self._norm.lexicon:
            return "lex"
        if token.isascii():
            return "ascii"  # a run of letters/digits ("12345", "110") is a whole word
        return "uni" if len(token) == 1 else "bi"

    def _build(self) -> None:
        t = self.tuning
        # Phrasings, as parallel lists (cheaper to build than objects at 10^5 phrasings).
        self._p_entry: list[int] = []
        self._p_text: list[str] = []
        self._p_pinyin: list[str] = []
        self._p_tokens: list[set[str]] = []
        self._p_keywords: list[frozenset[str]] = []
        self._p_bank: list[bool] = []  # a phrasing gained from the bank (see _build_bank)
        self._entry_phrasings: list[range] = []
        self._entry_keywords: list[frozenset[str]] = []
        entry_tf: list[Counter[str]] = []
        entry_len: list[int] = []
        df: Counter[str] = Counter()
        normalize = self._norm.normalize
        for index, entry in enumerate(self.entries):
            first = len(self._p_entry)
            seen: set[str] = set()
            own = 1 + len(entry.alternates)
            for k, phrase in enumerate(
                (entry.question, *entry.alternates, *self._extra.get(index, ()))
            ):
                text = normalize(phrase)
                if not text or text in seen:
                    continue
                seen.add(text)
                self._p_bank.append(k >= own)
                tokens, key, keywords = self._tokenize(text)
                self._p_entry.append(index)
                self._p_text.append(text)
                self._p_pinyin.append(key)
                self._p_tokens.append(tokens)
                self._p_keywords.append(keywords)
            # Term frequency = number of the entry's phrasings that contain the token.
            tf = Counter(chain.from_iterable(self._p_tokens[first:]))
            df.update(tf.keys())
            self._entry_phrasings.append(range(first, len(self._p_entry)))
            self._entry_keywords.append(frozenset().union(*self._p_keywords[first:]))
            entry_tf.append(tf)
            entry_len.append(tf.total())

        self._build_content()
        n = max(len(self.entries), 1)
        self._n_entries = n
        kinds = {token: self._kind(token) for token in df}
        self._kinds = kinds
        kind_weight = self._kind_weight
        # BM25 IDF for recall; the rerank adds a floor (see MatcherTuning.idf_floor).
        idf = {tok: math.log(1 + (n - c + 0.5) / (c + 0.5)) for tok, c in df.items()}
        self._recall_weight = {tok: kind_weight[kinds[tok]] * w for tok, w in idf.items()}
        self._weight = {
            tok: kind_weight[kinds[tok]] * (t.idf_floor + w) for tok, w in idf.items()
        }
        self._idf_unknown = math.log(1 + (n + 0.5) / 0.5)
        weight = self._weight.__getitem__
        self._p_weight = [sum(map(weight, toks)) for toks in self._p_tokens]
        self._p_keyword_weight = [sum(map(weight, kws)) for kws in self._p_keywords]

        # BM25 postings with the document part precomputed, so a query only adds.
        # Tokens found in more than a quarter of the entries barely rank anything but
        # have the longest lists: they are consulted only when recall comes up short.
        k1, b = t.bm25_k1, t.bm25_b
        avg_len = sum(entry_len) / n or 1.0
        common_df = max(2, int(n * t.common_share))
        # Single syllables are too ambiguous to recall anything: rerank features only.
        postings: dict[str, list[tuple[int, float]]] = {
            tok: [] for tok in df if kinds[tok] != "uni"
        }
        self._common = {tok for tok in postings if df[tok] > common_df}
        scaled = {tok: self._recall_weight[tok] * (k1 + 1) for tok in postings}
        for index, tf in enumerate(entry_tf):
            norm = k1 * (1 - b + b * entry_len[index] / avg_len)
            for token, count in tf.items():
                w = scaled.get(token)
                if w is not None:
                    postings[token].append((index, w * count / (count + norm)))
        self._postings = postings
        self._general = [not e.stations for e in self.entries]
        self._everything = [True] * len(self.entries)
        self._station_masks: dict[str, list[bool]] = {}
        for e in self.entries:
            for station in e.stations:
                if station not in self._station_masks:
                    self._station_masks[station] = [x.applies_to(station) for x in self.entries]

    def _content_words(self, normalized: str) -> dict[str, float]:
        """Content words of normalised text (pinyin-keyed, so homophones meet) with their
        general-language weight; function words (below content_min_weight) are left out."""
        cached = self._content_cache.get(normalized)
        if cached is not None:
            return cached
        lex = self._lex
        floor = self.tuning.content_min_weight
        words: dict[str, float] = {}
        keyed = pinyin_key(normalized)  # one code per character: spans carry over
        weight = lex.weight
        for i, j in lex.spans(normalized):
            w = weight(normalized[i:j])
            if w >= floor:
                key = keyed[i:j]
                if w > words.get(key, 0.0):
                    words[key] = w
        if len(self._content_cache) < 50_000:
            self._content_cache[normalized] = words
        return words

    def _query_words(self, normalized: str) -> dict[str, float]:
        """The message's content words (see _content_words), each word the FAQ never uses
        replaced by its first synonym the FAQ does use (see MatcherTuning.synonym_weight)."""
        words = self._content_words(normalized)
        share = self.tuning.synonym_weight
        if not share or all(k in self._all_content for k in words):
            return words
        cached = self._query_cache.get(normalized)
        if cached is not None:
            return cached
        out = dict(words)
        keyed = pinyin_key(normalized)
        table = self._synonyms
        if table is None:
            return words
        for i, j in self._lex.spans(normalized):
            key = keyed[i:j]
            if (
                j - i < 2
                or out.get(key, 0.0) < self.tuning.synonym_min_weight
                or key in self._all_content
            ):
                continue
            for other in table.get(normalized[i:j]):
                if len(other) < 2:
                    continue
                other_key = self._synonym_keys.get(other)
                if other_key is None:
                    other_key = pinyin_key(self._norm.normalize(other))
                    if len(self._synonym_keys) < 100_000:
                        self._synonym_keys[other] = other_key
                if other_key in self._all_content and other_key not in out:
                    out[other_key] = out.pop(key) * share
                    break
        if len(self._query_cache) < 50_000:
            self._query_cache[normalized] = out
        return out

    def _build_content(self) -> None:
        self._lex = word_stats()
        self._synonyms: Synonyms | None = synonyms() if self.tuning.synonym_weight else None
        self._synonym_keys: dict[str, str] = {}
        self._query_cache: dict[str, dict[str, float]] = {}
        self._content_cache: dict[str, dict[str, float]] = {}
        normalize = self._norm.normalize
        # The head of each answer that is indexed: all of it for any real station's FAQ,
        # less for huge ones, so that the build stays within its time budget.
        limit = self.tuning.answer_chars
        # Segmenting every phrasing and answer costs about a microsecond a character: a
        # few milliseconds for a station's FAQ, seconds for a synthetic one of 10 000
        # entries. Beyond content_max_entries the evidence is left out (the fitted
        # matcher alone decides), to keep the build within its budget.
        indexed = self.entries if len(self.entries) <= self.tuning.content_max_entries else ()
        answer_df: Counter[str] = Counter()
        answer_share = self.tuning.doc_answer_weight
        docs: list[Counter[str]] = [Counter() for _ in self.entries]
        self._entry_phrase_words = [_NO_KEYWORDS] * len(self.entries)
        self._entry_answer_words = [_NO_KEYWORDS] * len(self.entries)
        # Each entry's phrasing words with their general weight (the decision feature
        # entry_covered: how much of what the entry is about the message names).
        self._entry_phrase_weights: list[dict[str, float]] = [{} for _ in self.entries]
        for index, entry in enumerate(indexed):
            phrase_words: set[str] = set()
            weights = self._entry_phrase_weights[index]
            for ref in self._entry_phrasings[index]:
                for word, w in self._content_words(self._p_text[ref]).items():
                    phrase_words.add(word)
                    if w > weights.get(word, 0.0):
                        weights[word] = w
            answer_words: set[str] = set()
            doc: Counter[str] = Counter()
            for ref in self._entry_phrasings[index]:
                doc.update(_doc_grams(self._p_text[ref]))
            # Sentence by sentence: normalize() keeps only the head and tail of long text.
            for chunk in _SENTENCE.split(entry.answer[:limit] + "。" + "。".join(entry.tags)):
                text = normalize(chunk)
                if text:
                    answer_words.update(self._content_words(text))
                    for gram in _doc_gram_list(text):
                        doc[gram] += answer_share
            docs[index] = doc
            answer_words |= phrase_words
            self._entry_phrase_words[index] = frozenset(phrase_words)
            self._entry_answer_words[index] = frozenset(answer_words)
            answer_df.update(answer_words)
        # Words found in many entries' answers (the station's name, 代表) propose nothing.
        common = max(3, int(len(self.entries) * self.tuning.common_share))
        postings: dict[str, list[int]] = {}
        for index, words in enumerate(self._entry_answer_words):
            for word in words:
                if answer_df[word] <= common:
                    postings.setdefault(word, []).append(index)
        self._answer_postings = postings
        self._all_content = frozenset(answer_df)
        self._build_docs(docs if indexed else [])
        self._build_vectors(len(indexed))
        self._build_romanized()

    def _build_romanized(self) -> None:
        """Map the toneless pinyin (``dibao``) and the initials (``sfz``) of the FAQ's words of
        two to four characters to the word, where only one word sounds so."""
        self._roman: dict[str, str] = {}
        if len(self.entries) > self.tuning.romanized_max_entries:
            return
        normalize = self._norm.normalize
        spans = self._lex.spans
        texts = list(self._p_text)
        for entry in self.entries:
            texts += (normalize(c) for c in _SENTENCE.split(entry.answer[: self.tuning.answer_chars]))
        found: dict[str, set[str]] = {}
        for text in texts:
            for i, j in spans(text):
                word = text[i:j]
                if 2 <= len(word) <= 4 and not _ASCII_ALNUM.search(word):
                    syllables = pinyin_units(word)
                    found.setdefault("".join(syllables), set()).add(word)
                    found.setdefault("".join(x[0] for x in syllables), set()).add(word)
        self._roman = {key: next(iter(words)) for key, words in found.items() if len(words) == 1}

    def _romanized(self, text: str) -> str:
        """``text`` with each run of Latin letters that is the full pinyin of one FAQ word, or
        (without vowels: never an English word) its initials, replaced by that word."""
        if not self._roman or _LATIN_RUN.search(text) is None:
            return text

        def replace(match: re.Match[str]) -> str:
            run = match.group().lower()
            if len(run) < 4 and _VOWEL.search(run):
                return match.group()  # "app", "wu": too short to be sure it is pinyin
            if _VOWEL.search(run) is None and not 3 <= len(run) <= 4:
                return match.group()  # initials of a two-character word are too ambiguous
            return self._roman.get(run, match.group())

        return _LATIN_RUN.sub(replace, text)

    # -- the intent bank (faq/bank.py) ---------------------------------------------------

    def _build_bank(self, bank: IntentBank | None) -> None:
        """Map the entries to the bank's intents and index the mapped entries with some of
        their intent's phrasings (see MatcherTuning.bank*); builds the index again when any
        entry gained phrasings. The mapping is mutual: the entry's phrasings score the
        intent best of all intents on average, by ``bank_min_lead`` over the next and at
        least ``bank_min_score``, and the intent's question and first phrasings score this
        entry best of the FAQ's. ``outside`` intents are never mapped."""
        t = self.tuning
        n = len(self.entries)
        self._bank: IntentBank | None = None
        self._entry_intents: list[tuple[int, ...]] = [()] * n
        self._bank_own: PhrasingIndex | None = None
        if not t.bank or not n or n > t.bank_max_entries:
            return
        bank = bank if bank is not None else default_bank()
        if bank is None or not len(bank):
            return
        index = bank.index
        own = bank.own_index(
            (i, self._p_text[ref]) for i in range(n) for ref in self._entry_phrasings[i]
        )
        intent_of: dict[int, int] = {}
        for i in range(n):
            texts = [self._p_text[ref] for ref in self._entry_phrasings[i]][:4]
            total: dict[int, float] = {}
            for text in texts:
                for j, score in index.scores(index.vector(text)).items():
                    if not bank.intents[j].outside:
                        total[j] = total.get(j, 0.0) + score
            if not total:
                continue
            ranked = heapq.nlargest(2, total.items(), key=operator.itemgetter(1))
            best, top = ranked[0][0], ranked[0][1] / len(texts)
            second = ranked[1][1] / len(texts) if len(ranked) > 1 else 0.0
            if top < t.bank_min_score or top - second < t.bank_min_lead:
                continue
            back: dict[int, float] = {}
            for text in bank.texts[best][:3]:
                for e, score in own.scores(own.vector(text)).items():
                    back[e] = back.get(e, 0.0) + score
            if back and max(back, key=back.__getitem__) == i:
                intent_of[i] = best
        self._bank = bank
        self._entry_intents = [
            (intent_of[i],) if i in intent_of else () for i in range(n)
        ]
        extra = {
            i: bank.texts[j][: t.bank_phrasings] for i, j in intent_of.items() if t.bank_phrasings
        }
        if extra:
            self._extra = extra
            self._build()
        # The entries' phrasings (their own and those gained) weighed as the bank's, to
        # compare a message's fit to an entry with its fit to an intent (see _bank_veto).
        self._bank_own = bank.own_index(
            (i, self._p_text[ref]) for i in range(n) for ref in self._entry_phrasings[i]
        )

    def bank_intent(self, index: int) -> str | None:
        """Id of the bank intent entry ``index`` is mapped to (None: not mapped)."""
        if self._bank is None or not self._entry_intents[index]:
            return None
        return self._bank.intents[self._entry_intents[index][0]].id

    def _bank_veto(self, normalized: str, index: int) -> bool:
        """Whether the message is about another bank intent than entry ``index``'s: its best
        intent is not the entry's, scores at least ``bank_guard_min``, and leads by
        ``bank_guard_lead`` the entry's support (the best of its phrasings and of its
        intent's, on the same scale). ``outside`` intents and intents of other entries
        always count; an intent this FAQ has no entry for counts against an unmapped entry
        only with ``bank_guard_unmapped``."""
        t = self.tuning
        bank = self._bank
        if bank is None or not t.bank_guard or self._bank_own is None:
            return False
        index_ = bank.index
        vec = index_.vector(normalized)
        scores = index_.scores(vec)
        if not scores:
            return False
        top = max(scores, key=scores.__getitem__)
        best = scores[top]
        mine = self._entry_intents[index]
        if top in mine or best < t.bank_guard_min:
            return False
        if (
            not mine
            and not t.bank_guard_unmapped
            and not bank.intents[top].outside
            and all(top not in m for m in self._entry_intents)
        ):
            return False
        support = max(
            [self._bank_own.scores(vec).get(index, 0.0), *(scores.get(j, 0.0) for j in mine)]
        )
        return best - support >= t.bank_guard_lead

    def _build_vectors(self, indexed: int) -> None:
        """Each entry's phrasings as one unit vector (see _sentence_vector); loaded lazily,
        only with vec_weight set and only for the entries the content evidence indexes."""
        self._vec_entries: np.ndarray | None = None
        if not self.tuning.vec_weight or not indexed:
            return
        import numpy as np  # only here: start-up without vectors does not pay for it
        self._vectors = word_vectors()
        matrix = np.zeros((len(self.entries), self._vectors.dims), dtype=np.float32)
        for index in range(indexed):
            total = np.zeros(self._vectors.dims, dtype=np.float32)
            for ref in self._entry_phrasings[index]:
                v = self._sentence_vector(self._p_text[ref])
                if v is not None:
                    total += v
            norm = float(np.linalg.norm(total))
            if norm > 0:
                matrix[index] = total / norm
        self._vec_entries = matrix

    def _sentence_vector(self, normalized: str) -> np.ndarray | None:
        """Unit mean of the text's content words' vectors, each weighed by its general
        weight; a word without a vector counts as its characters."""
        import numpy as np

        lex = self._lex
        vectors = self._vectors
        floor = self.tuning.content_min_weight
        rows: list[int] = []
        weights: list[float] = []
        for i, j in lex.spans(normalized):
            word = normalized[i:j]
            w = lex.weight(word)
            if w < floor:
                continue
            row = vectors.row(word)
            if row is not None:
                rows.append(row)
                weights.append(w)
                continue
            chars = [r for r in map(vectors.row, word) if r is not None]
            if not chars:
                continue
            rows += chars
            weights += [w / len(chars)] * len(chars)
        if not rows:
            return None
        v = np.asarray(weights, dtype=np.float32) @ vectors.matrix[rows]
        norm = float(np.linalg.norm(v))
        return v / norm if norm > 0 else None

    def _build_docs(self, docs: list[Counter[str]]) -> None:
        """Character BM25 over whole entries (see MatcherTuning.doc_weight): per entry, each
        gram's BM25 term weight precomputed, and postings (for recall) of the grams found in
        few entries (see below). Empty beyond content_max_entries."""
        t = self.tuning
        n = max(len(docs), 1)
        df: Counter[str] = Counter()
        for doc in docs:
            df.update(doc.keys())
        idf = {g: math.log(1 + (n - c + 0.5) / (c + 0.5)) for g, c in df.items()}
        self._doc_idf = idf
        self._doc_idf_unknown = math.log(1 + (n + 0.5) / 0.5)
        lengths = [sum(doc.values()) for doc in docs]
        avg = sum(lengths) / n or 1.0
        k1, b = t.doc_k1, t.doc_b
        # Grams in more entries than this propose no candidate (they still score the
        # candidates): at most common_share of the entries, and never more than
        # doc_postings_max, so that a query stays cheap on a synthetic FAQ of thousands.
        common = max(2, min(int(n * t.common_share), t.doc_postings_max))
        self._doc_weights: list[dict[str, float]] = []
        postings: dict[str, list[tuple[int, float]]] = {}
        for index, doc in enumerate(docs):
            norm = k1 * (1 - b + b * lengths[index] / avg)
            weights = {
                g: idf[g] * tf * (k1 + 1) / (tf + norm) for g, tf in doc.items()
            }
            self._doc_weights.append(weights)
            for g, w in weights.items():
                if df[g] <= common:
                    postings.setdefault(g, []).append((index, w))
        self._doc_postings = postings
        self._doc_k1 = k1

    def _doc_scores(
        self, grams: set[str], candidates: list[int], allowed: list[bool]
    ) -> tuple[dict[int, float], float]:
        """Character BM25 of each candidate entry, plus up to ``doc_recall`` entries this
        evidence alone proposes (added to ``candidates``); and the score a perfect match
        would reach (every gram of the message, unknown ones at the rarest IDF)."""
        if not self._doc_weights:
            return {}, 0.0
        found: dict[int, float] = {}
        get = found.get
        postings = self._doc_postings
        for gram in grams:
            for index, w in postings.get(gram, ()):
                found[index] = get(index, 0.0) + w
        have = set(candidates)
        extra = heapq.nlargest(
            self.tuning.doc_recall,
            (i for i in found if allowed[i] and i not in have),
            key=found.__getitem__,
        )
        candidates += extra
        scores: dict[int, float] = {}
        for index in candidates:
            weights = self._doc_weights[index]
            scores[index] = sum(map(weights.__getitem__, weights.keys() & grams))
        idf = self._doc_idf
        unknown = self._doc_idf_unknown
        perfect = sum(idf.get(g, unknown) for g in grams) * (self._doc_k1 + 1)
        return scores, perfect

    def _is_topic_word(self, normalized: str) -> bool:
        """A message that is one whole content word some entry uses ("低保", "群租"): a
        topic named on its own is worth suggesting, however short."""
        if len(normalized) < 2:
            return False
        words = self._content_words(normalized)
        return len(words) == 1 and next(iter(words)) in self._all_content

    def _content_share(self, words: dict[str, float], index: int) -> float:
        """Share of the message's content-word weight the entry uses anywhere (phrasings,
        answer, tags); 1.0 for a message without content words."""
        total = sum(words.values())
        if not total:
            return 1.0
        answer = self._entry_answer_words[index]
        # The message's weightiest content word is what it is about ("交通违章怎么处理"):
        # an entry that never uses it covers nothing, whatever else it shares.
        main = max(words, key=words.__getitem__)
        if main not in answer:
            return 0.0
        return sum(w for k, w in words.items() if k in answer) / total

    def _content_bonus(self, words: dict[str, float], index: int) -> float:
        """Log-odds added to an entry's rerank score for the message's content words it
        uses (see MatcherTuning.answer_weight)."""
        total = sum(words.values())
        if not total:
            return 0.0
        t = self.tuning
        phrase = self._entry_phrase_words[index]
        answer = self._entry_answer_words[index]
        in_phrase = sum(w for k, w in words.items() if k in phrase)
        in_answer = sum(w for k, w in words.items() if k in answer)
        return (t.phrasing_word_weight * in_phrase + t.answer_weight * in_answer) / total

    # -- query -------------------------------------------------------------------------

    def _query(self, text: str) -> _Query:
        tokens, key, keywords = self._tokenize(text)
        weights: dict[str, float] = {}
        known = 0.0
        recall_norm = 0.0
        unknown = self.tuning.idf_floor + self._idf_unknown
        for token in tokens:
            w = self._weight.get(token)
            if w is None:
                # Words the FAQ never uses weigh like the rarest known ones: they are
                # what makes "超市在哪" different from "联络站在哪".
                kind = self._kind(token)
                w = self._kind_weight[kind] * unknown
                if kind != "uni":
                    # ...and they count in what a perfect match would have scored, so
                    # that "代表结婚了吗" is not a perfect match for anything with 代表.
                    recall_norm += self._kind_weight[kind] * self._idf_unknown
            else:
                known += w
                if token in self._postings and token not in self._common:
                    recall_norm += self._recall_weight[token]
            weights[token] = w
        return _Query(
            text=text,
            pinyin=key,
            weights=weights,
            total=sum(weights.values()),
            known=known,
            keywords=keywords,
            keyword_weight=sum(weights[k] for k in keywords),
            recall_norm=recall_norm,
        )

    def _recall_content(
        self, words: dict[str, float], allowed: list[bool], have: list[int]
    ) -> list[int]:
        """Entries whose phrasings or answer use the message's content words, best first,
        besides those BM25 already recalled."""
        found: dict[int, float] = {}
        postings = self._answer_postings
        for word, w in words.items():
            for index in postings.get(word, ()):
                found[index] = found.get(index, 0.0) + w
        seen = set(have)
        extra = (i for i in found if allowed[i] and i not in seen)
        return heapq.nlargest(self.tuning.content_recall, extra, key=found.__getitem__)

    def _recall(self, query: _Query, allowed: list[bool]) -> list[int]:
        scores: dict[int, float] = {}
        get = scores.get
        postings = self._postings
        common = self._common
        for token in query.weights:
            if token in common:
                continue
            for index, w in postings.get(token, ()):
                scores[index] = get(index, 0.0) + w
        query.recall = scores
        size = self.tuning.recall_size
        ranked = heapq.nlargest(size, (i for i in scores if allowed[i]), key=scores.__getitem__)
        if len(ranked) < size:
            # Short of candidates: let the common tokens propose more (they only add
            # candidates; the BM25 feature keeps counting discriminative tokens alone).
            extra: dict[int, float] = {}
            for token in query.weights:
                if token in common:
                    for index, w in postings[token]:
                        if index not in scores:
                            extra[index] = extra.get(index, 0.0) + w
            ranked += heapq.nlargest(
                size - len(ranked), (i for i in extra if allowed[i]), key=extra.__getitem__
            )
        return ranked

    def _features(
        self, query: _Query, candidates: list[int], from_bank: set[int] | None = None
    ) -> dict[int, list[float]]:
        """Rerank features per candidate entry: those of its best-scoring phrasing.
        ``from_bank`` receives the entries whose best phrasing is one gained from the bank
        (scored MatcherTuning.bank_penalty lower)."""
        refs = [i for c in candidates for i in self._entry_phrasings[c]]
        if not refs:
            return {}
        pinyin = [self._p_pinyin[i] for i in refs]
        texts = [self._p_text[i] for i in refs]
        # Choices are precomputed strings: no processor, nothing re-normalised per query.
        py_ratio = process.extract(
            query.pinyin, pinyin, scorer=fuzz.ratio, processor=None, limit=None
        )
        char_ratio = process.extract(
            query.text, texts, scorer=fuzz.ratio, processor=None, limit=None
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
            per_ref[pos][2] = score / 100 * min(1.0, min(len(pinyin[pos]), q_len) / 6)
        q_weights = query.weights
        q_tokens = q_weights.keys()
        q_keywords = query.keywords
        total = query.total or 1.0
        recall_norm = query.recall_norm or 1.0
        known = query.known / total
        score = self._score
        p_bank = self._p_bank
        penalty = self.tuning.bank_penalty
        entry_share: dict[int, float] = {}
        if q_keywords:
            for c in candidates:
                shared = sum(q_weights[k] for k in q_keywords & self._entry_keywords[c])
                entry_share[c] = shared / query.keyword_weight
        best: dict[int, tuple[float, list[float]]] = {}
        for pos, ref in enumerate(refs):
            feats = per_ref[pos]
            common = sum(q_weights[tok] for tok in self._p_tokens[ref] & q_tokens)
            feats[3] = common / self._p_weight[ref] if self._p_weight[ref] else 0.0
            feats[4] = common / total
            p_keywords = self._p_keywords[ref]
            if q_keywords and p_keywords:
                shared = sum(q_weights[tok] for tok in p_keywords & q_keywords)
                feats[7] = shared / self._p_keyword_weight[ref]
                feats[8] = shared / query.keyword_weight
            elif not p_keywords:
                # A phrasing without topic words (a station's own "能停车吗") is judged by
                # plain token overlap instead, so it is not outranked by every entry that
                # merely shares a domain word with the message.
                feats[7] = feats[3]
                feats[8] = feats[4] if not q_keywords else 0.0
            entry = self._p_entry[ref]
            feats[5] = query.recall.get(entry, 0.0) / recall_norm
            feats[6] = known
            # A topic the message names that the entry never mentions in any phrasing
            # ("代表的电话" vs the station's phone) is evidence against the whole entry.
            feats[9] = entry_share.get(entry, 0.0)
            # One phrasing must explain the message: an entry takes the features of its
            # best-scoring phrasing, never the best of each feature from different ones
            # (a short "免费吗" covered entirely plus a long phrasing's topic words).
            value = score(feats, -penalty if p_bank[ref] else 0.0)
            current = best.get(entry)
            if current is None or value > current[0]:
                best[entry] = (value, feats)
                if from_bank is not None:
                    if p_bank[ref]:
                        from_bank.add(entry)
                    else:
                        from_bank.discard(entry)
        return {entry: feats for entry, (_, feats) in best.items()}

    def _score(self, feats: list[float], bonus: float = 0.0) -> float:
        t = self.tuning
        # (feats may carry extra trailing values, see _ranked: zip stops at the weights)
        z = t.bias + bonus + sum(c * f for c, f in zip(t.coef, feats, strict=False))
        return 1.0 / (1.0 + math.exp(-z)) if z > -50 else 0.0

    def scores(
        self, text: str, station_id: str | None = None, *, any_station: bool = False
    ) -> list[tuple[FaqEntry, float]]:
        """Recalled entries with their scores, best first (for diagnostics, and for staff
        choosing which entry a missed question belongs to: ``any_station`` ranks every
        entry, whatever station it is for)."""
        ranked = self._ranked(text, station_id, any_station=any_station)[0]
        return [(self.entries[i], s) for i, s, _ in _suggestion_order(ranked)]

    def phrasings(self) -> frozenset[str]:
        """Every phrasing of every entry, normalised (a message equal to one is known)."""
        return frozenset(self._p_text)

    def features(self, text: str, station_id: str | None = None) -> dict[str, list[float]]:
        """Rerank features per recalled entry id (see FEATURES), for fitting MatcherTuning."""
        return {
            self.entries[i].id: f[: len(FEATURES)]
            for i, _, f in self._ranked(text, station_id)[0]
        }

    def _ranked(
        self, text: str, station_id: str | None, *, any_station: bool = False
    ) -> tuple[list[tuple[int, float, list[float]]], bool]:
        """(entry index, score, features) best first, and whether the message has topic
        keywords at all."""
        text = self._romanized(text)
        normalized = self._norm.normalize(text)
        if (
            len(text_units(normalized)) < self.tuning.min_units
            or significant_length(text) < self.tuning.min_chars
        ) and not self._is_topic_word(normalized):
            return [], False
        allowed = (
            self._everything
            if any_station
            else self._general
            if station_id is None
            else self._station_masks.get(str(station_id), self._general)
        )
        # The whole message, and for a long one also the clauses likely to hold its
        # question (Normalizer.focus); an entry scores as its best reading.
        best: dict[int, tuple[float, list[float], bool]] = {}
        # Best score of each entry from the fitted weights alone (no content-word bonus),
        # and that reading's topic share (feature 9): what the fixed answer rule judges.
        # Appended to the returned features as two extra elements, after the best
        # reading's content-word share (_content_share).
        base: dict[int, tuple[float, float]] = {}
        parts = self._norm.focus(text, self.tuning.focus_min_chars)
        doc_weight = self.tuning.doc_weight
        doc: dict[int, float] = {}
        grams: set[str] = set()
        perfect = doc_best = 0.0
        for n, part in enumerate((normalized, *parts)):
            query = self._query(part)
            has_topic = bool(query.keywords)
            words = self._query_words(part)
            if n and not has_topic and not words:
                continue  # a clause naming no topic ("要怎么操作") takes it from the rest
            # A clause read alone lacks the rest of the message, which may have changed
            # its meaning ("……要怎么操作"): its scores are discounted.
            factor = self.tuning.focus_discount if n else 1.0
            candidates = self._recall(query, allowed)
            candidates += self._recall_content(words, allowed, candidates)
            if not n:
                # The character evidence is read on the whole message only: a clause's
                # own best would lose the rest of the story, which is what it measures.
                grams = _doc_grams(normalized)
                doc, perfect = self._doc_scores(grams, candidates, allowed)
                doc_best = max(doc.values(), default=0.0)
            else:
                for i in candidates:
                    if i not in doc and self._doc_weights:
                        weights = self._doc_weights[i]
                        doc[i] = sum(map(weights.__getitem__, weights.keys() & grams))
            from_bank: set[int] = set()
            for i, f in self._features(query, candidates, from_bank).items():
                cut = -self.tuning.bank_penalty if i in from_bank else 0.0
                if not n or has_topic:
                    plain = self._score(f, cut) * factor
                    if plain > base.get(i, (-1.0, 0.0))[0]:
                        base[i] = (plain, f[9])
                value = self._score(f, self._content_bonus(words, i) + cut) * factor
                current = best.get(i)
                if current is None or value > current[0]:
                    s_doc = doc.get(i, 0.0)
                    share = min(1.0, s_doc / perfect) if perfect else 0.0
                    best[i] = (value, [*f, self._content_share(words, i), share], has_topic)
        if not best:
            return [], False
        # The order: the score's log-odds, less doc_weight for each share of the character
        # evidence an entry falls short of the best entry's. The scores themselves stay what
        # the thresholds (fixed, calibrated, decision model) were set on; an entry ranked
        # first on this evidence but scoring below the runner-up has a negative margin and
        # is offered, not answered.
        penalty: dict[int, float] = {}
        if doc_best > 0:
            for i in best:
                penalty[i] = doc_weight * min(0.0, doc.get(i, 0.0) / doc_best - 1.0)
        ranked = sorted(
            best.items(),
            key=lambda kv: _logit(kv[1][0]) + penalty.get(kv[0], 0.0),
            reverse=True,
        )
        # The word-vector evidence (MatcherTuning.vec_weight) orders the suggestions only:
        # each entry carries its rank key with that evidence added, which _decide and
        # scores() sort by, while the answer is decided on the order above (ordering the
        # answer by it too made the decision model, refitted leave-one-FAQ-out, answer less).
        vec_key = {i: _logit(v) + penalty.get(i, 0.0) for i, (v, _, _) in ranked}
        cosine: dict[int, float] = {}
        if self._vec_entries is not None:
            message = self._sentence_vector(normalized)
            if message is not None:
                keys = list(best)
                cosines = (self._vec_entries[keys] @ message).tolist()
                top = max(cosines)
                vec_weight = self.tuning.vec_weight
                for i, c in zip(keys, cosines, strict=True):
                    vec_key[i] += vec_weight * (c - top)
                    cosine[i] = c
        # Each row's features: FEATURES, then the content share, the character share, the
        # suggestion-order key, the cosine, and the fitted-only score and its topic share.
        return [
            (i, v, [*f, vec_key[i], cosine.get(i, 0.0), *base.get(i, (0.0, 0.0))])
            for i, (v, f, _) in ranked
        ], ranked[0][1][2]

    def match(self, text: str, station_id: str | None = None) -> FaqMatch:
        """Answer, suggest or give up on a resident's message.

        ``station_id`` limits the FAQ to entries for that station plus the general
        ones; with ``None`` only the general entries are considered.
        """
        full, has_topic = self._ranked(text, station_id)
        normalized = self._norm.normalize(self._romanized(text))
        words = self._content_words(normalized)
        known = any(k in self._all_content for k in words)
        shape = (normalized, has_topic)
        found = self._decide(full, has_topic, self.calibration, known, shape)
        if found.kind == "answer" and self._bank_veto(normalized, full[0][0]):
            # About another topic than the entry's (see _bank_veto): offered, not answered.
            return self._decide(full, has_topic, self.calibration, known, shape, answer_ok=False)
        return found

    def decision_features(
        self, text: str, station_id: str | None = None
    ) -> tuple[str, list[float], str] | None:
        """(best entry id, DECISION_FEATURES, state) for a message, or None when nothing is
        recalled; for fitting the decision model (bench/faq_bench.py --fit-decision).
        ``state``: "answer" when the rules before the model already answer, "gated" when
        the model may not (no calibration, or a lead under decision_min_lead), else "open"."""
        full, has_topic = self._ranked(text, station_id)
        if not full:
            return None
        normalized = self._norm.normalize(self._romanized(text))
        words = self._content_words(normalized)
        known = any(k in self._all_content for k in words)
        feats = self._decision_features(full, self.calibration, (normalized, has_topic))
        if self._decide(full, has_topic, self.calibration, known).kind == "answer":
            state = "answer"
        elif self.calibration is None or not _decision_allowed(feats, self.tuning):
            state = "gated"
        else:
            state = "open"
        if state != "gated" and self._bank_veto(normalized, full[0][0]):
            state = "gated"  # never answered: about another topic (see _bank_veto)
        return self.entries[full[0][0]].id, feats, state

    def _decision_answers(
        self,
        full: list[tuple[int, float, list[float]]],
        calibration: Calibration,
        shape: tuple[str, bool],
    ) -> bool:
        t = self.tuning
        if not t.decision_trees:
            return False
        z_top = _capped_logit(full[0][1])
        z_second = _capped_logit(full[1][1]) if len(full) > 1 else -_Z_CAP
        if z_top - z_second < t.decision_min_lead:
            return False  # (cheap check first: the features cost more)
        feats = self._decision_features(full, calibration, shape)
        if not _decision_allowed(feats, t):
            return False
        return decision_probability(feats, t) >= t.decision_threshold

    def _decision_features(
        self,
        full: list[tuple[int, float, list[float]]],
        calibration: Calibration | None,
        shape: tuple[str, bool],
    ) -> list[float]:
        """See DECISION_FEATURES. ``shape``: (the normalised message, whether it has topic
        keywords)."""
        normalized, has_topic = shape
        n = len(FEATURES)
        top, f = full[0][1], full[0][2]
        second = full[1][2] if len(full) > 1 else None
        z_top = _capped_logit(top)
        z_second = _capped_logit(full[1][1]) if len(full) > 1 else -_Z_CAP
        floor = calibration.suggest_z if calibration is not None else _logit(self.tuning.suggest_score)
        z_fitted = _capped_logit(f[-2]) if f[-2] > 0 else -_Z_CAP
        doc_top = f[n + 1]
        doc_second = second[n + 1] if second is not None else 0.0
        doc_lead = max(0.0, doc_top - doc_second) / doc_top if doc_top > 0 else 0.0
        cos_top = f[n + 3]
        cos_other = max((row[2][n + 3] for row in full[1:]), default=0.0)
        # Which entry each ranker alone would put first: agreement with the best entry.
        first_doc = doc_top >= max(row[2][n + 1] for row in full)
        first_cos = cos_top >= max(cos_other, cos_top)
        first_fitted = f[-2] >= max(row[2][-2] for row in full)
        first_suggested = _suggestion_order(full)[0][0] == full[0][0]
        # The message's content words that tell the best entry from the runner-up.
        words = self._query_words(normalized)
        total = sum(words.values()) or 1.0
        mine = self._entry_answer_words[full[0][0]]
        rival = self._entry_answer_words[full[1][0]] if second is not None else _NO_KEYWORDS
        own = sum(w for k, w in words.items() if k in mine and k not in rival) / total
        theirs = sum(w for k, w in words.items() if k in rival and k not in mine) / total
        covered = self._entry_covered(words, full[0][0])
        covered_2 = self._entry_covered(words, full[1][0]) if second is not None else 0.0
        return [
            z_top,
            max(-8.0, min(8.0, z_top - z_second)),
            min(z_top - max(z_second, floor), 8.0),
            f[n],
            second[n] if second is not None else 0.0,
            f[9],
            doc_top,
            doc_lead,
            cos_top,
            cos_top - cos_other,
            float(first_doc),
            float(first_cos),
            float(first_fitted),
            float(first_suggested),
            own,
            theirs,
            covered,
            covered - covered_2,
            float(min(len(words), 6)),
            math.log1p(len(normalized)),
            z_fitted,
            f[0],
            f[1],
            f[4],
            f[5],
            float(has_topic),
            float(max(row[2][n] for row in full) > 0),
            z_top - floor,
            float(f[n] > 0),
        ]

    def _entry_covered(self, words: dict[str, float], index: int) -> float:
        """Weighted share of the entry's own phrasing words that the message uses."""
        weights = self._entry_phrase_weights[index]
        total = sum(weights.values())
        return sum(w for k, w in weights.items() if k in words) / total if total else 0.0

    def _decide(
        self,
        full: list[tuple[int, float, list[float]]],
        has_topic: bool,
        calibration: Calibration | None,
        known_words: bool = True,
        shape: tuple[str, bool] | None = None,
        answer_ok: bool = True,
    ) -> FaqMatch:
        """``answer_ok`` False: suggestions or nothing, never an answer (see _bank_veto)."""
        if not full:
            return FaqMatch("none", None, (), 0.0, 0.0)
        ranked = [(self.entries[i], s) for i, s, _ in full]
        t = self.tuning
        top_entry, top = ranked[0]
        second = ranked[1][1] if len(ranked) > 1 else 0.0
        # Scores are per entry, so the runner-up is always a different entry.
        margin = top - second
        # The fixed rule judges the fitted rerank score alone (without the content-word
        # evidence, which the calibrated rule below accounts for).
        base = [f[-2] for _, _, f in full[:2]]
        base_margin = base[0] - (base[1] if len(base) > 1 else 0.0)
        # The message names topics, and the entry mentions too few of them anywhere
        # ("代表的电话" vs the station's phone): at most a suggestion.
        # Without topic words ("电话多少") the frame alone must match very well.
        covered = full[0][2][9] >= t.answer_topic_share if has_topic else True
        base_covered = full[0][2][-1] >= t.answer_topic_share if has_topic else True
        needed = t.answer_score if has_topic else t.answer_score_no_topic
        if answer_ok and base[0] >= needed and base_margin >= t.answer_margin and base_covered:
            return FaqMatch("answer", top_entry, (), top, margin)
        suggest = t.suggest_score
        if calibration is not None:
            z_top = _logit(top)
            if (
                answer_ok
                and z_top >= calibration.answer_z
                and z_top - max(_logit(second), calibration.suggest_z) >= calibration.answer_margin_z
                and full[0][2][len(FEATURES)] >= calibration.answer_cover
                and covered
            ):
                return FaqMatch("answer", top_entry, (), top, margin)
            if answer_ok and shape is not None and self._decision_answers(full, calibration, shape):
                return FaqMatch("answer", top_entry, (), top, margin)
            # The calibrated (lower) level only when some content word of the message occurs
            # in the FAQ at all: chatter ("今天天气怎么样") is not offered the nearest topics.
            low = 1.0 / (1.0 + math.exp(-calibration.suggest_z))
            # Once the message is worth suggestions at all, the entries the character
            # evidence ranks beside the first are offered too, even scoring lower: their
            # order says they are the next most likely (樓上半夜吵得睡不著: 楼上漏水, then 噪音).
            first = full[0][1] >= t.suggest_score or (full[0][1] >= low and known_words)
            suggestions = tuple(
                self.entries[i]
                for i, s, f in _suggestion_order(full)[:3]
                if s >= t.suggest_score
                or (s >= low and known_words)
                or (first and f[len(FEATURES) + 1] > 0)
            )
            if suggestions:
                return FaqMatch("suggest", None, suggestions, top, margin)
            return FaqMatch("none", None, (), top, margin)
        suggestions = tuple(e for e, s in ranked[:3] if s >= suggest)
        if suggestions:
            return FaqMatch("suggest", None, suggestions, top, margin)
        return FaqMatch("none", None, (), top, margin)

    # -- calibration on the loaded FAQ -------------------------------------------------

    def _calibrate(self) -> Calibration | None:
        """Fit the log-odds answer rule on this FAQ (see MatcherTuning.calibrate).

        Positives: one phrasing of each of up to ``calibration_queries`` entries that have
        two or more, held out of a copy of the index (so it is as new to the matcher as a
        resident's wording), and perturbed the way residents type: a character dropped, a
        homophone, filler around it, or buried in a story. Negatives: the generic off-topic
        messages shipped in data/offtopic_zh.yaml. The thresholds are the loosest whose
        wrong answers on the positives and answers on the negatives stay within
        ``calibration_wrong`` and ``calibration_offtopic`` (the fixed rule's answers
        included). Deterministic: seeded by the FAQ's size.
        """
        from faq.calibration import offtopic_messages, perturb

        t = self.tuning
        n = len(self.entries)
        multi = [i for i, r in enumerate(self._entry_phrasings) if len(r) >= 2]
        if len(multi) < 5 or n < 5:
            return None
        rng = random.Random(n)
        chosen = sorted(rng.sample(multi, min(len(multi), t.calibration_queries)))
        chosen_set = set(chosen)
        others = [i for i in range(n) if i not in chosen_set]
        room = max(0, t.calibration_entries - len(chosen))
        subset = sorted(chosen + rng.sample(others, min(len(others), room)))
        held: dict[int, str] = {}
        sub_entries: list[FaqEntry] = []
        for i in subset:
            entry = self.entries[i]
            phrasings = [entry.question, *entry.alternates]
            own = len(phrasings)
            # (the bank's phrasings as the matcher indexes them; never the held-out one)
            phrasings += self._extra.get(i, ())
            if i in chosen_set:
                k = rng.randrange(own)
                held[len(sub_entries)] = phrasings.pop(k)
                entry = FaqEntry(
                    id=entry.id, question=phrasings[0], answer=entry.answer,
                    alternates=tuple(phrasings[1:]),
                )
            else:
                entry = FaqEntry(
                    id=entry.id, question=phrasings[0], answer=entry.answer,
                    alternates=tuple(phrasings[1:]),
                )
            sub_entries.append(entry)
        sub = FaqMatcher(
            sub_entries,
            tuning=dataclasses.replace(t, calibrate=False, bank=False),
            normalizer=self._norm,
        )
        vocabulary = "".join(e.question + "".join(e.alternates) for e in sub_entries)
        # (log-odds of the best entry, its lead, its message cover, right entry first, the
        # fixed rule answered, log-odds of the right entry)
        positives: list[tuple[float, float, float, bool, bool, float]] = []
        variants = max(1, min(2, t.calibration_queries // max(len(held), 1)))
        queries = [(i, perturb(text, rng, vocabulary)) for i, text in held.items() for _ in range(variants)]
        for index, query in queries:
            full, has_topic = sub._ranked(query, None, any_station=True)
            if not full:
                continue
            fixed = sub._decide(full, has_topic, None).kind == "answer"
            z = [_logit(v) for _, v, _ in full[:2]]
            right = next((_logit(v) for i, v, _ in full if i == index), -27.6)
            positives.append((z[0], z[1] if len(z) > 1 else -27.6, full[0][2][len(FEATURES)],
                              full[0][0] == index, fixed, right))
        negatives: list[tuple[float, float, float, bool]] = []
        for text in offtopic_messages():
            full, has_topic = sub._ranked(text, None, any_station=True)
            if not full:
                continue
            fixed = sub._decide(full, has_topic, None).kind == "answer"
            z = [_logit(v) for _, v, _ in full[:2]]
            negatives.append(
                (z[0], z[1] if len(z) > 1 else -27.6, full[0][2][len(FEATURES)], fixed)
            )
        if len(positives) < 5:
            return None
        return _fit_thresholds(positives, negatives, t)


def _fit_thresholds(
    positives: list[tuple[float, float, float, bool, bool, float]],
    negatives: list[tuple[float, float, float, bool]],
    t: MatcherTuning,
) -> Calibration:
    """The loosest (answer_z, margin, cover) within the wrong/off-topic budgets, preferring
    the one that answers the most held-out phrasings rightly.

    The runner-up's log-odds are floored at the suggestion level first: a lead over
    entries that are not even worth suggesting says nothing ("明天要不要带伞" matches one
    entry's 要带 and nothing else's)."""
    right_z = sorted(r for *_, r in positives if r > -27.6)
    # Suggestions: low enough that nearly every held-out phrasing whose entry was ranked
    # at all would have been offered (residents' wordings score lower still: one unit of
    # log-odds below the 5th percentile).
    suggest_z = right_z[len(right_z) // 20] - 1.0 if right_z else _logit(t.suggest_score)
    max_wrong = t.calibration_wrong * len(positives)
    max_off = t.calibration_offtopic * max(len(negatives), 1)
    pos = [(z, z - max(z2, suggest_z), c, ok, fixed) for z, z2, c, ok, fixed, _ in positives]
    neg = [(z, z - max(z2, suggest_z), c, fixed) for z, z2, c, fixed in negatives]
    levels = sorted({round(z, 2) for z, *_ in pos})
    # At least one unit of log-odds: two entries scoring alike is the very case for
    # suggestions, however rarely the held-out phrasings showed it.
    margins = [1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0]
    # Never 0: the message's main content word must be the entry's (see _content_share).
    covers = [0.01, 0.3, 0.45, 0.6, 0.75, 0.9]
    best: tuple[int, float, float, float] | None = None
    for c in covers:
        for m in margins:
            for a in levels:
                right = wrong = 0
                for z, lead, cover, ok, fixed in pos:
                    # Budgets are for what this rule adds to the fixed one.
                    if not fixed and z >= a and lead >= m and cover >= c:
                        if ok:
                            right += 1
                        else:
                            wrong += 1
                if wrong > max_wrong:
                    continue
                off = sum(
                    1 for z, lead, cover, fixed in neg
                    if not fixed and z >= a and lead >= m and cover >= c
                )
                if off > max_off:
                    continue
                if best is None or right > best[0]:
                    best = (right, a, m, c)
                break  # higher levels at this margin answer fewer
    if best is None:
        return Calibration(27.6, 27.6, suggest_z, 1.0, len(positives), len(negatives))
    _, a, m, c = best
    return Calibration(a, m, suggest_z, c, len(positives), len(negatives))


def group_similar(
    questions: Sequence[str], threshold: float = 70.0, *, candidates: int = 8
) -> list[tuple[str, int, list[str]]]:
    """Cluster questions the FAQ missed, for staff to see which entries are lacking.

    Returns ``(representative, count, examples)`` per cluster, most frequent first.
    The representative is the cluster's most frequent wording; ``examples`` holds up to
    five distinct wordings (most frequent first). Questions that normalise to nothing
    (greetings, emoji) are ignored. ``threshold`` is a 0-100 similarity on the
    normalised pinyin, so homophone variants group together.

    Near-linear: a wording is compared only with the ``candidates`` cluster
    representatives sharing the most pinyin bigrams with it (found through an inverted
    index of the representatives' bigrams), never with every cluster. Two wordings with
    no bigram in common are never similar enough to group anyway.
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
    postings: dict[str, list[int]] = {}  # pinyin bigram (or lone unit) -> representatives
    for text in keys:
        key = pinyin_key(text)
        grams = {key[i : i + 2] for i in range(len(key) - 1)} or {key}
        shared: Counter[int] = Counter()
        for gram in grams:
            shared.update(postings.get(gram, ()))
        best: tuple[float, int] | None = None
        for rep, _ in shared.most_common(candidates):
            score = fuzz.ratio(key, reps[rep], score_cutoff=threshold)
            if score and (best is None or score > best[0]):
                best = (score, rep)
        if best is None:
            for gram in grams:
                postings.setdefault(gram, []).append(len(reps))
            reps.append(key)
            clusters.append([text])
        else:
            clusters[best[1]].append(text)
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
