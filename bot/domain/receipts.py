"""Receipt numbers: `<CODE>-<YYYY>-<NNNN>`, per station and year, without gaps."""

from __future__ import annotations

import re

_RECEIPT = re.compile(r"^([A-Z][A-Z0-9]{0,9})-(\d{4})-(\d{4,})$")


def format_receipt(code: str, year: int, seq: int) -> str:
    if seq < 1:
        raise ValueError("receipt sequence starts at 1")
    return f"{code}-{year:04d}-{seq:04d}"


def parse_receipt(text: str) -> tuple[str, int, int] | None:
    """Parse a receipt typed by a person (any case, surrounding spaces, full-width dashes)."""
    cleaned = text.strip().upper().replace("－", "-").replace("—", "-").replace("–", "-")
    m = _RECEIPT.match(cleaned)
    if not m:
        return None
    return m.group(1), int(m.group(2)), int(m.group(3))


def normalize_receipt(text: str) -> str | None:
    parsed = parse_receipt(text)
    return format_receipt(*parsed) if parsed else None
