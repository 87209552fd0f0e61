"""What every command gets through the Click context: settings, output mode, the storage."""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from tgparser.config import Settings
    from tgparser.storage import Storage


class App:
    """The global options and what is opened once per process. (A plain class: a dataclass
    costs a one-shot command more to define than all it does with this.)"""

    def __init__(
        self,
        db: str | None = None,
        config_path: str | None = None,
        json: bool = False,
        quiet: bool = False,
        verbose: bool = False,
    ) -> None:
        self.db = db
        self.config_path = config_path
        self.json = json
        self.quiet = quiet
        self.verbose = verbose
        self.flags: dict[str, Any] = {}  # command flags that are settings
        self._settings: Settings | None = None
        self._storage: Storage | None = None

    @property
    def settings(self) -> Settings:
        """Loaded on first use, so `config path` works even with a broken config file."""
        if self._settings is None:
            # Imported here: `--help` and `--version` load no settings (start-up time).
            from pathlib import Path

            from tgparser.config import load_settings

            path = Path(self.config_path) if self.config_path else None
            self._settings = load_settings({"db": self.db, **self.flags}, config_path=path)
        return self._settings

    def override_settings(self, **flags: Any) -> None:
        """Settings given as flags of a subcommand (e.g. `login --api-id`): highest precedence."""
        self.flags.update({k: v for k, v in flags.items() if v is not None})
        self._settings = None

    def storage(self, *, write: bool = False, ensure_schema: bool = True) -> Storage:
        """The archive database, opened once per process.

        Say what the command does with it. `write=True` (ingest, import, source add, process,
        db migrate): a missing archive is created (the SQLite file and its folder, the
        PostgreSQL schema) and a fresh database migrated. The default, for commands that only
        read or change what is already there (stats, search, export, source list/pause):
        a missing archive is refused with one line (`no archive at …`) and nothing is created,
        so a typo in --db never yields an empty archive and an empty result.
        `ensure_schema=False` skips the schema check (`db migrate` and `db status` do their own).
        """
        if self._storage is None:
            from tgparser.storage import open_storage

            self._storage = open_storage(
                self.settings.database_url, pg_schema=self.settings.pg_schema, create=write
            )
            if ensure_schema:
                self._storage.ensure_schema(create=write)
        return self._storage

    def close(self) -> None:
        if self._storage is not None:
            self._storage.close()
            self._storage = None

    def wants_json(self, local_flag: bool = False) -> bool:
        return self.json or local_flag

    def print_json(self, data: Any) -> None:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))

    def info(self, message: str) -> None:
        """A human message about progress or outcome: stderr, silenced by --quiet."""
        if not self.quiet:
            click.echo(message, err=True)

    def stdout_console(self) -> Any:
        from rich.console import Console

        # Piped tables are read by grep and people with wide windows: do not fold at 80.
        width = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 160
        return Console(file=sys.stdout, soft_wrap=True, highlight=False, width=width)


pass_app = click.make_pass_decorator(App)
