"""The `liaison-bot` command line as an operator meets it: wrong directory, broken settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main
from bot.operator import EXIT_CONFIG
from tests.conftest import STATIONS_YAML


@pytest.fixture
def shell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A shell in an empty directory with none of the bot's settings."""
    monkeypatch.chdir(tmp_path)
    for name in (
        "DATABASE",
        "DATABASE_URL",
        "TELEGRAM_TOKEN",
        "BOT_USERNAME",
        "LOCALE",
        "STATIONS_FILE",
    ):
        monkeypatch.delenv(f"LIAISON_{name}", raising=False)
    return tmp_path


@pytest.mark.parametrize(
    "args",
    [
        ["backup", "copy.db"],
        ["export", "--station", "huimin", "--from", "2026-01-01", "--to", "2026-01-31", "x.csv"],
        ["qr", "--station", "huimin", "--username", "some_bot", "x.png"],
    ],
)
def test_commands_that_read_the_database_never_create_an_empty_one(
    shell: Path, args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(args) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert "找不到数据库" in err and "LIAISON_DATABASE" in err  # Chinese unless told otherwise
    assert not (shell / "liaison.db").exists()
    assert not (shell / args[-1]).exists()


def test_check_needs_no_settings(
    shell: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (shell / "stations.yaml").write_text(STATIONS_YAML, encoding="utf-8")
    monkeypatch.setenv("LIAISON_LOCALE", "fr")  # broken, but check does not use it
    assert main(["check", "stations.yaml"]) == 0
    assert "检查通过" in capsys.readouterr().out  # an unknown locale: the default, Chinese
    (shell / "bad.yaml").write_text(STATIONS_YAML.replace("code: XY", "code: xy"), "utf-8")
    assert main(["check", "bad.yaml"]) == EXIT_CONFIG
    assert "bad.yaml:" in capsys.readouterr().err
    assert main(["import", "stations.yaml"]) == EXIT_CONFIG  # the others refuse broken settings
    assert "LIAISON_LOCALE" in capsys.readouterr().err


def test_postgres_settings_are_checked_and_backup_points_to_pg_dump(
    shell: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LIAISON_LOCALE", "en")
    monkeypatch.setenv("LIAISON_DATABASE_URL", "mysql://liaison@127.0.0.1/liaison")
    assert main(["backup", "copy.db"]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert "LIAISON_DATABASE_URL" in err and "must be a PostgreSQL URL" in err
    # a PostgreSQL database is not copied as a file (nothing is connected to find that out)
    monkeypatch.setenv("LIAISON_DATABASE_URL", "postgresql://liaison@127.0.0.1:1/liaison")
    assert main(["backup", "copy.db"]) == EXIT_CONFIG
    assert "pg_dump" in capsys.readouterr().err
    assert not (shell / "copy.db").exists()


def test_messages_name_a_postgresql_database_without_its_password(shell: Path) -> None:
    from bot.settings import Settings

    settings = Settings(database_url="postgresql://liaison:s3cret@db.example:5432/liaison")  # type: ignore[call-arg]
    assert settings.database_label() == "postgresql://liaison:***@db.example:5432/liaison"
    assert "s3cret" not in settings.database_label(absolute=True)
    plain = Settings(database_url="postgresql://liaison@127.0.0.1/liaison")  # type: ignore[call-arg]
    assert plain.database_label() == "postgresql://liaison@127.0.0.1/liaison"
    assert Settings(database=Path("bot.db")).database_label() == "bot.db"  # type: ignore[call-arg]


def test_an_unreachable_postgresql_is_explained_without_the_password(
    shell: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("psycopg")
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("LIAISON_LOCALE", "en")
    monkeypatch.setenv(
        "LIAISON_DATABASE_URL", f"postgresql://liaison:s3cret@127.0.0.1:{port}/liaison"
    )
    (shell / "stations.yaml").write_text(STATIONS_YAML, encoding="utf-8")
    assert main(["import", "stations.yaml"]) == 1
    err = capsys.readouterr().err
    assert "cannot connect to the database" in err and f"127.0.0.1:{port}" in err
    assert "s3cret" not in err and "Traceback" not in err


async def test_the_web_only_run_knows_the_county_admins(tmp_path: Path) -> None:
    """Without Telegram the admins of LIAISON_STAFF_IDS are admins still (they log in on the web
    with `liaison-bot login-link`)."""
    from bot.app import build_web_only
    from bot.settings import Settings

    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, database=tmp_path / "liaison.db", web_port=0, staff_ids=(424242,)
    )
    app = await build_web_only(settings)
    try:
        assert ("telegram", "424242") in app.liaison.core.admins
    finally:
        await app.db.close()
