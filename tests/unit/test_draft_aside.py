"""A menu command in the middle of a wish (QA item 19): /faq, /my, /wall, /help (typed, the main
menu's buttons, or WeChat's menu, which the adapter turns into the same commands) set the draft
aside, so the question typed next is answered, not added to the wish; /new takes it up again
where it was left. On the in-memory channel, so every channel gets the same."""

from __future__ import annotations

from bot import actions
from bot.channels.memory import MemoryConversation
from bot.conversation import Reply
from bot.people import Identity
from storage.repositories import UserRow
from tests.unit.test_conversation import RESIDENT, button, plain, talk  # noqa: F401 (fixture)

QUESTION = "请问代表啥时候接待？"
STORY = "小区门口路灯坏了三天，晚上很黑"


def said(reply: Reply) -> str:
    return "\n".join(m.text for m in reply.messages)


async def person(talk: MemoryConversation) -> UserRow:  # noqa: F811
    return await talk.conversation.liaison.people.identify(
        Identity(channel="memory", external_id=RESIDENT, chat_id=RESIDENT)
    )


async def describing(talk: MemoryConversation) -> None:  # noqa: F811
    await talk.say(RESIDENT, "/start huimin")
    reply = await talk.press(RESIDENT, actions.MENU_NEW)
    await talk.press(RESIDENT, button(reply, "道路交通"))
    assert "已记录" in said(await talk.say(RESIDENT, STORY))


async def test_a_question_after_the_faq_command_is_answered_not_added_to_the_wish(
    talk: MemoryConversation,  # noqa: F811
) -> None:
    await describing(talk)
    topics = await talk.say(RESIDENT, "/faq")
    assert "已为您保留" in said(topics) and "常见问题" in said(topics)
    answer = said(await talk.say(RESIDENT, QUESTION))
    assert "每周三上午" in answer and "已记录" not in answer
    draft = await talk.conversation.liaison.flows.draft(await person(talk))
    assert draft is None  # set aside: not what free text goes to


async def test_the_menu_buttons_set_it_aside_too_and_new_takes_it_up_again(
    talk: MemoryConversation,  # noqa: F811
) -> None:
    await describing(talk)
    mine = await talk.press(RESIDENT, actions.MENU_MY)
    assert "已为您保留" in said(mine)
    assert "每周三上午" in said(await talk.say(RESIDENT, QUESTION))
    resumed = await talk.press(RESIDENT, actions.MENU_NEW)
    assert "接着填写" in said(resumed)
    # where it was left: the story kept, the step after it offered, the question not in it
    step = await talk.press(RESIDENT, button(resumed, plain(talk, "btn.next")))
    step = await talk.press(RESIDENT, button(step, plain(talk, "btn.public_no")))
    confirm = said(await talk.press(RESIDENT, button(step, plain(talk, "btn.skip"))))
    assert STORY in confirm and QUESTION not in confirm


async def test_without_a_draft_nothing_is_said_about_one(talk: MemoryConversation) -> None:  # noqa: F811
    await talk.say(RESIDENT, "/start huimin")
    assert "已为您保留" not in said(await talk.say(RESIDENT, "/faq"))
    assert "接着填写" not in said(await talk.press(RESIDENT, actions.MENU_NEW))
