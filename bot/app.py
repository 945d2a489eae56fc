"""The composition root: the one place that wires storage, services, dispatcher and handlers."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from telegram.error import NetworkError, RetryAfter
from telegram.ext import Application, ApplicationBuilder

from bot.broadcasts import BroadcastMonitor, BroadcastService
from bot.clock import Clock, SystemClock
from bot.conversation import Conversation
from bot.dispatcher import Dispatcher, Transport
from bot.domain.deadlines import NoteKind
from bot.faq_service import FaqService
from bot.i18n import Catalog
from bot.media import MediaRegistry, kept_photo_folders, wechat_images
from bot.operator import ConfigError, base_url_host
from bot.pacing import Limits, Pacer
from bot.report_rollups import ReportRollups
from bot.retention import Retention
from bot.services import Liaison
from bot.settings import Settings
from bot.stations_file import load_stations_file
from bot.supervision import Supervisor
from bot.throttle import Throttle
from handlers import web_login
from handlers.common import Deps
from handlers.limits import tell_limited
from handlers.media import TelegramMedia
from handlers.menu import publish_commands, publish_work_menus
from handlers.polling import DurablePoller
from handlers.router import register
from handlers.telegram_io import PacedRateLimiter, Photos, TelegramTransport, retry_seconds
from storage.db import Database
from storage.repositories import Repos
from web.runtime import WebServer, build_web
from wechat.figures import waiting_by_station as wechat_waiting
from wechat.retention import retention_jobs as wechat_retention_jobs
from wechat.runtime import WeChatRuntime, build_wechat

log = logging.getLogger(__name__)

HOUSEKEEPING_SECONDS = 600
LEASE_RETRY_SECONDS = 5.0  # how often a follower tries for the PostgreSQL leader lease
SUPERVISION_SECONDS = 60  # how often the 督办 scheduler looks for what is due
STARTUP_MAX_BACKOFF = 60.0  # seconds between attempts to reach Telegram at start-up
# After this many failed attempts in a row the log says, once, what to check: a wrong
# LIAISON_TELEGRAM_BASE_URL otherwise looks exactly like a network that is down.
STARTUP_WARN_AFTER = 3


@dataclass
class LiaisonApp:
    settings: Settings
    db: Database
    liaison: Liaison
    faq: FaqService
    application: Application
    dispatcher: Dispatcher
    poller: DurablePoller
    broadcasts: BroadcastService
    monitor: BroadcastMonitor
    supervisor: Supervisor | None = None
    web: WebServer | None = None
    exempt: ExemptPeople | None = None
    wechat: WeChatRuntime | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _menus: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self.web is not None:  # residents on the web need not wait for Telegram
            await self.web.start()
        if self.wechat is not None:  # pushes stored but never processed before the last stop
            await self.wechat.webhook.replay()
        await self._connect()
        me = self.application.bot
        deps: Deps = self.application.bot_data["deps"]
        deps.bot_username = me.username or ""
        await publish_commands(self.application.bot, deps.catalog)
        # in the background: one call per deputy and staff member must not delay the start
        self._menus = asyncio.create_task(self.publish_menus(), name="menus")
        await self.liaison.people.report_not_started()
        if self.exempt is not None:
            await self.exempt.refresh()  # before the first update is read
        self._tasks = [
            *core_tasks(self.dispatcher, self.liaison, self.supervisor),
            asyncio.create_task(self.poller.run(), name="poller"),
            asyncio.create_task(self.monitor.run(), name="broadcast-monitor"),
        ]
        if self.exempt is not None:
            self._tasks.append(asyncio.create_task(self.exempt.run(), name="exempt-people"))
        log.info(deps.catalog.plain("operator.log_running", username=deps.bot_username))

    async def publish_menus(self) -> None:
        """Each deputy's and staff member's command menu (done at every start)."""
        catalog = self.application.bot_data["deps"].catalog
        await publish_work_menus(self.application.bot, catalog, self.liaison)

    async def _connect(self) -> None:
        """getMe and deleteWebhook, waiting out what is transient (network errors, 5xx, 429):
        a bot started while Telegram or the network is down comes up when they do. A rejected
        token (401) is not transient and is raised at once."""
        backoff = 1.0
        failures = 0
        catalog: Catalog = self.application.bot_data["deps"].catalog
        host = base_url_host(self.settings.telegram_base_url)  # never the token
        while True:
            try:
                await self.application.initialize()  # getMe
                await self.application.bot.delete_webhook(drop_pending_updates=False)
                return
            except RetryAfter as exc:
                delay = max(1.0, retry_seconds(exc))
                log.warning(catalog.plain("operator.log_retry_after", host=host, delay=delay))
            except NetworkError as exc:  # TimedOut, 5xx and other non-4xx answers included
                delay = backoff
                backoff = min(backoff * 2, STARTUP_MAX_BACKOFF)
                failures += 1
                error = type(exc).__name__
                log.warning(
                    catalog.plain("operator.log_unreachable", host=host, error=error, delay=delay)
                )
                if failures == STARTUP_WARN_AFTER:
                    log.error(catalog.plain("operator.log_unreachable_hint", host=host, n=failures))
            await asyncio.sleep(delay)

    async def wait(self) -> None:
        await wait_first_failure(self._tasks)

    async def stop(self) -> None:
        self.poller.stop()
        if self._menus is not None:
            self._menus.cancel()
        await stop_tasks(self.dispatcher, self._tasks)
        with contextlib.suppress(Exception):
            await self.application.shutdown()
        if self.web is not None:
            await self.web.stop()  # also drains the WeChat webhook's tasks (on_cleanup)
        if self.wechat is not None:
            await self.wechat.close()
        await self.db.close()


# -- what every way of running starts and stops alike ---------------------------------------------


def freeze_startup_objects() -> None:
    """Start-up is done: what it loaded (the stations, the FAQ matcher, the catalogs, the
    libraries) lives as long as the process. `gc.freeze` moves it out of the cyclic collector's
    sight, so the full collections that a big report's allocations trigger no longer walk it
    every time (a province's county /stats of a year: 1.7 s → 1.3 s on PostgreSQL,
    bench/scale_bench.py). `stop_tasks` gives it back (a test process starts many)."""
    gc.freeze()


def core_tasks(
    dispatcher: Dispatcher, liaison: Liaison, supervisor: Supervisor | None
) -> list[asyncio.Task[None]]:
    """The outbox's dispatcher, housekeeping, the county reports' rollup and (if on)
    supervision, with or without Telegram: the leader's work, started once start-up is done."""
    freeze_startup_objects()
    tasks = [
        asyncio.create_task(dispatcher.run(), name="dispatcher"),
        asyncio.create_task(housekeeping(liaison), name="housekeeping"),
        asyncio.create_task(
            ReportRollups(liaison.core.db, liaison.core.clock, liaison.core.tz).run(),
            name="report rollups",
        ),
    ]
    if supervisor is not None:
        tasks.append(asyncio.create_task(supervisor.run(SUPERVISION_SECONDS), name="supervision"))
    return tasks


