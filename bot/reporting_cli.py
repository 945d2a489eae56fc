"""`liaison-bot export` and `liaison-bot qr`: the report use cases for the operator.

The operator at the command line counts as staff of every station, so exports are not masked.
Progress goes to stderr, the result line to stdout; errors are raised as ValueError, which the
command line turns into a message and exit status 2.
"""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import date
from pathlib import Path

from bot import export
from bot.domain.model import DomainError
from bot.settings import Settings


class _Progress:
    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.last = ""

    def __call__(self, what: str, done: int, total: int) -> None:
        line = f"exporting {what}: {done}/{total}"
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


def export_command(settings: Settings, station: str, first: date, last: date, path: Path) -> None:
    fmt = export.format_of(path)
    if last < first:
        raise ValueError(f"--to {last} is before --from {first}")
    progress = _Progress()

    async def collect():  # type: ignore[no-untyped-def]
        db, reporting = await _reporting(settings)
        try:
            period = reporting.date_period(first, last)
            return await reporting.export(None, station, period, progress)
        except DomainError as exc:
            raise ValueError(f"no station {station!r} in {settings.database}") from exc
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
        f"exported {result.wishes} wishes of {result.station.id} ({result.period.label}) to {path}"
    )


def qr_command(settings: Settings, station: str, username: str | None, path: Path) -> None:
    if path.suffix.lower() != ".png":
        raise ValueError(f"{path}: the file name must end in .png")
    name = (username or settings.bot_username or "").lstrip("@")

    async def make() -> bytes:
        nonlocal name
        if not name:
            name = await _username_from_telegram(settings)
        db, reporting = await _reporting(settings)
        try:
            codes = await reporting.qr_codes(None, name, station)
        except DomainError as exc:
            raise ValueError(f"no station {station!r} in {settings.database}") from exc
        finally:
            await db.close()
        return codes[0].png

    path.write_bytes(asyncio.run(make()))
    print(f"QR code for https://t.me/{name}?start={station} written to {path}")


async def _username_from_telegram(settings: Settings) -> str:
    if not settings.telegram_token:
        raise ValueError(
            "the bot's username is needed for the link: pass --username, set"
            " LIAISON_BOT_USERNAME, or set LIAISON_TELEGRAM_TOKEN so it can be asked from Telegram"
        )
    from telegram import Bot

    bot = Bot(settings.telegram_token, base_url=settings.telegram_base_url)
    async with bot:
        me = await bot.get_me()
    if not me.username:
        raise ValueError("Telegram did not say the bot's username; pass --username")
    return me.username
