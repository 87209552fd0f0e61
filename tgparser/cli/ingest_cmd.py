"""`tgparser ingest`: bring the archive up to date (made for cron)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import click

from tgparser.cli.app import App, pass_app
from tgparser.cli.params import DURATION, DURATION_OR_ALL
from tgparser.cli.refs import RefsCommand


@click.command(cls=RefsCommand)
@click.argument("refs", nargs=-1, metavar="[REF]...")
@click.option(
    "--refresh-window",
    type=DURATION,
    default="3d",
    show_default=True,
    help="Re-read messages this recent: edits, views, reactions, counters.",
)
@click.option(
    "--counters-window",
    type=DURATION_OR_ALL,
    default="30d",
    show_default=True,
    help="Re-read view and comment counters of posts this recent (all: every post), "
    "to find new comments on older posts.",
)
@click.option(
    "--max-flood-wait",
    type=click.IntRange(min=0),
    default=300,
    show_default=True,
    metavar="SECONDS",
    help="Sleep through FloodWaits up to this long; longer ones defer the source.",
)
@click.option(
    "--takeout",
    is_flag=True,
    help="Backfill through a takeout session (friendlier limits for big histories).",
)
@click.option(
    "--batch-size",
    type=click.IntRange(1, 10_000),
    default=100,
    show_default=True,
    help="Messages per commit.",
)
@click.option("--json", "json_flag", is_flag=True, help="Print a run summary as JSON.")
@pass_app
def ingest(
    app: App,
    refs: tuple[str, ...],
    refresh_window: timedelta,
    counters_window: timedelta | None,
    max_flood_wait: int,
    takeout: bool,
    batch_size: int,
    json_flag: bool,
) -> None:
    """Fetch new posts, older history, edits and comments of followed chats.

    REF names followed chats (default: every active one). Safe to run from cron: overlapping
    runs skip a source another run is working on, and a long FloodWait defers the source.

    Exit codes: 0 all done, 1 a source failed, 75 a source was deferred by a FloodWait.
    """
    from tgparser.ingest import IngestOptions
    from tgparser.ingest import ingest as run_ingest
    from tgparser.sources import select_for_ingest

    storage = app.storage(write=True)
    sources, unknown = select_for_ingest(storage, refs)
    options = IngestOptions(
        refresh_window=refresh_window,
        counters_window=counters_window,
        max_flood_wait=max_flood_wait,
        takeout=takeout,
        batch_size=batch_size,
    )
    from tgparser.cli.progress import RichIngestProgress, progress_display

    with progress_display(app, RichIngestProgress) as progress:
        summary = run_ingest(storage, app.settings, sources, options, progress, unknown)
    if app.wants_json(json_flag):
        app.print_json(
            {"exit_code": summary.exit_code, "sources": [r.as_dict() for r in summary.results]}
        )
    for result in summary.results:
        _report(app, result)
    if not summary.results:
        app.info("no active sources: add one with `tgparser source add @channel`")
    if summary.exit_code:
        raise click.exceptions.Exit(summary.exit_code)


def _report(app: App, r: Any) -> None:
    """One line per source on stderr. With --quiet only failures are printed (cron mails
    what a job prints): a busy or deferred source sorts itself out on a later run, and the
    exit code still says 75 for a deferral."""
    if r.status == "failed":
        click.echo(f"{r.label}: failed: {r.error}", err=True)
        return
    if r.status in ("deferred", "locked"):
        app.info(f"{r.label}: {r.status}: {r.error}")
        return
    app.info(
        f"{r.label}: {r.fetched:,} fetched, {r.inserted:,} new, {r.updated:,} updated"
        f" ({r.edited:,} edited), {r.comments:,} new comments"
    )
    for warning in r.warnings:
        app.info(f"{r.label}: warning: {warning}")
