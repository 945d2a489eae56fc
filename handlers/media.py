"""Telegram's own photos as a media source (bot/media.py): getFile, then the download.

Used where another channel shows a Telegram resident's photo (the web desk). Telegram photos
are re-encoded by Telegram (no EXIF); the web re-encodes again before serving anyway."""

from __future__ import annotations

import re

from telegram import Bot

from bot.media import MAX_PHOTO_BYTES, is_local_ref

# Telegram file ids are URL-safe base64; anything else is no file id of ours.
FILE_ID = re.compile(r"[A-Za-z0-9_-]{10,255}")


class TelegramMedia:
    def __init__(self, bot: Bot, max_bytes: int = MAX_PHOTO_BYTES) -> None:
        self.bot = bot
        self.max_bytes = max_bytes

    def handles(self, ref: str) -> bool:
        return not is_local_ref(ref) and FILE_ID.fullmatch(ref) is not None

    async def fetch(self, ref: str) -> bytes | None:
        file = await self.bot.get_file(ref)
        if file.file_size is not None and file.file_size > self.max_bytes:
            return None  # refused before downloading it
        data = await file.download_as_bytearray()
        return bytes(data) if len(data) <= self.max_bytes else None
