"""The message catalog: every user-facing string, Simplified Chinese by default, English too."""

from __future__ import annotations

import html
import string
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

DEFAULT_LOCALE = "zh_CN"


class Markup(str):
    """Text that is already safe HTML and must not be escaped again."""


def escape(value: object) -> str:
    if isinstance(value, Markup):
        return str(value)
    return html.escape(str(value), quote=False)


@lru_cache(maxsize=8)
def _load(locale: str) -> dict[str, str]:
    text = resources.files("bot.locales").joinpath(f"{locale}.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError(f"message catalog {locale} is not a mapping")
    return {str(k): str(v) for k, v in data.items()}


class Catalog:
    def __init__(self, locale: str = DEFAULT_LOCALE) -> None:
        self.locale = locale
        self._messages = _load(locale)
        self._fallback = _load(DEFAULT_LOCALE) if locale != DEFAULT_LOCALE else self._messages

    def _template(self, key: str) -> str:
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

    def has(self, key: str) -> bool:
        return key in self._messages or key in self._fallback

    def keys(self) -> set[str]:
        return set(self._messages)


def template_fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def catalog_keys(locale: str) -> dict[str, str]:
    return dict(_load(locale))
