"""`tgparser export …`, `tgparser search`, `tgparser stats`: data out."""

from __future__ import annotations

import dataclasses
import re
import sys
from datetime import datetime
from typing import Any, TextIO

import click

from tgparser.cli.app import App, pass_app
from tgparser.cli.lazy import LazyGroup
from tgparser.cli.params import date_range_options
from tgparser.cli.refs import QueryCommand

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
        date_range_options,
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


@click.group(
    cls=LazyGroup,
    # `export documents` and `export kb` live in modules of their own, loaded when they run.
    lazy_commands={
        "documents": "documents_cmd:export_documents",
        "kb": "kb_cmd:kb",
    },
    short_help="Write archived messages to files or stdout (NDJSON, CSV, JSON, text, HTML).",
)
def export() -> None:
    """Write archived messages to files or stdout: NDJSON, CSV or JSON for scripts and
    analysis, a plain-text transcript or one HTML page for people."""


def output_options(formats: tuple[str, ...], default: str | None) -> Any:
    """--format and -o, shared by export and search."""

    def apply(func: Any) -> Any:
        func = click.option(
            "-o",
            "--output",
            default="-",
            metavar="FILE",
            show_default=True,
            help="Where to write; - is stdout. A file appears only once complete; a device "
            "or FIFO is written in place.",
        )(func)
        return click.option(
            "--format",
            "fmt",
            type=click.Choice(formats),
            default=None,
            help=f"Output format{f' (default: {default})' if default else ''}.",
        )(func)

    return apply


def _choose_format(app: App, json_flag: bool, fmt: str | None, default: str | None) -> str | None:
    """--format, or json for --json (global or local); both at once is a usage error."""
    if app.wants_json(json_flag):
        if fmt is not None and fmt != "json":
            raise click.UsageError(f"--json and --format {fmt} ask for two formats: give one")
        return "json"
    return fmt or default


@export.command(
    "messages",
    short_help="Export messages with links, counters, authors, replies and forwards.",
)
@filter_options
@click.option(
    "--from",
    "authors",
    multiple=True,
    metavar="AUTHOR",
    help="Only messages by this author: a sender id, or the exact signature or sender name "
    "as shown in `author`; repeatable.",
)
@click.option("--with-comments", is_flag=True, help="Follow each post with its comment thread.")
@click.option("--has-media", is_flag=True, help="Only messages with media.")
@click.option("--min-views", type=click.IntRange(min=0), help="Only messages viewed this often.")
@click.option("--limit", type=click.IntRange(min=1), help="Stop after N messages.")
@output_options(("ndjson", "csv", "json", "txt", "html"), "ndjson")
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
    authors: tuple[str, ...],
    with_comments: bool,
    has_media: bool,
    min_views: int | None,
    limit: int | None,
    fmt: str | None,
    output: str,
    fields: str | None,
    raw: bool,
) -> None:
    """Export messages with their links, counters, authors, replies and forwards.

    \b
    Formats:
      ndjson  one JSON object a line (default); json: one array; csv: RFC 4180 with a header
      txt     a plain transcript: date, author, text, replies and forwards, chat headings
      html    one self-contained page to open in a browser (--fields/--raw do not apply to
              txt and html)

    \b
    Fields (all by default; --fields picks and orders them):
      source_chat_id        the followed chat (for a comment: its channel)
      source_username       that chat's public username, or null
      chat_id, message_id   where the message lives (a comment: the discussion group)
      kind                  post, comment, message (group) or service
      date, edit_date       ISO-8601 UTC, 2025-03-01T09:00:00.000000Z
      author, sender_id     the post signature or sender's name; the sender's id
      text                  the text ("" for media without a caption)
      url                   t.me link (public, private t.me/c/…, or ?comment= for comments)
      views, forwards, replies, reactions   counters; reactions as [{"reaction","count"}]
      media_kind, album_id  photo, video, document, …; the album it belongs to
      forward_from_id, forward_from_name, forward_from_message_id   a forward's origin
      parent_message_id     for a comment: its channel post
      reply_to_message_id   the message it replies to, in the same chat
      forum_topic_id        the forum topic it was posted in
      action                a service message's action (e.g. MessageActionPinMessage)
      raw                   with --raw only: the stored Telegram message

    \b
    Dates (--since, --until): 2025-01-31, 2025-01-31T12:00, 2025-01-31T12:00+03:00 (no zone
    means UTC), or a time ago: 7d, 12h, 90m, 2w. --until 2025-01-31 includes that whole day.

    \b
    Examples:
      tgparser export messages --source @name --since 7d | jq .text
      tgparser export messages --kind post --with-comments --format csv -o posts.csv
      tgparser export messages --source @name --format html -o chat.html
    """
    from tgparser import export as service

    fmt = _choose_format(app, False, fmt, "ndjson")
    assert fmt is not None
    if fmt in service.READABLE_FORMATS and (fields is not None or raw):
        raise click.UsageError(f"--fields and --raw do not apply to --format {fmt}")
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
        authors=authors,
    )
    with service.open_output(output) as out:
        count = service.export_messages(
            storage,
            out,
            filters=filters,
            fmt=fmt,
            fields=chosen,
            with_comments=with_comments,
            limit=limit,
        )
    if output not in ("-", "/dev/stdout"):
        app.info(f"wrote {count:,} messages to {output}")


