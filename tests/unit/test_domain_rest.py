"""Routing, receipts, PII masking and the /new draft: pure functions."""

from __future__ import annotations

import pytest

from bot.domain.draft import Draft, Step, normalize_phone
from bot.domain.masking import mask_name, mask_phone, mask_pii, name_variants
from bot.domain.model import InvalidInput
from bot.domain.receipts import format_receipt, normalize_receipt, parse_receipt
from bot.domain.routing import DeputyLoad, choose_deputy


def load(
    i: int, cats: set[str], open_count: int = 0, seq: int = 0, available: bool = True
) -> DeputyLoad:
    return DeputyLoad(i, frozenset(cats), open_count, seq, available)


def test_routing_prefers_the_category_specialist_with_fewest_open() -> None:
    deputies = [load(1, {"traffic"}, 3), load(2, {"traffic"}, 1), load(3, set(), 0)]
    assert choose_deputy("traffic", deputies) == 2


def test_routing_falls_back_to_deputies_who_take_anything() -> None:
    deputies = [load(1, {"traffic"}, 0), load(3, set(), 5), load(4, set(), 2)]
    assert choose_deputy("housing", deputies) == 4


def test_routing_ties_go_round_robin() -> None:
    deputies = [load(1, set(), 0, seq=7), load(2, set(), 0, seq=3), load(3, set(), 0, seq=5)]
    assert choose_deputy("x", deputies) == 2


def test_routing_returns_none_when_nobody_fits_or_is_reachable() -> None:
    assert choose_deputy("housing", [load(1, {"traffic"})]) is None
    assert choose_deputy("traffic", [load(1, {"traffic"}, available=False)]) is None
    assert choose_deputy("traffic", []) is None


def test_receipts_format_and_parse() -> None:
    assert format_receipt("HM", 2026, 7) == "HM-2026-0007"
    assert format_receipt("HM", 2026, 12345) == "HM-2026-12345"
    assert parse_receipt(" hm－2026－0007 ") == ("HM", 2026, 7)
    assert normalize_receipt("hm-2026-7") is None  # four digits at least
    assert normalize_receipt("hm-2026-0007") == "HM-2026-0007"
    assert parse_receipt("not a receipt") is None
    with pytest.raises(ValueError):
        format_receipt("HM", 2026, 0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("电话13812345678请回电", "电话138****5678请回电"),
        ("手机 +86 138-1234-5678", "手机 138****5678"),
        ("座机010-62345678", "座机010-****5678"),
        ("座机 0571 8888 1234", "座机 0571-****1234"),
        ("身份证110105199001011234号", "身份证110***********1234号"),
        ("身份证11010519900101123X", "身份证110***********123X"),
        ("邮箱 zhang.san@example.com", "邮箱 z***@example.com"),
        ("订单号 12345678901234567890 不是手机号", "订单号 12345678901234567890 不是手机号"),
    ],
)
def test_masking(text: str, expected: str) -> None:
    assert mask_pii(text) == expected


def test_masking_the_residents_own_name() -> None:
    assert mask_pii("我是张三丰，住3号楼", ["张三丰"]) == "我是张**，住3号楼"
    assert mask_pii("Li Lei lives here", ["Li Lei"]) == "L***** lives here"
    assert mask_pii("无名", ["", "王"]) == "无名"  # one-character names would mask half the text
    assert mask_name("王五") == "王*"
    assert mask_phone("13812345678") == "138****5678"


def test_name_variants_cover_both_name_orders() -> None:
    assert mask_pii("我是刘小明", name_variants("小明 刘")) == "我是刘**"
    assert (
        mask_pii("Chen Mei here, Mei Chen", name_variants("Mei Chen")) == "C******* here, M*******"
    )


def test_an_id_number_is_not_read_as_a_phone_number() -> None:
    masked = mask_pii("110105199001011234")
    assert "1234" in masked and "19900101" not in masked


def test_draft_walks_through_its_steps() -> None:
    d = Draft().with_station("huimin")
    assert d.step is Step.CATEGORY
    d = d.with_category("traffic").with_text("小区门口路灯坏了")
    assert d.step is Step.MORE
    d = d.with_photo("file-1", None).with_location(30.1, 120.2).described()
    assert d.step is Step.PUBLIC
    d = d.with_public(True).with_phone("138 1234 5678")
    assert d.ready() and d.phone == "13812345678" and d.photos == ("file-1",)
    assert Draft.from_dict(d.to_dict()) == d


def test_draft_refuses_stale_steps_and_bad_input() -> None:
    d = Draft().with_station("huimin").with_category("traffic")
    with pytest.raises(InvalidInput, match="stale_step"):
        d.with_public(True)
    with pytest.raises(InvalidInput, match="text_too_short"):
        d.with_text("灯")
    with pytest.raises(InvalidInput, match="description_too_long"):
        d.with_text("灯" * 12_001)
    with pytest.raises(InvalidInput, match="bad_phone"):
        normalize_phone("12345")
    assert normalize_phone("+86 138-1234-5678") == "13812345678"
    assert normalize_phone("0571-88881234") == "057188881234"


# -- photos sent together (bot/domain/draft.py with_photos, same_sending) --------------------------


def _describing() -> Draft:
    return Draft().with_station("huimin").with_category("traffic").with_text("路灯坏了三天")


def test_photos_of_one_sending_past_the_limit_are_counted_not_refused() -> None:
    from bot.domain.draft import MAX_PHOTOS, PHOTO_SECONDS

    d = _describing()
    for n in range(MAX_PHOTOS + 2):  # an album of 7, one input per photo, 0.1 s apart
        d = d.with_photos((f"p{n}",), None, at=100 + n / 10, group="album-1")
    assert d.photos == tuple(f"p{n}" for n in range(MAX_PHOTOS))
    assert d.refused_photos == 2
    # a later photo starts a new sending: its own refusal only
    d = d.with_photos(("late",), None, at=100 + 60, group="")
    assert d.photos == tuple(f"p{n}" for n in range(MAX_PHOTOS)) and d.refused_photos == 1
    assert PHOTO_SECONDS < 60


def test_a_photo_the_draft_has_is_not_added_twice() -> None:
    """An update processed again after a crash brings the same photo a second time."""
    d = _describing().with_photos(("a", "b"), None, at=1.0).with_photos(("b",), None, at=1.1)
    assert d.photos == ("a", "b") and d.refused_photos == 0


def test_what_one_sending_is() -> None:
    from bot.domain.draft import PHOTO_SECONDS, same_sending

    assert not same_sending({}, 10.0)
    last = {"at": 10.0, "group": "g1"}
    assert same_sending(last, 10.0 + PHOTO_SECONDS)  # within the quiet time
    assert not same_sending(last, 10.0 + PHOTO_SECONDS + 0.01)
    assert same_sending(last, 10.0 + 30, "g1")  # an album's photos, whatever their pace
    assert not same_sending(last, 10.0 + 30, "g2")
    assert not same_sending(last, 9.0)  # a clock set back is no continuation


def test_photos_only_while_describing() -> None:
    with pytest.raises(InvalidInput):
        Draft().with_photos(("a",), None, at=1.0)