async def housekeeping(liaison: Liaison) -> None:
    while True:
        try:
            closed = await liaison.wishes.close_stale()
            if closed:
                log.info("closed %d resolved wishes nobody rated", closed)
        except Exception:
            log.exception("housekeeping failed")
        await asyncio.sleep(HOUSEKEEPING_SECONDS)


async def wait_first_failure(tasks: list[asyncio.Task[None]]) -> None:
    """Until one task ends; its exception, if any, is the process's."""
    done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]


async def stop_tasks(dispatcher: Dispatcher, tasks: list[asyncio.Task[None]]) -> None:
    """The dispatcher finishes the message it is sending (stop() asks it to); the rest are
    cancelled; 10 s at most."""
    dispatcher.stop()
    gc.unfreeze()
    for task in tasks:
        if task.get_name() != "dispatcher":
            task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 10)


def _file_url(base_url: str) -> str:
    """https://host/…/bot → https://host/…/file/bot (only the last /bot: a host or path may
    contain the letters too)."""
    head, _, _ = base_url.rpartition("/bot")
    return f"{head}/file/bot"


class ExemptPeople:
    """Who the per-person limits leave alone: deputies, staff and county admins, whose work
    comes in bursts. Kept in memory and refreshed every minute, so the limit check never reads
    the database (a new deputy is limited for at most that minute)."""

    REFRESH_SECONDS = 60.0

    def __init__(self, db: Database, staff_ids: tuple[int, ...]) -> None:
        self.db = db
        self.admins = frozenset(str(i) for i in staff_ids)
        self.ids: frozenset[str] = self.admins

    def contains(self, external_id: str) -> bool:
        return external_id in self.ids

    async def refresh(self) -> None:
        try:
            async with self.db.read() as conn:
                workers = await Repos(conn).worker_external_ids("telegram")
        except Exception as exc:  # keep the list we have
            log.warning("could not list deputies and staff (%s)", type(exc).__name__)
            return
        self.ids = self.admins | frozenset(workers)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.REFRESH_SECONDS)
            await self.refresh()


