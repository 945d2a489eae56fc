"""What the bot says about a wish to each party, built from the catalog (no transport types)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo

from bot import actions
from bot.domain.deadlines import AWAITING_ACCEPTANCE, DueDates, SupervisionNote
from bot.domain.masking import mask_phone, mask_pii, wish_names
from bot.domain.model import OPEN_STATUSES, Action, Event, Rating, Status, Wish
from bot.i18n import Catalog, Markup
from bot.messages import Button, Keyboard, OutMessage, keyboard

# The wish verbs of bot/actions.py under their older names (imported across the code base).
ACT_ACCEPT = actions.ACCEPT
ACT_REPLY = actions.REPLY
ACT_TRANSFER = actions.TRANSFER
ACT_RESOLVE = actions.RESOLVE
ACT_DECLINE = actions.DECLINE
ACT_ASSIGN = actions.ASSIGN
ACT_SUPPLEMENT = actions.SUPPLEMENT
ACT_WITHDRAW = actions.WITHDRAW
ACT_RATE = actions.RATE
ACT_VIEW = actions.VIEW
RATING_CODES = {"s": Rating.SATISFIED, "b": Rating.BASICALLY_SATISFIED, "u": Rating.UNSATISFIED}
RATING_LETTER = {v: k for k, v in RATING_CODES.items()}


def wish_action(verb: str, wish_id: int, arg: object = "") -> str:
    """A button about a wish, encoded by the one action codec."""
    return actions.button(verb, wish_id, arg)


@dataclass(frozen=True)
class WishContext:
    """What a card needs besides the wish itself."""

    station_name: str
    category_name: str
    deputy_name: str | None
    resident_name: str = ""


# A resident's notes whose last line depends on the channel (bot/notify.py words it).
RESIDENT_HINTS = {"resident.reply": "resident.reply_hint"}



# The 回音壁 post is one message: a channel post is recorded and withdrawn by its one id when
# the wish is reopened (a post split in two would leave its first part up), and the public
# wall needs the gist, not a 12 000-character description. Two parts of this size and the
# header fit Telegram's 4 096 visible characters (bot/textfit.py counts an escaped & once).
WALL_POST_PART = 1500


def _shortened(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Cards:
    def __init__(self, catalog: Catalog, tz: tzinfo) -> None:
        self.c = catalog
        self.tz = tz

    def when(self, at: datetime) -> str:
        return at.astimezone(self.tz).strftime("%Y-%m-%d %H:%M")

    def status(self, status: Status) -> str:
        return self.c.plain(f"status.{status.value}")

    def age(self, since: datetime, now: datetime) -> str:
        days = max(0, (now - since).days)
        if days == 0:
            return self.c.plain("age.today")
        return self.c.plain("age.days", days=days)

    def list_line(self, c: Catalog, wish: Wish, category: str, now: datetime) -> Markup:
        """One wish in a list ("my wishes", a deputy's or staff member's queue), in the reader's
        catalog `c`: receipt · category · status · age."""
        return c.t(
            "my.line",
            receipt=wish.receipt,
            category=category,
            status=self.status(wish.status),
            age=self.age(wish.created_at, now),
        )

    def list_label(self, wish: Wish) -> str:
        """The button under a list that opens the wish: receipt · status."""
        return f"{wish.receipt} · {self.status(wish.status)}"

    def due_line(self, status: Status, dues: DueDates | None) -> Markup:
        """'⏰ 受理时限 … · 办结时限 …' on its own line (leading newline) for an open wish; empty
        when it has no due dates (a deployment without supervision) or is no longer open."""
        if dues is None or status not in OPEN_STATUSES:
            return Markup("")
        parts = []
        if status in AWAITING_ACCEPTANCE and dues.accept is not None:
            parts.append(self.c.plain("card.due_accept", due=self.when(dues.accept)))
        if dues.resolve is not None:
            parts.append(self.c.plain("card.due_resolve", due=self.when(dues.resolve)))
        if not parts:
            return Markup("")
        return Markup("\n" + self.c.t("card.due", dues=self.c.plain("card.due_sep").join(parts)))

    # -- deputies and staff -------------------------------------------------------------------

    def handler_buttons(self, wish: Wish) -> Keyboard:
        b = self.c.plain
        rows: list[list[Button]] = []
        if wish.status in (Status.ASSIGNED, Status.REOPENED):
            rows.append([Button(b("btn.accept"), wish_action(ACT_ACCEPT, wish.id))])
        if wish.status in (Status.ASSIGNED, Status.IN_PROGRESS, Status.REOPENED):
            rows.append(
                [
                    Button(b("btn.reply"), wish_action(ACT_REPLY, wish.id)),
                    Button(b("btn.resolve"), wish_action(ACT_RESOLVE, wish.id)),
                ]
            )
            rows.append(
                [
                    Button(b("btn.transfer"), wish_action(ACT_TRANSFER, wish.id)),
                    Button(b("btn.decline"), wish_action(ACT_DECLINE, wish.id)),
                ]
            )
        if wish.status is Status.SUBMITTED:
            rows.append(
                [
                    Button(b("btn.assign"), wish_action(ACT_ASSIGN, wish.id)),
                    Button(b("btn.decline"), wish_action(ACT_DECLINE, wish.id)),
                ]
            )
        return keyboard(*rows)

    def reassign_buttons(self, wish: Wish) -> Keyboard:
        """改派 and 查看, for staff taking back a wish whose deputy left."""
        b = self.c.plain
        verb = ACT_ASSIGN if wish.status is Status.SUBMITTED else ACT_TRANSFER
        return keyboard(
            [
                Button(b("supervision.btn_reassign"), wish_action(verb, wish.id)),
                Button(b("supervision.btn_view"), wish_action(ACT_VIEW, wish.id)),
            ]
        )

    def handler_card(
        self,
        wish: Wish,
        ctx: WishContext,
        *,
        photos: tuple[str, ...] = (),
        location: tuple[float, float] | None = None,
        heading: str = "card.new",
        dues: DueDates | None = None,
    ) -> list[OutMessage]:
        """The card a deputy (or staff) works from: the wish in full, with its action buttons."""
        messages: list[OutMessage] = []
        if photos:
            messages.append(OutMessage(photos=photos, wish_id=wish.id))
        if location is not None:
            messages.append(OutMessage(location=location, wish_id=wish.id))
        phone = (
            self.c.t("card.phone", phone=wish.phone) if wish.phone else self.c.t("card.no_phone")
        )
        text = self.c.t(
            heading,
            receipt=wish.receipt,
            station=ctx.station_name,
            category=ctx.category_name,
            text=wish.text,
            phone=phone,
            status=self.status(wish.status),
            submitted=self.when(wish.created_at),
            public=self.c.plain("card.public_yes" if wish.public else "card.public_no"),
            due=self.due_line(wish.status, dues),
        )
        # "reply to this card" only where a person can reply to one message: worded per channel
        hint = "card.reply_hint" if heading == "card.new" else None
        messages.append(
            OutMessage(text=text, buttons=self.handler_buttons(wish), wish_id=wish.id, hint=hint)
        )
        return messages

    def unassigned_notice(
        self, wish: Wish, ctx: WishContext, dues: DueDates | None = None
    ) -> list[OutMessage]:
        return self.handler_card(wish, ctx, heading="card.unassigned", dues=dues)

    def handler_note(self, wish: Wish, key: str, **params: object) -> OutMessage:
        return OutMessage(text=self.c.t(key, receipt=wish.receipt, **params), wish_id=wish.id)

    # -- residents ----------------------------------------------------------------------------

    def resident_buttons(self, wish: Wish) -> Keyboard:
        b = self.c.plain
        if wish.status is Status.RESOLVED:
            return keyboard(
                [
                    Button(b("btn.rate_satisfied"), wish_action(ACT_RATE, wish.id, "s")),
                    Button(b("btn.rate_basic"), wish_action(ACT_RATE, wish.id, "b")),
                    Button(b("btn.rate_unsatisfied"), wish_action(ACT_RATE, wish.id, "u")),
                ]
            )
        if wish.is_open:
            return keyboard(
                [
                    Button(b("btn.supplement"), wish_action(ACT_SUPPLEMENT, wish.id)),
                    Button(b("btn.withdraw"), wish_action(ACT_WITHDRAW, wish.id)),
                ]
            )
        return ()

    def resident_note(
        self, wish: Wish, key: str, *, buttons: bool = False, **params: object
    ) -> OutMessage:
        return OutMessage(
            text=self.c.t(key, receipt=wish.receipt, **params),
            buttons=self.resident_buttons(wish) if buttons else (),
            wish_id=wish.id,
            hint=RESIDENT_HINTS.get(key),
        )

    def receipt_text(self, wish: Wish, ctx: WishContext, c: Catalog | None = None) -> Markup:
        """`c`: the catalog worded for the resident's channel (the card's own otherwise)."""
        c = c or self.c
        text = c.t(
            "new.submitted",
            receipt=wish.receipt,
            station=ctx.station_name,
            category=ctx.category_name,
        )
        if ctx.deputy_name:
            return Markup(text + "\n" + c.t("new.routed", deputy=ctx.deputy_name))
        return Markup(text + "\n" + c.t("new.unrouted"))

    # -- public -------------------------------------------------------------------------------

    def wall_post(self, wish: Wish, ctx: WishContext, now: datetime) -> OutMessage:
        """The 回音壁 post: masked, with no one's identity except the deputy's public name."""
        names = wish_names(ctx.resident_name, wish.text)
        resolved = wish.resolved_at or now
        days = max(
            1,
            (resolved - wish.created_at).days + (1 if (resolved - wish.created_at).seconds else 0),
        )
        return OutMessage(
            text=self.c.t(
                "wall.post",
                receipt=wish.receipt,
                station=ctx.station_name,
                category=ctx.category_name,
                text=_shortened(mask_pii(wish.text, names), WALL_POST_PART),
                result=_shortened(mask_pii(wish.result or "", names), WALL_POST_PART),
                deputy=ctx.deputy_name or self.c.plain("wall.station_staff"),
                days=days,
            )
        )

    def wall_line(self, wish: Wish, ctx: WishContext, now: datetime, names: list[str]) -> Markup:
        text = mask_pii(wish.text, names)
        if len(text) > 120:
            text = text[:120] + "…"
        return self.c.t(
            "wall.line",
            receipt=wish.receipt,
            category=ctx.category_name,
            status=self.status(wish.status),
            age=self.age(wish.created_at, now),
            text=text,
        )

    # -- timeline -----------------------------------------------------------------------------

    def timeline(
        self,
        wish: Wish,
        events: list[Event],
        names: dict[int, str],
        viewer_is_handler: bool,
        notes: Sequence[SupervisionNote] = (),
        dues: DueDates | None = None,
    ) -> Markup:
        lines = []
        for e in events:
            who = self.c.plain(f"role.{e.role.value}")
            if e.deputy_id is not None and e.action in (Action.ASSIGN, Action.TRANSFER):
                who_to = names.get(e.deputy_id, "")
            else:
                who_to = ""
            label = self.c.plain(f"action.{e.action.value}", to=who_to)
            body = e.body
            if e.action is Action.RATE and body:
                body = self.c.plain(f"rating.{body}")
            if len(body) > 300:
                body = body[:300] + "…"
            lines.append(
                self.c.t(
                    "timeline.line",
                    at=self.when(e.at),
                    who=who,
                    action=label,
                    body=Markup(self.c.t("timeline.body", body=body)) if body else "",
                )
            )
        if notes:  # 督办 and 回访 entries, in time order among the events
            pairs = enumerate(zip(events, lines, strict=True))
            dated = [(e.at, 0, i, line) for i, (e, line) in pairs]
            for i, n in enumerate(notes):
                body = Markup(self.c.t("timeline.body", body=n.body)) if n.body else ""
                line = self.c.t(
                    "timeline.line",
                    at=self.when(n.at),
                    who=self.c.plain(f"role.{n.role}"),
                    action=self.c.plain(f"supervision.timeline_{n.kind.value}"),
                    body=body,
                )
                dated.append((n.at, 1, i, line))
            lines = [line for *_, line in sorted(dated, key=lambda d: d[:3])]
        phone = Markup("")  # its own line (leading newline) only when there is a phone
        if wish.phone:
            shown = wish.phone if viewer_is_handler else mask_phone(wish.phone)
            phone = Markup("\n" + self.c.t("card.phone", phone=shown))
        return self.c.t(
            "timeline.header",
            receipt=wish.receipt,
            status=self.status(wish.status),
            due=self.due_line(wish.status, dues) if viewer_is_handler else "",
            text=wish.text,
            phone=phone,
            lines=Markup("\n".join(lines)),
        )
