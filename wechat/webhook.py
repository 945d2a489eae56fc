"""The /wechat webhook: WeChat's pushes in, the conversation's answers out.

- GET: the server-URL check (signature over token, timestamp, nonce): echo `echostr`.
- POST: plaintext, compatible or safe mode (encrypt_type=aes: msg_signature + AES; the reply is
  encrypted too). The push is stored in the durable inbox (channel "wechat", deduplicated by MsgId,
  events by FromUserName + CreateTime) BEFORE anything is answered, so WeChat's retries of a slow
  push never make a second wish. WeChat waits 5 s: when the conversation's answer is ready within
  `answer_within` seconds (4 by default) and fits one message it is the passive reply; otherwise
  the answer is `success` and the conversation's messages follow as 客服 messages.
- Numbered options: a reply "2" becomes the encoded action the channel stored for option 2 of
  the latest answer. Each answer shown replaces the options (one without any clears them), and
  a number that maps to none is a stale press (the conversation refuses it, and that is said,
  or reads it as text where free text is awaited), never silence. A bizmsgmenu tap carries the
  link's own stored id (wechat_menu): the action of the card it was on, or a stale press.
- The conversation's notes of a press (toast, alert) and a card's new buttons (rebutton), which
  Telegram shows outside the messages, are said in them (wechat/render.py answer_messages).

Nothing here decides what an input means: `Conversation.handle` does, for every channel alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path as FsPath
from typing import Any, Protocol
from urllib.parse import quote

from aiohttp import web

from bot.clock import Clock
from bot.core import INBOX_MAX_ATTEMPTS
from bot.dispatcher import DeliveryError
from bot.messages import OutMessage
from storage.db import Database
from storage.repositories import Repos
from storage.wechat import WeChatRepo
from web.uploads import UploadRejected, reencode
from wechat.api import WeChatApi
from wechat.channel import SHOWN, Offered, Path, WeChatChannel
from wechat.crypto import CryptoError, MessageCrypto, check_signature
from wechat.messages import MAX_BODY, SUCCESS, BadPush, Push, encrypted_part, parse_push, text_reply
from wechat.render import answer_messages, render

log = logging.getLogger(__name__)

CHANNEL = "wechat"
_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")
_NONCE = re.compile(r"^[A-Za-z0-9]{1,64}$")
_SIG = re.compile(r"^[0-9a-fA-F]{40}$")
_NUMBER = re.compile(r"^\s*([0-9]{1,2})\s*$")
# Chinese keyboards often type full-width digits ("１"): the same number
_FULL_WIDTH_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")
_COMMAND = re.compile(r"^/([a-z_]{1,32})(?:\s+(.*))?$", re.S)
# A deputy or staff member linking this WeChat to their person: "绑定 12345678" (the code from
# /web or `liaison-bot login-link`), also "link 12345678".
_LINK = re.compile(r"^\s*(?:绑定|link)\s*[:：]?\s*([0-9]{8})\s*$", re.I)


class ConversationLike(Protocol):
    async def handle(self, event: Any) -> Any: ...


@dataclass(frozen=True)
class Input:
    """One push, translated: exactly one of the fields below the key says what it is."""

    account: str  # the openid
    key: str  # idempotency key: the inbox id of the push
    text: str = ""
    action: str = ""  # an encoded action (from a numbered option)
    command: str = ""
    args: str = ""
    photos: tuple[str, ...] = ()
    location: tuple[float, float] | None = None
    # a number that maps to no option on offer: a press of a button no longer there, refused
    # by the conversation as stale (and said), never read as text
    stale_press: bool = False
    start: bool = False  # a follow or a scan
    start_payload: str = ""  # the station id of a qrscene st_<id>
    unsupported: bool = False


def inbound(item: Input) -> Any:
    """The neutral event of the channel seam (bot/conversation/events.py channel_event)."""
    from bot.conversation.events import channel_event

    return channel_event(
        CHANNEL,
        item.account,
        item.key,
        start=item.start,
        start_payload=item.start_payload,
        action=item.action,
        command=item.command,
        args=item.args,
        photos=item.photos,
        location=item.location,
        unsupported=item.unsupported,
        # a number typed for no option: stale, its text along (bot/conversation/router.py reads
        # it as text where the person's state awaits free text)
        stale_press=item.stale_press,
        text=item.text,
    )


SIGNED_MAX = 2**63 - 1  # the inbox's update_id is a signed 64-bit INTEGER (SQLite, PostgreSQL)


def update_id(push: Push) -> int:
    """The inbox's integer id: the MsgId itself when it fits a signed 64-bit integer (as every
    id stored so far did), or else, and for an event (no MsgId), a negative number derived from
    the push's dedupe key, so the three never collide. WeChat documents MsgId as a 64-bit
    integer: an id of 2^63 or more (up to 20 digits) is hashed, stably, instead of overflowing
    the column (the old code's int(MsgId) made SQLite raise OverflowError: HTTP 500, retried)."""
    key = push.dedupe_key
    if push.msg_id:
        number = int(push.msg_id)
        if number <= SIGNED_MAX:
            return number
        key = f"msg:{number}"  # leading zeros never make two keys of one id
    digest = hashlib.sha256(key.encode()).digest()
    return -(int.from_bytes(digest[:8], "big") >> 1) - 1


def station_of_scene(scene: str) -> str:
    """Permanent station QR codes carry scene st_<station id>."""
    return scene[3:] if scene.startswith("st_") else ""


MENU_COMMANDS = {"NEW": "new", "MY": "my", "FAQ": "faq", "WALL": "wall", "HELP": "help"}


@dataclass
class WebhookConfig:
    token: str
    app_id: str
    aes_key: str = ""  # empty: plaintext mode
    answer_within: float = 4.0  # WeChat gives up after 5 s
    media_dir: FsPath | None = None


@dataclass
class _Pending:
    """A push being answered: whether the answer went as the passive reply, and whether WeChat
    already retried it (then the first connection is dead and the answer must go by 客服).
    `answered` is set, with `messages`, while the push's turn still holds the person's lock;
    the turn ends only once `decided` is set, so the passive reply's numbered options are
    stored before the same person's next push is read."""

    passive: bool = False
    retried: bool = False
    decided: asyncio.Event = field(default_factory=asyncio.Event)
    answered: asyncio.Event = field(default_factory=asyncio.Event)
    messages: list[OutMessage] = field(default_factory=list)


@dataclass
class _Turn:
    """One resident's turn: their pushes are processed one after another in arrival order
    (asyncio.Lock wakes its waiters first come, first served), as Telegram's per-chat queues
    do; `users` counts the pushes holding or waiting for it, so it is dropped when none is."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


async def _read_capped(request: web.Request) -> bytes | None:
    """The body, or None past MAX_BODY (also when no Content-Length announced it)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(16 * 1024):
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _log_failure(task: asyncio.Task[Any]) -> None:
    """A live push's turn failed (the conversation or the store raised): logged, the push is
    answered `success` (if still waited for) and tried again at the next start."""
    if not task.cancelled() and task.exception() is not None:
        log.error("wechat: conversation failed", exc_info=task.exception())


def _closed(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


class WeChatWebhook:
    def __init__(
        self,
        config: WebhookConfig,
        db: Database,
        clock: Clock,
        conversation: ConversationLike,
        channel: WeChatChannel,
        api: WeChatApi,
        make_event: Callable[[Input], Any] = inbound,
    ) -> None:
        self.config = config
        self.db = db
        self.clock = clock
        self.conversation = conversation
        self.channel = channel
        self.api = api
        self.make_event = make_event
        self.crypto = (
            MessageCrypto(config.token, config.aes_key, config.app_id) if config.aes_key else None
        )
        self._tasks: set[asyncio.Task[Any]] = set()
        self._pending: dict[int, _Pending] = {}
        self._turns: dict[str, _Turn] = {}  # by openid, only while one of their pushes is running

    def attach(self, app: web.Application, path: str = "/wechat") -> None:
        app.router.add_get(path, self.verify)
        app.router.add_post(path, self.receive)
        app.on_cleanup.append(self._drain)

    async def _drain(self, app: web.Application) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def _signed(self, request: web.Request) -> tuple[str, str] | None:
        q = request.query
        timestamp, nonce, sig = q.get("timestamp", ""), q.get("nonce", ""), q.get("signature", "")
        if not (_TIMESTAMP.match(timestamp) and _NONCE.match(nonce) and _SIG.match(sig)):
            return None
        if not check_signature(self.config.token, sig, timestamp, nonce):
            return None
        return timestamp, nonce

    async def verify(self, request: web.Request) -> web.Response:
        echostr = request.query.get("echostr", "")
        if self._signed(request) is None or not echostr or len(echostr) > 512:
            log.warning("wechat verification refused")
            return web.Response(status=403, text="forbidden")
        return web.Response(text=echostr)

    async def receive(self, request: web.Request) -> web.Response:
        signed = self._signed(request)
        if signed is None:
            log.warning("wechat push refused: signature")
            return web.Response(status=403, text="forbidden")
        timestamp, nonce = signed
        if request.content_length is not None and request.content_length > MAX_BODY:
            return web.Response(status=413, text="too large")
        body = await _read_capped(request)
        if body is None:
            return web.Response(status=413, text="too large")
        safe = request.query.get("encrypt_type") == "aes"
        try:
            if safe:
                if self.crypto is None:
                    raise BadPush("encrypted push without an EncodingAESKey configured")
                xml = self.crypto.open(
                    request.query.get("msg_signature", ""), timestamp, nonce, encrypted_part(body)
                )
                push = parse_push(xml.encode())
            else:
                xml = body.decode()
                push = parse_push(body)
        except (CryptoError, BadPush, UnicodeDecodeError) as exc:
            log.warning("wechat push refused: %s", type(exc).__name__)
            return web.Response(status=400, text="bad request")
        texts = await self._take(push, xml, lambda: not _closed(request))
        if not texts:
            return web.Response(text=SUCCESS)
        reply = text_reply(push, texts[0], now=int(time.time()))
        if safe and self.crypto is not None:
            reply = self.crypto.seal(reply, timestamp, nonce)
        return web.Response(text=reply, content_type="application/xml")

    async def _take(self, push: Push, xml: str, alive: Callable[[], bool]) -> list[str]:
        """Store, then answer: the texts of a passive reply, or [] for `success`."""
        uid = update_id(push)
        now = self.clock.now()
        async with self.db.transaction() as conn:
            new = await Repos(conn).inbox_add(CHANNEL, uid, xml, now)
            if new and (push.msg_type != "event" or push.event in ("subscribe", "SCAN", "CLICK")):
                kind = "message" if push.msg_type != "event" else "event"
                await WeChatRepo(conn).open_window(push.from_user, kind, now)
            unfinished = not new and await WeChatRepo(conn).inbox_unfinished(uid)
        if unfinished and uid not in self._pending:
            # stored before a restart and never processed: this retry is the chance to do it
            log.info("wechat push %s: stored earlier, processed now", uid)
            new = True
        if not new:
            log.info("wechat push %s: a retry, already taken in", uid)
            pending = self._pending.get(uid)
            if pending is not None:  # WeChat gave up on the first try: its connection is dead
                pending.retried = True
            return []
        pending = self._pending[uid] = _Pending()  # before any await: one processing per push
        # The turn sends the answer by 客服 unless this handler made it the passive reply: it
        # waits for this handler's decision (made, or abandoned when WeChat hangs up and the
        # handler is cancelled).
        task = asyncio.create_task(self._in_turn(push, uid, pending))
        self._keep(task)
        task.add_done_callback(_log_failure)
        answered = asyncio.ensure_future(pending.answered.wait())
        try:
            # the answer (the turn then waits for this decision), or the turn's failure
            await asyncio.wait(
                {task, answered},
                timeout=self.config.answer_within,
                return_when=asyncio.FIRST_COMPLETED,
            )
            if not pending.answered.is_set():
                return []
            messages = pending.messages
            rendered = [render(m, self.channel.catalog, self.channel.msgmenu) for m in messages]
            texts = [t for r in rendered for t in r.texts]
            actions = [a for r in rendered for a in r.actions]
            labels = [label for r in rendered for label in r.labels]
            if len(texts) != 1 or pending.retried or not alive():
                return []
            if self.channel.msgmenu and actions:
                # the links of the reply shown get their own ids (wechat/channel.py menu_ids)
                rendered = []
                for m in messages:
                    ids = await self.channel.menu_ids(push.from_user, m)
                    rendered.append(render(m, self.channel.catalog, True, menu_ids=ids))
                texts = [t for r in rendered for t in r.texts]
                if len(texts) != 1:  # longer ids made it two messages: sent by 客服
                    return []
            # Inside the person's turn: their next push ("2") reads these. An answer with no
            # options clears those shown before, so a number meant for this step is never
            # read as a press of the previous one (NEW → "2" → "1" was a stale category).
            async with self.db.transaction() as conn:
                await WeChatRepo(conn).set_options(push.from_user, actions, self.clock.now(), labels)
            pending.passive = True
            return texts
        finally:
            answered.cancel()
            pending.decided.set()
            self._pending.pop(uid, None)

    def _keep(self, task: asyncio.Task[Any]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def replay(self, limit: int = 1000) -> int:
        """At start-up: pushes stored but never processed (the process stopped in between) are
        processed now, their answers sent by 客服 (WeChat stopped waiting long ago). In the
        order they were stored, as they were taken live: an event's id is a negative hash and
        would otherwise come before the same person's earlier messages."""
        async with self.db.read() as conn:
            rows = await Repos(conn).inbox_pending(CHANNEL, limit, in_arrival_order=True)
        for uid, payload, attempts in rows:
            try:
                push = None if attempts >= INBOX_MAX_ATTEMPTS else parse_push(payload.encode())
            except BadPush:
                push = None
            async with self.db.transaction() as conn:
                if push is None:  # unreadable, or failed every time: given up, not retried forever
                    log.error("wechat push %s given up after %d attempts", uid, attempts)
                    await Repos(conn).inbox_done(CHANNEL, uid, self.clock.now())
                    continue
                await Repos(conn).inbox_attempts([uid], CHANNEL)
            try:
                await self._in_turn(push, uid)  # answered by 客服, in the person's turn
            except Exception as exc:  # one push must not stop the start: the next start retries it
                log.error("wechat push %s failed at replay: %s", uid, type(exc).__name__)
        return len(rows)

    async def _send_custom(self, openid: str, messages: list[OutMessage]) -> None:
        """The answer that missed the passive reply: 客服 messages, straight away (the
        interactive priority: the resident is waiting), through the channel's paths."""
        offered = Offered()  # the batch numbers its options on (kept cards, then the answer)
        shown = False
        for message in messages:
            try:
                shown = await self.channel.send(openid, message, offered) is Path.CUSTOM or shown
            except DeliveryError as exc:
                log.warning("wechat answer not delivered: %s", exc.failure.value)
        if shown and not offered.actions:
            # the answer they read offers no options: the earlier ones are spent (as above)
            async with self.db.transaction() as conn:
                await WeChatRepo(conn).set_options(openid, [], self.clock.now(), [])

    async def _in_turn(
        self, push: Push, uid: int, pending: _Pending | None = None
    ) -> list[OutMessage]:
        """`_process`, after the same person's earlier pushes: a resident who taps 我要留言 and
        at once types the wish, or sends a story in two parts, must have them handled in that
        order (a second push handled while the first still runs would change what the
        conversation does). Other people's pushes never wait on this person's.

        The answer is settled inside the turn: a live push (`pending`) keeps it until its
        handler has decided on the passive reply and stored that reply's numbered options;
        an answer that is not the passive reply (late, or replayed) is sent by 客服 before the
        turn ends. So a "2" sent at once finds the options it answers, and the person's next
        answer never comes before this one."""
        openid = push.from_user
        turn = self._turns.get(openid)
        if turn is None:
            turn = self._turns[openid] = _Turn()
        turn.users += 1  # before any await: the turn is not dropped while this push waits
        try:
            async with turn.lock:
                try:
                    messages = await self._process(push, uid)
                except Exception:
                    # A defect or the store failing: the resident is told, as Telegram's error
                    # handler tells them, instead of meeting silence; the push stays unfinished
                    # in the inbox, so the next start tries it again. Logged by the caller.
                    failed = OutMessage(text=self.channel.catalog.t("error.internal"))
                    await self._settle(openid, pending, [failed])
                    raise
                await self._settle(openid, pending, messages)
                return messages
        finally:
            turn.users -= 1
            if turn.users == 0:  # nobody holds or waits for it: the dict holds no idle resident
                del self._turns[openid]

    async def _settle(
        self, openid: str, pending: _Pending | None, messages: list[OutMessage]
    ) -> None:
        """The answer handed to the live push's handler for the passive reply (it decides
        within `answer_within`), or sent by 客服 when it is not that reply."""
        if pending is not None and not pending.decided.is_set():
            pending.messages = messages
            pending.answered.set()
            await pending.decided.wait()  # the handler's: at most `answer_within` away
        if pending is None or not pending.passive:
            await self._send_custom(openid, messages)

    async def _process(self, push: Push, uid: int) -> list[OutMessage]:
        messages: list[OutMessage] = []
        item = await self._translate(push, uid)
        if item is not None:
            if not item.start:
                messages.extend(await self._shown_waiting(push.from_user))
            reply = await self.conversation.handle(self.make_event(item))
            answer = answer_messages(reply, self.channel.catalog)
            if item.start and item.start_payload and answer:
                answer[-1] = self._with_form_link(answer[-1], item.start_payload)
            messages.extend(answer)
        async with self.db.transaction() as conn:
            await Repos(conn).inbox_done(CHANNEL, uid, self.clock.now())
        return messages

    def _with_form_link(self, message: OutMessage, station: str) -> OutMessage:
        """The greeting also gives the station's web chat page (WeChat makes a bare URL a link),
        easier for long input."""
        if not self.channel.public_url:
            return message
        url = f"{self.channel.public_url}/s/{quote(station)}"
        link = self.channel.catalog.t("wechat.form_link", url=url)
        return replace(message, text=f"{message.text}\n\n{link}" if message.text else str(link))

    async def _shown_waiting(self, openid: str) -> list[OutMessage]:
        """Notices kept for the resident are shown now, before the answer."""
        async with self.db.transaction() as conn:
            repo = WeChatRepo(conn)
            kept = await repo.waiting(openid)
            if not kept:
                return []
            await repo.mark_shown([k.id for k in kept], self.clock.now())
            for k in kept:
                if k.wish_id is not None:
                    await repo.record_path(k.wish_id, openid, SHOWN, self.clock.now())
        for wish_id in dict.fromkeys(k.wish_id for k in kept if k.waiting and k.wish_id):
            # only what had reached them by no path is news on the timeline when shown
            await self.channel.reported(wish_id, openid, SHOWN)
        header = OutMessage(text=self.channel.catalog.t("wechat.waiting_header", count=len(kept)))
        return [header, *(OutMessage.from_payload(k.payload) for k in kept)]

    async def _translate(self, push: Push, uid: int) -> Input | None:
        base = {"account": push.from_user, "key": f"wechat:{uid}"}
        if push.msg_type == "event":
            if push.event in ("subscribe", "SCAN"):
                return Input(start=True, start_payload=station_of_scene(push.scene), **base)
            if push.consents:
                await self._record_consents(push)
                return None
            if push.event == "CLICK" and push.event_key in MENU_COMMANDS:
                # a menu tap is the command it names, as Telegram's menu buttons and /faq are:
                # the conversation decides what it does in the person's state
                return Input(command=MENU_COMMANDS[push.event_key], **base)
            if push.event == "CLICK":
                # a menu item the operator keyed otherwise (e.g. STATS): the command it names,
                # which the conversation answers, as unknown if it is none (a tap was dropped)
                return Input(command=push.event_key.strip().lower(), **base)
            # Deliberately unanswered (`success`): unsubscribe (nobody to answer), VIEW (the
            # menu opened a web page), and WeChat's own reports (LOCATION every few seconds
            # when location reporting is on, TEMPLATESENDJOBFINISH): none is a person's
            # message waiting for an answer.
            return None
        if push.msg_type == "text":
            menu_id = push.menu_id.strip()
            if menu_id.isdigit() and menu_id.strip("0") and len(menu_id) <= 18:
                # A bizmsgmenu link carries its own stored id (wechat/channel.py menu_ids): it
                # acts on the card it was shown on, whatever was shown since. An id no longer
                # kept (older than MENU_KEPT, or from before ids were stored) is a stale press,
                # never matched by its number or label against the latest answer (that acted
                # on another wish: 不满意 under wish A rated wish B).
                async with self.db.read() as conn:
                    action = await WeChatRepo(conn).menu_action(push.from_user, int(menu_id))
                if action:
                    return Input(action=action, **base)
                return Input(stale_press=True, **base)
            match = _NUMBER.match(push.content.translate(_FULL_WIDTH_DIGITS))
            action = None
            if match:
                # typed numbers mean the options of the latest answer shown
                async with self.db.read() as conn:
                    action = await WeChatRepo(conn).option(push.from_user, int(match.group(1)))
            if action is None and not match:
                # A bizmsgmenu tap may come back with bizmsgmenuid 0 or none (reported by
                # developers): only its label, as the text; the one option showing it is meant.
                # The same for a label typed out ("跳过", "下一步": the prompts name them), with
                # or without bizmsgmenu links: the answer offering it was the last one shown.
                async with self.db.read() as conn:
                    action = await WeChatRepo(conn).option_by_label(
                        push.from_user, push.content.strip()
                    )
            if action:
                return Input(action=action, **base)
            if match:
                # A number answers numbered options: one that maps to none of those on offer
                # now (the step moved on, the card's buttons were taken away, or it is out of
                # range) is a press of a button no longer there. Read as text it was added to
                # a wish being described, or answered by nothing at all.
                return Input(stale_press=True, text=push.content, **base)
            linking = _LINK.match(push.content)
            if linking:
                return Input(command="link", args=linking.group(1), **base)
            command = _COMMAND.match(push.content.strip())
            if command:
                return Input(
                    command=command.group(1), args=(command.group(2) or "").strip(), **base
                )
            return Input(text=push.content, **base)
        if push.msg_type == "image":
            ref = await self._download(push.media_id)
            return Input(photos=(ref,), **base) if ref else Input(unsupported=True, **base)
        if push.msg_type == "voice" and push.recognition:
            return Input(text=push.recognition, **base)
        if push.msg_type == "location" and push.location is not None:
            return Input(location=push.location, **base)
        if push.msg_type == "link":
            return Input(text=f"{push.title}\n{push.url}".strip(), **base)
        return Input(unsupported=True, **base)

    async def _record_consents(self, push: Push) -> None:
        """One-time subscription consents: each accepted template may carry one message."""
        async with self.db.transaction() as conn:
            repo = WeChatRepo(conn)
            for template_id, status in push.consents:
                if status == "accept":
                    await repo.add_consent(push.from_user, template_id, self.clock.now())
                else:
                    await repo.use_consent(push.from_user, template_id)

    async def _download(self, media_id: str) -> str:
        """Temporary media expire after 3 days: keep the photo now. The reference is
        wechat-media:<sha256> for a file in media_dir.

        Kept as web uploads are: only if it is an image, re-encoded from its pixels (no EXIF,
        so no GPS position, camera or time; no trailing data), at most 2048 px."""
        try:
            raw, _ = await self.api.download_media(media_id)
        except DeliveryError as exc:
            log.warning("wechat media not downloaded: %s", exc.failure.value)
            return ""
        try:
            data = await asyncio.to_thread(reencode, raw)
        except UploadRejected as exc:
            log.warning("wechat media refused: %s", exc.reason)
            return ""
        digest = hashlib.sha256(data).hexdigest()
        if self.config.media_dir is not None:
            self.config.media_dir.mkdir(parents=True, exist_ok=True)
            target = self.config.media_dir / f"{digest}.jpg"
            try:
                # The same picture again (a file is named by its content): its time renewed,
                # in the event loop, so retention's sweep (bot/retention.py) keeps it for this
                # new draft even if an old wish's reference to it has just aged out.
                os.utime(target)
            except FileNotFoundError:
                await asyncio.to_thread(_write_whole, target, data)
        return f"wechat-media:{digest}"


def _write_whole(target: FsPath, data: bytes) -> None:
    """Whole or not at all: a file named by its content is reused for every later copy of the
    picture, so a crash must not leave a cut one under that name (a `.part` left behind is
    swept by retention). Two writers of the same picture at once: the second finds its part
    already moved into place, with the same bytes."""
    part = target.with_suffix(".part")
    part.write_bytes(data)
    with contextlib.suppress(FileNotFoundError):
        os.replace(part, target)
