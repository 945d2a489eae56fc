"""Privacy rules, the pure parts: masking of realistic inputs, redacted error logs, refusals."""

from __future__ import annotations

import pytest

from bot.actions import Action as ButtonAction
from bot.actions import InvalidAction, decode
from bot.clock import ManualClock
from bot.domain.masking import (
    introduced_names,
    mask_name,
    mask_phone,
    mask_pii,
    name_variants,
)
from bot.domain.model import Action
from bot.faq_service import FaqService
from bot.services import Liaison, NotFound
from handlers.router import _stack_only
from storage.db import Database, fetch_all
from storage.repositories import StationRow
from tests.conftest import person
from tests.unit.test_services import submit


@pytest.mark.parametrize(
    ("text", "masked", "gone"),
    [
        ("电话138 1234 5678", "电话138****5678", "1234"),
        ("电话138-1234-5678", "电话138****5678", "1234"),
        ("电话+86 13812345678", "电话138****5678", "1234"),
        ("电话+86-138-1234-5678", "电话138****5678", "1234"),
        ("电话１３８１２３４５６７８谢谢", "电话138****5678谢谢", "１２３４"),
        ("电话１３８　１２３４　５６７８", "电话138****5678", "１２３４"),
        ("座机0571-88886666", "座机0571-****6666", "8888"),
        ("座机(0571)88886666", "座机0571-****6666", "8888"),
        ("座机（0571）88886666", "座机0571-****6666", "8888"),
        ("座机０５７１－８８８８６６６６", "座机0571-****6666", "８８８８"),
        ("座机010 1234 5678", "座机010-****5678", "1234"),
        ("身份证33010219900101123X", "身份证330***********123X", "19900101"),
        ("身份证330102199001011234。", "身份证330***********1234。", "19900101"),
        ("身份证330102 19900101 123x", "身份证330***********123x", "19900101"),
        (
            "身份证３３０１０２１９９００１０１１２３Ｘ",
            "身份证330***********123X",
            "１９９００１０１",
        ),
        ("邮箱liuxm@163.com", "邮箱l***@163.com", "liuxm"),
        ("邮箱ｌｉｕｘｍ＠１６３．ｃｏｍ", "邮箱l***@163.com", "ｌｉｕｘｍ"),
    ],
)
def test_numbers_and_addresses_are_masked_however_they_are_typed(
    text: str, masked: str, gone: str
) -> None:
    assert mask_pii(text) == masked
    assert gone not in mask_pii(text)


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("我是刘小明，小区路灯坏了", "刘小明"),
        ("我叫欧阳娜娜，住3号楼", "欧阳娜娜"),
        ("我是欧阳明反映一下", "欧阳明"),
        ("本人李四反映：", "李四"),
        ("本人是王芳", "王芳"),
        ("姓名：司马光 电话13812345678", "司马光"),
        ("联系人张伟", "张伟"),
        ("我是刘明电话13812345678", "刘明"),
    ],
)
def test_names_a_resident_writes_about_themselves_are_masked(text: str, name: str) -> None:
    assert introduced_names(text) == [name]
    masked = mask_pii(text)
    assert name not in masked and mask_name(name) in masked
    assert "5678" not in masked or "138****5678" in masked


