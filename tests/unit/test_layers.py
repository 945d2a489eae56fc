"""The layers, enforced (DESIGN9.md): a scan of every module's imports and SQL.

- bot/ is channel-neutral: no telegram, aiohttp, jinja2 or httpx, except the composition root.
- bot/domain/ is pure: nothing from storage/, and from bot/ only bot/domain itself.
- storage/ knows no channel library.
- SQL statements appear only in storage/.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHANNEL_LIBRARIES = ("telegram", "aiohttp", "jinja2", "httpx")
# The composition root wires the channels to the core; cli.py starts it; reporting_cli.py is a
# command of that CLI (`liaison-bot qr`) that asks the Bot API for the bot's @username.
COMPOSITION_ROOT = {"bot/app.py", "bot/cli.py", "bot/reporting_cli.py"}
SQL = re.compile(r"\b(SELECT\b[\s\S]*\bFROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM)\b")
# SQL allowed outside storage/, with the reason.
SQL_ALLOWED: dict[str, str] = {}


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def top(name: str) -> str:
    return name.split(".")[0]


def test_the_core_imports_no_channel_library() -> None:
    bad = {
        rel(p): sorted(n for n in imported(p) if top(n) in CHANNEL_LIBRARIES)
        for p in modules("bot")
        if rel(p) not in COMPOSITION_ROOT
    }
    assert not {k: v for k, v in bad.items() if v}


def test_the_core_imports_no_channel_adapter() -> None:
    adapters = ("handlers", "web", "wechat")
    bad = {
        rel(p): sorted(n for n in imported(p) if top(n) in adapters)
        for p in modules("bot")
        if rel(p) not in COMPOSITION_ROOT
    }
    assert not {k: v for k, v in bad.items() if v}


def test_the_domain_is_pure() -> None:
    bad = {
        rel(p): sorted(
            n
            for n in imported(p)
            if top(n) in ("storage", "faq", "handlers", "web", "wechat", *CHANNEL_LIBRARIES)
            or (top(n) == "bot" and not n.startswith("bot.domain"))
            or top(n) in ("aiosqlite", "sqlite3", "asyncio")
        )
        for p in modules("bot/domain")
    }
    assert not {k: v for k, v in bad.items() if v}


def test_storage_knows_no_channel() -> None:
    bad = {
        rel(p): sorted(n for n in imported(p) if top(n) in (*CHANNEL_LIBRARIES, "handlers"))
        for p in modules("storage")
    }
    assert not {k: v for k, v in bad.items() if v}


def _string_constants(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(n.body[0].value)
        for n in ast.walk(tree)
        if isinstance(n, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        and n.body
        and isinstance(n.body[0], ast.Expr)
        and isinstance(n.body[0].value, ast.Constant)
    }
    return [
        n.value
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings
    ]


@pytest.mark.parametrize("package", ["bot", "handlers", "faq", "web", "wechat"])
def test_sql_lives_only_in_storage(package: str) -> None:
    bad = [
        rel(p)
        for p in modules(package)
        if rel(p) not in SQL_ALLOWED and any(SQL.search(s) for s in _string_constants(p))
    ]
    assert not bad


# Where bot/ may name the Telegram channel, with the reason: elsewhere the core decides nothing
# by a channel's name (issue 9); the adapter, the composition root or the configuration says it.
CHANNEL_NAME = "telegram"
CHANNEL_NAME_ALLOWED: dict[str, str] = {
    "bot/app.py": "the composition root wires the Telegram channel",
    "bot/cli.py": "the command line's default channel for `purge --resident`",
    "bot/stations_file.py": "the stations file's name for Telegram ids and wall_chat_id",
    "bot/logsetup.py": "the name of python-telegram-bot's logger, not a channel",
    "bot/domain/accounts.py": "the documented delivery preference among a person's accounts",
}


def test_the_core_decides_nothing_by_the_telegram_name() -> None:
    bad = [
        rel(p)
        for p in modules("bot")
        if rel(p) not in CHANNEL_NAME_ALLOWED and CHANNEL_NAME in _string_constants(p)
    ]
    assert not bad


# The same for the WeChat channel (branch wxfix): retention and the delivery notes take what
# differs from the adapter (wechat/retention.py, wechat/channel.py TIMELINE_NOTES), handed in
# by the composition root.
WECHAT_NAME = "wechat"
WECHAT_NAME_ALLOWED: dict[str, str] = {
    "bot/app.py": "the composition root wires the WeChat channel",
    "bot/stations_file.py": "the stations file's name for WeChat openids (a person's accounts)",
    "bot/domain/accounts.py": "the documented delivery preference among a person's accounts",
}
# bot/ modules that may read the WeChat adapter's own tables (storage/wechat.py), with why.
WECHAT_STORAGE_ALLOWED: dict[str, str] = {
    **{module: "the composition root" for module in COMPOSITION_ROOT},
}


def test_the_core_decides_nothing_by_the_wechat_name() -> None:
    bad = [
        rel(p)
        for p in modules("bot")
        if rel(p) not in WECHAT_NAME_ALLOWED and WECHAT_NAME in _string_constants(p)
    ]
    assert not bad


def test_the_core_reads_the_wechat_tables_only_where_listed() -> None:
    bad = [
        rel(p)
        for p in modules("bot")
        if rel(p) not in WECHAT_STORAGE_ALLOWED and "storage.wechat" in imported(p)
    ]
    assert not bad


def test_the_scan_sees_a_violation(tmp_path: Path) -> None:
    """The checks above can fail: a module with the forbidden things is caught."""
    bad = tmp_path / "bad.py"
    bad.write_text('import telegram\nfrom storage.db import x\nQ = "SELECT id FROM users"\n')
    assert "telegram" in imported(bad) and "storage.db" in imported(bad)
    assert any(SQL.search(s) for s in _string_constants(bad))
    bad.write_text('"""A note on "telegram"."""\nCHANNEL = "telegram"\n')
    assert _string_constants(bad) == [CHANNEL_NAME]  # the docstring is no decision
