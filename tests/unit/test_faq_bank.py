"""Round 8 of issue 11: the general intent bank (faq/bank.py, faq/data/intents_zh/).

Positive use: an entry mapped to a bank intent is indexed with the intent's phrasings too, so a
colloquial wording finds a formal entry. Negative use: a message about another intent than the
entry's (one this FAQ has no entry for) is offered, not answered with that neighbour entry.
The banks here are built in the test, so they do not move with the shipped data."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from bot.clock import ManualClock
from bot.faq_service import FaqService
from faq import FaqEntry, FaqMatcher
from faq.bank import Intent, IntentBank, default_bank, load_intents
from faq.matcher import DEFAULT_TUNING
from storage.db import Database

BANK = IntentBank(
    [
        Intent(
            "medical_claim", "medical", "医疗费用怎么报销？", ("报销",),
            ("看病的钱咋报销", "住院花的钱能报多少", "医保报销要带什么材料", "门诊费用能报销吗"),
        ),
        Intent(
            "medical_remote", "medical", "异地就医怎么备案？", ("异地",),
            ("在外地看病医保能用吗", "异地就医备案怎么弄", "去外省住院医保怎么报销", "跨省看病咋结算"),
        ),
        Intent(
            "station_address", "station", "联络站在哪里？", ("地址",),
            ("你们办公地点在哪", "联络站地址是啥", "怎么去联络站"),
        ),
        Intent("passport", "outside", "护照怎么办？", ("护照",), ("办护照去哪里", "护照过期了怎么换")),
    ]
)

ENTRIES = [
    FaqEntry(
        "claim", "医疗费用报销需要哪些材料？", "带上身份证、医保卡、发票和费用清单到医保窗口报销。",
        ("医疗费用怎么报销",),
    ),
    FaqEntry("address", "联络站的地址", "联络站在社区服务中心二楼。", ("联络站位置",)),
    FaqEntry("reception", "代表什么时候接待居民？", "每周三上午接待。", ("接待日是哪天",)),
    FaqEntry("garbage", "垃圾分类怎么分？", "分为厨余、可回收、有害和其他垃圾。", ("垃圾怎么扔",)),
    FaqEntry("dibao", "怎么申请低保？", "向户籍所在地的街道提出申请。", ("低保怎么办",)),
    FaqEntry("parking", "小区停车难怎么办？", "可以向物业和社区反映。", ("没地方停车",)),
]

NO_BANK = dataclasses.replace(DEFAULT_TUNING, bank=False)


def test_a_formal_entry_gains_the_intents_colloquial_phrasings() -> None:
    matcher = FaqMatcher(ENTRIES, bank=BANK)
    assert matcher.bank_intent(0) == "medical_claim"
    # Indexed (normalised: 咋 -> 怎么), while the entry itself is left as the station wrote it.
    assert "看病的钱怎么报销" in matcher.phrasings()
    assert matcher.entries[0] is ENTRIES[0]
    assert "看病的钱怎么报销" not in FaqMatcher(ENTRIES, tuning=NO_BANK).phrasings()
    # A wording only the bank knows reaches the entry (nothing was offered without the bank).
    assert FaqMatcher(ENTRIES, tuning=NO_BANK).match("住院花的钱能报多少").kind == "none"
    found = matcher.match("住院花的钱能报多少")
    assert found.entry == ENTRIES[0] or ENTRIES[0] in found.suggestions


def test_an_unrelated_entry_gains_nothing() -> None:
    matcher = FaqMatcher(ENTRIES, bank=BANK)
    plain = FaqMatcher(ENTRIES, tuning=NO_BANK)
    for index, entry in enumerate(ENTRIES[2:], start=2):
        assert matcher.bank_intent(index) is None, entry.id
    extra = matcher.phrasings() - plain.phrasings()
    assert extra and all("报" in text for text in extra)  # only the claim entry's
    # An outside intent is never an entry's, however close: none of them is mapped to passport.
    assert "passport" not in {matcher.bank_intent(i) for i in range(len(ENTRIES))}


def test_a_message_about_a_topic_the_faq_lacks_is_not_answered_with_its_neighbour() -> None:
    message = "在外地看病医疗费用能报销吗"  # 异地就医: this FAQ has only the claim entry
    plain = FaqMatcher(ENTRIES, tuning=NO_BANK).match(message)
    assert plain.kind == "answer" and plain.entry == ENTRIES[0]
    guarded = FaqMatcher(ENTRIES, bank=BANK).match(message)
    assert guarded.kind != "answer"
    assert ENTRIES[0] in guarded.suggestions  # still offered: the resident may mean it
    # The entry's own topic is still answered.
    assert FaqMatcher(ENTRIES, bank=BANK).match("医疗费用怎么报销").entry == ENTRIES[0]


def test_the_guard_can_be_switched_off() -> None:
    tuning = dataclasses.replace(DEFAULT_TUNING, bank_guard=False)
    found = FaqMatcher(ENTRIES, tuning=tuning, bank=BANK).match("在外地看病医疗费用能报销吗")
    assert found.kind == "answer" and found.entry == ENTRIES[0]


def test_large_faqs_go_without_the_bank() -> None:
    tuning = dataclasses.replace(DEFAULT_TUNING, bank_max_entries=5, calibrate=False)
    matcher = FaqMatcher(ENTRIES, tuning=tuning, bank=BANK)
    assert matcher.bank_intent(0) is None
    assert matcher.phrasings() == FaqMatcher(ENTRIES, tuning=NO_BANK).phrasings()


def test_the_shipped_bank_loads() -> None:
    intents = load_intents()
    assert len(intents) >= 50
    assert len({i.id for i in intents}) == len(intents)
    assert all(i.question and i.phrasings for i in intents)
    bank = default_bank()
    assert bank is not None and default_bank() is bank  # built once per process


def test_a_malformed_bank_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("- {id: x, question: 问题}\n- {id: x, question: 又一个}\n")
    with pytest.raises(ValueError, match=r"a\.yaml\[1\].*duplicate"):
        load_intents(tmp_path)
    (tmp_path / "a.yaml").write_text("- {domain: station}\n")
    with pytest.raises(ValueError, match="needs an id"):
        load_intents(tmp_path)


async def test_reload_maps_the_new_faq(db: Database, clock: ManualClock, tmp_path: Path) -> None:
    """/faq_reload builds the matcher again, mapping the file's entries as they now are."""
    path = tmp_path / "faq.yaml"
    path.write_text("- {id: parking, question: 小区停车难怎么办, answer: 找物业}\n", encoding="utf-8")
    service = FaqService(db, clock, path)
    await service.reload()
    before = service._matcher
    path.write_text(
        "- {id: parking, question: 小区停车难怎么办, answer: 找物业}\n"
        "- {id: committee, question: 怎么成立业主委员会, answer: 向街道申请成立筹备组。}\n",
        encoding="utf-8",
    )
    await service.reload()
    after = service._matcher
    assert after is not before
    index = [e.id for e in after.entries].index("committee")
    assert after.bank_intent(index) is not None
    assert len(after.phrasings()) > len(before.phrasings()) + 1
