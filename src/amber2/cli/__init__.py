"""The ``amber2`` command line: a thin Typer layer over the Python API.

Each command lives in its own module (``cli/<command>.py``) exposing ``register(app)``; this module
builds the app and wires them in. All real work happens in the library.
"""

from __future__ import annotations

import importlib
import logging

import typer

from amber2._version import __version__

COMMAND_MODULES: tuple[str, ...] = (
    "prepare", "annotate", "extract", "train", "evaluate", "report", "proxies", "demo", "predict", "export",
    "serve",
)

#: Width of ``--help`` (and error panels): at least this many columns, so that option names such as
#: ``--speakers-disjoint/--speakers-mixed`` are never cut with "…" (rich's default is the terminal
#: width, 80 when output is piped). ``TERMINAL_WIDTH`` in the environment still wins.
HELP_WIDTH = 120


def _help_width() -> int:
    import os
    import shutil

    env = os.environ.get("TERMINAL_WIDTH")
    if env and env.isdigit():
        return int(env)
    return max(HELP_WIDTH, shutil.get_terminal_size((HELP_WIDTH, 24)).columns)


def _widen_help() -> None:
    from typer import rich_utils

    rich_utils.MAX_WIDTH = _help_width()


_widen_help()

app = typer.Typer(
    name="amber2",
    help="AmbER²: ambiguity-aware emotion recognition from speech and text.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    context_settings={"max_content_width": HELP_WIDTH},
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"amber2 {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
    version: bool = typer.Option(False, "--version", callback=_version_callback, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """AmbER²: ambiguity-aware emotion recognition from speech and text."""
    from amber2.utils.logging import setup_logging

    setup_logging(logging.DEBUG if verbose else logging.INFO)


def _register_all() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(f"amber2.cli.{name}").register(app)


_register_all()


def main() -> None:
    """Console-script entry point."""
    app()
