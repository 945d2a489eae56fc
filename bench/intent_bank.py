"""Issue 11 round 7 prototype: a domain phrasing bank (bench only, no matcher change).

A station's FAQ gives one or two phrasings an entry. Other stations' FAQs have the same
generic entries (reception time, address, leaving a message ...) and many of the same policy
topics, each with their residents' real phrasings. The bank is those: one *intent* per entry
of another FAQ (its question, alternates and the resident messages written for it), plus the
bundled FAQ's entries with their alternates. An entry of the FAQ being scored is mapped to a
bank intent only when the match is mutual (the intent's best entry of this FAQ is this entry,
and this entry's best intent of that source is that intent) with a clear lead over the
source's runner-up; a mapped entry gains the intent's phrasings as alternates. Each source FAQ
is matched on its own, so an entry can gain phrasings from several stations.

Leave-one-FAQ-out stays honest: when FAQ F is scored, the bank holds none of F's data, and each
training FAQ G is expanded with a bank without G and without F.

    python bench/intent_bank.py            # before/after, leave-one-FAQ-out, doc_weight 16
    python bench/intent_bank.py --pairs urban   # the mapped pairs of one FAQ
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for p in (ROOT, ROOT / "bench"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from faq_bench import (  # noqa: E402
    DEFAULT_TUNING,
    EvalFaq,
    Quality,
    _pooled,
    _quality_table,
    bundled_cut,
    decision_rows,
    decision_tuning,
    eval_faqs,
    evaluate,
    ours,
    out_of_fold,
)

from faq import FaqEntry, FaqMatcher, bundled_faq_path, load_faq_file  # noqa: E402

BUNDLED = "bundled"


@dataclass(frozen=True)
class Intent:
    source: str  # the FAQ it comes from
    entry: FaqEntry  # question, answer; alternates = every other phrasing it has


def bank_sources(faqs: Sequence[EvalFaq]) -> dict[str, list[Intent]]:
    """Per source FAQ, its intents: the tuning FAQs' entries with their resident messages,
    and the bundled FAQ's entries with their alternates."""
    sources: dict[str, list[Intent]] = {}
    for f in faqs:
        assert not f.untouched
        messages: dict[str, list[str]] = {}
        for text, entry_id in f.data.questions:
            messages.setdefault(entry_id, []).append(text)
        sources[f.name] = [
            Intent(
                f.name, dataclasses.replace(e, alternates=(*e.alternates, *messages.get(e.id, ())))
            )
            for e in f.entries
        ]
    sources[BUNDLED] = [Intent(BUNDLED, e) for e in load_faq_file(bundled_faq_path("zh_CN"))]
    return sources


_FAST = dataclasses.replace(DEFAULT_TUNING, calibrate=False)


def _score_matrix(
    queries: dict[str, list[str]], matcher: FaqMatcher
) -> dict[str, dict[str, float]]:
    """Mean score of each entry of ``matcher`` over each key's query phrasings."""
    out: dict[str, dict[str, float]] = {}
    for key, texts in queries.items():
        acc: dict[str, float] = {}
        for text in texts:
            for entry, score in matcher.scores(text, any_station=True):
                acc[entry.id] = acc.get(entry.id, 0.0) + score
        out[key] = {k: v / max(len(texts), 1) for k, v in acc.items()}
    return out


def _best(row: dict[str, float]) -> tuple[str | None, float, float]:
    ranked = sorted(row.items(), key=lambda kv: -kv[1])
    if not ranked:
        return None, 0.0, 0.0
    second = ranked[1][1] if len(ranked) > 1 else 0.0
    return ranked[0][0], ranked[0][1], second


@dataclass(frozen=True)
class Mapping:
    entry_id: str
    intent: Intent
    score: float
    lead: float


def map_entries(
    entries: Sequence[FaqEntry],
    sources: dict[str, list[Intent]],
    *,
    min_score: float,
    min_lead: float,
) -> list[Mapping]:
    """Mutual, confident mappings of ``entries`` to the intents of each source."""
    own = FaqMatcher(entries, tuning=_FAST)
    own_queries = {e.id: [e.question, *e.alternates] for e in entries}
    found: list[Mapping] = []
    for intents in sources.values():
        by_id = {i.entry.id: i for i in intents}
        bank = FaqMatcher([i.entry for i in intents], tuning=_FAST)
        forward = _score_matrix(own_queries, bank)
        # The reverse direction: the intent's own question and alternates (not its resident
        # messages, which carry the stories around the question) against this FAQ.
        backward = _score_matrix(
            {i.entry.id: [i.entry.question, *i.entry.alternates[:2]] for i in intents}, own
        )
        for e in entries:
            b, top, second = _best(forward[e.id])
            if b is None or top < min_score or top - second < min_lead:
                continue
            back, _, _ = _best(backward[b])
            if back == e.id:
                found.append(Mapping(e.id, by_id[b], top, top - second))
    return found


@dataclass(frozen=True)
class BankOptions:
    k: int | None = None  # phrasings taken from an intent, its question and alternates first
    max_len: int | None = None  # longer phrasings (residents' stories) are left out
    min_score: float = 0.6  # mean score of the entry's phrasings against the intent
    min_lead: float = 0.1  # over the source's runner-up intent


def expand(
    entries: Sequence[FaqEntry], sources: dict[str, list[Intent]], opts: BankOptions
) -> tuple[list[FaqEntry], list[Mapping]]:
    """``entries`` with each mapped entry's alternates extended by its intents' phrasings
    (see BankOptions). Answers untouched."""
    k = opts.k
    maps = map_entries(entries, sources, min_score=opts.min_score, min_lead=opts.min_lead)
    extra: dict[str, list[str]] = {}
    for m in maps:
        phrasings = [m.intent.entry.question, *m.intent.entry.alternates]
        if opts.max_len:
            phrasings = [p for p in phrasings if len(p) <= opts.max_len]
        extra.setdefault(m.entry_id, []).extend(phrasings[:k] if k else phrasings)
    out = []
    for e in entries:
        seen = {e.question, *e.alternates}
        more = [p for p in dict.fromkeys(extra.get(e.id, ())) if p not in seen]
        out.append(dataclasses.replace(e, alternates=(*e.alternates, *more)) if more else e)
    return out, maps


