"""One turn of the conversation: who acts, through what, and the answer being built."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from bot.conversation.events import Inbound
from bot.conversation.reply import Reply
from bot.i18n import Catalog, Markup
from bot.messages import Keyboard, OutMessage

if TYPE_CHECKING:
    from bot.broadcasts import BroadcastService
    from bot.faq_service import FaqService
    from bot.reporting import Reporting
    from bot.services import Liaison
    from bot.supervision import Supervisor
    from storage.repositories import UserRow


@dataclass
class Turn:
    """The answer is collected in order as the use cases run, so a refusal half-way keeps what
    was already said (an "input expired" note before it, say), exactly as when handlers sent
    each message at once."""

    event: Inbound
    user: UserRow
    liaison: Liaison
    catalog: Catalog
    faq: FaqService
    broadcasts: BroadcastService | None = None
    supervisor: Supervisor | None = None  # 督办 (/overdue, 催办, 回访); None: not wired
    reporting: Reporting | None = None  # /stats, /mywork, /export
    messages: list[OutMessage] = field(default_factory=list)
    rebutton: Keyboard | None = None
    toast: str | None = None
    replace: bool = False  # the first message replaces the one the pressed button was on
    broadcast_progress: int | None = None  # see Reply.broadcast_progress

    @property
    def c(self) -> Catalog:
        """The catalog worded for the channel this turn came by: no channel is told to do what
        it cannot (reply to a message, press a button, type a command)."""
        return self.catalog.worded(self.liaison.core.missing(self.event.channel))

    @property
    def key(self) -> str:
        return self.event.key

    def say(self, text: Markup | str, buttons: Keyboard = (), wish_id: int | None = None) -> None:
        self.messages.append(OutMessage(text=text, buttons=buttons, wish_id=wish_id))

    def send(self, message: OutMessage) -> None:
        self.messages.append(message)

    def drop_buttons(self, buttons: Keyboard = ()) -> None:
        """New buttons (or none) for the message the pressed button was on."""
        if self.event.action is not None:
            self.rebutton = buttons

    def reply(self, *, alert: bool = False) -> Reply:
        channel = self.event.channel
        return Reply(
            messages=tuple(self.liaison.core.fit(channel, m) for m in self.messages),
            replace=self.replace and bool(self.messages),
            toast=self.toast,
            alert=alert,
            rebutton=self.rebutton,
            broadcast_progress=self.broadcast_progress,
        )

    def note_before(self, start: int, note: Markup) -> None:
        """`note` at the head of the first message said since `start` (or on its own): one
        message, not two, for a channel that answers once (WeChat's passive reply)."""
        if len(self.messages) > start:
            first = self.messages[start]
            self.messages[start] = replace(first, text=Markup(f"{note}\n\n{first.text}"))
        else:
            self.say(note)
