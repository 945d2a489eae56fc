"""Tests of the fake Bot API server, driven by the real python-telegram-bot client."""

from __future__ import annotations

import asyncio
import datetime as dtm
import warnings
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    MessageEntity,
    Update,
)
from telegram.error import BadRequest, ChatMigrated, Conflict, Forbidden, RetryAfter, TimedOut
from telegram.ext import Application, ContextTypes, MessageHandler, filters
from telegram.request import HTTPXRequest

from tests.fake_telegram import (
    FakeTelegram,
    ParseError,
    RateLimits,
    parse_html,
    parse_markdown_v2,
    running_fake,
    utf16_len,
)

USER = 1001
STRANGER = 1002


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        server.add_user(USER, "王", "小明", username="xiaoming")
        server.add_user(STRANGER, "Li")
        yield server


@pytest_asyncio.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[Bot]:
    async with Bot(fake.token, base_url=fake.base_url, base_file_url=fake.base_file_url) as client:
        yield client


def retry_seconds(exc: RetryAfter) -> float:
    with warnings.catch_warnings():  # PTB 22 deprecates the int form; accept either
        warnings.simplefilter("ignore")
        value: Any = exc.retry_after
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)


async def raw_call(fake: FakeTelegram, method: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{fake.base_url}{fake.token}/{method}", **kwargs)
    return response.status_code, response.json()


# ------------------------------------------------------------------ entity parsers


@pytest.mark.parametrize(
    ("markup", "error"),
    [  # vectors from tdlib's test/message_entities.cpp
        ("🏟 🏟&lt;<abacaba", "Unclosed start tag at byte offset 13"),
        ("🏟 🏟&lt;<abac aba>", 'Unsupported start tag "abac" at byte offset 13'),
        ("🏟 🏟&lt;<i   =aba>", 'Empty attribute name in the tag "i" at byte offset 13'),
        ("🏟 🏟&lt;<i    aba>", 'Can\'t find end tag corresponding to start tag "i"'),
        ("🏟 🏟&lt;<i    aba  =  ", 'Unclosed start tag "i" at byte offset 13'),
        ("🏟 🏟&lt;<i    aba  =  190azAz-.,", "Unexpected end of name token at byte offset 27"),
        ('🏟 🏟&lt;<i    aba  =  "&lt;&gt;&quot;>', "Unclosed start tag at byte offset 13"),
        ("🏟 🏟&lt;</", "Unexpected end tag at byte offset 13"),
        ("🏟 🏟&lt;<i>a</i   ", "Unclosed end tag at byte offset 17"),
        (
            "🏟 🏟&lt;<i>a</em   >",
            'Unmatched end tag at byte offset 17, expected "</i>", found "</em>"',
        ),
        ("a < b", 'Unsupported start tag "" at byte offset 2'),
        ("<p>x</p>", 'Unsupported start tag "p" at byte offset 0'),
        ('<span class="x">y</span>', 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
    ],
)
def test_parse_html_errors_match_tdlib(markup: str, error: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_html(markup)
    assert str(info.value) == error


@pytest.mark.parametrize(
    ("markup", "text", "entities"),
    [
        (
            "🏟 🏟<i>🏟 &gt;<b aba   =   caba>&lt🏟</b></i>",
            "🏟 🏟🏟 ><🏟",
            [("italic", 5, 7), ("bold", 9, 3)],
        ),
        ("&ge;&lt;&amp;&#x41; a & b", "&ge;<&A a & b", []),  # unknown entities stay literal
        ("<a>telegram.org</a>", "telegram.org", [("text_link", 0, 12)]),
        ('<pre><code class="language-py">x = 1</code></pre>', "x = 1", [("pre", 0, 5)]),
        ("<blockquote expandable>q</blockquote>", "q", [("expandable_blockquote", 0, 1)]),
        (
            "<tg-spoiler>s</tg-spoiler><s>t</s><u>u</u>",
            "stu",
            [("spoiler", 0, 1), ("strikethrough", 1, 1), ("underline", 2, 1)],
        ),
    ],
)
def test_parse_html_entities(markup: str, text: str, entities: list[tuple[str, int, int]]) -> None:
    parsed_text, parsed = parse_html(markup)
    assert parsed_text == text
    assert [(e["type"], e["offset"], e["length"]) for e in parsed] == entities


def test_parse_markdown_v2() -> None:
    text, entities = parse_markdown_v2("*b* _i_ [l](https://example.com) \\.")
    assert text == "b i l ."
    assert [e["type"] for e in entities] == ["bold", "italic", "text_link"]
    with pytest.raises(ParseError, match=r"Character '\.' is reserved"):
        parse_markdown_v2("Hello.")
    with pytest.raises(ParseError, match="Can't find end of Italic entity at byte offset 9"):
        parse_markdown_v2("🏟 🏟_abacaba")


# ------------------------------------------------------------------ transport & routing


async def test_wrong_token_unknown_method_and_case_insensitive_names(fake: FakeTelegram) -> None:
    async with httpx.AsyncClient() as client:
        wrong = await client.post(f"{fake.base_url}999:WRONG/getMe")
        assert (wrong.status_code, wrong.json()) == (
            401,
            {"ok": False, "error_code": 401, "description": "Unauthorized"},
        )
        unknown = await client.post(f"{fake.base_url}{fake.token}/sendTelepathy")
        assert unknown.status_code == 404 and unknown.json()["description"] == "Not Found"
        me = await client.get(f"{fake.base_url}{fake.token}/GETME")
        assert me.json()["result"]["username"] == "liaison_test_bot"


async def test_json_body_and_query_string_are_accepted(fake: FakeTelegram) -> None:
    fake.send_text(USER, "hi")
    status, body = await raw_call(
        fake,
        "sendMessage?parse_mode=HTML",
        json={
            "chat_id": USER,
            "text": "<b>x</b>",
            "reply_markup": {"inline_keyboard": [[{"text": "a", "callback_data": "1"}]]},
        },
    )
    assert status == 200, body
    assert body["result"]["entities"] == [{"type": "bold", "offset": 0, "length": 1}]
    assert fake.last_to(USER).buttons == [("a", "1")]  # type: ignore[union-attr]


async def test_form_encoding_of_ptb_is_decoded(fake: FakeTelegram, bot: Bot) -> None:
    fake.send_text(USER, "/start")
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("是", callback_data="yes")]])
    await bot.send_message(USER, "你好", reply_markup=markup)
    request = fake.calls("sendMessage")[-1]
    assert request.params["chat_id"] == USER
    assert request.params["reply_markup"] == {
        "inline_keyboard": [[{"text": "是", "callback_data": "yes"}]]
    }


