"""``amber2 demo``: the paper's study end to end on a simulated multi-rater speech + text corpus.

Stages, and what a re-run into the same folder does with each::

    1. generate   simulated corpus: 16 kHz WAVs, transcripts, per-rater votes   DIR/corpus/
                  reused when its settings match (fingerprint stamp); other settings: an error,
                  unless ``overwrite`` (then it and everything derived from it are removed)
    2. prepare    manifest -> corpus table, label policy, speaker folds         DIR/prepared/
                  always redone (seconds; deterministic)
    3. extract    offline encoders (openSMILE eGeMAPS + MiniLM) -> cache        DIR/embeddings/
                  reuses cached embeddings (content-addressed: a changed item is embedded again)
    4. train      speaker folds x seeds x (lambda, kappa grid + CB-CE)          DIR/run/
                  reused when DIR/run holds a complete run whose resolved config, data fingerprint
                  and fold assignment equal this run's; otherwise retrained
    5. report     tables 1-4, Fig. 2 analogue, expert weights, confusions       DIR/report.md, DIR/figures/
                  always redone

The validation split that picks the epoch and (lambda_MAI, kappa) holds out whole speakers
(``protocol.validation.strategy: group-fraction``), so the choice is made on speakers not seen in training.

``DIR/results.json`` holds, for each system (``baseline_text``, ``baseline_audio``,
``baseline_fusion``, ``amber2``), the mean and std of js, bc, r2, f1, wf1 and acc.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from amber2.metrics import REPORTED_METRICS
from amber2.report import write_report
from amber2.report.tables import SPREAD_TEXT
from amber2.utils.io import atomic_write_json, atomic_write_text, read_json
from amber2.workflow.prepare import prepare_corpus
from amber2.workflow.run import resolved_config, train_from_config

__all__ = ["DEMO_CLASSES", "DemoConfig", "DemoError", "DemoResult", "append_study_sections", "demo_policy", "run_demo"]

log = logging.getLogger(__name__)

DEMO_CLASSES: tuple[str, ...] = ("neutral", "happy", "angry", "sad")
SYSTEMS: tuple[str, ...] = ("baseline_text", "baseline_audio", "baseline_fusion", "amber2")
METRICS_OUT: tuple[str, ...] = REPORTED_METRICS

#: What the demo writes into its folder, beside the simulated corpus (removed by ``overwrite``).
_DERIVED_DIRS: dict[str, tuple[str, ...]] = {
    # folder: files, any of which shows that the demo's stage made it
    "prepared": ("corpus.parquet", "summary.json", "folds.csv", "policy.json"),
    "embeddings": ("extract.json", "file_hashes.json"),
    "run": ("config.yaml", "data.json", "results.json"),
}
_DERIVED_FILES: tuple[str, ...] = ("results.json", "report.md", "report.json")
#: Where the studies' sections begin in report.md (everything after it is rewritten by each call).
_STUDIES_MARK = "<!-- amber2 demo studies: sections below are written from DIR/<study>/section.md -->"
_TRASH = re.compile(r"^\.(prepared|embeddings|run|figures)\.removing-[0-9a-f]{12}$")
#: Files of a complete training run (the last ones written by write_run and the final model).
_RUN_COMPLETE: tuple[str, ...] = ("config.yaml", "data.json", "results.json", "scores.csv", "predictions.npz",
                                  "model/model.json", "model/model.safetensors")
#: Removed before retraining, so that an interrupted training never passes for a complete one.
_RUN_MARKERS: tuple[str, ...] = ("results.json", "predictions.npz", "model/model.json")


class DemoError(ValueError):
    """The demo cannot run as asked: the message says what is wrong and how to proceed."""


@dataclass
class DemoConfig:
    """Settings of the demo (defaults: the paper's protocol on the default simulated corpus).

    Attributes:
        simulation: Simulator settings (``amber2.demo.synth.SimulationConfig``; None = defaults).
        preset: Encoder preset (``offline`` works with no network).
        seeds: Seeds of the protocol.
        folds: Number of speaker-disjoint folds.
        max_epochs: Epochs per run (None: the protocol's default, 30).
        grid: The ``{"lambda_mai": [...], "kappa": [...]}`` grid (None: the paper's 3 x 3).
        validation: ``protocol.validation.strategy``: ``group-fraction`` (default: whole speakers held
            out until 10 % of the training items, so lambda/kappa and the epoch are chosen on unseen
            speakers), ``group`` or ``fraction``.
        overrides: Extra ``amber2 train`` overrides, applied last (e.g. ``["optim.lr=1e-3"]``).
        threads: torch threads (None: torch's default).
    """

    simulation: Any = None
    preset: str = "offline"
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2, 3, 4])
    folds: int = 5
    max_epochs: int | None = None
    grid: dict[str, list[float]] | None = None
    validation: str = "group-fraction"
    overrides: list[str] = field(default_factory=list)
    threads: int | None = None

    def training_overrides(self, prepared: Path, embeddings: Path, policy_file: Path) -> list[str]:
        """The ``amber2 train`` overrides of the demo's training stage (the user's come last)."""
        out = [
            f"data.corpus={prepared}", f"data.embeddings={embeddings}", f"data.policy={policy_file}",
            f"protocol.seeds={list(self.seeds)}", f"protocol.validation.strategy={self.validation}",
        ]
        if self.max_epochs is not None:
            out.append(f"optim.max_epochs={int(self.max_epochs)}")
        if self.grid is not None:
            out.append(f"protocol.grid={json.dumps({k: [float(v) for v in vs] for k, vs in self.grid.items()})}")
        return [*out, *self.overrides]


@dataclass
class DemoResult:
    """Paths and numbers of a finished demo."""

    out: Path
    report: Path
    results: Path
    summary: dict[str, dict[str, dict[str, float]]]
    timings: dict[str, float]
    training_reused: bool = False


def demo_policy() -> Any:
    """The demo's label policy: Eq. 1 over every rater, classes in the paper's order."""
    from amber2.labels import LabelPolicy

    return LabelPolicy(name="demo-4class", version="1", classes=DEMO_CLASSES,
                       description="Simulated corpus: Eq. 1 over all raters, 4 classes (neutral, happy, angry, sad)")


def run_demo(out: str | os.PathLike[str] = "runs/demo", config: DemoConfig | None = None, *,
             progress: bool = False, overwrite: bool = False) -> DemoResult:
    """Run the demo end to end and write ``out/report.md`` and ``out/results.json``.

    Re-running into the same folder reuses the corpus, the cached embeddings and a training run made
    with the same settings (see the module docstring).

    Args:
        out: Output folder.
        config: Settings.
        progress: Show progress bars.
        overwrite: When ``out/corpus`` holds a simulated corpus made with other settings, remove it and
            everything the demo derived from it (``prepared/``, ``embeddings/``, ``run/``, the report,
            ``figures/``, ``results.json``) and start again. Without it that is a :class:`DemoError`.

    Returns:
        :class:`DemoResult`.

    Raises:
        DemoError: ``out`` holds a demo made with other settings (and not ``overwrite``; the message names
            the settings that differ), a folder to remove that the demo did not write, or a training run
            whose results lack one of the four systems.
        amber2.demo.synth.SimulationError: Generating some items failed (re-running retries them).
    """
    import torch

    from amber2.demo.synth import CorpusConflictError, SimulationConfig, generate_corpus
    from amber2.encoders import extract
    from amber2.training.config import load_config
    from amber2.training.loading import load_training_data

    config = config or DemoConfig()
    if config.threads:
        torch.set_num_threads(config.threads)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _empty_trash(out)
    timings: dict[str, float] = {}

    t = time.perf_counter()
    sim_config = config.simulation or SimulationConfig()
    try:
        sim = generate_corpus(out / "corpus", sim_config, progress=progress)
    except CorpusConflictError as exc:
        if not overwrite:
            found = exc.describe() if exc.foreign else f"{out} holds a demo made with other settings ({exc.describe()})"
            raise DemoError(
                f"{found}; re-run with --overwrite (Python: overwrite=True) to regenerate the corpus and remove "
                f"what was derived from it (prepared/, embeddings/, run/, the report and results.json under {out}), "
                "or choose another --out folder"
            ) from None
        log.info("overwrite: %s; removing the old demo outputs in %s", exc.describe(), out)
        _remove_derived(out)
        sim = generate_corpus(out / "corpus", sim_config, overwrite=True, progress=progress)
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
    cfg = resolved_config(load_config(None, config.training_overrides(prepared, out / "embeddings", policy_file)))
    td = load_training_data(cfg.data)
    run_dir = out / "run"
    summary, why = _reusable_run(run_dir, cfg, td)
    reused = summary is not None
    if summary is not None:
        log.info("training: reusing the complete run in %s (same resolved config, data fingerprint and folds)",
                 run_dir)
    else:
        if why:
            log.info("training: %s; training again", why)
        _invalidate_run(run_dir)
        (out / "results.json").unlink(missing_ok=True)  # it would describe the earlier run
        ticker = _Ticker(progress)
        try:
            outcome = train_from_config(cfg, out=run_dir, data=td, on_progress=ticker)
        finally:
            ticker.close()
        summary = outcome.result.summary
    timings["train"] = time.perf_counter() - t
    results = _system_results(summary, run_dir)

    t = time.perf_counter()
    stages = ", ".join(f"{k} {v:.0f} s" for k, v in timings.items())
    report = write_report(
        run_dir, out=out / "report.md", title="AmbER² on a simulated multi-rater speech + text corpus",
        corpus_note=f"{_corpus_note(sim, prep)} Pipeline stages on this machine: {stages}"
                    f"{' (training reused from an earlier identical run)' if reused else ''}.",
    )
    append_study_sections(Path(report), out)
    timings["report"] = time.perf_counter() - t

    payload = {**results, "_meta": {
        "timings_s": timings, "training": "reused" if reused else "trained",
        "n_items": sim.n_items, "n_speakers": sim.n_speakers, "n_votes": sim.n_votes,
        "folds": config.folds, "seeds": list(config.seeds), "preset": config.preset,
        "validation": cfg.protocol.validation.model_dump(mode="json"),
        "data_fingerprint": read_json(run_dir / "data.json").get("fingerprint"),
        "std": SPREAD_TEXT.get(cfg.protocol.spread, cfg.protocol.spread).lower(),
    }}
    results_path = atomic_write_json(out / "results.json", payload)
    return DemoResult(out, Path(report), results_path, summary, timings, training_reused=reused)


def append_study_sections(report: Path, out: Path) -> Path:
    """Append each study's section (``out/<study>/section.md``, e.g. ``--study experts``) to the report.

    Studies run in subfolders of the demo folder; their sections replace any written by an earlier call,
    so the report shows the studies present now, in name order.

    Returns:
        The report's path.
    """
    text = report.read_text(encoding="utf-8").split("\n" + _STUDIES_MARK, 1)[0].rstrip("\n") + "\n"
    sections = [p.read_text(encoding="utf-8").strip() for p in sorted(out.glob("*/section.md")) if p.is_file()]
    if sections:
        text += "\n" + _STUDIES_MARK + "\n\n" + "\n\n".join(sections) + "\n"
    atomic_write_text(report, text)
    return report


def _system_results(summary: dict[str, Any], run_dir: Path) -> dict[str, dict[str, dict[str, float]]]:
    """Mean and std of each reported metric for the four systems of results.json.

    Raises:
        DemoError: A system, or a metric of one, missing from the training summary.
    """
    missing = [s for s in SYSTEMS if s not in summary]
    if missing:
        raise DemoError(
            f"the training run in {run_dir} has no results for system(s) {', '.join(missing)} (it has "
            f"{', '.join(summary) or 'none'}); the demo reports {', '.join(SYSTEMS)}: do not switch them off "
            "with --set (e.g. protocol.baseline=none)"
        )
    out: dict[str, dict[str, dict[str, float]]] = {}
    for system in SYSTEMS:
        row: dict[str, dict[str, float]] = {}
        for m in METRICS_OUT:
            stats = summary[system].get(m) or {}
            if stats.get("mean") is None or stats.get("std") is None:
                raise DemoError(f"the training run in {run_dir} has no {m} (mean and std) for system {system}")
            row[m] = {"mean": float(stats["mean"]), "std": float(stats["std"])}
            for extra in ("std_runs", "std_seeds"):
                if stats.get(extra) is not None:
                    row[m][extra] = float(stats[extra])
        out[system] = row
    return out


# ---------------------------------------------------------------------------------------- training reuse
def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(d, dict):
        out: dict[str, Any] = {}
        for k, v in d.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix.rstrip("."): d}


def _jsonish(obj: Any) -> Any:
    from amber2.utils.io import _json_default

    return json.loads(json.dumps(obj, default=_json_default, allow_nan=True))


def _expected_data_info(td: Any) -> dict[str, Any]:
    """The fields of ``run/data.json`` (written by :func:`amber2.workflow.run.write_run`) that pin the data."""
    import numpy as np

    from amber2._version import __version__

    folds = np.asarray(td.folds)
    info = {
        "amber2_version": __version__,
        "fingerprint": td.data.fingerprint(),
        "n_items": len(td.data),
        "classes": list(td.data.classes),
        "modalities": td.data.dims,
        "folds": {str(int(f)): int((folds == f).sum()) for f in np.unique(folds)},
    }
    info.update({k: v for k, v in (td.info or {}).items() if k.endswith("_fingerprint")})
    return _jsonish(info)


def _reusable_run(run_dir: Path, cfg: Any, td: Any) -> tuple[dict[str, Any] | None, str]:
    """``(summary, "")`` when ``run_dir`` holds a complete run of this config and data, else ``(None, why)``.

    A run is reused when every file of a complete run is there (``results.json`` ... the final model),
    its ``config.yaml`` equals this resolved config, its ``data.json`` has the same data fingerprint
    (ids, embeddings, targets, classes), amber2 version, corpus / policy / label fingerprints and fold
    sizes, and its ``predictions.npz`` the same fold of every item.
    """
    import numpy as np
    import yaml

    if not run_dir.is_dir():
        return None, ""
    absent = [f for f in _RUN_COMPLETE if not (run_dir / f).is_file()]
    if absent:
        return None, f"{run_dir} holds no complete run ({', '.join(absent)} missing)"
    try:
        stored_cfg = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8"))
        stored_data = read_json(run_dir / "data.json")
        results = read_json(run_dir / "results.json")
        with np.load(run_dir / "predictions.npz", allow_pickle=False) as z:
            ids, folds = [str(i) for i in z["ids"]], np.asarray(z["folds"])
    except Exception as exc:  # unreadable: not reusable
        return None, f"cannot read the earlier run in {run_dir} ({type(exc).__name__}: {exc})"
    want_cfg = _flatten(_jsonish(cfg.model_dump(mode="json")))
    have_cfg = _flatten(stored_cfg if isinstance(stored_cfg, dict) else {})
    changed = sorted(k for k in set(want_cfg) | set(have_cfg) if want_cfg.get(k, "?") != have_cfg.get(k, "?"))
    if changed:
        shown = ", ".join(changed[:6]) + (" ..." if len(changed) > 6 else "")
        return None, f"the earlier run in {run_dir} has another training config ({shown})"
    want_data = _expected_data_info(td)
    changed = sorted(k for k, v in want_data.items() if stored_data.get(k) != v)
    if changed:
        return None, f"the earlier run in {run_dir} was trained on other data ({', '.join(changed)} differ)"
    if ids != [str(i) for i in td.data.ids] or not np.array_equal(folds, np.asarray(td.folds)):
        return None, f"the earlier run in {run_dir} used another fold assignment"
    summary = results.get("summary") if isinstance(results, dict) else None
    if not isinstance(summary, dict):
        return None, f"{run_dir / 'results.json'} has no summary"
    return summary, ""


def _invalidate_run(run_dir: Path) -> None:
    """Remove the files that mark a run complete before training into ``run_dir`` again."""
    for name in _RUN_MARKERS:
        (run_dir / name).unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------- overwrite
def _looks_like(folder: Path, markers: tuple[str, ...]) -> bool:
    """Whether ``folder`` is empty or holds one of the files the demo's stage writes there."""
    try:
        entries = list(folder.iterdir())
    except OSError:
        return False
    return not entries or any((folder / m).exists() for m in markers)


def _remove_derived(out: Path) -> None:
    """Remove what the demo derived from its corpus in ``out`` (and nothing else).

    Every folder is checked first (a folder the demo did not write stops everything, before anything is
    removed); each is then renamed to a hidden name in one atomic step and deleted, so an interrupted
    removal never leaves a half-deleted folder that a later run would take for a finished stage.

    Raises:
        DemoError: A folder named like a demo stage that the demo did not write.
    """
    plan: list[Path] = []
    for name, markers in _DERIVED_DIRS.items():
        folder = out / name
        if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
            raise DemoError(f"{folder} is not a folder the demo wrote; remove it yourself or choose another --out")
        if folder.is_dir():
            if not _looks_like(folder, markers):
                raise DemoError(f"{folder} does not look like the demo's {name} stage (none of "
                                f"{', '.join(markers)}); remove it yourself or choose another --out")
            plan.append(folder)
    figures = out / "figures"
    if figures.is_dir() and not figures.is_symlink():
        if any(not (p.is_file() and p.suffix == ".png") for p in figures.iterdir()):
            raise DemoError(f"{figures} holds files other than the report's PNG figures; remove it yourself or "
                            "choose another --out")
        plan.append(figures)
    for name in _DERIVED_FILES:  # results first: a stale results.json must not outlive its run
        f = out / name
        if f.is_file() and not f.is_symlink():
            f.unlink()
    for folder in plan:
        trash = out / f".{folder.name}.removing-{uuid.uuid4().hex[:12]}"
        os.replace(folder, trash)
        shutil.rmtree(trash)
        log.info("overwrite: removed %s", folder)


def _empty_trash(out: Path) -> None:
    """Finish removals that an earlier ``overwrite`` started and was interrupted in."""
    for p in out.iterdir():
        if p.is_dir() and not p.is_symlink() and _TRASH.match(p.name):
            shutil.rmtree(p, ignore_errors=True)


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
