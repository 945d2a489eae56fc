"""Logging set-up for every `liaison-bot` command: ours at LIAISON_LOG_LEVEL, libraries capped.

Our own log lines carry ids, never message content. Third-party libraries do not follow that
rule at DEBUG: aiosqlite logs every SQL statement with its parameters (wish texts, phone
numbers), python-telegram-bot logs whole updates and request bodies, httpx/httpcore log request
lines and headers (the URL holds the bot token). So they are capped at a level where they log
no content, whatever LIAISON_LOG_LEVEL says, and a DEBUG run is safe to share.
"""

from __future__ import annotations

import logging

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# The most verbose level each library may log at. INFO from telegram is start/stop lines only;
# httpx logs every request URL (with the token) at INFO, so it gets WARNING.
THIRD_PARTY_CAPS: dict[str, int] = {
    "aiosqlite": logging.WARNING,
    "telegram": logging.INFO,
    "httpx": logging.WARNING,
    "httpcore": logging.WARNING,
    "hpack": logging.WARNING,
    "asyncio": logging.WARNING,
    "matplotlib": logging.WARNING,
    "PIL": logging.WARNING,
}


def configure_logging(level: str) -> None:
    """Root logging at `level` (LIAISON_LOG_LEVEL); third-party loggers never below their cap."""
    numeric = getattr(logging, level.upper(), logging.INFO)
    logging.basicConfig(level=numeric, format=LOG_FORMAT)
    cap_third_party(numeric)


def cap_third_party(level: int) -> None:
    for name, cap in THIRD_PARTY_CAPS.items():
        # A child logger with its own level would escape the cap: reset those too.
        logging.getLogger(name).setLevel(max(level, cap))
        for other in list(logging.root.manager.loggerDict):
            if other.startswith(name + "."):
                child = logging.getLogger(other)
                if child.level != logging.NOTSET and child.level < cap:
                    child.setLevel(cap)
