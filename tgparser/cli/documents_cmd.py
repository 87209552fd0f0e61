"""`tgparser export documents`: knowledge documents out (registered on the export group)."""

from __future__ import annotations

from datetime import datetime

import click

from tgparser.cli.app import App, pass_app
from tgparser.cli.params import date_range_options
from tgparser.cli.refs import RefsCommand


@click.command("documents", cls=RefsCommand)
@click.argument("refs", nargs=-1, metavar="[REF]...")
@date_range_options
@click.option("--no-ads", is_flag=True, help="Leave out messages flagged as advertising.")
@click.option("--no-noise", is_flag=True, help="Leave out noise (service, empty, too short).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["ndjson", "csv", "json"]),
    default="ndjson",
    show_default=True,
    help="NDJSON (one object a line), CSV or one JSON array.",
)
@click.option(
    "-o", "--output", default="-", metavar="FILE", show_default=True, help="Where to write."
)
@pass_app
def export_documents(
    app: App,
    refs: tuple[str, ...],
    since: datetime | None,
    until: datetime | None,
    no_ads: bool,
    no_noise: bool,
    fmt: str,
    output: str,
) -> None:
    """Export knowledge documents (made by `tgparser process`), one per message.

    REF names followed chats (with their comments); default: all. Each document is the
    message's current one: the llm processor's when it is up to date, else the builtin one.
    Fields: the message's coordinates and link, then every document field, and topic_ids.
    """
    from tgparser import export as service
    from tgparser.process.export import export_documents as write_documents

    if app.wants_json():
        fmt = "json"  # the global --json: one JSON array
    storage = app.storage()
    filters = service.build_filter(storage, sources=refs, since=since, until=until)
    with service.open_output(output) as out:
        count = write_documents(
            storage, out, filters=filters, fmt=fmt, no_ads=no_ads, no_noise=no_noise
        )
    if output != "-":
        app.info(f"wrote {count:,} documents to {output}")
