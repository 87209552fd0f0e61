"""Rich progress displays (stderr), shown on a terminal only: never in pipes, cron, --json or
--quiet runs."""

from __future__ import annotations

import sys
from contextlib import nullcontext
from typing import Any

from rich.console import Console
from rich.progress import (
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text


class RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f}/s" if speed else "", style="progress.data.speed")


class RichIngestProgress:
    """One line per source: phase, messages so far, rate, elapsed time."""

    def __init__(self) -> None:
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            TextColumn("{task.fields[phase]}"),
            TextColumn("{task.completed:,.0f} messages"),
            RateColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self.task: Any = None

    def __enter__(self) -> RichIngestProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def source_started(self, label: str) -> None:
        self.task = self.progress.add_task(label, total=None, phase="waiting")

    def phase(self, name: str) -> None:
        self.progress.update(self.task, phase=name)

    def advanced(self, count: int) -> None:
        self.progress.advance(self.task, count)

    def source_finished(self, result: Any) -> None:
        self.progress.update(
            self.task,
            phase=result.status,
            total=self.progress.tasks[-1].completed or 1,
            completed=self.progress.tasks[-1].completed or 1,
        )


class RichTableProgress:
    """`db copy`: one bar per table with rows, rows/s and time left."""

    def __init__(self) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, TimeRemainingColumn

        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            RateColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
        )
        self.task: Any = None

    def __enter__(self) -> RichTableProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def table_started(self, table: str, total: int) -> None:
        self.task = self.progress.add_task(table, total=total)

    def advanced(self, rows: int) -> None:
        self.progress.advance(self.task, rows)


class RichByteProgress:
    """`import desktop`: how much of the file the parser has read."""

    def __init__(self) -> None:
        from rich.progress import BarColumn, DownloadColumn, TimeRemainingColumn

        self.progress = Progress(
            TextColumn("[bold]importing"),
            BarColumn(),
            DownloadColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
        )
        self.task = self.progress.add_task("import", total=None)

    def __call__(self, done: int, total: int) -> None:
        self.progress.update(self.task, completed=done, total=total)

    def __enter__(self) -> RichByteProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()


def progress_display(app: Any, kind: type) -> Any:
    """A `kind` display when a person watches the terminal; otherwise nothing (`None` inside
    the `with`)."""
    if app.quiet or app.json or not sys.stderr.isatty():
        return nullcontext()
    return kind()
