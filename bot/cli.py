"""`liaison-bot`: run the bot, import a stations file, back up the database, reports.

Everything it prints comes from the catalog (locales/*/operator.yaml) in LIAISON_LOCALE, Chinese
by default. Exit statuses (bot.operator): 0 done, 1 the command could not do its work, 2 a wrong
command line, 78 a configuration error (systemd and compose do not restart the bot for it),
130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
from datetime import date
from pathlib import Path
from typing import Any, NoReturn

from bot.i18n import Catalog
from bot.logsetup import configure_logging
from bot.operator import (
    EXIT_CONFIG,
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    ConfigError,
    OperatorError,
    base_url_host,
    check_target,
    check_token,
    operator_catalog,
)
from bot.settings import Settings, SettingsError, load_settings, unknown_settings
from bot.stations_file import StationsFileError, StationsFileUnreadable, load_stations_file
from faq import FaqEntry
from storage.db import DatabaseUnreachable

ARGPARSE_MESSAGES = (
    ("the following arguments are required: ", "cli_required"),
    ("unrecognized arguments: ", "cli_unrecognized"),
)


def _parser_class(c: Catalog) -> type[argparse.ArgumentParser]:
    """argparse with its own words (usage, headings, -h, errors) from the catalog too."""

    class Formatter(argparse.HelpFormatter):
        def add_usage(self, usage, actions, groups, prefix=None):  # type: ignore[no-untyped-def]
            if prefix is None:  # argparse passes "" when it builds a subcommand's prog
                prefix = c.plain("operator.cli_usage")
            super().add_usage(usage, actions, groups, prefix)

    class Parser(argparse.ArgumentParser):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("formatter_class", Formatter)
            kwargs["add_help"] = False
            super().__init__(*args, **kwargs)
            self._positionals.title = c.plain("operator.cli_positionals")
            self._optionals.title = c.plain("operator.cli_options")
            self.add_argument("-h", "--help", action="help", help=c.plain("operator.cli_help"))

        def error(self, message: str) -> NoReturn:
            message = argparse_message(c, message)
            self.print_usage(sys.stderr)
            text = c.plain("operator.cli_error", prog=self.prog, message=message)
            self.exit(EXIT_USAGE, text + "\n")

    return Parser


# argparse's complaints about one argument ("argument NAME: MESSAGE") and the messages it
# writes itself inside them; a message of ours (an ArgumentTypeError) is already the catalog's.
_ARGUMENT = re.compile(r"argument (?P<name>[^:]+): (?P<message>.*)", re.S)
_ARGUMENT_MESSAGES = (
    (re.compile(r"invalid choice: (?P<value>.*?) \(choose from (?P<choices>.*)\)", re.S), "cli_invalid_choice"),
    (re.compile(r"invalid (?P<type>\w+) value: (?P<value>.*)", re.S), "cli_invalid_value"),
    (re.compile(r"expected one argument"), "cli_expected_one"),
    (re.compile(r"expected at least one argument"), "cli_expected_some"),
    (re.compile(r"ignored explicit argument (?P<value>.*)", re.S), "cli_ignored_value"),
    (re.compile(r"not allowed with argument (?P<other>.*)", re.S), "cli_not_allowed_with"),
)  # fmt: skip


def argparse_message(c: Catalog, message: str) -> str:
    """argparse's English, in the operator catalog's words: the commonest complaints whole,
    one argument's complaint as "参数 NAME：…" with argparse's own part translated."""
    for english, key in ARGPARSE_MESSAGES:
        if message.startswith(english):
            return c.plain(f"operator.{key}", names=message.removeprefix(english))
    found = _ARGUMENT.fullmatch(message)
    if found is None:
        return message
    name, inner = found["name"], found["message"]
    for pattern, key in _ARGUMENT_MESSAGES:
        if (m := pattern.fullmatch(inner)) is not None:
            # argparse quotes what was typed ('bogus'): shown as typed
            fields = {k: v.replace("'", "") for k, v in m.groupdict().items()}
            if fields.get("type") == "int":
                fields["type"] = c.plain("operator.cli_type_int")
            inner = c.plain(f"operator.{key}", **fields)
            break
    if name in ("command", "faq_command"):  # the subcommand's name: no dest to show
        return inner
    return c.plain("operator.cli_argument", name=name, message=inner)


def _parser(c: Catalog) -> argparse.ArgumentParser:
    def h(key: str) -> str:
        # argparse %-formats help texts; the catalog's text is taken literally.
        return c.plain(f"operator.{key}").replace("%", "%%")

    p = _parser_class(c)(
        prog="liaison-bot", description=h("cli_description"), epilog=h("cli_epilog")
    )
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help=h("cli_run"))
    imp = sub.add_parser("import", help=h("cli_import"))
    imp.add_argument("file", type=Path)
    chk = sub.add_parser("check", help=h("cli_check"))
    chk.add_argument("file", type=Path)
    bak = sub.add_parser("backup", help=h("cli_backup"))
    bak.add_argument("path", type=Path, help=h("cli_backup_path"))
    bak.add_argument("--force", action="store_true", help=h("cli_force"))
    exp = sub.add_parser("export", help=h("cli_export"))
    exp.add_argument("--station", required=True, help=h("cli_station"))
    exp.add_argument("--from", dest="first", required=True, type=_date, help="YYYY-MM-DD")
    exp.add_argument("--to", dest="last", required=True, type=_date, help=h("cli_to"))
    exp.add_argument("--force", action="store_true", help=h("cli_force"))
    exp.add_argument("file", type=Path, help=h("cli_export_file"))
    faq = sub.add_parser("faq", help=h("cli_faq"))
    faq_sub = faq.add_subparsers(dest="faq_command", required=True)
    faq_exp = faq_sub.add_parser("export", help=h("cli_faq_export"))
    faq_exp.add_argument("file", type=Path, help=h("cli_faq_export_file"))
    faq_exp.add_argument("--force", action="store_true", help=h("cli_force"))
    qr = sub.add_parser("qr", help=h("cli_qr"))
    qr.add_argument("--station", required=True, help=h("cli_station"))
    qr.add_argument("--username", help=h("cli_username"))
    qr.add_argument("--force", action="store_true", help=h("cli_force"))
    qr.add_argument("--web", type=Path, metavar="FILE.png", help=h("cli_qr_web"))
    qr.add_argument("--wechat", type=Path, metavar="FILE.png", help=h("cli_qr_wechat"))
    qr.add_argument("file", type=Path, nargs="?", help="FILE.png")
    link = sub.add_parser("login-link", help=h("cli_login_link"))
    link.add_argument("--person", required=True, type=int, metavar="TELEGRAM_ID", help=h("cli_person"))
    # purge (privacy): erasure on request; its messages are in locales/*/privacy.yaml
    pur = sub.add_parser("purge", help=h("cli_purge"))
    who = pur.add_mutually_exclusive_group(required=True)
    who.add_argument(
        "--resident", type=resident_account, metavar="ID|wechat:OPENID",
        help=h("cli_purge_resident"),
    )  # fmt: skip
    # a web resident's visitor id is in an HttpOnly cookie: the receipt of one of their wishes
    who.add_argument("--receipt", metavar="HM-2026-0001", help=h("cli_purge_receipt"))
    pur.add_argument("--channel", default=None, help=h("cli_purge_channel"))
    pur.add_argument("--yes", action="store_true", help=h("cli_purge_yes"))
    sub.add_parser("migrate-to-postgres", help=h("cli_migrate_to_postgres"))
    return p


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        message = operator_catalog().plain("operator.not_a_date", text=text)
        raise argparse.ArgumentTypeError(message) from exc


def resident_account(text: str) -> tuple[str | None, str]:
    """`purge --resident`: an id of the `--channel` account (a Telegram id by default), or
    `<channel>:<id>` (`wechat:<openid>`): (the channel named in it or None, the id)."""
    from bot.purge_cli import parse_resident

    found = parse_resident(text)
    if found is None:
        message = operator_catalog().plain("purge.bad_resident", text=text)
        raise argparse.ArgumentTypeError(message)
    return found


def stations_error(c: Catalog, exc: StationsFileError) -> str:
    """A file that could not be read says so alone; invalid content under its heading."""
    if isinstance(exc, StationsFileUnreadable):
        return str(exc)
    return c.plain("operator.stations_invalid") + f"\n{exc}"


def _say(c: Catalog, key: str, **params: object) -> None:
    print(c.plain(f"operator.{key}", **params))


def _complain(text: str) -> None:
    print(f"liaison-bot: {text}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    c = operator_catalog()
    args = _parser(c).parse_args(argv)
    if args.command == "check":  # needs no settings: a broken .env does not stop a check
        return _check(args.file, c)
    try:
        settings = load_settings()
    except SettingsError as exc:
        _complain(str(exc))
        return EXIT_CONFIG
    c = Catalog(settings.locale)  # the .env may set the locale the environment did not
    for name, suggestion in unknown_settings():
        key = "unknown_variable_typo" if suggestion else "unknown_variable"
        _complain(c.plain(f"operator.{key}", name=name, suggestion=suggestion or ""))
    # Third-party loggers are capped there: at DEBUG they would log message content.
    configure_logging(settings.log_level)
    try:
        if args.command == "run":
            if settings.telegram_token:  # without one, the web channel runs alone (or the demo)
                settings.telegram_token = check_token(settings.telegram_token)
            from telegram.error import InvalidToken

            from bot.app import run

            try:
                asyncio.run(run(settings))
            except InvalidToken as exc:
                # PTB's message repeats the token; it is never printed.
                host = base_url_host(settings.telegram_base_url)
                raise ConfigError("token_rejected", host=host) from exc
        elif args.command == "import":
            asyncio.run(_import(settings, args.file))
            _say(c, "imported", file=args.file, database=settings.database_label())
        elif args.command == "backup":
            if settings.database_url is not None:
                raise ConfigError("backup_postgres")
            _require_database(settings)
            check_target(args.path, args.force)
            if args.path.resolve() == settings.database.resolve():  # --force over the original
                raise OperatorError("target_is_database", path=args.path)
            asyncio.run(_backup(settings, args.path))
            _say(c, "backup_written", path=args.path)
        elif args.command == "export":
            from bot.reporting_cli import export_command

            _require_database(settings)
            export_command(settings, args.station, args.first, args.last, args.file, args.force)
        elif args.command == "login-link":
            from web.cli import login_link_command

            _require_database(settings)
            login_link_command(settings, args.person)
        elif args.command == "faq":
            _require_database(settings)
            check_target(args.file, args.force)
            count = _faq_export(settings, args.file)
            _say(c, "faq_exported", count=count, file=args.file)
        elif args.command == "qr":
            from telegram.error import InvalidToken, TelegramError

            from bot.reporting_cli import qr_command

            # each code asked for: --web, --wechat, and the Telegram one when FILE.png is given
            if args.file is None and args.web is None and args.wechat is None:
                _parser(c).error(c.plain("operator.cli_required", names="FILE.png"))
            _require_database(settings)
            if args.web is not None:
                from web.cli import qr_web_command

                qr_web_command(settings, args.station, args.web, args.force)
            if args.wechat is not None:
                from wechat.cli import qr_wechat_command

                qr_wechat_command(settings, args.station, args.wechat, args.force)
            try:
                if args.file is not None:
                    qr_command(settings, args.station, args.username, args.file, args.force)
            except InvalidToken as exc:
                host = base_url_host(settings.telegram_base_url)
                raise ConfigError("token_rejected", host=host) from exc
            except TelegramError as exc:  # only its type: the message may carry the URL
                raise OperatorError("username_unreachable", error=type(exc).__name__) from exc
        elif args.command == "purge":
            from bot.purge_cli import purge_command

            _require_database(settings)
            if args.receipt is not None:
                from bot.purge_cli import purge_by_receipt

                return purge_by_receipt(settings, args.receipt, args.yes)
            prefixed, external_id = args.resident
            channel = prefixed or args.channel or "telegram"
            if channel == "telegram" and not external_id.isdigit():
                _complain(operator_catalog().plain("purge.bad_resident", text=external_id))
                return 2
            return purge_command(settings, channel, external_id, args.yes)
        elif args.command == "migrate-to-postgres":
            if settings.database_url is None:
                raise ConfigError("migrate_needs_url")
            if not settings.database.is_file():
                raise ConfigError("no_database", path=settings.database.absolute())
            copied = asyncio.run(_migrate_to_postgres(settings))
            for table, rows in copied:
                _say(c, "migrate_table", table=table, count=rows)
            total = sum(rows for _, rows in copied)
            _say(c, "migrate_done", tables=len(copied), rows=total, source=settings.database)
    except DatabaseUnreachable as exc:  # PostgreSQL down or misaddressed; never the password
        _complain(
            c.plain("operator.database_unreachable", database=settings.database_label(), error=exc)
        )
        return EXIT_FAILURE
    except OperatorError as exc:
        _complain(exc.render(c))
        return exc.exit_code
    except StationsFileError as exc:
        _complain(stations_error(c, exc))
        return EXIT_CONFIG
    except ValueError as exc:  # FaqFileError and other configuration errors
        _complain(str(exc))
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    return EXIT_OK


def _check(file: Path, c: Catalog) -> int:
    try:
        config = load_stations_file(file, c, from_command_line=True)
    except StationsFileError as exc:
        _complain(stations_error(c, exc))
        return EXIT_CONFIG
    deputies = sum(len(s.deputies) for s in config.stations)
    _say(
        c,
        "check_ok",
        file=file,
        stations=len(config.stations),
        deputies=deputies,
        categories=len(config.categories),
    )
    return EXIT_OK


def _require_database(settings: Settings) -> None:
    """backup, export and qr read the bot's database: never create an empty one instead (the
    usual cause is a shell without the bot's settings, e.g. a systemd EnvironmentFile)."""
    if settings.database_url is None and not settings.database.is_file():
        raise ConfigError("no_database", path=settings.database.absolute())


