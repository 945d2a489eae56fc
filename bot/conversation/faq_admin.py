"""Staff keeping the FAQ: the questions it missed (/faq_gaps and its teach buttons), a new entry
typed in chat (/faq_add), and re-reading the file (/faq_reload). Staff only, on every channel;
anybody else gets the polite "no right" answer and nothing changes."""

from __future__ import annotations

from bot import actions as act
from bot.actions import button
from bot.conversation.turn import Turn
from bot.domain.model import InvalidInput, NotAllowed
from bot.faq_service import entry_token
from bot.i18n import Markup
from bot.messages import Button, keyboard

#: Groups listed by /faq_gaps, and how many of them get a "teach" button.
GAPS_SHOWN = 15
GAPS_TEACHABLE = 8
TEACH_VERBS = frozenset({act.FAQ_TEACH, act.FAQ_TEACH_TO, act.FAQ_NEW_ENTRY})


async def require_staff(t: Turn) -> list[str] | None:
    """The stations a staff member manages; None for county admins (all of them)."""
    actor = await t.liaison.people.actor(t.user)
    if actor.is_admin:
        return None
    if not actor.staff_of:
        raise NotAllowed("faq")
    return sorted(actor.staff_of)


async def gaps(t: Turn) -> None:
    c = t.c
    stations = await require_staff(t)
    groups = await t.faq.gaps(stations)
    if not groups:
        t.say(c.t("faq.gaps_none"))
        return
    lines = [
        c.t(
            "faq.gap_line",
            n=i + 1,
            count=g.count,
            question=g.question,
            examples="；".join(g.examples[:3]),
        )
        for i, g in enumerate(groups[:GAPS_SHOWN])
    ]
    buttons = [
        Button(c.plain("btn.faq_teach", n=i + 1), button(act.FAQ_TEACH, arg=g.miss_id))
        for i, g in enumerate(groups[:GAPS_TEACHABLE])
    ]
    rows = [buttons[k : k + 4] for k in range(0, len(buttons), 4)]
    text = c.t("faq.gaps_header") + "\n" + "\n".join(lines)
    text += "\n\n" + c.t("faq.gaps_teach_hint")
    t.say(Markup(text), keyboard(*rows))


async def learn(t: Turn, a: act.Action) -> None:
    """Staff teaching the FAQ a missed question, from /faq_gaps.

    FAQ_TEACH offers the entries the question most likely belongs to; FAQ_TEACH_TO adds it to
    that entry as another phrasing (stored, effective at once); FAQ_NEW_ENTRY shows the
    /faq_add command for a new entry, the question filled in.
    """
    c = t.c
    stations = await require_staff(t)
    miss, _, token = a.arg.partition(":")
    if not miss.isdigit():  # the codec already checked; a second look costs nothing
        raise InvalidInput("stale")
    miss_id = int(miss)
    if a.verb == act.FAQ_TEACH:
        question, likely = await t.faq.likely_entries(miss_id, stations)
        rows = [
            [Button(e.question, button(act.FAQ_TEACH_TO, arg=f"{miss_id}:{entry_token(e.id)}"))]
            for e in likely
        ]
        rows.append([Button(c.plain("btn.faq_new_entry"), button(act.FAQ_NEW_ENTRY, arg=miss_id))])
        t.say(c.t("faq.teach_choose", question=question), keyboard(*rows))
    elif a.verb == act.FAQ_TEACH_TO:
        phrasing, entry = await t.faq.teach(miss_id, token, t.user.id, stations)
        t.say(c.t("faq.taught", question=phrasing, entry=entry.question))
        t.toast = c.plain("faq.taught_toast")
    elif a.verb == act.FAQ_NEW_ENTRY:
        question = await t.faq.missed_question(miss_id, stations)
        t.say(c.t("faq.teach_new", question=question.strip()[:200]))
    else:
        raise InvalidInput("stale")


async def add(t: Turn, args: str) -> None:
    """/faq_add 问题 | 答案: the rest of the line as typed (the answer may span lines)."""
    stations = await require_staff(t)
    # Chinese keyboards type the full-width bar "｜" as often as "|".
    question, sep, answer = args.replace("｜", "|").partition("|")
    if not sep:
        t.say(t.c.t("faq.add_usage"))
        return
    entry_id = await t.faq.add(question, answer, t.user.id, stations or ())
    t.say(t.c.t("faq.added", id=entry_id, total=len(t.faq.entries)))


async def reload(t: Turn) -> None:
    await require_staff(t)
    try:
        total = await t.faq.reload()
    except ValueError as exc:  # FaqFileError: the old FAQ stays in use
        t.say(t.c.t("faq.reload_failed", error=str(exc)[:1000]))
        return
    t.say(t.c.t("faq.reloaded", total=total))
