"""A general bank of what residents ask, shipped as data (issue 11, round 8).

``data/intents_zh/*.yaml``: a list of *intents* (``{id, domain, question, keywords,
phrasings}``), written apart from any station's FAQ: the station's own business (接待时间,
留言), the policy topics residents bring to any station (医保报销, 异地就医, 低保, 物业费 ...), each
with 15-20 colloquial phrasings, and ``domain: outside`` intents no station handles (护照,
违章, 天气). The matcher uses it in two ways (see ``FaqMatcher._build_bank``):

* **Positive**: each entry of the loaded FAQ is mapped to the bank intent it asks (only when
  both are each other's best match, with a clear lead); a mapped entry is indexed with some of
  the intent's phrasings besides its own, so a resident's colloquial wording finds a formal
  entry.
* **Negative**: a message whose best intent is *not* the intent of the entry about to be
  answered -- an intent of another entry, an intent this FAQ does not have, or an ``outside``
  one -- and that matches it clearly better than it matches that entry is not answered
  confidently (suggestions or 留言给代表 instead). This is what the matcher otherwise lacks:
  knowing that 异地就医 is a topic of its own when the FAQ only has 医保报销.

Similarity here is deliberately light (the bank is read at every start-up and consulted per
message): the cosine of TF-IDF vectors over the pinyin-keyed characters and character
bigrams of normalised text (homophone typos compare equal), IDF over the bank's phrasings,
an intent scoring as its best phrasing. The bank's index is built once per process.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from faq.normalize import Normalizer, default_normalizer, pinyin_key

__all__ = ["Intent", "IntentBank", "PhrasingIndex", "default_bank", "load_intents"]

BANK_DIR = Path(__file__).with_name("data") / "intents_zh"
OUTSIDE = "outside"
_UNIGRAM_WEIGHT = 0.4
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # a single syllable says less than a pair (as in the matcher's recall)


@dataclass(frozen=True)
class Intent:
    id: str
    domain: str
    question: str
    keywords: tuple[str, ...]
    phrasings: tuple[str, ...]

    @property
    def outside(self) -> bool:
        """A topic stations do not handle (护照, 违章): never an FAQ entry's."""
        return self.domain == OUTSIDE


def _strings(value: object, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ValueError(f"{where}: expected a list")
    return tuple(str(v).strip() for v in value if str(v).strip())


def load_intents(folder: Path | None = None) -> tuple[Intent, ...]:
    """Every intent of the YAML files in ``folder`` (default BANK_DIR, sorted by file name).
    Ids are unique across files; a malformed file raises ValueError naming it (the bank is
    shipped data)."""
    folder = folder or BANK_DIR
    intents: list[Intent] = []
    seen: set[str] = set()
    if not folder.is_dir():
        return ()
    for path in sorted(folder.glob("*.yaml")):
        # (libyaml's loader when present: the bank is read at every start-up)
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER) or []
        if isinstance(data, dict):
            data = data.get("intents") or []
        if not isinstance(data, list):
            raise ValueError(f"{path.name}: expected a list of intents")
        for n, item in enumerate(data):
            where = f"{path.name}[{n}]"
            if not isinstance(item, dict) or not item.get("id") or not item.get("question"):
                raise ValueError(f"{where}: an intent needs an id and a question")
            intent = Intent(
                id=str(item["id"]).strip(),
                domain=str(item.get("domain") or "").strip(),
                question=str(item["question"]).strip(),
                keywords=_strings(item.get("keywords"), where),
                phrasings=_strings(item.get("phrasings"), where),
            )
            if intent.id in seen:
                raise ValueError(f"{where}: duplicate intent id {intent.id!r}")
            seen.add(intent.id)
            intents.append(intent)
    return tuple(intents)


def grams(normalized: str) -> set[str]:
    """Pinyin-keyed characters and character bigrams of normalised text."""
    key = pinyin_key(normalized)
    out = set(key)
    out.update(map(operator.add, key, key[1:]))
    return out


