"""`liaison-bot export` and `liaison-bot qr`: the report use cases for the operator.

The operator at the command line counts as staff of every station, so exports are not masked.
Progress goes to stderr, the result line to stdout, both in LIAISON_LOCALE; errors are raised as
OperatorError, which the command line turns into a message and an exit status.
"""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import date
from pathlib import Path

from bot import export
from bot.domain.model import DomainError
from bot.i18n import Catalog
from bot.operator import OperatorError, check_target, check_token
from bot.settings import Settings


class _Progress:
    def __init__(self, catalog: Catalog) -> None:
        self.tty = sys.stderr.isatty()
        self.last = ""
        self.catalog = catalog

    def __call__(self, what: str, done: int, total: int) -> None:
        line = self.catalog.plain("operator.export_progress", what=what, done=done, total=total)
        if line == self.last:
            return
        self.last = line
        if self.tty:
            end = "\n" if done >= total else ""
            print(f"\r{line}", end=end, file=sys.stderr, flush=True)
        else:
            print(line, file=sys.stderr, flush=True)


async def _reporting(settings: Settings):  # type: ignore[no-untyped-def]
    from bot.app import open_database
    from bot.clock import SystemClock
    from bot.i18n import Catalog
    from bot.reporting import Reporting
    from bot.services import Liaison

    db = await open_database(settings)
    liaison = Liaison(db, Catalog(settings.locale), SystemClock(), settings.tz)
    return db, Reporting(liaison)


def export_command(
    settings: Settings, station: str, first: date, last: date, path: Path, force: bool = False
) -> None:
    c = Catalog(settings.locale)
    if path.suffix.lower().lstrip(".") not in export.FORMATS:
        raise OperatorError("export_suffix", path=path)
    fmt = export.format_of(path)
    if last < first:
        raise OperatorError("period_reversed", first=first, last=last)
    check_target(path, force)
    progress = _Progress(c)

    async def collect():  # type: ignore[no-untyped-def]
        db, reporting = await _reporting(settings)
        try:
            period = reporting.date_period(first, last)
            return await reporting.export(None, station, period, progress)
        except DomainError as exc:
            raise OperatorError("no_station", station=station, database=settings.database_label()) from exc
        finally:
            await db.close()

    result = asyncio.run(collect())
    partial = path.with_name(path.name + ".partial")
    try:
        export.write(result.tables, fmt, partial, progress)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    print(
        c.plain(
            "operator.exported",
            wishes=result.wishes,
            station=result.station.id,
            period=result.period.label,
            path=path,
        )
    )


def qr_command(
    settings: Settings, station: str, username: str | None, path: Path, force: bool = False
) -> None:
    if path.suffix.lower() != ".png":
        raise OperatorError("qr_suffix", path=path)
    check_target(path, force)
    name = (username or settings.bot_username or "").lstrip("@")

    async def make() -> bytes:
        nonlocal name
        if not name:
            name = await _username_from_telegram(settings)
        db, reporting = await _reporting(settings)
        try:
            codes = await reporting.qr_codes(None, name, station)
        except DomainError as exc:
            raise OperatorError("no_station", station=station, database=settings.database_label()) from exc
        finally:
            await db.close()
        return codes[0].png

    path.write_bytes(asyncio.run(make()))
    link = f"https://t.me/{name}?start={station}"
    print(Catalog(settings.locale).plain("operator.qr_written", link=link, path=path))


async def _username_from_telegram(settings: Settings) -> str:
    if not settings.telegram_token:
        raise OperatorError("username_needed")
    token = check_token(settings.telegram_token)
    from telegram import Bot

    bot = Bot(token, base_url=settings.telegram_base_url)
    async with bot:
        me = await bot.get_me()
    if not me.username:
        raise OperatorError("username_unknown")
    return me.username
