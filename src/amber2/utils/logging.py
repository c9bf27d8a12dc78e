"""Logging setup: one ``amber2`` logger hierarchy, rich console handler for the CLI."""

from __future__ import annotations

import logging

__all__ = ["get_logger", "setup_logging"]


def get_logger(name: str) -> logging.Logger:
    """Return a logger below ``amber2`` (pass ``__name__``)."""
    return logging.getLogger(name if name.startswith("amber2") else f"amber2.{name}")


def setup_logging(level: int | str = logging.INFO) -> None:
    """Send ``amber2`` log records to a rich console handler (used by the CLI)."""
    from rich.logging import RichHandler

    root = logging.getLogger("amber2")
    root.setLevel(level)
    if not any(isinstance(h, RichHandler) for h in root.handlers):
        handler = RichHandler(show_path=False, rich_tracebacks=False, markup=False)
        handler.setFormatter(logging.Formatter("%(message)s"))
        root.addHandler(handler)
    root.propagate = False
