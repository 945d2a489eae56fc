"""Settings, the stations file, the message catalog, and fitting text into Telegram's limits."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.i18n import Catalog, catalog_keys, template_fields
from bot.settings import SettingsError, load_settings
from bot.stations_file import (
    DEFAULT_CATEGORIES,
    StationsFileError,
    load_stations_file,
    parse_stations_yaml,
)
from bot.textfit import split_html, visible_length
from tests.conftest import STATIONS_YAML

ROOT = Path(__file__).resolve().parents[2]


def test_example_stations_file_is_valid() -> None:
    config = load_stations_file(ROOT / "deploy" / "stations.example.yaml")
    assert len(config.stations) >= 2


def test_categories_default_to_the_built_in_list() -> None:
    config = parse_stations_yaml("stations: [{id: a, name: 站, code: A}]")
    assert [c.id for c in config.categories] == [c for c, _ in DEFAULT_CATEGORIES]


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (("code: XY", "code: xy"), ":21: stations #2 › code"),
        (("id: xingyuan", "id: Xing Yuan"), ":19: stations #2 › id"),
        (
            ("categories: [housing]", "categories: [parking]"),
            ":27: stations #2 › deputies #1 › categories #1: unknown category 'parking'",
        ),
        (
            ("telegram_id: 800011", "telegram_id: -5"),
            ":27: stations #2 › deputies #1 › telegram_id",
        ),
        (
            ("code: XY", "code: HM"),
            ":21: stations #2 › code: duplicate 'HM' (already used on line 10)",
        ),
        (
            ("    reception: 每周五下午 2:00-5:00", "    receptoin: typo"),
            ":23: stations #2 › receptoin: not a field here (did you mean reception?)",
        ),
    ],
)
def test_stations_file_errors_name_the_line_and_field(change: tuple[str, str], where: str) -> None:
    text = STATIONS_YAML.replace(*change)
    with pytest.raises(StationsFileError) as info:
        parse_stations_yaml(text, "stations.yaml", Catalog("en"))
    assert where in str(info.value)


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    en = Catalog("en")
    with pytest.raises(StationsFileError, match="no such file"):
        load_stations_file(tmp_path / "missing.yaml", en)
    bad = tmp_path / "bad.yaml"
    bad.write_text("stations:\n  - id: a\n   name: x\n", encoding="utf-8")
    with pytest.raises(StationsFileError, match=r"bad.yaml:\d+: not valid YAML"):
        load_stations_file(bad, en)
    bad.write_text("- just a list\n", encoding="utf-8")
    with pytest.raises(StationsFileError, match="expected a mapping"):
        load_stations_file(bad, en)


def test_settings_errors_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIAISON_STAFF_IDS", "1, 2,x")
    with pytest.raises(SettingsError, match="LIAISON_STAFF_IDS"):
        load_settings(_env_file=None)
    monkeypatch.setenv("LIAISON_STAFF_IDS", "1, 2;3")
    monkeypatch.setenv("LIAISON_TIMEZONE", "Mars/Olympus")
    with pytest.raises(SettingsError, match="LIAISON_TIMEZONE"):
        load_settings(_env_file=None)
    monkeypatch.setenv("LIAISON_TIMEZONE", "Asia/Shanghai")
    monkeypatch.setenv("LIAISON_LOCALE", "zh-CN")
    settings = load_settings(_env_file=None)
    assert settings.staff_ids == (1, 2, 3) and settings.locale == "zh_CN"


def test_catalogs_have_the_same_keys_and_placeholders() -> None:
    zh, en = catalog_keys("zh_CN"), catalog_keys("en")
    assert set(zh) == set(en)
    for key in zh:
        assert template_fields(zh[key]) == template_fields(en[key]), key


def test_every_key_the_code_uses_exists() -> None:
    used: set[str] = set()
    for path in [*ROOT.joinpath("bot").rglob("*.py"), *ROOT.joinpath("handlers").rglob("*.py")]:
        used |= set(re.findall(r"\"((?:[a-z_]+)\.(?:[a-z_]+))\"", path.read_text(encoding="utf-8")))
    known = set(catalog_keys("zh_CN"))
    prefixes = {k.split(".")[0] for k in known}
    missing = {k for k in used if k.split(".")[0] in prefixes and k not in known}
    assert not missing
    for dynamic in ("status", "action", "role", "rating"):
        assert any(k.startswith(dynamic + ".") for k in known)


def test_catalog_escapes_parameters_and_only_uses_telegram_tags() -> None:
    c = Catalog("zh_CN")
    text = c.t("resident.reply", receipt="HM-2026-0001", deputy="张代表", text="<b>x</b> & y")
    assert "&lt;b&gt;x&lt;/b&gt; &amp; y" in text
    for template in catalog_keys("zh_CN").values():
        assert set(re.findall(r"</?([a-z-]+)", template)) <= {"b", "i", "code"}


def test_split_html_keeps_every_chunk_well_formed() -> None:
    text = "<b>标题</b>\n" + "<i>" + ("行" * 70 + " &amp; \n") * 150 + "</i>"
    parts = split_html(text, 4096)
    assert len(parts) > 1
    for part in parts:
        assert visible_length(part) <= 4096
        assert part.count("<i>") == part.count("</i>")
    assert "".join(p.replace("<i>", "").replace("</i>", "") for p in parts).count("&amp;") == 150


def test_visible_length_counts_utf16_units_and_entities() -> None:
    assert visible_length("<b>a</b>&amp;😀") == 4  # a, &, and an emoji of two UTF-16 units
