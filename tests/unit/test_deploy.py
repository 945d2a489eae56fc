"""The deployment files agree with each other and with the code (no Docker engine needed):
where the stations file and the database are, and that a configuration error is not restarted
for ever."""

from __future__ import annotations

import configparser
import re
import shlex
from pathlib import Path

import yaml

from bot.operator import EXIT_CONFIG

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def dockerfile() -> tuple[dict[str, str], list[str], list[str]]:
    """ENV settings, VOLUME paths and RUN lines of deploy/Dockerfile (continuations joined)."""
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    lines = [ln for ln in text.splitlines() if not ln.lstrip().startswith("#")]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    env: dict[str, str] = {}
    volumes: list[str] = []
    runs: list[str] = []
    for line in joined.splitlines():
        word, _, rest = line.strip().partition(" ")
        if word == "ENV":
            env.update(dict(item.split("=", 1) for item in shlex.split(rest)))
        elif word == "VOLUME":
            volumes += yaml.safe_load(rest)
        elif word == "RUN":
            runs.append(rest)
    return env, volumes, runs


def compose_service() -> dict:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text(encoding="utf-8"))
    return compose["services"]["bot"]


def test_compose_and_the_image_put_the_stations_file_and_database_in_the_same_places() -> None:
    env, volumes, runs = dockerfile()
    bot = compose_service()
    environment = bot["environment"]
    # compose's `environment:` wins over env_file, so a .env written for a run without Docker
    # (LIAISON_STATIONS_FILE=stations.yaml) cannot send the container to a path that is not there
    assert environment["LIAISON_STATIONS_FILE"] == env["LIAISON_STATIONS_FILE"]
    assert environment["LIAISON_DATABASE"] == env["LIAISON_DATABASE"]

    mounts = {m["target"]: m for m in bot["volumes"] if isinstance(m, dict)}
    stations = mounts[environment["LIAISON_STATIONS_FILE"]]
    assert stations["type"] == "bind" and stations["read_only"] is True
    # a missing stations.yaml must be an error, not an empty folder created in its place
    assert stations["bind"]["create_host_path"] is False
    assert not any(
        isinstance(m, str) and m.split(":")[1] == environment["LIAISON_STATIONS_FILE"]
        for m in bot["volumes"]
    )
    # the file the header tells the operator to create is the one mounted
    header = (DEPLOY / "docker-compose.yml").read_text(encoding="utf-8")
    assert "cp stations.example.yaml stations.yaml" in header
    assert stations["source"] == "./stations.yaml" and (DEPLOY / "stations.example.yaml").is_file()
    assert f"check {environment['LIAISON_STATIONS_FILE']}" in header

    # the database is inside the named volume, which the image declares and lets its user own
    named = [m.split(":") for m in bot["volumes"] if isinstance(m, str)]
    data_dirs = [target for _, target in named]
    database = Path(environment["LIAISON_DATABASE"])
    assert str(database.parent) in data_dirs and str(database.parent) in volumes
    assert any(f"chown liaison:liaison {database.parent}" in run for run in runs)
    config_dir = str(Path(environment["LIAISON_STATIONS_FILE"]).parent)
    assert any(f"mkdir -p /data {config_dir}" in run for run in runs)

    # env_file is the .env the README and .env.example tell the operator to write
    assert bot["env_file"] == "../.env"
    example = (DEPLOY / ".env.example").read_text(encoding="utf-8")
    assert "Docker Compose reads ../.env" in example
    assert environment["LIAISON_STATIONS_FILE"] in example
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "cp .env.example ../.env" in readme and "cp stations.example.yaml stations.yaml" in readme


def test_the_dockerfile_run_example_uses_the_same_paths() -> None:
    env, _, _ = dockerfile()
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    assert f"-e LIAISON_STATIONS_FILE={env['LIAISON_STATIONS_FILE']}" in text
    assert f"target={env['LIAISON_STATIONS_FILE']},readonly" in text
    assert "-v \"$PWD/deploy/stations.yaml" not in text  # -v would create a folder


def test_a_configuration_error_is_not_restarted_for_ever() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read_string((DEPLOY / "liaison-bot.service").read_text(encoding="utf-8"))
    service = unit["Service"]
    assert service["Restart"] == "on-failure"
    assert str(EXIT_CONFIG) in service["RestartPreventExitStatus"].split()
    assert int(unit["Unit"]["StartLimitBurst"]) >= 1

    restart = str(compose_service()["restart"])
    policy, _, retries = restart.partition(":")
    assert policy == "on-failure" and 1 <= int(retries) <= 10
