"""Click parameter types shared by commands: dates and durations."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import click

_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks", "": "days"}


class DateTimeParam(click.ParamType):
    """`2025-01-31`, `2025-01-31T12:00`, `2025-01-31 12:00:00+03:00`; no zone means UTC.

    As an upper bound (`--until`), the value becomes the exclusive end of what it names: a
    date includes that whole day, a datetime includes that instant.
    """

    name = "DATE"

    def __init__(self, upper: bool = False) -> None:
        self.upper = upper

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
        parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        if self.upper:
            whole_day = _DATE_ONLY.match(str(value).strip()) is not None
            parsed += timedelta(days=1) if whole_day else timedelta(microseconds=1)
        return parsed


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
UNTIL = DateTimeParam(upper=True)
DURATION = DurationParam()
DURATION_OR_ALL = DurationParam(allow_all=True)