def new_liaison(settings: Settings, db: Database, catalog: Catalog, clock: Clock) -> Liaison:
    """The use cases as settings configure them, the same with or without Telegram (county
    admins are named by their Telegram ids: LIAISON_STAFF_IDS)."""
    return Liaison(
        db, catalog, clock, settings.tz,
        admins=[("telegram", str(i)) for i in settings.staff_ids],
        auto_close_days=settings.auto_close_days,
        input_timeout=timedelta(minutes=settings.input_timeout_minutes),
        # /stats counts the notices WeChat keeps for residents' next messages, read from the
        # channel's own tables by the channel (on or off: what an earlier run kept still waits)
        waiting_counts=(wechat_waiting,),
    )  # fmt: skip


async def open_database(settings: Settings) -> Database:
    db = Database(settings.database_target())
    await db.connect()
    return db


async def build(
    settings: Settings, clock: Clock | None = None, limits: Limits | None = None
) -> LiaisonApp:
    """Wire everything. Raises StationsFileError / FaqFileError before anything is written."""
    if not settings.telegram_token:
        raise ConfigError("token_missing")
    clock = clock or SystemClock()
    limits = limits or settings.limits()
    pacer = Pacer(limits)
    catalog = Catalog(settings.locale)
    config = load_stations_file(settings.stations_file, catalog) if settings.stations_file else None
    if config is None and settings.database_url is None and not settings.database.exists():
        # No stations file and no database to have imported one into: refuse before creating it.
        raise ConfigError("no_stations", database=settings.database_label(absolute=True))
    db = await open_database(settings)
    liaison = new_liaison(settings, db, catalog, clock)
    supervisor = Supervisor(
        db,
        catalog,
        liaison,
        digest_hour=settings.digest_hour,
        rating_reminder_days=settings.rating_reminder_days,
        followup_days=settings.followup_days,
        retention=retention(db, clock, settings),
    )
    if config is not None:
        await liaison.directory.sync_config(config)
    if not await liaison.directory.stations():
        # Residents would be asked to choose from an empty list (a picker without buttons):
        # refuse to start instead, saying what to set.
        await db.close()
        raise ConfigError("no_stations", database=settings.database_label(absolute=True))
    faq = FaqService(db, clock, settings.faq_file)
    await faq.reload()
    application = (
        ApplicationBuilder()
        .token(settings.telegram_token)
        .base_url(settings.telegram_base_url)
        .base_file_url(_file_url(settings.telegram_base_url))
        .updater(None)
        .connect_timeout(10)
        .read_timeout(settings.http_timeout)
        .write_timeout(settings.http_timeout)
        .rate_limiter(PacedRateLimiter(pacer, TelegramTransport.is_group))
        .build()
    )
    broadcasts = BroadcastService(db, liaison, catalog, clock)
    application.bot_data["deps"] = Deps(liaison=liaison, catalog=catalog, faq=faq)
    application.bot_data["broadcasts"] = broadcasts
    application.bot_data["supervision"] = supervisor
    register(application)

    async def follow_migration(old_chat_id: str, new_chat_id: str) -> None:
        async with db.transaction() as conn:
            moved = await Repos(conn).follow_chat_migration(old_chat_id, new_chat_id)
        if moved:
            log.warning("wall chat of %d station(s) is now %s", moved, new_chat_id)

    # A wish's photos, whichever channel they came by: each channel registers its own kind
    # (web uploads in build_web, WeChat images in attach_wechat, Telegram file ids here), and
    # a channel meeting another's reference fetches the bytes through it.
    media = MediaRegistry(TelegramMedia(application.bot))
    photos = Photos(media, lambda count: catalog.t("media.photos_missing", count=count))
    application.bot_data["deps"].photos = photos
    transport = TelegramTransport(application.bot, on_migrated=follow_migration, photos=photos)
    # The web pages talk to the same conversation as Telegram (one per process).
    talk = Conversation(liaison, catalog, faq, broadcasts=broadcasts, supervisor=supervisor)
    web = await build_web(settings, db, catalog, clock, liaison, faq, conversation=talk, media=media)
    # /web: a one-time web desk link (and, with WeChat on, a code to link the person's WeChat)
    web_login.register(application, lambda: web.url, link_codes=bool(settings.wechat_app_id))
    transports: dict[str, Transport] = {transport.channel: transport, "web": web.channel}
    wechat = attach_wechat(settings, db, clock, talk, web, transports)
    dispatcher = Dispatcher(db, transports, clock, liaison.people.on_unreachable, pacer=pacer)
    liaison.core.wishes_per_day = settings.limit_wishes_per_day
    exempt = ExemptPeople(db, settings.staff_ids)
    poller = DurablePoller(
        application,
        db,
        clock,
        timeout=settings.poll_timeout,
        throttle=Throttle(settings.person_limits(), exempt=exempt.contains),
        on_limited=lambda update: tell_limited(update, application),
        max_in_flight=settings.max_concurrent_updates,
    )
    monitor = BroadcastMonitor(broadcasts, transports, clock)
    app = LiaisonApp(
        settings, db, liaison, faq, application, dispatcher, poller, broadcasts, monitor,
        supervisor=supervisor, web=web,
    )  # fmt: skip
    app.exempt = exempt
    app.wechat = wechat
    return app