@pytest.mark.parametrize(
    "text",
    [
        "我是本小区居民，路灯坏了",
        "我是明天下午来的",
        "我是张家港人",
        "我是成都人",
        "我是3号楼的住户",
        "订单HM-2026-0001，金额12.50元，面积88平方，2026-03-31",
        "我是一名退休教师",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert mask_pii(text) == text


def test_names_keep_their_surname_only() -> None:
    assert [mask_name(n) for n in ("李四", "刘小明", "欧阳娜娜", "欧阳明", "欧阳", "司马光")] == [
        "李*",
        "刘**",
        "欧阳**",
        "欧阳*",
        "欧*",
        "司马*",
    ]


def test_own_telegram_name_in_both_orders_and_any_case() -> None:
    names = name_variants("小明 刘") + name_variants("Mei Chen")
    text = "刘小明 小明刘 刘 小明 小明 MEI CHEN chen mei"
    masked = mask_pii(text, names)
    for leaked in ("小明", "MEI", "chen", "mei"):
        assert leaked not in masked, masked


def test_staff_text_keeps_landlines_but_not_mobiles() -> None:
    text = "咨询电话0571-88886666；居民我是刘小明13812345678反映的问题已解决"
    masked = mask_pii(text, landlines=False)
    assert "0571-88886666" in masked
    assert "13812345678" not in masked and "刘小明" not in masked


@pytest.mark.parametrize(
    ("phone", "masked"),
    [
        ("13812345678", "138****5678"),
        ("+8613812345678", "138****5678"),
        ("138 1234 5678", "138****5678"),
        ("１３８１２３４５６７８", "138****5678"),
        ("0571-88886666", "057*****6666"),
    ],
)
def test_stored_phone_numbers_are_masked(phone: str, masked: str) -> None:
    assert mask_phone(phone) == masked


def test_logged_errors_carry_the_stack_but_not_what_was_typed() -> None:
    secret = "我是刘小明13812345678"
    try:
        try:
            int(secret)
        except ValueError as inner:
            raise RuntimeError(f"could not handle {secret}") from inner
    except RuntimeError as exc:
        logged = _stack_only(exc)
    assert "RuntimeError" in logged and "ValueError" in logged
    assert "test_privacy.py" in logged  # where it happened is kept
    assert "刘小明" not in logged and "13812345678" not in logged


@pytest.mark.parametrize(
    "data",
    [
        "a:acc:²",  # str.isdigit() says yes, int() says no
        "a:acc:" + "9" * 40,  # beyond SQLite's integers
        "a:acc:١٢",  # other scripts' digits
        "a:acc:12:" + "x" * 40,
        "a:acc:12:3:4",
        "a:ACC:12",
        "a::12",
    ],
)
def test_malformed_button_data_is_not_a_wish_action(data: str) -> None:
    with pytest.raises(InvalidAction):
        decode(data)


def test_well_formed_button_data_parses() -> None:
    assert decode("a:to:42:7") == ButtonAction("to", 42, "7")


async def test_a_stranger_learns_nothing_from_a_forged_assignment(liaison: Liaison) -> None:
    """A deputy of another station names a deputy of the wish's station: the answer is the
    same as for a wish that does not exist, not "that deputy is wrong"."""
    _, wish = await submit(liaison, 700001, "路灯坏了")
    stranger = await liaison.people.identify(person(800011))  # 赵代表, of xingyuan
    for deputy_id in (1, 2, 3, 999):
        with pytest.raises(NotFound):
            await liaison.wishes.act(stranger, wish.id, Action.ASSIGN, deputy_id=deputy_id)


HUIMIN = StationRow(
    "huimin", "惠民社区代表联络站", "HM", "惠民社区党群服务中心", "每周三上午", None
)


async def test_faq_misses_mask_the_askers_name(
    db: Database, clock: ManualClock, liaison: Liaison
) -> None:
    faq = FaqService(db, clock)
    await faq.reload()
    await faq.ask("小明刘想问小区充电桩归谁管", HUIMIN, name_variants("小明 刘"))
    await faq.ask("我是欧阳娜娜，充电桩归谁管，电话１３８１２３４５６７８", HUIMIN)
    async with db.read() as conn:
        stored = [r[0] for r in await fetch_all(conn, "SELECT text FROM faq_misses")]
    assert stored, "both were misses"
    joined = "\n".join(stored)
    for leaked in ("小明", "欧阳娜娜", "１２３４", "1234"):
        assert leaked not in joined, joined
    # rows written before names were masked are masked when shown
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO faq_misses (station_id, kind, text, at) VALUES (?, ?, ?, ?)",
            ("huimin", "none", "我是刘小明，充电桩归谁管", clock.now().isoformat()),
        )
    shown = repr(await faq.gaps(["huimin"]))
    assert "刘小明" not in shown and "刘**" in shown
