"""The `tgparser` command tree. Commands parse, call a service or the storage, and render.

Start-up is kept short for cron and shell use: a command's module is imported only when that
command runs (`COMMANDS` below, Click's lazy-group pattern), and heavy modules (Telethon,
psycopg, Rich, sqlite-utils) are imported inside the code that needs them, so `tgparser --help`,
`--version` and a one-shot `tgparser search` import only what they use.
"""

from __future__ import annotations

import signal
import sys
from typing import Any

import click

from tgparser import __version__
from tgparser.cli.app import App
from tgparser.cli.lazy import LazyGroup
from tgparser.errors import TgparserError

# Every top-level command: its name -> "module:attribute" in tgparser.cli. Registering a new
# command is one line here; its module is imported only when the command (or --help) runs.
COMMANDS: dict[str, str] = {
    "login": "telegram_cmd:login",
    "whoami": "telegram_cmd:whoami",
    "logout": "telegram_cmd:logout",
    "source": "source_cmd:source",
    "ingest": "ingest_cmd:ingest",
    "process": "process_cmd:process",
    "import": "import_cmd:import_group",
    "export": "export_cmd:export",
    "search": "export_cmd:search",
    "stats": "export_cmd:stats",
    "topics": "topics_cmd:topics",
    "db": "db_cmd:db",
    "config": "config_cmd:config",
}


class TgparserGroup(LazyGroup):
    """Loads commands from `COMMANDS` on demand; turns errors into one line on stderr and an
    exit code (tracebacks only with -v)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        rest = super().parse_args(ctx, args)
        # `tgparser db --help` runs `main` before the subcommand prints its help: it then
        # skips setting up logging, which nothing will use (start-up time).
        ctx.meta["tgparser.help"] = any(arg in ("-h", "--help") for arg in rest)
        return rest

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


@click.group(
    cls=TgparserGroup,
    lazy_commands=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option(
    "-V",
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=lambda ctx, _param, value: _print_version(ctx) if value else None,
    help="Show the version, the schema version it expects and the optional extras; exit.",
)
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
    if ctx.meta.get("tgparser.help"):
        return
    # `--help` and `--version` never get this far; `logging` itself is imported only when
    # something logs (a one-shot search never does).
    from tgparser.cli.logsetup import setup_logging

    setup_logging(verbose)


def _print_version(ctx: click.Context) -> None:
    """`tgparser --version`: what this tgparser is, what schema it expects, what it can do."""
    import platform

    from tgparser import extras
    from tgparser.storage.migrations import latest_version

    lines = [f"tgparser, version {__version__}"]
    versions = {dialect: latest_version(dialect) for dialect in ("sqlite", "postgresql")}
    if len(set(versions.values())) == 1:
        lines.append(f"schema version: {versions['sqlite']} (SQLite and PostgreSQL)")
    else:
        lines.append("schema version: " + ", ".join(f"{v} ({d})" for d, v in versions.items()))
    lines.append(
        f"Python: {platform.python_implementation()} {platform.python_version()} "
        f"({sys.platform} {platform.machine()})"
    )
    status = extras.extras_status()
    if status:
        for extra, present in status.items():
            note = "installed" if present else "not installed; " + extras.install_hint(extra)
            lines.append(f"extra {extra}: {note}")
    else:
        lines.append("optional extras: none defined")
    build = extras.zipapp_info()
    if build is not None:
        pythons = ", ".join(build["pythons"])
        lines.append(f"single-file build for CPython {pythons} on {build['platform']}")
        if (
            platform.python_implementation() != "CPython"
            or extras.python_tag() not in build["pythons"]
        ):
            lines.append(
                "warning: this interpreter is not one the file was built for: its compiled "
                "parts (PostgreSQL driver, fast JSON parser) may not load here"
            )
    click.echo("\n".join(lines))
    ctx.exit(0)


def run() -> None:
    """The `tgparser` program: like `main`, but dies quietly when its reader goes away.

    `tgparser export messages | head` closes the pipe early; like cat or grep, tgparser then
    ends from SIGPIPE without a word, instead of an error about a broken pipe. (Not set in
    `main` itself, which tests and other programs call in their own process.)
    """
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    main(prog_name="tgparser")
