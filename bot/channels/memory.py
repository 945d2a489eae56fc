"""An in-memory channel: what a person would have seen, recorded, with no network.

It is a real `Channel` (a Transport the Dispatcher can deliver outbox rows to) and a small
driver for the conversation, so use-case tests walk whole flows without Telegram:

    channel = MemoryChannel()
    talk = MemoryConversation(conversation, channel)
    reply = await talk.say("700001", "/new")
    reply = await talk.press("700001", reply.messages[-1].buttons[0][0])
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from bot import actions
from bot.channel import Capabilities
from bot.conversation import Conversation, Inbound, Kind, Reply
from bot.messages import Button, OutMessage


@dataclass
class Delivery:
    chat: str
    message: OutMessage
    message_id: str


@dataclass
class MemoryChannel:
    name: str = "memory"
    capabilities: Capabilities = field(
        default_factory=lambda: Capabilities(
            buttons=True, edits=True, reply_to=True, html=True, text_limit=4096, push=True
        )
    )
    deliveries: list[Delivery] = field(default_factory=list)
    edits: list[Delivery] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    # -- Transport ---------------------------------------------------------------------------
    async def deliver(self, chat_id: str, message: OutMessage) -> str | None:
        message_id = str(next(self._ids))
        self.deliveries.append(Delivery(chat_id, message, message_id))
        return message_id

    async def edit(self, chat_id: str, message_id: str, message: OutMessage) -> None:
        self.edits.append(Delivery(chat_id, message, message_id))

    def is_group(self, chat_id: str) -> bool:
        return chat_id.startswith("-")

    # -- what a person saw -------------------------------------------------------------------
    def seen_by(self, chat: str) -> list[OutMessage]:
        return [d.message for d in self.deliveries if d.chat == chat]


class MemoryConversation:
    """Drives a Conversation as people in `channel` would; answers are delivered to the channel
    too, so `channel.seen_by(chat)` is the whole chat as that person saw it."""

    def __init__(self, conversation: Conversation, channel: MemoryChannel) -> None:
        self.conversation = conversation
        self.channel = channel
        self._keys = itertools.count(1)

    async def send(self, account: str, kind: Kind, **fields: object) -> Reply:
        event = Inbound(
            channel=self.channel.name,
            account=account,
            chat=account,
            kind=kind,
            key=f"{self.channel.name}:{account}:{next(self._keys)}",
            **fields,  # type: ignore[arg-type]
        )
        reply = await self.conversation.handle(event)
        for message in reply.messages:
            await self.channel.deliver(account, message)
        return reply

    async def say(self, account: str, text: str) -> Reply:
        if text.startswith("/"):
            name, _, args = text[1:].partition(" ")
            if name == "start":
                return await self.send(account, Kind.START, start_payload=args.strip())
            return await self.send(account, Kind.COMMAND, command=name, args=args.strip())
        return await self.send(account, Kind.TEXT, text=text)

    async def press(self, account: str, button: Button | str) -> Reply:
        """A button, or its encoded action (as a client would post it back)."""
        data = button.action if isinstance(button, Button) else button
        return await self.send(account, Kind.ACTION, action=actions.try_decode(data))
