"""The web channel keeps to its layer: web/ is an adapter (no Telegram, no other channel), and
nothing in bot/ but the composition root imports aiohttp, Jinja2 or web/."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COMPOSITION_ROOT = {"bot/app.py", "bot/cli.py"}


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_web_imports_no_telegram_and_no_other_channel() -> None:
    for path in sorted((ROOT / "web").rglob("*.py")):
        bad = imports(path) & {"telegram", "handlers", "wechat"}
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_only_the_composition_root_of_bot_knows_the_web_libraries() -> None:
    for path in sorted((ROOT / "bot").rglob("*.py")):
        name = path.relative_to(ROOT).as_posix()
        if name in COMPOSITION_ROOT:
            continue
        bad = imports(path) & {"aiohttp", "jinja2", "markupsafe", "web"}
        assert not bad, f"{name} imports {bad}"


def test_storage_and_handlers_do_not_import_the_web_adapter() -> None:
    for folder in ("storage", "handlers", "faq"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            bad = imports(path) & {"web", "aiohttp", "jinja2"}
            assert not bad, f"{path.relative_to(ROOT)} imports {bad}"
