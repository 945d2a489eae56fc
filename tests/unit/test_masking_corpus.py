"""The masking corpus (tests/data/masking_corpus.yaml): what residents write, masked or left alone.

A positive passes when every `gone` part has vanished, as written and in any other spelling of its
digits; a negative passes when it comes out unchanged. The digit check is done here, on purpose
independent of the masker's own normalisation, so a masker that only rewrote the separators or
turned 一二三四 into 1234 would fail.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.domain.masking import mask_pii

CORPUS = yaml.safe_load(
    (Path(__file__).parents[1] / "data" / "masking_corpus.yaml").read_text(encoding="utf-8")
)
POSITIVES: list[dict[str, Any]] = CORPUS["positives"]
NEGATIVES: list[str] = CORPUS["negatives"]

_CHINESE_DIGITS = {
    **dict.fromkeys("〇零○", "0"),
    **dict.fromkeys("一壹幺", "1"),
    **dict.fromkeys("二贰两", "2"),
    **dict.fromkeys("三叁", "3"),
    **dict.fromkeys("四肆", "4"),
    **dict.fromkeys("五伍", "5"),
    **dict.fromkeys("六陆", "6"),
    **dict.fromkeys("七柒", "7"),
    **dict.fromkeys("八捌", "8"),
    **dict.fromkeys("九玖", "9"),
}


def digit_spelling(text: str) -> str:
    """Digits only, in ASCII: every way of writing 138 1234 5678 becomes 13812345678. Letters
    and other characters break the sequence (kept as a single marker) so that digits from two
    different places cannot join up into a false match."""
    out: list[str] = []
    for ch in text:
        folded = unicodedata.normalize("NFKC", ch)
        if folded.isascii() and folded.isdigit():
            out.append(folded)
        elif ch in _CHINESE_DIGITS:
            out.append(_CHINESE_DIGITS[ch])
        elif folded.strip() == "" or folded in "-.·—–―‐‑−。()（）\u200b\u200c\u200d\ufeff":
            continue  # separators between digits
        elif not out or out[-1] != "|":
            out.append("|")
    return "".join(out)


def _id(entry: dict[str, Any]) -> str:
    return f"{entry['kind']}:{entry['text'][:24]}"


@pytest.mark.parametrize("entry", POSITIVES, ids=[_id(e) for e in POSITIVES])
def test_positive_is_masked(entry: dict[str, Any]) -> None:
    masked = mask_pii(entry["text"])
    for gone in entry["gone"]:
        assert gone not in masked, f"{gone!r} survived: {masked!r}"
        digits = digit_spelling(gone).replace("|", "")
        if len(digits) >= 3:
            assert digits not in digit_spelling(masked), f"{gone!r} survived: {masked!r}"
    for kept in entry.get("keep", []):
        assert kept in masked, f"{kept!r} was lost: {masked!r}"


@pytest.mark.parametrize("text", NEGATIVES)
def test_negative_is_left_alone(text: str) -> None:
    assert mask_pii(text) == text


def test_the_corpus_is_big_enough_and_has_no_duplicates() -> None:
    assert len(POSITIVES) >= 100 and len(NEGATIVES) >= 100
    assert len({e["text"] for e in POSITIVES}) == len(POSITIVES)
    assert len(set(NEGATIVES)) == len(NEGATIVES)
    assert all(e["gone"] for e in POSITIVES)
