"""Progress with ETA: a rich bar on a terminal, log lines when output goes to a file, nothing when disabled.

A rich bar redraws in place, which a file or a CI log cannot show: the bar would appear only at the
end. When stdout is not a terminal, :func:`progress_bar` therefore yields a :class:`LogProgress`
with the same ``add_task``/``update``/``advance`` methods that logs ``"<task>: block i of n (p %),
elapsed, ETA"`` lines (at most one per ``log_every_s`` seconds per task, plus the last block).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["LogProgress", "progress_bar"]

log = logging.getLogger("amber2.progress")


class _NullProgress:
    def add_task(self, description: str, total: float | None = None, **_: Any) -> int:
        return 0

    def update(self, task_id: int, **_: Any) -> None:
        return None

    def advance(self, task_id: int, advance: float = 1) -> None:
        return None


def _duration(sec: float) -> str:
    sec = max(0.0, sec)
    if sec < 60:
        return f"{sec:.0f} s"
    if sec < 3600:
        return f"{int(sec // 60)} min {int(sec % 60):02d} s"
    return f"{int(sec // 3600)} h {int(sec % 3600 // 60):02d} min"


@dataclass
class _Task:
    description: str
    total: float | None
    completed: float = 0.0
    start: float = field(default_factory=lambda: time.monotonic())
    last_log: float = -1.0


class LogProgress:
    """The progress API of ``rich.progress.Progress`` (``add_task``, ``update``, ``advance``) as log lines.

    Each line reads ``"<description>: block i of n (p %), elapsed <t>, ETA <t>"``, the ETA from the
    mean time per block so far: :math:`ETA = elapsed (n - i) / i`.

    Args:
        log_every_s: At most one line per task in this many seconds (the last block is always logged).
        logger: Where the lines go (default ``amber2.progress``).
    """

    def __init__(self, log_every_s: float = 10.0, logger: logging.Logger | None = None):
        self.log_every_s = float(log_every_s)
        self.logger = logger or log
        self._tasks: dict[int, _Task] = {}

    def add_task(self, description: str, total: float | None = None, **_: Any) -> int:
        """Start a task; returns its id."""
        task_id = len(self._tasks)
        self._tasks[task_id] = _Task(description, total)
        return task_id

    def update(self, task_id: int, *, completed: float | None = None, total: float | None = None,
               advance: float | None = None, description: str | None = None, **_: Any) -> None:
        """Set or advance a task's progress, logging a line when due."""
        t = self._tasks[task_id]
        if description is not None:
            t.description = description
        if total is not None:
            t.total = total
        if completed is not None:
            t.completed = float(completed)
        if advance is not None:
            t.completed += float(advance)
        self._maybe_log(t)

    def advance(self, task_id: int, advance: float = 1) -> None:
        """Advance a task by ``advance`` blocks."""
        self.update(task_id, advance=advance)

    def _maybe_log(self, t: _Task) -> None:
        now = time.monotonic()
        done = t.total is not None and t.completed >= t.total
        if not done and t.last_log >= 0 and now - t.last_log < self.log_every_s:
            return
        if done and t.last_log == float("inf"):
            return  # the last block was logged already
        t.last_log = float("inf") if done else now
        elapsed = now - t.start
        i = int(t.completed)
        if t.total:
            n = int(t.total)
            eta = _duration(elapsed * (t.total - t.completed) / t.completed) if t.completed > 0 else "unknown"
            self.logger.info("%s: block %d of %d (%.0f %%), elapsed %s, ETA %s", t.description, i, n,
                             100.0 * t.completed / t.total, _duration(elapsed), eta)
        else:
            self.logger.info("%s: block %d, elapsed %s", t.description, i, _duration(elapsed))


def _stdout_is_terminal() -> bool:
    from rich.console import Console

    return Console().is_terminal


@contextlib.contextmanager
def progress_bar(enabled: bool = True, *, transient: bool = False, log_every_s: float = 10.0) -> Iterator[Any]:
    """A ``rich.progress.Progress`` with bar, counts, elapsed time and ETA.

    Args:
        enabled: If False, yield an object with the same ``add_task``/``update``/``advance``
            methods that does nothing (library calls default to no bar; the CLI turns it on).
        transient: Remove the bar when done.
        log_every_s: Not on a terminal: log a progress line at most this often (see :class:`LogProgress`).

    Yields:
        The progress object.
    """
    if not enabled:
        yield _NullProgress()
        return
    if not _stdout_is_terminal():
        yield LogProgress(log_every_s)
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
