"""``amber2 demo``: the paper's study end to end on a simulated multi-rater speech + text corpus.

Stages (each resumable: re-running reuses what is done)::

    1. generate   simulated corpus: 16 kHz WAVs, transcripts, per-rater votes   DIR/corpus/
    2. prepare    manifest -> corpus table, label policy, speaker folds         DIR/prepared/
    3. extract    offline encoders (openSMILE eGeMAPS + MiniLM) -> cache        DIR/embeddings/
    4. train      5 speaker folds x seeds x (lambda, kappa grid + CB-CE)        DIR/run/
    5. report     tables 1-4, Fig. 2 analogue, expert weights, confusions       DIR/report.md, DIR/figures/

``DIR/results.json`` holds, for each system (``baseline_text``, ``baseline_audio``,
``baseline_fusion``, ``amber2``), the mean and std of js, bc, r2, f1, wf1 and acc.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from amber2.utils.io import atomic_write_json, read_json

__all__ = ["DEMO_CLASSES", "DemoConfig", "DemoResult", "demo_policy", "run_demo"]

log = logging.getLogger(__name__)

DEMO_CLASSES: tuple[str, ...] = ("neutral", "happy", "angry", "sad")
SYSTEMS: tuple[str, ...] = ("baseline_text", "baseline_audio", "baseline_fusion", "amber2")
METRICS_OUT: tuple[str, ...] = ("js", "bc", "r2", "f1", "wf1", "acc")


@dataclass
class DemoConfig:
    """Settings of the demo (defaults: the paper's protocol on the default simulated corpus).

    Attributes:
        simulation: Simulator settings (``amber2.demo.synth.SimulationConfig``; None = defaults).
        preset: Encoder preset (``offline`` works with no network).
        seeds: Seeds of the protocol.
        folds: Number of speaker-disjoint folds.
        overrides: Extra ``amber2 train`` overrides (e.g. ``["optim.max_epochs=10"]``).
        threads: torch threads (None: torch's default).
    """

    simulation: Any = None
    preset: str = "offline"
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2, 3, 4])
    folds: int = 5
    overrides: list[str] = field(default_factory=list)
    threads: int | None = None


@dataclass
class DemoResult:
    """Paths and numbers of a finished demo."""

    out: Path
    report: Path
    results: Path
    summary: dict[str, dict[str, dict[str, float]]]
    timings: dict[str, float]


def demo_policy() -> Any:
    """The demo's label policy: Eq. 1 over every rater, classes in the paper's order."""
    from amber2.labels import LabelPolicy

    return LabelPolicy(name="demo-4class", version="1", classes=DEMO_CLASSES,
                       description="Simulated corpus: Eq. 1 over all raters, 4 classes (neutral, happy, angry, sad)")


def run_demo(out: str | os.PathLike[str] = "runs/demo", config: DemoConfig | None = None, *,
             progress: bool = False) -> DemoResult:
    """Run the demo end to end and write ``out/report.md`` and ``out/results.json``.

    Args:
        out: Output folder.
        config: Settings.
        progress: Show progress bars.

    Returns:
        :class:`DemoResult`.
    """
    import torch

    from amber2.corpora.prepare import prepare_corpus
    from amber2.demo.synth import SimulationConfig, generate_corpus
    from amber2.encoders import extract
    from amber2.report import write_report
    from amber2.training.config import load_config
    from amber2.training.run import train_from_config

    config = config or DemoConfig()
    if config.threads:
        torch.set_num_threads(config.threads)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}

    t = time.perf_counter()
    sim = generate_corpus(out / "corpus", config.simulation or SimulationConfig(), progress=progress)
    timings["generate"] = time.perf_counter() - t
    log.info("corpus: %d utterances, %d speakers, %d votes (%.0f s of audio)", sim.n_items, sim.n_speakers,
             sim.n_votes, sim.duration_s)

    t = time.perf_counter()
    policy = demo_policy()
    prepared = out / "prepared"
    policy_file = policy.save(prepared / "policy.json")
    prep = prepare_corpus("manifest", sim.manifest, prepared, policy=policy, k=config.folds, progress=progress,
                          speakers_disjoint=True)
    timings["prepare"] = time.perf_counter() - t

    t = time.perf_counter()
    ext = extract(prepared, preset=config.preset, cache_dir=out / "embeddings", progress=progress)
    timings["extract"] = time.perf_counter() - t
    failed = getattr(ext, "failed", {}) or {}
    if failed:
        log.warning("extraction failed for %d item(s); they are left out of training", len(failed))

    t = time.perf_counter()
    overrides = [
        f"data.corpus={prepared}", f"data.embeddings={out / 'embeddings'}", f"data.policy={policy_file}",
        f"protocol.seeds={list(config.seeds)}", *config.overrides,
    ]
    cfg = load_config(None, overrides)
    ticker = _Ticker(progress)
    outcome = train_from_config(cfg, out=out / "run", on_progress=ticker)
    ticker.close()
    timings["train"] = time.perf_counter() - t

    t = time.perf_counter()
    stages = ", ".join(f"{k} {v:.0f} s" for k, v in timings.items())
    report = write_report(
        out / "run", out=out / "report.md", title="AmbER² on a simulated multi-rater speech + text corpus",
        corpus_note=f"{_corpus_note(sim, prep)} Pipeline stages on this machine: {stages}.",
    )
    timings["report"] = time.perf_counter() - t

    summary = outcome.result.summary
    results = {
        system: {m: {"mean": summary[system][m]["mean"], "std": summary[system][m]["std"]} for m in METRICS_OUT}
        for system in SYSTEMS if system in summary
    }
    payload = {**results, "_meta": {
        "timings_s": timings, "n_items": sim.n_items, "n_speakers": sim.n_speakers, "n_votes": sim.n_votes,
        "folds": config.folds, "seeds": list(config.seeds), "preset": config.preset,
        "data_fingerprint": read_json(out / "run" / "data.json").get("fingerprint"),
        "std": "sample std over seeds of the fold-averaged metric",
    }}
    results_path = atomic_write_json(out / "results.json", payload)
    return DemoResult(out, Path(report), results_path, summary, timings)


def _corpus_note(sim: Any, prep: Any) -> str:
    return (f"Simulated corpus: {sim.n_items} utterances from {sim.n_speakers} speakers, {sim.n_votes} votes by "
            f"{sim.n_raters} simulated raters, {sim.duration_s / 60:.1f} min of 16 kHz audio "
            f"(generator fingerprint {sim.fingerprint[:12]}). See docs/simulated_corpus.md.")


class _Ticker:
    """A rich progress bar for the training stage (or nothing)."""

    def __init__(self, enabled: bool):
        self._cm = None
        self._prog = None
        if enabled:
            from amber2.utils.progress import progress_bar

            self._cm = progress_bar(True)
            self._prog = self._cm.__enter__()
            self._task = self._prog.add_task("training (epochs)", total=None)

    def __call__(self, done: int, total: int) -> None:
        if self._prog is not None:
            self._prog.update(self._task, completed=done, total=total)

    def close(self) -> None:
        if self._cm is not None:
            self._cm.__exit__(None, None, None)
