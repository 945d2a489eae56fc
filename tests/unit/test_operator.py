"""A new operator's rough edges: typos in variable names, a pasted token, a base URL without
/bot, a stations file with several mistakes, files written where they should not be, and all of
it in the operator's language (LIAISON_LOCALE, Chinese by default)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main
from bot.i18n import Catalog, catalog_keys
from bot.operator import (
    EXIT_CONFIG,
    EXIT_FAILURE,
    EXIT_USAGE,
    ConfigError,
    check_token,
    normalize_base_url,
    operator_locale,
)
from bot.settings import SettingsError, load_settings, unknown_settings
from bot.stations_file import StationsFileError, load_stations_file, parse_stations_yaml
from tests.conftest import STATIONS_YAML

TOKEN = "123456789:AAHfiqksKZ8WmR2zSjiQ7_v4TMAKdiHm9T0"  # BotFather's shape, not a real one


@pytest.fixture
def shell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A shell in an empty directory without any LIAISON_* variable."""
    monkeypatch.chdir(tmp_path)
    import os

    for name in [n for n in os.environ if n.startswith("LIAISON_")]:
        monkeypatch.delenv(name)
    return tmp_path


# -- 1. unknown LIAISON_* variables -----------------------------------------------------------


def test_unknown_variables_get_a_did_you_mean(tmp_path: Path) -> None:
    env = {
        "LIAISON_STATION_FILE": "stations.yaml",  # the S of STATIONS forgotten
        "LIAISON_TELEGRAM_TOKN": "x",
        "LIAISON_CJK_FONT": "/f.otf",  # read by the chart, not a setting: not unknown
        "LIAISON_DATABASE": "x.db",
        "LIAISON_SOMETHING_ELSE": "1",
        "PATH": "/bin",
    }
    dotenv = tmp_path / ".env"
    dotenv.write_text("LIAISON_LOCAL=en\n", encoding="utf-8")
    assert unknown_settings(env, dotenv) == [
        ("LIAISON_LOCAL", "LIAISON_LOCALE"),
        ("LIAISON_SOMETHING_ELSE", None),
        ("LIAISON_STATION_FILE", "LIAISON_STATIONS_FILE"),
        ("LIAISON_TELEGRAM_TOKN", "LIAISON_TELEGRAM_TOKEN"),
    ]


