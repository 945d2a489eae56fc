"""Round 7 of issue 11 (bench prototype, not adopted): bench/intent_bank.py maps a station's FAQ
entries to another station's entries (the "phrasing bank") only where the match is mutual, and
adds the mapped intent's phrasings as alternates without touching the FAQ's own answers."""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from faq import FaqEntry, FaqMatcher

BENCH = Path(__file__).resolve().parent.parent.parent / "bench" / "intent_bank.py"


def _bank() -> ModuleType:
    spec = importlib.util.spec_from_file_location("intent_bank_under_test", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


OWN = [
    FaqEntry(
        "reception", "代表什么时候接待居民？", "本站接待时间：{reception}。", ("接待日是哪天",)
    ),
    FaqEntry("parking", "小区停车难怎么解决？", "本站停车答复。", ("车位不够怎么办",)),
    FaqEntry("parking_fee", "停车费怎么收？", "本站停车费答复。"),
    FaqEntry("dibao", "低保怎么申请？", "本站低保答复。", ("家里困难能吃低保吗",)),
]
OTHER = [
    FaqEntry(
        "reception_time",
        "代表哪天在站里接待？",
        "另一站的接待时间。",
        ("代表什么时候坐班", "礼拜几能见到代表啊", "周六上午站里有人值班不"),
    ),
    FaqEntry(
        "parking",
        "小区车位不够停车难怎么办？",
        "另一站的停车答复。",
        ("晚上回来没地方停车", "小区停车位太少"),
    ),
    FaqEntry("vaccine", "孩子打疫苗去哪里？", "另一站的疫苗答复。", ("宝宝接种疫苗在哪",)),
]


def _sources(bank: ModuleType) -> dict[str, list]:
    return {"other": [bank.Intent("other", e) for e in OTHER]}


def test_mapped_entry_gains_the_bank_phrasings_and_an_unrelated_one_none() -> None:
    bank = _bank()
    expanded, maps = bank.expand(OWN, _sources(bank), bank.BankOptions())
    by_id = {e.id: e for e in expanded}
    assert {(m.entry_id, m.intent.entry.id) for m in maps} >= {("reception", "reception_time")}
    assert "礼拜几能见到代表啊" in by_id["reception"].alternates
    # its own phrasings come first, unchanged
    assert by_id["reception"].alternates[:1] == ("接待日是哪天",)
    # no bank intent is about 低保: nothing added
    assert by_id["dibao"] == OWN[3]
    # the answers shown stay the loaded FAQ's own
    for own, new in zip(OWN, expanded, strict=True):
        assert new.answer == own.answer
        assert new.question == own.question


def test_mapping_is_mutual_only() -> None:
    bank = _bank()
    # parking_fee's best intent of the other FAQ is its parking entry ...
    fast = dataclasses.replace(FaqMatcher(OTHER).tuning, calibrate=False)
    other = FaqMatcher(OTHER, tuning=fast)
    assert other.scores("停车费怎么收？", any_station=True)[0][0].id == "parking"
    # ... but that intent's best entry here is parking, so only parking gains its phrasings
    maps = bank.map_entries(OWN, _sources(bank), min_score=0.0, min_lead=0.0)
    pairs = {(m.entry_id, m.intent.entry.id) for m in maps}
    assert ("parking", "parking") in pairs
    assert not any(entry_id == "parking_fee" for entry_id, _ in pairs)
    expanded, _ = bank.expand(OWN, _sources(bank), bank.BankOptions(min_score=0.0, min_lead=0.0))
    assert {e.id: e for e in expanded}["parking_fee"] == OWN[2]
