"""Text normalisation for FAQ matching.

User text and FAQ phrasings go through exactly the same steps, so that matching compares
like with like:

1. cap the length (head and tail kept: residents put the question first or last);
2. NFKC (full-width digits/letters -> ASCII) and lower case;
3. Traditional -> Simplified (OpenCC ``t2s``);
4. punctuation, symbols, emoji and whitespace become clause breaks;
5. variant/synonym table (typos, dialect, colloquial forms -> one canonical form);
6. filler phrases dropped (请问、那个、谢谢 …), then modal particles at clause edges,
   then colloquial question tags at clause ends (开门不 / 有名单没 / 能改么 = …吗);
7. clause breaks removed.

The tables live in ``data/normalize.yaml`` so they can be extended without code changes.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "MAX_INPUT_CHARS",
    "Normalizer",
    "default_normalizer",
    "normalize",
    "pinyin_key",
    "pinyin_units",
    "significant_length",
    "text_units",
    "to_simplified",
]

#: Longer input is cut to its first and last half of this many characters.
MAX_INPUT_CHARS = 200

_TABLES_PATH = Path(__file__).with_name("data") / "normalize.yaml"

# Anything that is not an ASCII letter/digit or a CJK ideograph is a clause break.
_NON_TEXT = re.compile(r"[^0-9a-z\u3400-\u4dbf\u4e00-\u9fff\U00020000-\U0002ffff]+")
# A matching unit is one ideograph or one run of ASCII letters/digits ("12345", "wifi").
_UNIT = re.compile(r"[0-9a-z]+|[^0-9a-z]")


@cache
def _t2s_converter() -> tuple[Any, frozenset[str] | None]:
    """Build the OpenCC converter once (it reads its dictionaries from disk).

    Also returns the characters that any conversion rule would change, so that text
    without them (almost all Simplified input) skips the slow pure-Python converter.
    ``None`` means the set could not be derived and every text is converted.
    """
    from opencc import OpenCC

    converter = OpenCC("t2s")
    converter.convert("")  # forces dictionary loading now, not on the first query
    try:
        chains = converter._dict_chain_data
        singles: dict[str, str] = {}
        phrases: list[tuple[str, str]] = []
        for group in chains:
            for _max_len, _min_len, mapping in group:
                for key, value in mapping.items():
                    target = value.split(" ")[0]
                    if len(key) == 1:
                        singles[key] = target
                    else:
                        phrases.append((key, target))
        trigger = {k for k, v in singles.items() if k != v}
        for key, target in phrases:
            # A phrase rule can only change text that contains a character it rewrites.
            if key == target or not trigger.isdisjoint(key):
                continue
            if len(key) == len(target):
                trigger.update(a for a, b in zip(key, target, strict=True) if a != b)
            else:
                trigger.update(key)
        return converter, frozenset(trigger)
    except (AttributeError, TypeError, ValueError):
        return converter, None


def to_simplified(text: str) -> str:
    """Traditional -> Simplified Chinese; Simplified text is returned unchanged (fast)."""
    converter, trigger = _t2s_converter()
    if trigger is not None and trigger.isdisjoint(text):
        return text
    result: str = converter.convert(text)
    return result


def _fold(text: str) -> str:
    return to_simplified(unicodedata.normalize("NFKC", text).lower())


def _alternation(words: Iterable[str]) -> re.Pattern[str] | None:
    """A regex matching any of ``words``, preferring the longest at each position.

    Built as a character trie ("联(?:络站|系)"), which Python's backtracking engine
    scans far faster than a flat list of hundreds of alternatives.
    """
    trie: dict[str, dict] = {}  # type: ignore[type-arg]
    for word in {w for w in words if w}:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}
    if not trie:
        return None

    def pattern(node: dict[str, dict]) -> str:  # type: ignore[type-arg]
        branches = [re.escape(ch) + pattern(child) for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else f"(?:{'|'.join(branches)})"
        # A word may end here: the longer continuation is tried first (greedy "?").
        if "" in node:
            return body + "?" if len(branches) == 1 and len(body) == 1 else f"(?:{body})?"
        return body

    return re.compile(pattern(trie))


class Normalizer:
    """Normalises text with a given set of tables (see module docstring)."""

    def __init__(
        self,
        variants: Mapping[str, str] | None = None,
        fillers: Iterable[str] = (),
        leading_particles: str = "",
        trailing_particles: str = "",
        question_tags: Iterable[str] = (),
        question_tag_guard: str = "",
        question_markers: Iterable[str] = (),
        lexicon: Iterable[str] = (),
        concepts: Mapping[str, Iterable[str]] | None = None,
        frames: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        self._variants: dict[str, str] = {}
        for key, value in (variants or {}).items():
            folded_key = _NON_TEXT.sub("", _fold(str(key)))
            if folded_key:
                self._variants[folded_key] = _NON_TEXT.sub("", _fold(str(value)))
        self._variant_re = _alternation(self._variants)
        self._filler_re = _alternation(_NON_TEXT.sub("", _fold(f)) for f in fillers)
        lead = "".join(sorted(set(_fold(leading_particles)) - {" "}))
        trail = "".join(sorted(set(_fold(trailing_particles)) - {" "}))
        # A clause edge is the text start/end or a clause break (a space at this stage).
        self._lead_re = re.compile(f"(?<![^ ])[{re.escape(lead)}]+") if lead else None
        self._trail_re = re.compile(f"[{re.escape(trail)}]+(?![^ ])") if trail else None
        # A question tag ends a clause that has something before it, and the character
        # before it is not one that makes it part of a word (什么, 还没有, 要不).
        tags = sorted({_fold(t).strip() for t in question_tags} - {""}, key=len, reverse=True)
        guard = "".join(sorted(set(_fold(question_tag_guard)) - {" "}))
        before = f"[^ {re.escape(guard)}]" if guard else "[^ ]"
        self._tag_re = (
            re.compile(f"(?<={before})(?:{'|'.join(map(re.escape, tags))})(?![^ ])")
            if tags
            else None
        )
        markers = sorted({_NON_TEXT.sub("", _fold(m)) for m in question_markers} - {""})
        self._marker_re = (
            re.compile("|".join(map(re.escape, sorted(markers, key=len, reverse=True))))
            if markers
            else None
        )
        # Keyword tokens: a lexicon word stands for itself, a concept member for "#name",
        # a frame member for "~name".
        own: dict[str, set[str]] = {}
        for word in lexicon:
            text = self.normalize(str(word))
            if len(text) >= 2:
                own.setdefault(text, set()).add(text)
        for prefix, groups in (("#", concepts), ("~", frames)):
            for name, members in (groups or {}).items():
                for word in members:
                    text = self.normalize(str(word))
                    if text:
                        own.setdefault(text, set()).add(f"{prefix}{name}")
        # Matching is leftmost-longest and non-overlapping, so a word also carries the
        # tokens of every keyword inside it (当人大代表 -> #election and 人大代表).
        self._keywords: dict[str, tuple[str, ...]] = {
            word: tuple(sorted({t for sub, toks in own.items() if sub in word for t in toks}))
            for word in own
        }
        self._keyword_re = _alternation(self._keywords)
        self.lexicon: frozenset[str] = frozenset(w for toks in own.values() for w in toks if w[0] not in "#~")

    @classmethod
    def from_yaml(cls, path: str | Path) -> Normalizer:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a mapping of tables")
        return cls(
            variants=data.get("variants") or {},
            fillers=data.get("fillers") or (),
            leading_particles=str(data.get("leading_particles") or ""),
            trailing_particles=str(data.get("trailing_particles") or ""),
            question_tags=data.get("question_tags") or (),
            question_tag_guard=str(data.get("question_tag_guard") or ""),
            question_markers=data.get("question_markers") or (),
            lexicon=data.get("lexicon") or (),
            concepts=data.get("concepts") or {},
            frames=data.get("frames") or {},
        )

    def normalize(self, text: str) -> str:
        if len(text) > MAX_INPUT_CHARS:
            half = MAX_INPUT_CHARS // 2
            text = f"{text[:half]} {text[-half:]}"
        text = _NON_TEXT.sub(" ", _fold(text))
        if self._variant_re is not None:
            variants = self._variants
            text = self._variant_re.sub(lambda m: variants[m.group()], text)
        if self._filler_re is not None:
            text = self._filler_re.sub("", text)
        if self._lead_re is not None:
            text = self._lead_re.sub("", text)
        if self._trail_re is not None:
            text = self._trail_re.sub("", text)
        if self._tag_re is not None:
            text, tags = self._tag_re.subn("", text)
            if tags and self._trail_re is not None:
                text = self._trail_re.sub("", text)  # "有人没啊" -> "有人"
        return text.replace(" ", "")


    def focus(self, text: str, min_chars: int = 18) -> list[str]:
        """Parts of a long message likely to hold its question, each normalised: the last
        clause, the last two, the first, and what follows the last 请问/想问… marker.

        Residents tell the story first and ask last ("楼下路灯坏了三个月……请问怎么留言"),
        or ask first and explain after; the whole message then resembles no FAQ
        phrasing, while the clause that asks does. Short messages (normalised to fewer
        than ``min_chars`` characters) have no parts.
        """
        if len(text) > MAX_INPUT_CHARS:
            half = MAX_INPUT_CHARS // 2
            text = f"{text[:half]} {text[-half:]}"
        folded = _fold(text)
        whole = self.normalize(folded)
        if len(whole) < min_chars:
            return []
        clauses = [c for c in _NON_TEXT.split(folded) if c]
        raw: list[str] = []
        if len(clauses) > 1:
            raw += [clauses[-1], clauses[-2] + " " + clauses[-1], clauses[0]]
        if self._marker_re is not None:
            spaced = _NON_TEXT.sub(" ", folded)
            markers = list(self._marker_re.finditer(spaced))
            if markers and markers[-1].start() > 0:
                raw.append(spaced[markers[-1].end() :])
        parts: list[str] = []
        for part in raw:
            normalized = self.normalize(part)
            if 4 <= len(normalized) < len(whole) and normalized not in parts:
                parts.append(normalized)
        return parts

    def keywords(self, normalized: str) -> list[str]:
        """Lexicon words, ``#concept`` and ``~frame`` tokens found in normalised text."""
        if self._keyword_re is None:
            return []
        found: list[str] = []
        for match in self._keyword_re.finditer(normalized):
            found.extend(self._keywords[match.group()])
        return found


