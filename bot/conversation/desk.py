"""The desk of deputies and staff, for every channel: /queue, /unassigned, /assign, /mywork,
/overdue, /stats (with its chart), /export (the workbook), and the supervision buttons
(催办, the resident's 回访 answers).

Moved here from handlers/work.py, reports.py and supervision.py: the texts and buttons are the
ones Telegram showed, so a deputy sees the same desk in the browser. Every command and button
is re-authorised by the use case it calls (Liaison, Reporting, Supervisor); a person without the
right gets the polite refusal and nothing changes. The chart and the export go back to the
person who asked as an `Attachment` of the reply, never through the outbox.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import date
from typing import TYPE_CHECKING

from bot import actions as act
from bot.cards import ACT_ASSIGN, ACT_TRANSFER, ACT_VIEW, wish_action
from bot.conversation import work
from bot.conversation.turn import Turn
from bot.domain.deadlines import FOLLOW_UP_CODES, FollowUpAnswer
from bot.domain.model import InvalidInput, NotAllowed, Status, Wish
from bot.domain.receipts import normalize_receipt
from bot.i18n import Catalog, Markup
from bot.messages import DOCUMENT, IMAGE, Attachment, Button, OutMessage, keyboard
from bot.reporting import TELEGRAM_DOCUMENT_LIMIT, ChooseStation, Reporting, StatsResult
from bot.reports import (
    Figures,
    Period,
    PeriodTooLong,
    Report,
    fmt_hours,
    fmt_rate,
    months_between,
)
from bot.services import NotFound

if TYPE_CHECKING:
    from bot.supervision import Supervisor

log = logging.getLogger(__name__)

# The commands this module answers (bot/conversation/router.py routes them here).
# Its buttons (the wish card's own buttons are bot/conversation/work.py's).
VERBS = frozenset({act.PUSH, act.FOLLOW_UP})

MAX_LISTED = 30  # a list longer than this shows its first 30 (a chat screen, not a report)
STATION_ID_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789_-")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# The largest file any channel takes (Telegram's sendDocument: 50 MB); the web takes it too.
DOCUMENT_LIMIT = TELEGRAM_DOCUMENT_LIMIT


def _reporting(t: Turn) -> Reporting:
    return t.reporting if t.reporting is not None else Reporting(t.liaison)


def _supervisor(t: Turn) -> Supervisor:
    if t.supervisor is None:  # not wired (a test of the resident flows): nobody supervises
        raise NotAllowed("overdue")
    return t.supervisor


async def action(t: Turn, a: act.Action) -> None:
    if a.wish_id is None:
        raise InvalidInput("stale")
    if a.verb == act.PUSH:
        await push(t, a.wish_id)
    elif a.verb == act.FOLLOW_UP:
        await follow_up(t, a.wish_id, a.arg)
    else:
        raise InvalidInput("stale")


# -- the work lists ------------------------------------------------------------------------------


async def due_suffixes(t: Turn, wishes: list[Wish]) -> dict[int, str]:
    """' · 办结时限 …' for each open wish of a list (/queue); empty without supervision."""
    sup = t.supervisor
    if sup is None or not wishes:
        return {}
    dues = await sup.due_dates([w.id for w in wishes])
    now = sup.clock.now()
    return {w.id: sup.due_label(w, dues[w.id], now) for w in wishes if w.id in dues}


async def queue(t: Turn) -> None:
    c, liaison = t.c, t.liaison
    actor = await liaison.people.actor(t.user)
    if not (actor.deputy_ids or actor.staff_of or actor.is_admin):
        raise NotAllowed("queue")
    shown, total = await liaison.queries.queue(t.user, MAX_LISTED)
    if not shown:
        t.say(c.t("queue.empty"))
        return
    now = liaison.core.clock.now()
    cards = liaison.core.cards
    dues = await due_suffixes(t, [w for w, _ in shown])  # 受理/办结时限
    lines = [cards.list_line(c, w, cat, now) + dues.get(w.id, "") for w, cat in shown]
    buttons = [[Button(cards.list_label(w), wish_action(ACT_VIEW, w.id))] for w, _ in shown]
    t.say(
        Markup(c.t("queue.header", count=total) + "\n" + "\n".join(lines)),
        keyboard(*buttons),
    )


async def unassigned(t: Turn) -> None:
    if not await t.liaison.people.is_staff(t.user):
        raise NotAllowed("unassigned")
    await _list_unassigned(t)


async def assign(t: Turn, words: list[str]) -> None:
    """/assign [receipt]: the list of wishes nobody handles, or one wish's 分派 (as its button)."""
    if not await t.liaison.people.is_staff(t.user):
        raise NotAllowed("assign")
    receipt = normalize_receipt(words[0]) if words else None
    if receipt is None:
        await _list_unassigned(t)
        return
    try:
        wish = await t.liaison.queries.find_receipt(t.user, receipt)
    except NotFound:
        t.say(t.c.t("error.receipt_not_found", receipt=receipt))
        return
    await work.handler_action(t, act.ASSIGN, wish.id, "")


