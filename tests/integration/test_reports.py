"""/stats, /mywork, /export and /qr through the real PTB Application and the fake Bot API."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest
import zxingcpp
from openpyxl import load_workbook
from PIL import Image
from telegram import Bot, InputFile
from telegram.error import BadRequest, TelegramError

from bot.cli import main
from bot.domain.model import Action, Rating
from bot.operator import EXIT_FAILURE
from tests.conftest import ADMIN_ID, person
from tests.fake_telegram import FakeTelegram
from tests.integration.conftest import (
    RESIDENT,
    STAFF_HM,
    STAFF_XY,
    WANG,
    Harness,
    assert_no_invalid_calls,
    settings_for,
)
from tests.unit.test_services import submit


async def seed(h: Harness) -> None:
    """Two wishes at 惠民 (one resolved and rated by its resident), one at 星苑."""
    liaison = h.app.liaison
    for someone in (WANG, STAFF_HM, STAFF_XY, ADMIN_ID, RESIDENT):
        await h.start_bot(someone)
    _, w1 = await submit(liaison, RESIDENT, "绿化带里垃圾很多，电话13812345678", "environment")
    await submit(liaison, 700009, "小区的电梯经常坏", "housing")
    await submit(liaison, 700010, "物业费的问题", "housing", station="xingyuan")
    wang = await liaison.people.identify(person(WANG))
    resident = await liaison.people.identify(person(RESIDENT))
    await liaison.wishes.act(wang, w1.id, Action.ACCEPT)
    await liaison.wishes.act(wang, w1.id, Action.RESOLVE, body="已安排清理")
    await liaison.wishes.act(resident, w1.id, Action.RATE, rating=Rating.SATISFIED)
    await h.settle()
    h.fake.consume_all()


def png_of(h: Harness, file_id: str | None) -> Image.Image:
    assert file_id is not None
    image = Image.open(io.BytesIO(h.fake.file_bytes(file_id)))
    assert image.format == "PNG"
    return image


async def test_staff_get_the_months_figures_and_the_chart(harness: Harness) -> None:
    h = harness
    await seed(h)
    text = await h.say(STAFF_HM, "/stats month")
    assert "惠民社区代表联络站" in text.text and "星苑" not in text.text
    assert "收到心愿 2 条" in text.text and "办结 1" in text.text
    assert "满意率 100.0%" in text.text and "王代表" in text.text and "环境卫生" in text.text
    assert "待分派" in text.text  # the counts by status are still there
    chart = await h.fake.next_message(STAFF_HM)
    assert chart.method == "sendPhoto" and "每月" in (chart.caption or "")
    assert png_of(h, chart.photo).size == (1000, 600)
    assert_no_invalid_calls(h.fake)


async def test_county_admin_sees_every_station(harness: Harness) -> None:
    h = harness
    await seed(h)
    text = await h.say(ADMIN_ID, "/stats")
    assert "惠民社区代表联络站" in text.text and "星苑社区代表联络站" in text.text
    assert "全县（区）合计" in text.text and "收到心愿 3 条" in text.text
    chart = await h.fake.next_message(ADMIN_ID)
    assert chart.method == "sendPhoto"
    bad = await h.say(STAFF_HM, "/stats fortnight")
    assert "month" in bad.text and "2026Q1" in bad.text


async def test_residents_are_refused_politely(harness: Harness) -> None:
    h = harness
    await seed(h)
    for command in ("/stats", "/mywork", "/export", "/qr"):
        answer = await h.say(RESIDENT, command)
        assert "权限" in answer.text, command
    await h.fake.expect_no_message(RESIDENT)


async def test_a_deputy_sees_their_own_work(harness: Harness) -> None:
    h = harness
    await seed(h)
    answer = await h.say(WANG, "/mywork")
    assert "王代表" in answer.text and "履职情况" in answer.text
    assert "办理心愿 1 条" in answer.text and "满意率 100.0%" in answer.text
    answer = await h.say(STAFF_HM, "/mywork")
    assert "权限" in answer.text


async def test_export_comes_back_as_an_excel_document(harness: Harness) -> None:
    h = harness
    await seed(h)
    document = await h.say(STAFF_HM, "/export")
    assert document.method == "sendDocument" and "惠民社区代表联络站" in (document.caption or "")
    assert document.raw["document"]["file_name"].endswith(".xlsx")
    assert document.document is not None
    book = load_workbook(io.BytesIO(h.fake.file_bytes(document.document)))
    assert book.sheetnames == ["汇总", "心愿", "民情日记", "代表履职"]
    rows = list(book["心愿"].iter_rows(values_only=True))
    assert rows[0][0] == "编号" and len(rows) == 3
    assert any("13812345678" in str(c) for c in rows[1] + rows[2])  # staff: unmasked

    # a deputy gets the same station's wishes masked, and is told so
    document = await h.say(WANG, "/export month")
    assert "打码" in (document.caption or "")
    book = load_workbook(io.BytesIO(h.fake.file_bytes(document.document or "")))
    cells = " ".join(str(c) for r in book["心愿"].iter_rows(values_only=True) for c in r)
    assert "13812345678" not in cells and "138****5678" in cells

    # a county admin names the station
    answer = await h.say(ADMIN_ID, "/export")
    assert "huimin" in answer.text and "xingyuan" in answer.text
    document = await h.say(ADMIN_ID, "/export month xingyuan")
    assert document.method == "sendDocument" and "星苑" in (document.caption or "")
    answer = await h.say(STAFF_HM, "/export xingyuan")
    assert "没有找到" in answer.text
    assert_no_invalid_calls(h.fake)


async def test_qr_comes_back_as_a_photo_that_scans_to_the_deep_link(harness: Harness) -> None:
    h = harness
    await seed(h)
    photo = await h.say(STAFF_HM, "/qr")
    assert photo.method == "sendPhoto" and "惠民社区代表联络站" in (photo.caption or "")
    username = h.fake.bot_user["username"]
    expected = f"https://t.me/{username}?start=huimin"
    [found] = zxingcpp.read_barcodes(png_of(h, photo.photo))
    assert found.text == expected and expected in (photo.caption or "")
    answer = await h.say(WANG, "/qr")
    assert "权限" in answer.text


async def test_cli_qr_asks_telegram_for_the_username(
    fake: FakeTelegram, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`liaison-bot qr` without --username: LIAISON_BOT_USERNAME, else getMe with the token."""
    settings = settings_for(fake, tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LIAISON_DATABASE", str(settings.database))
    monkeypatch.setenv("LIAISON_TELEGRAM_TOKEN", fake.token)
    monkeypatch.setenv("LIAISON_TELEGRAM_BASE_URL", fake.base_url)
    monkeypatch.delenv("LIAISON_BOT_USERNAME", raising=False)
    assert await asyncio.to_thread(main, ["import", str(settings.stations_file)]) == 0
    png = tmp_path / "xingyuan.png"
    assert await asyncio.to_thread(main, ["qr", "--station", "xingyuan", str(png)]) == 0
    [found] = zxingcpp.read_barcodes(Image.open(png))
    assert found.text == f"https://t.me/{fake.bot_username}?start=xingyuan"
    assert fake.calls("getMe")

    monkeypatch.setenv("LIAISON_BOT_USERNAME", "other_bot")
    args = ["qr", "--station", "huimin", str(png)]
    assert await asyncio.to_thread(main, args) == EXIT_FAILURE  # the file exists: left alone
    assert await asyncio.to_thread(main, [*args, "--force"]) == 0
    [found] = zxingcpp.read_barcodes(Image.open(png))
    assert found.text == "https://t.me/other_bot?start=huimin"


async def test_the_fake_enforces_the_document_limits(fake: FakeTelegram) -> None:
    """As the Bot API documents: uploads up to 50 MB, captions up to 1024 characters."""
    fake.add_user(STAFF_HM, "工作人员", started=True)
    async with Bot(fake.token, base_url=fake.base_url) as bot:
        sent = await bot.send_document(
            STAFF_HM, InputFile(b"a,b\n1,2\n", filename="t.csv"), caption="表"
        )
        assert sent.document is not None and sent.document.file_name == "t.csv"
        assert sent.document.mime_type == "text/csv"
        with pytest.raises(BadRequest):
            await bot.send_document(
                STAFF_HM, InputFile(b"x", filename="t.txt"), caption="长" * 1025
            )
        with pytest.raises(TelegramError, match="Too Large"):
            await bot.send_document(
                STAFF_HM, InputFile(b"0" * (50 * 1024 * 1024 + 1), filename="big.xlsx")
            )


async def test_export_and_stats_periods_from_the_command(harness: Harness) -> None:
    h = harness
    await seed(h)
    now = h.app.liaison.core.clock.now()
    first, last = f"{now.year}-01-01", f"{now.year}-12-31"
    document = await h.say(STAFF_HM, f"/export {first} {last} huimin")
    assert document.method == "sendDocument" and f"{first}~{last}" in (document.caption or "")
    text = await h.say(STAFF_HM, f"/stats {now.year}")
    assert f"· {now.year}" in text.text and "按月" in text.text
    await h.fake.next_message(STAFF_HM)  # the chart
    answer = await h.say(STAFF_HM, "/export 2026-13 huimin")
    assert "month" in answer.text
