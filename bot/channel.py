"""What a channel is to the core: a Transport (bot/dispatcher.py) with a name and capabilities.

A channel adapter (handlers/ for Telegram, web/, wechat/, bot/channels/memory.py for tests)
translates its input into `bot.conversation.Inbound`, renders `Reply` and outbox `OutMessage`s in
its own form, and decides nothing. What it can and cannot do is declared here, so the
conversation can choose, e.g., numbered options where there are no buttons.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from bot.dispatcher import Transport
from bot.domain.variants import missing_features


@dataclass(frozen=True)
class Capabilities:
    buttons: bool = True  # inline buttons under a message (Telegram, web); WeChat: numbered options
    edits: bool = True  # can replace a message sent earlier (Telegram, web)
    reply_to: bool = False  # a person can reply to one specific message (Telegram)
    html: bool = True  # renders the b/i/code/a subset of bot/messages.py texts
    text_limit: int = 4096  # characters per message as rendered
    push: bool = True  # can reach a person at any time (web: only shown when they look)
    # slash commands are how people find things (Telegram's "/" menu); where they are not
    # (web buttons, WeChat's menu), texts name the buttons instead of /new, /my, /wall
    commands: bool = True
    channels: bool = False  # public channels people subscribe to exist (Telegram's 回音壁)
    # commands the adapter answers itself, outside the conversation (Telegram: /qr, /web)
    own_commands: frozenset[str] = frozenset()

    @property
    def missing(self) -> tuple[str, ...]:
        """What the catalog's texts may rely on and this channel lacks (bot/domain/variants.py)."""
        return missing_features(
            reply_to=self.reply_to, buttons=self.buttons, commands=self.commands,
            channels=self.channels,
        )  # fmt: skip


# A channel that could not push a message and keeps it until the person next writes (WeChat
# outside its window, with no template or subscription open) returns, as the delivered message's
# id, this prefix and the id of the kept card: the outbox row then records that it is waiting
# (the broadcast report counts those as "waiting", not as delivered).
WAITING_PREFIX = "waiting:"


# Telegram's, stated here (not in handlers/) so the core can reason about it without importing it.
TELEGRAM_CAPABILITIES = Capabilities(
    buttons=True, edits=True, reply_to=True, html=True, text_limit=4096, push=True,
    commands=True, channels=True, own_commands=frozenset({"qr", "web"}),
)  # fmt: skip


@runtime_checkable
class Channel(Transport, Protocol):
    name: str  # "telegram", "web", "wechat", "memory"
    capabilities: Capabilities
