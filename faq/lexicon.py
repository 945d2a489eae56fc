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

__all__ = ["WordStats", "word_stats"]

_PATH = Path(__file__).with_name("data") / "word_freq_zh.txt"
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
        n = len(text)
        if n == 0:
            return []
        logp = self._logp
        unknown = self._unknown_logp
        best: list[tuple[float, int]] = [(0.0, n)] * (n + 1)
        for i in range(n - 1, -1, -1):
            if text[i].isascii():
                j = i + 1
                while j < n and text[j].isascii():
                    j += 1
                best[i] = (best[j][0] + unknown, j)
                continue
            choice = (logp.get(text[i], unknown) + best[i + 1][0], i + 1)
            for j in range(i + 2, min(n, i + _MAX_WORD) + 1):
                p = logp.get(text[i:j])
                if p is not None and p + best[j][0] > choice[0]:
                    choice = (p + best[j][0], j)
            best[i] = choice
        words: list[str] = []
        i = 0
        while i < n:
            j = best[i][1]
            words.append(text[i:j])
            i = j
        return words

    def weight(self, word: str) -> float:
        """General-language weight of a word in [0.05, 1]: how much it says about a topic."""
        p = self._logp.get(word)
        info = -p if p is not None else self._log_total
        x = (info - _LOW_INFO) / (_HIGH_INFO - _LOW_INFO)
        return min(1.0, max(_MIN_WEIGHT, x))


@cache
def word_stats() -> WordStats:
    """The bundled word statistics (loaded once)."""
    return WordStats.from_file()
