"""Progress bars of the long CLI commands, drawn with rich on stderr.

They go to stderr so that stdout carries only the result (a table, or JSON for programs).
When stderr is not a terminal, rich draws nothing while the work runs and the bar's last
state once at the end.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text


def stderr_console() -> Console:
    return Console(stderr=True, highlight=False)


class CountColumn(ProgressColumn):
    """How many units are done, of how many when known, and how many a second: the task's
    ``count`` and ``of`` fields (``completed`` and ``total`` drive the bar, which may be
    counting bytes), e.g. ``1,234/5,000 rows, 812/s``."""

    def render(self, task: Task) -> Text:
        count = int(task.fields.get("count", task.completed))
        of = task.fields.get("of")
        unit = task.fields.get("unit", "")
        shown = f"{count:,}/{of:,}" if of is not None else f"{count:,}"
        elapsed = task.elapsed
        rate = f", {count / elapsed:,.0f}/s" if elapsed and count else ""
        return Text(f"{shown} {unit}{rate}", style="progress.data.speed")


def progress_bar(console: Console | None = None) -> Progress:
    """A bar with its count, throughput and elapsed time; give each task ``count`` (done so
    far), ``unit`` and, when known, ``of`` (the whole) as fields."""
    return Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        CountColumn(),
        TimeElapsedColumn(),
        console=console or stderr_console(),
    )


class CopyProgress:
    """What ``db copy`` reports to: the source's counts first, then each chunk copied."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._task: TaskID | None = None
        self._done = 0

    def start(self, counts: dict[str, int]) -> None:
        total = sum(counts.values())
        self._task = self._progress.add_task("copying", total=total, count=0, of=total, unit="rows")
        self._done = 0

    def advance(self, table: str, rows: int) -> None:
        if self._task is not None:
            self._done += rows
            self._progress.update(
                self._task, completed=self._done, count=self._done, description=f"copying {table}"
            )

    def stop(self) -> None:
        """Take the bar down (before an error is shown) and stop."""
        for task in list(self._progress.task_ids):
            self._progress.remove_task(task)
        self._progress.stop()


@contextmanager
def copy_progress() -> Iterator[CopyProgress]:
    with progress_bar() as progress:
        yield CopyProgress(progress)
