"""What kind of notice a message is, for its recipient (pure).

A channel that cannot always push (WeChat, outside the window the resident opened) sends a
summary through a template chosen by this kind; the kind is decided here, once, when the
notice is queued (bot/notify.py), and travels with it (`OutMessage.notice`, in the outbox
payload). The adapter only maps the kind to its configured template and fills the fields.
"""

from __future__ import annotations

from enum import StrEnum

from bot.domain.model import Status


class NoticeKind(StrEnum):
    # anything to the resident about their settled wish (resolved, closed or declined): the
    # resolution itself, then its rating reminder and 回访
    RESULT = "result"
    REPLY = "reply"  # anything else about the resident's own, open wish (a reply, accepted …)
    NOTICE = "notice"  # anything else: no wish, or a card about someone else's wish


SETTLED = frozenset({Status.RESOLVED, Status.CLOSED, Status.DECLINED})


def notice_kind(status: Status | None, to_its_resident: bool) -> NoticeKind:
    """The kind of a notice about a wish in `status` (None: about no wish). A deputy or staff
    member gets a card about someone else's wish: the resident's headings ("your wish was
    resolved") would be wrong for them, so only the wish's own resident gets result / reply."""
    if status is None or not to_its_resident:
        return NoticeKind.NOTICE
    return NoticeKind.RESULT if status in SETTLED else NoticeKind.REPLY
