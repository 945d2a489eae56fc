"""Material for calibrating the matcher on the FAQ it has loaded (``FaqMatcher._calibrate``).

* :func:`perturb` turns an FAQ phrasing into the kind of message a resident sends: a
  character dropped, a homophone typed by pinyin input, filler around it, or the question
  buried at the end of a short story. General transformations, nothing FAQ-specific.
* :func:`offtopic_messages`: generic messages no station's FAQ should answer
  (``data/offtopic_zh.yaml``).
"""

from __future__ import annotations

import random
from functools import cache
from pathlib import Path

import yaml

from faq.normalize import pinyin_units

__all__ = ["offtopic_messages", "perturb"]

_OFFTOPIC_PATH = Path(__file__).with_name("data") / "offtopic_zh.yaml"

_PREFIXES = ("请问一下，", "你好，我想问问", "麻烦问下，", "那个，", "我想咨询一下，", "")
_SUFFIXES = ("啊，谢谢", "？？", "呢", "，麻烦了", "", "吗")
_STORIES = (
    "我在这个小区住了好多年了，最近家里有点事，",
    "我妈年纪大了不会用手机，让我帮她问，",
    "上周去办事跑了好几趟都没弄明白，",
    "邻居跟我说可以来这里问问，",
)


def _is_han(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff"


def perturb(text: str, rng: random.Random, vocabulary: str = "") -> str:
    """One resident-style variant of ``text`` (seeded by ``rng``).

    ``vocabulary``: characters to draw homophones from (the FAQ's own text), so that the
    substitute is a real character with the same toneless reading.
    """
    bare = text.strip().rstrip("？?。!！")
    kind = rng.randrange(6)
    if kind == 0 or len(bare) < 4:
        return bare
    if kind == 1:  # a character lost while typing
        spots = [i for i, ch in enumerate(bare) if _is_han(ch)]
        i = rng.choice(spots) if spots else len(bare) - 1
        return bare[:i] + bare[i + 1 :]
    if kind == 2 and vocabulary:  # a homophone picked from the pinyin candidates
        spots = [i for i, ch in enumerate(bare) if _is_han(ch)]
        rng.shuffle(spots)
        pool = sorted({ch for ch in vocabulary if _is_han(ch)})
        readings = dict(zip(pool, pinyin_units(pool), strict=True))
        for i in spots[:4]:
            sound = pinyin_units([bare[i]])[0]
            others = [c for c in pool if readings[c] == sound and c != bare[i]]
            if others:
                return bare[:i] + rng.choice(others) + bare[i + 1 :]
        return bare
    if kind == 3:
        return rng.choice(_PREFIXES) + bare + rng.choice(_SUFFIXES)
    if kind == 4:
        return rng.choice(_STORIES) + "想问" + bare
    return bare + rng.choice(_SUFFIXES)


@cache
def offtopic_messages() -> tuple[str, ...]:
    data = yaml.safe_load(_OFFTOPIC_PATH.read_text(encoding="utf-8")) or {}
    return tuple(str(t) for t in data.get("offtopic") or ())
