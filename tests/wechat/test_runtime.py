"""Building the WeChat channel from the settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.clock import ManualClock
from bot.i18n import Catalog
from bot.operator import ConfigError
from bot.settings import Settings
from storage.db import Database
from wechat.runtime import build_wechat, templates_from


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, database=Path("x.db"), **values)  # type: ignore[call-arg, arg-type]


class NoConversation:
    async def handle(self, event: object) -> object:
        raise AssertionError("not called")


async def test_off_without_app_id_and_refused_when_incomplete(
    db: Database, clock: ManualClock
) -> None:
    assert build_wechat(settings(), db, clock, NoConversation()) is None
    with pytest.raises(ConfigError) as err:
        build_wechat(settings(wechat_app_id="wx1"), db, clock, NoConversation())
    assert "LIAISON_WECHAT_TOKEN" in err.value.render(Catalog("zh_CN"))
    runtime = build_wechat(
        settings(wechat_app_id="wx1", wechat_app_secret="s", wechat_token="t", wechat_msgmenu=True),
        db,
        clock,
        NoConversation(),
    )
    assert runtime is not None and runtime.channel.msgmenu and runtime.webhook.crypto is None
    assert runtime.api.token_api == "auto"
    await runtime.close()
    classic = build_wechat(
        settings(
            wechat_app_id="wx1", wechat_app_secret="s", wechat_token="t", wechat_token_api="token"
        ),
        db,
        clock,
        NoConversation(),
    )
    assert classic is not None and classic.api.token_api == "token"
    await classic.close()


def test_templates_fall_back_to_notice() -> None:
    t = templates_from(settings(wechat_template_result="R", wechat_template_notice="N"))
    assert t.template == {"result": "R", "notice": "N"} and t.subscription == {}


def test_bad_aes_key_is_a_settings_error() -> None:
    with pytest.raises(ValueError, match="wechat_aes_key"):
        settings(wechat_aes_key="too-short")
    assert settings(wechat_aes_key=" " + "a" * 43 + " ").wechat_aes_key == "a" * 43


def test_template_fields_come_from_the_settings() -> None:
    t = templates_from(
        settings(
            wechat_template_fields="thing1=heading,thing2=text",
            wechat_template_fields_result="character_string1=receipt,phrase2=status",
            wechat_subscribe_fields_reply="thing3=text",
            timezone="Asia/Urumqi",
        )
    )
    assert t.fields_of("result") == {"character_string1": "receipt", "phrase2": "status"}
    assert t.fields_of("reply") == t.fields_of("notice") == {"thing1": "heading", "thing2": "text"}
    assert t.fields_of("reply", subscription=True) == {"thing3": "text"}
    assert t.fields_of("result", subscription=True) == {"thing1": "heading", "thing2": "text"}
    assert str(t.tz) == "Asia/Urumqi"
    default = templates_from(settings())
    assert default.fields_of("result") == {
        "thing1": "heading",
        "character_string2": "receipt",
        "thing3": "text",
        "time4": "time",
    }


def test_a_bad_field_mapping_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as err:
        templates_from(settings(wechat_template_fields_reply="keyword1=受理编号"))
    text = err.value.render(Catalog("zh_CN"))
    assert "LIAISON_WECHAT_TEMPLATE_FIELDS_REPLY" in text and "keyword1=受理编号" in text


def test_templates_with_the_default_field_mapping_are_pointed_out_at_start(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A deployment whose templates were added before the typed keys (first/keyword1..3)
    would have every template refused with 47003 under the default mapping: the start says so
    once; with a mapping of its own, or without templates, it says nothing."""
    with caplog.at_level("WARNING", logger="wechat.runtime"):
        templates_from(settings(wechat_template_result="TPL"))
    assert [r.getMessage() for r in caplog.records if "default field mapping" in r.getMessage()]
    caplog.clear()
    with caplog.at_level("WARNING", logger="wechat.runtime"):
        templates_from(settings())
        templates_from(
            settings(wechat_template_result="TPL", wechat_template_fields="thing1=heading")
        )
    assert not caplog.records