def attach_wechat(
    settings: Settings,
    db: Database,
    clock: Clock,
    conversation: Conversation,
    web: WebServer,
    transports: dict[str, Transport],
) -> WeChatRuntime | None:
    """The WeChat channel when LIAISON_WECHAT_APP_ID is set: its webhook (/wechat) is served by
    the web server, its channel is the dispatcher's transport "wechat"."""
    liaison = conversation.liaison

    async def on_delivery(wish_id: int, openid: str, note: NoteKind) -> None:
        await liaison.deliveries.delivered(wish_id, "wechat", openid, note)

    runtime = build_wechat(
        settings, db, clock, conversation, settings.web_url, on_delivery=on_delivery
    )
    if runtime is not None:
        transports["wechat"] = runtime.channel
        web.attachments.append(runtime.webhook.attach)
        if runtime.webhook.config.media_dir is not None:  # its images, for the other channels
            web.ctx.media.add(wechat_images(runtime.webhook.config.media_dir))
    return runtime


def retention(db: Database, clock: Clock, settings: Settings) -> Retention:
    """The core's pruning with each channel's own tables (WeChat's even while it is off: what
    an earlier run kept is forgotten all the same) and the folders of photo files the channels
    keep (web uploads beside the database, WeChat images in LIAISON_WECHAT_MEDIA_DIR), so their
    files age out too."""
    return Retention(
        db,
        clock,
        settings.retention(),
        files=kept_photo_folders(settings.database, settings.wechat_media_dir),
        channel_jobs=(wechat_retention_jobs,),
    )


class LeadershipLost(RuntimeError):
    """The connection holding the PostgreSQL leader lock failed: another process may lead now,
    so this one stops (its supervisor restarts it as a follower)."""


