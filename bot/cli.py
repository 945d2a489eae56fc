"""`liaison-bot`: run the bot, import a stations file, back up the database, reports."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from datetime import date
from pathlib import Path

from bot.settings import Settings, SettingsError, load_settings
from bot.stations_file import StationsFileError, load_stations_file
from faq import FaqEntry

TOKEN_REJECTED = (
    "Telegram rejected the bot token (401 Unauthorized, or 404 from a wrong\n"
    "LIAISON_TELEGRAM_BASE_URL). Check LIAISON_TELEGRAM_TOKEN: copy it again from @BotFather\n"
    "(/mybots → your bot → API Token); a token revoked there stops working at once."
)
TOKEN_HELP = (
    "LIAISON_TELEGRAM_TOKEN is not set.\n"
    "Create a bot with @BotFather in Telegram (send /newbot), copy the token it gives you,\n"
    "and put it in a .env file next to where you run the bot:\n"
    "    LIAISON_TELEGRAM_TOKEN=123456789:AA...\n"
    "(see deploy/.env.example for the other settings)."
)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="liaison-bot",
        description="Deputy liaison station bot (人大代表联络站)",
        epilog="Settings: LIAISON_* environment variables, or a .env file in the current"
        " directory (deploy/.env.example lists them). Every command but check uses them.",
    )
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run the bot (long polling)")
    imp = sub.add_parser(
        "import",
        help="import a stations file into the database, offline (run also loads"
        " LIAISON_STATIONS_FILE at every start)",
    )
    imp.add_argument("file", type=Path)
    chk = sub.add_parser("check", help="validate a stations file without touching the database")
    chk.add_argument("file", type=Path)
    bak = sub.add_parser(
        "backup",
        help="copy LIAISON_DATABASE to a new file, consistently (safe while the bot runs)",
    )
    bak.add_argument("path", type=Path, help="the copy; an existing file is never overwritten")
    exp = sub.add_parser(
        "export", help="export a station's wishes, timeline, deputies and figures (.xlsx or .csv)"
    )
    exp.add_argument("--station", required=True, help="station id, as in the stations file")
    exp.add_argument("--from", dest="first", required=True, type=_date, help="YYYY-MM-DD")
    exp.add_argument("--to", dest="last", required=True, type=_date, help="YYYY-MM-DD, included")
    exp.add_argument("file", type=Path, help="FILE.xlsx or FILE.csv")
    faq = sub.add_parser("faq", help="the FAQ as the bot uses it")
    faq_sub = faq.add_subparsers(dest="faq_command", required=True)
    faq_exp = faq_sub.add_parser(
        "export",
        help="write the FAQ file plus the entries and phrasings staff added in chat"
        " (/faq_add, /faq_gaps) as one FAQ file (usable as LIAISON_FAQ_FILE)",
    )
    faq_exp.add_argument("file", type=Path, help="FILE.yaml; an existing file is never overwritten")
    qr = sub.add_parser("qr", help="write a station's deep-link QR code (PNG), ready to print")
    qr.add_argument("--station", required=True, help="station id, as in the stations file")
    qr.add_argument(
        "--username", help="the bot's @username (default: LIAISON_BOT_USERNAME, else getMe)"
    )
    qr.add_argument("file", type=Path, help="FILE.png")
    return p


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-03-31") from exc


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "check":  # needs no settings: a broken .env does not stop a check
        return _check(args.file)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"liaison-bot: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=getattr(logging, settings.log_level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # httpx logs every request URL, and the URL contains the bot token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        if args.command == "run":
            if not settings.telegram_token:
                print(f"liaison-bot: {TOKEN_HELP}", file=sys.stderr)
                return 2
            from telegram.error import InvalidToken

            from bot.app import run

            try:
                asyncio.run(run(settings))
            except InvalidToken:
                # PTB's message repeats the token; it is never printed.
                print(f"liaison-bot: {TOKEN_REJECTED}", file=sys.stderr)
                return 2
        elif args.command == "import":
            asyncio.run(_import(settings, args.file))
            print(f"imported {args.file} into {settings.database}")
        elif args.command == "backup":
            _require_database(settings)
            if args.path.exists():
                raise ValueError(f"{args.path} exists already; choose a new file name")
            asyncio.run(_backup(settings, args.path))
            print(f"backup written to {args.path}")
        elif args.command == "export":
            from bot.reporting_cli import export_command

            _require_database(settings)
            export_command(settings, args.station, args.first, args.last, args.file)
        elif args.command == "faq":
            _require_database(settings)
            if args.file.exists():
                raise ValueError(f"{args.file} exists already; choose a new file name")
            count = _faq_export(settings, args.file)
            print(f"{count} FAQ entries written to {args.file}")
        elif args.command == "qr":
            from telegram.error import InvalidToken, TelegramError

            from bot.reporting_cli import qr_command

            _require_database(settings)
            try:
                qr_command(settings, args.station, args.username, args.file)
            except InvalidToken:
                print(f"liaison-bot: {TOKEN_REJECTED}", file=sys.stderr)
                return 2
            except TelegramError as exc:  # only its type: the message may carry the URL
                raise ValueError(
                    f"could not ask Telegram for the bot's username ({type(exc).__name__});"
                    " pass --username or set LIAISON_BOT_USERNAME"
                ) from exc
    except StationsFileError as exc:
        print(f"liaison-bot: invalid stations file:\n{exc}", file=sys.stderr)
        return 2
    except ValueError as exc:  # FaqFileError and other configuration errors
        print(f"liaison-bot: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


def _check(file: Path) -> int:
    try:
        config = load_stations_file(file)
    except StationsFileError as exc:
        print(f"liaison-bot: invalid stations file:\n{exc}", file=sys.stderr)
        return 2
    deputies = sum(len(s.deputies) for s in config.stations)
    print(
        f"{file}: OK ({len(config.stations)} stations, {deputies} deputies, {len(config.categories)} categories)"
    )
    return 0


def _require_database(settings: Settings) -> None:
    """backup, export and qr read the bot's database: never create an empty one instead (the
    usual cause is a shell without the bot's settings, e.g. a systemd EnvironmentFile)."""
    if not settings.database.is_file():
        raise ValueError(
            f"no database at {settings.database.absolute()}: set LIAISON_DATABASE to the bot's"
            " database (the same settings as the bot: its .env or environment file)"
        )


