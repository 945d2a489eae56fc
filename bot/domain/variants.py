"""Which wording of a catalog message a channel gets: a pure rule on what the channel can do.

Telegram's texts are the catalog's plain keys (`resident.reply`). A channel lacking a feature
those texts rely on gets the variant written for that lack, when the catalog has one:
`resident.reply~noreply` for a channel where a person cannot reply to one message. A channel
lacking several features takes the variant naming the most of them (`new.more~numbered` also
serves a channel that lacks commands too), so no channel is told to do what it cannot.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import combinations

# The features a catalog text may rely on, each with the tag naming its absence, in the order
# the tags are written in a key (`key~noreply~numbered`).
NO_REPLY_TO = "noreply"  # a person can reply to one specific message (Telegram)
NUMBERED = "numbered"  # no buttons: options are numbers to type (WeChat)
NO_COMMANDS = "nocmd"  # slash commands are not how people find things (a "/" menu)
NO_CHANNELS = "nochannel"  # the platform has no public channels to subscribe to (回音壁)
ORDER = (NO_REPLY_TO, NUMBERED, NO_COMMANDS, NO_CHANNELS)
SEP = "~"


def missing_features(
    *, reply_to: bool, buttons: bool, commands: bool, channels: bool
) -> tuple[str, ...]:
    """The tags of what a channel lacks, in key order."""
    lacks = {
        NO_REPLY_TO: not reply_to,
        NUMBERED: not buttons,
        NO_COMMANDS: not commands,
        NO_CHANNELS: not channels,
    }
    return tuple(tag for tag in ORDER if lacks[tag])


def candidate_keys(key: str, missing: tuple[str, ...]) -> list[str]:
    """The keys to try, most specific first, the plain key last."""
    ordered = [tag for tag in ORDER if tag in missing]
    keys = []
    for size in range(len(ordered), 0, -1):
        for tags in combinations(ordered, size):
            keys.append(key + "".join(SEP + t for t in tags))
    keys.append(key)
    return keys


def choose(key: str, missing: tuple[str, ...], exists: Callable[[str], bool]) -> str:
    """The key of the wording for a channel lacking `missing`: the most specific variant the
    catalog has, else the plain key."""
    return next((k for k in candidate_keys(key, missing) if exists(k)), key)
