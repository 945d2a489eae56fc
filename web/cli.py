"""`liaison-bot login-link` and `liaison-bot qr --web`: the operator's web commands."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.clock import SystemClock
from bot.i18n import Catalog
from bot.logins import LOGIN_LINK_MINUTES, create_link_code, create_login_link
from bot.operator import OperatorError, check_target
from bot.settings import Settings
from storage.db import Database
from storage.repositories import Repos
from storage.web import WebRepo


def login_link_command(settings: Settings, person: int) -> None:
    async def make() -> tuple[str, str, str]:
        db = Database(settings.database)
        await db.connect()
        try:
            async with db.read() as conn:
                user = await Repos(conn).user_by_external("telegram", str(person))
                worker = user is not None and await WebRepo(conn).is_worker(user.id)
            if user is None or not worker:
                raise OperatorError("person_not_worker", person=person)
            link = await create_login_link(db, SystemClock(), settings.web_url, user.id)
            # with WeChat on, also a code that links the person's WeChat (bot/logins.py)
            code = (
                await create_link_code(db, SystemClock(), user.id) if settings.wechat_app_id else ""
            )
            return user.display_name or str(person), link, code
        finally:
            await db.close()

    name, link, code = asyncio.run(make())
    c = Catalog(settings.locale)
    print(c.plain("operator.login_link", name=name, minutes=LOGIN_LINK_MINUTES, link=link))
    if code:
        print(c.plain("web.link_code", code=code, minutes=LOGIN_LINK_MINUTES))


def qr_web_command(settings: Settings, station: str, path: Path, force: bool = False) -> None:
    from bot.qr import render_qr

    if path.suffix.lower() != ".png":
        raise OperatorError("qr_suffix", path=path)
    check_target(path, force)

    async def name_of() -> str | None:
        db = Database(settings.database)
        await db.connect()
        try:
            async with db.read() as conn:
                found = {s.id: s.name for s in await Repos(conn).stations()}
        finally:
            await db.close()
        return found.get(station)

    name = asyncio.run(name_of())
    if name is None:
        raise OperatorError("no_station", station=station, database=settings.database)
    link = f"{settings.web_url}/s/{station}"
    path.write_bytes(render_qr(link, name, link))
    print(Catalog(settings.locale).plain("operator.qr_web_written", file=path, link=link))
