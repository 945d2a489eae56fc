"""Export files read back (openpyxl, csv), the chart and the QR code opened with Pillow, the QR
code decoded to the exact deep link, and the `export` and `qr` commands."""

from __future__ import annotations

import csv
import io
import warnings
from pathlib import Path

import pytest
import zxingcpp
from openpyxl import load_workbook
from PIL import Image, ImageFont

from bot import export
from bot.chart import ChartLabels, MonthPoint, cjk_font, render_chart
from bot.cli import main
from bot.clock import ManualClock
from bot.domain.model import NotAllowed
from bot.operator import EXIT_FAILURE
from bot.qr import deep_link, render_qr
from bot.reporting import ChooseStation, Reporting
from bot.services import Liaison, NotFound
from tests.conftest import ADMIN_ID, person
from tests.unit.test_reports import STAFF_HM, START, WANG, Scenario, build_scenario

USERNAME = "huimin_liaison_bot"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
async def scenario(liaison: Liaison, clock: ManualClock) -> Scenario:
    return await build_scenario(liaison, clock)


@pytest.fixture
def reporting(liaison: Liaison) -> Reporting:
    return Reporting(liaison)


def sheet_rows(data: bytes, name: str) -> list[tuple]:
    book = load_workbook(io.BytesIO(data))
    return [tuple(r) for r in book[name].iter_rows(values_only=True)]


async def test_xlsx_has_the_four_sheets_with_chinese_headers_and_the_figures(
    liaison: Liaison, reporting: Reporting, scenario: Scenario
) -> None:
    staff = await liaison.people.identify(person(STAFF_HM))
    result = await reporting.export(staff, None, reporting.period("2026-03"))
    assert (result.station.id, result.wishes, result.masked) == ("huimin", 7, False)
    data = await reporting.export_file(result, "xlsx")
    book = load_workbook(io.BytesIO(data))
    assert book.sheetnames == ["汇总", "心愿", "民情日记", "代表履职"]

    summary = {r[0]: r[1] for r in sheet_rows(data, "汇总") if r and r[0]}
    assert summary["联络站"] == "惠民社区代表联络站" and summary["统计时段"] == "2026-03"
    assert summary["收到心愿（条）"] == 7 and summary["办结（条）"] == 2
    assert summary["超期（条）"] == 5 and summary["办结率"] == 0.333
    assert summary["满意率"] == 0.667 and summary["受理用时中位数（小时）"] == 10

    wishes = sheet_rows(data, "心愿")
    header = wishes[0]
    assert header[:4] == ("编号", "类别", "状态", "提交时间")
    assert {"代表", "居民", "电话", "心愿内容", "办理结果", "评价", "是否超期"} <= set(header)
    rows = {r[0]: dict(zip(header, r, strict=True)) for r in wishes[1:]}
    w1 = rows[scenario.receipts["W1"]]
    assert w1["类别"] == "环境卫生" and w1["状态"] == "已归档" and w1["代表"] == "王代表"
    assert w1["电话"] == "13812345678" and "13812345678" in w1["心愿内容"]  # staff: unmasked
    assert w1["评价"] == "满意" and w1["是否超期"] == "否" and w1["办理结果"] == "已处理"
    assert w1["提交时间"].strftime("%Y-%m-%d %H:%M") == "2026-03-01 10:00"  # local time
    assert rows[scenario.receipts["W2"]]["是否超期"] == "是"
    assert scenario.receipts["W0"] not in rows  # February

    timeline = sheet_rows(data, "民情日记")
    assert timeline[0][:4] == ("编号", "时间", "事项", "角色")
    w3 = [r for r in timeline[1:] if r[0] == scenario.receipts["W3"]]
    assert [r[2] for r in w3] == ["提交了心愿", "分派给李代表", "回复", "不予受理"]
    assert w3[-1][7] == "请拨打12345热线"

    deputies = sheet_rows(data, "代表履职")
    assert deputies[0][:2] == ("代表", "办理心愿（条）")
    by_name = {r[0]: r for r in deputies[1:]}
    assert set(by_name) == {"张代表", "李代表", "王代表"}
    assert by_name["王代表"][1] == 3 and by_name["李代表"][1] == 4 and by_name["张代表"][1] == 0


