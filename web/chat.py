"""Where the web page meets the conversation: form posts → `Inbound`, `Reply` → stored cards.

Nothing here decides what an input means; `bot.conversation.Conversation.handle` does, for every
channel alike. This module only builds the neutral event, keeps the exchange (what the person
sent and what came back) in web_messages so the page shows it when they return, and gives the
resident the receipt's access code the first time a card about their new wish comes back.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from bot.clock import Clock
from bot.messages import Keyboard, OutMessage
from storage.db import Database
from storage.desk import DeskRepo
from storage.web import WebRepo
from web.channel import WebChannel
from web.security import digest

CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read aloud and typed on phones
CODE_LENGTH = 6
# How long a file made for one person (a chart, an export: personal data) can be fetched; the
# retention job deletes it afterwards.
FILE_LIFETIME = timedelta(hours=1)


def new_access_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


class ConversationLike(Protocol):
    async def handle(self, event: Any, user: Any = None) -> Any: ...


@dataclass(frozen=True)
class Input:
    """One form post, already checked (CSRF, replay key, rate limit) by the server."""

    key: str
    text: str = ""
    action: str = ""  # an encoded action from a button (decoded strictly below)
    command: str = ""
    photos: tuple[str, ...] = ()
    location: tuple[float, float] | None = None
    start: str = ""  # the station id of /s/<station>: the QR code's start payload
    echo: str = ""  # what the page shows as the person's own bubble
    on: int | None = None  # the stored message (web_messages id) the pressed button was on


def event_of(account: str, item: Input) -> Any:
    """A form post as the neutral event (bot/conversation/events.py channel_event)."""
    from bot.conversation.events import channel_event

    # "/stats quarter": the command's words after its name are its arguments
    words = item.text.split(maxsplit=1)
    args = words[1] if item.command and item.text.startswith("/") and len(words) > 1 else ""
    return channel_event(
        "web",
        account,
        item.key,
        start=bool(item.start),
        start_payload=item.start,
        action=item.action,
        command=item.command,
        args=args,
        photos=item.photos,
        location=item.location,
        text=item.text,
    )


class WebChat:
    def __init__(
        self, conversation: ConversationLike, channel: WebChannel, db: Database, clock: Clock
    ) -> None:
        self.conversation = conversation
        self.channel = channel
        self.db = db
        self.clock = clock

    async def send(self, account: str, item: Input) -> str | None:
        """Handle one input; return the toast to show, if any."""
        if item.echo:
            # the person's own bubble shows what they sent: their photos (stored upload ids) and place
            mine: dict[str, Any] = {"from": "me", "text": item.echo}
            if item.photos:
                mine["photos"] = list(item.photos)
            if item.location is not None:
                mine["location"] = list(item.location)
            await self.channel.store(account, mine)
        reply = await self.conversation.handle(event_of(account, item))
        if reply.rebutton is not None and item.on is not None:
            # the pressed card's buttons as the conversation says (none: a spent button goes,
            # as Telegram edits it away), so a stale one cannot be pressed again from this page
            await self._rebutton(account, item.on, reply.rebutton)
        for message in reply.messages:
            payload = message.to_payload()
            if message.attachment is not None:
                payload["file"] = await self._keep_file(account, message)
            await self.channel.store(account, payload)
            if message.wish_id is not None:
                await self._access_code(account, message)
        if reply.toast:
            # Telegram shows a press's toast (or alert: a refusal) over the chat; a page keeps
            # it as a small note in the conversation, so a refused press never goes unanswered
            await self.channel.store(account, {"kind": "note", "text": reply.toast, "alert": reply.alert})
        return reply.toast

    async def qr(self, account: str, item: Input, public_url: str) -> None:
        """/qr typed on the web desk: the web page's QR code of each station the person is staff
        of (or the one named), as Telegram's /qr gives its t.me one. Who may have it is the use
        case's rule (bot/reporting.py qr_codes); a refusal is said as the conversation says it."""
        from bot.conversation import error_text
        from bot.domain.model import DomainError
        from bot.i18n import Markup
        from bot.messages import IMAGE, Attachment
        from bot.reporting import Reporting

        conversation: Any = self.conversation
        catalog = conversation.catalog
        if item.echo:
            await self.channel.store(account, {"from": "me", "text": item.echo})
        user = await conversation.person(event_of(account, item))
        words = item.text.split()
        station = words[1].lower() if len(words) > 1 else None
        try:
            codes = await Reporting(conversation.liaison).qr_codes(
                user, "", station, link=lambda station_id: f"{public_url}/s/{station_id}"
            )
        except DomainError as exc:
            text = Markup(catalog.t("error.wrap", text=error_text(catalog, exc)))
            await self.channel.store(account, {"text": str(text)})
            return
        for code in codes:
            caption = catalog.t("reports.qr_caption", station=code.station.name, link=code.link)
            png = Attachment(code.png, f"qr-web-{code.station.id}.png", "image/png", IMAGE)
            message = OutMessage(text=caption, attachment=png)
            payload = message.to_payload()
            payload["file"] = await self._keep_file(account, message)
            await self.channel.store(account, payload)

    async def _rebutton(self, account: str, message_id: int, buttons: Keyboard) -> None:
        async with self.db.transaction() as conn:
            repo = WebRepo(conn)
            old = await repo.message(account, message_id)
            if old is None or old.get("kind") is not None or old.get("from") == "me":
                return  # not this account's card (a forged id): nothing to change
            new = {k: v for k, v in old.items() if k != "buttons"}
            if buttons:
                new["buttons"] = [[b.to_dict() for b in row] for row in buttons]
            await repo.replace_message(account, message_id, old, new)

    async def _keep_file(self, account: str, message: OutMessage) -> dict[str, Any]:
        """A chart or export for this account only: stored for FILE_LIFETIME, fetched at
        /f/<id> by this session (web/server.py), never put into web_messages as bytes."""
        file = message.attachment
        assert file is not None
        file_id = secrets.token_hex(20)  # hex: the URL's id is checked as alphanumeric
        now = self.clock.now()
        expires = now + FILE_LIFETIME
        async with self.db.transaction() as conn:
            await DeskRepo(conn).add(
                file_id, account, file.filename, file.mime, file.data, now, expires
            )
        return {
            "id": file_id,
            "name": file.filename,
            "mime": file.mime,
            "image": file.is_image,
            "size": len(file.data),
            "expires": expires.isoformat(),
        }

    async def _access_code(self, account: str, message: OutMessage) -> None:
        """The first card about a resident's own new wish gets a receipt card, once. Its access
        code does not exist yet: it is made when the page first shows the card (`reveal`), so
        the code is never stored anywhere but hashed. Until then the wish holds an unusable
        hash (nothing opens it), which also marks that its card was given."""
        assert message.wish_id is not None
        async with self.db.transaction() as conn:
            repo = WebRepo(conn)
            if not await repo.owns(account, message.wish_id):
                return
            if await repo.has_access_code(message.wish_id):
                return
            await repo.set_access_code(message.wish_id, digest(secrets.token_urlsafe(32)))
            receipt = await repo.receipt(message.wish_id)
            payload = {
                "kind": "access_code", "receipt": receipt, "wish_id": message.wish_id,
                "pending": True,
            }  # fmt: skip
            await repo.add_message(account, payload, self.clock.now())
        self.channel.notify(account)


async def reveal(db: Database, account: str, message_id: int, payload: dict[str, Any]) -> str:
    """The access code of a receipt card not shown before: made now, stored hashed, the card
    marked shown; "" when the card was shown already (the code is shown this once: a reload
    or another tab does not see it again). Two requests racing: exactly one gets the code."""
    if not payload.get("pending") or not isinstance(payload.get("wish_id"), int):
        return ""
    code = new_access_code()
    shown = {k: v for k, v in payload.items() if k != "pending"}
    async with db.transaction() as conn:
        repo = WebRepo(conn)
        if not await repo.replace_message(account, message_id, payload, shown):
            return ""
        await repo.set_access_code(int(payload["wish_id"]), digest(code))
    return code