async def _list_unassigned(t: Turn) -> None:
    items = await t.liaison.queries.unassigned(t.user)
    if not items:
        t.say(t.c.t("assign.none"))
        return
    buttons = [
        [Button(f"{w.receipt} · {cat}", wish_action(ACT_ASSIGN, w.id))]
        for w, cat in items[:MAX_LISTED]
    ]
    t.say(t.c.t("assign.choose", count=len(items)), keyboard(*buttons))


# -- supervision (督办) ---------------------------------------------------------------------------


async def overdue(t: Turn) -> None:
    sup = _supervisor(t)
    c = t.c
    items = await sup.overdue(t.user)  # NotAllowed for anyone who is not staff
    if not items:
        t.say(c.t("supervision.overdue_none"))
        return
    now = sup.clock.now()
    shown = items[:MAX_LISTED]
    lines = [sup.overdue_line(item, now) for item in shown]
    buttons = []
    for item in shown:
        row = [Button(item.wish.receipt, wish_action(ACT_VIEW, item.wish.id))]
        if item.wish.deputy_id is not None:
            row.append(Button(c.plain("supervision.btn_push"), act.button(act.PUSH, item.wish.id)))
        verb = ACT_TRANSFER if item.wish.status is not Status.SUBMITTED else ACT_ASSIGN
        row.append(Button(c.plain("supervision.btn_reassign"), wish_action(verb, item.wish.id)))
        buttons.append(row)
    text = Markup(c.t("supervision.overdue_header", count=len(items)) + "\n" + "\n".join(lines))
    t.say(text, keyboard(*buttons))


async def push(t: Turn, wish_id: int) -> None:
    """催办: staff push the wish's deputy (the Supervisor checks they are the station's staff)."""
    wish, deputy = await _supervisor(t).push(t.user, wish_id)
    t.say(t.c.t("supervision.pushed", receipt=wish.receipt, deputy=deputy))
    t.toast = t.c.plain("supervision.pushed_toast")


async def follow_up(t: Turn, wish_id: int, code: str) -> None:
    """The resident's answer to 回访 (解决了 / 没解决 / 说不清); only the resident was asked."""
    answer = FOLLOW_UP_CODES.get(code)
    if answer is None:
        raise InvalidInput("stale")
    wish = await _supervisor(t).answer_follow_up(t.user, wish_id, answer, key=t.key)
    t.drop_buttons()
    key = (
        "supervision.followup_reopened"
        if answer is FollowUpAnswer.UNRESOLVED
        else "supervision.followup_thanks"
    )
    t.say(t.c.t(key, receipt=wish.receipt))
    t.toast = t.c.plain("supervision.answer_toast")


# -- reports (统计、履职、导出) -------------------------------------------------------------------


def hours(c: Catalog, value: float | None) -> str:
    if c.locale == "en":
        return fmt_hours(value, day=" d", hour=" h")
    return fmt_hours(value)


