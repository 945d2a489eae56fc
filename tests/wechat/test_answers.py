"""The conversation's Reply as a WeChat resident reads it (wechat/render.py answer_messages):
what Telegram shows outside the messages (the press's pop-up, the pressed card's new buttons)
is said in them, since WeChat has neither pop-ups nor edits."""

from __future__ import annotations

from bot.conversation.reply import Reply
from bot.i18n import Catalog
from bot.messages import Button, OutMessage
from wechat.render import answer_messages, render

C = Catalog("zh_CN")
CARD = OutMessage(text="谢谢您的评价")
RATE = ((Button("满意", "a:rt:1:s"), Button("不满意", "a:rt:1:u")),)


def texts(reply: Reply) -> list[str]:
    return [t for m in answer_messages(reply, C) for t in render(m, C).texts]


def test_a_refusal_is_said_after_what_the_turn_said() -> None:
    """Telegram's alert (show_alert) for a refused press: the webhook dropped it (silence)."""
    alone = texts(Reply(toast="一小时内已经催办过这个心愿了，请稍后再试。", alert=True))
    assert alone == ["🙏 一小时内已经催办过这个心愿了，请稍后再试。"]
    after = texts(Reply(messages=(CARD,), toast="这个按钮已经失效了", alert=True))
    assert after == ["谢谢您的评价", "🙏 这个按钮已经失效了"]


def test_an_acknowledgement_is_said_only_when_nothing_else_was() -> None:
    assert texts(Reply(toast="已关注，办结时会通知您")) == ["已关注，办结时会通知您"]
    # the card already says it: Telegram's brief toast is not repeated as a second message
    assert texts(Reply(messages=(CARD,), toast="已收到评价")) == ["谢谢您的评价"]


def test_a_toast_is_text_not_markup() -> None:
    (said,) = texts(Reply(toast="a <b> & c"))
    assert said == "a <b> & c"
    (message,) = answer_messages(Reply(toast="a <b> & c"), C)
    assert message.text == "a &lt;b&gt; &amp; c"  # escaped into the HTML subset, shown as typed


def test_new_buttons_of_the_pressed_card_become_this_answers_options() -> None:
    accepted = OutMessage(text="您已受理")
    on_last = answer_messages(Reply(messages=(accepted,), rebutton=RATE), C)
    assert [m.buttons for m in on_last] == [RATE]
    assert "1. 满意" in render(on_last[0], C).texts[0]
    with_note = answer_messages(Reply(toast="已关注", rebutton=RATE), C)
    assert [(m.text, m.buttons) for m in with_note] == [("已关注", RATE)]
    own = OutMessage(text="下一步", buttons=((Button("返回", "m:my"),),))
    apart = answer_messages(Reply(messages=(own,), rebutton=RATE), C)
    assert [m.buttons for m in apart] == [own.buttons, RATE]
    assert apart[1].text == C.t("wechat.new_options")
    # taken away (()): nothing to offer; the answer's options (none) replace the old ones
    assert answer_messages(Reply(messages=(CARD,), rebutton=()), C) == [CARD]
