"""How a notice reached a resident, on the wish's timeline.

A channel that always pushes (Telegram) needs no record. One that may not (WeChat: a 客服
message inside the window, else a template or a one-time subscription message, else the notice
waits for the resident's next message) reports back the timeline entry its path leaves (the
adapter maps its paths to `NoteKind`s, e.g. wechat/channel.py TIMELINE_NOTES; the composition
root wires the report here), and staff see it on the wish's timeline (and in the export's
timeline sheet), e.g. "系统经模板消息通知居民（微信）". Only notices to the wish's own resident are
noted: what a deputy or staff member was sent is not the resident's story.
"""

from __future__ import annotations

import logging

from bot.core import Part
from bot.domain.deadlines import DELIVERY_NOTES, NoteKind, SupervisionNote
from bot.domain.model import Role
from storage.repositories import Repos
from storage.supervision import SupervisionRepo

log = logging.getLogger(__name__)


class Deliveries(Part):
    async def delivered(self, wish_id: int, channel: str, account: str, kind: NoteKind) -> bool:
        """Note on the wish's timeline how a notice about it reached its resident (`account`
        is the resident's id in `channel`, `kind` the entry the channel's path leaves). False,
        nothing written, for a kind that is no delivery's, a wish that is gone, or a recipient
        who is not the wish's resident."""
        if kind not in DELIVERY_NOTES:
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
        log.info("wish %s: notice via %s noted (%s)", wish_id, channel, kind.value)
        return True
