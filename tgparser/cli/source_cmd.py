"""`tgparser source …`: the chats tgparser follows."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any

import click

from tgparser.cli.app import App, pass_app
from tgparser.cli.params import DATE
from tgparser.cli.refs import RefsCommand
from tgparser.errors import EXIT_USAGE, TgparserError


@click.group()
def source() -> None:
    """Add, list, pause, resume and remove followed chats."""


@source.command("add", cls=RefsCommand)
@click.argument("refs", nargs=-1, required=True, metavar="REF...")
@click.option(
    "--comments/--no-comments",
    default=None,
    help="Archive discussion comments (default: on when the channel has them).",
)
@click.option("--since", type=DATE, help="Oldest date to archive (default: all history).")
@pass_app
def source_add(
    app: App, refs: tuple[str, ...], comments: bool | None, since: datetime | None
) -> None:
    """Follow chats: REF is @username, a t.me link (t.me/c/… too) or a numeric id.

    Adding a followed chat again updates its options and keeps its progress.
    """
    from tgparser.sources import add_sources

    outcomes = add_sources(
        app.storage(write=True), app.settings, refs, comments=comments, since=since
    )
    failed = [o for o in outcomes if o.error]
    if app.wants_json():
        app.print_json(
            [
                {
                    "ref": o.ref,
                    "ok": o.error is None,
                    "created": o.created,
                    "error": o.error,
                    "source": _source_json(o.source) if o.source else None,
                }
                for o in outcomes
            ]
        )
    for outcome in outcomes:
        if outcome.error:
            click.echo(f"Error: {outcome.error}", err=True)
        elif outcome.source is not None:
            s = outcome.source
            comments_note = "with comments" if s["options"].get("comments") else "no comments"
            app.info(
                f"{'added' if outcome.created else 'updated'} {_label(s)} "
                f"({s['type']}, {comments_note}): {s['title']}"
            )
    if failed:
        raise click.exceptions.Exit(1)


@source.command("list")
@click.option("--json", "json_flag", is_flag=True, help="Machine-readable JSON on stdout.")
@pass_app
def source_list(app: App, json_flag: bool) -> None:
    """Show followed chats: status, last run, last error, messages and comments stored."""
    from tgparser.sources import source_overview

    rows = source_overview(app.storage())
    if app.wants_json(json_flag):
        app.print_json(rows)
        return
    if not rows:
        app.info("no sources yet: add one with `tgparser source add @channel`")
        return
    from rich.table import Table

    table = Table()
    for column in ("source", "type", "status", "messages", "comments", "last run", "last error"):
        table.add_column(
            column,
            overflow="fold",
            no_wrap=column == "source",
            justify="right" if column in ("messages", "comments") else "left",
        )
    for row in rows:
        last = row["last_run_at"].strftime("%Y-%m-%d %H:%M") if row["last_run_at"] else "never"
        if row["last_status"]:
            last += f" ({row['last_status']})"
        table.add_row(
            _label(row),
            row["type"],
            row["status"],
            f"{row['messages']:,}",
            f"{row['comment_count']:,}" if row["comments"] else "off",
            last,
            row["last_error"] or "",
        )
    app.stdout_console().print(table)


@source.command("pause", cls=RefsCommand)
@click.argument("refs", nargs=-1, required=True, metavar="REF...")
@pass_app
def source_pause(app: App, refs: tuple[str, ...]) -> None:
    """Stop ingesting these chats (their archive stays)."""
    from tgparser.sources import set_status

    changed = set_status(app.storage(), refs, "paused")
    if app.wants_json():
        app.print_json([_status_json(s, "paused") for s in changed])
    for s in changed:
        app.info(f"paused {_label(s)}")


@source.command("resume", cls=RefsCommand)
@click.argument("refs", nargs=-1, required=True, metavar="REF...")
@pass_app
def source_resume(app: App, refs: tuple[str, ...]) -> None:
    """Ingest these chats again."""
    from tgparser.sources import set_status

    changed = set_status(app.storage(), refs, "active")
    if app.wants_json():
        app.print_json([_status_json(s, "active") for s in changed])
    for s in changed:
        app.info(f"resumed {_label(s)}")


@source.command("remove", cls=RefsCommand)
@click.argument("refs", nargs=-1, required=True, metavar="REF...")
@click.option(
    "--purge", is_flag=True, help="Also delete the archived posts, comments and edit history."
)
@click.option(
    "-y",
    "--yes",
    is_flag=True,
    help="Do not ask before --purge deletes (needed without a terminal, e.g. in scripts).",
)
@pass_app
def source_remove(app: App, refs: tuple[str, ...], purge: bool, yes: bool) -> None:
    """Stop following chats; with --purge, delete what was archived from them too.

    --purge shows what it will delete and asks first; without a terminal it needs --yes.
    """
    from tgparser.sources import find_sources, purge_preview, remove_sources

    storage = app.storage()
    sources = find_sources(storage, refs)
    if purge and not yes:
        _confirm_purge(purge_preview(storage, sources))
    removed = remove_sources(storage, sources, purge=purge)
    if app.wants_json():
        app.print_json(
            [
                {
                    "chat_id": s["chat_id"],
                    "label": _label(s),
                    "removed": True,
                    "deleted_messages": n,
                }
                for s, n in removed
            ]
        )
    for s, deleted in removed:
        note = f", {deleted:,} messages deleted" if purge else " (archive kept)"
        app.info(f"removed {_label(s)}{note}")


def _confirm_purge(plan: list[tuple[dict[str, Any], int]]) -> None:
    """Ask on a terminal; refuse without one. Nothing is deleted unless the answer is yes."""
    total = sum(count for _, count in plan)
    what = f"{_count(total, 'message')} of {_count(len(plan), 'chat')}"
    if not stdin_is_terminal():
        raise TgparserError(
            f"--purge would delete {what}: add --yes to confirm (nothing deleted)",
            exit_code=EXIT_USAGE,
        )
    click.echo("--purge deletes these messages, with their comments and edit history:", err=True)
    for source, count in plan:
        click.echo(f"  {_label(source)}: {_count(count, 'message')}", err=True)
    if not click.confirm(f"Delete {what} for good?", default=False, err=True):
        raise TgparserError("nothing deleted")


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def stdin_is_terminal() -> bool:
    """Whether a person can answer a question (tests replace this)."""
    return sys.stdin.isatty()


def _label(source: dict[str, Any]) -> str:
    from tgparser.sources import chat_label

    return chat_label(source)


def _status_json(source: dict[str, Any], status: str) -> dict[str, Any]:
    return {"chat_id": source["chat_id"], "label": _label(source), "status": status}


def _source_json(source: dict[str, Any]) -> dict[str, Any]:
    hidden = {"access_hash", "linked_access_hash"}
    return {k: v for k, v in source.items() if k not in hidden}
