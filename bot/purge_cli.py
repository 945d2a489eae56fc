"""`liaison-bot purge --resident <telegram id | wechat:openid>`: erase one resident's personal
data on request (a WeChat resident's photos kept in LIAISON_WECHAT_MEDIA_DIR too).

Run by the operator with the bot's settings (it may run while the bot does: one short
transaction). Messages follow LIAISON_LOCALE through the catalog (locales/*/privacy.yaml).
"""

from __future__ import annotations

import asyncio
import logging
import re
import sys
from dataclasses import asdict
from pathlib import Path

from bot.i18n import Catalog
from bot.retention import NoSuchResident, purge_preview, purge_resident
from bot.settings import Settings
from storage.privacy import PurgeCounts, PurgeTarget

log = logging.getLogger(__name__)

CHANNEL = "telegram"
_OPENID = re.compile(r"^[A-Za-z0-9_-]{6,64}$")


def parse_resident(text: str) -> tuple[str, str] | None:
    """(channel, external id) of `--resident`: digits are a Telegram id, `wechat:<openid>` a
    WeChat resident; None for anything else."""
    text = text.strip()
    if text.isdigit() and len(text) <= 20:
        return CHANNEL, text
    prefix = "wechat:"
    if text.lower().startswith(prefix) and _OPENID.match(text[len(prefix) :]):
        return "wechat", text[len(prefix) :]
    return None


def _key(key: str, channel: str) -> str:
    """The WeChat wording of a message naming the person ("微信用户 …"), else Telegram's."""
    return f"{key}_wechat" if channel == "wechat" else key


def purge_command(
    settings: Settings, telegram_id: int | str, yes: bool, channel: str = CHANNEL
) -> int:
    c = Catalog(settings.locale)
    external_id = str(telegram_id)
    try:
        target, preview = asyncio.run(_preview(settings, external_id, channel))
    except NoSuchResident:
        print(c.plain(_key("purge.not_found", channel), id=external_id), file=sys.stderr)
        return 1
    print(c.plain(_key("purge.preview", channel), id=external_id))
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
    done = asyncio.run(_erase(settings, external_id, channel))
    _delete_media(settings.wechat_media_dir, done.media)
    print(c.plain(_key("purge.done", channel), id=external_id))
    print(_counts(c, done))
    return 0


def _counts(c: Catalog, counts: PurgeCounts) -> str:
    text = c.plain("purge.counts", **asdict(counts))
    if counts.wechat or counts.media:
        text += "\n" + c.plain("purge.counts_wechat", rows=counts.wechat, media=len(counts.media))
    return text


def _delete_media(media_dir: Path, names: tuple[str, ...]) -> None:
    """The kept WeChat photos of the erased wishes (names come from the database, checked to
    be plain file names so nothing outside the media directory can be touched)."""
    for name in names:
        if "/" in name or "\\" in name or name.startswith("."):
            continue
        try:
            (media_dir / name).unlink(missing_ok=True)
        except OSError as exc:
            log.warning("purge: a kept photo could not be deleted: %s", type(exc).__name__)


async def _preview(
    settings: Settings, external_id: str, channel: str = CHANNEL
) -> tuple[PurgeTarget, PurgeCounts]:
    from bot.app import open_database

    db = await open_database(settings)
    try:
        return await purge_preview(db, channel, external_id)
    finally:
        await db.close()


async def _erase(settings: Settings, external_id: str, channel: str = CHANNEL) -> PurgeCounts:
    from bot.app import open_database

    db = await open_database(settings)
    try:
        return await purge_resident(db, channel, external_id)
    finally:
        await db.close()
