"""One-time login links to the web desk for deputies and staff (channel-neutral: used by the
Telegram /web command, the operator's `liaison-bot login-link` and the demo), and one-time link
codes that join another channel's account (a WeChat openid) to the same person."""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import timedelta
from enum import StrEnum

from bot.clock import Clock
from storage.db import Database
from storage.links import LinkRepo
from storage.repositories import Repos
from storage.web import WebRepo

log = logging.getLogger(__name__)

LOGIN_LINK_MINUTES = 15
LINK_CODE_DIGITS = 8  # typed on a phone: digits only; 10^8 codes against the limits below
LINK_TRIES_PER_ACCOUNT = 5  # failed tries per account and hour, then refused for the hour
LINK_TRIES_OVERALL = 100  # failed tries of everyone per hour: many accounts guessing together
LINK_TRIES_WINDOW = timedelta(hours=1)


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


class LinkOutcome(StrEnum):
    LINKED = "linked"  # the account now belongs to the person the code was made for
    ALREADY = "already"  # it already did
    WRONG = "wrong"  # no such code, used, or expired
    LIMITED = "limited"  # too many wrong tries: not even checked
    TAKEN = "taken"  # the account is another deputy's or staff member's


async def create_link_code(db: Database, clock: Clock, user_id: int) -> str:
    """A code that links the account it is sent from to this person, once, within
    LOGIN_LINK_MINUTES (stored hashed, like login links)."""
    expires = clock.now() + timedelta(minutes=LOGIN_LINK_MINUTES)
    while True:
        code = f"{secrets.randbelow(10**LINK_CODE_DIGITS):0{LINK_CODE_DIGITS}d}"
        async with db.transaction() as conn:
            if await LinkRepo(conn).add_code(digest(f"link:{code}"), user_id, expires):
                return code


async def redeem_link_code(
    db: Database, clock: Clock, channel: str, external_id: str, chat_id: str, code: str
) -> tuple[LinkOutcome, int | None]:
    """Join the account (`channel`, `external_id`) to the person the code was made for; the
    person's id comes back when linked (or already). One transaction: checked, used, moved.

    Guessing is limited per account and overall (failed tries in the last hour); a refused
    try changes nothing but the count. An account that is another deputy's or staff member's
    is never taken over; one that was only a resident (the person WeChat made on the first
    message) moves, and that resident's wishes stay theirs."""
    now = clock.now()
    since = now - LINK_TRIES_WINDOW
    async with db.transaction() as conn:
        links = LinkRepo(conn)
        if (
            await links.attempts(since, channel, external_id) >= LINK_TRIES_PER_ACCOUNT
            or await links.attempts(since) >= LINK_TRIES_OVERALL
        ):
            log.warning("link code refused: too many tries (%s account)", channel)
            return LinkOutcome.LIMITED, None
        code_hash = digest(f"link:{code.strip()}")
        user_id = await links.valid_code(code_hash, now) if code.strip().isdigit() else None
        if user_id is None or not await WebRepo(conn).is_worker(user_id):
            await links.add_attempt(channel, external_id, now)
            return LinkOutcome.WRONG, None
        repos = Repos(conn)
        account = await repos.account(channel, external_id)
        if account is not None and account.user_id == user_id:
            await links.use_code(code_hash, now)
            return LinkOutcome.ALREADY, user_id
        if account is not None and await WebRepo(conn).is_worker(account.user_id):
            return LinkOutcome.TAKEN, None
        await links.use_code(code_hash, now)
        if account is None:
            await repos.add_account(user_id, channel, external_id, chat_id, now)
            account = await repos.account(channel, external_id)
            assert account is not None
        await links.move_account(account.id, user_id, now)
    log.info("%s account linked to user %s", channel, user_id)
    return LinkOutcome.LINKED, user_id