@click.command(cls=QueryCommand, short_help="Full-text search of the archive, best matches first.")
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
@output_options(("ndjson", "csv", "json"), None)
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
    output: str,
) -> None:
    """Full-text search of the archive, best matches first.

    \b
    Query syntax:
      word other        both words
      "exact phrase"    the words next to each other, in that order
      this OR that      either side (a b OR c means (a b) OR c)
      -word, NOT word   without it (also -"a phrase")
      prefix*           words starting with it

    Case-insensitive and language-neutral (Russian, Ukrainian, English alike). On a terminal
    each result shows its date, chat, author, snippet (matches highlighted) and link. With
    --json or --format the results carry the export fields (see `tgparser export messages
    --help`) plus score and snippet (matches between **).

    \b
    Examples:
      tgparser search 'postgres "connection pool" -mysql' --since 30d
      tgparser search 'репликация OR replication' --source @name --format csv -o hits.csv
    """
    from tgparser import export as out_service
    from tgparser.search import SEARCH_FIELDS, count_matches
    from tgparser.search import search as run_search

    fmt = _choose_format(app, json_flag, fmt, None)
    storage = app.storage()
    filters = out_service.build_filter(
        storage, sources=sources, kinds=kinds, since=since, until=until, topic=topic
    )
    filters = dataclasses.replace(filters, no_ads=no_ads)
    text = " ".join(query)
    hits = run_search(storage, text, filters, limit=limit)
    with out_service.open_output(output) as out:
        if fmt:
            if hits or fmt != "ndjson":
                out_service.write_records(hits, out, fmt, SEARCH_FIELDS)
            return
        total = count_matches(storage, text, filters) if len(hits) == limit else len(hits)
        _print_hits(app, out, storage, hits, total)


def _print_hits(
    app: App, out: TextIO, storage: Any, hits: list[dict[str, Any]], total: int
) -> None:
    if not hits:
        app.info("no match")
        return
    from rich.console import Console
    from rich.markup import escape

    from tgparser.transcript import author, chat_title, when

    chats = {s["chat_id"]: s for s in storage.list_sources()}
    console = app.stdout_console() if out is sys.stdout else Console(file=out, width=160)
    for hit in hits:
        chat = chat_title(hit["source_chat_id"], chats.get(hit["source_chat_id"], {}))
        if hit["kind"] == "comment":
            chat += ", comments"
        header = f"{when(hit)}  {chat}  · {author(hit)}"
        snippet = " ".join((hit["snippet"] or "").split())
        marked = re.sub(r"\*\*(.+?)\*\*", r"[bold yellow]\1[/bold yellow]", escape(snippet))
        console.print(f"[dim]{escape(header)}[/dim]")
        console.print(f"    {marked}" if console.is_terminal else f"    {snippet}")
        if hit["url"]:
            console.print(f"    [blue]{escape(hit['url'])}[/blue]")
    if total > len(hits):
        app.info(f"{len(hits)} of {total:,} matches (--limit {min(total, 10_000)} shows more)")


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

    from tgparser.cli.source_cmd import _label  # the one label of a chat; its module, not search's

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
