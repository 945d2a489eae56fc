"""Reports in chat: /stats [period], /mywork [period], /export [period] [station], /qr [station].

The chart, the export file and the QR code go straight back to the person who asked (they are
the answer, not a message to someone else), as a photo or a document.
"""

from __future__ import annotations

import logging
from datetime import date

from telegram import InputFile, Update
from telegram.constants import ChatAction, ParseMode
from telegram.ext import Application, CommandHandler, filters

from bot.domain.model import NotAllowed
from bot.i18n import Catalog, Markup
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
from handlers.common import Context, deps, guarded, reply
from handlers.telegram_io import CAPTION_LIMIT
from storage.repositories import UserRow

log = logging.getLogger(__name__)

STATION_ID_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789_-")


def reporting(context: Context) -> Reporting:
    found = context.application.bot_data.get("reporting")
    if found is None:  # wired lazily, so the composition root needs no change to use it
        found = Reporting(deps(context).liaison)
        context.application.bot_data["reporting"] = found
    return found


def _caption(text: str) -> str:
    return text if len(text) <= CAPTION_LIMIT else text[: CAPTION_LIMIT - 1] + "…"


def _hours(c: Catalog, value: float | None) -> str:
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
        accept_median=_hours(c, f.accept_median_h),
        accept_p90=_hours(c, f.accept_p90_h),
        resolve_median=_hours(c, f.resolve_median_h),
        resolve_p90=_hours(c, f.resolve_p90_h),
        satisfaction=fmt_rate(f.satisfaction),
        rated=f.rated,
    )


def breakdown_text(c: Catalog, report: Report, tz: object) -> list[str]:
    if not report.total.received:
        return [c.t("reports.none")]
    parts = [c.t("reports.by_category")]
    for row in report.by_category:
        f = row.figures
        parts.append(
            c.t(
                "reports.category_line",
                name=row.name,
                received=f.received,
                resolved=f.resolved,
                satisfaction=fmt_rate(f.satisfaction),
            )
        )
    parts.append(c.t("reports.by_deputy"))
    for row in report.by_deputy:
        f = row.figures
        parts.append(
            c.t(
                "reports.deputy_line",
                name=row.name,
                received=f.received,
                resolved=f.resolved,
                overdue=f.overdue,
                satisfaction=fmt_rate(f.satisfaction),
            )
        )
    months = months_between(report.period, tz)  # type: ignore[arg-type]
    if len(months) > 1:
        parts.append(c.t("reports.by_month"))
        for row in report.by_month:
            if row.key not in months:
                continue
            f = row.figures
            parts.append(
                c.t(
                    "reports.month_line",
                    month=row.name,
                    received=f.received,
                    resolved=f.resolved,
                    satisfaction=fmt_rate(f.satisfaction),
                )
            )
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
        if s.waiting:
            lines.append(c.t("stats.waiting", count=s.waiting))
        lines.extend(breakdown_text(c, item.report, tz))
        blocks.append("\n".join(lines))
    if result.county is not None:
        lines = [c.t("reports.header", title=result.county.title, period=result.period.label)]
        lines.append(summary_text(c, result.county.total))
        blocks.append("\n".join(lines))
    return Markup("\n\n".join(blocks))


def _period(
    context: Context, args: list[str], station_may_follow: bool = False
) -> tuple[Period, list[str]]:
    """The period from the command's arguments (the default: this month), and the rest."""
    r = reporting(context)
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


async def _bad_period(update: Update, context: Context, exc: ValueError) -> None:
    await reply(update, context, deps(context).catalog.t(_period_error(exc)))


def _period_error(exc: ValueError) -> str:
    return "reports.period_too_long" if isinstance(exc, PeriodTooLong) else "reports.bad_period"