class PhrasingIndex:
    """Unit TF-IDF vectors of phrasings, each owned by an item (an intent, an FAQ entry), in
    an inverted index: :meth:`scores` gives each item its best phrasing's cosine with a
    message. ``idf``: the weights to use (the bank's, so that scores on the FAQ's own
    phrasings and on the bank's mean the same)."""

    def __init__(
        self,
        texts: Sequence[str],
        owners: Sequence[int],
        idf: dict[str, float],
        unknown: float,
        min_idf: float = 0.0,
    ) -> None:
        self._idf = idf
        self._unknown = unknown
        self._min_idf = min_idf
        self._owners = list(owners)
        postings: dict[str, list[tuple[int, float]]] = {}
        for p, text in enumerate(texts):
            vec = self.vector(text)
            for g, w in vec.items():
                postings.setdefault(g, []).append((p, w))
        self._postings = postings

    def vector(self, normalized: str) -> dict[str, float]:
        """Unit TF-IDF vector of the text's grams (grams the bank never saw weigh the most)."""
        idf, unknown, floor = self._idf, self._unknown, self._min_idf
        vec: dict[str, float] = {}
        for g in grams(normalized):
            w = idf.get(g, unknown)
            if w >= floor:
                vec[g] = (_UNIGRAM_WEIGHT if len(g) == 1 else 1.0) * w
        norm = math.sqrt(sum(w * w for w in vec.values()))
        return {g: w / norm for g, w in vec.items()} if norm else {}

    def scores(self, vec: dict[str, float]) -> dict[int, float]:
        """Per owner, the best cosine of its phrasings with ``vec`` (owners sharing nothing
        with it are left out)."""
        per: dict[int, float] = {}
        get = per.get
        postings = self._postings
        for g, w in vec.items():
            for p, v in postings.get(g, ()):
                per[p] = get(p, 0.0) + w * v
        out: dict[int, float] = {}
        owners = self._owners
        for p, s in per.items():
            o = owners[p]
            if s > out.get(o, 0.0):
                out[o] = s
        return out


class IntentBank:
    """The intents with their phrasing index (see module docstring); read-only once built."""

    def __init__(self, intents: Sequence[Intent], normalizer: Normalizer | None = None) -> None:
        self.intents = tuple(intents)
        norm = normalizer or default_normalizer()
        texts: list[str] = []
        owners: list[int] = []
        # Normalised phrasings of each intent, its question first (what mapped entries gain).
        self.texts: list[tuple[str, ...]] = []
        for i, intent in enumerate(self.intents):
            own: list[str] = []
            for phrase in (intent.question, *intent.phrasings):
                text = norm.normalize(phrase)
                if text and text not in own:
                    own.append(text)
            self.texts.append(tuple(own))
            texts += own
            owners += [i] * len(own)
        df: dict[str, int] = {}
        for text in texts:
            for g in grams(text):
                df[g] = df.get(g, 0) + 1
        n = max(len(texts), 1)
        idf = {g: math.log(1 + n / c) for g, c in df.items()}
        # Grams in more than one phrasing in twenty of a large bank (怎么, 吗, 的) say next
        # to nothing and have the longest postings: left out, which keeps a lookup cheap.
        min_idf = math.log(1 + n / max(50, n / 20))
        self.index = PhrasingIndex(texts, owners, idf, math.log(1 + n), min_idf)

    def __len__(self) -> int:
        return len(self.intents)

    def own_index(self, texts: Iterable[tuple[int, str]]) -> PhrasingIndex:
        """An index of other phrasings (``(owner, normalised text)``) weighed as the bank's."""
        pairs = list(texts)
        idx = self.index
        return PhrasingIndex(
            [t for _, t in pairs], [o for o, _ in pairs], idx._idf, idx._unknown, idx._min_idf
        )


@cache
def default_bank() -> IntentBank | None:
    """The shipped bank (data/intents_zh/), built once per process; None without one."""
    intents = load_intents()
    return IntentBank(intents) if intents else None
