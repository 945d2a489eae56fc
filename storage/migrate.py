"""Copy an SQLite database into an empty PostgreSQL one (`liaison-bot migrate-to-postgres`).

Both are opened through `Database`, so both are migrated to the same schema version first. The
copy is one PostgreSQL transaction: every table in foreign-key order with COPY, ids kept, then
each table's row count compared with the source's and the identity sequences set past the
largest id. Any difference rolls the whole copy back, so the target is either a faithful copy
or untouched.
"""

from __future__ import annotations

from dataclasses import dataclass

from storage.db import Database, fetch_all
from storage.postgres import PostgresDatabase

# Bookkeeping of each database itself: written by its own migrations, never copied.
NOT_COPIED = frozenset({"schema_migrations"})
BATCH = 2000


class TargetNotEmpty(Exception):
    def __init__(self, table: str) -> None:
        super().__init__(table)
        self.table = table


class CountMismatch(Exception):
    def __init__(self, table: str, source: int, target: int) -> None:
        super().__init__(table)
        self.table, self.source, self.target = table, source, target


@dataclass(frozen=True)
class Copied:
    table: str
    rows: int


async def _fk_order(source: Database, tables: list[str]) -> list[str]:
    """Tables with every table they reference before them (SQLite's own foreign-key lists)."""
    refs: dict[str, set[str]] = {}
    async with source.read() as conn:
        for table in tables:
            rows = await fetch_all(conn, f'PRAGMA foreign_key_list("{table}")')
            refs[table] = {r["table"] for r in rows if r["table"] != table} & set(tables)
    ordered: list[str] = []
    placed: set[str] = set()
    while len(ordered) < len(tables):
        ready = sorted(t for t in tables if t not in placed and refs[t] <= placed)
        if not ready:  # a cycle: cannot happen in this schema; keep going rather than hang
            ready = sorted(t for t in tables if t not in placed)[:1]
        ordered.extend(ready)
        placed.update(ready)
    return ordered


async def copy_sqlite_to_postgres(source: Database, target: PostgresDatabase) -> list[Copied]:
    """Raises TargetNotEmpty (nothing written) or CountMismatch (rolled back)."""
    tables = [t for t in await source.tables() if t not in NOT_COPIED]
    present = set(await target.tables())
    missing = [t for t in tables if t not in present]
    if missing:  # the source has a table this version's migrations do not make
        raise CountMismatch(missing[0], -1, 0)
    ordered = await _fk_order(source, tables)
    copied: list[Copied] = []
    async with target.transaction() as pg:
        for table in ordered:
            row = await (await pg.execute(f"SELECT COUNT(*) FROM {table}")).fetchone()
            if row and row[0]:
                raise TargetNotEmpty(table)
        # The rows go over as they are, the rollup's change notes too (migration 0017): the
        # triggers that write those notes must not add more while the wishes are copied in.
        for table in ordered:
            await pg.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        for table in ordered:
            async with source.read() as lite:
                columns = [
                    r["name"] for r in await fetch_all(lite, f'PRAGMA table_info("{table}")')
                ]
                cursor = await lite.execute(f'SELECT {", ".join(columns)} FROM "{table}"')
                count = 0
                statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
                async with pg.raw.cursor() as cur, cur.copy(statement) as copy:
                    while batch := await cursor.fetchmany(BATCH):
                        for values in batch:
                            await copy.write_row(tuple(values))
                        count += len(batch)
                await cursor.close()
                row = await (await lite.execute(f'SELECT COUNT(*) FROM "{table}"')).fetchone()
                expected = int(row[0]) if row else 0
            row = await (await pg.execute(f"SELECT COUNT(*) FROM {table}")).fetchone()
            stored = int(row[0]) if row else 0
            if stored != expected or stored != count:
                raise CountMismatch(table, expected, stored)
            copied.append(Copied(table, stored))
        for table in ordered:
            await pg.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
        await target.reset_sequences_in(pg)
    return copied
