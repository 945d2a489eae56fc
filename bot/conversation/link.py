"""Linking the account someone writes from (a WeChat openid) to their deputy or staff person
with the one-time code they got from /web or `liaison-bot login-link`."""

from __future__ import annotations

from bot.conversation.turn import Turn
from bot.logins import LOGIN_LINK_MINUTES, redeem_link_code


async def link(t: Turn, args: str) -> None:
    liaison, event = t.liaison, t.event
    outcome, _ = await redeem_link_code(
        liaison.core.db, liaison.core.clock, event.channel, event.account, event.chat, args
    )
    t.say(t.c.t(f"link.{outcome.value}", minutes=LOGIN_LINK_MINUTES))