@guarded
async def stats(update: Update, context: Context, user: UserRow) -> None:
    d = deps(context)
    r = reporting(context)
    try:
        period, _ = _period(context, context.args or [])
    except ValueError as exc:
        await _bad_period(update, context, exc)
        return
    result = await r.stats(user, period)
    await reply(update, context, stats_text(d.catalog, result, r.tz))
    chat = update.effective_chat
    assert chat is not None
    await context.bot.send_chat_action(chat.id, ChatAction.UPLOAD_PHOTO)
    png = await r.chart_png(result.chart)
    await context.bot.send_photo(
        chat.id,
        InputFile(png, filename="liaison-stats.png"),
        caption=_caption(d.catalog.plain("reports.chart_caption", title=result.chart.title)),
    )


@guarded
async def mywork(update: Update, context: Context, user: UserRow) -> None:
    d = deps(context)
    c = d.catalog
    try:
        period, _ = _period(context, context.args or [])
    except ValueError as exc:
        await _bad_period(update, context, exc)
        return
    parts = []
    for item in await reporting(context).my_work(user, period):
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
                response_median=_hours(c, f.response_median_h),
                satisfaction=fmt_rate(f.satisfaction),
                rated=f.rated,
                reopened=f.reopened,
            )
        )
    await reply(update, context, Markup("\n\n".join(parts)))


@guarded
async def export_command(update: Update, context: Context, user: UserRow) -> None:
    d = deps(context)
    c = d.catalog
    r = reporting(context)
    args = context.args or []
    if args and args[0] in ("help", "-h", "帮助"):
        await reply(update, context, c.t("reports.export_usage"))
        return
    try:
        period, rest = _period(context, args, station_may_follow=True)
    except ValueError as exc:
        await reply(
            update, context, Markup(c.t(_period_error(exc)) + "\n" + c.t("reports.export_usage"))
        )
        return
    station_id = rest[0].lower() if rest else None
    try:
        result = await r.export(user, station_id, period)
    except ChooseStation as exc:
        await reply(update, context, c.t("reports.choose_station", ids=" ".join(exc.station_ids)))
        return
    chat = update.effective_chat
    assert chat is not None
    await context.bot.send_chat_action(chat.id, ChatAction.UPLOAD_DOCUMENT)
    data = await r.export_file(result, "xlsx")
    if len(data) > TELEGRAM_DOCUMENT_LIMIT:
        await reply(update, context, c.t("reports.export_too_big"))
        return
    caption = c.t(
        "reports.export_caption",
        station=result.station.name,
        period=period.label,
        count=result.wishes,
    )
    if result.masked:
        caption = Markup(caption + "\n" + c.t("reports.export_masked"))
    log.info("export of station %s (%d wishes) sent", result.station.id, result.wishes)
    await context.bot.send_document(
        chat.id,
        InputFile(data, filename=f"{result.station.id}-{period.label}.xlsx"),
        caption=_caption(caption),
        parse_mode=ParseMode.HTML,
    )


@guarded
async def qr(update: Update, context: Context, user: UserRow) -> None:
    d = deps(context)
    c = d.catalog
    if not await d.liaison.is_staff(user):
        raise NotAllowed("qr")
    if not d.bot_username:
        await reply(update, context, c.t("reports.qr_no_username"))
        return
    station_id = context.args[0].lower() if context.args else None
    chat = update.effective_chat
    assert chat is not None
    await context.bot.send_chat_action(chat.id, ChatAction.UPLOAD_PHOTO)
    for code in await reporting(context).qr_codes(user, d.bot_username, station_id):
        await context.bot.send_photo(
            chat.id,
            InputFile(code.png, filename=f"qr-{code.station.id}.png"),
            caption=_caption(c.t("reports.qr_caption", station=code.station.name, link=code.link)),
            parse_mode=ParseMode.HTML,
        )


def register(application: Application) -> None:
    """Called by handlers.router before its catch-all handlers."""
    private = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    for name, callback in (
        ("stats", stats),
        ("mywork", mywork),
        ("export", export_command),
        ("qr", qr),
    ):
        application.add_handler(CommandHandler(name, callback, filters=private))
