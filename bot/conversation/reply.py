"""What the bot answers the person who acted; a renderer per channel turns it into calls."""

from __future__ import annotations

from dataclasses import dataclass

from bot.messages import Keyboard, OutMessage


@dataclass(frozen=True)
class Reply:
    messages: tuple[OutMessage, ...] = ()  # cards for the person being answered, in order
    replace: bool = False  # the first message replaces the one the button was on (if edits)
    toast: str | None = None  # short acknowledgement of a button press
    alert: bool = False  # the toast needs acknowledging (Telegram show_alert)
    # New buttons for the message the pressed button was on (() takes them all away, so a
    # button cannot be pressed twice); None leaves that message alone. Channels without edits
    # ignore it: the server re-checks every action anyway.
    rebutton: Keyboard | None = None
    # The last message is the live progress report of this broadcast: a channel that can edit
    # reports where it landed (Conversation.progress_shown), and the broadcast monitor then
    # keeps it current. Other channels show it as it is.
    broadcast_progress: int | None = None
