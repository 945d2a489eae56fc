"""Telegram Update -> the channel-neutral `Inbound`: translation only, no decisions."""

from __future__ import annotations

import re
from dataclasses import replace

from telegram import Update

from bot import actions as act
from bot.conversation import Inbound, Kind
from handlers.common import CHANNEL, idempotency_key, is_private


def inbound(update: Update, *, command: str = "", args: list[str] | None = None) -> Inbound | None:
    """The input in an update; `command`/`args` come from PTB's CommandHandler when it matched
    one. None for an update without a person (a channel post, a bot)."""
    user = update.effective_user
    chat = update.effective_chat
    if user is None or chat is None or user.is_bot:
        return None
    base = {
        "channel": CHANNEL,
        "account": str(user.id),
        "chat": str(chat.id),
        "key": idempotency_key(update),
        "display_name": " ".join(p for p in (user.first_name, user.last_name) if p),
        "private": is_private(update),
    }
    query = update.callback_query
    if query is not None:
        message_id = query.message.message_id if query.message is not None else None
        return Inbound(
            kind=Kind.ACTION,
            action=act.try_decode(query.data),  # None: stale or forged, refused politely
            on_message=None if message_id is None else str(message_id),
            **base,
        )
    if command == "start":
        return Inbound(kind=Kind.START, start_payload=args[0] if args else "", **base)
    if command:
        return Inbound(kind=Kind.COMMAND, command=command, args=" ".join(args or ()), **base)
    message = update.effective_message
    if message is None:
        return None
    if message.text is not None:
        target = message.reply_to_message
        # Only a reply to one of the bot's own messages can be about a wish.
        replied = (
            str(target.message_id)
            if target is not None and target.from_user is not None and target.from_user.is_bot
            else None
        )
        return Inbound(kind=Kind.TEXT, text=message.text, reply_to=replied, **base)
    if message.photo:
        # Telegram lists the sizes of one photo, the largest last: that one is the photo.
        largest = message.photo[-1].file_id
        # An album comes as one message per photo, each with the album's media_group_id.
        return Inbound(
            kind=Kind.PHOTO,
            photos=(largest,),
            group=message.media_group_id or "",
            text=message.caption or "",
            **base,
        )
    if message.location is not None:
        loc = (message.location.latitude, message.location.longitude)
        return Inbound(kind=Kind.LOCATION, location=loc, **base)
    if message.contact is not None:
        return Inbound(kind=Kind.CONTACT, text=message.contact.phone_number, **base)
    return Inbound(kind=Kind.UNSUPPORTED, **base)


def split_command(text: str) -> tuple[str, str, str]:
    """``/name@target rest`` -> (name lowercased as Telegram matches it, target, the rest of
    the text as typed: an FAQ answer may span lines)."""
    head, *more = text.split(None, 1)
    name, _, target = head[1:].partition("@")
    return name.lower(), target, more[0] if more else ""


def command_inbound(update: Update, bot_name: str) -> Inbound | None:
    """A command typed in a private chat. One for another bot (``/new@other_bot``) keeps its
    target in the name, so the conversation answers it as a command it does not know."""
    message = update.effective_message
    if message is None or message.text is None:
        return None
    name, target, rest = split_command(message.text)
    if target and target.lower() != bot_name.lower():
        name = f"{name}@{target}"
    args = rest.split() if name == "start" else [rest]  # /start's payload is its first word
    return inbound(update, command=name, args=args)


def group_inbound(update: Update, bot_name: str) -> Inbound | None:
    """In a group the bot is addressed only by a command (for it, or for no bot in particular)
    or a mention of its name; anything else is not for it (None). A mention becomes TEXT with
    the mention taken out; the conversation decides what to say."""
    message = update.effective_message
    event = inbound(update)
    if message is None or message.text is None or event is None or event.private:
        return None
    text = message.text
    if text.startswith("/"):
        name, target, rest = split_command(text)
        if target and target.lower() != bot_name.lower():
            return None  # a command for another bot
        return replace(event, kind=Kind.COMMAND, command=name, args=rest, text="", reply_to=None)
    mention = f"@{bot_name}"
    if not bot_name or mention.lower() not in text.lower():
        return None  # somebody else was mentioned
    question = re.sub(re.escape(mention), " ", text, flags=re.IGNORECASE).strip()
    return replace(event, kind=Kind.TEXT, text=question, reply_to=None)

