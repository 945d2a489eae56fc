"""Photos residents upload: checked by content, re-encoded, stored under the data directory.

Pillow must recognise the bytes as an image (whatever the name or Content-Type say); the
picture is then re-encoded as a new JPEG from its pixels only, so nothing of the original file
survives: no EXIF (GPS position, camera, time), no comments, no trailing data.
"""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

MAX_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 40_000_000  # a decompression bomb is refused, not decoded
MAX_SIDE = 2048  # stored pictures are scaled down to this
FORMATS = {"JPEG", "PNG", "GIF", "WEBP", "BMP", "MPO"}


class UploadRejected(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # catalog key suffix: web.upload_<reason>


def reencode(data: bytes) -> bytes:
    if len(data) > MAX_BYTES:
        raise UploadRejected("too_big")
    try:
        with Image.open(io.BytesIO(data)) as probe:
            if probe.format not in FORMATS:
                raise UploadRejected("not_image")
            if probe.width * probe.height > MAX_PIXELS:  # small files can be huge pictures
                raise UploadRejected("too_many_pixels")
            probe.verify()
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            img = ImageOps.exif_transpose(img)  # keep the picture upright once EXIF is gone
            img = img.convert("RGB")
            img.thumbnail((MAX_SIDE, MAX_SIDE))
            clean = Image.new("RGB", img.size)
            clean.paste(img)
    except UploadRejected:
        raise
    except Image.DecompressionBombError as exc:
        raise UploadRejected("too_many_pixels") from exc
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise UploadRejected("not_image") from exc
    out = io.BytesIO()
    clean.save(out, "JPEG", quality=85, optimize=True)
    return out.getvalue()


def store(folder: Path, upload_id: str, jpeg: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{upload_id}.jpg"
    partial = path.with_suffix(".part")
    partial.write_bytes(jpeg)
    partial.replace(path)
    return path
