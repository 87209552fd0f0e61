"""`tgparser export kb`: the archive as a knowledge base folder for RAG systems."""

from __future__ import annotations

from datetime import datetime

import click

from tgparser.cli.app import App, pass_app
from tgparser.cli.params import date_range_options
from tgparser.cli.refs import RefsCommand


@click.command("kb", cls=RefsCommand)
@click.argument("refs", nargs=-1, metavar="[REF]...")
@click.option(
    "--out",
    "out",
    required=True,
    metavar="DIR",
    help="The KB folder; replaced whole when it holds a previous KB.",
)
@date_range_options
@click.option("--with-ads", is_flag=True, help="Keep messages processed as ads.")
@click.option("--with-noise", is_flag=True, help="Keep messages processed as noise.")
@click.option(
    "--with-comments/--no-comments",
    default=True,
    show_default=True,
    help="Include the comments on channel posts.",
)
@click.option(
    "--require-processed",
    is_flag=True,
    help="Fail, writing nothing, when a selected message has not been processed.",
)
@click.option("--json", "json_flag", is_flag=True, help="The manifest summary as JSON on stdout.")
@pass_app
def kb(
    app: App,
    refs: tuple[str, ...],
    out: str,
    since: datetime | None,
    until: datetime | None,
    with_ads: bool,
    with_noise: bool,
    with_comments: bool,
    require_processed: bool,
    json_flag: bool,
) -> None:
    """Write a knowledge base folder for RAG: kb_entries.ndjson, topics.json,
    topic_<id>.json and manifest.json.

    \b
    kb_entries.ndjson  one entry a line: each message (id tg:<chat>:<message>, date, t.me
                       url, text_clean, summary, keywords, topic_ids, engagement, provenance)
                       and each topic (its card and a text to embed)
    topics.json        the topic index; topic_<id>.json: a card and its resolved bundle
    manifest.json      version, filters, counts, producers, sha256 of every file

    REFs limit it to these followed chats (and the comments on their posts). Ads and noise
    are left out unless asked for; unprocessed messages come with their raw text and
    processed: false. The folder appears whole or not at all: rerunning replaces it, and a
    folder that is not a previous KB is never replaced. JSON Schemas of every file ship in
    the package (tgparser/kb_schemas).
    """
    from tgparser.kb import KBOptions, export_kb

    options = KBOptions(
        refs=refs,
        since=since,
        until=until,
        with_ads=with_ads,
        with_noise=with_noise,
        with_comments=with_comments,
        require_processed=require_processed,
    )
    result = export_kb(app.storage(), out, options)
    for warning in result.warnings:
        app.info(f"Warning: {warning}")
    counts = result.manifest["counts"]
    if app.wants_json(json_flag):
        app.print_json({"out": str(result.out), "counts": counts, "warnings": result.warnings})
        return
    app.info(
        f"wrote {counts['messages']:,} messages and {counts['topics']:,} topics to {result.out}"
    )