async def test_rates_are_fractions_shown_as_percentages(
    liaison: Liaison, reporting: Reporting, scenario: Scenario
) -> None:
    """Excel computes with 0.667 shown as 66.7 %; a cell holding 66.7 shows 6670 % once
    someone applies the percent format, and sums and averages of it are off by 100."""
    staff = await liaison.people.identify(person(STAFF_HM))
    result = await reporting.export(staff, None, reporting.period("2026-03"))
    book = load_workbook(io.BytesIO(await reporting.export_file(result, "xlsx")))
    cells = {row[0].value: row[1] for row in book["汇总"].iter_rows() if row[0].value}
    for label, value in (("办结率", 0.333), ("满意率", 0.667)):
        assert cells[label].value == value and cells[label].number_format == "0.0%"
    assert cells["收到心愿（条）"].number_format == "General"  # counts stay plain numbers
    deputies = book["代表履职"]
    header = [c.value for c in deputies[1]]
    column = header.index("满意率") + 1
    rates = [deputies.cell(row=r, column=column) for r in range(2, deputies.max_row + 1)]
    assert any(c.value is not None for c in rates)
    for cell in rates:
        if cell.value is not None:
            assert 0 <= cell.value <= 1 and cell.number_format == "0.0%"
    data = await reporting.export_file(result, "csv")
    rows = {r[0]: r for r in csv.reader(io.StringIO(data.decode("utf-8-sig"))) if r}
    assert rows["办结率"][1] == "33.3%" and rows["满意率"][1] == "66.7%"


async def test_a_deputy_gets_the_wishes_masked(
    liaison: Liaison, reporting: Reporting, scenario: Scenario
) -> None:
    wang = await liaison.people.identify(person(WANG))
    result = await reporting.export(wang, None, reporting.period("2026-03"))
    assert result.masked
    data = await reporting.export_file(result, "xlsx")
    wishes = sheet_rows(data, "心愿")
    header = wishes[0]
    row = dict(zip(header, wishes[1], strict=True))
    assert row["电话"] == "138****5678"
    assert "13812345678" not in row["心愿内容"] and "138****5678" in row["心愿内容"]
    assert row["居民"] == "刘**"
    for r in wishes[1:]:
        assert "13812345678" not in " ".join(str(c) for c in r if c is not None)


async def test_csv_opens_in_excel_and_reads_back(
    liaison: Liaison, reporting: Reporting, scenario: Scenario
) -> None:
    staff = await liaison.people.identify(person(STAFF_HM))
    result = await reporting.export(staff, "huimin", reporting.period("2026-03"))
    data = await reporting.export_file(result, "csv")
    assert data.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs for UTF-8
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    sections = [i for i, r in enumerate(rows) if r and r[0].startswith("# ")]
    assert [rows[i][0] for i in sections] == ["# 汇总", "# 心愿", "# 民情日记", "# 代表履职"]
    header = rows[sections[1] + 1]
    body = rows[sections[1] + 2 : sections[2] - 1]
    assert header[0] == "编号" and len(body) == 7
    first = dict(zip(header, body[0], strict=True))
    assert first["编号"] == scenario.receipts["W7"] and first["提交时间"] == "2026-03-01 01:00"
    assert first["类别"] == "住房物业"


