"""Regenerate faq/data/word_vectors_zh.npz from the word vectors shipped in the ``synonyms``
package's sdist (synonyms 3.10.2, MIT, Hai Liang Wang and Hu Ying Xi,
https://github.com/huyingxi/Synonyms; word2vec trained on Chinese Wikipedia)::

    pip download --no-deps synonyms==3.10.2   # an sdist only, about 30 MB
    tar xzf synonyms-3.10.2.tar.gz
    python bench/make_word_vectors.py synonyms-3.10.2/synonyms/data/words.vector

The bot does not depend on the package (it pulls scipy and scikit-learn). Kept: the words of
two or more characters that faq/data/word_freq_zh.txt (the segmenter's dictionary) also holds,
since only those can come out of segmentation, and every single character. Each vector is
normalised to unit length and quantised to int8 with a per-vector float16 scale: about
a tenth of the original 51 MB, cosines within about 0.01 of the float32 ones.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parent.parent / "faq" / "data"
OUT = DATA / "word_vectors_zh.npz"


def read_word2vec(path: Path) -> tuple[list[str], np.ndarray]:
    with open(path, "rb") as fh:
        count, dims = (int(x) for x in fh.readline().split())
        words: list[str] = []
        vectors = np.empty((count, dims), dtype=np.float32)
        for i in range(count):
            raw = bytearray()
            while (ch := fh.read(1)) != b" ":
                if ch != b"\n":
                    raw += ch
            words.append(raw.decode("utf-8", errors="replace"))
            vectors[i] = np.frombuffer(fh.read(4 * dims), dtype="<f4")
    return words, vectors


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    words, vectors = read_word2vec(Path(sys.argv[1]))
    known: set[str] = set()
    with open(DATA / "word_freq_zh.txt", encoding="utf-8") as fh:
        for line in fh:
            if not line.startswith("#"):
                known.add(line.split(" ", 1)[0])
    keep = [
        i
        for i, w in enumerate(words)
        if w in known and (len(w) == 1 or 2 <= len(w) <= 4) and not w.isascii()
    ]
    kept = vectors[keep]
    norms = np.linalg.norm(kept, axis=1, keepdims=True)
    kept = kept / np.maximum(norms, 1e-9)
    scale = np.abs(kept).max(axis=1, keepdims=True) / 127.0
    quant = np.round(kept / np.maximum(scale, 1e-12)).astype(np.int8)
    vocab = "\n".join(words[i] for i in keep).encode("utf-8")
    np.savez(
        OUT,
        words=np.frombuffer(vocab, dtype=np.uint8),
        vectors=quant,
        scales=scale[:, 0].astype(np.float16),
    )
    print(f"{len(keep)} of {len(words)} words, {OUT.stat().st_size / 1e6:.1f} MB -> {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
