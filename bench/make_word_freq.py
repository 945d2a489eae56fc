"""Regenerate faq/data/word_freq_zh.txt from jieba's dictionary (needs ``pip install jieba``,
which the bot itself does not)::

    python bench/make_word_freq.py

Keeps the words of up to four characters seen at least ten times, and every single character:
enough for segmenting residents' questions and weighing their words, at a quarter of the size.
"""

from __future__ import annotations

import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "faq" / "data" / "word_freq_zh.txt"
HEADER = (
    "# Chinese word frequencies: the words of up to four characters with frequency >= 10 (and"
    " every\n# single character) from jieba 0.42.1's dict.txt (MIT licence,"
    " https://github.com/fxsjy/jieba).\n# Regenerate with bench/make_word_freq.py. Used for"
    " segmentation and general-language word weights.\n"
)


def main() -> int:
    try:
        import jieba
    except ImportError:
        print("pip install jieba first", file=sys.stderr)
        return 2
    source = Path(jieba.__file__).with_name("dict.txt")
    lines: list[str] = []
    with open(source, encoding="utf-8") as fh:
        for line in fh:
            word, count, *_ = line.split()
            if (int(count) >= 10 and len(word) <= 4) or len(word) == 1:
                lines.append(f"{word} {count}")
    OUT.write_text(HEADER + "\n".join(lines) + "\n", encoding="utf-8")
    print(f"{len(lines)} words written to {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