async def _import(settings: Settings, file: Path) -> None:
    from bot.app import open_database
    from bot.clock import SystemClock
    from bot.i18n import Catalog
    from bot.services import Liaison

    config = load_stations_file(file)  # validated whole before the database is opened
    db = await open_database(settings)
    try:
        await Liaison(db, Catalog(settings.locale), SystemClock(), settings.tz).sync_config(config)
    finally:
        await db.close()


async def _faq_entries(settings: Settings) -> list[FaqEntry]:
    from bot.app import open_database
    from bot.clock import SystemClock
    from bot.faq_service import FaqService

    db = await open_database(settings)
    try:
        return await FaqService(db, SystemClock(), settings.faq_file).export()
    finally:
        await db.close()


def _faq_export(settings: Settings, path: Path) -> int:
    from faq import dump_entry_yaml

    entries = asyncio.run(_faq_entries(settings))
    header = (
        "# FAQ exported by `liaison-bot faq export`: the FAQ file plus the entries and\n"
        "# phrasings staff added in chat. Usable as LIAISON_FAQ_FILE.\n"
    )
    path.write_text(header + "".join(dump_entry_yaml(e) for e in entries), encoding="utf-8")
    return len(entries)


async def _backup(settings: Settings, path: Path) -> None:
    from bot.app import open_database

    db = await open_database(settings)
    try:
        await db.backup(path)
    finally:
        await db.close()


if __name__ == "__main__":
    sys.exit(main())