async def test_who_may_export_what(
    liaison: Liaison, reporting: Reporting, scenario: Scenario
) -> None:
    resident = await liaison.people.identify(person(700001))
    with pytest.raises(NotAllowed):
        await reporting.export(resident, None, reporting.period("2026-03"))
    staff = await liaison.people.identify(person(STAFF_HM))
    with pytest.raises(NotFound):  # another station's wishes
        await reporting.export(staff, "xingyuan", reporting.period("2026-03"))
    admin = await liaison.people.identify(person(ADMIN_ID))
    with pytest.raises(ChooseStation) as chosen:
        await reporting.export(admin, None, reporting.period("2026-03"))
    assert chosen.value.station_ids == ["huimin", "xingyuan"]
    result = await reporting.export(admin, "xingyuan", reporting.period("2026-03"))
    assert (result.wishes, result.masked) == (1, False)


def test_export_formats_and_formula_injection(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        export.format_of("report.pdf")
    table = export.Table("表", ["内容"], [['=HYPERLINK("x")'], ["+86 138"], ["正常"]])
    path = tmp_path / "t.xlsx"
    seen: list[tuple[str, int, int]] = []
    export.write([table], "xlsx", path, lambda *a: seen.append(a))
    values = [r[0] for r in load_workbook(path)["表"].iter_rows(values_only=True)]
    assert values == ["内容", '\'=HYPERLINK("x")', "'+86 138", "正常"]
    assert seen[-1] == ("表", 3, 3)


def test_a_cjk_font_is_found_and_has_chinese_glyphs() -> None:
    path = cjk_font()
    assert path is not None, "no CJK font: install mplfonts (a dependency) or fonts-noto-cjk"
    font = ImageFont.truetype(str(path), 40)
    left, top, right, bottom = font.getbbox("惠民")
    assert right - left > 40 and bottom - top > 20


def test_chart_is_a_png_of_the_expected_size_with_no_missing_glyphs() -> None:
    points = [
        MonthPoint("2026-01", 5, 3, 80.0),
        MonthPoint("2026-02", 0, 0, None),
        MonthPoint("2026-03", 7, 2, 66.7),
    ]
    labels = ChartLabels(
        "惠民社区代表联络站：每月心愿办理情况", "收到", "办结", "满意率", "心愿（条）"
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        png = render_chart(points, labels)
    assert not [w for w in caught if "missing from" in str(w.message)]
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.size == (1000, 600)


def test_qr_code_decodes_to_the_exact_deep_link() -> None:
    link = deep_link("@" + USERNAME, "huimin")
    assert link == f"https://t.me/{USERNAME}?start=huimin"
    png = render_qr(link, "惠民社区代表联络站", "码上找代表")
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.width >= 600 and image.height > image.width
    [found] = zxingcpp.read_barcodes(image)
    assert found.text == link and found.format == zxingcpp.BarcodeFormat.QRCode


async def test_staff_qr_codes(liaison: Liaison, reporting: Reporting) -> None:
    staff = await liaison.people.identify(person(STAFF_HM))
    [code] = await reporting.qr_codes(staff, USERNAME)
    assert code.station.id == "huimin" and code.link.endswith("?start=huimin")
    admin = await liaison.people.identify(person(ADMIN_ID))
    assert len(await reporting.qr_codes(admin, USERNAME)) == 2
    deputy = await liaison.people.identify(person(WANG))
    with pytest.raises(NotAllowed):
        await reporting.qr_codes(deputy, USERNAME)


async def test_cli_export_and_qr(
    liaison: Liaison,
    scenario: Scenario,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LIAISON_DATABASE", liaison.core.db.path)
    if liaison.core.db.engine == "postgresql":  # the same test on PostgreSQL: the CLI reads it there
        monkeypatch.setenv("LIAISON_DATABASE_URL", liaison.core.db.path)
    monkeypatch.delenv("LIAISON_TELEGRAM_TOKEN", raising=False)
    monkeypatch.delenv("LIAISON_BOT_USERNAME", raising=False)
    monkeypatch.delenv("LIAISON_LOCALE", raising=False)  # Chinese, the default
    out = tmp_path / "huimin.xlsx"
    args = ["export", "--station", "huimin", "--from", "2026-02-01", "--to", "2026-03-31", str(out)]
    # the CLI runs its own event loop: run it in a thread, as from a shell
    import asyncio

    assert await asyncio.to_thread(main, args) == 0
    captured = capsys.readouterr()
    assert "的 8 条心愿导出到" in captured.out and "正在导出 心愿：8/8" in captured.err
    rows = sheet_rows(out.read_bytes(), "心愿")
    assert len(rows) == 9 and "13812345678" in " ".join(str(c) for c in rows[1])  # unmasked

    csv_out = tmp_path / "huimin.csv"
    args = ["export", "--station", "huimin", "--from", "2026-03-01", "--to", "2026-03-01"]
    assert await asyncio.to_thread(main, [*args, str(csv_out)]) == 0
    assert csv_out.read_bytes().startswith(b"\xef\xbb\xbf")

    bad = ["export", "--station", "nowhere", "--from", "2026-03-01", "--to", "2026-03-31"]
    assert await asyncio.to_thread(main, [*bad, str(tmp_path / "x.xlsx")]) == EXIT_FAILURE
    assert "nowhere" in capsys.readouterr().err

    png = tmp_path / "qr.png"
    assert await asyncio.to_thread(main, ["qr", "--station", "huimin", str(png)]) == EXIT_FAILURE
    assert "--username" in capsys.readouterr().err  # no username, no token: told what to do
    args = ["qr", "--station", "huimin", "--username", USERNAME, str(png)]
    assert await asyncio.to_thread(main, args) == 0
    [found] = zxingcpp.read_barcodes(Image.open(png))
    assert found.text == f"https://t.me/{USERNAME}?start=huimin"


def test_without_any_cjk_font_images_are_still_made_and_a_warning_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import bot.chart

    monkeypatch.delenv("LIAISON_CJK_FONT", raising=False)
    monkeypatch.setattr(bot.chart, "SYSTEM_FONTS", ())
    monkeypatch.setattr(bot.chart, "BUNDLED_FONT", ("no_such_font_package", "fonts", "x.otf"))
    bot.chart.cjk_font.cache_clear()
    try:
        with caplog.at_level("WARNING", logger="bot.chart"):
            assert bot.chart.cjk_font() is None
            labels = ChartLabels("惠民：每月心愿", "收到", "办结", "满意率", "条")
            png = render_chart([MonthPoint("2026-03", 2, 1, 50.0)], labels)
            qr = render_qr(deep_link(USERNAME, "huimin"), "惠民社区代表联络站")
        assert "no CJK font found" in caplog.text
        assert Image.open(io.BytesIO(png)).size == (1000, 600)
        [found] = zxingcpp.read_barcodes(Image.open(io.BytesIO(qr)))
        assert found.text.endswith("?start=huimin")
    finally:
        bot.chart.cjk_font.cache_clear()


async def test_supervision_notes_are_on_the_exported_timeline(
    liaison: Liaison, reporting: Reporting, scenario: Scenario
) -> None:
    from datetime import timedelta

    from bot.domain.deadlines import NoteKind, SupervisionNote
    from storage.supervision import SupervisionRepo

    wish_id = scenario.ids["W2"]
    async with liaison.core.db.transaction() as conn:
        await SupervisionRepo(conn).add_note(
            wish_id, SupervisionNote(at=START + timedelta(days=18), kind=NoteKind.PUSHED, role="staff")
        )
    staff = await liaison.people.identify(person(STAFF_HM))
    result = await reporting.export(staff, None, reporting.period("2026-03"))
    timeline = sheet_rows(await reporting.export_file(result, "xlsx"), "民情日记")
    rows = [r for r in timeline[1:] if r[0] == scenario.receipts["W2"]]
    actions = [r[2] for r in rows]
    assert "催办代表" in actions
    # in time order: the push on day 18 comes before the resolution on day 20
    assert actions.index("催办代表") < actions.index(next(a for a in actions if "办结" in a))
    times = [r[1] for r in rows]
    assert times == sorted(times)
