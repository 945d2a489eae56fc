"""What a person did, in any channel: the one input type of `Conversation.handle`."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bot.actions import Action


class Kind(StrEnum):
    TEXT = "text"
    ACTION = "action"
    COMMAND = "command"
    PHOTO = "photo"
    LOCATION = "location"
    CONTACT = "contact"
    START = "start"
    UNSUPPORTED = "unsupported"


@dataclass(frozen=True)
class Inbound:
    channel: str  # "telegram" | "web" | "wechat" | "memory"
    account: str  # the person's id in that channel (tg user id, web visitor id, openid)
    chat: str  # where answers go in that channel (tg chat id; web: visitor id)
    kind: Kind
    key: str  # idempotency key, unique per (channel, account) and input
    text: str = ""  # TEXT body, a caption, or a CONTACT's phone number
    command: str = ""  # COMMAND: "start", "new", "my", ... (no slash)
    args: str = ""  # COMMAND: the rest of the line
    action: Action | None = None  # ACTION: decoded by bot.actions.decode (never raw client data)
    photos: tuple[str, ...] = ()  # PHOTO: channel file refs (web: stored upload ids)
    location: tuple[float, float] | None = None
    start_payload: str = ""  # START: station id from a QR code / deep link / qrscene
    reply_to: str | None = None  # the channel message id the person replied to
    display_name: str = ""
    private: bool = True  # a private chat (groups only get the FAQ when addressed)
    on_message: str | None = None  # id of the message the pressed button was on (for edits)
