"""What the operator reads: exit codes, errors in LIAISON_LOCALE, and checks of the deployment.

Messages for the person running `liaison-bot` come from the catalog (locales/*/operator.yaml),
in LIAISON_LOCALE like everything else, so a Chinese operator reads Chinese. The locale is read
from the environment directly: a broken .env or another invalid setting must not silence the
message that explains it.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bot.i18n import DEFAULT_LOCALE, Catalog

# Exit statuses. 78 is EX_CONFIG from sysexits.h: deploy/liaison-bot.service lists it in
# RestartPreventExitStatus=, so a configuration error stops the unit instead of restarting it
# every few seconds for ever. 2 stays argparse's "wrong command line".
EXIT_OK = 0
EXIT_FAILURE = 1  # the command could not do its work (a file exists, a folder is missing, …)
EXIT_USAGE = 2
EXIT_CONFIG = 78
EXIT_INTERRUPTED = 130

# Environment variables with the LIAISON_ prefix that are read outside the settings.
EXTRA_VARIABLES = frozenset({"LIAISON_CJK_FONT"})

# A BotFather token: the bot's numeric id, a colon, and about 35 letters, digits, _ or -.
TOKEN_SHAPE = re.compile(r"^[0-9]{1,20}:[A-Za-z0-9_-]{30,60}$")


def normalize_locale(value: str) -> str | None:
    """zh_CN or en for the spellings people write (zh-CN, zh, en_US …); None if unknown."""
    value = value.strip().replace("-", "_").lower()
    if value in ("zh", "zh_cn", "zh_hans", "zh_hans_cn"):
        return "zh_CN"
    if value == "en" or value.startswith("en_"):
        return "en"
    return None


def operator_locale(environ: Mapping[str, str] | None = None) -> str:
    """LIAISON_LOCALE from the environment; Chinese when unset or not a locale we have."""
    environ = os.environ if environ is None else environ
    return normalize_locale(environ.get("LIAISON_LOCALE", "")) or DEFAULT_LOCALE


def operator_catalog(locale: str | None = None) -> Catalog:
    return Catalog(locale or operator_locale())


class OperatorError(Exception):
    """Something the operator must fix, as a catalog key: rendered in their language."""

    exit_code = EXIT_FAILURE

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.params = params

    def render(self, catalog: Catalog) -> str:
        return catalog.plain(f"operator.{self.key}", **self.params)


class ConfigError(OperatorError):
    """The deployment is misconfigured: restarting cannot help (exit status 78)."""

    exit_code = EXIT_CONFIG


class CatalogValueError(ValueError):
    """A validator's complaint as a catalog key, so pydantic errors can be told in the locale.

    pydantic keeps the exception in the error's ctx; `explain_pydantic_error` renders it."""

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(f"{key} {params}")
        self.key = key
        self.params = params


# pydantic's error types the operator meets in the settings and the stations file; any other
# keeps pydantic's (English) text rather than saying nothing.
_PYDANTIC_TYPES = {
    "missing": "err_missing",
    "extra_forbidden": "err_extra",
    "string_too_short": "err_too_short",
    "string_too_long": "err_too_long",
    "string_type": "err_not_text",
    "int_parsing": "err_not_int",
    "int_type": "err_not_int",
    "int_from_float": "err_not_int",
    "float_parsing": "err_not_number",
    "float_type": "err_not_number",
    "bool_parsing": "err_not_bool",
    "bool_type": "err_not_bool",
    "greater_than": "err_gt",
    "greater_than_equal": "err_ge",
    "less_than": "err_lt",
    "less_than_equal": "err_le",
    "too_short": "err_list_too_short",
    "list_type": "err_not_list",
    "dict_type": "err_not_mapping",
    "model_type": "err_not_mapping",
    "model_attributes_type": "err_not_mapping",
    "literal_error": "err_choice",
}


