"""Click support for REF arguments: marked chat ids look like options (-1001234567890)."""

from __future__ import annotations

import re

import click

_MARKED_ID = re.compile(r"^-\d+$")


class RefsCommand(click.Command):
    """A command whose REF arguments may be negative numbers.

    Click would read `-1001234567890` as an unknown option. Such tokens are moved behind a
    `--`, where Click takes everything as an argument; real typos (`--takeuot`) still fail
    as unknown options.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if "--" in args:
            split = args.index("--")
            head, tail = args[:split], args[split + 1 :]
        else:
            head, tail = args, []
        ids = [a for a in head if _MARKED_ID.match(a)]
        if ids:
            head = [a for a in head if not _MARKED_ID.match(a)]
            args = [*head, "--", *ids, *tail]
        return super().parse_args(ctx, args)
