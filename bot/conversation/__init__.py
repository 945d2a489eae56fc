"""The channel-neutral conversation: `Inbound` in, `Reply` out, the same for every channel.

    channel adapter (handlers/, web/, wechat/, bot/channels/memory.py)
        Update / request / message  ->  Inbound  ->  Conversation.handle  ->  Reply  ->  render

Messages to anyone but the person answered (a deputy's new card, a resident's "resolved")
are written to the outbox by the use cases and delivered by the Dispatcher, as before.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bot.conversation.events import Inbound, Kind
from bot.conversation.reply import Reply
from bot.conversation.turn import Turn
from bot.domain.model import DomainError
from bot.i18n import Catalog, Markup
from bot.services import Identity

if TYPE_CHECKING:
    from bot.broadcasts import BroadcastService
    from bot.faq_service import FaqService
    from bot.reporting import Reporting
    from bot.services import Liaison
    from bot.supervision import Supervisor
    from storage.repositories import UserRow

__all__ = ["Conversation", "Inbound", "Kind", "Reply", "error_text"]

log = logging.getLogger(__name__)


def error_text(catalog: Catalog, exc: DomainError) -> str:
    """The polite words for a refusal: the most specific catalog key there is."""
    for key in (f"error.{exc.detail}", f"error.{exc.code}"):
        if catalog.has(key):
            return catalog.plain(key)
    return catalog.plain("error.generic")


class Conversation:
    def __init__(
        self,
        liaison: Liaison,
        catalog: Catalog,
        faq: FaqService,
        broadcasts: BroadcastService | None = None,
        bot_name: str = "",
        supervisor: Supervisor | None = None,
    ) -> None:
        self.liaison = liaison
        self.catalog = catalog
        self.faq = faq
        self.broadcasts = broadcasts
        self.bot_name = bot_name  # how people address the bot in a group (Telegram @username)
        self.supervisor = supervisor
        self._reporting: Reporting | None = None

    @property
    def reporting(self) -> Reporting:
        """The reports of /stats, /mywork and /export, made on first use."""
        if self._reporting is None:
            from bot.reporting import Reporting

            self._reporting = Reporting(self.liaison)
        return self._reporting

    async def person(self, event: Inbound) -> UserRow:
        return await self.liaison.people.identify(
            Identity(
                channel=event.channel,
                external_id=event.account,
                chat_id=event.chat,
                # a channel that knows no name (web, WeChat) keeps the one stored: "" would
                # overwrite a Telegram name that masking relies on
                display_name=event.display_name or None,
            )
        )

    def turn(self, event: Inbound, user: UserRow) -> Turn:
        return Turn(
            event=event,
            user=user,
            liaison=self.liaison,
            catalog=self.catalog,
            faq=self.faq,
            broadcasts=self.broadcasts,
            supervisor=self.supervisor,
            reporting=self.reporting,
        )

    async def progress_shown(self, reply: Reply, chat: str, message_id: str) -> None:
        """Where a channel that can edit put the live progress report of `reply` (its last
        message), so the broadcast monitor keeps that message current."""
        if reply.broadcast_progress is not None and self.broadcasts is not None:
            await self.broadcasts.attach_progress(reply.broadcast_progress, chat, message_id)

    async def handle(self, event: Inbound, user: UserRow | None = None) -> Reply:
        """Answer one input. A refusal by the use cases (no right, stale button, bad input) is
        a polite answer that changed nothing, after whatever was already said in this turn;
        any other exception is a defect and propagates to the channel's error handling."""
        from bot.conversation import router  # the flows import this package's parts

        if user is None:
            user = await self.person(event)
        turn = self.turn(event, user)
        try:
            await router.route(turn, self.bot_name)
        except DomainError as exc:
            log.info("input %s refused: %s", event.key, exc.code)
            text = error_text(turn.c, exc)
            if event.kind is Kind.ACTION:
                turn.toast = text
                turn.rebutton = None
                return turn.reply(alert=True)
            turn.say(Markup(turn.c.t("error.wrap", text=text)))
            turn.rebutton = None
        return turn.reply()
