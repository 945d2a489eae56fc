"""The bot against what the Bot API documents, beyond the happy path: errors at start-up and
while polling, forum topics, groups upgraded to supergroups, failed button handlers."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from bot.app import build
from bot.messages import OutMessage
from bot.operator import EXIT_CONFIG
from storage.repositories import Repos, StationRow
from tests.conftest import ADMIN_ID
from tests.fake_telegram import FakeTelegram
from tests.integration.conftest import (
    RESIDENT,
    RESIDENT_2,
    STAFF_HM,
    TEST_LIMITS,
    ZHANG,
    Harness,
    assert_no_invalid_calls,
    settings_for,
)
from tests.integration.test_subprocess import bot_env, output, start


async def test_a_rejected_token_exits_with_a_clear_message(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    env = bot_env(fake, tmp_path)
    wrong = "123456:" + "x" * 35  # well-formed, unknown: Telegram answers 401 Unauthorized
    env["LIAISON_TELEGRAM_TOKEN"] = wrong
    env["LIAISON_LOCALE"] = "en"
    proc = await start(env, tmp_path)
    code = await asyncio.wait_for(proc.wait(), 20)
    text = await output(proc)
    assert code == EXIT_CONFIG, text  # a configuration error: systemd does not restart it
    assert "rejected the bot token" in text and "LIAISON_TELEGRAM_TOKEN" in text
    assert "(127.0.0.1:" in text  # the host it asked, never the token
    assert "Traceback" not in text
    assert wrong not in text  # PTB's own message repeats the token


async def test_start_up_waits_out_server_errors_and_429(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    fake.fail_next("getMe", error_code=502)
    fake.fail_next("deleteWebhook", error_code=429, retry_after=1)
    app = await build(settings_for(fake, tmp_path), limits=TEST_LIMITS)
    await asyncio.wait_for(app.start(), 15)
    try:
        h = Harness(fake, app)
        welcome = await h.start_bot(RESIDENT, "huimin")
        assert "惠民" in welcome.text
        assert len(fake.injected_failures) == 2
    finally:
        await app.stop()


async def test_polling_survives_getupdates_errors(harness: Harness) -> None:
    fake = harness.fake
    for code in (502, 409):
        fake.fail_next("getUpdates", error_code=code)
    fake.fail_next("getUpdates", error_code=429, retry_after=1)
    fake.send_text(RESIDENT, "/start huimin")
    welcome = await fake.next_message(RESIDENT, timeout=20)  # 1 s + 5 s + 1 s of waiting
    assert "惠民" in welcome.text
    assert [f.error_code for f in fake.injected_failures] == [502, 409, 429]


async def test_an_update_that_cannot_be_processed_does_not_block_the_next(
    harness: Harness,
) -> None:
    async with harness.app.db.transaction() as conn:
        await Repos(conn).inbox_add("telegram", 1, "{not json", datetime.now(UTC))
    harness.app.poller.wake()
    welcome = await harness.start_bot(RESIDENT, "huimin")
    assert "惠民" in welcome.text
    await harness.settle(within=10)  # the bad one is skipped after MAX_ATTEMPTS, not retried forever


async def test_answers_in_a_forum_topic_go_to_that_topic(harness: Harness) -> None:
    fake = harness.fake
    group = -1002000000077
    fake.add_group(group, "惠民居民群", forum=True, members=[RESIDENT])
    fake.send_text(RESIDENT, "/faq 接待时间", chat_id=group, thread_id=42)
    answer = await fake.next_message(group)
    assert answer.message_thread_id == 42
    fake.send_text(RESIDENT, "/new", chat_id=group, thread_id=43)
    pointer = await fake.next_message(group)
    assert pointer.message_thread_id == 43


async def test_a_failed_button_handler_still_answers_the_press(harness: Harness) -> None:
    fake = harness.fake
    welcome = await harness.start_bot(RESIDENT, "huimin")
    fake.callback_answers.clear()
    fake.fail_next("sendMessage", chat_id=RESIDENT, error_code=400)  # the topics list fails
    fake.press(RESIDENT, welcome, "m:faq")
    await fake.next_message(RESIDENT)  # the apology from the error handler
    await fake.wait_until(lambda: len(fake.callback_answers) >= 1)
    await fake.expect_no_message(RESIDENT, within=0.3)
    assert len(fake.callback_answers) == 1


async def test_a_wall_group_upgraded_to_a_supergroup_is_followed(harness: Harness) -> None:
    fake = harness.fake
    fake.add_group(-4000123, "惠民回音壁群", supergroup=False)
    fake.migrate_group(-4000123, -1004000123)
    async with harness.app.db.transaction() as conn:
        await conn.execute("UPDATE stations SET wall_chat_id='-4000123' WHERE id='huimin'")
    transport = harness.app.dispatcher.transports["telegram"]
    message_id = await transport.deliver("-4000123", OutMessage(text="<b>办结公示</b>"))
    posted = fake.message(-1004000123, int(message_id or 0))
    assert posted is not None and posted.text == "办结公示"
    async with harness.app.db.read() as conn:
        station = await Repos(conn).station("huimin")
    assert station is not None and station.wall_chat_id == "-1004000123"


async def test_a_long_text_is_never_split_into_a_blank_message(harness: Harness) -> None:
    fake = harness.fake
    await harness.start_bot(RESIDENT, "huimin")
    fake.consume_all(RESIDENT)
    fake.rejected.clear()
    transport = harness.app.dispatcher.transports["telegram"]
    # 4 096 visible characters and then white space only: Telegram trims a message, so a
    # second part of just "\n\n" would be refused as "message text is empty".
    await transport.deliver(str(RESIDENT), OutMessage(text="<b>" + "办" * 4096 + "\n \n</b>"))
    parts = fake.consume_all(RESIDENT)
    assert [len(p.text or "") for p in parts] == [4096]
    assert fake.rejected == []


async def test_a_long_429_in_one_chat_does_not_hold_up_everyone_else(harness: Harness) -> None:
    fake = harness.fake
    group = -1002000000088
    fake.add_group(group, "惠民居民群", members=[RESIDENT])
    fake.fail_next("sendMessage", chat_id=group, error_code=429, retry_after=120)
    fake.send_text(RESIDENT, "/faq 接待时间", chat_id=group)
    await fake.wait_until(lambda: len(fake.injected_failures) == 1)
    fake.send_text(RESIDENT, "/faq 接待地址", chat_id=group)  # that chat is paused for 2 min
    fake.send_text(RESIDENT_2, "/start huimin")
    welcome = await fake.next_message(RESIDENT_2, timeout=5)
    assert "惠民" in welcome.text


async def test_a_button_on_an_inaccessible_message_still_works(harness: Harness) -> None:
    fake = harness.fake
    welcome = await harness.start_bot(RESIDENT, "huimin")
    fake.callback_answers.clear()
    fake.press(RESIDENT, welcome, "m:new", inaccessible=True)
    ask = await fake.next_message(RESIDENT)
    assert ask.buttons  # the next step of /new, not an apology
    assert fake.message(RESIDENT, welcome.message_id).buttons == []  # its buttons were removed
    await fake.wait_until(lambda: len(fake.callback_answers) == 1)


async def test_a_deputy_who_blocks_the_bot_is_reported_at_once(harness: Harness) -> None:
    fake = harness.fake
    await harness.start_bot(STAFF_HM)
    await harness.start_bot(ZHANG)
    await harness.settle()
    fake.block(ZHANG)  # Telegram sends my_chat_member (member → kicked) to the bot
    note = await fake.wait_for(chat_id=STAFF_HM, text_contains="无法给")
    assert "张代表" in note.text
    fake.send_text(ZHANG, "/start")  # unblocking: reachable again
    await fake.next_message(ZHANG)
    async with harness.app.db.read() as conn:
        user = await Repos(conn).user_by_external("telegram", str(ZHANG))
    assert user is not None and user.unreachable_at is None


async def test_a_county_with_many_stations_gets_pages_of_buttons(harness: Harness) -> None:
    fake = harness.fake
    async with harness.app.db.transaction() as conn:
        repos = Repos(conn)
        for i in range(120):  # more than the 100 buttons Telegram allows on one keyboard
            row = StationRow(f"s{i:03d}", f"第{i:03d}联络站", f"S{i:03d}", "", "", None)
            await repos.upsert_station(row, 10 + i)
    choose = await harness.start_bot(RESIDENT)  # no deep link: choose a station
    assert 0 < len(choose.buttons) <= 100
    fake.press(RESIDENT, choose, "下一页 »")
    await fake.wait_until(lambda: any(d == "st:s030" for _, d in choose.buttons))
    fake.press(RESIDENT, choose, "st:s030")
    welcome = await fake.next_message(RESIDENT)
    assert "第030联络站" in welcome.text
    fake.send_text(ADMIN_ID, "/broadcast")
    scope = await fake.next_message(ADMIN_ID)
    assert 0 < len(scope.buttons) <= 100
    fake.press(ADMIN_ID, scope, "bp:1")
    await fake.wait_until(lambda: any(d == "bs:s030" for _, d in scope.buttons))
    assert_no_invalid_calls(fake)


async def test_outbox_texts_use_the_documented_method_name(fake: FakeTelegram) -> None:
    """The outbox's plain texts go by do_api_request: named "sendMessage" as documented, not
    "sendmessage" (Telegram folds case, a server routing names case-sensitively would refuse
    every one), and without PTB's warning about do_api_request."""
    import warnings

    from telegram.ext import ExtBot

    from bot.pacing import Pacer
    from handlers.telegram_io import PacedRateLimiter, TelegramTransport

    fake.add_user(ZHANG, "伟", started=True)
    limiter = PacedRateLimiter(Pacer(TEST_LIMITS), TelegramTransport.is_group)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        async with ExtBot(fake.token, base_url=fake.base_url, rate_limiter=limiter) as bot:
            transport = TelegramTransport(bot)
            await transport.deliver(str(ZHANG), OutMessage(text="<b>新心愿</b> HM-1"))
    assert fake.last_to(ZHANG).text == "新心愿 HM-1"  # type: ignore[union-attr]
    assert fake.stats.methods_as_sent["sendMessage"] == 1
    assert "sendmessage" not in fake.stats.methods_as_sent
    assert not [w for w in caught if "do_api_request" in str(w.message)]