async def _import(settings: Settings, file: Path) -> None:
    from bot.app import open_database
    from bot.clock import SystemClock
    from bot.services import Liaison

    catalog = Catalog(settings.locale)
    config = load_stations_file(file, catalog, from_command_line=True)  # validated whole before the database is opened
    db = await open_database(settings)
    try:
        await Liaison(db, catalog, SystemClock(), settings.tz).directory.sync_config(config)
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
    """The copy is made beside the target and renamed over it when complete, so a failed or
    interrupted backup never leaves a half-written file under the name asked for."""
    from bot.app import open_database

    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    db = await open_database(settings)
    try:
        await db.backup(partial)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
        await db.close()


async def _migrate_to_postgres(settings: Settings) -> list[tuple[str, int]]:
    """The SQLite file's every table into the empty PostgreSQL database, counts verified."""
    from storage.db import Database
    from storage.migrate import CountMismatch, TargetNotEmpty, copy_sqlite_to_postgres

    source = Database(settings.database)
    target = Database(settings.database_url)
    await source.connect()
    try:
        await target.connect()
        try:
            copied = await copy_sqlite_to_postgres(source, target)
        except TargetNotEmpty as exc:
            raise OperatorError("migrate_not_empty", table=exc.table) from exc
        except CountMismatch as exc:
            raise OperatorError(
                "migrate_mismatch", table=exc.table, source=exc.source, target=exc.target
            ) from exc
        finally:
            await target.close()
    finally:
        await source.close()
    return [(c.table, c.rows) for c in copied]


if __name__ == "__main__":
    sys.exit(main())
