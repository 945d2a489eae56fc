"""The message catalog: every user-facing string, Simplified Chinese by default, English too."""

from __future__ import annotations

import html
import string
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from bot.domain.variants import choose

DEFAULT_LOCALE = "zh_CN"


class Markup(str):
    """Text that is already safe HTML and must not be escaped again."""


def escape(value: object) -> str:
    if isinstance(value, Markup):
        return str(value)
    return html.escape(str(value), quote=False)


@lru_cache(maxsize=8)
def _load(locale: str) -> dict[str, str]:
    """All catalog files of a locale (one per feature), merged; a key may be defined once."""
    merged: dict[str, str] = {}
    folder = resources.files("bot.locales").joinpath(locale)
    for item in sorted(folder.iterdir(), key=lambda i: i.name):
        if not item.name.endswith(".yaml"):
            continue
        data = yaml.safe_load(item.read_text(encoding="utf-8")) or {}
        if not isinstance(data, dict):
            raise ValueError(f"message catalog {locale}/{item.name} is not a mapping")
        for key, value in data.items():
            if key in merged:
                raise ValueError(f"message {key!r} is defined twice in catalog {locale}")
            merged[str(key)] = str(value)
    if not merged:
        raise ValueError(f"no message catalog for locale {locale!r}")
    return merged


class Catalog:
    def __init__(self, locale: str = DEFAULT_LOCALE, missing: tuple[str, ...] = ()) -> None:
        self.locale = locale
        self._messages = _load(locale)
        self._fallback = _load(DEFAULT_LOCALE) if locale != DEFAULT_LOCALE else self._messages
        # what the channel this catalog words texts for lacks (bot/domain/variants.py)
        self.missing = missing
        self._worded: dict[tuple[str, ...], Catalog] = {}

    def worded(self, missing: tuple[str, ...]) -> Catalog:
        """This catalog for a channel lacking `missing`: every key then gives the variant
        written for that channel where there is one (`new.more~numbered`), Telegram's
        wording (the plain key) otherwise."""
        if missing == self.missing:
            return self
        if missing not in self._worded:
            self._worded[missing] = Catalog(self.locale, missing)
        return self._worded[missing]

    def _template(self, key: str) -> str:
        if self.missing:
            key = choose(key, self.missing, self.has)
        template = self._messages.get(key) or self._fallback.get(key)
        if template is None:
            raise KeyError(f"missing message {key!r}")
        return template

    def t(self, key: str, **params: Any) -> Markup:
        """An HTML message; every parameter is escaped unless it is Markup."""
        return Markup(self._template(key).format(**{k: escape(v) for k, v in params.items()}))

    def plain(self, key: str, **params: Any) -> str:
        """Plain text (button labels, callback answers): nothing is escaped or interpreted."""
        return self._template(key).format(**params)

    def variant(self, key: str, missing: tuple[str, ...] = ()) -> str:
        """The key of `key`'s wording for a channel lacking `missing` (bot/domain/variants.py):
        Telegram's, the plain key, when it lacks nothing."""
        return choose(key, missing, self.has) if missing else key

    def has(self, key: str) -> bool:
        return key in self._messages or key in self._fallback

    def keys(self) -> set[str]:
        return set(self._messages)


def template_fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def catalog_keys(locale: str) -> dict[str, str]:
    return dict(_load(locale))
