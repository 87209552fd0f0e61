"""Rich progress display for `ingest`, shown on a terminal only (stderr)."""

from __future__ import annotations

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
        return Text(f"{speed:,.0f} msg/s" if speed else "", style="progress.data.speed")


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
        self.sink = self

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
