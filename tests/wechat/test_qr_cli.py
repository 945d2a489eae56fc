"""`liaison-bot qr --station ID --wechat FILE.png`: the permanent QR code made through the (fake)
WeChat API with scene st_<station id>, written as a PNG that scans to the code's content."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image

from bot.cli import main
from bot.operator import EXIT_FAILURE
from tests.conftest import STATIONS_YAML
from tests.fake_wechat import FakeWeChat


@pytest.fixture
async def fake() -> AsyncIterator[FakeWeChat]:
    f = FakeWeChat()
    await f.start()
    yield f
    await f.stop()


async def test_cli_creates_the_permanent_qr(
    fake: FakeWeChat, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stations = tmp_path / "stations.yaml"
    stations.write_text(STATIONS_YAML, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LIAISON_DATABASE", str(tmp_path / "liaison.db"))
    monkeypatch.setenv("LIAISON_WECHAT_APP_ID", fake.app_id)
    monkeypatch.setenv("LIAISON_WECHAT_APP_SECRET", fake.app_secret)
    monkeypatch.setenv("LIAISON_WECHAT_API_BASE_URL", fake.base_url)
    assert await asyncio.to_thread(main, ["import", str(stations)]) == 0
    png = tmp_path / "huimin-wechat.png"
    fake.fail_next["qrcode/create"] = [40001]  # a stale token on the way: refreshed, repeated
    assert await asyncio.to_thread(main, ["qr", "--station", "huimin", "--wechat", str(png)]) == 0
    [(ticket, scene)] = fake.qrcodes.items()
    assert scene == "st_huimin"
    [found] = zxingcpp.read_barcodes(Image.open(png))
    assert found.text == f"http://weixin.qq.com/q/{ticket[:20]}"
    args = ["qr", "--station", "huimin", "--wechat", str(png)]
    assert await asyncio.to_thread(main, args) == EXIT_FAILURE  # the file exists: left alone
    unknown = ["qr", "--station", "nowhere", "--wechat", str(tmp_path / "n.png")]
    assert await asyncio.to_thread(main, unknown) == EXIT_FAILURE
    assert len(fake.qrcodes) == 1  # nothing created for a refused command


async def test_cli_without_wechat_settings_says_what_to_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LIAISON_WECHAT_APP_ID", raising=False)
    monkeypatch.setenv("LIAISON_DATABASE", str(tmp_path / "liaison.db"))
    stations = tmp_path / "stations.yaml"
    stations.write_text(STATIONS_YAML, encoding="utf-8")
    assert await asyncio.to_thread(main, ["import", str(stations)]) == 0
    code = await asyncio.to_thread(main, ["qr", "--station", "huimin", "--wechat", "x.png"])
    assert code == EXIT_FAILURE
    assert "LIAISON_WECHAT_APP_ID" in capsys.readouterr().err


async def test_cli_makes_the_web_and_the_wechat_code_in_one_call(
    fake: FakeWeChat, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`qr --web A.png --wechat B.png`: both codes, not the first one asked for only."""
    stations = tmp_path / "stations.yaml"
    stations.write_text(STATIONS_YAML, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LIAISON_DATABASE", str(tmp_path / "liaison.db"))
    monkeypatch.setenv("LIAISON_PUBLIC_URL", "https://lianluo.example.cn")
    monkeypatch.setenv("LIAISON_WECHAT_APP_ID", fake.app_id)
    monkeypatch.setenv("LIAISON_WECHAT_APP_SECRET", fake.app_secret)
    monkeypatch.setenv("LIAISON_WECHAT_API_BASE_URL", fake.base_url)
    assert await asyncio.to_thread(main, ["import", str(stations)]) == 0
    web_png, wechat_png = tmp_path / "web.png", tmp_path / "wechat.png"
    args = ["qr", "--station", "huimin", "--web", str(web_png), "--wechat", str(wechat_png)]
    assert await asyncio.to_thread(main, args) == 0
    [found] = zxingcpp.read_barcodes(Image.open(web_png))
    assert found.text == "https://lianluo.example.cn/s/huimin"
    assert wechat_png.exists() and list(fake.qrcodes.values()) == ["st_huimin"]
