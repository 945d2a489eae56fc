"""Generated files in a Reply (OutMessage.attachment) rendered as Telegram calls, against the fake
Bot API: a chart as sendPhoto, a workbook as sendDocument, the text as an HTML caption with the
buttons, and a text too long for a caption (1024) sent after the file rather than refused."""

from __future__ import annotations

from telegram.ext import ExtBot

from bot.messages import DOCUMENT, IMAGE, Attachment, Button, OutMessage
from handlers.telegram_io import send
from tests.fake_telegram import FakeTelegram
from tests.integration.conftest import STAFF_HM

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


async def test_a_chart_and_a_document_with_captions_and_buttons(fake: FakeTelegram) -> None:
    fake.add_user(STAFF_HM, "工作人员", started=True)
    async with ExtBot(fake.token, base_url=fake.base_url) as bot:  # as the Application has
        chart = OutMessage(
            text="<b>惠民</b> · 每月", attachment=Attachment(PNG, "c.png", "image/png", IMAGE)
        )
        sent = await send(bot, STAFF_HM, chart)
        assert sent.photo and sent.caption == "惠民 · 每月"  # HTML parsed, not shown as tags
        book = OutMessage(
            text="导出",
            buttons=((Button("再看", "a:w:1"),),),
            attachment=Attachment(b"PK\x03\x04", "x.xlsx", "application/zip", DOCUMENT),
        )
        sent = await send(bot, STAFF_HM, book)
        assert sent.document is not None and sent.document.file_name == "x.xlsx"
        assert sent.reply_markup is not None  # the buttons ride on the file

        long = "说明" * 600  # 1200 characters: more than a caption takes
        last = await send(
            bot,
            STAFF_HM,
            OutMessage(
                text=long,
                buttons=((Button("再看", "a:w:1"),),),
                attachment=Attachment(b"PK\x03\x04", "y.xlsx", "application/zip", DOCUMENT),
            ),
        )
    sent_to = fake.messages_to(STAFF_HM)
    file_msg, text_msg = sent_to[-2], sent_to[-1]
    assert file_msg.method == "sendDocument" and not file_msg.caption
    assert text_msg.method == "sendMessage" and text_msg.text == long
    assert last.text == long and last.reply_markup is not None  # the buttons under the text