async def test_multipart_photo_upload_and_file_download(fake: FakeTelegram, bot: Bot) -> None:
    fake.send_text(USER, "/start")
    image = b"\xff\xd8\xff\xe0fake-jpeg-bytes"
    message = await bot.send_photo(USER, photo=image, caption="<i>照片</i>", parse_mode="HTML")
    sent = fake.last_to(USER)
    assert sent is not None and sent.photo == message.photo[-1].file_id
    assert sent.caption == "照片" and message.caption_entities[0].type == MessageEntity.ITALIC
    assert fake.calls("sendPhoto")[-1].files["photo"][1] == len(image)
    file = await bot.get_file(message.photo[-1].file_id)
    assert bytes(await file.download_as_bytearray()) == image
    # re-sending by file_id reuses the same photo
    again = await bot.send_photo(USER, photo=message.photo[-1].file_id)
    assert again.photo[-1].file_id == message.photo[-1].file_id


# ------------------------------------------------------------------ chats and permissions


async def test_user_must_start_the_bot_first(fake: FakeTelegram, bot: Bot) -> None:
    with pytest.raises(Forbidden):
        await bot.send_message(USER, "hello")
    assert fake.rejected[-1].description == "Forbidden: bot can't initiate conversation with a user"
    fake.send_text(USER, "/start")
    message = await bot.send_message(USER, "hello")
    assert message.chat.id == USER and message.from_user.username == fake.bot_username


