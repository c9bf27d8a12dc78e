"""Progress bars with ETA (rich), silent when disabled or when not on a terminal."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

__all__ = ["progress_bar"]


class _NullProgress:
    def add_task(self, description: str, total: float | None = None, **_: Any) -> int:
        return 0

    def update(self, task_id: int, **_: Any) -> None:
        return None

    def advance(self, task_id: int, advance: float = 1) -> None:
        return None


@contextlib.contextmanager
def progress_bar(enabled: bool = True, *, transient: bool = False) -> Iterator[Any]:
    """A ``rich.progress.Progress`` with bar, counts, elapsed time and ETA.

    Args:
        enabled: If False, yield an object with the same ``add_task``/``update``/``advance``
            methods that does nothing (library calls default to no bar; the CLI turns it on).
        transient: Remove the bar when done.

    Yields:
        The progress object.
    """
    if not enabled:
        yield _NullProgress()
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        transient=transient,
    ) as prog:
        yield prog
