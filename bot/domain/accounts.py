"""Which of a person's accounts a message goes to: pure rules, no I/O.

A person may reach the station through several channels (Telegram, WeChat, a web browser). A
message goes to the account that can push it to them now; a web account is pull-only (the page
shows it when the person looks), so it is used only when no pushing account can reach them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Protocol, TypeVar

# Channels that can only show a message when the person looks (no push).
PULL_ONLY: frozenset[str] = frozenset({"web"})
# Among the pushing channels, the one people answer fastest first.
PUSH_ORDER: tuple[str, ...] = ("telegram", "wechat")


class AccountState(Protocol):
    """What the rule needs to know of an account (storage's AccountRow has it)."""

    @property
    def id(self) -> int: ...
    @property
    def channel(self) -> str: ...
    @property
    def started_at(self) -> datetime | None: ...
    @property
    def unreachable_at(self) -> datetime | None: ...


A = TypeVar("A", bound=AccountState)


def can_push(channel: str) -> bool:
    return channel not in PULL_ONLY


def delivery_rank(account: AccountState) -> tuple[int, int, int]:
    """Lower is better: a reachable pushing account, then a pull-only one (kept for when the
    person looks), then a pushing account not known to work (never opened, or blocked: trying
    it tells the station the person cannot be reached, as before accounts existed)."""
    push = can_push(account.channel)
    reachable = account.started_at is not None and account.unreachable_at is None
    if push and reachable:
        tier = 0
    elif not push:
        tier = 1
    else:
        tier = 2
    order = PUSH_ORDER.index(account.channel) if account.channel in PUSH_ORDER else len(PUSH_ORDER)
    return tier, order, account.id


def choose_account(accounts: Iterable[A]) -> A | None:
    return min(accounts, key=delivery_rank, default=None)