async def test_blocked_deactivated_unknown_and_foreign_channel(
    fake: FakeTelegram, bot: Bot
) -> None:
    fake.send_text(USER, "/start")
    fake.block(USER)
    with pytest.raises(Forbidden, match="blocked"):
        await bot.send_message(USER, "x")
    fake.deactivate(USER)
    with pytest.raises(Forbidden):
        await bot.send_chat_action(USER, "typing")
    assert fake.rejected[-1].description == "Forbidden: user is deactivated"
    with pytest.raises(BadRequest, match="Chat not found"):
        await bot.send_message(424242, "x")
    fake.add_channel(-1001000000001, "公告", bot_is_member=False)
    fake.add_channel(-1001000000002, "站务")
    with pytest.raises(Forbidden):
        await bot.send_message(-1001000000001, "x")
    assert fake.rejected[-1].description == "Forbidden: bot is not a member of the channel chat"
    post = await bot.send_message(-1001000000002, "公告内容")
    assert post.chat.type == "channel" and post.sender_chat.id == -1001000000002


async def test_group_privacy_mode(fake: FakeTelegram) -> None:
    fake.add_group(-1001000000009, "代表群", members=[USER])
    assert fake.send_group_text(-1001000000009, USER, "闲聊")["update_id"] is None
    assert fake.send_group_text(-1001000000009, USER, "在吗", mention_bot=True)["update_id"]
    command = fake.send_group_text(-1001000000009, USER, f"/help@{fake.bot_username} now")
    assert command["message"]["entities"][0] == {"type": "bot_command", "offset": 0, "length": 22}
    assert fake.send_group_text(-1001000000009, USER, "/help@other_bot")["update_id"] is None


async def test_other_methods_return_objects_ptb_accepts(fake: FakeTelegram, bot: Bot) -> None:
    group = -1001000000077
    fake.add_group(group, "审核群", bot_is_admin=True, members=[STRANGER])
    wish = fake.send_photo(USER, caption="路灯坏了")["message"]
    copied = await bot.copy_message(group, USER, wish["message_id"], caption="转交：路灯")
    assert fake.message(group, copied.message_id).caption == "转交：路灯"  # type: ignore[union-attr]
    forwarded = await bot.forward_message(group, USER, wish["message_id"])
    assert forwarded.forward_origin.sender_user.id == USER and forwarded.photo
    album = await bot.send_media_group(
        group, [InputMediaPhoto(wish["photo"][-1]["file_id"]), InputMediaPhoto(b"second")]
    )
    assert len({m.media_group_id for m in album}) == 1 and len(album) == 2
    location = await bot.send_location(USER, 31.23, 121.47)
    assert location.location.latitude == 31.23
    member = await bot.get_chat_member(group, STRANGER)
    assert member.status == "member"
    assert (await bot.get_chat_member(group, bot.id)).status == "administrator"
    chat = await bot.get_chat(USER)
    assert chat.first_name == "王" and chat.type == "private"
    with pytest.raises(BadRequest, match="Message to copy not found"):
        await bot.copy_message(group, USER, 999)
    fake.block(USER)
    kinds = [next(k for k in u if k != "update_id") for u in fake.pending_updates]
    assert kinds[-1] == "my_chat_member"


# ------------------------------------------------------------------ validation


