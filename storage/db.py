"""The database: SQLite (embedded, the default) or PostgreSQL, behind one interface.

`Database(target)` opens SQLite for a path and PostgreSQL for a `postgresql://` URL
(storage/postgres.py); both offer `connect()`, `close()`, `transaction()`, `read()`,
`on_commit()` and a connection with `execute` / `executemany` returning rows readable by
position and by name, `rowcount` and `lastrowid`. The repositories write SQLite's SQL once;
PostgreSQL's translation of it lives in storage/postgres.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

import aiosqlite

log = logging.getLogger(__name__)


# A migration whose DDL cannot be written for both engines (and is beyond what
# storage/postgres.py translates) may have a PostgreSQL variant beside it:
# NNNN_name.sql for SQLite, NNNN_name.postgresql.sql used instead on PostgreSQL.
POSTGRES_VARIANT = ".postgresql.sql"


def migrations(engine: str = "sqlite") -> list[tuple[int, str, str]]:
    """(version, name, script) in order; the name recorded is the shared NNNN_name.sql."""
    files = {item.name: item for item in resources.files("storage.migrations").iterdir()}
    found = []
    for name, item in files.items():
        if not (name.endswith(".sql") and name[:4].isdigit()) or name.endswith(POSTGRES_VARIANT):
            continue
        variant = files.get(name.removesuffix(".sql") + POSTGRES_VARIANT)
        source = variant if engine == "postgresql" and variant is not None else item
        found.append((int(name[:4]), name, source.read_text(encoding="utf-8")))
    return sorted(found)


_migrations = migrations  # the earlier private name, for code written against it


class DeferredWrites(Protocol):
    """Writes that a part of the program holds back (write-behind) so that they join the next
    transaction anyone opens, instead of costing a transaction of their own each.

    `Database.transaction()` calls `write` right after BEGIN, before the caller's statements:
    whatever the transaction then reads already includes them, and they commit with it (the
    inbox's done-marks are such a transaction, every 20 ms under load). If the transaction
    rolls back, the callable `write` returned is called to take the writes back, to go with
    the next one. The holder keeps answering reads of what it holds from memory meanwhile."""

    def pending(self) -> bool: ...

    async def write(self, conn: Any) -> Callable[[], None]: ...


class Database:
    """One connection, one lock: a transaction never interleaves with another coroutine's.

    SQLite serializes writers anyway; doing it here as well means a coroutine can never read
    another coroutine's half-finished change on the shared connection.

    `Database("postgresql://…")` makes its subclass PostgresDatabase instead (storage/postgres.py),
    which overrides the engine-specific parts behind the same interface.
    """

    engine = "sqlite"

    def __new__(cls, target: str | Path) -> Database:
        if cls is Database and is_postgres_url(target):
            from storage.postgres import PostgresDatabase

            cls = PostgresDatabase  # its __init__ runs next, as for any subclass
        return super().__new__(cls)

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._conn: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()
        self._on_commit: list[Callable[[], None]] = []
        self._deferred: list[DeferredWrites] = []

    async def connect(self) -> None:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(self.path, isolation_level=None)
        conn.row_factory = sqlite3.Row
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute("PRAGMA foreign_keys=ON")
        await conn.execute("PRAGMA synchronous=NORMAL")
        await conn.execute("PRAGMA busy_timeout=5000")
        self._conn = conn
        await self._migrate()

    async def close(self) -> None:
        if self._conn is not None:
            try:  # held-back writes first (see DeferredWrites)
                await self.flush_deferred()
            except sqlite3.Error as exc:
                log.error("held-back writes were not stored at close (%s)", type(exc).__name__)
            await self._conn.close()
            self._conn = None

    @staticmethod
    async def _rollback(conn: aiosqlite.Connection) -> None:
        """ROLLBACK when a transaction is open; none is when BEGIN itself failed."""
        with contextlib.suppress(sqlite3.OperationalError):
            await conn.execute("ROLLBACK")

    def defer_writes(self, source: DeferredWrites) -> None:
        """Let `source`'s held-back writes join every transaction (see DeferredWrites)."""
        self._deferred.append(source)

    async def flush_deferred(self) -> None:
        """Commit the held-back writes now (when nobody else opens a transaction soon)."""
        if any(source.pending() for source in self._deferred):
            async with self.transaction(quiet=True):  # (held-back writes are never outbox rows)
                pass

    async def _write_deferred(self, conn: Any) -> list[Callable[[], None]]:
        return [await s.write(conn) for s in self._deferred if s.pending()]

    @staticmethod
    def _take_back(undo: list[Callable[[], None]]) -> None:
        for take_back in undo:
            take_back()

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Call `callback` after every commit (the dispatcher wakes up on new outbox rows)."""
        self._on_commit.append(callback)

    @property
    def conn(self) -> aiosqlite.Connection:
        if self._conn is None:
            raise RuntimeError("database is not connected")
        return self._conn

    async def _migrate(self) -> None:
        conn = self.conn
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        rows = await (await conn.execute("SELECT version FROM schema_migrations")).fetchall()
        applied = {r[0] for r in rows}
        for version, name, sql in migrations():
            if version in applied:
                continue
            log.info("applying migration %s", name)
            # executescript commits on its own, so the migration and its record are wrapped
            # in one explicit transaction inside the script.
            await conn.executescript(
                "BEGIN IMMEDIATE;\n"
                + sql
                + f"\nINSERT INTO schema_migrations VALUES ({version}, '{name}', datetime('now'));"
                + "\nCOMMIT;"
            )

    @asynccontextmanager
    async def transaction(self, *, quiet: bool = False) -> AsyncIterator[aiosqlite.Connection]:
        """BEGIN … COMMIT under the lock; then the on_commit callbacks, unless `quiet`: the
        caller writes nothing they wait for (no outbox rows: the inbox's own bookkeeping,
        dozens of times a second under load, each of which woke the dispatcher to read the
        outbox for nothing)."""
        async with self._lock:
            conn = self.conn
            undo: list[Callable[[], None]] = []
            try:
                # BEGIN inside the try: a task cancelled while awaiting it (a shutdown) has
                # still had it run in aiosqlite's thread, and without the ROLLBACK the shared
                # connection stayed inside that transaction: every later BEGIN failed.
                await conn.execute("BEGIN IMMEDIATE")
                undo = await self._write_deferred(conn)
                yield conn
            except BaseException:
                await self._rollback(conn)
                self._take_back(undo)
                raise
            try:
                await conn.execute("COMMIT")
            except BaseException:
                await self._rollback(conn)  # (nothing to undo if the COMMIT ran after all)
                self._take_back(undo)
                raise
        if not quiet:
            for callback in self._on_commit:
                callback()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._lock:
            yield self.conn

    async def backup(self, target: str | Path) -> None:
        """A consistent copy while the bot runs, through SQLite's online backup API."""
        async with self._lock:
            dest = await aiosqlite.connect(str(target))
            try:
                await self.conn.backup(dest)
            finally:
                await dest.close()

    async def tables(self) -> list[str]:
        """The application's tables (every table but SQLite's own)."""
        async with self.read() as conn:
            rows = await fetch_all(
                conn,
                "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'",
            )
        return sorted(r[0] for r in rows)


class DatabaseUnreachable(Exception):
    """The database server cannot be reached (PostgreSQL down, wrong host, refused login).
    The message is the driver's error type only: its text may quote the connection string."""


def is_postgres_url(target: object) -> bool:
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://"))


def database_errors() -> tuple[type[BaseException], ...]:
    """What a failed statement raises, on either engine (psycopg only when installed)."""
    try:
        import psycopg
    except ImportError:
        return (sqlite3.Error,)
    return (sqlite3.Error, psycopg.Error)


# Each aiosqlite call is a round trip to its worker thread; execute_fetchall runs the query and
# fetches its rows in one. Under load these round trips, not SQLite, are what a query costs.


async def fetch_all(conn: aiosqlite.Connection, sql: str, params: Any = ()) -> list[sqlite3.Row]:
    return list(await conn.execute_fetchall(sql, params))


async def fetch_one(conn: aiosqlite.Connection, sql: str, params: Any = ()) -> sqlite3.Row | None:
    """The first row (queries here name one row: by key, or an aggregate)."""
    rows = await conn.execute_fetchall(sql, params)
    return next(iter(rows), None)
