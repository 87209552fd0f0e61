"""The `tgparser` command tree. Commands parse, call a service or the storage, and render.

Heavy modules (Telethon, psycopg, Rich) are imported inside the commands that need them, so
`tgparser --help` and `--version` stay fast.
"""

from __future__ import annotations

import logging
import signal
import sys
from typing import Any

import click

from tgparser import __version__
from tgparser.cli.app import App
from tgparser.errors import TgparserError


class TgparserGroup(click.Group):
    """Turns errors into one line on stderr and an exit code; tracebacks only with -v."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except TgparserError as exc:
            _fail(ctx, str(exc), exc.exit_code, exc)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            detail = " ".join(str(exc).split())  # one line, whatever the exception says
            message = f"unexpected {type(exc).__name__}: {detail} (run with -v for details)"
            _fail(ctx, message, 1, exc)


def _fail(ctx: click.Context, message: str, code: int, exc: BaseException) -> None:
    app = ctx.find_object(App)
    if app is not None and app.verbose:
        raise exc
    click.echo(f"Error: {' '.join(message.split())}", err=True)  # always one line
    ctx.exit(code)


@click.group(cls=TgparserGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="tgparser")
# Environment variables are read by the settings loader, not by Click, so that
# `config show` can say where each value came from.
@click.option(
    "--db",
    metavar="URL",
    help=(
        "Database: a file path, sqlite:///path, postgresql://user@host/db, or `postgres` for "
        "libpq's defaults [env: TGPARSER_DB]."
    ),
)
@click.option(
    "--config",
    "config_path",
    metavar="FILE",
    type=click.Path(dir_okay=False),
    help="Config file (default: `tgparser config path`) [env: TGPARSER_CONFIG].",
)
@click.option("--json", "json_output", is_flag=True, help="Machine-readable JSON on stdout.")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but data and errors.")
@click.option("-v", "--verbose", is_flag=True, help="Log details to stderr; show tracebacks.")
@click.pass_context
def main(
    ctx: click.Context,
    db: str | None,
    config_path: str | None,
    json_output: bool,
    quiet: bool,
    verbose: bool,
) -> None:
    """Archive Telegram channels and their comments into a database you own."""
    ctx.obj = App(db=db, config_path=config_path, json=json_output, quiet=quiet, verbose=verbose)
    ctx.call_on_close(ctx.obj.close)
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not verbose:
        # Telethon warns about each reconnect; tgparser reports what failed in one line.
        logging.getLogger("telethon").setLevel(logging.ERROR)


def _register() -> None:
    from tgparser.cli import (
        config_cmd,
        db_cmd,
        documents_cmd,
        export_cmd,
        import_cmd,
        ingest_cmd,
        kb_cmd,
        process_cmd,
        source_cmd,
        telegram_cmd,
        topics_cmd,
    )

    for command in (
        telegram_cmd.login,
        telegram_cmd.whoami,
        telegram_cmd.logout,
        source_cmd.source,
        ingest_cmd.ingest,
        process_cmd.process,
        import_cmd.import_group,
        export_cmd.export,
        export_cmd.search,
        export_cmd.stats,
        topics_cmd.topics,
        db_cmd.db,
        config_cmd.config,
    ):
        main.add_command(command)
    export_cmd.export.add_command(documents_cmd.export_documents)
    export_cmd.export.add_command(kb_cmd.kb)
    _whole_short_help(main)


def _whole_short_help(group: click.Group) -> None:
    """Command lists show each command's first sentence whole (wrapped), never cut to fit the
    width with "..." as Click does by default."""
    for command in group.commands.values():
        if command.short_help is None and command.help:
            summary = " ".join(command.help.split("\n\n")[0].split())
            command.short_help = summary.split(". ")[0].rstrip(".") + "."
        if isinstance(command, click.Group):
            _whole_short_help(command)


_register()


def run() -> None:
    """The `tgparser` program: like `main`, but dies quietly when its reader goes away.

    `tgparser export messages | head` closes the pipe early; like cat or grep, tgparser then
    ends from SIGPIPE without a word, instead of an error about a broken pipe. (Not set in
    `main` itself, which tests and other programs call in their own process.)
    """
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    main(prog_name="tgparser")