async def test_html_validation(fake: FakeTelegram, bot: Bot) -> None:
    fake.send_text(USER, "/start")
    ok = await bot.send_message(
        USER,
        '<b>粗</b> <i>斜</i> <code>c</code> <pre>p</pre> <a href="https://npc.gov.cn">链接</a> a &amp; b & c',
        parse_mode="HTML",
    )
    assert ok.text == "粗 斜 c p 链接 a & b & c"
    assert [e.type for e in ok.entities] == ["bold", "italic", "code", "pre", "text_link"]
    assert ok.entities[-1].url == "https://npc.gov.cn/"  # Telegram normalises link URLs
    for bad, expected in [
        ("<b>未闭合", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<foo>x</foo>", 'Unsupported start tag "foo" at byte offset 0'),
        ("1 < 2", 'Unsupported start tag "" at byte offset 2'),
        ("<b><i>x</b></i>", 'Unmatched end tag at byte offset 7, expected "</i>", found "</b>"'),
    ]:
        with pytest.raises(BadRequest):
            await bot.send_message(USER, bad, parse_mode="HTML")
        assert fake.rejected[-1].description == f"Bad Request: can't parse entities: {expected}"
    with pytest.raises(BadRequest):
        await bot.send_message(USER, "   ")
    assert fake.rejected[-1].description == "Bad Request: message must be non-empty"
    status, body = await raw_call(fake, "sendMessage", data={"chat_id": USER, "text": ""})
    assert (status, body["description"]) == (400, "Bad Request: message text is empty")


async def test_text_and_caption_limits_in_utf16(fake: FakeTelegram, bot: Bot) -> None:
    fake.send_text(USER, "/start")
    await bot.send_message(USER, "x" * 4096)
    await bot.send_message(USER, "<b>" + "x" * 4096 + "</b>", parse_mode="HTML")  # tags don't count
    await bot.send_message(USER, "😀" * 2048)
    assert utf16_len("😀" * 2048) == 4096
    for text in ("x" * 4097, "😀" * 2049):
        with pytest.raises(BadRequest):
            await bot.send_message(USER, text)
        assert fake.rejected[-1].description == "Bad Request: message is too long"
    photo = (await bot.send_photo(USER, photo=b"img")).photo[-1].file_id
    await bot.send_photo(USER, photo=photo, caption="字" * 1024)
    with pytest.raises(BadRequest):
        await bot.send_photo(USER, photo=photo, caption="字" * 1025)
    assert fake.rejected[-1].description == "Bad Request: message caption is too long"


async def test_keyboard_validation(fake: FakeTelegram, bot: Bot) -> None:
    fake.send_text(USER, "/start")

    def keyboard(**button: Any) -> InlineKeyboardMarkup:
        return InlineKeyboardMarkup([[InlineKeyboardButton("按钮", **button)]])

    await bot.send_message(USER, "ok", reply_markup=keyboard(callback_data="d" * 64))
    for data in ("d" * 65, "心愿" * 11):  # 66 bytes of UTF-8
        with pytest.raises(BadRequest):
            await bot.send_message(USER, "x", reply_markup=keyboard(callback_data=data))
        assert fake.rejected[-1].description == "Bad Request: BUTTON_DATA_INVALID"
    with pytest.raises(BadRequest):
        await bot.send_message(USER, "x", reply_markup=keyboard())
    assert fake.rejected[-1].description == (
        "Bad Request: can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
    )
    status, body = await raw_call(
        fake, "sendMessage", data={"chat_id": USER, "text": "x", "reply_markup": "{not json"}
    )
    assert (status, body["description"]) == (
        400,
        "Bad Request: can't parse reply keyboard markup JSON object",
    )


async def test_edit_rules(fake: FakeTelegram, bot: Bot) -> None:
    fake.send_text(USER, "/start")
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("A", callback_data="a")]])
    message = await bot.send_message(USER, "<b>原文</b>", parse_mode="HTML", reply_markup=markup)
    with pytest.raises(BadRequest, match="not modified"):
        await bot.edit_message_text(
            "<b>原文</b>", USER, message.message_id, parse_mode="HTML", reply_markup=markup
        )
    assert fake.rejected[-1].description.startswith(
        "Bad Request: message is not modified: specified new"
    )
    # omitting reply_markup removes the keyboard, so this is a real modification
    edited = await bot.edit_message_text("<b>原文</b>", USER, message.message_id, parse_mode="HTML")
    assert edited.reply_markup is None and fake.last_to(USER).buttons == []  # type: ignore[union-attr]
    assert len(fake.last_to(USER).edits) == 1  # type: ignore[union-attr]
    with pytest.raises(BadRequest):
        await bot.edit_message_text("x", USER, 9999)
    assert fake.rejected[-1].description == "Bad Request: message to edit not found"
    assert await bot.delete_message(USER, message.message_id)
    with pytest.raises(BadRequest):
        await bot.delete_message(USER, message.message_id)
    assert fake.rejected[-1].description == "Bad Request: message to delete not found"
    assert fake.last_to(USER).deleted  # type: ignore[union-attr]


# ------------------------------------------------------------------ buttons and callbacks


