"""Turn expected user errors into one clear line and exit status 2 (no traceback)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import typer

log = logging.getLogger("amber2.cli")

#: Exceptions that mean "the input is wrong", not "amber2 is broken".
USER_ERRORS: tuple[type[BaseException], ...] = (ValueError, FileNotFoundError, KeyError, NotADirectoryError)


@contextlib.contextmanager
def user_errors(*extra: type[BaseException]) -> Iterator[None]:
    """Print expected errors as ``error: ...`` and exit with status 2; ``-v`` shows the traceback.

    Args:
        *extra: Further exception types that a command expects (e.g. the demo's
            :class:`amber2.demo.synth.SimulationError`), handled the same way.
    """
    try:
        yield
    except (*USER_ERRORS, *extra) as exc:
        if logging.getLogger("amber2").isEnabledFor(logging.DEBUG):
            log.exception("details")
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        typer.secho(f"error: {msg}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
