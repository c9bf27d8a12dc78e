"""``amber2 prepare``: read a corpus, write its table, summary and folds (work done by the library)."""

from __future__ import annotations

from pathlib import Path

import typer

__all__ = ["register"]


def _options(pairs: list[str]) -> dict[str, object]:
    out: dict[str, object] = {}
    for pair in pairs:
        if "=" not in pair:
            raise typer.BadParameter(f"--option expects KEY=VALUE, got {pair!r}")
        key, value = pair.split("=", 1)
        key = key.strip().replace("-", "_")
        low = value.strip().lower()
        out[key] = True if low == "true" else False if low == "false" else value.strip()
    return out


def prepare(
    kind: str = typer.Argument(..., help="Corpus kind: iemocap | msp-podcast | crema-d | manifest."),
    root: Path = typer.Option(..., "--root", help="Release folder (IEMOCAP_full_release/, the MSP-Podcast "
                              "folder, a CREMA-D clone) or the manifest file."),
    out: Path = typer.Option(..., "--out", help="Output folder (corpus.parquet, summary.json/.md, folds.csv)."),
    policy: str | None = typer.Option(None, "--policy", help="Label policy preset or .json/.yaml file; "
                                      "'none' for no targets. Default: the corpus's standard preset."),
    folds: str | None = typer.Option(None, "--folds", help="Fold scheme: leave-one-group-out | balanced | "
                                     "speaker-k | crema-d-emo-superb | iemocap-emo-superb | none. "
                                     "Default: the corpus's."),
    k: int = typer.Option(5, "--k", help="Number of folds for balanced / speaker-k."),
    seed: int = typer.Option(0, "--seed", help="Seed of the fold assignment."),
    speakers_disjoint: bool | None = typer.Option(
        None, "--speakers-disjoint/--speakers-mixed",
        help="Balanced folds with whole speakers per fold (default: off; on for manifests with speakers)."),
    check_audio: bool = typer.Option(True, "--check-audio/--no-check-audio",
                                     help="Stat every audio file and read its header (LFS pointers, "
                                     "durations). Turn off for a quick look at a large corpus."),
    votes: str | None = typer.Option(None, "--votes", help="MSP-Podcast: auto | detailed | raw."),
    modes: str | None = typer.Option(None, "--modes", help="CREMA-D rating modes kept, e.g. 'voice,face' "
                                     "(default all three)."),
    name: str | None = typer.Option(None, "--name", help="Manifest: corpus name."),
    allow_outside_paths: bool = typer.Option(False, "--allow-outside-paths", help="Manifest: accept audio paths "
                                             "leaving the manifest's folder ('..', absolute, symlinks)."),
    option: list[str] = typer.Option([], "--option", "-o", help="Other reader option KEY=VALUE (repeatable)."),
    workers: int | None = typer.Option(None, "--workers", help="Threads for the audio check."),
) -> None:
    """Read a corpus as released and write the corpus table, a summary to check, and the folds."""
    from rich.console import Console

    from amber2.corpora.prepare import corpus_kind
    from amber2.workflow.prepare import PrepareError, prepare_corpus

    console = Console()
    try:
        kk = corpus_kind(kind)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="KIND") from None
    reader_options = _options(option)
    if votes is not None:
        reader_options["votes"] = votes
    if modes is not None:
        reader_options["modes"] = modes
    if name is not None:
        reader_options["name"] = name
    if allow_outside_paths:
        reader_options["allow_outside_paths"] = True
    try:
        result = prepare_corpus(kk, root, out, policy=policy, check_audio=check_audio, folds=folds, k=k,
                                seed=seed, speakers_disjoint=speakers_disjoint, workers=workers,
                                progress=True, **reader_options)
    except (FileNotFoundError, ValueError, PrepareError) as exc:
        console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(code=2) from None
    console.print(result.summary.to_rich())
    console.print("\nwritten:")
    for key, path in result.paths.items():
        console.print(f"  {key:<13} {path}")


def register(app: typer.Typer) -> None:
    """Add the ``prepare`` command to ``app``."""
    app.command("prepare")(prepare)
