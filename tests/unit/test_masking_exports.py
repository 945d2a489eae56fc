"""A deputy's export (masked, unlike staff's) with the ways of writing numbers and names that the
previous masker let through."""

from __future__ import annotations

import io

from openpyxl import load_workbook

from bot.domain.model import Action
from bot.reporting import Reporting
from bot.services import Liaison
from tests.conftest import person
from tests.unit.test_masking_corpus import digit_spelling
from tests.unit.test_services import submit

ZHANG = 800001  # the traffic deputy at 惠民

TEXT = (
    "签名：王建国。3栋2单元502门口路灯坏了，电话1 3 8 1 2 3 4 5 6 7 8，"
    "身份证110101-19900307-123X，微信号 wjg_1990，车牌京A12345"
)
# 王建国家门口: nothing around the name says it is one; the wish gave it (签名：王建国).
RESULT = "王建国家门口的路灯已换，回访电话幺三九八七六五四三二一"


async def test_a_deputys_export_masks_the_new_formats(liaison: Liaison) -> None:
    _, wish = await submit(liaison, 700001, TEXT)
    zhang = await liaison.people.identify(person(ZHANG))
    await liaison.wishes.act(zhang, wish.id, Action.ACCEPT)
    await liaison.wishes.act(zhang, wish.id, Action.RESOLVE, body=RESULT)

    reporting = Reporting(liaison)
    result = await reporting.export(zhang, None, reporting.period(None))
    assert result.masked and result.wishes == 1
    data = await reporting.export_file(result, "xlsx")
    book = load_workbook(io.BytesIO(data))
    cells = " ".join(
        str(c)
        for name in ("心愿", "民情日记")
        for row in book[name].iter_rows(values_only=True)
        for c in row
        if c is not None
    )
    assert "门口路灯坏了" in cells and "路灯已换" in cells and "3栋2单元" in cells
    for word in ("建国", "wjg_1990", "A12345"):
        assert word not in cells, word
    for digits in ("13812345678", "13987654321", "19900307", "502"):
        assert digits not in digit_spelling(cells), digits