async def test_press_only_existing_buttons(fake: FakeTelegram, bot: Bot) -> None:
    fake.send_text(USER, "/start")
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("支持", callback_data="vote:1")]])
    message = await bot.send_message(USER, "投票", reply_markup=markup)
    sent = await fake.next_message(USER)
    with pytest.raises(AssertionError, match="no inline button"):
        fake.press(USER, sent, "反对")
    with pytest.raises(AssertionError):
        fake.press(STRANGER, sent, "支持")  # not their chat
    update = fake.press(USER, sent, "支持")
    query = update["callback_query"]
    assert query["data"] == "vote:1" and query["message"]["message_id"] == message.message_id
    assert await bot.answer_callback_query(query["id"], text="已记录")
    assert fake.callback_answers[-1].text == "已记录"
    with pytest.raises(BadRequest):
        await bot.answer_callback_query(query["id"])  # answered already
    assert fake.rejected[-1].description == (
        "Bad Request: query is too old and response timeout expired or query ID is invalid"
    )
    other = fake.press_raw(USER, message.message_id, "vote:999")["callback_query"]
    with pytest.raises(BadRequest, match="Message_too_long"):
        await bot.answer_callback_query(other["id"], text="长" * 201)
    await bot.edit_message_reply_markup(USER, message.message_id, reply_markup=None)
    with pytest.raises(AssertionError):
        fake.press(USER, sent, "支持")  # the keyboard is gone after the edit


async def test_reply_to_embeds_bot_message(fake: FakeTelegram, bot: Bot) -> None:
    fake.send_text(USER, "/start")
    await bot.send_message(USER, "请描述您的心愿")
    asked = await fake.next_message(USER)
    update = fake.send_text(USER, "修路", reply_to=asked)
    quoted = update["message"]["reply_to_message"]
    assert quoted["text"] == "请描述您的心愿" and quoted["from"]["is_bot"] is True
    reply = await bot.send_message(
        USER, "收到", reply_parameters={"message_id": update["message"]["message_id"]}
    )  # type: ignore[arg-type]
    assert reply.reply_to_message.text == "修路"
    with pytest.raises(BadRequest, match="Message to be replied not found"):
        await bot.send_message(USER, "x", reply_to_message_id=777)


# ------------------------------------------------------------------ faults and rate limits


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_injected_429_surfaces_as_retry_after(fake: FakeTelegram, bot: Bot) -> None:
    fake.send_text(USER, "/start")
    fake.fail_next("sendMessage", chat_id=USER, error_code=429, retry_after=7)
    with pytest.raises(RetryAfter) as info:
        await bot.send_message(USER, "x")
    assert retry_seconds(info.value) == 7
    assert fake.rejected == [] and fake.injected_failures[-1].error_code == 429
    await bot.send_message(USER, "x")  # only the next call failed


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_rate_limits_per_private_chat() -> None:
    limits = RateLimits(private_per_second=1.0, private_burst=2)
    async with running_fake(rate_limits=limits) as fake:
        fake.add_user(USER, "A")
        fake.send_text(USER, "/start")
        async with Bot(fake.token, base_url=fake.base_url) as bot:
            await bot.send_message(USER, "1")
            await bot.send_message(USER, "2")
            with pytest.raises(RetryAfter) as info:
                await bot.send_message(USER, "3")
    assert retry_seconds(info.value) >= 1
    assert fake.stats.too_many_requests_by_chat[USER] == 1
    assert fake.rejected[-1].description.startswith("Too Many Requests: retry after ")


async def test_delay_beyond_client_timeout(fake: FakeTelegram) -> None:
    fake.send_text(USER, "/start")
    fake.delay_next(0.5, "sendMessage")
    request = HTTPXRequest(read_timeout=0.1)
    async with Bot(fake.token, base_url=fake.base_url, request=request) as bot:
        with pytest.raises(TimedOut):
            await bot.send_message(USER, "慢")
    sent = await fake.wait_for(chat_id=USER, text_contains="慢", timeout=2)
    assert sent.method == "sendMessage"  # the timed-out call still reached "Telegram"


# ------------------------------------------------------------------ updates


async def test_get_updates_offset_confirmation(fake: FakeTelegram) -> None:
    ids = [fake.send_text(USER, f"m{i}")["update_id"] for i in range(3)]
    _status, body = await raw_call(fake, "getUpdates")
    assert [u["update_id"] for u in body["result"]] == ids
    _status, body = await raw_call(fake, "getUpdates", data={"offset": ids[1]})
    assert [u["update_id"] for u in body["result"]] == ids[1:]
    assert fake.updates_confirmed == ids[0]
    _status, body = await raw_call(fake, "getUpdates", data={"offset": -1})
    assert [u["update_id"] for u in body["result"]] == ids[2:]
    _status, body = await raw_call(fake, "getUpdates", data={"offset": ids[2] + 1, "limit": 5})
    assert body["result"] == [] and fake.pending_updates == []


