"""`liaison-bot run` without Telegram as real processes: the demo on a fresh directory, the web
channel alone on configured stations; and the operator's web commands (login-link, qr --web)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
from pathlib import Path

import aiohttp
import pytest

from bot.cli import main
from tests.conftest import STATIONS_YAML
from tests.integration.test_subprocess import EXECUTABLE

URL = re.compile(rb"http://127\.0\.0\.1:(\d+)")


def bare_env(tmp_path: Path, **settings: str) -> dict[str, str]:
    """What a fresh clone has: no LIAISON_* variable at all (no .env either: cwd is empty)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIAISON_")}
    env["LIAISON_WEB_PORT"] = "0"
    env.update(settings)
    return env


async def started(env: dict[str, str], cwd: Path) -> tuple[asyncio.subprocess.Process, str, bytes]:
    proc = await asyncio.create_subprocess_exec(
        str(EXECUTABLE), "run", env=env, cwd=cwd,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert proc.stdout is not None
    seen = b""
    while True:  # until it says where it listens (it logs the address once it does)
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        assert line, seen.decode(errors="replace")
        seen += line
        if b"bot.app" in line and URL.search(line):
            match = URL.search(line)
            assert match is not None
            return proc, f"http://127.0.0.1:{match.group(1).decode()}", seen


async def stop(proc: asyncio.subprocess.Process) -> int:
    proc.send_signal(signal.SIGTERM)
    return await asyncio.wait_for(proc.wait(), 60)


async def test_a_fresh_directory_runs_the_demo(tmp_path: Path) -> None:
    proc, url, log = await started(bare_env(tmp_path), tmp_path)
    try:
        assert b"/demo" in log
        # a browser keeps cookies of 127.0.0.1; aiohttp's jar does only when told to
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            async with http.get(f"{url}/healthz") as resp:
                health = await resp.json()
            assert health["ok"] is True and health["demo"] is True
            async with http.get(f"{url}/demo") as resp:
                demo = await resp.text()
            assert resp.status == 200 and "演示" in demo and "/s/huimin" in demo
            assert "/demo/deputy:" in demo and "/demo/staff:" in demo
            async with http.get(f"{url}/wall/huimin") as resp:
                assert resp.status == 200 and "演示" in await resp.text()
            # a demo deputy's view opens from the demo page, with no Telegram
            deputy = re.search(r'href="(/demo/deputy:[^"]+)"', demo)
            assert deputy is not None
            async with http.get(f"{url}{deputy.group(1)}") as resp:
                assert resp.url.path == "/me" and resp.status != 403
    finally:
        assert await stop(proc) == 0
    # the demo keeps to its own database: the real one is never created
    assert (tmp_path / "liaison-demo.db").exists() and not (tmp_path / "liaison.db").exists()


async def test_stations_without_a_token_serve_the_web_alone(tmp_path: Path) -> None:
    stations = tmp_path / "stations.yaml"
    stations.write_text(STATIONS_YAML, encoding="utf-8")
    env = bare_env(tmp_path, LIAISON_STATIONS_FILE=str(stations), LIAISON_LOCALE="en")
    proc, url, log = await started(env, tmp_path)
    try:
        assert b"LIAISON_TELEGRAM_TOKEN is not set: serving the web channel alone" in log
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{url}/healthz") as resp:
                assert (await resp.json())["demo"] is False
            async with http.get(f"{url}/wall/huimin") as resp:
                page = await resp.text()
            assert "惠民社区代表联络站" in page and "demo-banner" not in page
            async with http.get(f"{url}/demo") as resp:
                assert resp.status == 404
    finally:
        assert await stop(proc) == 0


@pytest.fixture
def operator_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    stations = tmp_path / "stations.yaml"
    stations.write_text(STATIONS_YAML, encoding="utf-8")
    for name in list(os.environ):
        if name.startswith("LIAISON_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LIAISON_DATABASE", str(tmp_path / "liaison.db"))
    monkeypatch.setenv("LIAISON_PUBLIC_URL", "https://liaison.example.cn/")
    monkeypatch.setenv("LIAISON_LOCALE", "en")
    assert main(["import", str(stations)]) == 0
    return tmp_path


def test_login_link_for_a_deputy_and_refusal_for_a_stranger(
    operator_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["login-link", "--person", "800001"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"https://liaison\.example\.cn/login/[A-Za-z0-9_-]{20,}", out), out
    assert main(["login-link", "--person", "700001"]) == 1
    assert "700001 is not a deputy or staff member" in capsys.readouterr().err


def test_qr_web_encodes_the_station_page(
    operator_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import zxingcpp
    from PIL import Image

    target = operator_env / "huimin-web.png"
    assert main(["qr", "--station", "huimin", "--web", str(target)]) == 0
    decoded = zxingcpp.read_barcodes(Image.open(target))
    assert [d.text for d in decoded] == ["https://liaison.example.cn/s/huimin"]
    assert "https://liaison.example.cn/s/huimin" in capsys.readouterr().out
    assert main(["qr", "--station", "nowhere", "--web", str(operator_env / "x.png")]) != 0
