"""The FAQ matcher without Telegram: normalisation, FAQ files, decisions, grouping misses."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from faq import (
    FaqEntry,
    FaqFileError,
    FaqMatcher,
    bundled_faq_path,
    entry_from_fields,
    group_similar,
    load_faq_file,
    normalize,
    render_answer,
)
from faq.normalize import Normalizer, pinyin_key, to_simplified

DATA = Path(__file__).resolve().parent.parent / "data"


@pytest.fixture(scope="module")
def matcher() -> FaqMatcher:
    return FaqMatcher.from_file(bundled_faq_path("zh_CN"))


# -- normalisation ---------------------------------------------------------------------


def test_nfkc_turns_full_width_digits_letters_and_punctuation_into_plain_text() -> None:
    assert normalize("１２３４５热线") == normalize("12345热线") == "12345热线"
    assert normalize("ＷＩＦＩ密码") == "wifi密码"
    assert normalize("联络站，在哪里？！") == normalize("联络站在哪里")


def test_traditional_becomes_simplified() -> None:
    assert to_simplified("聯絡站電話") == "联络站电话"
    assert normalize("請問人大代表聯絡站在哪裡？") == normalize("人大代表联络站在哪里")
    assert to_simplified("联络站") == "联络站"  # simplified text is left alone


def test_variant_table_maps_typos_and_colloquial_words() -> None:
    assert normalize("帐户") == "账户"
    assert normalize("连络站") == normalize("联络站")
    assert normalize("代表啥时候来") == normalize("代表什么时候来")
    assert normalize("咋留言") == normalize("怎么留言")


def test_fillers_and_edge_particles_are_dropped() -> None:
    assert normalize("你好，请问一下，那个，接待日是哪天啊？谢谢") == normalize("接待日是哪天")
    assert normalize("嗯 联络站在哪呢") == "联络站在哪"
    # particles inside words survive
    assert "吧台" in normalize("吧台在哪")


def test_normalizer_tables_are_data() -> None:
    norm = Normalizer(variants={"俺": "我"}, fillers=["麻烦问下"], trailing_particles="嘛")
    assert norm.normalize("麻烦问下，俺能去嘛") == "我能去"


def test_colloquial_question_tags_mean_the_same_as_ma() -> None:
    assert normalize("联络站周末开门不？") == normalize("联络站周末开门吗")
    assert normalize("有代表名单没") == normalize("有代表名单吗")
    assert normalize("留言能改么") == normalize("留言能改吗")
    assert normalize("能留言伐") == normalize("能留言吗")
    # ...but not where the character is part of a word
    assert normalize("回音壁是什么") == "回音壁是什么"
    assert normalize("问题还没有").endswith("还没有")


def test_dialect_regional_and_english_words_are_mapped() -> None:
    assert normalize("联络站在哪块") == normalize("联络站在哪里")
    assert normalize("联络站喺边度") == normalize("联络站在哪里")
    assert normalize("上个礼拜留的言") == normalize("上个星期留言")
    assert normalize("代表的wechat") == normalize("代表的微信")
    assert normalize("我有事要反应") == normalize("我有事要反映")
    assert normalize("老师您好，想打听一下接待日") == normalize("接待日")


def test_long_messages_offer_the_clauses_that_ask() -> None:
    from faq.normalize import default_normalizer

    norm = default_normalizer()
    story = "我家楼下的路灯坏了三个多月了，晚上出门很不方便，请问怎么给代表留言"
    parts = norm.focus(story)
    assert normalize("怎么给代表留言") in parts
    assert norm.focus("怎么给代表留言") == []  # short messages are read whole


def test_homophones_share_a_pinyin_key() -> None:
    assert pinyin_key(normalize("联洛站")) == pinyin_key(normalize("联络站"))
    assert pinyin_key("接待日") != pinyin_key("接待员")


# -- FAQ files -------------------------------------------------------------------------


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "faq.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_bundled_knowledge_base_is_valid_and_large_enough() -> None:
    entries = load_faq_file(bundled_faq_path("zh_CN"))
    assert len(entries) >= 30
    ids = {e.id for e in entries}
    for needed in ("reception_time", "station_address", "emergency", "government_services"):
        assert needed in ids
    emergency = next(e for e in entries if e.id == "emergency")
    assert "110" in emergency.answer and "120" in emergency.answer


def test_a_file_with_one_bad_entry_fails_naming_it_and_loads_nothing(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "- {id: good, question: 联络站在哪, answer: 在街道}\n"
        "- {id: broken, question: 接待日是哪天}\n",
    )
    with pytest.raises(FaqFileError) as err:
        load_faq_file(path)
    message = str(err.value)
    assert "faq.yaml" in message and "entry #2" in message and "'broken'" in message
    assert "answer" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- {id: a, question: 在哪, answer: x}\n- {id: a, question: 几点, answer: y}\n", "duplicate"),
        ("- {id: 'bad id', question: 在哪里, answer: x}\n", "'bad id'"),
        ("- {id: a, question: 在哪里, answer: x, colour: red}\n", "unknown field"),
        ("- {id: a, question: '？？', answer: x}\n", "no matchable text"),
        ("- {id: a, question: 在哪里, answer: x, alternates: 一个字符串}\n", "list"),
        ("- just text\n", "expected a mapping"),
        ("id: a\n", "expected a list"),
        ("", "no entries"),
        ("- {id: a, question: [unclosed\n", "invalid YAML"),
    ],
)
def test_invalid_files_are_rejected_with_the_reason(
    tmp_path: Path, text: str, expected: str
) -> None:
    with pytest.raises(FaqFileError, match=r"faq\.yaml") as err:
        load_faq_file(write(tmp_path, text))
    assert expected in str(err.value)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FaqFileError, match="cannot read"):
        load_faq_file(tmp_path / "nope.yaml")


def test_mapping_with_entries_and_all_fields(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "entries:\n"
        "  - id: parking\n"
        "    question: 能停车吗\n"
        "    alternates: [车停哪里, 能停车吗]\n"
        "    answer: 门口有车位\n"
        "    tags: [停车]\n"
        "    stations: [huimin]\n",
    )
    [entry] = load_faq_file(path)
    assert entry.alternates == ("车停哪里",)  # the question itself is not repeated
    assert entry.tags == ("停车",) and entry.stations == ("huimin",)


def test_entry_from_fields_validates() -> None:
    with pytest.raises(FaqFileError, match="'x y'"):
        entry_from_fields("x y", "问题", "答案")
    assert entry_from_fields("ok", "问题在哪", "答案").id == "ok"


# -- answers ---------------------------------------------------------------------------


def test_placeholders_are_filled_once_and_fall_back_when_empty() -> None:
    entry = FaqEntry(
        id="t",
        question="接待时间",
        answer="{station_name}接待：{reception}，地址：{address}。{other} {reception}",
    )
    text = render_answer(
        entry, station_name="惠民站", address="{reception}", reception="周三上午"
    )
    assert text == "惠民站接待：周三上午，地址：{reception}。{other} 周三上午"
    assert render_answer(entry).startswith("本联络站接待：请以联络站公告为准")


# -- decisions -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "entry_id"),
    [
        ("接待日是哪天？", "reception_time"),
        ("聯絡站地址在哪裡", "station_address"),
        ("连络站电话多少", "station_contact"),  # homophone typo
        ("怎么撤回留言", "withdraw"),
        ("可以匿名留言吗", "anonymous"),
        ("找代表收费吗", "fee"),
        ("请问一下，那个，回音壁是什么啊？谢谢", "echo_wall"),
    ],
)
def test_clear_questions_are_answered(matcher: FaqMatcher, text: str, entry_id: str) -> None:
    result = matcher.match(text)
    assert result.kind == "answer", (text, result)
    assert result.entry is not None and result.entry.id == entry_id
    assert result.suggestions == ()


def test_ambiguous_question_suggests_up_to_three_distinct_entries(matcher: FaqMatcher) -> None:
    result = matcher.match("处理结果")
    assert result.kind == "suggest" and result.entry is None
    ids = [e.id for e in result.suggestions]
    assert 1 <= len(ids) <= 3 and len(set(ids)) == len(ids)
    assert "dissatisfied" in ids


@pytest.mark.parametrize(
    "text",
    [
        "今天天气怎么样",
        "推荐个餐馆",
        "股票明天涨不涨",
        "哈哈哈哈",
        "好的",
        "😀😀",
        "",
        "   ",
        "？？？",
        # near the domain: a known frame or topic word around something the FAQ never covers
        "医院几点开门",
        "银行周末上班吗",
        "联络站有空调吗",
        "代表结婚了吗",
    ],
)
def test_off_topic_chatter_is_never_answered_confidently(matcher: FaqMatcher, text: str) -> None:
    assert matcher.match(text).kind != "answer"


def test_nothing_relevant_gives_none(matcher: FaqMatcher) -> None:
    result = matcher.match("我家门口的垃圾桶好几天没人清理了")
    assert result.kind == "none" and result.entry is None and result.suggestions == ()


def test_station_limited_entries_apply_only_to_their_stations() -> None:
    entries = [
        *load_faq_file(bundled_faq_path("zh_CN")),
        FaqEntry(
            id="hm_parking",
            question="联络站门口能停车吗？",
            answer="惠民站门口有 5 个车位。",
            alternates=("来联络站车停在哪里",),
            stations=("huimin",),
        ),
    ]
    m = FaqMatcher(entries)
    hit = m.match("联络站门口能停车吗", station_id="huimin")
    assert hit.kind == "answer" and hit.entry is not None and hit.entry.id == "hm_parking"
    for other in ("xingyuan", None):
        result = m.match("联络站门口能停车吗", station_id=other)
        assert (result.entry is None or result.entry.id != "hm_parking") and all(
            e.id != "hm_parking" for e in result.suggestions
        )
    assert entries[-1].applies_to("huimin") and not entries[-1].applies_to(None)


def test_a_small_custom_faq_without_domain_words_still_answers() -> None:
    m = FaqMatcher(
        [
            FaqEntry(id="parking", question="能停车吗", answer="能", alternates=("车停在哪里",)),
            FaqEntry(id="water", question="有饮水机吗", answer="有"),
            FaqEntry(id="toilet", question="卫生间在哪", answer="一楼"),
        ]
    )
    for text, entry_id in [("能停车吗？", "parking"), ("有没有饮水机", "water")]:
        result = m.match(text)
        assert result.kind == "answer" and result.entry is not None, text
        assert result.entry.id == entry_id
    assert m.match("今天天气怎么样").kind != "answer"


@pytest.mark.parametrize(
    ("text", "entry_id"),
    [
        ("你们好，我们几个邻居想一起见一下代表当面说说小区改造的事情，需要提前预约吗", "appointment"),
        ("我提交的问题三个礼拜了都没有人联系我 也没有回复 我该怎么办 能不能催一下", "overdue"),
        ("前天我去了一趟联络站但是门锁着没人，是不是只有接待日才开门，接待日是哪天", "reception_time"),
    ],
)
def test_a_question_buried_in_a_long_story_is_found(
    matcher: FaqMatcher, text: str, entry_id: str
) -> None:
    result = matcher.match(text)
    assert result.kind == "answer" and result.entry is not None
    assert result.entry.id == entry_id


def test_a_clause_without_a_topic_does_not_answer_for_the_whole_message(
    matcher: FaqMatcher,
) -> None:
    # "要怎么操作" alone would be the bot's help; the story says it is about a wish
    result = matcher.match("我家楼下路灯坏了好久，想跟代表反映一下，要怎么操作")
    assert result.kind != "answer" or (result.entry is not None and result.entry.id != "bot_help")


def test_a_topic_the_entry_never_mentions_blocks_a_confident_answer(
    matcher: FaqMatcher,
) -> None:
    # the station's phone shares the whole frame, but not the deputy
    result = matcher.match("代表的电话是多少")
    assert result.kind == "suggest"
    assert "contact_deputy" in [e.id for e in result.suggestions]


def test_duplicate_ids_are_refused() -> None:
    entry = FaqEntry(id="a", question="在哪里", answer="x")
    with pytest.raises(ValueError, match="duplicate"):
        FaqMatcher([entry, entry])


def test_long_messages_are_capped_and_still_matched(matcher: FaqMatcher) -> None:
    text = "我家楼下的情况是这样的，" * 40 + "请问联络站在哪里？"
    result = matcher.match(text)
    assert result.kind in ("answer", "suggest", "none")  # no error, bounded work


# -- grouping misses -------------------------------------------------------------------


def test_group_similar_clusters_wordings_and_counts() -> None:
    groups = group_similar(
        [
            "小区充电桩什么时候装",
            "小区充电桩啥时候装？",
            "小區充電樁什麼時候裝",
            "垃圾分类的桶放在哪",
            "小区充电桩什么时候装",
            "哈哈",  # particles only: normalises to nothing, ignored
            "？？？",  # punctuation only: ignored
        ]
    )
    assert groups[0][1] == 4
    assert groups[0][0] == "小区充电桩什么时候装"  # the most frequent wording represents it
    assert "小區充電樁什麼時候裝" in groups[0][2]
    assert any("垃圾分类" in rep for rep, _, _ in groups)
    assert sum(count for _, count, _ in groups) == 5


def test_group_similar_of_nothing() -> None:
    assert group_similar([]) == []


# -- quality on the labelled set (accuracy only; speed is for bench/faq_bench.py) --------


def labelled(path: Path) -> tuple[list[tuple[str, str]], list[str]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    questions = [(str(t), e) for e, texts in data["answers"].items() for t in texts]
    return questions, [str(t) for t in data["offtopic"]]


@pytest.mark.parametrize("name", ["faq_labelled.yaml", "faq_heldout.yaml"])
def test_quality_thresholds(matcher: FaqMatcher, name: str) -> None:
    questions, offtopic = labelled(DATA / name)
    entries = {e.id for e in matcher.entries}
    assert {e for _, e in questions} <= entries
    correct = wrong = 0
    for text, expected in questions:
        result = matcher.match(text)
        if result.kind == "answer":
            assert result.entry is not None
            correct += result.entry.id == expected
            wrong += result.entry.id != expected
        else:
            correct += expected in [e.id for e in result.suggestions]
    answered_off = sum(matcher.match(t).kind == "answer" for t in offtopic)
    assert correct / len(questions) >= 0.95
    assert wrong / len(questions) <= 0.02
    assert answered_off / len(offtopic) <= 0.05


def test_labelled_set_is_big_and_varied_enough() -> None:
    questions, offtopic = labelled(DATA / "faq_labelled.yaml")
    assert len(questions) >= 150 and len(offtopic) >= 30
    texts = [t for t, _ in questions]
    assert any(to_simplified(t) != t for t in texts)  # traditional characters
    assert any(any("\uff01" <= ch <= "\uff5e" for ch in t) for t in texts)  # full-width forms
    heldout, _ = labelled(DATA / "faq_heldout.yaml")
    assert len(heldout) >= 60 and not {t for t, _ in heldout} & set(texts)
    fresh, fresh_off = labelled(DATA / "faq_fresh.yaml")
    assert len(fresh) >= 100 and len(fresh_off) >= 30
    assert not {t for t, _ in fresh} & (set(texts) | {t for t, _ in heldout})
    # every bundled entry is asked about in the fresh set
    bundled = {e.id for e in load_faq_file(bundled_faq_path("zh_CN"))}
    assert {e for _, e in fresh} == bundled
