"""`liaison-bot qr --station ID --wechat FILE.png`: the station's permanent WeChat QR code.

qrcode/create with QR_LIMIT_STR_SCENE and scene_str st_<station id> returns the code's content
(`url`); the PNG is drawn here from it (as WeChat's documentation allows, instead of fetching
showqrcode), with the station's name under it like the Telegram code."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.dispatcher import DeliveryError
from bot.i18n import Catalog
from bot.operator import OperatorError, check_target
from bot.qr import render_qr
from bot.settings import Settings


def scene_for(station_id: str) -> str:
    scene = f"st_{station_id}"
    if len(scene) > 64:  # QR_LIMIT_STR_SCENE takes 1 to 64 characters
        raise OperatorError("wechat_scene_too_long", station=station_id)
    return scene


def qr_wechat_command(settings: Settings, station: str, path: Path, force: bool = False) -> str:
    """Create the code through the API and write the PNG; returns the code's content."""
    from bot.app import open_database
    from storage.repositories import Repos
    from wechat.api import WeChatApi

    if path.suffix.lower() != ".png":
        raise OperatorError("qr_suffix", path=path)
    if not settings.wechat_app_id or not settings.wechat_app_secret:
        raise OperatorError("wechat_not_configured")
    check_target(path, force)
    scene = scene_for(station)

    async def make() -> tuple[bytes, str]:
        db = await open_database(settings)
        try:
            async with db.read() as conn:
                row = await Repos(conn).station(station)
        finally:
            await db.close()
        if row is None:
            raise OperatorError("no_station", station=station, database=settings.database)
        api = WeChatApi(
            settings.wechat_app_id or "",
            settings.wechat_app_secret or "",
            settings.wechat_api_base_url,
            token_api=settings.wechat_token_api,
        )
        try:
            code = await api.create_permanent_qr(scene)
        except DeliveryError as exc:  # only its description: never the URL with the token
            raise OperatorError("wechat_api_failed", error=exc.description) from exc
        finally:
            await api.close()
        label = Catalog(settings.locale).plain("wechat.qr_label")
        return render_qr(code.url, row.name, label), code.url

    png, url = asyncio.run(make())
    path.write_bytes(png)
    print(Catalog(settings.locale).plain("wechat.qr_written", scene=scene, path=path))
    return url
