"""The operator's documents name every setting the code reads, and nothing else."""

from __future__ import annotations

import re
from pathlib import Path

from bot.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = {f"LIAISON_{name.upper()}" for name in Settings.model_fields}


def test_env_example_lists_every_setting_with_its_default() -> None:
    text = (ROOT / "deploy" / ".env.example").read_text(encoding="utf-8")
    found = dict(re.findall(r"^#? ?(LIAISON_[A-Z_]+)=(.*)$", text, re.MULTILINE))
    assert set(found) == SETTINGS
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    for name in ("POLL_TIMEOUT", "AUTO_CLOSE_DAYS", "DIGEST_HOUR", "RATE_CHAT_BURST"):
        assert found[f"LIAISON_{name}"] == str(getattr(defaults, name.lower()))


def test_readme_documents_every_setting() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = set(re.findall(r"^\| `(LIAISON_[A-Z_]+)`", text, re.MULTILINE))
    assert rows == SETTINGS
