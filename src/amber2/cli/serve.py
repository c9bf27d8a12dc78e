"""``amber2 serve``: the web service and page for a model bundle (work done by :mod:`amber2.serve`)."""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import typer

__all__ = ["register"]


def serve(
    model: Path = typer.Argument(..., help="Model bundle directory."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to bind (0.0.0.0: every interface)."),
    port: int = typer.Option(8000, "--port", help="TCP port."),
    max_upload_mb: float = typer.Option(10.0, "--max-upload-mb", help="Largest upload (413 above)."),
    max_duration: float = typer.Option(60.0, "--max-duration", help="Longest clip in seconds (422 above)."),
    workers: int | None = typer.Option(None, "--workers", help="Prediction threads (default: min(2, CPUs))."),
    max_queue: int = typer.Option(32, "--max-queue", help="Admitted requests waiting for a worker; more wait "
                                  "unread at the door."),
    queue_wait: float = typer.Option(30.0, "--queue-wait", help="Seconds a request waits (unread) for a slot "
                                     "before 503."),
    cors_origin: list[str] = typer.Option([], "--cors-origin", help="Origin allowed to call the API from a "
                                          "browser (repeatable; default: CORS off)."),
    device: str | None = typer.Option(None, "--device", help="cpu, cuda ... (default: GPU if any)."),
    asr: str | None = typer.Option(None, "--asr", help="ASR model for uploads without transcript."),
    allow_version_mismatch: bool = typer.Option(False, "--allow-version-mismatch", help="Load a bundle saved "
                                                "by an incompatible amber2 version anyway (with a warning)."),
) -> None:
    """Serve POST /predict, GET /health, the OpenAPI docs at /docs and the web page at /.

    Set AMBER2_SERVE_TOKEN in the environment to require 'Authorization: Bearer <token>' (see docs/security.md).
    """
    from rich.console import Console

    from amber2.encoders import EncoderError
    from amber2.inference import BundleError

    try:
        from amber2.serve import serve as run
    except ImportError as exc:
        _fail(ImportError(f"the web service needs FastAPI and uvicorn ({exc}): pip install 'amber2[serve]'"))

    console = Console()
    console.print(f"amber2 serve: loading {model} ... then http://{host}:{port}/ (page), /docs (API)",
                  highlight=False, soft_wrap=True)
    try:
        run(model, host=host, port=port, max_upload_mb=max_upload_mb, max_duration_s=max_duration,
            workers=workers, max_queue=max_queue, queue_wait_s=queue_wait, cors_origins=cors_origin or None,
            device=device, asr=asr,
            allow_version_mismatch=allow_version_mismatch)
    except (BundleError, EncoderError, ValueError) as exc:
        _fail(exc)


def _fail(exc: BaseException) -> NoReturn:
    """Print an expected error as one line on stderr and exit with status 2 (the CLI's convention)."""
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2) from None


def register(app: typer.Typer) -> None:
    """Add the ``serve`` command to ``app``."""
    app.command("serve")(serve)
