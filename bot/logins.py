"""One-time login links to the web desk for deputies and staff (channel-neutral: used by the
Telegram /web command, the operator's `liaison-bot login-link` and the demo)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from bot.clock import Clock
from storage.db import Database
from storage.web import WebRepo

LOGIN_LINK_MINUTES = 15


def digest(value: str) -> str:
    """How one-time tokens and access codes are stored: never the value itself."""
    return hashlib.sha256(value.encode()).hexdigest()


async def is_worker(db: Database, user_id: int) -> bool:
    async with db.read() as conn:
        return await WebRepo(conn).is_worker(user_id)


async def create_login_link(db: Database, clock: Clock, public_url: str, user_id: int) -> str:
    """A link that logs one browser in as this person once, within LOGIN_LINK_MINUTES."""
    token = secrets.token_urlsafe(24)
    async with db.transaction() as conn:
        await WebRepo(conn).add_login_token(
            digest(token), user_id, clock.now() + timedelta(minutes=LOGIN_LINK_MINUTES)
        )
    return f"{public_url.rstrip('/')}/login/{token}"
