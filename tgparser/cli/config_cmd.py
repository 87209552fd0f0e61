"""`tgparser config …`: where settings come from and what they are."""

from __future__ import annotations

import os

import click

from tgparser.cli.app import App, pass_app


@click.group()
def config() -> None:
    """Show the configuration file and the effective settings."""


@config.command("path")
@pass_app
def config_path(app: App) -> None:
    """Print where the config file is read from."""
    from pathlib import Path

    from tgparser.config import default_config_path

    explicit = app.config_path or os.environ.get("TGPARSER_CONFIG")
    path = str(Path(explicit).expanduser() if explicit else default_config_path())
    if app.wants_json():
        app.print_json({"path": path})
        return
    click.echo(path)


@config.command("show")
@click.option("--json", "json_flag", is_flag=True, help="Machine-readable JSON on stdout.")
@pass_app
def config_show(app: App, json_flag: bool) -> None:
    """Print the effective settings (secrets masked) and where each came from."""
    settings = app.settings
    shown = settings.masked()
    if app.wants_json(json_flag):
        app.print_json(
            {
                "config_file": str(settings.config_path),
                "config_file_loaded": settings.config_loaded,
                "settings": shown,
                "origins": settings.origins,
            }
        )
        return
    from rich.table import Table

    from tgparser.config import SETTINGS

    table = Table(
        title=f"config file: {settings.config_path}"
        + ("" if settings.config_loaded else " (not present)")
    )
    table.add_column("setting")
    table.add_column("value", overflow="fold")
    table.add_column("from")
    for setting in SETTINGS:
        value = shown[setting.name]
        origin = settings.origins[setting.name]
        if setting.name == "db" and origin == "default":
            origin = "default (user data dir)"
        table.add_row(setting.name, "" if value is None else str(value), origin)
    app.stdout_console().print(table)
