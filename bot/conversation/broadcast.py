"""Staff writing a broadcast (群发): /broadcast, the scope, the text or photo, the audience, the
preview, the confirmation, the progress report and cancelling it. Every step re-checks the
staff member's rights on the server (BroadcastService); a resident gets the polite refusal."""

from __future__ import annotations

from bot import actions as act
from bot.actions import button
from bot.broadcasts import COUNTY, BroadcastDraft, BroadcastService
from bot.conversation.resident import paged
from bot.conversation.turn import Turn
from bot.domain.model import InvalidInput, NotAllowed
from bot.messages import Button, Keyboard, keyboard


def service(t: Turn) -> BroadcastService:
    if t.broadcasts is None:  # a process built without broadcasts (some tests): nobody may
        raise NotAllowed("broadcast")
    return t.broadcasts


async def begin(t: Turn) -> None:
    """/broadcast: straight to the text for one station's staff; otherwise choose the scope."""
    svc = service(t)
    stations, county = await svc.scopes(t.user)
    if len(stations) == 1 and not county:
        await prompt(t, await svc.begin(t.user, stations[0][0]))
        return
    t.say(t.c.t("broadcast.scope"), await scope_buttons(t, 0))


async def scope_buttons(t: Turn, page: int) -> Keyboard:
    c = t.c
    stations, county = await service(t).scopes(t.user)
    rows = [[Button(name, button(act.BROADCAST_SCOPE, arg=sid))] for sid, name in stations]
    if county:
        rows.insert(0, [Button(c.plain("btn.scope_county"), button(act.BROADCAST_SCOPE, arg=COUNTY))])
    return paged(c, rows, page, act.BROADCAST_PAGE)


async def on_button(t: Turn, a: act.Action) -> None:
    c, svc, arg = t.c, service(t), a.arg
    if a.verb == act.BROADCAST_PAGE:  # another page of the station list, on the same message
        t.drop_buttons(await scope_buttons(t, int(arg)))
    elif a.verb == act.BROADCAST_SCOPE:
        draft = await svc.begin(t.user, arg)
        t.drop_buttons()
        await prompt(t, draft)
    elif a.verb == act.BROADCAST_CANCEL:
        broadcast_id = int(arg)
        cancelled = await svc.cancel(t.user, broadcast_id)
        progress = await svc.progress(broadcast_id)
        # The progress report (the message 取消 is on) becomes the final report, without 取消.
        t.send(svc.render_progress(progress, svc.clock.now()))
        t.replace = True
        t.toast = c.plain("broadcast.cancel_toast", cancelled=cancelled)
    elif a.verb == act.BROADCAST_AUDIENCE and arg == "x":
        await svc.cancel_draft(t.user)
        t.drop_buttons()
        t.say(c.t("cancel.done"))
    elif a.verb == act.BROADCAST_AUDIENCE and arg == "ok":
        row = await svc.confirm(t.user, t.key)
        t.drop_buttons()
        t.send(svc.render_progress(await svc.progress(row.id), svc.clock.now()))
        t.broadcast_progress = row.id
        t.toast = c.plain("broadcast.started_toast")
    elif a.verb == act.BROADCAST_AUDIENCE:
        draft = await svc.set_audience(t.user, arg)
        t.drop_buttons()
        await prompt(t, draft)
    else:
        raise InvalidInput("stale")


async def prompt(t: Turn, draft: BroadcastDraft) -> None:
    c, svc = t.c, service(t)
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
