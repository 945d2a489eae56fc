"""Starting and stopping the web channel's HTTP server (called by the composition root)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bot.cards import Cards
from bot.clock import Clock
from bot.i18n import Catalog
from bot.media import MediaRegistry, web_data_dir, web_uploads
from bot.settings import Settings
from storage.db import Database
from storage.web import WebRepo
from web.channel import WebChannel
from web.chat import WebChat
from web.security import Signer, networks
from web.server import WebContext, create_app, web_secret

log = logging.getLogger(__name__)


@dataclass
class WebServer:
    ctx: WebContext
    host: str
    port: int
    # Other adapters served by the same server (the WeChat webhook on /wechat): each is given
    # the aiohttp app when it is created, before it starts listening.
    attachments: list[Callable[[web.Application], None]] = field(default_factory=list)
    _runner: web.AppRunner | None = None

    @property
    def channel(self) -> WebChannel:
        return self.ctx.channel

    @property
    def url(self) -> str:
        return self.ctx.public_url

    async def start(self) -> None:
        # No access log: paths carry receipts and one-time login tokens.
        app = create_app(self.ctx)
        for attach in self.attachments:
            attach(app)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=2)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        if self.port == 0:  # tests ask for any free port: find out which one
            server = self._runner.server
            assert server is not None
            for site in self._runner.sites:
                sock = site._server.sockets[0]  # type: ignore[union-attr]
                self.port = sock.getsockname()[1]
            self.ctx.public_url = self.ctx.public_url.replace(":0", f":{self.port}", 1)
        log.info("web channel listening on %s:%s", self.host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


async def build_web(
    settings: Settings, db: Database, catalog: Catalog, clock: Clock, liaison: Any, faq: Any,
    demo: bool = False, config: Any = None, conversation: Any = None,
    media: MediaRegistry | None = None,
) -> WebServer:  # fmt: skip
    """The web channel's server; `conversation` (bot.conversation.Conversation) is what the
    chat pages talk to: without one they say the web chat is unavailable."""
    channel = WebChannel(db, clock)
    async with db.transaction() as conn:  # codes kept readable by an older version: gone
        if forgotten := await WebRepo(conn).forget_shown_codes():
            log.info("web: took %s readable access codes out of stored receipt cards", forgotten)
    if liaison is not None:  # the core words its texts for what the web can do
        liaison.core.capabilities[channel.name] = channel.capabilities
    ctx = WebContext(
        db=db,
        catalog=catalog,
        clock=clock,
        cards=Cards(catalog, settings.tz),
        channel=channel,
        signer=Signer(await web_secret(db, settings.web_secret)),
        data_dir=web_data_dir(settings.database),
        public_url=settings.web_url,
        demo=demo,
        trusted=networks(settings.web_trusted_proxies),
        forwarded_header=settings.web_forwarded_header,
    )
    # The registry the composition root shares between channels (a fresh one otherwise): the
    # web serves its own uploads through it, and other channels' photos on the desk.
    ctx.liaison = liaison
    ctx.media = media if media is not None else MediaRegistry()
    ctx.media.add(web_uploads(ctx.uploads))
    if conversation is not None:
        ctx.chat = WebChat(conversation, channel, db, clock)
    if demo and config is not None:
        ctx.demo_logins = await demo_people(db, config)
    return WebServer(ctx, settings.web_host, settings.web_port)


async def demo_people(db: Database, config: Any) -> dict[str, int]:
    """The demo's deputies and staff (web accounts from the example stations), by role."""
    from storage.repositories import Repos

    people: dict[str, int] = {}
    async with db.read() as conn:
        repos = Repos(conn)

        async def person(accounts: list[tuple[str, str]]) -> int | None:
            # the demo syncs the file's Telegram accounts as web ones (sync_config(channel="web"))
            for channel, external_id in accounts:
                named = "web" if channel == "telegram" else channel
                user = await repos.user_by_external(named, external_id)
                if user is not None:
                    return user.id
            return None

        for s in config.stations[:1]:  # the first station is enough to walk the loop
            for d in s.deputies[:2]:
                if (user_id := await person(d.all_accounts())) is not None:
                    people[f"deputy:{d.name}"] = user_id
            for member in s.staff[:1]:
                if (user_id := await person(member.all_accounts())) is not None:
                    people[f"staff:{s.name}"] = user_id
    return people
