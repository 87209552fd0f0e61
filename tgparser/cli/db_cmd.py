"""`tgparser db …`: schema migrations and the state of the archive database."""

from __future__ import annotations

import click

from tgparser.cli.app import App, pass_app


@click.group()
def db() -> None:
    """Create, upgrade and inspect the archive database."""


@db.command()
@click.option("--dry-run", is_flag=True, help="List what would be applied; change nothing.")
@click.option("--json", "json_flag", is_flag=True, help="Machine-readable JSON on stdout.")
@pass_app
def migrate(app: App, dry_run: bool, json_flag: bool) -> None:
    """Apply the schema migrations this tgparser ships, in order.

    Each file runs in its own transaction and is recorded in schema_migrations. A database
    changed behind tgparser's back (an edited migration, a newer schema, foreign tables) is
    refused. Other commands create the schema of a fresh database themselves, but only this
    command upgrades an existing one.
    """
    if dry_run and _missing_sqlite_file(app.settings.database_url):
        # A dry run must not create the file it reports on: everything is pending.
        from tgparser.storage.migrations import load_migrations

        pending, version = list(load_migrations("sqlite")), 0
    else:
        storage = app.storage(ensure_schema=False)
        pending = storage.migrate(dry_run=dry_run)
        version = storage.schema_state().version
    names = [m.filename for m in pending]
    if app.wants_json(json_flag):
        app.print_json(
            {
                "dry_run": dry_run,
                "applied": [] if dry_run else names,
                "pending": names if dry_run else [],
                "schema_version": version,
            }
        )
        return
    if dry_run:
        for name in names:
            click.echo(name)
        app.info(
            f"{len(names)} migration(s) would be applied"
            if names
            else f"nothing to apply: schema is at version {version}"
        )
        return
    for name in names:
        app.info(f"applied {name}")
    app.info(f"schema is at version {version}")


def _missing_sqlite_file(url: str) -> bool:
    from tgparser.storage import parse_database_url

    parsed = parse_database_url(url)
    return parsed.backend == "sqlite" and parsed.path is not None and not parsed.path.exists()


@db.command()
@click.option("--json", "json_flag", is_flag=True, help="Machine-readable JSON on stdout.")
@pass_app
def status(app: App, json_flag: bool) -> None:
    """Show the backend, schema version, pending migrations, row counts and latency.

    Exits non-zero when the database cannot be reached.
    """
    info = app.storage(create=False, ensure_schema=False).status()
    if app.wants_json(json_flag):
        app.print_json(info)
        return
    from rich.table import Table

    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    pending = ", ".join(info["pending_migrations"]) or "none"
    rows = [
        ("backend", info["backend"]),
        ("url", info["url"]),
        ("server version", info["server_version"]),
        ("schema", info.get("schema")),
        ("file", info.get("file")),
        ("file size", _human_size(info["file_size"]) if "file_size" in info else None),
        ("schema version", f"{info['schema_version']} (latest {info['latest_version']})"),
        ("pending", pending),
        ("latency", f"{info['latency_ms']} ms"),
    ]
    for label, value in rows:
        if value is not None:
            table.add_row(label, str(value))
    for name, count in info["tables"].items():
        table.add_row(f"rows in {name}", f"{count:,}")
    app.stdout_console().print(table)


def _human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"