async def test_long_poll_wakes_up_and_conflicts(fake: FakeTelegram) -> None:
    first = asyncio.create_task(raw_call(fake, "getUpdates", data={"timeout": 5}))
    await asyncio.sleep(0.1)
    second = asyncio.create_task(raw_call(fake, "getUpdates", data={"timeout": 5}))
    status, body = await asyncio.wait_for(first, 2)
    assert status == 409 and body["description"].startswith(
        "Conflict: terminated by other getUpdates"
    )
    await asyncio.sleep(0.05)
    fake.send_text(USER, "醒醒")
    status, body = await asyncio.wait_for(second, 2)
    assert body["result"][0]["message"]["text"] == "醒醒"


async def test_application_polling_echo_end_to_end(fake: FakeTelegram) -> None:
    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text(f"echo: {update.effective_message.text}")

    app = Application.builder().token(fake.token).base_url(fake.base_url).build()
    app.add_handler(MessageHandler(filters.TEXT, echo))
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=1)
        try:
            fake.send_text(USER, "你好")
            last = fake.send_text(USER, "再见")["update_id"]
            assert (await fake.next_message(USER)).text == "echo: 你好"
            assert (await fake.next_message(USER)).text == "echo: 再见"
        finally:
            await app.updater.stop()
            await app.stop()
    assert fake.rejected == []
    assert fake.updates_confirmed == last  # PTB confirms the offset when it stops polling
    with pytest.raises(AssertionError, match=r"timed out .* waiting for a message"):
        await fake.next_message(USER, timeout=0.05)


async def test_conflict_error_type_in_ptb(fake: FakeTelegram) -> None:
    async with Bot(fake.token, base_url=fake.base_url) as bot:
        task = asyncio.create_task(bot.get_updates(timeout=3))
        await asyncio.sleep(0.1)
        await raw_call(fake, "getUpdates", data={"timeout": 0})
        with pytest.raises(Conflict):
            await asyncio.wait_for(task, 2)


async def test_commands_are_validated_and_stored(fake: FakeTelegram, bot: Bot) -> None:
    await bot.set_my_commands([("start", "开始"), ("wish", "提交心愿")])
    assert [c.command for c in await bot.get_my_commands()] == ["start", "wish"]
    with pytest.raises(BadRequest):
        await bot.set_my_commands([("Bad-Name", "x")])
    assert fake.rejected[-1].description == "Bad Request: BOT_COMMAND_INVALID"


async def test_upgraded_group_answers_with_migrate_to_chat_id(fake: FakeTelegram, bot: Bot) -> None:
    fake.add_group(-4001, "小区群", supergroup=False, members=[USER])
    fake.migrate_group(-4001, -1004001)
    status, body = await raw_call(fake, "sendMessage", json={"chat_id": -4001, "text": "hi"})
    assert status == 400 and body["parameters"] == {"migrate_to_chat_id": -1004001}
    with pytest.raises(ChatMigrated) as caught:
        await bot.send_message(-4001, "hi")
    assert caught.value.new_chat_id == -1004001
    sent = await bot.send_message(-1004001, "hi")
    assert sent.chat.type == "supergroup"


async def test_forum_topics_carry_the_thread_id(fake: FakeTelegram, bot: Bot) -> None:
    fake.add_group(-1004002, "议事群", forum=True, members=[USER])
    update = fake.send_text(USER, "你好", chat_id=-1004002, thread_id=5)
    assert update["message"]["message_thread_id"] == 5
    assert update["message"]["is_topic_message"] is True
    assert update["message"]["chat"]["is_forum"] is True
    sent = await bot.send_message(-1004002, "收到", message_thread_id=5)
    assert sent.message_thread_id == 5 and sent.is_topic_message
    assert fake.last_to(-1004002).message_thread_id == 5


async def test_a_press_on_an_old_message_carries_an_inaccessible_message(
    fake: FakeTelegram, bot: Bot
) -> None:
    fake.send_text(USER, "/start")
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("好", callback_data="ok")]])
    sent = await bot.send_message(USER, "选吧", reply_markup=markup)
    update = fake.press(USER, sent.message_id, "ok", inaccessible=True)
    message = update["callback_query"]["message"]
    assert message["date"] == 0 and set(message) == {"chat", "message_id", "date"}
