"""The station's QR code (码上找代表): the deep link, with the station's name printed under it."""

from __future__ import annotations

import io
import logging

from bot.chart import cjk_font

log = logging.getLogger(__name__)

SCALE = 20  # pixels per module: a short link gives a ~600 px code, sharp when printed
BORDER = 4  # the quiet zone the standard asks for, in modules
MARGIN = 24


def deep_link(username: str, station_id: str) -> str:
    """https://t.me/<bot>?start=<station id>: opens the bot with the station chosen."""
    return f"https://t.me/{username.lstrip('@')}?start={station_id}"


def _font(size: int):  # type: ignore[no-untyped-def]
    from PIL import ImageFont

    path = cjk_font()
    if path is not None:
        return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size)


def _fit(draw, text: str, width: int, size: int):  # type: ignore[no-untyped-def]
    """The largest font size up to `size` at which `text` fits in `width` pixels."""
    while size > 12:
        font = _font(size)
        left, _, right, _ = draw.textbbox((0, 0), text, font=font)
        if right - left <= width:
            return font
        size -= 2
    return _font(size)


def render_qr(link: str, name: str, label: str = "") -> bytes:
    """A PNG: the QR code of `link`, the station's `name` under it, then a smaller `label`."""
    import segno
    from PIL import Image, ImageDraw

    code = segno.make_qr(link, error="m")
    raw = io.BytesIO()
    code.save(raw, kind="png", scale=SCALE, border=BORDER)
    raw.seek(0)
    qr_image = Image.open(raw).convert("RGB")
    width = max(qr_image.width, 600)
    probe = ImageDraw.Draw(qr_image)
    name_font = _fit(probe, name, width - 2 * MARGIN, 44)
    label_font = _fit(probe, label, width - 2 * MARGIN, 28) if label else None
    lines = [(name, name_font)] + ([(label, label_font)] if label else [])
    heights = []
    for text, font in lines:
        top, bottom = probe.textbbox((0, 0), text, font=font)[1::2]
        heights.append(bottom - top)
    text_height = sum(heights) + MARGIN * (len(lines) + 1)
    canvas = Image.new("RGB", (width, qr_image.height + text_height), "white")
    canvas.paste(qr_image, ((width - qr_image.width) // 2, 0))
    draw = ImageDraw.Draw(canvas)
    y = qr_image.height
    for (text, font), height in zip(lines, heights, strict=True):
        left, top, right, _ = draw.textbbox((0, 0), text, font=font)
        draw.text(((width - (right - left)) // 2 - left, y - top), text, fill="black", font=font)
        y += height + MARGIN
    out = io.BytesIO()
    canvas.save(out, format="PNG", dpi=(300, 300))
    return out.getvalue()
