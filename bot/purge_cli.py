"""`liaison-bot purge --resident <telegram id>`: erase one resident's personal data on request.

Run by the operator with the bot's settings (it may run while the bot does: one short
transaction). Messages follow LIAISON_LOCALE through the catalog (locales/*/privacy.yaml).
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import asdict

from bot.i18n import Catalog
from bot.retention import NoSuchResident, purge_preview, purge_resident
from bot.settings import Settings
from storage.privacy import PurgeCounts, PurgeTarget

CHANNEL = "telegram"


def purge_command(settings: Settings, telegram_id: int, yes: bool) -> int:
    c = Catalog(settings.locale)
    external_id = str(telegram_id)
    try:
        target, preview = asyncio.run(_preview(settings, external_id))
    except NoSuchResident:
        print(c.plain("purge.not_found", id=external_id), file=sys.stderr)
        return 1
    print(c.plain("purge.preview", id=external_id))
    print(_counts(c, preview))
    if target.is_worker:
        print(c.plain("purge.worker_kept"))
    if not yes:
        try:
            answer = input(c.plain("purge.confirm"))
        except EOFError:  # no terminal (a script without --yes): refuse
            print()
            answer = ""
        if answer.strip().lower() not in ("yes", "y", "是"):
            print(c.plain("purge.cancelled"))
            return 1
    done = asyncio.run(_erase(settings, external_id))
    print(c.plain("purge.done", id=external_id))
    print(_counts(c, done))
    return 0


def _counts(c: Catalog, counts: PurgeCounts) -> str:
    return c.plain("purge.counts", **asdict(counts))


async def _preview(settings: Settings, external_id: str) -> tuple[PurgeTarget, PurgeCounts]:
    from bot.app import open_database

    db = await open_database(settings)
    try:
        return await purge_preview(db, CHANNEL, external_id)
    finally:
        await db.close()


async def _erase(settings: Settings, external_id: str) -> PurgeCounts:
    from bot.app import open_database

    db = await open_database(settings)
    try:
        return await purge_resident(db, CHANNEL, external_id)
    finally:
        await db.close()
