"""`tgparser db …`: schema migrations and the state of the archive database."""

from __future__ import annotations

from typing import Any

import click

from tgparser.cli.app import App, pass_app
from tgparser.errors import NoArchiveError


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
        storage = app.storage(write=True, ensure_schema=False)
        quiet = dry_run or app.wants_json(json_flag)
        pending = storage.migrate(
            dry_run=dry_run,
            on_apply=None if quiet else lambda m: app.info(f"applying {m.filename} …"),
        )
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
    applied = f"applied {len(names)} migration(s): " if names else "nothing to apply: "
    app.info(f"{applied}schema is at version {version}")


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
    info = app.storage(ensure_schema=False).status()
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


@db.command("copy")
@click.option("--from", "from_url", metavar="URL", help="Source database (default: --db).")
@click.option("--to", "to_url", metavar="URL", required=True, help="Target database.")
@click.option("--tables", metavar="T,...", help="Only these tables (default: all).")
@click.option("--dry-run", is_flag=True, help="Show what would happen; write nothing.")
@click.option(
    "--verify",
    "verify_after",
    is_flag=True,
    help="Then compare row counts and checksums of every copied table.",
)
@click.option("--append", is_flag=True, help="Add to a non-empty target, skipping rows it has.")
@click.option("--replace", is_flag=True, help="Empty the target tables first.")
@click.option(
    "--batch-size",
    type=click.IntRange(1, 1_000_000),
    default=5000,
    show_default=True,
    help="Rows per batch (and per commit).",
)
@click.option("--json", "json_flag", is_flag=True, help="Machine-readable JSON on stdout.")
@pass_app
def db_copy(
    app: App,
    from_url: str | None,
    to_url: str,
    tables: str | None,
    dry_run: bool,
    verify_after: bool,
    append: bool,
    replace: bool,
    batch_size: int,
    json_flag: bool,
) -> None:
    """Copy the archive to another database: SQLite or PostgreSQL, either way.

    Streams with constant memory (COPY into PostgreSQL). A fresh target is migrated to the
    source's schema version; a non-empty one is refused unless --append or --replace. An
    interrupted copy is completed by running it again with --append.
    """
    from tgparser import copy as service

    if append and replace:
        raise click.UsageError("--append and --replace exclude each other")
    chosen = service.choose_tables(tables)
    source, target = _open_pair(app, from_url, to_url, dry_run=dry_run)
    try:
        service.prepare_target(source, target, dry_run=dry_run)
        if dry_run:
            plans = service.plan_copy(source, target, chosen, append=append, replace=replace)
            _render_plans(app, plans, json_flag, dry_run=True)
            return
        from tgparser.cli.progress import RichTableProgress, progress_display

        with progress_display(app, RichTableProgress) as progress:
            plans = service.copy_archive(
                source,
                target,
                chosen,
                append=append,
                replace=replace,
                batch_size=batch_size,
                progress=progress,
                verify=verify_after,  # the source hashed while it streams, not read twice
            )
        checks = [p.check for p in plans] if verify_after else None
    finally:
        target.close()
        if from_url:  # opened here; the configured database closes with the app
            source.close()
    _render_plans(app, plans, json_flag, dry_run=False, checks=checks)
    if checks is not None and not all(c.ok for c in checks):
        raise click.exceptions.Exit(1)


@db.command("verify")
@click.option(
    "--against", "against", metavar="URL", required=True, help="The other database to compare with."
)
@click.option("--tables", metavar="T,...", help="Only these tables (default: all).")
@click.option("--json", "json_flag", is_flag=True, help="Machine-readable JSON on stdout.")
@pass_app
def db_verify(app: App, against: str, tables: str | None, json_flag: bool) -> None:
    """Compare this archive with another: row counts and checksums per table.

    Exits non-zero on any difference: a changed value, a missing or an extra row.
    """
    from tgparser import copy as service

    chosen = service.choose_tables(tables)
    source, target = _open_pair(app, None, against, create_target=False)
    try:
        if source.identity() == target.identity():
            raise service.CopyError("the two databases are the same database")
        for storage, role, side in (
            (source, " to verify", "the archive"),
            (target, " to compare with", "the other database"),
        ):
            state = storage.schema_state()
            if not state.applied:
                raise NoArchiveError(storage._archive_location(), hint=role)
            service.require_current_schema(state, side)
        checks = service.verify(source, target, chosen)
    finally:
        target.close()
    _render_checks(app, checks, json_flag)
    if not all(c.ok for c in checks):
        raise click.exceptions.Exit(1)


def _open_pair(
    app: App,
    from_url: str | None,
    to_url: str,
    *,
    dry_run: bool = False,
    create_target: bool = True,
) -> tuple[Any, Any]:
    from tgparser.storage import open_storage, parse_database_url

    target_url = parse_database_url(to_url)  # a bad URL fails before anything is opened
    if dry_run and target_url.path is not None and not target_url.path.exists():
        # A dry run creates no file: an empty in-memory database stands in for the target.
        target_url = parse_database_url(":memory:")
    try:
        if from_url:
            source = open_storage(from_url, pg_schema=app.settings.pg_schema, create=False)
        else:
            source = app.storage(ensure_schema=False)
    except NoArchiveError as exc:
        raise NoArchiveError(
            exc.where, hint=" to copy from" if create_target else " to verify"
        ) from None
    try:
        target = open_storage(target_url, pg_schema=app.settings.pg_schema, create=create_target)
    except NoArchiveError as exc:  # only `db verify` opens the other side without creating it
        if from_url:
            source.close()
        raise NoArchiveError(exc.where, hint=" to compare with") from None
    return source, target


def _render_plans(
    app: App, plans: list[Any], json_flag: bool, *, dry_run: bool, checks: list[Any] | None = None
) -> None:
    if app.wants_json(json_flag):
        data: dict[str, Any] = {"dry_run": dry_run, "tables": [p.as_dict() for p in plans]}
        if checks is not None:
            data["verify"] = [c.as_dict() for c in checks]
            data["ok"] = all(c.ok for c in checks)
        app.print_json(data)
        return
    from rich.table import Table

    table = Table(title="would copy" if dry_run else "copied")
    for column in ("table", "source rows", "target rows", "action"):
        table.add_column(column, justify="right" if "rows" in column else "left")
    for plan in plans:
        table.add_row(
            plan.table,
            f"{plan.source_rows:,}",
            f"{plan.target_rows:,}",
            plan.action if dry_run else f"{plan.action}: {plan.copied_rows or 0:,} rows written",
        )
    app.stdout_console().print(table)
    if checks is not None:
        _render_checks(app, checks, False)


def _render_checks(app: App, checks: list[Any], json_flag: bool) -> None:
    if app.wants_json(json_flag):
        app.print_json({"ok": all(c.ok for c in checks), "tables": [c.as_dict() for c in checks]})
        return
    from rich.table import Table

    table = Table(title="verify")
    for column in ("table", "source rows", "target rows", "checksums", "result"):
        table.add_column(column, justify="right" if "rows" in column else "left")
    for check in checks:
        same = check.source_checksum == check.target_checksum
        table.add_row(
            check.table,
            f"{check.source_rows:,}",
            f"{check.target_rows:,}",
            "equal" if same else "DIFFER",
            "ok" if check.ok else "MISMATCH",
        )
    app.stdout_console().print(table)
