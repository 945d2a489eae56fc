"""General Chinese word knowledge: segmentation and word weights that do not depend on the FAQ.

An FAQ of 30 entries with one or two phrasings each is far too small to learn which words
matter from itself: every word occurs once, so FAQ-local IDF cannot tell 低保 from 怎么.
The general language can. ``data/word_freq_zh.txt`` holds word frequencies derived from
jieba's dictionary (words of up to four characters seen at least ten times, and every
single character); from it this module

* segments normalised text into words (maximum probability over the word lattice, as
  jieba does without its HMM), and
* weighs a word by its general-language information: function and question words
  (的, 我, 怎么, 什么, 可以) weigh little, topic words (低保, 拆迁, 路灯) a lot.

Loaded once per process (about 0.1 s), read-only afterwards.
"""

from __future__ import annotations

import math
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

__all__ = ["Synonyms", "WordStats", "WordVectors", "synonyms", "word_stats", "word_vectors"]

_PATH = Path(__file__).with_name("data") / "word_freq_zh.txt"
_SYNONYMS_PATH = Path(__file__).with_name("data") / "synonyms_zh.txt"
_MAX_WORD = 4
# Information (natural log of inverse relative frequency) mapped to a weight in
# [_MIN_WEIGHT, 1]: the commonest words sit near 5, question words near 7-8, ordinary
# content words at 10 and above, rare terms at 14+.
_LOW_INFO = 6.0
_HIGH_INFO = 12.0
_MIN_WEIGHT = 0.05


class WordStats:
    def __init__(self, freq: dict[str, int]) -> None:
        self._freq = freq
        total = float(sum(freq.values())) or 1.0
        self._log_total = math.log(total)
        # Unknown characters and words: as rare as the rarest entries.
        self._unknown_logp = -self._log_total
        self._logp = {w: math.log(f) - self._log_total for w, f in freq.items()}
        # Every proper prefix of a word of two or more characters: segmentation stops
        # extending a candidate as soon as no word starts like it.
        self._prefixes = {w[:k] for w in freq if len(w) > 1 for k in range(2, len(w) + 1)}
        self._weights: dict[str, float] = {}

    @classmethod
    def from_file(cls, path: Path = _PATH) -> WordStats:
        freq: dict[str, int] = {}
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("#"):
                    continue
                word, _, count = line.rstrip("\n").partition(" ")
                if word and count.isdigit():
                    freq[word] = int(count)
        return cls(freq)

    def __contains__(self, word: str) -> bool:
        return word in self._logp

    def segment(self, text: str) -> list[str]:
        """Most probable split of ``text`` into dictionary words (unknown characters alone).

        ASCII runs are kept whole. Dynamic programming from the end, as jieba's ``cut``
        with ``HMM=False``: each position takes the word that maximises the log
        probability of the rest.
        """
        return [text[i:j] for i, j in self.spans(text)]

    def spans(self, text: str) -> list[tuple[int, int]]:
        """(start, end) of each word of :meth:`segment`."""
        n = len(text)
        if n == 0:
            return []
        logp = self._logp
        prefixes = self._prefixes
        unknown = self._unknown_logp
        score = [0.0] * (n + 1)
        nxt = [n] * (n + 1)
        for i in range(n - 1, -1, -1):
            ch = text[i]
            if ch.isascii():
                j = i + 1
                while j < n and text[j].isascii():
                    j += 1
                score[i] = score[j] + unknown
                nxt[i] = j
                continue
            best = logp.get(ch, unknown) + score[i + 1]
            end = i + 1
            j = i + 2
            limit = min(n, i + _MAX_WORD)
            while j <= limit:
                piece = text[i:j]
                if piece not in prefixes:
                    break  # no dictionary word goes on like this
                p = logp.get(piece)
                if p is not None and p + score[j] > best:
                    best = p + score[j]
                    end = j
                j += 1
            score[i] = best
            nxt[i] = end
        out: list[tuple[int, int]] = []
        i = 0
        while i < n:
            out.append((i, nxt[i]))
            i = nxt[i]
        return out

    def weight(self, word: str) -> float:
        """General-language weight of a word in [0.05, 1]: how much it says about a topic."""
        w = self._weights.get(word)
        if w is None:
            p = self._logp.get(word)
            info = -p if p is not None else self._log_total
            x = (info - _LOW_INFO) / (_HIGH_INFO - _LOW_INFO)
            w = min(1.0, max(_MIN_WEIGHT, x))
            if len(self._weights) < 200_000:
                self._weights[word] = w
        return w


@cache
def word_stats() -> WordStats:
    """The bundled word statistics (loaded once)."""
    return WordStats.from_file()


class Synonyms:
    """General synonym groups (data/synonyms_zh.txt, from cnsyn): the other words of a
    word's groups, in file order. Groups are resolved per lookup, so loading is one pass."""

    def __init__(self, groups: list[list[str]]) -> None:
        self._groups = groups
        index: dict[str, list[int]] = {}
        for n, group in enumerate(groups):
            for word in group:
                index.setdefault(word, []).append(n)
        self._index = index

    def __len__(self) -> int:
        return len(self._index)

    def get(self, word: str) -> list[str]:
        seen = {word}
        out: list[str] = []
        for n in self._index.get(word, ()):
            for other in self._groups[n]:
                if other not in seen:
                    seen.add(other)
                    out.append(other)
        return out


@cache
def synonyms() -> Synonyms:
    """The bundled synonym groups (loaded once, about 0.1 s; read-only afterwards)."""
    with open(_SYNONYMS_PATH, encoding="utf-8") as fh:
        return Synonyms([line.split() for line in fh if not line.startswith("#")])


_VECTORS_PATH = Path(__file__).with_name("data") / "word_vectors_zh.npz"


class WordVectors:
    """General Chinese word vectors (data/word_vectors_zh.npz: word2vec, 100 dimensions,
    from the ``synonyms`` package 3.10.2, MIT, see bench/make_word_vectors.py), unit
    length. They say that 噪音 and 吵 or 医保 and 报销 are about the same thing, which no
    FAQ of 30 entries can learn from itself."""

    def __init__(self, words: list[str], matrix: np.ndarray) -> None:
        self._index = {w: i for i, w in enumerate(words)}
        self.matrix = matrix
        self.dims = int(matrix.shape[1])

    def __len__(self) -> int:
        return len(self._index)

    def row(self, word: str) -> int | None:
        return self._index.get(word)


@cache
def word_vectors() -> WordVectors:
    """The bundled word vectors (loaded once, on first use, about 0.2 s)."""
    import numpy as np  # only here: a matcher without vectors does not import numpy
    with np.load(_VECTORS_PATH) as data:
        words = data["words"].tobytes().decode("utf-8").split("\n")
        scales = data["scales"].astype(np.float32)
        matrix = data["vectors"].astype(np.float32) * scales[:, None]
    return WordVectors(words, matrix)
