"""Rich progress bars shared by every long-running stage (stderr, off when not a terminal)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

console = Console(stderr=True)


def make_progress(enabled: bool = True) -> Progress:
    """A progress display; ``disable`` when asked or when stderr is not a terminal."""
    return Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not enabled or not sys.stderr.isatty(),
        transient=False,
    )


@contextmanager
def stage(progress: Progress, description: str, total: float | None = None) -> Iterator[int]:
    """One task on ``progress``; marks it complete on exit."""
    task = progress.add_task(description, total=total)
    try:
        yield task
    finally:
        t = next((x for x in progress.tasks if x.id == task), None)
        if t is not None and t.total is not None:
            progress.update(task, completed=t.total)
        elif t is not None:
            progress.update(task, total=1, completed=1)
