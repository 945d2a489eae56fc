"""Masking speed sanity: how long `mask_pii` takes on what residents write.

Run from the repository root (no network, no database, no Telegram)::

    python bench/masking_bench.py                     # this tree's bot/domain/masking.py
    python bench/masking_bench.py --module OLD.py     # another version, for comparison, e.g.
        git show 0ff68fc:bot/domain/masking.py > /tmp/old_masking.py
        python bench/masking_bench.py --module /tmp/old_masking.py

Three inputs: every text of the masking corpus (tests/data/masking_corpus.yaml, one call
each), the same texts joined into one 10 000-character paste (the longest description
accepted), and 10 000 characters of plain text with no personal data at all. Reported:
microseconds per call (median of several rounds), and the slowest corpus text.
No timing is asserted anywhere; this is for people reading the figures.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def load(module: str | None) -> Callable[[str], str]:
    if module is None:
        from bot.domain.masking import mask_pii

        return mask_pii
    spec = importlib.util.spec_from_file_location("masking_under_test", module)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.mask_pii


def per_call_us(fn: Callable[[str], str], texts: list[str], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        for t in texts:
            fn(t)
        times.append((time.perf_counter() - start) / len(texts))
    return statistics.median(times) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--module", help="a masking.py to measure instead of this tree's")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    mask = load(args.module)

    corpus = yaml.safe_load((ROOT / "tests/data/masking_corpus.yaml").read_text("utf-8"))
    texts = [p["text"] for p in corpus["positives"]] + list(corpus["negatives"])
    paste = "；".join(texts)
    paste = (paste * (10_000 // len(paste) + 1))[:10_000]
    plain = ("小区门口的路灯坏了很久，晚上出门很不方便，希望有关部门尽快来修。" * 400)[:10_000]

    print(f"masking: {args.module or 'bot/domain/masking.py'}")
    print(f"  corpus, {len(texts)} texts: {per_call_us(mask, texts, args.rounds):8.1f} µs per text")
    slowest = max(texts, key=lambda t: per_call_us(mask, [t], 3))
    print(
        f"  slowest corpus text: {per_call_us(mask, [slowest], args.rounds):8.1f} µs  {slowest!r}"
    )
    print(f"  10 000-char paste:   {per_call_us(mask, [paste], args.rounds) / 1000:8.2f} ms")
    print(f"  10 000 plain chars:  {per_call_us(mask, [plain], args.rounds) / 1000:8.2f} ms")


if __name__ == "__main__":
    main()
