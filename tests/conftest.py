"""Shared fixtures: a real SQLite file, a controllable clock, a two-station county."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, settings

from bot.clock import ManualClock
from bot.i18n import Catalog
from bot.services import Identity, Liaison
from bot.stations_file import StationsConfig, parse_stations_yaml
from storage.db import Database
from tests.engines import database_target, drop_schemas

# Property tests check what holds, not how fast: on a loaded 2-core CI machine the default
# 200 ms deadline and the "generation is slow" health check fail for reasons of load alone.
settings.register_profile("ci", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci")

# The web channel listens on any free port in tests (and in the bots they start as processes):
# the machine runs several suites at once, and 8080 may be taken.
os.environ.setdefault("LIAISON_WEB_PORT", "0")

# Two stations, three deputies at the first, one at the second; the county admin is 990001.
STATIONS_YAML = """
categories:
  - {id: traffic, name: 道路交通}
  - {id: environment, name: 环境卫生}
  - {id: housing, name: 住房物业}
  - {id: pension, name: 社会保障}
stations:
  - id: huimin
    name: 惠民社区代表联络站
    code: HM
    address: 联山街道惠民社区党群服务中心
    reception: 每周三上午 9:00-11:30
    wall_chat_id: -1001000000001
    staff: [900001]
    deputies:
      - {telegram_id: 800001, name: 张代表, categories: [traffic]}
      - {telegram_id: 800002, name: 李代表}
      - {telegram_id: 800003, name: 王代表, categories: [environment, traffic]}
  - id: xingyuan
    name: 星苑社区代表联络站
    code: XY
    address: 星苑社区服务站二楼
    reception: 每周五下午 2:00-5:00
    wall_chat_id: -1001000000002
    staff: [900002]
    deputies:
      - {telegram_id: 800011, name: 赵代表, categories: [housing]}
"""

ADMIN_ID = 990001
TZ = ZoneInfo("Asia/Shanghai")


@pytest.fixture(scope="session", autouse=True)
def _postgres_schemas() -> Iterator[None]:
    """On PostgreSQL, each test's schema is dropped when the session ends."""
    yield
    drop_schemas()


@pytest.fixture
def config() -> StationsConfig:
    return parse_stations_yaml(STATIONS_YAML)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(database_target(tmp_path))
    await database.connect()
    yield database
    await database.close()


@pytest.fixture
async def liaison(db: Database, clock: ManualClock, config: StationsConfig) -> Liaison:
    service = Liaison(db, Catalog("zh_CN"), clock, TZ, admins=[("telegram", str(ADMIN_ID))])
    await service.directory.sync_config(config)
    return service


def person(tg_id: int, name: str = "") -> Identity:
    return Identity(
        channel="telegram", external_id=str(tg_id), chat_id=str(tg_id), display_name=name or None
    )
