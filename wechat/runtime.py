"""Building the WeChat channel from the settings: what the composition root (bot/app.py) calls
when LIAISON_WECHAT_APP_ID is set. The webhook is then attached to the web channel's server
(`WeChatRuntime.webhook.attach(app)`), and `WeChatRuntime.channel` is the dispatcher's transport
for channel "wechat"."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from bot.clock import Clock
from bot.i18n import Catalog
from bot.operator import ConfigError
from bot.settings import Settings
from storage.db import Database
from wechat.api import WeChatApi
from wechat.channel import DeliveryHook, NoticeTemplates, WeChatChannel
from wechat.fields import (
    DEFAULT_SUBSCRIPTION_FIELDS,
    DEFAULT_TEMPLATE_FIELDS,
    FieldSpecError,
    parse_fields,
)
from wechat.webhook import ConversationLike, WebhookConfig, WeChatWebhook


@dataclass
class WeChatRuntime:
    api: WeChatApi
    channel: WeChatChannel
    webhook: WeChatWebhook

    async def close(self) -> None:
        await self.api.close()


log = logging.getLogger(__name__)

def templates_from(settings: Settings) -> NoticeTemplates:
    def pick(**ids: str) -> dict[str, str]:
        return {kind: value for kind, value in ids.items() if value}

    def mappings(setting: str, default: str) -> dict[str, dict[str, str]]:
        """LIAISON_WECHAT_<setting> for every kind, LIAISON_WECHAT_<setting>_<KIND> for one."""
        shared = getattr(settings, f"wechat_{setting}") or default
        found: dict[str, dict[str, str]] = {}
        for kind in ("notice", "result", "reply"):
            name = f"wechat_{setting}_{kind}"
            spec = getattr(settings, name) or shared
            try:
                found[kind] = parse_fields(spec)
            except FieldSpecError as exc:
                raise ConfigError(
                    "wechat_fields_shape",
                    setting=f"LIAISON_{name.upper()}"
                    if getattr(settings, name)
                    else f"LIAISON_WECHAT_{setting.upper()}",
                    part=str(exc),
                ) from exc
        return found

    template_ids = (
        settings.wechat_template_result,
        settings.wechat_template_reply,
        settings.wechat_template_notice,
    )
    own_fields = (
        settings.wechat_template_fields,
        settings.wechat_template_fields_result,
        settings.wechat_template_fields_reply,
        settings.wechat_template_fields_notice,
    )
    if any(template_ids) and not any(own_fields):
        # Templates set up before the typed keys (first/keyword1..3/remark) are refused with
        # 47003 under the default mapping, and their notices then wait: say so once, at start.
        log.warning(
            "wechat templates use the default field mapping %s: set "
            "LIAISON_WECHAT_TEMPLATE_FIELDS to your templates' keys (README, WeChat)",
            DEFAULT_TEMPLATE_FIELDS,
        )
    return NoticeTemplates(
        template=pick(
            result=settings.wechat_template_result,
            reply=settings.wechat_template_reply,
            notice=settings.wechat_template_notice,
        ),
        subscription=pick(
            result=settings.wechat_subscribe_result,
            reply=settings.wechat_subscribe_reply,
            notice=settings.wechat_subscribe_notice,
        ),
        template_fields=mappings("template_fields", DEFAULT_TEMPLATE_FIELDS),
        subscription_fields=mappings("subscribe_fields", DEFAULT_SUBSCRIPTION_FIELDS),
        tz=settings.tz,
    )


def build_wechat(
    settings: Settings,
    db: Database,
    clock: Clock,
    conversation: ConversationLike,
    public_url: str = "",
    on_delivery: DeliveryHook | None = None,
    **webhook_options: Any,
) -> WeChatRuntime | None:
    """None when the channel is off (no app id). `on_delivery(wish id, openid, path)` is told
    how each notice about a wish went (the composition root passes the use case that puts it
    on the wish's timeline)."""
    if not settings.wechat_app_id:
        return None
    if not settings.wechat_token or not settings.wechat_app_secret:
        # without the Token no push can be verified, without the secret nothing can be sent
        raise ConfigError("wechat_incomplete")
    api = WeChatApi(
        settings.wechat_app_id,
        settings.wechat_app_secret or "",
        settings.wechat_api_base_url,
        token_api=settings.wechat_token_api,
    )
    channel = WeChatChannel(
        db,
        api,
        clock,
        Catalog(settings.locale),
        templates_from(settings),
        msgmenu=settings.wechat_msgmenu,
        public_url=public_url,
        on_delivery=on_delivery,
    )
    config = WebhookConfig(
        token=settings.wechat_token or "",
        app_id=settings.wechat_app_id,
        aes_key=settings.wechat_aes_key,
        media_dir=settings.wechat_media_dir,
    )
    liaison = getattr(conversation, "liaison", None)
    if liaison is not None:  # the core words its texts for what WeChat can do
        liaison.core.capabilities[channel.name] = channel.capabilities
    webhook = WeChatWebhook(config, db, clock, conversation, channel, api, **webhook_options)
    return WeChatRuntime(api, channel, webhook)
