"""`liaison-bot purge [--channel C] --resident <id | channel:id>`: erase one resident's personal
data on request.

The resident is named by any one of their accounts (a Telegram user id, a WeChat openid as
`wechat:<openid>` or with `--channel wechat`, a web visitor id); everything of the person is
erased, whichever channel they used, their WeChat photos kept in LIAISON_WECHAT_MEDIA_DIR too.
The channel comes from the command line (bot/cli.py keeps `telegram` as the default).

Run by the operator with the bot's settings (it may run while the bot does: one short
transaction). Messages follow LIAISON_LOCALE through the catalog (locales/*/privacy.yaml).
"""

from __future__ import annotations

import asyncio
import re
import sys
from dataclasses import asdict

from bot.domain.receipts import normalize_receipt
from bot.i18n import Catalog
from bot.media import kept_photo_folders
from bot.retention import NoSuchResident, purge_preview, purge_resident, resident_of_receipt
from bot.settings import Settings
from storage.privacy import PurgeCounts, PurgeTarget

_PREFIXED = re.compile(r"^(telegram|wechat|web):([A-Za-z0-9_-]{1,64})$", re.IGNORECASE)
_PLAIN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def parse_resident(text: str) -> tuple[str | None, str] | None:
    """`--resident`: `<channel>:<id>` names its channel; a bare id is the `--channel` one's.
    None for anything else (spaces, quotes, paths: never an account id)."""
    text = text.strip()
    prefixed = _PREFIXED.match(text)
    if prefixed:
        return prefixed.group(1).lower(), prefixed.group(2)
    return (None, text) if _PLAIN.match(text) else None


def purge_by_receipt(settings: Settings, receipt_text: str, yes: bool) -> int:
    """`purge --receipt HM-2026-0002`: the resident of that wish, on whatever channel they
    wrote from (a web resident cannot read their visitor id: it is in an HttpOnly cookie).
    The confirmation names the wish and the account before anything is erased."""
    c = Catalog(settings.locale)
    receipt = normalize_receipt(receipt_text)
    if receipt is None:
        print(c.plain("purge.bad_receipt", text=receipt_text), file=sys.stderr)
        return 2
    try:
        user_id, channel, external_id = asyncio.run(_resident_of(settings, receipt))
    except NoSuchResident:
        print(c.plain("purge.receipt_not_found", receipt=receipt), file=sys.stderr)
        return 1
    # by the resident's user id: the account they were first known by may belong to someone
    # else by now (bound to a deputy), and that person must not be the one erased
    return purge_command(settings, channel, external_id, yes, receipt=receipt, user_id=user_id)


def purge_command(
    settings: Settings,
    channel: str,
    external_id: str,
    yes: bool,
    receipt: str | None = None,
    user_id: int | None = None,
) -> int:
    c = Catalog(settings.locale)
    external_id = external_id.strip()
    # the channel as people know it (Telegram, 微信, 网页); an unknown name as typed
    key = f"purge.channel_{channel}"
    who = {"channel": c.plain(key) if c.has(key) else channel, "id": external_id}
    try:
        target, preview = asyncio.run(_preview(settings, channel, external_id, user_id))
    except NoSuchResident:
        print(c.plain("purge.not_found", **who), file=sys.stderr)
        return 1
    if receipt is not None:  # whose wish it is, before what will go
        print(c.plain("purge.of_receipt", receipt=receipt, **who))
    print(c.plain("purge.preview", **who))
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
    done = asyncio.run(_erase(settings, channel, external_id, user_id))
    print(c.plain("purge.done", **who))
    print(_counts(c, done))
    return 0


def _counts(c: Catalog, counts: PurgeCounts) -> str:
    text = c.plain("purge.counts", **asdict(counts))
    if counts.kept:
        text += "\n" + c.plain("purge.kept", kept=counts.kept)
    if counts.media:
        text += "\n" + c.plain("purge.media", media=counts.media)
    return text


async def _resident_of(settings: Settings, receipt: str) -> tuple[int, str, str]:
    from bot.app import open_database

    db = await open_database(settings)
    try:
        return await resident_of_receipt(db, receipt)
    finally:
        await db.close()


async def _preview(
    settings: Settings, channel: str, external_id: str, user_id: int | None = None
) -> tuple[PurgeTarget, PurgeCounts]:
    from bot.app import open_database

    db = await open_database(settings)
    try:
        return await purge_preview(db, channel, external_id, user_id)
    finally:
        await db.close()


async def _erase(
    settings: Settings, channel: str, external_id: str, user_id: int | None = None
) -> PurgeCounts:
    from bot.app import open_database

    db = await open_database(settings)
    try:
        # the photo files kept for them go too (web uploads, WeChat images)
        files = kept_photo_folders(settings.database, settings.wechat_media_dir)
        return await purge_resident(db, channel, external_id, files, user_id)
    finally:
        await db.close()
