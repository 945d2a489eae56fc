"""A wish's photos, whatever channel they came in by.

A photo is kept as the reference its channel gave it: a Telegram file id, `web:<upload id>` (a
re-encoded upload under the web data directory), `wechat-media:<sha256>` (an image downloaded at
intake). Each channel can send only its own kind, so a channel that meets another's reference
asks this registry for the bytes (Telegram then uploads them; the web desk serves them to those
allowed to see the wish). The composition root (bot/app.py) registers one source per channel;
nothing here knows a channel library.
"""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path
from typing import Protocol

log = logging.getLogger(__name__)

# Larger than any photo a channel stores (web uploads are re-encoded to <= 2048 px JPEG, Telegram
# photos are at most a few MB): a source refuses anything bigger rather than hold it in memory.
MAX_PHOTO_BYTES = 10 * 1024 * 1024

WEB_PREFIX = "web:"
WECHAT_PREFIX = "wechat-media:"


class MediaSource(Protocol):
    """One channel's photos, by reference."""

    def handles(self, ref: str) -> bool:
        """Whether `ref` is this channel's kind of reference."""
        ...

    async def fetch(self, ref: str) -> bytes | None:
        """The photo's bytes; None when it is gone (purged, missing, too big, unreachable)."""
        ...


class MediaRegistry:
    """Finds the source for a reference. Filled by the composition root."""

    def __init__(self, *sources: MediaSource) -> None:
        self._sources: list[MediaSource] = list(sources)

    def add(self, source: MediaSource) -> None:
        self._sources.append(source)

    def source_for(self, ref: str) -> MediaSource | None:
        return next((s for s in self._sources if s.handles(ref)), None)

    def handles(self, ref: str) -> bool:
        return self.source_for(ref) is not None

    async def fetch(self, ref: str) -> bytes | None:
        """Never raises: a photo that cannot be had is None, and the caller says so."""
        source = self.source_for(ref)
        if source is None:
            return None
        try:
            data = await source.fetch(ref)
        except Exception as exc:  # a source's failure must not lose the message it is part of
            log.warning("photo not fetched (%s): %s", type(source).__name__, type(exc).__name__)
            return None
        if data is not None and len(data) > MAX_PHOTO_BYTES:
            return None
        return data


def is_local_ref(ref: str) -> bool:
    """A reference to a file this process keeps (web upload, WeChat image), not a platform's."""
    return ref.startswith((WEB_PREFIX, WECHAT_PREFIX))


class FolderMedia:
    """Photos this process keeps as `<folder>/<id>.jpg`, referenced as `<prefix><id>` (web
    uploads, WeChat images). The id is checked against `pattern` before it names a file, so a
    reference can never reach outside the folder."""

    def __init__(self, prefix: str, folder: Path, pattern: str = r"[A-Za-z0-9_-]{1,128}") -> None:
        self.prefix = prefix
        self.folder = folder
        self._id = re.compile(pattern)

    def handles(self, ref: str) -> bool:
        return ref.startswith(self.prefix)

    def path_of(self, ref: str) -> Path | None:
        if not self.handles(ref):
            return None
        name = ref[len(self.prefix) :]
        return self.folder / f"{name}.jpg" if self._id.fullmatch(name) else None

    def remove(self, ref: str) -> bool:
        """Delete the file (a purge); False when there was none."""
        path = self.path_of(ref)
        if path is None:
            return False
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        return True

    async def fetch(self, ref: str) -> bytes | None:
        path = self.path_of(ref)
        if path is None:
            return None
        try:
            if path.stat().st_size > MAX_PHOTO_BYTES:
                return None
            return await asyncio.to_thread(path.read_bytes)
        except OSError:  # purged or never stored
            return None


def web_uploads(folder: Path) -> FolderMedia:
    return FolderMedia(WEB_PREFIX, folder)


def wechat_images(folder: Path) -> FolderMedia:
    return FolderMedia(WECHAT_PREFIX, folder, r"[0-9a-f]{64}")


def web_data_dir(database: Path) -> Path:
    """Where the web channel keeps its files: `web-data/` beside the SQLite database."""
    return database.absolute().parent / "web-data"


def kept_photo_folders(database: Path, wechat_media: Path) -> tuple[FolderMedia, FolderMedia]:
    """The folders of photo files this process keeps (for a purge run outside the server)."""
    return web_uploads(web_data_dir(database) / "uploads"), wechat_images(wechat_media)
