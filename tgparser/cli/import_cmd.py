"""`tgparser import desktop`: archives from Telegram Desktop's JSON exports."""

from __future__ import annotations

import click

from tgparser.cli.app import App, pass_app


@click.group("import")
def import_group() -> None:
    """Build the archive from files instead of the API."""


@import_group.command("desktop")
@click.argument("path", type=click.Path())
@click.option(
    "--chat",
    "chats",
    multiple=True,
    metavar="NAME_OR_ID",
    help="Only this chat of a full-account export (its name or id); repeatable.",
)
@click.option("--json", "json_flag", is_flag=True, help="Print a summary as JSON.")
@pass_app
def import_desktop(app: App, path: str, chats: tuple[str, ...], json_flag: bool) -> None:
    """Import a Telegram Desktop export (result.json, or its folder).

    No API credentials needed. Chats get the ids the API uses, so a later `source add` and
    `ingest` of the same chat continue the archive without duplicates. The import is one
    transaction: a damaged file leaves the archive as it was.
    """
    from pathlib import Path

    from tgparser.desktop import import_desktop as run_import

    storage = app.storage(write=True)
    from tgparser.cli.progress import RichByteProgress, progress_display

    with progress_display(app, RichByteProgress) as progress:
        summary = run_import(storage, Path(path), chats=chats, progress=progress)
    if app.wants_json(json_flag):
        app.print_json(
            {
                "file": summary.path,
                "messages": summary.messages,
                "skipped": summary.skipped,
                "chats": [vars(c) for c in summary.chats],
            }
        )
        return
    for chat in summary.chats:
        app.info(
            f"{chat.name or chat.chat_id} ({chat.type}, {chat.chat_id}): "
            f"{chat.messages:,} messages, {chat.inserted:,} new, {chat.updated:,} updated"
        )
        reasons: dict[str, list[str]] = {}
        for skipped in chat.skipped:
            reasons.setdefault(skipped["reason"], []).append(str(skipped["id"]))
        for reason, ids in reasons.items():
            shown = ", ".join(ids[:20]) + (f" and {len(ids) - 20} more" if len(ids) > 20 else "")
            app.info(
                f"  skipped {len(ids):,} message{'s' if len(ids) != 1 else ''} ({reason}): {shown}"
            )