def test_a_misspelt_stations_variable_is_named_with_the_right_one(
    shell: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (shell / "stations.yaml").write_text(STATIONS_YAML, encoding="utf-8")
    monkeypatch.setenv("LIAISON_STATION_FILE", "stations.yaml")
    assert main(["import", "stations.yaml"]) == 0  # a warning, not a refusal
    err = capsys.readouterr().err
    assert "LIAISON_STATION_FILE" in err and "您是不是想写 LIAISON_STATIONS_FILE" in err


# -- 8. the token ------------------------------------------------------------------------------


def test_a_token_is_stripped_and_its_shape_checked_without_printing_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LIAISON_TELEGRAM_TOKEN", f"  {TOKEN} \n")
    assert load_settings(_env_file=None).telegram_token == TOKEN
    assert check_token(f"{TOKEN} ") == TOKEN
    cases = {
        "123456:short": "token_shape_secret",
        f"{TOKEN[:20]} {TOKEN[20:]}": "token_shape_space",
        "AAHfiqksKZ8WmR2zSjiQ7_v4TMAKdiHm9T0": "token_shape_id",
        "bot123456789:AAHfiqksKZ8WmR2zSjiQ7_v4TMAKdiHm9T0": "token_shape_id",
        "": "token_missing",
    }
    for token, key in cases.items():
        with pytest.raises(ConfigError) as info:
            check_token(token)
        assert info.value.key == key and info.value.exit_code == EXIT_CONFIG
        for locale in ("zh_CN", "en"):
            text = info.value.render(Catalog(locale))
            assert "LIAISON_TELEGRAM_TOKEN" in text
            if token:
                assert token.strip() not in text and TOKEN[12:] not in text


# -- 5. the base URL ---------------------------------------------------------------------------


def test_the_base_url_is_normalised_or_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert normalize_base_url("http://localhost:8081") == "http://localhost:8081/bot"
    assert normalize_base_url(" https://api.telegram.org/bot/ ") == "https://api.telegram.org/bot"
    assert normalize_base_url("http://proxy:81/tg/bot") == "http://proxy:81/tg/bot"
    monkeypatch.setenv("LIAISON_LOCALE", "en")
    for url in ("http://localhost:8081/api", "api.telegram.org/bot", "ftp://x/bot"):
        monkeypatch.setenv("LIAISON_TELEGRAM_BASE_URL", url)
        with pytest.raises(SettingsError) as info:
            load_settings(_env_file=None)
        assert info.value.problems[0][0] == "LIAISON_TELEGRAM_BASE_URL"
        assert "/bot" in str(info.value)
    # a token pasted into the URL is refused and not repeated
    monkeypatch.setenv("LIAISON_TELEGRAM_BASE_URL", f"https://api.telegram.org/bot{TOKEN}")
    with pytest.raises(SettingsError) as info:
        load_settings(_env_file=None)
    assert TOKEN.split(":")[1] not in str(info.value)


# -- 6. the stations file ----------------------------------------------------------------------


def three_mistakes() -> str:
    return (
        STATIONS_YAML.replace("id: xingyuan", "id: huimin")  # a duplicate id (line 19)
        .replace("code: XY", "code: xy")  # a bad code (line 21)
        .replace("{telegram_id: 800011, name: 赵代表,", "{telegram_id: 800011, name: '',")
    )


def test_every_mistake_of_a_stations_file_is_reported_in_line_order() -> None:
    with pytest.raises(StationsFileError) as info:
        parse_stations_yaml(three_mistakes(), "stations.yaml", Catalog("en"))
    assert str(info.value).splitlines() == [
        "stations.yaml:19: stations #2 › id: duplicate 'huimin' (already used on line 8)",
        "stations.yaml:21: stations #2 › code: receipt code: 1-10 upper-case letters or digits,"
        " starting with a letter",
        "stations.yaml:27: stations #2 › deputies #1 › name: at least 1 characters",
    ]


def test_stations_file_problems_are_told_in_chinese_by_default(
    shell: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (shell / "stations.yaml").write_text(three_mistakes(), encoding="utf-8")
    assert main(["check", "stations.yaml"]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert "联络站配置文件有误" in err
    assert "stations.yaml:19: stations 第2项 › id: 重复的“huimin”（第 8 行已经用过）" in err
    assert "stations.yaml:27: stations 第2项 › deputies 第1项 › name: 至少 1 个字符" in err
    # none of pydantic's English, none of its 0-based paths
    assert "String should" not in err and "stations.1" not in err and "Value error" not in err


def test_duplicates_are_reported_where_they_are_not_where_they_began() -> None:
    text = STATIONS_YAML.replace(
        "      - {telegram_id: 800003, name: 王代表",
        "      - {telegram_id: 800001, name: 王代表",
    )
    with pytest.raises(StationsFileError) as info:
        parse_stations_yaml(text, "s.yaml", Catalog("en"))
    assert str(info.value) == (
        "s.yaml:18: stations #1 › deputies #3 › telegram_id: duplicate '800001'"
        " (already used on line 16)"
    )


def test_a_folder_where_the_stations_file_should_be_is_explained(tmp_path: Path) -> None:
    (tmp_path / "stations.yaml").mkdir()  # what `-v ./stations.yaml:…` leaves when it is missing
    with pytest.raises(StationsFileError) as info:
        load_stations_file(tmp_path / "stations.yaml", Catalog("en"))
    assert "is a folder" in str(info.value) and "stations.example.yaml" in str(info.value)


# -- 4. backup, export and qr write files the same way ----------------------------------------


@pytest.fixture
def database(shell: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (shell / "stations.yaml").write_text(STATIONS_YAML, encoding="utf-8")
    monkeypatch.setenv("LIAISON_DATABASE", str(shell / "bot.db"))
    assert main(["import", "stations.yaml"]) == 0
    return shell / "bot.db"


def test_backup_into_a_missing_folder_is_a_polite_error(
    database: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["backup", "no/such/folder/copy.db"]) == EXIT_FAILURE
    err = capsys.readouterr().err
    assert "no/such/folder" in err and "不存在" in err and "Traceback" not in err
    assert not (database.parent / "no").exists()  # not created behind the operator's back


@pytest.mark.parametrize(
    "command",
    [
        ["backup"],
        ["export", "--station", "huimin", "--from", "2026-01-01", "--to", "2026-01-31"],
        ["qr", "--station", "huimin", "--username", "some_bot"],
    ],
)
def test_backup_export_and_qr_refuse_an_existing_file_unless_forced(
    database: Path, command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    suffix = {"backup": ".db", "export": ".csv", "qr": ".png"}[command[0]]
    target = database.parent / f"out{suffix}"
    target.write_bytes(b"keep me")
    capsys.readouterr()
    assert main([*command, str(target)]) == EXIT_FAILURE
    err = capsys.readouterr().err
    assert "已存在" in err and "--force" in err
    assert target.read_bytes() == b"keep me"
    assert main([*command, "--force", str(target)]) == 0
    assert target.read_bytes() != b"keep me"
    assert not list(database.parent.glob("*.partial"))


# -- 7. the operator's language ----------------------------------------------------------------


def test_the_operator_locale_comes_from_the_environment() -> None:
    assert operator_locale({}) == "zh_CN"
    assert operator_locale({"LIAISON_LOCALE": "en_US"}) == "en"
    assert operator_locale({"LIAISON_LOCALE": "zh-CN"}) == "zh_CN"
    assert operator_locale({"LIAISON_LOCALE": "klingon"}) == "zh_CN"


def test_check_and_help_follow_liaison_locale(
    shell: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (shell / "stations.yaml").write_text(STATIONS_YAML, encoding="utf-8")
    assert main(["check", "stations.yaml"]) == 0
    assert "检查通过（2 个联络站，4 位代表，4 个类别）" in capsys.readouterr().out
    monkeypatch.setenv("LIAISON_LOCALE", "en")
    assert main(["check", "stations.yaml"]) == 0
    assert "OK (2 stations, 4 deputies, 4 categories)" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "validate a stations file" in capsys.readouterr().out
    monkeypatch.delenv("LIAISON_LOCALE")
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "检查联络站配置文件" in capsys.readouterr().out


def test_settings_errors_are_told_in_the_locale(
    shell: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LIAISON_TIMEZONE", "Mars/Olympus")
    monkeypatch.setenv("LIAISON_AUTO_CLOSE_DAYS", "0")
    assert main(["backup", "x.db"]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert "配置有误" in err and "LIAISON_TIMEZONE: 未知时区“Mars/Olympus”" in err
    assert "LIAISON_AUTO_CLOSE_DAYS: 应不小于 1" in err


def test_every_operator_message_exists_in_both_languages() -> None:
    zh, en = catalog_keys("zh_CN"), catalog_keys("en")
    operator = {k for k in zh if k.startswith("operator.")}
    assert len(operator) > 50 and operator == {k for k in en if k.startswith("operator.")}
    for key in operator:
        assert zh[key] != en[key] or key in ("operator.cli_description",), key


def test_a_wrong_command_line_is_told_in_the_locale_with_status_2(
    shell: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["export", "--station", "huimin", "--from", "2026-02-30"])
    assert info.value.code == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith("用法：liaison-bot export")
    assert "“2026-02-30”不是日期" in err
    with pytest.raises(SystemExit):
        main(["backup"])
    assert "命令行有误：缺少参数：path" in capsys.readouterr().err


def test_a_forced_backup_never_replaces_the_database_itself(
    database: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = database.read_bytes()
    assert main(["backup", "--force", str(database)]) == EXIT_FAILURE
    assert "LIAISON_DATABASE" in capsys.readouterr().err
    assert database.read_bytes() == before


def test_an_empty_stations_variable_means_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIAISON_STATIONS_FILE", " ")
    assert load_settings(_env_file=None).stations_file is None
