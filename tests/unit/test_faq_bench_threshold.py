"""Round 6 of issue 11: how bench/faq_bench.py chooses the decision model's threshold when the
rules before the model already answer more off-topic messages than the budget allows (one
station FAQ's calibrated rule does): the model must still answer, and add nothing there."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parent.parent.parent / "bench" / "faq_bench.py"


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("faq_bench_under_test", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _rows(rules_off: int) -> list[tuple[list[float], bool, str, str]]:
    """100 resident messages (60 the model may decide, with a probability as the one
    feature: right ones high, wrong ones low), 50 off-topic messages of which ``rules_off``
    the rules answer and 2 the model sees, and 50 generic off-topic ones."""
    rows: list[tuple[list[float], bool, str, str]] = []
    rows += [([0.9], True, "open", "pos")] * 50
    rows += [([0.5], False, "open", "pos")] * 10
    rows += [([0.0], False, "gated", "pos")] * 40
    rows += [([0.0], False, "answer", "off")] * rules_off
    rows += [([0.6], False, "open", "off")] * 2
    rows += [([0.0], False, "gated", "off")] * (48 - rules_off)
    rows += [([0.0], False, "gated", "gen")] * 50
    return rows


def test_the_model_answers_when_the_rules_alone_exceed_the_off_topic_budget() -> None:
    bench = _bench()
    # 2 of 50 off-topic answered by the rules: 4 %, over DECISION_OFFTOPIC (2 %)
    threshold = bench.choose_threshold(_rows(2), lambda x: x[0])
    assert threshold < 1.0
    # ...and the model adds no off-topic answer (0.6) nor a wrong one (0.5) to theirs
    assert 0.6 < threshold <= 0.9


def test_within_the_budget_the_threshold_is_as_before() -> None:
    bench = _bench()
    # no rule answers: the model may answer one off-topic message of 50 (2 %)? It sees
    # two at 0.6, so the threshold must pass over them, and over the wrong ones at 0.5
    threshold = bench.choose_threshold(_rows(0), lambda x: x[0])
    assert 0.6 < threshold <= 0.9
