"""`tgparser export …`, `tgparser search`, `tgparser stats`: data out."""

from __future__ import annotations

import dataclasses
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

import click

from tgparser.cli.app import App, pass_app
from tgparser.cli.params import DATE, UNTIL
from tgparser.cli.refs import QueryCommand
from tgparser.cli.source_cmd import _label
from tgparser.errors import TgparserError

KINDS = click.Choice(["post", "comment", "message", "service"])


def filter_options(func: Any) -> Any:
    """--source/--since/--until/--kind/--topic, shared by export and search."""
    options = [
        click.option(
            "--source",
            "sources",
            multiple=True,
            metavar="REF",
            help="Only this followed chat (and its comments); repeatable.",
        ),
        click.option("--since", type=DATE, help="Messages dated from this date or time."),
        click.option(
            "--until",
            type=UNTIL,
            help="Messages dated up to this time; a date includes that whole day.",
        ),
        click.option(
            "--kind",
            "kinds",
            type=KINDS,
            multiple=True,
            help="Only this kind of message; repeatable.",
        ),
        click.option("--topic", metavar="ID", help="Only the messages of this topic."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@click.group()
def export() -> None:
    """Write archived data to files or stdout, for scripts and analysis."""


@export.command("messages")
@filter_options
@click.option("--with-comments", is_flag=True, help="Follow each post with its comment thread.")
@click.option("--has-media", is_flag=True, help="Only messages with media.")
@click.option("--min-views", type=click.IntRange(min=0), help="Only messages viewed this often.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["ndjson", "csv", "json"]),
    default="ndjson",
    show_default=True,
    help="NDJSON (one object a line), CSV or one JSON array.",
)
@click.option(
    "-o",
    "--output",
    default="-",
    metavar="FILE",
    show_default=True,
    help="Where to write; - is stdout.",
)
@click.option("--fields", metavar="A,B,C", help="Only these fields, in this order.")
@click.option("--raw", is_flag=True, help="Add the stored raw Telegram message as `raw`.")
@pass_app
def export_messages(
    app: App,
    sources: tuple[str, ...],
    since: datetime | None,
    until: datetime | None,
    kinds: tuple[str, ...],
    topic: str | None,
    with_comments: bool,
    has_media: bool,
    min_views: int | None,
    fmt: str,
    output: str,
    fields: str | None,
    raw: bool,
) -> None:
    """Export messages with their links, counters and authors (see docs/export.md)."""
    from tgparser import export as service

    chosen = service.choose_fields(fields, raw=raw)
    storage = app.storage()
    filters = service.build_filter(
        storage,
        sources=sources,
        kinds=kinds,
        since=since,
        until=until,
        has_media=has_media,
        min_views=min_views,
        topic=topic,
    )
    with open_output(output) as out:
        count = service.export_messages(
            storage, out, filters=filters, fmt=fmt, fields=chosen, with_comments=with_comments
        )
    if output != "-":
        app.info(f"wrote {count:,} messages to {output}")


@contextmanager
def open_output(output: str) -> Iterator[TextIO]:
    """stdout, or a file that appears only once complete (no half-written exports)."""
    if output == "-":
        yield sys.stdout
        sys.stdout.flush()
        return
    target = Path(output)
    if target.is_dir():
        raise TgparserError(f"{output} is a directory")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent or ".")
    except OSError as exc:
        raise TgparserError(f"cannot write {output}: {exc.strerror}") from None
    try:
        # newline="" so CSV keeps its own \r\n line ends (RFC 4180).
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            yield out
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@click.command(cls=QueryCommand)
@click.argument("query", nargs=-1, required=True)
@filter_options
@click.option(
    "--limit",
    type=click.IntRange(1, 10_000),
    default=20,
    show_default=True,
    help="How many results.",
)
@click.option("--json", "json_flag", is_flag=True, help="The results as one JSON array.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["ndjson", "csv", "json"]),
    help="The results as NDJSON, CSV or JSON on stdout.",
)
@click.option("--no-ads", is_flag=True, help="Leave out ads (as `tgparser process` flagged them).")
@pass_app
def search(
    app: App,
    query: tuple[str, ...],
    sources: tuple[str, ...],
    since: datetime | None,
    until: datetime | None,
    kinds: tuple[str, ...],
    topic: str | None,
    limit: int,
    json_flag: bool,
    fmt: str | None,
    no_ads: bool,
) -> None:
    """Full-text search: words, "phrases", OR, -excluded, prefix*.

    Case-insensitive and language-neutral (Russian, Ukrainian, English alike). Results are
    ranked best first, with the matches marked ** in the snippet.
    """
    from tgparser import export as out_service
    from tgparser.search import SEARCH_FIELDS
    from tgparser.search import search as run_search

    storage = app.storage()
    filters = out_service.build_filter(
        storage, sources=sources, kinds=kinds, since=since, until=until, topic=topic
    )
    filters = dataclasses.replace(filters, no_ads=no_ads)
    hits = run_search(storage, " ".join(query), filters, limit=limit)
    if app.wants_json(json_flag) and fmt is None:
        fmt = "json"
    if fmt:
        if hits or fmt != "ndjson":
            out_service.write_records(hits, sys.stdout, fmt, SEARCH_FIELDS)
        return
    _print_hits(app, hits)


def _print_hits(app: App, hits: list[dict[str, Any]]) -> None:
    if not hits:
        return  # no match: nothing printed, exit 0
    from rich.markup import escape

    console = app.stdout_console()
    for hit in hits:
        where = f"@{hit['source_username']}" if hit["source_username"] else hit["source_chat_id"]
        header = f"{hit['date'][:16].replace('T', ' ')}  {where}  {hit['url'] or ''}"
        snippet = " ".join((hit["snippet"] or "").split())
        marked = re.sub(r"\*\*(.+?)\*\*", r"[bold yellow]\1[/bold yellow]", escape(snippet))
        console.print(f"[dim]{escape(header)}[/dim]")
        console.print(f"    {marked}" if console.is_terminal else f"    {snippet}")


@click.command()
@click.option("--json", "json_flag", is_flag=True, help="Machine-readable JSON on stdout.")
@pass_app
def stats(app: App, json_flag: bool) -> None:
    """Per followed chat: posts, comments, first and last date, last run, share archived."""
    from tgparser.stats import archive_stats

    rows = archive_stats(app.storage())
    if app.wants_json(json_flag):
        app.print_json(rows)
        return
    if not rows:
        app.info("no sources yet: add one with `tgparser source add @channel`")
        return
    from rich.table import Table

    table = Table()
    for column in (
        "source",
        "messages",
        "comments",
        "first",
        "last",
        "archived",
        "documents",
        "last success",
        "last error",
    ):
        right = column in ("messages", "comments", "archived")
        table.add_column(
            column,
            justify="right" if right else "left",
            overflow="fold",
            no_wrap=column == "source",
        )
    for row in rows:
        share = f"{row['archived_share']:.0%}" if row["archived_share"] is not None else "—"
        table.add_row(
            _label(row),
            f"{row['messages']:,}",
            f"{row['comments']:,}",
            (row["first_date"] or "—")[:10],
            (row["last_date"] or "—")[:10],
            share,
            _documents_cell(row["documents"]),
            (row["last_success_at"] or "never")[:16].replace("T", " "),
            row["last_error"] or "",
        )
    app.stdout_console().print(table)


def _documents_cell(counts: dict[str, int]) -> str:
    """Processed documents, with what is pending, failed and flagged as ads when any."""
    extra = [f"{counts[k]:,} {k}" for k in ("pending", "failed", "ads") if counts[k]]
    return f"{counts['processed']:,}" + (f" ({', '.join(extra)})" if extra else "")