def _without(sources: dict[str, list[Intent]], *names: str) -> dict[str, list[Intent]]:
    return {k: v for k, v in sources.items() if k not in names}


def rank(entries: Sequence[FaqEntry], faq: EvalFaq) -> tuple[float, float]:
    matcher = FaqMatcher(entries, tuning=_FAST)
    first = top3 = 0
    for text, expected in faq.data.questions:
        ids = [e.id for e, _ in matcher.scores(text, any_station=True)[:3]]
        first += ids[:1] == [expected]
        top3 += expected in ids
    n = max(len(faq.data.questions), 1)
    return 100 * first / n, 100 * top3 / n


def compare(faqs: Sequence[EvalFaq], opts: BankOptions, weight: float = 16.0) -> None:
    """Leave-one-FAQ-out before/after in one run, with doc_weight fixed at ``weight``."""
    sources = bank_sources(faqs)
    base = dataclasses.replace(DEFAULT_TUNING, doc_weight=weight)
    cut_entries, cut_data = bundled_cut()
    plain_rows = {f.name: decision_rows(f.entries, f.data, tuning=base) for f in faqs}
    plain_rows[BUNDLED] = decision_rows(cut_entries, cut_data, tuning=base)
    table: list[tuple[str, str, Quality]] = []
    before: list[Quality] = []
    after: list[Quality] = []
    ranks: list[tuple[int, tuple[float, float], tuple[float, float]]] = []
    for f in faqs:
        others = [g for g in faqs if g.name != f.name]
        # before: as the bench's leave-one-FAQ-out (with this weight)
        fit_on = [plain_rows[g.name] for g in others] + [plain_rows[BUNDLED]]
        threshold, _ = out_of_fold(fit_on, base)
        tuning = decision_tuning(fit_on, base, threshold)
        q0 = evaluate(ours(FaqMatcher(f.entries, tuning=tuning)), f.data)
        r0 = rank(f.entries, f)
        # after: every FAQ expanded with a bank holding neither itself nor F
        fit_on = []
        for g in others:
            g_entries, _ = expand(g.entries, _without(sources, g.name, f.name), opts)
            fit_on.append(decision_rows(g_entries, g.data, tuning=base))
        c_entries, _ = expand(cut_entries, _without(sources, BUNDLED, f.name), opts)
        fit_on.append(decision_rows(c_entries, cut_data, tuning=base))
        threshold1, _ = out_of_fold(fit_on, base)
        tuning1 = decision_tuning(fit_on, base, threshold1)
        f_entries, maps = expand(f.entries, _without(sources, f.name), opts)
        q1 = evaluate(ours(FaqMatcher(f_entries, tuning=tuning1)), f.data)
        r1 = rank(f_entries, f)
        ranks.append((len(f.data.questions), r0, r1))
        mapped = len({m.entry_id for m in maps})
        print(
            f"{f.name}: {mapped}/{len(f.entries)} entries mapped ({len(maps)} pairs); "
            f"top-1 {r0[0]:.1f} -> {r1[0]:.1f}, top-3 {r0[1]:.1f} -> {r1[1]:.1f}; "
            f"t {threshold:.3f} -> {threshold1:.3f}",
            flush=True,
        )
        table.append((f.name, "loo before", q0))
        table.append((f.name, "loo bank", q1))
        before.append(q0)
        after.append(q1)
    n = sum(r[0] for r in ranks)
    pooled = [sum(r[0] * r[i][j] for r in ranks) / n for i in (1, 2) for j in (0, 1)]
    print(
        f"all: top-1 {pooled[0]:.1f} -> {pooled[2]:.1f}, top-3 {pooled[1]:.1f} -> {pooled[3]:.1f}"
    )
    table.append(("all", "loo before", _pooled(before)))
    table.append(("all", "loo bank", _pooled(after)))
    print(_quality_table(table))


def show_pairs(faqs: Sequence[EvalFaq], name: str, opts: BankOptions) -> None:
    sources = bank_sources(faqs)
    f = next(g for g in faqs if g.name == name)
    by_id = {e.id: e for e in f.entries}
    for m in sorted(
        map_entries(
            f.entries, _without(sources, name), min_score=opts.min_score, min_lead=opts.min_lead
        ),
        key=lambda m: m.entry_id,
    ):
        print(
            f"{m.entry_id:<22} {by_id[m.entry_id].question}  <->  {m.intent.source}:"
            f"{m.intent.entry.id} {m.intent.entry.question}  ({m.score:.2f}, lead {m.lead:.2f})"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", help="list the mapped pairs of this tuning FAQ")
    parser.add_argument("--k", type=int, default=None, help="phrasings taken from an intent")
    parser.add_argument("--max-len", type=int, default=None, help="longest phrasing taken")
    parser.add_argument("--min-score", type=float, default=0.6)
    parser.add_argument("--min-lead", type=float, default=0.1)
    parser.add_argument("--weight", type=float, default=16.0)
    args = parser.parse_args(argv)
    faqs = eval_faqs(False)  # never the untouched_* ones
    opts = BankOptions(args.k, args.max_len, args.min_score, args.min_lead)
    if args.pairs:
        show_pairs(faqs, args.pairs, opts)
    else:
        compare(faqs, opts, args.weight)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
