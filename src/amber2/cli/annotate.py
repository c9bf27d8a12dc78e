"""``amber2 annotate``: synthetic annotators vote on a prepared corpus (work done by amber2.annotate)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

__all__ = ["BACKENDS", "build_backend", "register"]

#: Backend names ``--backend`` accepts.
BACKENDS: tuple[str, ...] = ("openai", "transformers", "bundle")


def build_backend(name: str, *, model: str | None, base_url: str | None = None, api_key_env: str = "OPENAI_API_KEY",
                  text_only: bool = False, timeout: float = 60.0, max_tokens: int = 16,
                  max_audio_seconds: float | None = 30.0, long_audio: str = "cap", connections: int = 64,
                  device: str | None = None, dtype: str = "auto", batch_size: int = 8, seed: int = 0,
                  name_override: str | None = None) -> Any:
    """The backend called ``name`` (the one place a backend is chosen by name).

    Raises:
        ValueError: Unknown backend or a missing setting.
    """
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    if not model:
        raise ValueError(f"--model is required for the {name} backend (" + {
            "openai": "the model name the server serves", "transformers": "a local model folder",
            "bundle": "a trained model bundle folder"}[name] + ")")
    if name == "openai":
        from amber2.annotate.backends.openai import OpenAIBackend

        return OpenAIBackend(model, base_url or "", api_key_env=api_key_env, text_only=text_only, timeout=timeout,
                             max_tokens=max_tokens, max_audio_seconds=max_audio_seconds, long_audio=long_audio,
                             connections=connections)
    if name == "transformers":
        from amber2.annotate.backends.transformers import TransformersBackend

        return TransformersBackend(model, name=name_override, device=device, dtype=dtype, batch_size=batch_size,
                                   max_new_tokens=max_tokens, max_audio_seconds=max_audio_seconds,
                                   long_audio=long_audio, seed=seed)
    from amber2.inference.annotator import BundleBackend

    return BundleBackend(model, name=name_override, seed=seed, batch_size=batch_size, device=device,
                         max_audio_seconds=None if long_audio == "cap" else max_audio_seconds)


def _classes(classes: str | None, policy: str | None) -> list[str]:
    from amber2.annotate import DEFAULT_CLASSES

    if classes and policy:
        raise ValueError("give --classes or --policy, not both")
    if policy:
        from amber2.labels import get_policy

        pol = get_policy(policy)
        if not pol.classes:
            raise ValueError(f"label policy {policy!r} infers its classes from the data; give --classes")
        return list(pol.classes)
    if classes:
        return [c.strip() for c in classes.split(",") if c.strip()]
    return list(DEFAULT_CLASSES)


def annotate(
    corpus: Path = typer.Option(..., "--corpus", help="Prepared corpus folder (holding corpus.parquet)."),
    backend: str = typer.Option(..., "--backend", help="openai | transformers | bundle."),
    model: str | None = typer.Option(None, "--model", help="openai: the model name the server serves; "
                                     "transformers: a local model folder; bundle: a model bundle folder."),
    base_url: str | None = typer.Option(None, "--base-url", help="openai: the server's API root, e.g. "
                                        "http://localhost:8000/v1."),
    api_key_env: str = typer.Option("OPENAI_API_KEY", "--api-key-env", help="openai: NAME of the environment "
                                    "variable holding the API key (the key itself is never a flag)."),
    text_only: bool = typer.Option(False, "--text-only", help="openai: send transcripts only (an LLM)."),
    n: int = typer.Option(20, "--n", min=1, max=1000, help="Synthetic annotators per item."),
    classes: str | None = typer.Option(None, "--classes", help="Comma-separated canonical class names "
                                       "(default neutral,happy,angry,sad)."),
    policy: str | None = typer.Option(None, "--policy", help="Take the classes from this label policy."),
    preset: str = typer.Option("default", "--preset", help="Annotator preset: 'default' or a YAML file."),
    max_in_flight: int = typer.Option(16, "--max-in-flight", min=1, max=4096, help="Most calls open at once."),
    rpm: float | None = typer.Option(None, "--rpm", min=0.001, help="Most call starts per minute."),
    max_calls: int | None = typer.Option(None, "--max-calls", min=0, help="Most uncached requests this run."),
    retries: int = typer.Option(4, "--retries", min=0, max=20, help="Retries of a call on 429/5xx/timeouts."),
    timeout: float = typer.Option(60.0, "--timeout", min=0.1, max=3600, help="openai: seconds per call."),
    max_audio_seconds: float = typer.Option(30.0, "--max-audio-seconds", min=0.1, help="Longest audio given."),
    long_audio: str = typer.Option("cap", "--long-audio", help="cap (keep the first --max-audio-seconds) | skip."),
    device: str | None = typer.Option(None, "--device", help="transformers/bundle: cpu, cuda, cuda:1 ..."),
    dtype: str = typer.Option("auto", "--dtype", help="transformers: auto | float32 | bfloat16 | float16."),
    batch_size: int = typer.Option(8, "--batch-size", min=1, max=256, help="transformers/bundle: batch size."),
    seed: int = typer.Option(0, "--seed", help="transformers/bundle: sampling seed."),
    name: str | None = typer.Option(None, "--name", help="transformers/bundle: model name in the rater ids."),
    cache: Path | None = typer.Option(None, "--cache", help="Reply cache folder (default CORPUS/annotations/cache)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the number of calls needed and stop."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress with ETA."),
) -> None:
    """Ask N synthetic annotators (an ALM behind an API, a local ALM, or a trained bundle) for one vote per item."""
    from rich.console import Console

    from amber2.annotate import RunSettings, load_preset
    from amber2.cli._errors import user_errors
    from amber2.workflow.annotate import annotate_prepared

    console = Console()
    with user_errors():
        table = corpus / "corpus.parquet" if corpus.is_dir() else corpus
        if not table.is_file():
            raise FileNotFoundError(f"no corpus table at {table} (run `amber2 prepare` first)")
        if long_audio not in ("cap", "skip"):
            raise ValueError(f"--long-audio must be cap or skip, got {long_audio!r}")
        settings = RunSettings(max_in_flight=max_in_flight, requests_per_minute=rpm, max_calls=max_calls,
                               retries=retries, progress=progress)
        preset_obj = load_preset(preset)
        b = build_backend(backend, model=model, base_url=base_url, api_key_env=api_key_env, text_only=text_only,
                          timeout=timeout, max_tokens=preset_obj.max_tokens, max_audio_seconds=max_audio_seconds,
                          long_audio=long_audio, connections=max_in_flight, device=device, dtype=dtype,
                          batch_size=batch_size, seed=seed, name_override=name)
        rep = annotate_prepared(corpus, b, n=n, classes=_classes(classes, policy), preset=preset_obj,
                                settings=settings, cache_dir=cache, dry_run=dry_run)
    if dry_run:
        console.print(f"{rep.calls_needed} call(s) needed: {rep.requests} requests ({rep.items - len(rep.failures)} "
                      f"items x {n} annotators), {rep.requests - rep.uncached} cached, {rep.uncached} not cached"
                      + (f", --max-calls {max_calls}" if max_calls is not None else "")
                      + f"; {len(rep.failures)} item(s) cannot be annotated")
        return
    st = rep.stats
    assert st is not None
    console.print(f"{rep.votes} synthetic votes from {rep.requests} requests ({st.cached} cached, {st.calls} calls, "
                  f"{st.retries} retries) in {st.seconds:.1f} s; replies read as {rep.parse}")
    if rep.store is not None:
        console.print(f"corpus table: {rep.store.added} votes added, {rep.store.replaced} replaced, "
                      f"{rep.store.removed} removed, {rep.store.kept_previous} earlier votes of this source kept")
    if rep.notes:
        console.print(f"{len(rep.notes)} item(s) with notes (e.g. audio capped to {max_audio_seconds:g} s)")
    if rep.failures:
        console.print(f"[bold yellow]{len(rep.failures)} item(s) with failures[/] (first 20; all in the report):")
        for i, (item, fails) in enumerate(sorted(rep.failures.items())):
            if i >= 20:
                break
            reasons = sorted({str(f["reason"]) for f in fails})
            console.print(f"  {item}: {', '.join(reasons)}: {fails[0]['error']}", markup=False, highlight=False)
    console.print(f"replies: {rep.paths['replies']}\nreport: {rep.paths['report']}")


def register(app: typer.Typer) -> None:
    """Add the ``annotate`` command to ``app``."""
    app.command("annotate")(annotate)
