"""PII masking for anything that may be seen by people other than the wish's own parties."""

from __future__ import annotations

import re
from collections.abc import Iterable

# Digits must not touch other digits, so a 18-digit ID is never read as a phone number.
_ID_CARD = re.compile(r"(?<![0-9A-Za-z])([1-9]\d{5})(\d{8})(\d{3}[\dXx])(?![0-9A-Za-z])")
_MOBILE = re.compile(r"(?<!\d)(?:\+?86[- ]?)?(1[3-9]\d)[- ]?(\d{4})[- ]?(\d{4})(?!\d)")
_LANDLINE = re.compile(r"(?<!\d)(0\d{2,3})[- ]?(\d{3,4})[- ]?(\d{4})(?!\d)")
_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*(@[A-Za-z0-9.-]+\.[A-Za-z]{2,})")


def mask_name(name: str) -> str:
    """张三丰 → 张**; keep the surname so the post still reads naturally."""
    name = name.strip()
    if len(name) <= 1:
        return "*"
    return name[0] + "*" * (len(name) - 1)


def name_variants(display_name: str) -> list[str]:
    """The ways a person's name may appear in their own text.

    Telegram profiles hold a first and a last name; Chinese names are written surname first and
    without a space ("小明" + "刘" is written 刘小明), Western ones the other way round.
    """
    parts = display_name.split()
    variants = {
        display_name.strip(),
        "".join(parts),
        "".join(reversed(parts)),
        " ".join(reversed(parts)),
        *parts,
    }
    return sorted((v for v in variants if len(v) >= 2), key=len, reverse=True)


def mask_pii(text: str, names: Iterable[str] = ()) -> str:
    text = _ID_CARD.sub(lambda m: m.group(1)[:3] + "*" * 11 + m.group(3)[-4:], text)
    text = _MOBILE.sub(lambda m: f"{m.group(1)}****{m.group(3)}", text)
    text = _LANDLINE.sub(lambda m: f"{m.group(1)}-****{m.group(3)}", text)
    text = _EMAIL.sub(lambda m: f"{m.group(1)}***{m.group(2)}", text)
    # Longest names first so "张三丰" is not half-masked by "张三".
    for name in sorted(
        {n.strip() for n in names if n and len(n.strip()) >= 2}, key=len, reverse=True
    ):
        text = text.replace(name, mask_name(name))
    return text


def mask_phone(phone: str) -> str:
    digits = re.sub(r"\D", "", phone)
    if len(digits) < 7:
        return "*" * len(digits)
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]