def summary_text(c: Catalog, f: Figures) -> Markup:
    return c.t(
        "reports.summary",
        received=f.received,
        accepted=f.accepted,
        resolved=f.resolved,
        declined=f.declined,
        open=f.open,
        resolution_rate=fmt_rate(f.resolution_rate),
        on_time_rate=fmt_rate(f.on_time_rate),
        overdue=f.overdue,
        accept_median=hours(c, f.accept_median_h),
        accept_p90=hours(c, f.accept_p90_h),
        resolve_median=hours(c, f.resolve_median_h),
        resolve_p90=hours(c, f.resolve_p90_h),
        satisfaction=fmt_rate(f.satisfaction),
        rated=f.rated,
    )


def _row_line(
    c: Catalog, key: str, name: str, f: Figures, label: str = "name", **more: object
) -> str:
    """One row of a breakdown: its name (the catalog's `label`), received, resolved and 满意率,
    and what `more` adds."""
    return c.t(
        key,
        **{label: name},
        received=f.received,
        resolved=f.resolved,
        satisfaction=fmt_rate(f.satisfaction),
        **more,
    )


def breakdown_text(c: Catalog, report: Report, tz: object) -> list[str]:
    if not report.total.received:
        return [c.t("reports.none")]
    parts = [c.t("reports.by_category")]
    parts += [_row_line(c, "reports.category_line", r.name, r.figures) for r in report.by_category]
    parts.append(c.t("reports.by_deputy"))
    parts += [
        _row_line(c, "reports.deputy_line", r.name, r.figures, overdue=r.figures.overdue)
        for r in report.by_deputy
    ]
    months = months_between(report.period, tz)  # type: ignore[arg-type]
    if len(months) > 1:
        parts.append(c.t("reports.by_month"))
        parts += [
            _row_line(c, "reports.month_line", r.name, r.figures, label="month")
            for r in report.by_month
            if r.key in months
        ]
    return parts


def stats_text(c: Catalog, result: StatsResult, tz: object) -> Markup:
    blocks = []
    for item in result.stations:
        s = item.counts
        by = s.by_status
        header = c.t("reports.header", title=item.report.title, period=result.period.label)
        counts = c.t(
            "reports.status_now",
            total=s.total,
            submitted=by.get("submitted", 0),
            assigned=by.get("assigned", 0),
            in_progress=by.get("in_progress", 0) + by.get("reopened", 0),
            resolved=by.get("resolved", 0) + by.get("closed", 0),
            declined=by.get("declined", 0),
            withdrawn=by.get("withdrawn", 0),
        )
        lines = [header, summary_text(c, item.report.total), counts]
        if s.not_started:
            lines.append(c.t("stats.not_started", names="、".join(s.not_started)))
        if s.waiting:  # WeChat notices no path could push, until the resident writes
            lines.append(c.t("stats.waiting", count=s.waiting))
        lines.extend(breakdown_text(c, item.report, tz))
        blocks.append("\n".join(lines))
    if result.county is not None:
        lines = [c.t("reports.header", title=result.county.title, period=result.period.label)]
        lines.append(summary_text(c, result.county.total))
        blocks.append("\n".join(lines))
    return Markup("\n\n".join(blocks))


def parse_period(
    r: Reporting, args: list[str], station_may_follow: bool = False
) -> tuple[Period, list[str]]:
    """The period from the command's arguments (the default: this month), and the rest.
    Raises ValueError (PeriodTooLong included) for a period nobody can read."""
    rest = list(args)
    if len(rest) >= 2:
        try:
            first, last = date.fromisoformat(rest[0]), date.fromisoformat(rest[1])
        except ValueError:
            pass
        else:
            return r.date_period(first, last), rest[2:]
    if rest and not (station_may_follow and _looks_like_station(rest[0])):
        return r.period(rest[0]), rest[1:]
    return r.period(None), rest


def _looks_like_station(word: str) -> bool:
    lowered = word.lower()
    if lowered in ("month", "quarter", "year", "m", "q", "y"):
        return False
    return bool(word) and not word[:1].isdigit() and set(lowered) <= STATION_ID_CHARS


