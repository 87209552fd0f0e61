"""Click parameter types shared by commands: dates and durations."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import click

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks", "": "days"}


class DateTimeParam(click.ParamType):
    """`2025-01-31`, `2025-01-31T12:00`, `2025-01-31 12:00:00+03:00`; no zone means UTC."""

    name = "DATE"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            parsed = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            self.fail(
                f"{value!r} is not a date (use YYYY-MM-DD or an ISO-8601 datetime)", param, ctx
            )
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class DurationParam(click.ParamType):
    """`3d`, `12h`, `90m`, `2w`, or a bare number of days."""

    name = "DURATION"

    def __init__(self, allow_all: bool = False) -> None:
        self.allow_all = allow_all

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> timedelta | None:
        if isinstance(value, timedelta) or value is None:
            return value
        text = str(value).strip().lower()
        if self.allow_all and text == "all":
            return None
        match = _DURATION.match(text)
        if not match:
            hint = ", or all" if self.allow_all else ""
            self.fail(f"{value!r} is not a duration (e.g. 3d, 12h, 90m{hint})", param, ctx)
        return timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})


DATE = DateTimeParam()
DURATION = DurationParam()
DURATION_OR_ALL = DurationParam(allow_all=True)
