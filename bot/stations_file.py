"""The stations file: stations, categories, deputies and staff, as a station admin writes them.

Every problem of a file is reported at once, each with its line (the duplicate itself, not the
first occurrence), a human path counted from 1 (`stations #2 › code`) and a message in the
operator's locale; nothing is imported unless the whole file is valid.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from bot.domain.deadlines import DeadlinePolicy
from bot.i18n import Catalog
from bot.operator import CatalogValueError, explain_pydantic_error, operator_catalog

DEFAULT_CATEGORIES: tuple[tuple[str, str], ...] = (
    ("traffic", "道路交通"),
    ("environment", "环境卫生"),
    ("housing", "住房物业"),
    ("social_security", "社会保障"),
    ("education", "教育医疗"),
    ("public_safety", "公共安全"),
    ("economy", "经济发展"),
    ("other", "其他"),
)

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class DeadlinesConfig(_Strict):
    """Days to accept and to resolve a wish (督办时限); a level leaves out what it inherits."""

    accept_days: int | None = Field(default=None, ge=1, le=365)
    resolve_days: int | None = Field(default=None, ge=1, le=3650)


class StationDeadlinesConfig(DeadlinesConfig):
    categories: dict[str, DeadlinesConfig] = Field(default_factory=dict)


class CategoryConfig(_Strict):
    id: str
    name: str = Field(min_length=1, max_length=30)
    deadlines: DeadlinesConfig | None = None

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not _ID.match(v):
            raise CatalogValueError("stations_id_shape")
        return v


# The name the stations file gives Telegram: of the ids under `telegram_id:` and the bare numbers
# under `staff:` (the older forms), and of the chat `wall_chat_id` names (a Telegram channel or
# group, the station's 回音壁). The core takes it from here rather than deciding by a channel name.
TELEGRAM = "telegram"
# The channels a person's account can be on, and the shape of an id in each.
ACCOUNT_CHANNELS: dict[str, re.Pattern[str]] = {
    TELEGRAM: re.compile(r"^[1-9][0-9]{0,19}$"),  # a Telegram user id
    "wechat": re.compile(r"^[A-Za-z0-9_-]{6,64}$"),  # an official-account openid (o6_…)
    "web": re.compile(r"^[A-Za-z0-9_-]{6,64}$"),  # a web login id given by the operator
}


class AccountConfig(_Strict):
    """One way a deputy or staff member reaches the station: {channel: telegram, id: "800001"}."""

    channel: str
    id: str

    @field_validator("id", mode="before")
    @classmethod
    def _id_text(cls, v: object) -> object:
        # A Telegram id written without quotes is read by YAML as a number: the same id.
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v

    @field_validator("channel")
    @classmethod
    def _channel(cls, v: str) -> str:
        if v not in ACCOUNT_CHANNELS:
            raise CatalogValueError("stations_account_channel", known=", ".join(ACCOUNT_CHANNELS))
        return v

    @model_validator(mode="after")
    def _shape(self) -> AccountConfig:
        if not ACCOUNT_CHANNELS[self.channel].match(self.id):
            raise CatalogValueError("stations_account_id", channel=self.channel)
        return self

    @property
    def key(self) -> tuple[str, str]:
        return self.channel, self.id


def _all_accounts(telegram_id: int | None, accounts: list[AccountConfig]) -> list[tuple[str, str]]:
    """`telegram_id` first (the older form), then `accounts`, each once."""
    keys = [(TELEGRAM, str(telegram_id))] if telegram_id is not None else []
    return list(dict.fromkeys([*keys, *(a.key for a in accounts)]))


class DeputyConfig(_Strict):
    telegram_id: int | None = Field(default=None, gt=0)
    accounts: list[AccountConfig] = Field(default_factory=list)
    name: str = Field(min_length=1, max_length=30)
    categories: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _reachable(self) -> DeputyConfig:
        if self.telegram_id is None and not self.accounts:
            raise CatalogValueError("stations_no_account")
        return self

    def all_accounts(self) -> list[tuple[str, str]]:
        return _all_accounts(self.telegram_id, self.accounts)


class StaffConfig(_Strict):
    """A staff member with their accounts; a bare number in `staff:` is a Telegram id."""

    accounts: list[AccountConfig] = Field(min_length=1)

    def all_accounts(self) -> list[tuple[str, str]]:
        return _all_accounts(None, self.accounts)


def staff_accounts(member: StaffConfig) -> list[tuple[str, str]]:
    return member.all_accounts()


class StationConfig(_Strict):
    id: str
    name: str = Field(min_length=1, max_length=60)
    code: str
    address: str = ""
    reception: str = ""
    wall_chat_id: int | str | None = None
    staff: list[StaffConfig] = Field(default_factory=list)
    deputies: list[DeputyConfig] = Field(default_factory=list)
    deadlines: StationDeadlinesConfig | None = None
    working_days_only: bool = False  # deadlines count Monday to Friday only

    @field_validator("staff", mode="before")
    @classmethod
    def _plain_staff(cls, v: object) -> object:
        # The older form, a list of Telegram ids: each is a staff member with that one account
        # (a text that is no id is then told as a bad Telegram id, which is what was meant).
        if not isinstance(v, list):
            return v
        return [
            {"accounts": [{"channel": TELEGRAM, "id": m}]}
            if isinstance(m, int | str) and not isinstance(m, bool)
            else m
            for m in v
        ]

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        # The id is also the deep-link payload (t.me/<bot>?start=<id>): A-Z a-z 0-9 _ - only.
        if not _ID.match(v):
            raise CatalogValueError("stations_id_shape")
        return v

    @field_validator("code")
    @classmethod
    def _code(cls, v: str) -> str:
        if not re.match(r"^[A-Z][A-Z0-9]{0,9}$", v):
            raise CatalogValueError("stations_code_shape")
        return v

    @field_validator("wall_chat_id")
    @classmethod
    def _wall(cls, v: int | str | None) -> int | str | None:
        if isinstance(v, str) and not re.match(r"^@[A-Za-z][A-Za-z0-9_]{3,}$", v):
            raise CatalogValueError("stations_wall_shape")
        return v


class StationsConfig(_Strict):
    categories: list[CategoryConfig] = Field(
        default_factory=lambda: [CategoryConfig(id=i, name=n) for i, n in DEFAULT_CATEGORIES]
    )
    stations: list[StationConfig] = Field(min_length=1)
    deadlines: DeadlinesConfig | None = None

    def deadline_policy(self, station_id: str, category_id: str = "") -> DeadlinePolicy:
        """Built-in defaults < top level < category < station < the station's category."""
        policy = DeadlinePolicy()
        levels: list[DeadlinesConfig | None] = [self.deadlines]
        levels += [c.deadlines for c in self.categories if c.id == category_id]
        station = next((s for s in self.stations if s.id == station_id), None)
        if station is not None:
            policy = policy.merged(working_days_only=station.working_days_only)
            levels.append(station.deadlines)
            if station.deadlines is not None:
                levels.append(station.deadlines.categories.get(category_id))
        for level in levels:
            if level is not None:
                policy = policy.merged(level.accept_days, level.resolve_days)
        return policy

    def deadline_policies(self) -> dict[tuple[str, str], DeadlinePolicy]:
        """Every station's policy per category, and its default ('') for any other category.

        The same merge as `deadline_policy`, with categories looked up by id once instead of
        searching the lists for every station and category (quadratic for a province).
        """
        category_levels = {c.id: c.deadlines for c in reversed(self.categories)}
        result = {}
        for s in self.stations:
            own = s.deadlines.categories if s.deadlines is not None else {}
            for c in ["", *(cat.id for cat in self.categories)]:
                policy = DeadlinePolicy().merged(working_days_only=s.working_days_only)
                levels = [self.deadlines]
                if c in category_levels:
                    levels.append(category_levels[c])
                levels += [s.deadlines, own.get(c)]
                for level in levels:
                    if level is not None:
                        policy = policy.merged(level.accept_days, level.resolve_days)
                result[(s.id, c)] = policy
        return result


