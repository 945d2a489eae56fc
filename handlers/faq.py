"""The FAQ in chat: answers, "did you mean" buttons, topics, and staff's gap list."""

from __future__ import annotations

import re

from telegram import Update

from bot.domain.masking import name_variants
from bot.domain.model import InvalidInput, NotAllowed
from bot.faq_service import entry_token
from bot.i18n import Markup
from bot.messages import Button, keyboard
from handlers.common import Context, deps, guarded, is_private, reply
from handlers.resident import prompt
from storage.repositories import UserRow

TOPICS_PER_PAGE = 10


async def answer_question(update: Update, context: Context, user: UserRow, text: str) -> None:
    """A resident's free text in a private chat, outside any flow: answer, suggest or hand over."""
    d = deps(context)
    c = d.catalog
    station = await d.liaison.home_station(user)
    result = await d.faq.ask(text, station, name_variants(user.display_name or ""))
    # Kept for "留言给代表" on this reply, whatever the outcome: an answer may not be enough.
    await d.liaison.remember_question(user, text)
    leave = Button(c.plain("btn.leave_wish"), "fw:0")
    if result.kind == "answer":
        await reply(
            update,
            context,
            c.t("faq.answer", answer=result.answer),
            keyboard([Button(c.plain("btn.more_faq"), "m:faq"), leave]),
        )
        return
    if result.kind == "chat":
        await reply(
            update,
            context,
            c.t("faq.small_talk"),
            keyboard(
                [Button(c.plain("btn.new"), "m:new"), Button(c.plain("btn.faq"), "m:faq")]
            ),
        )
        return
    if result.kind == "suggest":
        buttons = [[Button(q, f"fq:{eid}")] for eid, q in result.suggestions]
        await reply(update, context, c.t("faq.did_you_mean"), keyboard(*buttons, [leave]))
        return
    await reply(
        update,
        context,
        c.t("faq.no_answer"),
        keyboard([leave], [Button(c.plain("btn.faq"), "m:faq")]),
    )


