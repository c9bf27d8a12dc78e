"""``amber2 extract``: embed a prepared corpus into the embedding cache (work done by the library)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

__all__ = ["register"]


def _features(pairs: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        if "=" not in pair:
            raise typer.BadParameter(f"--feature expects NAME=PATH, got {pair!r}")
        name, path = pair.split("=", 1)
        out[name.strip()] = path.strip()
    return out


def _report_table(report: Any) -> Any:
    from rich.table import Table

    t = Table(title=f"amber2 extract — shard {report.shard[0]}/{report.shard[1]} on {report.device}")
    for col in ("modality", "encoder", "dim", "items", "done", "cached", "skipped", "failed", "s"):
        t.add_column(col, justify="left" if col in ("modality", "encoder") else "right",
                     no_wrap=col != "encoder", overflow="fold")
    for m, r in report.modalities.items():
        enc = r.encoder.get("model") or r.encoder.get("feature_set") or r.encoder.get("path") or r.encoder["kind"]
        t.add_row(m, str(enc).rstrip("/").split("/")[-1], str(r.dim), str(r.total), str(r.done), str(r.cached),
                  str(len(r.skipped)), str(len(r.failed)), f"{r.seconds:.1f}")
    return t


def extract(
    corpus: Path | None = typer.Option(None, "--corpus", help="Folder holding corpus.parquet (from `amber2 "
                                       "prepare`), or a manifest file."),
    preset: str = typer.Option("offline", "--preset", help="paper (wav2vec2-base + bert-base-uncased) | "
                               "offline (openSMILE eGeMAPSv02 + all-MiniLM-L6-v2, no network)."),
    audio_encoder: str | None = typer.Option(None, "--audio-encoder", help="Replace the audio encoder: a hub "
                                             "id or model folder (wav2vec2, HuBERT, WavLM, data2vec-audio), "
                                             "egemaps, compare, opensmile:<set>, or none."),
    text_encoder: str | None = typer.Option(None, "--text-encoder", help="Replace the text encoder: a hub id "
                                            "or model folder, minilm, or none."),
    audio_layer: str | None = typer.Option(None, "--audio-layer", help="last | mean | a hidden-state index."),
    text_layer: str | None = typer.Option(None, "--text-layer", help="last | mean | a hidden-state index."),
    feature: list[str] = typer.Option([], "--feature", help="Precomputed features NAME=PATH (Parquet with an "
                                      "id column, .npz with ids/features, or a folder of <id>.npy); "
                                      "repeatable."),
    cache: Path | None = typer.Option(None, "--cache", help="Cache folder (default: CORPUS/embeddings)."),
    dtype: str | None = typer.Option(None, "--dtype", help="auto (bf16 autocast on GPU, fp32 on CPU) | "
                                     "float32 | bfloat16."),
    device: str | None = typer.Option(None, "--device", help="cpu, cuda, cuda:1 ... (default: GPU if any)."),
    batch_size: int | None = typer.Option(None, "--batch-size", help="Most items per forward pass."),
    max_batch_seconds: float | None = typer.Option(None, "--max-batch-seconds",
                                                   help="Padded audio per forward pass."),
    max_seconds: float | None = typer.Option(None, "--max-seconds", help="Longest audio segment given to a "
                                             "speech model; longer clips are chunked (default 60)."),
    workers: int | None = typer.Option(None, "--workers", help="Audio decoding processes (0: in process)."),
    threads: int | None = typer.Option(None, "--threads", help="Torch CPU threads."),
    shard: str | None = typer.Option(None, "--shard", help="i/n: embed only the items at positions p with "
                                     "p % n == i (default: torchrun's RANK/WORLD_SIZE, else all)."),
    empty_transcript: str = typer.Option("fail", "--empty-transcript", help="fail | skip | embed (the empty "
                                         "string) for a missing or empty transcript."),
    merge: list[Path] = typer.Option([], "--merge", help="Merge these caches into --cache and exit "
                                     "(caches filled on machines without shared storage); repeatable."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bars with ETA."),
) -> None:
    """Embed a corpus with the audio and text encoders into a resumable cache, and report per item."""
    from rich.console import Console

    from amber2.encoders import EncoderError, merge_caches, resolve_spec
    from amber2.encoders import extract as run_extract

    console = Console()
    if merge:
        if cache is None:
            raise typer.BadParameter("--merge needs --cache (the cache to merge into)")
        counts = merge_caches(merge, cache)
        console.print(f"merged {len(merge)} cache(s) into {cache}: {counts['shards']} shards, "
                      f"{counts['files']} other files")
        return
    if corpus is None:
        raise typer.BadParameter("--corpus is required (a folder holding corpus.parquet, or a manifest)")
    if threads:
        import torch

        torch.set_num_threads(int(threads))
    try:
        spec = resolve_spec(
            preset,
            audio_encoder=... if audio_encoder is None else audio_encoder,
            text_encoder=... if text_encoder is None else text_encoder,
            features=_features(feature), audio_layer=audio_layer, text_layer=text_layer,
        )
        for m, s in spec.items():
            if isinstance(s, dict) and s.get("kind") in ("hf-audio", "hf-text") and dtype:
                s["dtype"] = dtype
            if isinstance(s, dict) and s.get("kind") == "hf-audio" and max_seconds:
                s["max_seconds"] = float(max_seconds)
            spec[m] = s
        report = run_extract(
            corpus, preset=spec, cache_dir=cache, batch_size=batch_size, max_batch_seconds=max_batch_seconds,
            num_workers=workers, shard=shard, device=device, empty_transcript=empty_transcript, progress=progress,
        )
    except (EncoderError, FileNotFoundError, ValueError) as exc:
        console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(code=2) from None
    console.print(_report_table(report))
    failed = report.failed
    if failed:
        console.print(f"\n[bold yellow]{len(failed)} item(s) failed[/] (first 20; all in the report):")
        for i, (item, reason) in enumerate(sorted(failed.items())):
            if i >= 20:
                break
            console.print(f"  {item}: {reason}", markup=False, highlight=False)
    skipped = report.skipped
    if skipped:
        console.print(f"{len(skipped)} item(s) skipped by --empty-transcript skip")
    notes = sum(len(r.notes) for r in report.modalities.values())
    if notes:
        console.print(f"{notes} note(s) (e.g. texts truncated to the model's limit) are in the report")
    console.print(f"\nreport: {report.path}\nembeddings: {report.cache_dir} "
                  f"(read them with amber2.encoders.load_embeddings({str(Path(report.cache_dir))!r}))")


def register(app: typer.Typer) -> None:
    """Add the ``extract`` command to ``app``."""
    app.command("extract")(extract)
