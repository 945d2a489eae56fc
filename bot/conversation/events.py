"""What a person did, in any channel: the one input type of `Conversation.handle`."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bot.actions import Action, try_decode


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
    # PHOTO: the photos of this input, in order (one per message on Telegram and WeChat, those
    # of one form post on the web): channel file refs (web: stored upload ids), all kept
    photos: tuple[str, ...] = ()
    # PHOTO: the channel's hint that photos of several inputs were sent as one album (Telegram's
    # media_group_id); "" when it gives none. The conversation acknowledges a sending once.
    group: str = ""
    location: tuple[float, float] | None = None
    start_payload: str = ""  # START: station id from a QR code / deep link / qrscene
    reply_to: str | None = None  # the channel message id the person replied to
    display_name: str = ""
    private: bool = True  # a private chat (groups only get the FAQ when addressed)
    on_message: str | None = None  # id of the message the pressed button was on (for edits)


def channel_event(
    channel: str,
    account: str,
    key: str,
    *,
    start: bool = False,
    start_payload: str = "",
    action: str = "",
    command: str = "",
    args: str = "",
    photos: tuple[str, ...] = (),
    location: tuple[float, float] | None = None,
    unsupported: bool = False,
    stale_press: bool = False,
    text: str = "",
) -> Inbound:
    """One input of a channel without a library of its own (a web form post, a WeChat push),
    already parsed by its adapter, as the neutral event: one translation for both, so they
    cannot drift apart. A button's raw data is decoded here by the one action codec; what does
    not decode (a stale or forged press) is an ACTION without an action, which the
    conversation refuses politely, as it does a Telegram press of the same kind. `stale_press`:
    the adapter knows the press is of nothing on offer (a WeChat number for no option); the
    text typed goes along, which the conversation reads as text where text is awaited."""
    common = {"channel": channel, "account": account, "chat": account, "key": key}
    if stale_press:
        return Inbound(kind=Kind.ACTION, action=None, text=text, **common)
    if start:
        return Inbound(kind=Kind.START, start_payload=start_payload, **common)
    if action:
        return Inbound(kind=Kind.ACTION, action=try_decode(action), **common)
    if command:
        return Inbound(kind=Kind.COMMAND, command=command, args=args, **common)
    if photos:
        return Inbound(kind=Kind.PHOTO, photos=photos, text=text, **common)
    if location is not None:
        return Inbound(kind=Kind.LOCATION, location=location, **common)
    if unsupported:
        return Inbound(kind=Kind.UNSUPPORTED, **common)
    return Inbound(kind=Kind.TEXT, text=text, **common)
