"""The web `Channel`: pull. What the dispatcher delivers to a web account is stored (web_messages)
and shown when the person looks; an open page is woken at once (SSE)."""

from __future__ import annotations

import asyncio
from collections import defaultdict

from bot.channel import Capabilities
from bot.clock import Clock
from bot.messages import OutMessage
from storage.db import Database
from storage.web import WebRepo

# What the web chat can do (the core words its texts by it, bot/domain/variants.py): buttons,
# no replying to one message, and the page's buttons rather than typed commands as the way in;
# the 回音壁 is a page, not a channel to subscribe to. The desk answers /qr itself (web/chat.py,
# the stations' web QR codes), so /help lists it.
CAPABILITIES = Capabilities(
    buttons=True, edits=False, reply_to=False, html=True, text_limit=4096, push=False,
    commands=False, channels=False, own_commands=frozenset({"qr"}),
)  # fmt: skip


class WebChannel:
    channel = "web"
    name = "web"
    capabilities = CAPABILITIES

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock
        self._waiters: dict[str, set[asyncio.Event]] = defaultdict(set)

    def is_group(self, chat_id: str) -> bool:
        return False

    async def deliver(self, chat_id: str, message: OutMessage) -> str | None:
        return str(await self.store(chat_id, message.to_payload()))

    async def edit(self, chat_id: str, message_id: str, message: OutMessage) -> None:
        # A page shows a conversation: the newer card is added below rather than replacing one
        # the person may be reading.
        await self.deliver(chat_id, message)

    async def store(self, account: str, payload: dict[str, object]) -> int:
        async with self.db.transaction() as conn:
            message_id = await WebRepo(conn).add_message(account, payload, self.clock.now())
        self.notify(account)
        return message_id

    def notify(self, account: str) -> None:
        for event in self._waiters.get(account, ()):
            event.set()

    async def wait(self, account: str, seconds: float) -> None:
        """Until something is stored for `account`, or `seconds` pass."""
        event = asyncio.Event()
        self._waiters[account].add(event)
        try:
            await asyncio.wait_for(event.wait(), seconds)
        except TimeoutError:
            pass
        finally:
            self._waiters[account].discard(event)
            if not self._waiters[account]:
                del self._waiters[account]
