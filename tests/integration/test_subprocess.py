"""`liaison-bot run` as a real process, pointed at the fake Bot API server: start, work, crash."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from bot.operator import EXIT_CONFIG
from tests.conftest import STATIONS_YAML
from tests.engines import database_url
from tests.fake_telegram import DEFAULT_TOKEN, FakeTelegram
from tests.integration.conftest import RESIDENT, ZHANG
from tests.integration.test_wish_loop import leave_wish

EXECUTABLE = Path(sys.executable).parent / "liaison-bot"


def bot_env(fake: FakeTelegram, tmp_path: Path) -> dict[str, str]:
    stations = tmp_path / "stations.yaml"
    stations.write_text(STATIONS_YAML, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIAISON_")}
    env.update(
        LIAISON_TELEGRAM_TOKEN=fake.token,
        LIAISON_TELEGRAM_BASE_URL=fake.base_url,
        LIAISON_DATABASE=str(tmp_path / "liaison.db"),
        LIAISON_STATIONS_FILE=str(stations),
        LIAISON_POLL_TIMEOUT="1",
        LIAISON_LOG_LEVEL="INFO",
        LIAISON_WEB_PORT="0",  # any free port: several suites may run on this machine
    )
    url = database_url(tmp_path)
    if url is not None:  # the same processes on PostgreSQL (this test's own schema)
        env["LIAISON_DATABASE_URL"] = url
    return env


async def start(env: dict[str, str], cwd: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        str(EXECUTABLE),
        "run",
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )


async def output(proc: asyncio.subprocess.Process) -> str:
    assert proc.stdout is not None
    return (await proc.stdout.read()).decode(errors="replace")


class ProcessHarness:
    """Just enough of the in-process Harness for leave_wish()."""

    def __init__(self, fake: FakeTelegram) -> None:
        self.fake = fake

    async def start_bot(self, user_id: int, payload: str = ""):
        self.fake.send_text(user_id, f"/start {payload}".strip())
        return await self.fake.next_message(user_id, timeout=20)

    async def say(self, user_id: int, text: str, reply_to=None):
        self.fake.send_text(user_id, text, reply_to)
        return await self.fake.next_message(user_id, timeout=10)

    async def press(self, user_id: int, message, button: str):
        self.fake.press(user_id, message, button)
        return await self.fake.next_message(user_id, timeout=10)


async def test_missing_token_explains_how_to_get_one(tmp_path: Path) -> None:
    """Without a token the bot no longer refuses (it serves the web channel, here the demo), but
    the operator still learns how to add Telegram."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIAISON_")}
    env["LIAISON_WEB_PORT"] = "0"
    proc = await asyncio.create_subprocess_exec(
        str(EXECUTABLE),
        "run",
        env=env,
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert proc.stdout is not None
    text = ""
    while "@BotFather" not in text:
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        assert line, text
        text += line.decode(errors="replace")
    assert "LIAISON_TELEGRAM_TOKEN" in text and "/demo" in text
    proc.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(proc.wait(), 60) == 0


async def test_invalid_stations_file_names_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "stations.yaml"
    bad.write_text(STATIONS_YAML.replace("code: XY", "code: xy"), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIAISON_")}
    env.update(
        LIAISON_TELEGRAM_TOKEN=DEFAULT_TOKEN,
        LIAISON_LOCALE="en",
        LIAISON_STATIONS_FILE=str(bad),
        LIAISON_DATABASE=str(tmp_path / "db.sqlite"),
    )
    proc = await asyncio.create_subprocess_exec(
        str(EXECUTABLE),
        "run",
        env=env,
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    text = await output(proc)
    assert await proc.wait() == EXIT_CONFIG
    assert "stations.yaml:21: stations #2 › code" in text
    assert not (tmp_path / "db.sqlite").exists()  # nothing half-imported


async def test_run_serve_and_stop_cleanly(fake: FakeTelegram, tmp_path: Path) -> None:
    proc = await start(bot_env(fake, tmp_path), tmp_path)
    try:
        h = ProcessHarness(fake)
        await h.start_bot(ZHANG)
        receipt = await leave_wish(h, RESIDENT, "huimin", "道路交通", "小区门口的路灯坏了好几天")  # type: ignore[arg-type]
        await fake.wait_for(chat_id=ZHANG, text_contains=receipt, timeout=10)
    finally:
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), 20)
    log = await output(proc)
    assert code == 0, log
    assert fake.token not in log  # the token is in every request URL; it must not be logged
    assert "小区门口" not in log  # logs carry ids, not what people wrote


async def test_kill_9_loses_no_outgoing_message(fake: FakeTelegram, tmp_path: Path) -> None:
    env = bot_env(fake, tmp_path)
    proc = await start(env, tmp_path)
    h = ProcessHarness(fake)
    try:
        await h.start_bot(ZHANG)
        # Telegram is failing for the deputy: the card waits in the outbox, retried with backoff
        fake.fail_next(chat_id=ZHANG, error_code=502, times=100)
        receipt = await leave_wish(h, RESIDENT, "huimin", "道路交通", "公园健身器材螺丝松了")  # type: ignore[arg-type]
        await fake.wait_until(
            lambda: any(c.params.get("chat_id") == ZHANG for c in fake.injected_failures),
            what="a failed card",
            timeout=10,
        )
    finally:
        proc.kill()  # kill -9: no clean shutdown
        await proc.wait()
    fake.clear_faults()
    proc = await start(env, tmp_path)
    try:
        card = await fake.wait_for(chat_id=ZHANG, text_contains=receipt, timeout=30)
        assert card.buttons
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 20)
    cards = [m for m in fake.messages_to(ZHANG) if receipt in m.content and m.buttons]
    assert len(cards) == 1
