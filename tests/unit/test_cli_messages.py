"""The operator's command line in the operator's language (QA items 14 and 22): argparse's own
English complaints through the operator catalog, and `check FILE` / `import FILE` blaming the
file named on the command line, not LIAISON_STATIONS_FILE."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.cli import main


@pytest.fixture
def operator_shell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith("LIAISON_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    return capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["bogus"], "没有“bogus”这个命令或选项，可以用：run, import"),
        (["faq", "bogus"], "没有“bogus”这个命令或选项，可以用：export"),
        (
            ["export", "--station", "huimin", "--from", "2026-13-01", "--to", "2026-12-31", "x.xlsx"],
            "参数 --from：“2026-13-01”不是日期",
        ),
        (["login-link", "--person", "abc"], "参数 --person：“abc”不是有效的值（应为 整数）"),
        (["export", "--station"], "参数 --station：后面需要跟一个值"),
    ],
)
def test_argparse_complaints_are_in_chinese(
    operator_shell: Path, capsys: pytest.CaptureFixture[str], argv: list[str], said: str
) -> None:
    err = refused(argv, capsys)
    assert said in err
    for english in ("argument ", "invalid choice", "invalid int value", "expected one argument"):
        assert english not in err


def test_argparse_complaints_in_english_too(
    operator_shell: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LIAISON_LOCALE", "en")
    err = refused(["bogus"], capsys)
    assert "there is no command or choice bogus; choose from run, import" in err


def test_check_of_a_missing_file_blames_the_file_named(
    operator_shell: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "nonexist.yaml"]) == 78
    err = capsys.readouterr().err
    assert "nonexist.yaml：文件不存在" in err
    assert "LIAISON_STATIONS_FILE" not in err and "编号从 1 开始" not in err
    assert main(["import", "nonexist.yaml"]) == 78
    err = capsys.readouterr().err
    assert "nonexist.yaml：文件不存在" in err and "LIAISON_STATIONS_FILE" not in err
    # invalid content keeps its heading
    (operator_shell / "bad.yaml").write_text("stations: [", encoding="utf-8")
    assert main(["check", "bad.yaml"]) == 78
    assert "联络站配置文件有误" in capsys.readouterr().err


def test_a_missing_stations_setting_still_names_the_setting(
    operator_shell: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LIAISON_STATIONS_FILE", str(operator_shell / "gone.yaml"))
    monkeypatch.setenv("LIAISON_DATABASE", str(operator_shell / "liaison.db"))
    assert main(["run"]) == 78
    err = capsys.readouterr().err
    assert "LIAISON_STATIONS_FILE" in err and "编号从 1 开始" not in err