async def _topics(update: Update, context: Context, user: UserRow) -> str | None:
    d = deps(context)
    station = await d.liaison.home_station(user)
    entries = d.faq.topics(station.id if station else None)
    pages = max(1, -(-len(entries) // TOPICS_PER_PAGE))
    page = 0
    query = update.callback_query
    if query is not None and (query.data or "").startswith("fp:"):
        arg = (query.data or "")[3:]
        page = min(int(arg), pages - 1) if arg.isdigit() else 0
    chunk = entries[page * TOPICS_PER_PAGE : (page + 1) * TOPICS_PER_PAGE]
    buttons = [[Button(e.question, f"fq:{e.id}")] for e in chunk]
    nav = []
    if page > 0:
        nav.append(Button(d.catalog.plain("btn.prev"), f"fp:{page - 1}"))
    if page + 1 < pages:
        nav.append(Button(d.catalog.plain("btn.next_page"), f"fp:{page + 1}"))
    await reply(update, context, d.catalog.t("faq.topics"), keyboard(*buttons, nav))
    return None


topics = guarded(_topics)


@guarded
async def on_button(update: Update, context: Context, user: UserRow) -> str | None:
    """fq:<entry id> shows an answer; fw:0 turns the last question into a new wish."""
    query = update.callback_query
    assert query is not None
    d = deps(context)
    c = d.catalog
    head, _, arg = (query.data or "").partition(":")
    if head == "fq":
        station = await d.liaison.home_station(user)
        answer = d.faq.answer_for(arg, station)
        if answer is None:
            raise InvalidInput("stale")
        buttons = keyboard([Button(c.plain("btn.leave_wish"), "fw:0")]) if is_private(update) else ()
        await reply(update, context, c.t("faq.answer", answer=answer), buttons)
        return None
    if head == "fw" and arg == "0":
        if not is_private(update):
            await reply(update, context, c.t("group.private_only", bot=d.bot_username))
            return None
        question = await d.liaison.recalled_question(user)
        draft = await d.liaison.start_draft(user, prefill=question)
        if question:
            await reply(update, context, c.t("faq.wish_from_question", question=question))
        await prompt(update, context, draft)
        return None
    raise InvalidInput("stale")


async def _require_staff(context: Context, user: UserRow) -> list[str] | None:
    """The stations a staff member manages; None for county admins (all)."""
    actor = await deps(context).liaison.actor(user)
    if actor.is_admin:
        return None
    if not actor.staff_of:
        raise NotAllowed("faq")
    return sorted(actor.staff_of)


#: Groups listed by /faq_gaps, and how many of them get a "teach" button.
GAPS_SHOWN = 15
GAPS_TEACHABLE = 8


@guarded
async def gaps(update: Update, context: Context, user: UserRow) -> None:
    d = deps(context)
    stations = await _require_staff(context, user)
    groups = await d.faq.gaps(stations)
    if not groups:
        await reply(update, context, d.catalog.t("faq.gaps_none"))
        return
    lines = [
        d.catalog.t(
            "faq.gap_line", n=i + 1, count=g.count, question=g.question, examples="；".join(g.examples[:3])
        )
        for i, g in enumerate(groups[:GAPS_SHOWN])
    ]
    buttons = [
        Button(d.catalog.plain("btn.faq_teach", n=i + 1), f"fg:{g.miss_id}")
        for i, g in enumerate(groups[:GAPS_TEACHABLE])
    ]
    rows = [buttons[k : k + 4] for k in range(0, len(buttons), 4)]
    text = d.catalog.t("faq.gaps_header") + "\n" + "\n".join(lines)
    text += "\n\n" + d.catalog.t("faq.gaps_teach_hint")
    await reply(update, context, Markup(text), keyboard(*rows))


@guarded
async def learn_button(update: Update, context: Context, user: UserRow) -> str | None:
    """Staff teaching the FAQ a missed question, from /faq_gaps.

    ``fg:<miss>`` offers the entries the question most likely belongs to; ``ft:<miss>:<entry
    token>`` adds it to that entry as another phrasing (stored, effective at once);
    ``fn:<miss>`` shows the /faq_add command for a new entry, the question filled in.
    """
    query = update.callback_query
    assert query is not None
    d = deps(context)
    c = d.catalog
    stations = await _require_staff(context, user)
    head, _, arg = (query.data or "").partition(":")
    miss, _, token = arg.partition(":")
    if not miss.isdigit():
        raise InvalidInput("stale")
    miss_id = int(miss)
    if head == "fg":
        question, likely = await d.faq.likely_entries(miss_id, stations)
        buttons = [[Button(e.question, f"ft:{miss_id}:{entry_token(e.id)}")] for e in likely]
        buttons.append([Button(c.plain("btn.faq_new_entry"), f"fn:{miss_id}")])
        await reply(update, context, c.t("faq.teach_choose", question=question), keyboard(*buttons))
        return None
    if head == "ft":
        phrasing, entry = await d.faq.teach(miss_id, token, user.id, stations)
        await reply(
            update, context, c.t("faq.taught", question=phrasing, entry=entry.question)
        )
        return c.plain("faq.taught_toast")
    if head == "fn":
        question = await d.faq.missed_question(miss_id, stations)
        await reply(update, context, c.t("faq.teach_new", question=question.strip()[:200]))
        return None
    raise InvalidInput("stale")


@guarded
async def add(update: Update, context: Context, user: UserRow) -> None:
    d = deps(context)
    stations = await _require_staff(context, user)
    message = update.effective_message
    assert message is not None and message.text is not None
    parts = message.text.split(None, 1)
    body = parts[1] if len(parts) == 2 else ""
    # Chinese keyboards type the full-width bar "｜" as often as "|".
    question, sep, answer = body.replace("｜", "|").partition("|")
    if not sep:
        await reply(update, context, d.catalog.t("faq.add_usage"))
        return
    entry_id = await d.faq.add(question, answer, user.id, stations or ())
    await reply(update, context, d.catalog.t("faq.added", id=entry_id, total=len(d.faq.entries)))


@guarded
async def reload(update: Update, context: Context, user: UserRow) -> None:
    d = deps(context)
    await _require_staff(context, user)
    try:
        total = await d.faq.reload()
    except ValueError as exc:  # FaqFileError: the old FAQ stays in use
        await reply(update, context, d.catalog.t("faq.reload_failed", error=str(exc)[:1000]))
        return
    await reply(update, context, d.catalog.t("faq.reloaded", total=total))


@guarded
async def unknown_command(update: Update, context: Context, user: UserRow) -> None:
    await reply(update, context, deps(context).catalog.t("error.unknown_command"))


@guarded
async def in_group(update: Update, context: Context, user: UserRow) -> None:
    """In a group the bot speaks only when addressed: ``/faq`` (optionally with a question),
    or a message that mentions it. Everything else belongs in a private chat."""
    message = update.effective_message
    d = deps(context)
    if message is None or message.text is None:
        return
    username = d.bot_username
    text = message.text
    if text.startswith("/"):
        command, *more = text.split(None, 1)
        rest = more[0] if more else ""
        name, _, target = command[1:].partition("@")
        if target and target.lower() != username.lower():
            return  # a command for another bot
        if name.lower() == "faq":
            if rest.strip():
                await _answer_in_group(update, context, user, rest)
            else:
                await _topics(update, context, user)
            return
        await reply(update, context, d.catalog.t("group.private_only", bot=username))
        return
    if not username or f"@{username}".lower() not in text.lower():
        return
    question = re.sub(re.escape(f"@{username}"), " ", text, flags=re.IGNORECASE).strip()
    if question:
        await _answer_in_group(update, context, user, question)
    else:
        await _topics(update, context, user)


async def _answer_in_group(update: Update, context: Context, user: UserRow, text: str) -> None:
    """Answers and suggestions are public knowledge; anything else goes to a private chat."""
    d = deps(context)
    c = d.catalog
    station = await d.liaison.home_station(user)
    result = await d.faq.ask(text, station, name_variants(user.display_name or ""))
    if result.kind == "answer":
        await reply(update, context, c.t("faq.answer", answer=result.answer))
    elif result.kind == "suggest":
        buttons = [[Button(q, f"fq:{eid}")] for eid, q in result.suggestions]
        await reply(update, context, c.t("faq.did_you_mean"), keyboard(*buttons))
    else:
        await reply(update, context, c.t("group.ask_private", bot=d.bot_username))
