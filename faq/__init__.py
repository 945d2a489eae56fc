"""FAQ answering for the liaison-station bot: no Telegram code, no I/O besides its YAML.

Typical use::

    matcher = FaqMatcher.from_file(bundled_faq_path("zh_CN"))
    result = matcher.match(text, station_id=station.id)
    if result.kind == "answer":
        reply = render_answer(result.entry, station_name=..., address=..., reception=...)
"""

from faq.matcher import FaqMatch, FaqMatcher, MatcherTuning, group_similar
from faq.model import (
    FaqEntry,
    FaqFileError,
    bundled_faq_path,
    dump_entry_yaml,
    entry_from_fields,
    load_faq_file,
    render_answer,
)
from faq.normalize import normalize

__all__ = [
    "FaqEntry",
    "FaqFileError",
    "FaqMatch",
    "FaqMatcher",
    "MatcherTuning",
    "bundled_faq_path",
    "dump_entry_yaml",
    "entry_from_fields",
    "group_similar",
    "load_faq_file",
    "normalize",
    "render_answer",
]
