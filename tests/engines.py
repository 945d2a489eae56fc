"""Which storage engine the tests run on.

Unset LIAISON_TEST_DATABASE_URL: SQLite files in each test's tmp_path (the default). Set to a
PostgreSQL URL (`.ci/postgres start` prints one): every test gets a fresh schema of its own in
that database, made on first use and dropped at the end of the session, so the same fixtures,
repositories and use cases run on PostgreSQL.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from urllib.parse import quote

import pytest

# Taken out of the environment: it is no setting of the bot, and the CLI, run inside tests,
# would warn about an unknown LIAISON_ variable.
TEST_DATABASE_URL = os.environ.pop("LIAISON_TEST_DATABASE_URL", None) or None
ON_POSTGRES = TEST_DATABASE_URL is not None

_made: set[str] = set()


def sqlite_only(reason: str) -> pytest.MarkDecorator:
    """A test about the SQLite file itself (its path, its online backup, a copy of it)."""
    return pytest.mark.skipif(ON_POSTGRES, reason=f"SQLite only: {reason}")


def postgres_only(reason: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(
        not ON_POSTGRES, reason=f"needs LIAISON_TEST_DATABASE_URL (PostgreSQL): {reason}"
    )


def postgres_url(tmp_path: Path, name: str = "") -> str:
    """A URL whose connections use a schema of their own for this test (and `name`)."""
    assert TEST_DATABASE_URL is not None
    import psycopg

    schema = "t_" + hashlib.sha1(f"{tmp_path}/{name}".encode()).hexdigest()[:20]
    if schema not in _made:
        with psycopg.connect(TEST_DATABASE_URL, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            conn.execute(f"CREATE SCHEMA {schema}")
        _made.add(schema)
    sep = "&" if "?" in TEST_DATABASE_URL else "?"
    return f"{TEST_DATABASE_URL}{sep}options={quote(f'-csearch_path={schema}')}"


def database_target(tmp_path: Path, name: str = "liaison.db") -> Path | str:
    """What `Database(...)` opens in a test: the SQLite file, or this test's schema."""
    if ON_POSTGRES:
        return postgres_url(tmp_path, name)
    return tmp_path / name


def database_url(tmp_path: Path) -> str | None:
    """LIAISON_DATABASE_URL for a test's settings (None: SQLite)."""
    return postgres_url(tmp_path, "liaison.db") if ON_POSTGRES else None


def drop_schemas() -> None:
    if not ON_POSTGRES or not _made:
        return
    import psycopg

    with psycopg.connect(TEST_DATABASE_URL, autocommit=True) as conn:  # type: ignore[arg-type]
        # A connection a failed test left open in a transaction must not hang the session's end:
        # its schema is left for the throwaway cluster to take with it.
        conn.execute("SET lock_timeout = '5s'")
        for schema in sorted(_made):
            try:
                conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            except psycopg.errors.LockNotAvailable:
                continue
    _made.clear()
