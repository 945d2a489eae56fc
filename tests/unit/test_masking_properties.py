"""Properties of masking over generated text: it never raises, and masking a masked text
changes nothing more (so a post re-masked on the way out stays as it was)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.domain.masking import mask_pii

# Text built from the pieces masking reacts to, so generated examples hit its rules often:
# digits in every width and in Chinese, separators, letters, keywords, surnames and name
# characters, units, punctuation and the stars masks are made of.
_PIECES = st.sampled_from(
    [
        *"0123456789",
        *"０１２３４５６７８９",
        *"〇零一二三四五六七八九幺两壹贰叁肆伍陆柒捌玖",
        " ",
        "\u3000",
        "\u00a0",
        "-",
        "－",
        "—",
        "–",
        ".",
        "。",
        "·",
        "\u200b",
        "\ufeff",
        "(",
        ")",
        "（",
        "）",
        "+",
        "*",
        "X",
        "x",
        "@",
        "＠",
        "#",
        "，",
        "：",
        ":",
        "/",
        "_",
        "\n",
        *"abcqvxAHMTel",
        "tel",
        "QQ",
        "qq号",
        "vx",
        "微信号",
        "扣扣",
        "at",
        "（at）",
        "艾特",
        ".com",
        "163",
        "京A",
        "沪AD",
        "栋",
        "单元",
        "号楼",
        "室",
        "房",
        "住",
        "楼",
        "元",
        "年",
        "¥",
        "我是",
        "我叫",
        "居民",
        "业主",
        "签名：",
        "联系人：",
        "——",
        "反映",
        "敬上",
        "的",
        "联系",
        "电话",
        "座机",
        *"刘王张欧阳小明芳伟建国女士大爷",
        "身份证",
        "路灯坏了",
    ]
)
TEXT = st.lists(_PIECES, max_size=60).map("".join) | st.text(max_size=80)
NAMES = st.lists(st.sampled_from(["刘小明", "小明刘", "小明", "Mei Chen", "chen", "欧阳娜娜"]))


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(TEXT, NAMES, st.booleans())
@example("电话13812345678 13987654321", [], True)
@example("我是居民刘小明。刘小明的电话138 1234 5678", ["小明 刘"], True)
@example("身份证110101-19900307-123X 卡号6222 0212 3456 7890 123", [], False)
@example("签名：艾特0我是艾特零", [], False)  # two readings of a name: both masked the first time
def test_masking_is_idempotent_and_never_raises(text: str, names: list[str], land: bool) -> None:
    once = mask_pii(text, names, landlines=land)
    assert mask_pii(once, names, landlines=land) == once


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=400))
def test_any_unicode_is_masked_without_error(text: str) -> None:
    assert isinstance(mask_pii(text), str)


@pytest.mark.parametrize(
    "text",
    [
        "1 " * 5000,  # one run of 5 000 one-digit groups
        "一" * 10000,
        "1-2-" * 2500,
        "2026.03.05-" * 900,  # dates, each a barrier in one long run
        "13812345678 " * 800,
        "1" * 10000,
        "刘小明反映" * 2000,
        "我是的" * 3000,
        "a." * 5000,
    ],
    ids=lambda t: repr(t[:8]),
)
def test_long_pathological_pastes_are_masked(text: str) -> None:
    """10 000 characters (the longest description) of what the scanners work hardest on:
    masking ends (the suite's timeout would catch a hang) and is stable."""
    once = mask_pii(text)
    assert mask_pii(once) == once
