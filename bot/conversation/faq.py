"""The FAQ in a private chat: free text answered, suggested or handed over to a new wish."""

from __future__ import annotations

from bot import actions as act
from bot.actions import LEAVE_WISH, MENU_FAQ, MENU_NEW, button
from bot.conversation.events import Kind
from bot.conversation.resident import main_menu, prompt
from bot.conversation.turn import Turn
from bot.domain.masking import name_variants
from bot.domain.model import InvalidInput
from bot.messages import Button, keyboard

TOPICS_PER_PAGE = 10


async def answer_question(t: Turn, text: str) -> None:
    """A resident's free text outside any flow: answer, suggest or hand over."""
    c = t.c
    station = await t.liaison.directory.home_station(t.user)
    result = await t.faq.ask(text, station, name_variants(t.user.display_name or ""))
    # Kept for "留言给代表" on this reply, whatever the outcome: an answer may not be enough.
    await t.liaison.flows.remember_question(t.user, text)
    leave = Button(c.plain("btn.leave_wish"), LEAVE_WISH)
    if result.kind == "answer":
        more = Button(c.plain("btn.more_faq"), MENU_FAQ)
        t.say(c.t("faq.answer", answer=result.answer), keyboard([more, leave]))
        return
    if result.kind == "chat" and result.thanks:  # "好的谢谢" after a deputy's reply: acknowledged, no FAQ miss
        t.say(c.t("faq.thanks"), main_menu(c))
        return
    if result.kind == "chat":
        t.say(
            c.t("faq.small_talk"),
            keyboard([Button(c.plain("btn.new"), MENU_NEW), Button(c.plain("btn.faq"), MENU_FAQ)]),
        )
        return
    if result.kind == "suggest":
        rows = [[Button(q, button(act.FAQ_ANSWER, arg=eid))] for eid, q in result.suggestions]
        t.say(c.t("faq.did_you_mean"), keyboard(*rows, [leave]))
        return
    t.say(c.t("faq.no_answer"), keyboard([leave], [Button(c.plain("btn.faq"), MENU_FAQ)]))


async def topics(t: Turn, page: int = 0) -> None:
    c = t.c
    station = await t.liaison.directory.home_station(t.user)
    entries = t.faq.topics(station.id if station else None)
    pages = max(1, -(-len(entries) // TOPICS_PER_PAGE))
    page = min(page, pages - 1)
    chunk = entries[page * TOPICS_PER_PAGE : (page + 1) * TOPICS_PER_PAGE]
    rows = [[Button(e.question, button(act.FAQ_ANSWER, arg=e.id))] for e in chunk]
    nav = []
    if page > 0:
        nav.append(Button(c.plain("btn.prev"), button(act.FAQ_PAGE, arg=page - 1)))
    if page + 1 < pages:
        nav.append(Button(c.plain("btn.next_page"), button(act.FAQ_PAGE, arg=page + 1)))
    t.say(c.t("faq.topics"), keyboard(*rows, nav))


async def show_answer(t: Turn, entry_id: str) -> None:
    c = t.c
    station = await t.liaison.directory.home_station(t.user)
    answer = t.faq.answer_for(entry_id, station)
    if answer is None:
        raise InvalidInput("stale")
    leave = keyboard([Button(c.plain("btn.leave_wish"), LEAVE_WISH)])
    t.say(c.t("faq.answer", answer=answer), leave if t.event.private else ())


async def to_wish(t: Turn, bot_name: str) -> None:
    """留言给代表 under an answer: the last question becomes the start of a new wish."""
    c = t.c
    if not t.event.private:
        t.say(c.t("group.private_only", bot=bot_name))
        return
    question = await t.liaison.flows.recalled_question(t.user)
    draft = await t.liaison.flows.start_draft(t.user, prefill=question)
    if question:
        t.say(c.t("faq.wish_from_question", question=question))
    await prompt(t, draft)


# -- groups: the bot speaks only when addressed (a command or a mention; the channel tells) ------

# The FAQ is public knowledge: the only buttons that work in a group.
GROUP_VERBS = frozenset({act.FAQ_ANSWER, act.FAQ_PAGE, act.FAQ_TO_WISH})


def group_safe(a: act.Action | None) -> bool:
    return a is not None and (a.verb in GROUP_VERBS or a == act.Action(act.MENU, arg="faq"))


async def in_group(t: Turn, bot_name: str) -> None:
    """A command or text addressed to the bot in a group: ``/faq`` (optionally with a
    question) or a mention (its text with the mention taken out). Anything else belongs in a
    private chat."""
    event = t.event
    if event.kind is Kind.COMMAND and event.command != "faq":
        t.say(t.c.t("group.private_only", bot=bot_name))
        return
    question = event.args if event.kind is Kind.COMMAND else event.text
    if question.strip():
        await answer_in_group(t, question, bot_name)
    else:
        await topics(t)


async def answer_in_group(t: Turn, text: str, bot_name: str) -> None:
    """Answers and suggestions are public knowledge; anything else goes to a private chat."""
    c = t.c
    station = await t.liaison.directory.home_station(t.user)
    result = await t.faq.ask(text, station, name_variants(t.user.display_name or ""))
    if result.kind == "answer":
        t.say(c.t("faq.answer", answer=result.answer))
    elif result.kind == "suggest":
        rows = [[Button(q, button(act.FAQ_ANSWER, arg=eid))] for eid, q in result.suggestions]
        t.say(c.t("faq.did_you_mean"), keyboard(*rows))
    else:
        t.say(c.t("group.ask_private", bot=bot_name))
