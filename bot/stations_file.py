"""The stations file: stations, categories, deputies and staff, as a station admin writes them.

Errors name the field and the line of the YAML file, and nothing is imported unless the whole
file is valid.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bot.domain.deadlines import DeadlinePolicy

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
            raise ValueError("use lower-case letters, digits, _ or - (at most 32)")
        return v


class DeputyConfig(_Strict):
    telegram_id: int = Field(gt=0)
    name: str = Field(min_length=1, max_length=30)
    categories: list[str] = Field(default_factory=list)


class StationConfig(_Strict):
    id: str
    name: str = Field(min_length=1, max_length=60)
    code: str
    address: str = ""
    reception: str = ""
    wall_chat_id: int | str | None = None
    staff: list[int] = Field(default_factory=list)
    deputies: list[DeputyConfig] = Field(default_factory=list)
    deadlines: StationDeadlinesConfig | None = None
    working_days_only: bool = False  # deadlines count Monday to Friday only

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        # The id is also the deep-link payload (t.me/<bot>?start=<id>): A-Z a-z 0-9 _ - only.
        if not _ID.match(v):
            raise ValueError("use lower-case letters, digits, _ or - (at most 32)")
        return v

    @field_validator("code")
    @classmethod
    def _code(cls, v: str) -> str:
        if not re.match(r"^[A-Z][A-Z0-9]{0,9}$", v):
            raise ValueError(
                "receipt code: 1-10 upper-case letters or digits, starting with a letter"
            )
        return v

    @field_validator("wall_chat_id")
    @classmethod
    def _wall(cls, v: int | str | None) -> int | str | None:
        if isinstance(v, str) and not re.match(r"^@[A-Za-z][A-Za-z0-9_]{3,}$", v):
            raise ValueError("a numeric chat id (-100...) or a public @channelname")
        return v


class StationsConfig(_Strict):
    categories: list[CategoryConfig] = Field(
        default_factory=lambda: [CategoryConfig(id=i, name=n) for i, n in DEFAULT_CATEGORIES]
    )
    stations: list[StationConfig] = Field(min_length=1)
    deadlines: DeadlinesConfig | None = None

    @model_validator(mode="after")
    def _consistent(self) -> StationsConfig:
        cat_ids = [c.id for c in self.categories]
        _unique(cat_ids, "categories", "category id")
        _unique([s.id for s in self.stations], "stations", "station id")
        _unique([s.code for s in self.stations], "stations", "station code")
        for si, station in enumerate(self.stations):
            _unique(
                [d.telegram_id for d in station.deputies], f"stations.{si}.deputies", "telegram_id"
            )
            for di, deputy in enumerate(station.deputies):
                for cat in deputy.categories:
                    if cat not in cat_ids:
                        raise _LocatedError(
                            f"stations.{si}.deputies.{di}.categories",
                            f"unknown category {cat!r} (known: {', '.join(cat_ids)})",
                        )
            if station.deadlines is not None:
                for cat in station.deadlines.categories:
                    if cat not in cat_ids:
                        raise _LocatedError(
                            f"stations.{si}.deadlines.categories",
                            f"unknown category {cat!r} (known: {', '.join(cat_ids)})",
                        )
            for cat in cat_ids:
                policy = self.deadline_policy(station.id, cat)
                if policy.accept_days > policy.resolve_days:
                    raise _LocatedError(
                        f"stations.{si}",
                        f"category {cat!r}: accept_days ({policy.accept_days}) is more than"
                        f" resolve_days ({policy.resolve_days})",
                    )
        return self

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
        """Every station's policy per category, and its default ('') for any other category."""
        return {
            (s.id, c): self.deadline_policy(s.id, c)
            for s in self.stations
            for c in ["", *(cat.id for cat in self.categories)]
        }


class _LocatedError(ValueError):
    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path


def _unique(values: list[Any], path: str, what: str) -> None:
    seen: set[Any] = set()
    for v in values:
        if v in seen:
            raise _LocatedError(path, f"duplicate {what} {v!r}")
        seen.add(v)


class StationsFileError(ValueError):
    pass


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


def parse_stations_yaml(text: str, source: str = "<stations file>") -> StationsConfig:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        raise StationsFileError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from exc
    if not isinstance(data, dict):
        raise StationsFileError(f"{source}: expected a mapping with a 'stations' list")
    try:
        return StationsConfig.model_validate(data)
    except ValidationError as exc:
        messages = []
        for err in exc.errors():
            loc: list[str | int] = [p for p in err["loc"] if isinstance(p, str | int)]
            msg = err["msg"].removeprefix("Value error, ")  # pydantic's prefix says nothing
            ctx_err = (err.get("ctx") or {}).get("error")
            if isinstance(ctx_err, _LocatedError):
                loc = [int(p) if p.isdigit() else p for p in ctx_err.path.split(".")]
                msg = str(ctx_err)
            line = _line_of(root, loc)
            field = ".".join(str(p) for p in loc) or "(top level)"
            messages.append(
                f"{source}:{line}: {field}: {msg}" if line else f"{source}: {field}: {msg}"
            )
        raise StationsFileError("\n".join(messages)) from exc


def load_stations_file(path: str | Path) -> StationsConfig:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise StationsFileError(f"{path}: cannot read: {exc.strerror}") from exc
    return parse_stations_yaml(text, str(path))
