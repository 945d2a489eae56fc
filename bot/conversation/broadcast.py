"""Staff writing a broadcast: the steps that take text, in the same box as everything else."""

from __future__ import annotations

from bot import actions as act
from bot.actions import button
from bot.broadcasts import BroadcastDraft
from bot.conversation.turn import Turn
from bot.messages import Button, keyboard


async def prompt(t: Turn, draft: BroadcastDraft) -> None:
    c, svc = t.c, t.broadcasts
    assert svc is not None
    cancel = Button(c.plain("btn.cancel"), button(act.BROADCAST_AUDIENCE, arg="x"))
    if draft.step == "text":
        t.say(c.t("broadcast.write"))
    elif draft.step == "audience":
        t.say(
            c.t("broadcast.audience"),
            keyboard(
                [
                    Button(
                        c.plain("btn.audience_station"),
                        button(act.BROADCAST_AUDIENCE, arg="station"),
                    )
                ],
                [
                    Button(
                        c.plain("btn.audience_followers"),
                        button(act.BROADCAST_AUDIENCE, arg="followers"),
                    )
                ],
                [cancel],
            ),
        )
    elif draft.step == "receipt":
        t.say(c.t("broadcast.receipt"))
    elif draft.step == "confirm":
        message, count = await svc.preview(t.user)
        t.say(c.t("broadcast.preview_header"))
        t.send(message)
        send = Button(
            c.plain("btn.send_broadcast", count=count), button(act.BROADCAST_AUDIENCE, arg="ok")
        )
        t.say(
            c.t("broadcast.preview", count=count),
            keyboard([send, cancel]) if count else keyboard([cancel]),
        )


async def handle_text(t: Turn, text: str, photo: str | None = None) -> bool:
    """Text or a photo for a broadcast being written; False if no broadcast is being written."""
    svc = t.broadcasts
    if svc is None:
        return False
    draft = await svc.draft(t.user)
    if draft is None:
        return False
    if draft.step == "text":
        draft = await svc.set_text(t.user, text, photo)
    elif draft.step == "receipt":
        draft = await svc.set_wish(t.user, text)
    else:
        t.say(t.c.t("new.use_buttons"))
        return True
    await prompt(t, draft)
    return True
