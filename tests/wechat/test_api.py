"""wechat.api against the fake WeChat: token caching and refresh, the 客服 window, errors mapped."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.dispatcher import DeliveryError, Failure
from tests.fake_wechat import FakeWeChat
from wechat.api import PathClosed, WeChatApi


@pytest.fixture
async def fake() -> AsyncIterator[FakeWeChat]:
    f = FakeWeChat()
    await f.start()
    yield f
    await f.stop()


@pytest.fixture
async def api(fake: FakeWeChat) -> AsyncIterator[WeChatApi]:
    a = WeChatApi(fake.app_id, fake.app_secret, fake.base_url)
    yield a
    await a.close()


async def test_token_is_cached_and_refreshed_on_40001(fake: FakeWeChat, api: WeChatApi) -> None:
    fake.open_window("o_res", "message")
    await api.send_text("o_res", "一")
    await api.send_text("o_res", "二")
    assert fake.token_fetches == 1
    fake.invalidate_token()
    await api.send_text("o_res", "三")
    assert fake.token_fetches == 2
    assert [m["text"]["content"] for m in fake.custom] == ["一", "二", "三"]


async def test_window_closed_and_count_used_up_are_path_closed(
    fake: FakeWeChat, api: WeChatApi
) -> None:
    with pytest.raises(PathClosed) as closed:
        await api.send_text("o_new", "hi")
    assert closed.value.errcode == 45015
    fake.open_window("o_ev", "event")  # a follow: 3 messages within a minute
    for i in range(3):
        await api.send_text("o_ev", str(i))
    with pytest.raises(PathClosed) as used:
        await api.send_text("o_ev", "4th")
    assert used.value.errcode == 45047
    fake.open_window("o_old", "message")
    fake.now += 48 * 3600 + 1
    with pytest.raises(PathClosed):
        await api.send_text("o_old", "late")


async def test_server_error_is_transient(fake: FakeWeChat, api: WeChatApi) -> None:
    fake.open_window("o_res", "message")
    fake.fail_next["custom/send"] = [502]
    with pytest.raises(DeliveryError) as err:
        await api.send_text("o_res", "hi")
    assert err.value.failure is Failure.TRANSIENT
    await api.send_text("o_res", "hi")  # the retry goes through
    assert len(fake.custom) == 1


async def test_template_subscription_qr_and_media(fake: FakeWeChat, api: WeChatApi) -> None:
    await api.send_template(
        "o_res", "TPL_RESULT", {"first": "办结", "keyword1": "#12"}, url="https://x/y"
    )
    assert fake.templates[0]["data"]["keyword1"] == {"value": "#12"}
    fake.consents.add(("o_res", "SUB"))
    await api.send_subscription("o_res", "SUB", {"thing1": "办结"})
    with pytest.raises(DeliveryError):  # the consent was for one message
        await api.send_subscription("o_res", "SUB", {"thing1": "again"})
    qr = await api.create_permanent_qr("st_huimin")
    assert fake.qrcodes[qr.ticket] == "st_huimin"
    fake.media["M1"] = b"\xff\xd8jpeg"
    data, ctype = await api.download_media("M1")
    assert data == b"\xff\xd8jpeg" and ctype.startswith("image/")
    with pytest.raises(DeliveryError):
        await api.download_media("nope")