@cache
def default_normalizer() -> Normalizer:
    """The normaliser built from the bundled tables (built once per process)."""
    return Normalizer.from_yaml(_TABLES_PATH)


def normalize(text: str) -> str:
    """Normalise ``text`` with the bundled tables."""
    return default_normalizer().normalize(text)


def significant_length(text: str) -> int:
    """Number of letters, digits and ideographs the user typed (before any table is applied)."""
    return len(_NON_TEXT.sub("", unicodedata.normalize("NFKC", text[: MAX_INPUT_CHARS * 2]).lower()))


def text_units(normalized: str) -> list[str]:
    """Split normalised text into ideographs and ASCII letter/digit runs."""
    return _UNIT.findall(normalized)


# Pinyin: each ideograph is read on its own (no phrase context), so a homophone typo
# always gets the same reading as the character meant, and the caches stay small (one
# entry per ideograph ever seen, bounded by the character set).
_PUA = 0xF0000  # Supplementary Private Use Area A: never occurs in real text
_SYLLABLE_OF: dict[str, str] = {}  # ideograph -> toneless syllable
_SYLLABLE_CODE: dict[str, str] = {}  # syllable -> private-use character
_CODE_TABLE: dict[int, str] = {}  # str.translate table: ideograph -> syllable code
_SEEN: set[str] = set()
_LOCK = threading.Lock()