class StationsFileError(ValueError):
    pass


class StationsFileUnreadable(StationsFileError):
    """The file itself could not be read (missing, a folder, unreadable): its message says it
    all, with no "invalid content" heading above it."""


def _line_of(root: yaml.Node | None, path: list[str | int]) -> int | None:
    """Follow a validation error's path through the YAML node tree to its line (1-based)."""
    node = root
    line = node.start_mark.line + 1 if node is not None else None
    for key in path:
        if isinstance(node, yaml.MappingNode):
            nxt = next((v for k, v in node.value if getattr(k, "value", None) == key), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            nxt = node.value[key]
        else:
            nxt = None
        if nxt is None:
            break
        node = nxt
        line = node.start_mark.line + 1
    return line


Loc = tuple[str | int, ...]


def _items(data: object, key: str) -> list[tuple[int, dict[str, Any]]]:
    """The mappings of a list in the raw data, with their index; anything malformed is left
    to pydantic to report."""
    value = data.get(key) if isinstance(data, dict) else None
    if not isinstance(value, list):
        return []
    return [(i, item) for i, item in enumerate(value) if isinstance(item, dict)]


def _hashable(value: object) -> bool:
    return isinstance(value, str | int) and not isinstance(value, bool)


def _consistency(
    data: dict[str, Any], root: yaml.Node | None
) -> list[tuple[Loc, CatalogValueError]]:
    """Checks across entries (duplicates, unknown categories), on the raw data so they are
    reported even when some fields are invalid too; each duplicate at its own place."""
    problems: list[tuple[Loc, CatalogValueError]] = []

    def unique(items: list[tuple[Loc, object]]) -> None:
        first: dict[object, Loc] = {}
        for loc, value in items:
            if not _hashable(value):
                continue
            value = value.strip() if isinstance(value, str) else value  # as the model reads it
            if value in first:
                line = _line_of(root, list(first[value]))
                problems.append(
                    (loc, CatalogValueError("stations_duplicate", value=value, line=line))
                )
            else:
                first[value] = loc

    if "categories" in data:
        categories = _items(data, "categories")
        cat_ids: list[Any] | None = [c.get("id") for _, c in categories]
        unique([(("categories", i, "id"), c.get("id")) for i, c in categories])
        if not isinstance(data["categories"], list):
            cat_ids = None  # pydantic reports the list itself; naming every use would be noise
    else:
        cat_ids = [i for i, _ in DEFAULT_CATEGORIES]
    known = ", ".join(str(c) for c in cat_ids or [] if _hashable(c))
    stations = _items(data, "stations")
    unique([(("stations", i, "id"), s.get("id")) for i, s in stations])
    unique([(("stations", i, "code"), s.get("code")) for i, s in stations])
    for si, station in stations:
        deputies = _items(station, "deputies")
        unique([(("stations", si, "deputies", di, "telegram_id"), d.get("telegram_id")) for di, d in deputies])  # fmt: skip
        problems += _account_clashes(root, si, deputies)
        for di, deputy in deputies:
            wanted = deputy.get("categories")
            for ci, cat in enumerate(wanted if isinstance(wanted, list) else []):
                if cat_ids is not None and _hashable(cat) and cat not in cat_ids:
                    loc: Loc = ("stations", si, "deputies", di, "categories", ci)
                    problems.append(
                        (loc, CatalogValueError("stations_unknown_category", category=cat, known=known))
                    )  # fmt: skip
        deadlines = station.get("deadlines")
        per_category = deadlines.get("categories") if isinstance(deadlines, dict) else None
        for cat in per_category if isinstance(per_category, dict) else {}:
            if cat_ids is not None and _hashable(cat) and cat not in cat_ids:
                loc = ("stations", si, "deadlines", "categories", cat)
                problems.append(
                    (loc, CatalogValueError("stations_unknown_category", category=cat, known=known))
                )
    return problems


def _account_clashes(
    root: yaml.Node | None, si: int, deputies: list[tuple[int, dict[str, Any]]]
) -> list[tuple[Loc, CatalogValueError]]:
    """An account (from `accounts:` or `telegram_id`) named for two deputies of one station,
    reported where the second names it. Same-`telegram_id` pairs are reported by the older
    check already; one deputy naming an account twice is harmless."""
    problems: list[tuple[Loc, CatalogValueError]] = []
    first: dict[tuple[str, str], tuple[int, Loc]] = {}
    for di, deputy in deputies:
        named: list[tuple[Loc, tuple[str, str], bool]] = []
        if _hashable(deputy.get("telegram_id")):
            loc: Loc = ("stations", si, "deputies", di, "telegram_id")
            named.append((loc, (TELEGRAM, str(deputy["telegram_id"]).strip()), True))
        accounts = deputy.get("accounts")
        for ai, acc in enumerate(accounts if isinstance(accounts, list) else []):
            if isinstance(acc, dict) and _hashable(acc.get("channel")) and _hashable(acc.get("id")):
                key = (str(acc["channel"]).strip(), str(acc["id"]).strip())
                named.append((("stations", si, "deputies", di, "accounts", ai, "id"), key, False))
        for loc, key, legacy in named:
            seen = first.get(key)
            if seen is None:
                first[key] = (di, loc)
            elif seen[0] != di and not (legacy and seen[1][-1] == "telegram_id"):
                line = _line_of(root, list(seen[1]))
                problems.append(
                    (loc, CatalogValueError("stations_duplicate", value=key[1], line=line))
                )
    return problems


def _deadline_problems(config: StationsConfig) -> list[tuple[Loc, CatalogValueError]]:
    """Deadlines that cannot both hold, checked on a valid file (they need its inheritance)."""
    problems: list[tuple[Loc, CatalogValueError]] = []
    for si, station in enumerate(config.stations):
        for cat in [c.id for c in config.categories]:
            policy = config.deadline_policy(station.id, cat)
            if policy.accept_days > policy.resolve_days:
                error = CatalogValueError(
                    "stations_deadlines_order",
                    category=cat,
                    accept=policy.accept_days,
                    resolve=policy.resolve_days,
                )
                problems.append((("stations", si), error))
    return problems


_FIELDS = sorted(
    {
        name
        for model in (
            StationsConfig, StationConfig, DeputyConfig, CategoryConfig, StationDeadlinesConfig,
            AccountConfig, StaffConfig,
        )
        for name in model.model_fields
    }
)  # fmt: skip


def human_path(loc: Loc, catalog: Catalog) -> str:
    """stations #2 › deputies #1 › categories: list positions counted from 1, as people do."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += " " + catalog.plain("operator.path_index", n=part + 1)
        else:
            text += (" › " if text else "") + part
    return text or catalog.plain("operator.path_top")


def parse_stations_yaml(
    text: str, source: str = "<stations file>", catalog: Catalog | None = None
) -> StationsConfig:
    c = catalog or operator_catalog()
    try:
        # Parsed once: the node tree (for line numbers) and the data built from it; with
        # libyaml's parser when PyYAML has it (a province's file is tens of thousands of lines).
        loader = _Loader(text)
        try:
            root = loader.get_single_node()
            data = loader.construct_document(root) if root is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = getattr(exc, "problem", None) or str(exc)  # PyYAML's own words
        raise StationsFileError(
            c.plain("operator.stations_yaml", where=where, problem=problem)
        ) from exc
    if not isinstance(data, dict):
        raise StationsFileError(c.plain("operator.stations_not_mapping", source=source))
    problems: list[tuple[Loc, str]] = []
    config: StationsConfig | None = None
    try:
        config = StationsConfig.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            loc: Loc = tuple(p for p in err["loc"] if isinstance(p, str | int))
            message = explain_pydantic_error(err, c)
            if err["type"] == "extra_forbidden" and loc and isinstance(loc[-1], str):
                close = difflib.get_close_matches(loc[-1], _FIELDS, n=1, cutoff=0.7)
                if close:
                    message += c.plain("operator.did_you_mean", name=close[0])
            problems.append((loc, message))
    checks = _consistency(data, root)
    if config is not None:
        checks += _deadline_problems(config)
    problems += [(loc, explain_pydantic_error({"ctx": {"error": e}}, c)) for loc, e in checks]
    if config is not None and not problems:
        return config
    located = []
    for loc, message in problems:
        line = _line_of(root, list(loc))
        where = f"{source}:{line}" if line else source
        located.append((line or 0, f"{where}: {human_path(loc, c)}: {message}"))
    ordered = [m for _, m in sorted(dict.fromkeys(located), key=lambda x: x[0])]
    raise StationsFileError("\n".join(ordered))


def load_stations_file(
    path: str | Path, catalog: Catalog | None = None, *, from_command_line: bool = False
) -> StationsConfig:
    """`from_command_line`: the path was given to `check` / `import`, not by
    LIAISON_STATIONS_FILE (a missing file then says so, not that the setting is wrong)."""
    c = catalog or operator_catalog()
    path = Path(path)
    if path.is_dir():
        # What Docker leaves when a missing file is bind-mounted: say so, not "Is a directory".
        raise StationsFileUnreadable(c.plain("operator.stations_is_folder", path=path))
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        key = "operator.stations_missing_cli" if from_command_line else "operator.stations_missing"
        raise StationsFileUnreadable(c.plain(key, path=path)) from exc
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise StationsFileUnreadable(
            c.plain("operator.stations_unreadable", path=path, reason=reason)
        ) from exc
    return parse_stations_yaml(text, str(path), c)
