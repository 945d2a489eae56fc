"""Telling people: cards and notes to deputies, residents, staff and followers, queued in the
outbox inside the caller's transaction, each to the account of the person that can receive it."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime

from bot.cards import WishContext
from bot.core import (
    PRIORITY_INTERACTIVE,
    PRIORITY_NOTIFY,
    PRIORITY_WALL,
    Core,
    Part,
    wish_context,
)
from bot.domain.accounts import choose_account
from bot.domain.masking import mask_pii, wish_names
from bot.domain.model import Wish
from bot.domain.notices import notice_kind
from bot.messages import OutMessage
from bot.stations_file import TELEGRAM
from bot.textfit import truncate_plain
from storage.broadcasts import Broadcasts
from storage.repositories import NewOutgoing, Repos, StationRow, UserRow
from storage.supervision import SupervisionRepo
from storage.wall import WALL_KIND, WALL_WITHDRAW_KIND, WallPosts

log = logging.getLogger(__name__)

# The 回音壁 is the chat `wall_chat_id` names in the stations file: a Telegram channel or group.
WALL_CHANNEL = TELEGRAM


class Notifier(Part):
    def __init__(self, core: Core) -> None:
        super().__init__(core)

    async def address(self, repos: Repos, user: UserRow) -> tuple[str, str]:
        """The (channel, chat) a message to this person goes to: the account that can push it
        to them (Telegram before WeChat), a pull-only web account when none can, the account
        they were first known by for a person from before accounts."""
        return await self.address_of(repos, user.id, (user.channel, user.chat_id))

    async def address_of(
        self, repos: Repos, user_id: int, fallback: tuple[str, str]
    ) -> tuple[str, str]:
        account = choose_account(await repos.accounts_of(user_id))
        return (account.channel, account.chat_id) if account else fallback

    async def to_person(
        self,
        repos: Repos,
        user: UserRow,
        kind: str,
        priority: int,
        *messages: OutMessage,
        about: Wish | None = None,
    ) -> None:
        """`about`: the wish the messages are about, when the caller has it (else read)."""
        channel, chat_id = await self.address(repos, user)
        known: dict[int, Wish | None] = {about.id: about} if about is not None else {}
        noticed = [
            self.core.fit(channel, await self.noticed(repos, user.id, m, known)) for m in messages
        ]
        await repos.enqueue(
            [outgoing(channel, chat_id, user.id, kind, priority, m) for m in noticed],
            self.clock.now(),
        )

    async def noticed(
        self, repos: Repos, user_id: int, message: OutMessage, known: dict[int, Wish | None]
    ) -> OutMessage:
        """The message with the kind of notice it is for this recipient (a result or reply
        for the wish's own resident, a plain notice for anyone else: bot/domain/notices.py),
        which a channel sending summaries by template picks its template by. `known`: wishes
        already read, by id."""
        if message.wish_id is None or message.notice is not None:
            return message
        if message.wish_id not in known:
            known[message.wish_id] = await repos.wish(message.wish_id)
        wish = known[message.wish_id]
        status = wish.status if wish is not None else None
        to_resident = wish is not None and wish.resident_id == user_id
        return replace(message, notice=notice_kind(status, to_resident))

    async def to_each(
        self,
        repos: Repos,
        kind: str,
        priority: int,
        sends: list[tuple[UserRow, OutMessage]],
    ) -> None:
        """A message each to many people (the daily digests), as `to_person` sends one: their
        accounts read in one statement and the outbox rows written in a few."""
        accounts = await repos.accounts_of_many([u.id for u, _ in sends])
        rows = []
        known: dict[int, Wish | None] = {}
        for user, sent in sends:
            message = await self.noticed(repos, user.id, sent, known)
            account = choose_account(accounts.get(user.id, []))
            channel, chat_id = (
                (account.channel, account.chat_id) if account else (user.channel, user.chat_id)
            )
            message = self.core.fit(channel, message)
            rows.append(outgoing(channel, chat_id, user.id, kind, priority, message))
        await repos.enqueue(rows, self.clock.now())

    async def to_wall(
        self,
        repos: Repos,
        station: StationRow,
        message: OutMessage,
        now: datetime,
        wish_id: int | None = None,
    ) -> None:
        """The station's public 回音壁 channel: the chat the stations file names, in the
        channel it names it in (a Telegram channel or group). `wish_id`: the wish the post is
        about, so the dispatcher records where it went (a reopened wish's post is withdrawn)."""
        if not station.wall_chat_id:
            return
        row = outgoing(WALL_CHANNEL, station.wall_chat_id, None, WALL_KIND, PRIORITY_WALL, message)
        await repos.enqueue([replace(row, wish_id=wish_id)], now)

    async def withdraw_from_wall(self, repos: Repos, wish: Wish, now: datetime) -> None:
        """A reopened wish is no longer a result to show: a 回音壁 post still waiting is not
        sent, and one already posted is withdrawn (deleted by the channel, or replaced by a
        short note where it can no longer be deleted: bot/dispatcher.py)."""
        posts = WallPosts(repos.conn)
        await posts.cancel_pending(wish.id)
        note = self.c.t("wall.withdrawn", receipt=wish.receipt)
        rows = [
            NewOutgoing(
                channel=post.channel,
                chat_id=post.chat_id,
                user_id=None,
                kind=WALL_WITHDRAW_KIND,
                priority=PRIORITY_WALL,
                payload=OutMessage(text=note, retract=post.message_id).to_payload(),
                wish_id=wish.id,
            )
            for post in await posts.take(wish.id)
        ]
        if rows:
            await repos.enqueue(rows, now)

    async def card(
        self, repos: Repos, wish: Wish, deputy_id: int, heading: str = "card.new"
    ) -> None:
        """The deputy's card for a wish (photos, location, deadlines) with its buttons."""
        attachments = await repos.attachments(wish.id)
        photos = tuple(a.file_ref for a in attachments if a.kind == "photo" and a.file_ref)
        loc = next(((a.latitude, a.longitude) for a in attachments if a.kind == "location"), None)
        location = (
            (float(loc[0]), float(loc[1]))
            if loc and loc[0] is not None and loc[1] is not None
            else None
        )
        ctx = await wish_context(repos, wish)
        dues = (await SupervisionRepo(repos.conn).due_dates_of([wish.id])).get(wish.id)
        messages = self.cards.handler_card(
            wish, ctx, photos=photos, location=location, heading=heading, dues=dues
        )
        await self.to_deputy(repos, deputy_id, *messages)

    async def to_followers(self, repos: Repos, wish: Wish, ctx: WishContext, now: datetime) -> None:
        """People who followed a public wish hear its (masked) result."""
        followers = await Broadcasts(repos.conn).follower_audience(wish.id)
        if not followers:
            return
        resident = await repos.user(wish.resident_id)
        names = wish_names(resident.display_name if resident else "", wish.text)
        message = OutMessage(
            text=self.c.t(
                "follow.resolved",
                receipt=wish.receipt,
                category=ctx.category_name,
                text=truncate_plain(mask_pii(wish.text, names), 201),
                result=mask_pii(wish.result or "", names),
            )
        )
        rows = []
        for f in followers:
            # Each to the account that can reach them now (the audience names the first one).
            channel, chat_id = await self.address_of(repos, f.user_id, (f.channel, f.chat_id))
            rows.append(outgoing(channel, chat_id, f.user_id, "follower", PRIORITY_WALL, message))
        await repos.enqueue(rows, now)

    async def to_deputy(
        self, repos: Repos, deputy_id: int, *messages: OutMessage, fallback: bool = True
    ) -> None:
        """To the deputy while they serve; once removed from the stations file (or their
        station is), nothing about a resident reaches them: it goes to the station's staff
        instead (`fallback`), who reassign the wish."""
        deputy = await repos.deputy(deputy_id)
        if deputy is None or not await repos.deputy_serves(deputy_id):
            if deputy is not None and fallback and messages:
                wish_id = next((m.wish_id for m in messages if m.wish_id), None)
                await self.to_staff(repos, deputy.station_id, list(messages), wish_id)
            return
        user = await repos.user(deputy.user_id)
        if user is None:
            return
        await self.to_person(repos, user, "deputy", PRIORITY_NOTIFY, *messages)

    async def to_resident(self, repos: Repos, wish: Wish, message: OutMessage) -> None:
        user = await repos.user(wish.resident_id)
        if user is None:
            return
        await self.to_person(repos, user, "resident", PRIORITY_INTERACTIVE, message, about=wish)

    async def to_staff(
        self,
        repos: Repos,
        station_id: str,
        messages: list[OutMessage],
        wish_id: int | None,
        exclude: int | None = None,
    ) -> None:
        """Station staff who can be reached; county admins when a station has none. A
        deactivated station has none (its former staff hear nothing): county admins then."""
        staff = [
            u
            for u in await repos.staff_users(station_id)
            if u.id != exclude and u.unreachable_at is None
        ]
        if not staff:
            for channel, external_id in sorted(self.admins):
                admin = await repos.user_by_external(channel, external_id)
                if (
                    admin is not None
                    and admin.id != exclude
                    and admin.unreachable_at is None
                    and admin.started_at
                ):
                    staff.append(admin)
        if not staff:
            log.warning("station %s has no reachable staff for a notice", station_id)
        about = await repos.wish(wish_id) if wish_id is not None else None  # read once
        for u in staff:
            await self.to_person(repos, u, "staff", PRIORITY_NOTIFY, *messages, about=about)


def outgoing(
    channel: str, chat_id: str, user_id: int | None, kind: str, priority: int, message: OutMessage
) -> NewOutgoing:
    return NewOutgoing(
        channel=channel,
        chat_id=chat_id,
        user_id=user_id,
        kind=kind,
        priority=priority,
        payload=message.to_payload(),
        wish_id=message.wish_id,
    )
