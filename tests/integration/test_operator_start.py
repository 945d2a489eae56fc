"""`liaison-bot run` as a new operator starts it: no stations, a typo in a variable's name, a
malformed token, an unreachable base URL. Real processes against the fake Bot API server."""

from __future__ import annotations

import asyncio
import configparser
import signal
import socket
from pathlib import Path

import pytest

from bot.app import build
from bot.operator import EXIT_CONFIG, ConfigError
from storage.db import Database
from tests.engines import ON_POSTGRES, database_target
from tests.fake_telegram import FakeTelegram
from tests.integration.conftest import settings_for
from tests.integration.test_subprocess import EXECUTABLE, bot_env, output

ROOT = Path(__file__).resolve().parents[2]


def restart_prevented() -> set[int]:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.read_string((ROOT / "deploy" / "liaison-bot.service").read_text(encoding="utf-8"))
    return {int(code) for code in unit["Service"]["RestartPreventExitStatus"].split()}


async def run_to_exit(env: dict[str, str], cwd: Path) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        str(EXECUTABLE),
        "run",
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        text = await asyncio.wait_for(output(proc), 60)
        code = await asyncio.wait_for(proc.wait(), 60)
    finally:
        if proc.returncode is None:  # it kept running: the defect this guards against
            proc.kill()
            await proc.wait()
    return code, text


async def test_no_stations_and_a_misspelt_variable_refuse_to_start(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    env = bot_env(fake, tmp_path)
    env["LIAISON_STATION_FILE"] = env.pop("LIAISON_STATIONS_FILE")  # the operator's typo
    env.pop("LIAISON_LOCALE", None)
    code, text = await run_to_exit(env, tmp_path)
    assert code == EXIT_CONFIG and code in restart_prevented(), text
    assert "LIAISON_STATION_FILE" in text and "您是不是想写 LIAISON_STATIONS_FILE" in text
    assert "没有配置任何联络站" in text and "Traceback" not in text
    assert not (tmp_path / "liaison.db").exists()  # nothing created
    assert not fake.calls("getUpdates")  # residents never saw a picker without buttons


async def test_a_database_without_stations_is_refused_too(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    settings = settings_for(fake, tmp_path).model_copy(update={"stations_file": None})
    db = Database(settings.database_target())
    await db.connect()  # migrated, empty: e.g. made by a run without any stations
    await db.close()
    with pytest.raises(ConfigError) as info:
        await build(settings)
    assert info.value.key == "no_stations"


async def test_a_malformed_token_is_refused_before_telegram_is_asked(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    env = bot_env(fake, tmp_path)
    env.update(LIAISON_TELEGRAM_TOKEN="123456:TEST-TOKEN ", LIAISON_LOCALE="en")
    code, text = await run_to_exit(env, tmp_path)
    assert code == EXIT_CONFIG, text
    assert "does not look like a token" in text and "TEST-TOKEN" not in text
    assert not fake.calls("getMe")


async def test_a_token_with_a_trailing_space_works(fake: FakeTelegram, tmp_path: Path) -> None:
    env = bot_env(fake, tmp_path)
    env["LIAISON_TELEGRAM_TOKEN"] = fake.token + " \n"
    proc = await asyncio.create_subprocess_exec(
        str(EXECUTABLE), "run", env=env, cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        await fake.wait_until(lambda: bool(fake.calls("getUpdates")), timeout=30, what="polling")
    finally:
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), 20)
    assert code == 0, await output(proc)


async def test_an_unreachable_base_url_is_named_in_the_log_never_the_token(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    with socket.socket() as s:  # a port nobody listens on: connection refused at once
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = bot_env(fake, tmp_path)
    env.update(LIAISON_TELEGRAM_BASE_URL=f"http://127.0.0.1:{port}", LIAISON_LOCALE="en")
    proc = await asyncio.create_subprocess_exec(
        str(EXECUTABLE), "run", env=env, cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert proc.stdout is not None
    seen: list[str] = []
    try:
        async with asyncio.timeout(60):
            while not any("attempts in a row could not reach" in line for line in seen):
                line = (await proc.stdout.readline()).decode(errors="replace")
                assert line, "".join(seen)  # the process ended early
                seen.append(line)
    finally:
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), 20)
    seen.append(await output(proc))
    log = "".join(seen)
    assert code == 0, log
    assert f"cannot reach Telegram at 127.0.0.1:{port}" in log
    assert "LIAISON_TELEGRAM_BASE_URL" in log
    assert fake.token not in log and fake.token.split(":")[1] not in log
    # it waited, as for a network outage: past start-up's database work, on either engine
    if ON_POSTGRES:
        db = Database(database_target(tmp_path))
        await db.connect()
        try:
            async with db.read() as conn:
                stations = await (await conn.execute("SELECT id FROM stations")).fetchall()
        finally:
            await db.close()
        assert stations
    else:
        assert (tmp_path / "liaison.db").exists()
