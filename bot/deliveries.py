"""How a notice reached a resident, on the wish's timeline.

Telegram always pushes, so its deliveries need no record. WeChat may not: a notice goes by a 客服
message inside the window, else a template or a one-time subscription message, else it waits for
the resident's next message (wechat/channel.py picks the path). The channel reports the path
back here and staff see it on the wish's timeline (and in the export's timeline sheet), e.g.
"系统经模板消息通知居民（微信）". Only notices to the wish's own resident are noted: what a
deputy or staff member was sent is not the resident's story.
"""

from __future__ import annotations

import logging

from bot.core import Part
from bot.domain.deadlines import NoteKind, SupervisionNote
from bot.domain.model import Role
from storage.repositories import Repos
from storage.supervision import SupervisionRepo

log = logging.getLogger(__name__)

# (channel, path) -> the timeline entry it leaves
DELIVERY_NOTES: dict[tuple[str, str], NoteKind] = {
    ("wechat", "custom"): NoteKind.WECHAT_CUSTOM,
    ("wechat", "template"): NoteKind.WECHAT_TEMPLATE,
    ("wechat", "subscription"): NoteKind.WECHAT_SUBSCRIPTION,
    ("wechat", "waiting"): NoteKind.WECHAT_WAITING,
    ("wechat", "shown"): NoteKind.WECHAT_SHOWN,
}


class Deliveries(Part):
    async def delivered(self, wish_id: int, channel: str, account: str, path: str) -> bool:
        """Note on the wish's timeline how a notice about it reached its resident (`account`
        is the resident's id in `channel`). False, nothing written, for an unknown path, a
        wish that is gone, or a recipient who is not the wish's resident."""
        kind = DELIVERY_NOTES.get((channel, path))
        if kind is None:
            return False
        now = self.clock.now()
        async with self.db.transaction() as conn:
            repos = Repos(conn)
            wish = await repos.wish(wish_id)
            person = await repos.user_by_external(channel, account)
            if wish is None or person is None or person.id != wish.resident_id:
                return False
            await SupervisionRepo(conn).add_note(
                wish_id, SupervisionNote(now, kind, Role.SYSTEM.value)
            )
        log.info("wish %s: notice via %s/%s noted", wish_id, channel, path)
        return True