async def run(settings: Settings) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    if settings.database_url is None:  # SQLite: one process owns the file
        await _run(settings, stop, None)
        return
    from storage.postgres import LeaderLease

    # Several processes may share one PostgreSQL; exactly one leads (polls Telegram, runs the
    # scheduler, dispatches). The others wait for the lease: they have no inbound HTTP to
    # serve yet, so they only idle until the leader goes away.
    catalog = Catalog(settings.locale)
    lease = LeaderLease(settings.database_url, retry_seconds=LEASE_RETRY_SECONDS)
    try:
        if not await lease.try_acquire():
            log.info(catalog.plain("operator.log_lease_waiting"))
            acquiring = asyncio.create_task(lease.acquire())
            stopper = asyncio.create_task(stop.wait())
            await asyncio.wait({acquiring, stopper}, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            if not acquiring.done():
                acquiring.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await acquiring
                return
            acquiring.result()
        log.info(catalog.plain("operator.log_lease_taken"))
        await _run(settings, stop, lease.lost)
    finally:
        await lease.release()


async def _run(settings: Settings, stop: asyncio.Event, lost: asyncio.Event | None) -> None:
    app: LiaisonApp | WebOnlyApp
    if settings.telegram_token:
        app = await build(settings)
    else:  # the web channel alone (or the demo, when no stations are configured either)
        app = await build_web_only(settings)
    stopper = asyncio.create_task(stop.wait())
    loser = asyncio.create_task(lost.wait()) if lost is not None else None
    starter = asyncio.create_task(app.start())
    waiter: asyncio.Task[None] | None = None
    try:
        # Start-up waits for Telegram while it is unreachable; a signal meanwhile still stops.
        await asyncio.wait({starter, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if not starter.done():
            starter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await starter
            return
        starter.result()
        waiter = asyncio.create_task(app.wait())
        watched = {waiter, stopper} | ({loser} if loser is not None else set())
        await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
        if waiter.done():
            waiter.result()
        if loser is not None and loser.done():
            raise LeadershipLost("the leader lock's connection failed")
    finally:
        stopper.cancel()
        if loser is not None:
            loser.cancel()
        if waiter is not None:
            waiter.cancel()
        log.info(Catalog(settings.locale).plain("operator.log_stopping"))
        await app.stop()


# -- without Telegram: the web channel alone, or the demo -------------------------------------------

DEMO_STATIONS = Path(__file__).resolve().parents[1] / "deploy" / "stations.example.yaml"


@dataclass
class WebOnlyApp:
    """`run` with no LIAISON_TELEGRAM_TOKEN: the same core, the web channel as its only way in."""

    settings: Settings
    db: Database
    liaison: Liaison
    dispatcher: Dispatcher
    web: WebServer
    supervisor: Supervisor | None = None
    wechat: WeChatRuntime | None = None
    broadcasts: BroadcastService | None = None
    monitor: BroadcastMonitor | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def start(self) -> None:
        await self.web.start()
        if self.wechat is not None:
            await self.wechat.webhook.replay()
        self._tasks = core_tasks(self.dispatcher, self.liaison, self.supervisor)
        if self.monitor is not None:  # closes finished broadcasts, as with Telegram
            self._tasks.append(asyncio.create_task(self.monitor.run(), name="broadcast-monitor"))
        catalog = Catalog(self.settings.locale)
        key = "operator.log_demo_running" if self.web.ctx.demo else "operator.log_web_only"
        log.info(catalog.plain(key, url=self.web.url, database=self.db.path))

    async def wait(self) -> None:
        await wait_first_failure(self._tasks)

    async def stop(self) -> None:
        await stop_tasks(self.dispatcher, self._tasks)
        await self.web.stop()
        if self.wechat is not None:
            await self.wechat.close()
        await self.db.close()


def demo_database(settings: Settings) -> Path:
    """The demo keeps its own database beside the real one, so its example stations never
    become a real deployment's stations (a later run with a token and no stations refuses)."""
    return settings.database.with_name(settings.database.stem + "-demo" + settings.database.suffix)


async def build_web_only(settings: Settings, clock: Clock | None = None) -> WebOnlyApp:
    """No token: the web channel alone on the configured stations; with none configured
    anywhere, the demo on the example stations (deputies and staff are then web accounts)."""
    clock = clock or SystemClock()
    catalog = Catalog(settings.locale)
    config = load_stations_file(settings.stations_file, catalog) if settings.stations_file else None
    demo = False
    if config is None:
        if settings.database.exists():
            db = await open_database(settings)
            async with db.read() as conn:
                has_stations = await Repos(conn).stations()
            await db.close()
        else:
            has_stations = []
        if not has_stations:
            if not DEMO_STATIONS.is_file():  # installed without the repository's deploy/
                raise ConfigError("no_stations", database=settings.database.absolute())
            demo = True
            config = load_stations_file(DEMO_STATIONS, catalog)
            settings = settings.model_copy(update={"database": demo_database(settings)})
    db = await open_database(settings)
    liaison = new_liaison(settings, db, catalog, clock)
    liaison.core.wishes_per_day = settings.limit_wishes_per_day  # web residents have the limit too
    if config is not None:
        await liaison.directory.sync_config(config, channel="web" if demo else "telegram")
    faq = FaqService(db, clock, settings.faq_file)
    await faq.reload()
    supervisor = Supervisor(
        db, catalog, liaison, digest_hour=settings.digest_hour,
        rating_reminder_days=settings.rating_reminder_days, followup_days=settings.followup_days,
        retention=retention(db, clock, settings),
    )  # fmt: skip
    # Broadcasts and 我也关注 are the core's, not Telegram's: staff broadcast from the web desk
    # or WeChat, and the outbox's dispatcher delivers to each recipient's channel.
    broadcasts = BroadcastService(db, liaison, catalog, clock)
    talk = Conversation(liaison, catalog, faq, broadcasts=broadcasts, supervisor=supervisor)
    web = await build_web(
        settings, db, catalog, clock, liaison, faq, demo=demo, config=config, conversation=talk
    )
    transports: dict[str, Transport] = {"web": web.channel}
    wechat = attach_wechat(settings, db, clock, talk, web, transports)
    dispatcher = Dispatcher(db, transports, clock, liaison.people.on_unreachable, pacer=Pacer(Limits()))
    monitor = BroadcastMonitor(broadcasts, transports, clock)
    return WebOnlyApp(
        settings, db, liaison, dispatcher, web, supervisor, wechat=wechat,
        broadcasts=broadcasts, monitor=monitor,
    )  # fmt: skip