def _learn(chars: Iterable[str]) -> None:
    from pypinyin import lazy_pinyin

    with _LOCK:
        for ch in chars:
            if ch >= "\u3400" and ch not in _SYLLABLE_OF:
                syllable = lazy_pinyin(ch)[0]
                _SYLLABLE_OF[ch] = syllable
                code = _SYLLABLE_CODE.get(syllable)
                if code is None:
                    code = chr(_PUA + len(_SYLLABLE_CODE))
                    _SYLLABLE_CODE[syllable] = code
                _CODE_TABLE[ord(ch)] = code
            _SEEN.add(ch)


def pinyin_key(normalized: str) -> str:
    """Normalised text with every ideograph replaced by a private-use character standing
    for its toneless syllable (ASCII kept): homophones become equal characters, so
    rapidfuzz and bigrams compare pronunciation syllable by syllable."""
    if not _SEEN.issuperset(normalized):
        _learn(set(normalized).difference(_SEEN))
    return normalized.translate(_CODE_TABLE)


def pinyin_units(units: Iterable[str]) -> list[str]:
    """Toneless pinyin for each unit (ASCII runs are kept as they are)."""
    units = list(units)
    _learn(u for u in units if u not in _SEEN)
    return [_SYLLABLE_OF.get(u, u) for u in units]
