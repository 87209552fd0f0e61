"""Click parameter types shared by commands: dates and durations."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import click

_PATTERNS = {
    "date only": r"^\d{4}-\d{2}-\d{2}$",
    "duration": r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$",
    "unit given": r"^\s*\d+(?:\.\d+)?\s*[smhdwSMHDW]\s*$",
}


@cache
def _pattern(name: str) -> re.Pattern[str]:
    """Compiled when a date or duration is given, not when a command is defined (start-up)."""
    return re.compile(_PATTERNS[name])


_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks", "": "days"}


def parse_duration(text: str) -> timedelta | None:
    """`3d`, `12h`, `90m`, `30s`, `2w`, or a bare number of days; None when it is not one."""
    match = _pattern("duration").match(text.lower())
    if not match:
        return None
    return timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})


class DateTimeParam(click.ParamType):
    """`2025-01-31`, `2025-01-31T12:00`, `2025-01-31 12:00:00+03:00` (no zone means UTC), or
    a duration before now: `7d`, `12h`, `90m`, `2w`.

    As an upper bound (`--until`), the value becomes the exclusive end of what it names: a
    date includes that whole day, a datetime includes that instant, a duration ends then.
    """

    name = "DATE"

    def __init__(self, upper: bool = False) -> None:
        self.upper = upper

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> datetime:
        if isinstance(value, datetime):
            return value
        text = str(value).strip()
        # 7d: that long ago (a bare number is not taken as days)
        if _pattern("unit given").match(text):
            ago = parse_duration(text)
            if ago is not None:
                return datetime.now(UTC) - ago
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            self.fail(
                f"{value!r} is not a date (use YYYY-MM-DD, an ISO-8601 datetime, "
                "or a time ago such as 7d, 12h)",
                param,
                ctx,
            )
        parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        if self.upper:
            whole_day = _pattern("date only").match(str(value).strip()) is not None
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
        duration = parse_duration(text)
        if duration is None:
            hint = ", or all" if self.allow_all else ""
            self.fail(f"{value!r} is not a duration (e.g. 3d, 12h, 90m{hint})", param, ctx)
        return duration


DATE = DateTimeParam()
UNTIL = DateTimeParam(upper=True)
DURATION = DurationParam()
DURATION_OR_ALL = DurationParam(allow_all=True)


def rejects_json(hint: str) -> Any:
    """For a command with no JSON output: the global `--json` is a usage error (with `hint`)
    instead of being silently ignored. `tests/test_hardening_output.py` checks that every
    command either honours `--json` or carries this mark."""

    def mark(command: click.Command) -> click.Command:
        callback = command.callback
        assert callback is not None

        def checked(*args: Any, **kwargs: Any) -> Any:
            ctx = click.get_current_context()
            root = ctx.find_root()
            if root.params.get("json_output"):
                raise click.UsageError(f"--json does not apply here: {hint}", ctx)
            return callback(*args, **kwargs)

        command.callback = checked
        command.rejects_json = True  # type: ignore[attr-defined]
        return command

    return mark


def date_range_options(func: Any) -> Any:
    """`--since` and `--until` for every command that picks messages by date: dates, times,
    or durations ago (7d, 12h); a date-only `--until` includes that whole day."""
    func = click.option(
        "--until",
        type=UNTIL,
        help="Messages dated up to this time, or 1d (ago); a date includes that whole day.",
    )(func)
    return click.option(
        "--since", type=DATE, help="Messages dated from this date or time, or 7d (ago)."
    )(func)
