"""Click support for REF arguments: marked chat ids look like options (-1001234567890)."""

from __future__ import annotations

import re
from functools import cache

import click


@cache
def _marked_id() -> re.Pattern[str]:
    return re.compile(r"^-\d+$")  # compiled on first use: `search` has its own test


class RefsCommand(click.Command):
    """A command whose REF arguments may be negative numbers.

    Click would read `-1001234567890` as an unknown option. Such tokens are moved behind a
    `--`, where Click takes everything as an argument; real typos (`--takeuot`) still fail
    as unknown options.
    """

    def passes(self, token: str) -> bool:
        return _marked_id().match(token) is not None

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if "--" in args:
            split = args.index("--")
            head, tail = args[:split], args[split + 1 :]
        else:
            head, tail = args, []
        # An option's value is never moved: `--source -1001234567890` stays as it is.
        moved, kept = [], []
        for index, token in enumerate(head):
            previous = head[index - 1] if index else ""
            if self.passes(token) and not self._takes_value(previous):
                moved.append(token)
            else:
                kept.append(token)
        if moved:
            args = [*kept, "--", *moved, *tail]
        return super().parse_args(ctx, args)

    def _takes_value(self, token: str) -> bool:
        name = token.split("=", 1)[0]
        return (
            any(
                isinstance(p, click.Option) and not p.is_flag and name in p.opts
                for p in self.params
            )
            and "=" not in token
        )


class QueryCommand(RefsCommand):
    """`search`: words to exclude (`-mysql`) are query words, not options."""

    def passes(self, token: str) -> bool:
        return token.startswith("-") and not token.startswith("--") and token not in ("-h", "-o")
