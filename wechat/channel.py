"""The WeChat channel: capabilities, and the way a notice reaches a resident.

WeChat only lets an account push inside a window the resident opened: 48 hours and 5 客服
messages after the resident's own message, 1 minute and 3 messages after a follow, scan or menu
click. Outside it, a certified service account may send a template message (one template per
kind of notice, configured), or a one-time subscription message the resident consented to;
failing all that the notice waits and is shown at the resident's next message (counted as
"waiting"). The path used is recorded per wish (storage.wechat.WeChatRepo.paths).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from bot.channel import WAITING_PREFIX, Capabilities
from bot.clock import Clock
from bot.dispatcher import DeliveryError, Failure
from bot.domain.deadlines import NoteKind
from bot.domain.notices import NoticeKind
from bot.i18n import Catalog
from bot.messages import OutMessage
from storage.db import Database
from storage.repositories import Repos
from storage.wechat import WeChatRepo, WindowState
from wechat.api import PathClosed, WeChatApi
from wechat.fields import DEFAULT_SUBSCRIPTION_FIELDS, DEFAULT_TEMPLATE_FIELDS, fill, parse_fields
from wechat.render import TEXT_LIMIT_BYTES, button_options, render, rest_after, to_wechat_text

log = logging.getLogger(__name__)

# Conservative counts: the mini-program documentation states 5 messages / 48 h; developers report
# up to 20 for official accounts. WeChat's own answer (45015/45047) always wins over ours, and a
# lower count only means an earlier template, never a lost notice.
MESSAGE_WINDOW_SECONDS = 48 * 3600
MESSAGE_WINDOW_COUNT = 5
EVENT_WINDOW_SECONDS = 60
EVENT_WINDOW_COUNT = 3

CAPABILITIES = Capabilities(
    buttons=False,  # numbered options (or bizmsgmenu links) instead
    edits=False,
    reply_to=False,
    html=True,  # only <a href> survives rendering
    text_limit=TEXT_LIMIT_BYTES,  # bytes, not characters
    push=False,  # only inside the window, or by template / subscription
    commands=False,  # the menu is the way in (typed commands still work)
    channels=False,
)


# The channel reports how a notice about a wish went: (wish id, openid, the timeline entry its
# path leaves) -> the use case that puts it on the wish's timeline (bot/deliveries.py, wired by
# the composition root).
DeliveryHook = Callable[[int, str, NoteKind], Awaitable[object]]


class Path(StrEnum):
    CUSTOM = "custom"  # 客服消息
    TEMPLATE = "template"  # 模板消息
    SUBSCRIPTION = "subscription"  # 一次性订阅通知
    WAITING = "waiting"  # shown at the resident's next message


SHOWN = "shown"  # a kept notice shown at the resident's next message (wechat/webhook.py)

# Each path's entry on the wish's timeline ("系统经模板消息通知居民（微信）" …).
TIMELINE_NOTES: dict[str, NoteKind] = {
    Path.CUSTOM: NoteKind.WECHAT_CUSTOM,
    Path.TEMPLATE: NoteKind.WECHAT_TEMPLATE,
    Path.SUBSCRIPTION: NoteKind.WECHAT_SUBSCRIPTION,
    Path.WAITING: NoteKind.WECHAT_WAITING,
    SHOWN: NoteKind.WECHAT_SHOWN,
}


def window_room(state: WindowState | None, now: datetime) -> int:
    """How many 客服 messages may still be sent now (0: the window is closed)."""
    if state is None:
        return 0
    age = (now - state.opened_at).total_seconds()
    if state.kind == "message":
        seconds, count = MESSAGE_WINDOW_SECONDS, MESSAGE_WINDOW_COUNT
    else:
        seconds, count = EVENT_WINDOW_SECONDS, EVENT_WINDOW_COUNT
    return max(count - state.sent, 0) if 0 <= age < seconds else 0


@dataclass
class Offered:
    """The numbered options already offered in one batch of messages sent one after another
    (a resident's kept cards, then the answer): the next message's numbers continue after them
    and the options stored are all of them, so each card's numbers act on that card (each card
    numbered from 1 had made every "1" act on the last card only)."""

    actions: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class NoticeTemplates:
    """Template ids per kind of notice ("result", "reply", "notice": bot/domain/notices.py
    NoticeKind, decided by the core and carried by the message) and the one-time subscription
    template ids per kind, with the field mapping of each (wechat/fields.py: template key ->
    one of our values, e.g. {"thing1": "heading", "character_string2": "receipt"}); a kind
    without its own mapping uses the "notice" one, else the default. `tz` is the time zone
    of the "time" value."""

    template: dict[str, str] = field(default_factory=dict)
    subscription: dict[str, str] = field(default_factory=dict)
    template_fields: dict[str, dict[str, str]] = field(default_factory=dict)
    subscription_fields: dict[str, dict[str, str]] = field(default_factory=dict)
    tz: tzinfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))

    def fields_of(self, kind: str, subscription: bool = False) -> dict[str, str]:
        mappings = self.subscription_fields if subscription else self.template_fields
        default = DEFAULT_SUBSCRIPTION_FIELDS if subscription else DEFAULT_TEMPLATE_FIELDS
        return mappings.get(kind) or mappings.get("notice") or parse_fields(default)


@dataclass(frozen=True)
class NoticeFacts:
    kind: NoticeKind  # the message's own (`OutMessage.notice`); a plain notice if it has none
    receipt: str = ""
    station: str = ""


class WeChatChannel:
    name = "wechat"
    channel = "wechat"
    capabilities = CAPABILITIES

    def __init__(
        self,
        db: Database,
        api: WeChatApi,
        clock: Clock,
        catalog: Catalog,
        templates: NoticeTemplates | None = None,
        msgmenu: bool = False,
        public_url: str = "",
        on_delivery: DeliveryHook | None = None,
    ) -> None:
        self.db = db
        self.on_delivery = on_delivery
        self.api = api
        self.clock = clock
        self.catalog = catalog
        self.templates = templates or NoticeTemplates()
        self.msgmenu = msgmenu
        self.public_url = public_url.rstrip("/")

    def is_group(self, chat_id: str) -> bool:
        return False  # a service account talks to one person at a time

    async def edit(self, chat_id: str, message_id: str, message: OutMessage) -> None:
        await self.deliver(chat_id, message)  # no edits on WeChat: a new message instead

    async def deliver(self, chat_id: str, message: OutMessage) -> str | None:
        path, kept = await self._send(chat_id, message)
        if message.wish_id is not None:
            async with self.db.transaction() as conn:
                await WeChatRepo(conn).record_path(message.wish_id, chat_id, path, self.clock.now())
            await self.reported(message.wish_id, chat_id, path)
        log.info("wechat notice path=%s wish=%s", path.value, message.wish_id)
        if path is Path.WAITING and kept is not None:
            # Not pushed but kept for the resident's next message: the outbox row says so
            # (bot/channel.py WAITING_PREFIX), which the broadcast report counts as "waiting".
            return f"{WAITING_PREFIX}{kept}"
        return None  # WeChat gives no message id a reply could quote

    async def reported(self, wish_id: int, openid: str, path: str) -> None:
        """Tell the use cases how a notice about a wish went (its timeline); a failure there
        must not turn a delivered notice into a failed one (it would be sent again)."""
        note = TIMELINE_NOTES.get(path)
        if self.on_delivery is None or note is None:
            return
        try:
            await self.on_delivery(wish_id, openid, note)
        except Exception:
            log.exception("wechat: delivery of wish %s not noted on its timeline", wish_id)

    async def send(self, openid: str, message: OutMessage, offered: Offered | None = None) -> Path:
        path, _ = await self._send(openid, message, offered)
        return path

    async def _send(
        self, openid: str, message: OutMessage, offered: Offered | None = None
    ) -> tuple[Path, int | None]:
        """The path taken, and the id of the card kept for the resident's next message.
        `offered`: the options of the messages sent just before in the same batch."""
        first = 1 + (len(offered.actions) if offered is not None else 0)
        menu_ids = await self.menu_ids(openid, message)
        rendered = render(message, self.catalog, self.msgmenu, first, menu_ids)
        now = self.clock.now()
        async with self.db.read() as conn:
            state = await WeChatRepo(conn).window(openid)
        if rendered.texts and window_room(state, now) >= len(rendered.texts):
            sent = await self.send_custom(
                openid,
                list(rendered.texts),
                list(rendered.actions),
                list(rendered.labels),
                offered,
            )
            if sent == len(rendered.texts):
                return Path.CUSTOM, None
            if sent:
                # WeChat closed the window after part `sent`: the next path carries only the
                # parts not delivered (the old code sent the whole message again)
                message = rest_after(message, self.catalog, self.msgmenu, sent, first)
        facts = await self.facts(message)
        kind = facts.kind
        # a kind without its own template uses the notice one, and so that one's fields
        tpl_kind = kind if self.templates.template.get(kind) else "notice"
        template_id = self.templates.template.get(tpl_kind)
        values = self.notice_values(facts, message)
        data = fill(self.templates.fields_of(tpl_kind), values)
        if template_id:
            try:
                await self.api.send_template(openid, template_id, data, url=self.link(message))
                return Path.TEMPLATE, await self._keep(openid, message, shown_later=True)
            except PathClosed:
                pass
            except DeliveryError as exc:
                if exc.failure is not Failure.BAD_REQUEST:
                    raise  # transient or unreachable: the dispatcher's rules apply
                # a wrong template id or field is the operator's to fix: the notice still waits
                log.warning("wechat template refused (%s): next path", exc.description)
        sub_kind = kind if self.templates.subscription.get(kind) else "notice"
        sub_id = self.templates.subscription.get(sub_kind)
        if sub_id:
            async with self.db.read() as conn:
                consented = await WeChatRepo(conn).has_consent(openid, sub_id)
            if consented:
                try:
                    sub_data = fill(self.templates.fields_of(sub_kind, subscription=True), values)
                    await self.api.send_subscription(openid, sub_id, sub_data)
                except DeliveryError:
                    log.info("wechat subscription refused: next path")
                else:
                    async with self.db.transaction() as conn:
                        await WeChatRepo(conn).use_consent(openid, sub_id)
                    return Path.SUBSCRIPTION, await self._keep(openid, message, shown_later=True)
        return Path.WAITING, await self._keep(openid, message, shown_later=False)

    async def menu_ids(self, openid: str, message: OutMessage) -> list[int]:
        """With bizmsgmenu links on: each button's link gets an id of its own, stored with its
        action, so a tap in this message acts on this card even after later cards were shown
        (their options numbered alike). A card that then waits is shown again later with new
        ids; the unused ones are pruned with the rest."""
        if not self.msgmenu or not message.buttons:
            return []
        actions, labels = button_options(message)
        async with self.db.transaction() as conn:
            return await WeChatRepo(conn).add_menu(openid, actions, labels, self.clock.now())

    async def send_custom(
        self,
        openid: str,
        texts: list[str],
        actions: list[str],
        labels: Sequence[str] = (),
        offered: Offered | None = None,
    ) -> int:
        """The parts as 客服 messages, in order; how many went out. WeChat closing the window
        (45015 / 45047, PathClosed) stops it and closes our window; the caller takes the next
        path for the parts not sent. The options stored are this message's after those
        `offered` before it in the same batch (numbered on: render's `first`)."""
        for number, text in enumerate(texts):
            try:
                await self.api.send_text(openid, text)
            except PathClosed as closed:
                log.info(
                    "wechat custom/send closed (%s) at part %d: next path",
                    closed.errcode,
                    number + 1,
                )
                async with self.db.transaction() as conn:
                    await WeChatRepo(conn).close_window(openid)
                return number
            except DeliveryError as exc:
                if number == 0:
                    raise  # nothing went out: the dispatcher's rules apply to the whole
                # Part 1 reached them: a retry of the whole would send it twice, so the rest
                # takes the next path (a template, or waits for their next message).
                log.info(
                    "wechat custom/send failed (%s) at part %d: next path",
                    exc.failure.value,
                    number + 1,
                )
                return number
            async with self.db.transaction() as conn:
                await WeChatRepo(conn).count_sent(openid)
        if actions:
            if offered is not None:
                offered.actions.extend(actions)
                offered.labels.extend(labels or [""] * len(actions))
                actions, labels = list(offered.actions), list(offered.labels)
            async with self.db.transaction() as conn:
                await WeChatRepo(conn).set_options(openid, actions, self.clock.now(), labels)
        return len(texts)

    async def _keep(self, openid: str, message: OutMessage, shown_later: bool) -> int:
        """A template or subscription carries a summary only: the full card is also kept and
        shown at the resident's next message. Only what reached them by no path counts as
        waiting."""
        payload: dict[str, Any] = message.to_payload()
        async with self.db.transaction() as conn:
            return await WeChatRepo(conn).keep_waiting(
                openid, payload, message.wish_id, self.clock.now(), waiting=not shown_later
            )

    def link(self, message: OutMessage) -> str:
        return f"{self.public_url}/" if self.public_url else ""

    async def facts(self, message: OutMessage) -> NoticeFacts:
        """What a template shows: the kind the message carries, the wish's receipt and
        station (read to fill the fields, nothing decided by them)."""
        kind = message.notice or NoticeKind.NOTICE
        if message.wish_id is None:
            return NoticeFacts(kind)
        async with self.db.read() as conn:
            repos = Repos(conn)
            wish = await repos.wish(message.wish_id)
            station = await repos.station(wish.station_id) if wish else None
        if wish is None:
            return NoticeFacts(kind)
        return NoticeFacts(kind, wish.receipt, station.name if station else "")

    def notice_values(self, facts: NoticeFacts, message: OutMessage) -> dict[str, str]:
        """Our values a template may show (wechat/fields.py SOURCES); the configured mapping
        picks which go into which key, each cleaned for its key's type."""

        def for_kind(prefix: str) -> str:
            key = f"{prefix}_{facts.kind}"
            return self.catalog.plain(key if self.catalog.has(key) else f"{prefix}_notice")

        return {
            "heading": for_kind("wechat.template.first"),
            "receipt": facts.receipt,
            "station": facts.station,
            "status": for_kind("wechat.template.status"),
            "text": to_wechat_text(message.text),
            "time": self.clock.now().astimezone(self.templates.tz).strftime("%Y-%m-%d %H:%M"),
        }
