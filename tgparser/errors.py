"""Errors a user can act on.

Anything raised as a `TgparserError` reaches the user as one line on stderr and an exit code;
everything else is a bug and shows a traceback only with `-v`.
"""

from __future__ import annotations

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_TEMPFAIL = 75  # sysexits.h EX_TEMPFAIL: try again later (a source deferred by a FloodWait)


class TgparserError(Exception):
    """A failure explained in one line, with the exit code to leave with."""

    exit_code = EXIT_ERROR

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class ConfigError(TgparserError):
    """A bad setting, config file or flag value."""


class StorageError(TgparserError):
    """The database cannot be opened, reached or used."""


class MigrationError(StorageError):
    """The database schema cannot be brought to this tgparser's version."""


class NoArchiveError(StorageError):
    """A command that only reads was pointed at a place that holds no archive."""

    def __init__(self, where: str, *, hint: str = "; `tgparser db migrate` creates one") -> None:
        super().__init__(f"no archive at {where}{hint}")
        self.where = where


class StorageBusyError(StorageError):
    """Another writer holds the archive longer than we wait: try again later (exit 75)."""

    exit_code = EXIT_TEMPFAIL
