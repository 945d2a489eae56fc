"""Deployment settings: environment variables with the LIAISON_ prefix, or a .env file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.operator import (
    CatalogValueError,
    dotenv_names,
    explain_pydantic_error,
    normalize_base_url,
    normalize_locale,
    operator_catalog,
    unknown_variables,
)
from bot.pacing import Limits
from bot.retention import RetentionPolicy
from bot.throttle import PersonLimits

LOCALES = ("zh_CN", "en")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="LIAISON_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    telegram_token: str | None = None
    telegram_base_url: str = "https://api.telegram.org/bot"
    # The bot's @username, for deep links and QR codes made offline (`liaison-bot qr`); the
    # running bot asks Telegram (getMe) instead.
    bot_username: str | None = None
    database: Path = Path("liaison.db")
    # postgresql://user:password@host:port/dbname: PostgreSQL instead of the SQLite file, for
    # several processes sharing one database (README, "PostgreSQL"). Unset: SQLite.
    database_url: str | None = None
    stations_file: Path | None = None
    staff_ids: Annotated[tuple[int, ...], NoDecode] = ()
    locale: str = "zh_CN"
    timezone: str = "Asia/Shanghai"
    faq_file: Path | None = None
    # How long a resolved wish waits for a rating before it closes by itself.
    auto_close_days: int = Field(default=7, ge=1)
    # Supervision (督办): the staff's daily digest hour (local time), and the follow-ups of a
    # resolved wish: one rating reminder, one "is it really solved?" questionnaire (0: never).
    digest_hour: int = Field(default=9, ge=0, le=23)
    rating_reminder_days: int = Field(default=3, ge=0)
    followup_days: int = Field(default=30, ge=0)
    poll_timeout: int = Field(default=30, ge=0, le=50)
    # Privacy: pending input (a deputy's 回复, a broadcast being written) expires after this.
    input_timeout_minutes: int = Field(default=30, ge=1)
    # Retention (README, Privacy): delivered/failed outbox rows, message links of finished
    # wishes, idle sessions and FAQ misses are deleted after these periods.
    retention_outbox_days: int = Field(default=7, ge=1)
    retention_links_days: int = Field(default=30, ge=1)
    retention_session_hours: int = Field(default=24, ge=1)
    retention_faq_miss_days: int = Field(default=90, ge=1)
    # the photos of a wish (references and kept files) this long after it was finished
    retention_photos_days: int = Field(default=180, ge=1)

    def retention(self) -> RetentionPolicy:
        return RetentionPolicy(
            outbox_days=self.retention_outbox_days,
            links_days=self.retention_links_days,
            session_hours=self.retention_session_hours,
            faq_miss_days=self.retention_faq_miss_days,
            photos_days=self.retention_photos_days,
        )
    # How long one Bot API call may take before it counts as a network error (and is retried).
    http_timeout: float = Field(default=15.0, gt=0)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    # Telegram's limits; raise them only for a self-hosted Bot API server or paid broadcasts.
    rate_global: float = Field(default=30.0, gt=0)
    rate_per_chat: float = Field(default=1.0, gt=0)
    rate_chat_burst: int = Field(default=3, ge=1)
    rate_group_per_minute: float = Field(default=20.0, gt=0)
    # Per-person limits on residents' input (deputies, staff and county admins are exempt);
    # past them, one polite notice per limit_notice_minutes and the input is dropped. A rate of
    # 0 switches that limit off. See the README, "Per-person limits".
    limit_messages_per_minute: float = Field(default=20.0, ge=0)
    limit_message_burst: int = Field(default=10, ge=1)
    limit_presses_per_minute: float = Field(default=60.0, ge=0)
    limit_press_burst: int = Field(default=20, ge=1)
    limit_wishes_per_day: int = Field(default=5, ge=0)
    limit_notice_minutes: float = Field(default=10.0, ge=0)
    # How many updates (each of a different chat) are processed at once.
    max_concurrent_updates: int = Field(default=64, ge=1, le=1000)
    # The web channel (web/): served by `run` beside Telegram, or alone without a token.
    web_host: str = "127.0.0.1"
    web_port: int = Field(default=8080, ge=0, le=65535)
    # The address people reach it at (links, QR codes); http://WEB_HOST:WEB_PORT when unset.
    public_url: str | None = None
    # Signs the visitor cookie; generated once and kept in the database when unset.
    web_secret: str | None = None
    # The reverse proxies (addresses or networks, comma-separated) whose forwarded header
    # (web_forwarded_header) names the visitor's address; empty (the default): it is never
    # believed, since anyone can send them. See the README, "Deputies and staff on the web".
    web_trusted_proxies: Annotated[tuple[str, ...], NoDecode] = ()
    # The one header those proxies write with the visitor's address (nginx:
    # `proxy_set_header X-Real-IP $remote_addr;` or `proxy_set_header X-Forwarded-For
    # $proxy_add_x_forwarded_for;`); the other is never read, since a proxy passes a header it
    # does not set through from the client untouched (README, "Security").
    web_forwarded_header: Literal["x-real-ip", "x-forwarded-for"] = "x-real-ip"

    @property
    def web_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.web_host in ("0.0.0.0", "::", "") else self.web_host
        return f"http://{host}:{self.web_port}"

    # WeChat service account (服务号), README "WeChat": the channel is on when the app id is set.
    wechat_app_id: str | None = None
    wechat_app_secret: str | None = None
    wechat_token: str | None = None  # the Token of 服务器配置, for the push signature
    wechat_aes_key: str = ""  # EncodingAESKey (43 characters); empty: plaintext mode
    wechat_api_base_url: str = "https://api.weixin.qq.com"
    # access token from stable_token, falling back to cgi-bin/token where it is not offered
    # ("auto"), or only from one of them ("stable", "token")
    wechat_token_api: Literal["auto", "stable", "token"] = "auto"
    wechat_template_result: str = ""  # template id for a resolution (办结通知)
    wechat_template_reply: str = ""  # template id for a deputy's reply
    wechat_template_notice: str = ""  # template id for any other notice (回访, broadcasts)
    wechat_subscribe_result: str = ""  # one-time subscription template ids, same kinds
    wechat_subscribe_reply: str = ""
    wechat_subscribe_notice: str = ""
    # Template fields: template key = our value (heading, receipt, station, status, text, time),
    # comma-separated; empty: the default (wechat/fields.py). Per kind, or for every kind.
    wechat_template_fields: str = ""
    wechat_template_fields_result: str = ""
    wechat_template_fields_reply: str = ""
    wechat_template_fields_notice: str = ""
    wechat_subscribe_fields: str = ""
    wechat_subscribe_fields_result: str = ""
    wechat_subscribe_fields_reply: str = ""
    wechat_subscribe_fields_notice: str = ""
    wechat_msgmenu: bool = False  # certified accounts: choices as weixin://bizmsgmenu links
    wechat_media_dir: Path = Path("wechat_media")  # photos downloaded at intake

    def limits(self) -> Limits:
        return Limits(
            global_per_second=self.rate_global,
            per_chat_per_second=self.rate_per_chat,
            per_chat_burst=self.rate_chat_burst,
            group_per_minute=self.rate_group_per_minute,
        )

    def person_limits(self) -> PersonLimits:
        return PersonLimits(
            messages_per_minute=self.limit_messages_per_minute,
            message_burst=self.limit_message_burst,
            presses_per_minute=self.limit_presses_per_minute,
            press_burst=self.limit_press_burst,
            notice_seconds=self.limit_notice_minutes * 60,
        )

    @field_validator("staff_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [p.strip() for p in value.replace(";", ",").split(",")]
            try:
                return tuple(int(p) for p in parts if p)
            except ValueError as exc:
                raise CatalogValueError("staff_ids_shape") from exc
        if isinstance(value, int):
            return (value,)
        return value

    @field_validator("web_forwarded_header", mode="before")
    @classmethod
    def _forwarded_header(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value  # X-Real-IP as written

    @field_validator("web_trusted_proxies", mode="before")
    @classmethod
    def _proxies(cls, value: object) -> object:
        import ipaddress

        if isinstance(value, str):
            value = [p.strip() for p in value.replace(";", ",").split(",") if p.strip()]
        if isinstance(value, list | tuple):
            try:
                return tuple(str(ipaddress.ip_network(str(p), strict=False)) for p in value)
            except ValueError as exc:
                raise CatalogValueError("web_trusted_proxies_shape") from exc
        return value

    @field_validator("wechat_aes_key", mode="before")
    @classmethod
    def _wechat_aes_key(cls, value: object) -> object:
        # WeChat's console gives 43 letters and digits; anything else can never decrypt a push
        if isinstance(value, str):
            value = value.strip()
            if value and (len(value) != 43 or not value.isascii() or not value.isalnum()):
                raise CatalogValueError("wechat_aes_key_shape")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _log_level(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("telegram_token", mode="before")
    @classmethod
    def _strip_token(cls, value: object) -> object:
        # A token pasted with a trailing space or newline is the same token; its shape is
        # checked where it is needed (bot.operator.check_token), so `backup` never needs it.
        if isinstance(value, str):
            return value.strip() or None
        return value

    @field_validator("stations_file", "faq_file", "public_url", "web_secret", mode="before")
    @classmethod
    def _unset_when_empty(cls, value: object) -> object:
        # LIAISON_STATIONS_FILE= (empty) means unset, not the current directory.
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("database_url", mode="before")
    @classmethod
    def _postgres_url(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.strip()
            if not value:
                return None
            if not value.startswith(("postgresql://", "postgres://")):
                raise CatalogValueError("database_url_shape")
        return value

    def database_target(self) -> str | Path:
        """What `storage.db.Database` opens: the PostgreSQL URL when set, else the file."""
        return self.database_url or self.database

    def database_label(self, absolute: bool = False) -> str:
        """The database as messages name it: the file (its full path if `absolute`), or the
        URL without its password (operator messages and logs never carry a secret)."""
        if self.database_url is None:
            return str(self.database.absolute() if absolute else self.database)
        parts = urlsplit(self.database_url)
        if parts.password is None:
            return self.database_url
        host = parts.netloc.rpartition("@")[2]
        user = f"{parts.username}:***@" if parts.username else ":***@"
        return urlunsplit(parts._replace(netloc=user + host))

    @field_validator("telegram_base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return normalize_base_url(value)

    @field_validator("locale")
    @classmethod
    def _known_locale(cls, value: str) -> str:
        locale = normalize_locale(value)
        if locale is None:
            raise CatalogValueError("locale_unknown", value=value, choices=", ".join(LOCALES))
        return locale

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise CatalogValueError("timezone_unknown", value=value) from exc
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class SettingsError(Exception):
    """Invalid settings: each problem as (variable, explanation in the operator's locale)."""

    def __init__(self, problems: list[tuple[str, str]], text: str) -> None:
        super().__init__(text)
        self.problems = problems


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with errors that name the variable to fix, in
    LIAISON_LOCALE (read from the environment: the setting itself may be what is broken)."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        catalog = operator_catalog()
        problems = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]) or "?"
            problems.append((f"LIAISON_{field.upper()}", explain_pydantic_error(err, catalog)))
        lines = "\n  ".join(f"{name}: {why}" for name, why in problems)
        raise SettingsError(
            problems, catalog.plain("operator.settings_invalid") + "\n  " + lines
        ) from exc


def unknown_settings(
    environ: dict[str, str] | None = None, env_file: Path | None = Path(".env")
) -> list[tuple[str, str | None]]:
    """LIAISON_* variables in the environment or the .env file that no setting reads, each
    with a "did you mean" (a misspelt LIAISON_STATION_FILE is otherwise silently ignored)."""
    environ = dict(os.environ) if environ is None else environ
    names = [n for n in environ if n.upper().startswith("LIAISON_")]
    if env_file is not None:
        names += [n for n in dotenv_names(env_file) if n.upper().startswith("LIAISON_")]
    known = {f"LIAISON_{name.upper()}" for name in Settings.model_fields}
    return unknown_variables(names, known)
