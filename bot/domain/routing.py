"""Routing policy: which deputy of a station gets a new wish."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class DeputyLoad:
    deputy_id: int
    categories: frozenset[str]  # empty: takes any category
    open_count: int
    last_assigned_seq: int  # 0 if never assigned; grows with each assignment in the station
    available: bool = True  # False when Telegram said the deputy cannot be reached


def choose_deputy(category_id: str, deputies: Sequence[DeputyLoad]) -> int | None:
    """The fitting deputy with the fewest open wishes; ties go round robin.

    Deputies whose categories name the wish's category are preferred over those who take any
    category, so a specialist gets their field's wishes before a generalist does. None means no
    deputy fits and the station's staff must assign by hand.
    """
    reachable = [d for d in deputies if d.available]
    specialists = [d for d in reachable if category_id in d.categories]
    candidates = specialists or [d for d in reachable if not d.categories]
    if not candidates:
        return None
    # Round robin among equals: the one assigned longest ago goes first.
    best = min(candidates, key=lambda d: (d.open_count, d.last_assigned_seq, d.deputy_id))
    return best.deputy_id