def explain_pydantic_error(err: Mapping[str, Any], catalog: Catalog) -> str:
    """One pydantic error (an item of ValidationError.errors()) in the catalog's language."""
    ctx = dict(err.get("ctx") or {})
    cause = ctx.get("error")
    if isinstance(cause, CatalogValueError):
        return catalog.plain(f"operator.{cause.key}", **cause.params)
    key = _PYDANTIC_TYPES.get(str(err.get("type")))
    if key is not None:
        try:
            return catalog.plain(f"operator.{key}", **ctx)
        except (KeyError, IndexError):  # a template wanting a value this error lacks
            pass
    return str(err.get("msg", "")).removeprefix("Value error, ")


def check_token(token: str | None) -> str:
    """The token, whitespace removed, if it has BotFather's shape; else a ConfigError that
    says what is wrong without ever repeating the token (it is a password)."""
    token = (token or "").strip()
    if not token:
        raise ConfigError("token_missing")
    if TOKEN_SHAPE.match(token):
        return token
    if any(ch.isspace() for ch in token):
        raise ConfigError("token_shape_space")
    head, colon, tail = token.partition(":")
    if not colon or not head.isdigit():
        raise ConfigError("token_shape_id")
    raise ConfigError("token_shape_secret", length=len(tail))


def normalize_base_url(url: str) -> str:
    """The Bot API base URL PTB appends the token to: http(s)://host[:port]/…/bot.

    A bare server address (http://localhost:8081, as a self-hosted server's docs give it) gets
    the /bot it needs; any other path that does not end in /bot is refused, since every
    request would go to a wrong address and look like a network error for ever."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CatalogValueError("base_url_shape", url=_safe_url(url))
    if parts.query or parts.fragment:
        raise CatalogValueError("base_url_shape", url=_safe_url(url))
    path = parts.path.rstrip("/")
    if path == "":
        path = "/bot"
    elif not path.endswith("/bot"):
        # "/bot123:ABC…": a URL with the token pasted in; never echo it.
        raise CatalogValueError("base_url_path", url=_safe_url(url))
    return f"{parts.scheme}://{parts.netloc}{path}"


def _safe_url(url: str) -> str:
    """The URL as far as it can be shown: a pasted token (digits:secret) is cut off."""
    match = re.search(r"[0-9]+:[A-Za-z0-9_-]{10,}", url)
    return url[: match.start()] + "…" if match else url


def base_url_host(url: str) -> str:
    """host[:port] of a base URL, for log lines (the token is never part of it)."""
    return urlsplit(url).netloc or url


def unknown_variables(names: Iterable[str], known: Iterable[str]) -> list[tuple[str, str | None]]:
    """LIAISON_* names nobody reads, each with the closest known name if it looks like a typo
    (LIAISON_STATION_FILE → LIAISON_STATIONS_FILE)."""
    known = set(known) | EXTRA_VARIABLES
    result = []
    for name in sorted(set(names)):
        upper = name.upper()
        if not upper.startswith("LIAISON_") or upper in known:
            continue
        close = difflib.get_close_matches(upper, sorted(known), n=1, cutoff=0.75)
        result.append((name, close[0] if close else None))
    return result


def dotenv_names(path: Path) -> list[str]:
    """The variable names a .env file sets (what pydantic-settings would read from it)."""
    try:
        from dotenv import dotenv_values
    except ImportError:  # pydantic-settings depends on python-dotenv; be safe anyway
        return []
    if not path.is_file():
        return []
    return [name for name in dotenv_values(path) if name]


def check_target(path: Path, force: bool) -> None:
    """backup, export and qr write one new file: its folder must exist (a mistyped folder is
    not created behind the operator's back), and an existing file is replaced only with
    --force, the same rule for all three."""
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise OperatorError("folder_missing", folder=folder.absolute())
    if path.is_dir():
        raise OperatorError("target_is_folder", path=path)
    if path.exists() and not force:
        raise OperatorError("file_exists", path=path)
