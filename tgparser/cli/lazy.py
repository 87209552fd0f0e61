"""Click groups whose subcommands are imported only when they run (Click's lazy-group pattern).

`tgparser search` then imports neither `process` nor `topics` nor any other command's module,
and `--help` lists every command without importing their heavy dependencies.
"""

from __future__ import annotations

import importlib
from typing import Any

import click


class LazyGroup(click.Group):
    """`lazy_commands` maps a subcommand's name to "module:attribute" in `tgparser.cli`."""

    def __init__(self, *args: Any, lazy_commands: dict[str, str] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.lazy_commands = dict(lazy_commands or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(dict.fromkeys([*self.lazy_commands, *super().list_commands(ctx)]))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands or cmd_name not in self.lazy_commands:
            return super().get_command(ctx, cmd_name)
        module_name, attribute = self.lazy_commands[cmd_name].split(":")
        module = importlib.import_module(f"tgparser.cli.{module_name}")
        command: click.Command = getattr(module, attribute)
        if command.name != cmd_name:
            raise RuntimeError(f"lazy command {cmd_name!r} names the command {command.name!r}")
        self.add_command(command)
        whole_short_help(self)
        return command


def whole_short_help(group: click.Command) -> None:
    """Command lists show each command's first sentence whole (wrapped), never cut to fit the
    width with "..." as Click does by default."""
    commands = group.commands.values() if isinstance(group, click.Group) else ()
    for command in commands:
        if command.short_help is None and command.help:
            summary = " ".join(command.help.split("\n\n")[0].split())
            command.short_help = summary.split(". ")[0].rstrip(".") + "."
        if isinstance(command, click.Group):
            whole_short_help(command)
