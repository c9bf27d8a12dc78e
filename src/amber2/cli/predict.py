"""``amber2 predict``: run a model bundle on audio files, folders or manifests (work done by the library)."""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import typer

__all__ = ["register"]


def _fmt(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def predict(
    model: Path = typer.Argument(..., help="Model bundle directory (from `amber2 train` or save_bundle)."),
    inputs: list[str] = typer.Argument(..., help="Audio files, folders of audio, manifests (.csv/.tsv/.jsonl/"
                                       ".parquet with id, audio, transcript) or prepared corpus folders."),
    transcripts: Path | None = typer.Option(None, "--transcripts", help="Transcripts file: CSV/TSV/JSONL/JSON with "
                                            "id (or audio/file) and transcript columns, or TXT lines "
                                            "'id<TAB>text'. Keys match ids, file names, stems or paths."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write predictions to FILE.jsonl, .csv or .json "
                                    "(atomically; streamed while predicting). Default: a table on screen."),
    batch_size: int = typer.Option(16, "--batch-size", min=1, help="Items encoded together."),
    device: str | None = typer.Option(None, "--device", help="cpu, cuda, cuda:1 ... (default: GPU if any)."),
    asr: str | None = typer.Option(None, "--asr", help="ASR model (local folder or cached hub id) transcribing "
                                   "clips that have no transcript."),
    max_seconds: float | None = typer.Option(None, "--max-seconds", help="Reject clips longer than this."),
    threads: int | None = typer.Option(None, "--threads", help="Torch CPU threads."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bar with ETA."),
    allow_version_mismatch: bool = typer.Option(False, "--allow-version-mismatch", help="Load a bundle saved "
                                                "by an incompatible amber2 version anyway (with a warning)."),
) -> None:
    """Predict emotion distributions, ambiguity and modality conflict for each clip; errors do not stop the batch."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from amber2.encoders import EncoderError
    from amber2.inference import AmbER2, BundleError, InputError, PredictionWriter

    console = Console()
    if threads:
        import torch

        torch.set_num_threads(int(threads))
    try:
        net = AmbER2.from_pretrained(model, device=device, allow_version_mismatch=allow_version_mismatch)
    except BundleError as exc:
        _fail(exc)
    preds = []
    try:
        stream = net.iter_predict(inputs, transcripts=transcripts, batch_size=batch_size, asr=asr,
                                  max_seconds=max_seconds, progress=progress)
        if out is not None:
            with PredictionWriter.open(out, classes=net.classes, heads=net.heads) as writer:
                for p in stream:
                    writer.write(p)
                    preds.append(p)
        else:
            preds = list(stream)
    except (BundleError, InputError, EncoderError, FileNotFoundError, ValueError) as exc:
        _fail(exc)
    failed = [p for p in preds if not p.ok]
    if out is None:
        t = Table(title=f"amber2 predict — {len(preds)} item(s), classes: {', '.join(net.classes)}")
        for col in ("id", "label", "conf.", "entropy (bits)", "conflict", "head", "note"):
            t.add_column(col, justify="right" if col in ("conf.", "entropy (bits)", "conflict") else "left")
        for p in preds:
            if p.ok:
                note = f"no {'/'.join(p.missing)}" if p.partial else ""
                t.add_row(escape(p.id), str(p.label), _fmt(p.confidence), _fmt(p.entropy), _fmt(p.conflict),
                          str(p.head), note)
            else:
                t.add_row(escape(p.id), "-", "-", "-", "-", "-", f"[red]{p.error_reason}[/]")
        console.print(t)
    else:
        console.print(f"wrote {len(preds)} prediction(s) to {out}")
    if failed:
        console.print(f"[bold yellow]{len(failed)} item(s) failed[/] (first 20):")
        for p in failed[:20]:
            console.print(f"  {p.id}: {p.error}", markup=False, highlight=False, soft_wrap=True)
    if preds and len(failed) == len(preds):
        raise typer.Exit(code=1)


def _fail(exc: BaseException) -> NoReturn:
    """Print an expected error as one line on stderr and exit with status 2 (the CLI's convention)."""
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2) from None


def register(app: typer.Typer) -> None:
    """Add the ``predict`` command to ``app``."""
    app.command("predict")(predict)
