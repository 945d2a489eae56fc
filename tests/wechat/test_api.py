"""wechat.api against the fake WeChat: token caching and refresh, the 客服 window, errors mapped."""

from __future__ import annotations

import asyncio
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
        "o_res", "TPL_RESULT", {"first": "办结", "character_string2": "HM-12"}, url="https://x/y"
    )
    assert fake.templates[0]["data"] == {"character_string2": {"value": "HM-12"}}
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


async def test_concurrent_sends_after_an_invalidated_token_share_one_refresh(
    fake: FakeWeChat, api: WeChatApi
) -> None:
    """Five 客服 messages in flight when the token is invalidated: each is refused with 40001.
    The old code force-refreshed once per refused call (each forced refresh invalidating the
    token the previous one had just fetched, and losing messages as BAD_REQUEST); now the first
    refusal fetches the new token in normal mode and the others reuse it."""
    fake.open_window("o_res", "message")
    await api.access_token()
    fake.invalidate_token()
    await asyncio.gather(*(api.send_text("o_res", f"第{i}条") for i in range(5)))
    assert sorted(m["text"]["content"] for m in fake.custom) == [f"第{i}条" for i in range(5)]
    assert fake.force_requests <= 1


async def test_a_token_still_refused_after_refresh_is_transient_and_force_is_spaced(
    fake: FakeWeChat,
) -> None:
    api = WeChatApi(fake.app_id, fake.app_secret, fake.base_url, clock=lambda: fake.now)
    fake.open_window("o_res", "message")
    await api.send_text("o_res", "一")
    # WeChat refuses the token it still hands out: normal mode gives it again, so one forced
    # refresh; refused once more, the message is retried later by the dispatcher, not dropped
    fake.fail_next["custom/send"] = [40001, 40001]
    with pytest.raises(DeliveryError) as err:
        await api.send_text("o_res", "二")
    assert err.value.failure is Failure.TRANSIENT
    assert fake.force_requests == 1
    fake.fail_next["custom/send"] = [42001]
    with pytest.raises(DeliveryError) as again:  # within 30 s of the forced refresh: no force
        await api.send_text("o_res", "二")
    assert again.value.failure is Failure.TRANSIENT and fake.force_requests == 1
    fake.now += 31
    fake.fail_next["custom/send"] = [40001]
    await api.send_text("o_res", "二")
    assert fake.force_requests == 2
    assert [m["text"]["content"] for m in fake.custom] == ["一", "二"]
    await api.close()


async def test_fake_stable_token_force_rules(fake: FakeWeChat, api: WeChatApi) -> None:
    """The fake is as strict as WeChat: a forced refresh invalidates the previous token, a second
    one within 30 s refreshes nothing, the 21st of a day is refused."""
    import httpx

    async with httpx.AsyncClient() as client:

        async def stable(force: bool) -> dict[str, object]:
            body = {"grant_type": "client_credential", "appid": fake.app_id}
            body |= {"secret": fake.app_secret, "force_refresh": force}
            resp = await client.post(fake.base_url + "/cgi-bin/stable_token", json=body)
            return dict(resp.json())

        first = (await stable(False))["access_token"]
        assert (await stable(False))["access_token"] == first
        forced = (await stable(True))["access_token"]
        assert forced != first and fake.access_tokens == [forced]
        assert (await stable(True))["access_token"] == forced  # within 30 s: not refreshed
        for _ in range(19):
            fake.now += 30
            await stable(True)
        fake.now += 30
        assert (await stable(True)).get("errcode") == 45009


async def test_a_refused_token_request_is_a_delivery_error(fake: FakeWeChat, api: WeChatApi) -> None:
    """stable_token refused (40164: the server's IP is not whitelisted; -1: busy): every call,
    the media download included, raises the dispatcher's DeliveryError, never WeChatError."""
    fake.media["M1"] = b"\xff\xd8jpeg"
    fake.fail_next["stable_token"] = [40164, -1]
    with pytest.raises(DeliveryError) as setup:
        await api.download_media("M1")
    # the setup's fault, not the message's: retried once the operator mends it, never dead
    assert setup.value.failure is Failure.TRANSIENT
    with pytest.raises(DeliveryError) as busy:
        await api.download_media("M1")
    assert busy.value.failure is Failure.TRANSIENT
    assert (await api.download_media("M1"))[0] == b"\xff\xd8jpeg"


async def test_request_bodies_carry_chinese_unescaped_as_utf8(
    fake: FakeWeChat, api: WeChatApi
) -> None:
    """WeChat refuses \\uXXXX escapes on its message APIs (40033); httpx's json= produced them
    before 0.28 and declares no charset. The body is serialised by the client itself."""
    fake.open_window("o_res", "message")
    await api.send_text("o_res", "路灯坏了")
    await api.send_template("o_res", "TPL_RESULT", {"thing1": "您的心愿已办结"})
    sent = {path: (body, ctype) for path, body, ctype in fake.raw}
    for path, words in (("custom/send", "路灯坏了"), ("template/send", "您的心愿已办结")):
        body, ctype = sent[path]
        assert words.encode("utf-8") in body and b"\\u" not in body
        assert ctype.replace(" ", "").lower() == "application/json;charset=utf-8"


async def test_the_fake_refuses_escaped_json_as_wechat_does(
    fake: FakeWeChat, api: WeChatApi
) -> None:
    import json

    import httpx

    fake.open_window("o_res", "message")
    token = await api.access_token()
    body = {"touser": "o_res", "msgtype": "text", "text": {"content": "路灯"}}
    async with httpx.AsyncClient() as client:
        resp = await client.post(
            fake.base_url + "/cgi-bin/message/custom/send",
            params={"access_token": token},
            content=json.dumps(body).encode(),  # ensure_ascii: \u8def\u706f
        )
    assert resp.json()["errcode"] == 40033 and not fake.custom


async def test_without_stable_token_the_classic_token_api_is_used() -> None:
    """A platform (or emulator) that offers only GET /cgi-bin/token: the old code asked
    stable_token alone and could send nothing. Now it falls back, once, and refreshes there."""
    fake = FakeWeChat(stable_token_offered=False)
    await fake.start()
    api = WeChatApi(fake.app_id, fake.app_secret, fake.base_url, clock=lambda: fake.now)
    try:
        fake.open_window("o_res", "message")
        await api.send_text("o_res", "一")
        await api.send_text("o_res", "二")
        assert api.token_api == "token" and fake.token_fetches == 1
        fake.invalidate_token()
        await api.send_text("o_res", "三")
        assert fake.token_fetches == 2
        assert [m["text"]["content"] for m in fake.custom] == ["一", "二", "三"]
    finally:
        await api.close()
        await fake.stop()


async def test_the_token_api_can_be_pinned(fake: FakeWeChat) -> None:
    classic = WeChatApi(fake.app_id, fake.app_secret, fake.base_url, token_api="token")
    stable = WeChatApi(fake.app_id, fake.app_secret, fake.base_url, token_api="stable")
    try:
        token = await classic.access_token()
        assert token in fake.classic_tokens and not fake.access_tokens
        assert await stable.access_token() in fake.access_tokens
        fake.stable_token_offered = False
        pinned = WeChatApi(fake.app_id, fake.app_secret, fake.base_url, token_api="stable")
        with pytest.raises(DeliveryError):  # pinned to stable_token: no fallback
            await pinned.access_token()
        await pinned.close()
        with pytest.raises(ValueError):
            WeChatApi(fake.app_id, fake.app_secret, fake.base_url, token_api="other")
    finally:
        await classic.close()
        await stable.close()