def period_error(exc: ValueError) -> str:
    return "reports.period_too_long" if isinstance(exc, PeriodTooLong) else "reports.bad_period"


async def stats(t: Turn, words: list[str]) -> None:
    """The figures of the stations one manages (a county admin: every station and the county),
    then the chart of the last months, as an image."""
    c, r = t.c, _reporting(t)
    try:
        period, _ = parse_period(r, words)
    except ValueError as exc:
        t.say(c.t(period_error(exc)))
        return
    result = await r.stats(t.user, period)  # NotAllowed for anyone who manages no station
    t.say(stats_text(c, result, r.tz))
    png = await r.chart_png(result.chart)  # drawn in a thread (matplotlib is synchronous)
    caption = c.t("reports.chart_caption", title=result.chart.title)
    chart = Attachment(png, "liaison-stats.png", "image/png", IMAGE)
    t.send(OutMessage(text=caption, attachment=chart))


async def mywork(t: Turn, words: list[str]) -> None:
    c, r = t.c, _reporting(t)
    try:
        period, _ = parse_period(r, words)
    except ValueError as exc:
        t.say(c.t(period_error(exc)))
        return
    parts = []
    for item in await r.my_work(t.user, period):
        f = item.summary.figures
        parts.append(
            c.t(
                "reports.mywork",
                name=item.summary.name,
                station=item.station.name,
                period=period.label,
                handled=item.summary.handled,
                resolved=f.resolved,
                declined=f.declined,
                open=f.open,
                on_time_rate=fmt_rate(f.on_time_rate),
                overdue=f.overdue,
                response_median=hours(c, f.response_median_h),
                satisfaction=fmt_rate(f.satisfaction),
                rated=f.rated,
                reopened=f.reopened,
            )
        )
    t.say(Markup("\n\n".join(parts)))


async def export(t: Turn, words: list[str]) -> None:
    """/export [period] [station]: the station's workbook (staff: in full; a deputy: their own
    wishes, masked), as a document for the person who asked."""
    c, r = t.c, _reporting(t)
    if words and words[0] in ("help", "-h", "帮助"):
        t.say(c.t("reports.export_usage"))
        return
    try:
        period, rest = parse_period(r, words, station_may_follow=True)
    except ValueError as exc:
        t.say(Markup(c.t(period_error(exc)) + "\n" + c.t("reports.export_usage")))
        return
    station_id = rest[0].lower() if rest else None
    try:
        result = await r.export(t.user, station_id, period)
    except ChooseStation as exc:
        t.say(c.t("reports.choose_station", ids=" ".join(exc.station_ids)))
        return
    data = await r.export_file(result, "xlsx")  # built in a thread
    if len(data) > DOCUMENT_LIMIT:
        t.say(c.t("reports.export_too_big"))
        return
    caption = c.t(
        "reports.export_caption",
        station=result.station.name,
        period=period.label,
        count=result.wishes,
    )
    if result.masked:
        caption = Markup(caption + "\n" + c.t("reports.export_masked"))
    log.info("export of station %s (%d wishes) made", result.station.id, result.wishes)
    filename = f"{result.station.id}-{period.label}.xlsx"
    t.send(OutMessage(text=caption, attachment=Attachment(data, filename, XLSX, DOCUMENT)))


# The desk's commands, by name: the router's table takes them in (bot/conversation/router.py).
HANDLERS: dict[str, Callable[[Turn, str], Awaitable[None]]] = {
    "queue": lambda t, _: queue(t),
    "unassigned": lambda t, _: unassigned(t),
    "assign": lambda t, args: assign(t, args.split()),
    "mywork": lambda t, args: mywork(t, args.split()),
    "overdue": lambda t, _: overdue(t),
    "stats": lambda t, args: stats(t, args.split()),
    "export": lambda t, args: export(t, args.split()),
}
COMMANDS = frozenset(HANDLERS)
