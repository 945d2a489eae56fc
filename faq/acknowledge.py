"""Is a message only an acknowledgement ("好的谢谢", "收到，辛苦了", "ok")? Pure.

A resident answering a deputy's reply with thanks asked nothing: the bot acknowledges it
politely rather than saying the FAQ has no answer (and it is no gap in the FAQ either).
"""

from __future__ import annotations

import re

from faq.normalize import normalize

# Words that acknowledge or thank by themselves.
_ACK = (
    "谢谢", "感谢", "多谢", "辛苦了", "辛苦", "麻烦了", "麻烦", "好的", "好滴", "好嘞", "好吧", "好",
    "收到", "知道了", "知道", "明白了", "明白", "了解了", "了解", "清楚了", "懂了", "行",
    "ok", "okay", "嗯嗯", "嗯", "哦", "没问题", "可以",
)  # fmt: skip
# Words that may stand beside them without asking anything (whom the thanks are for).
_ADDRESS = ("代表", "老师", "同志", "工作人员", "你们", "您们", "您", "你", "了", "啦", "哈", "呀", "啊", "哦")
_THANKS = re.compile(r"谢|辛苦|麻烦")


def _strip(text: str, words: tuple[str, ...]) -> tuple[str, bool]:
    found = False
    for word in sorted(words, key=len, reverse=True):
        if word in text:
            found = True
            text = text.replace(word, "")
    return text, found


def is_acknowledgement(text: str) -> bool:
    """True if `text` only thanks or acknowledges, with at most whom it is for."""
    raw = text.strip().lower()
    if not raw or len(raw) > 30:
        return False
    if not normalize(raw):  # the normalizer drops 谢谢 and the like as filler
        return bool(_THANKS.search(raw))
    rest, acked = _strip(re.sub(r"[\W_]+", "", raw), _ACK)
    if not acked:
        return False
    rest, _ = _strip(rest, _ADDRESS)
    return rest == ""
