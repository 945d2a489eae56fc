"""What the WeChat channel keeps only to deliver, and for how long: its pruning jobs, which the
core's retention (bot/retention.py) runs with its own on the scheduler's tick. The composition
root passes them in whether or not the channel is on, so what an earlier run kept is still
forgotten after the channel is turned off."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from bot.retention import Prune, RetentionPolicy
from storage.wechat import WeChatRepo

WINDOW_KEPT = timedelta(hours=49)  # past WeChat's 48-hour 客服 window, with a margin
INBOX_KEPT = timedelta(days=7)
# bizmsgmenu links shown (their ids, actions and labels): a tap in a message older than this is
# answered as stale; also at most storage/wechat.py MENU_PER_PERSON per person
MENU_KEPT = timedelta(hours=48)  # as the Telegram inbox (handlers/polling.py)


def _repo(prune: Any) -> Prune:
    """A WeChatRepo pruning method as a job on the transaction's connection."""

    async def call(conn: Any, before: datetime, limit: int) -> int:
        return int(await prune(WeChatRepo(conn), before, limit))

    return call


def retention_jobs(policy: RetentionPolicy, now: datetime) -> dict[str, tuple[Prune, datetime]]:
    return {
        # kept cards once shown (as delivered outbox rows), options (as sessions)
        "wechat_shown": (_repo(WeChatRepo.prune_shown), now - timedelta(days=policy.outbox_days)),
        "wechat_options": (
            _repo(WeChatRepo.prune_options),
            now - timedelta(hours=policy.session_hours),
        ),
        "wechat_menu": (_repo(WeChatRepo.prune_menu), now - MENU_KEPT),
        # a 客服 window lasts 48 hours at most; delivery paths live on in the timeline
        "wechat_windows": (_repo(WeChatRepo.prune_windows), now - WINDOW_KEPT),
        "wechat_deliveries": (
            _repo(WeChatRepo.prune_deliveries),
            now - timedelta(days=policy.links_days),
        ),
        # the Telegram poller prunes its own inbox rows; the webhook has no poller
        "wechat_inbox": (_repo(WeChatRepo.prune_inbox), now - INBOX_KEPT),
    }
