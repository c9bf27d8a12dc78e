r"""``amber2 demo --study experts``: the AmbER² options beyond the paper, on two simulated corpora.

Issue 15 found, on a real acted corpus whose words carry no emotion, that AmbER² loses to the CB-CE
audio head on UAR (the JS objective is not class-balanced: the smallest class collapses) and that the
uninformative text expert keeps weight (:math:`D_m = JS(p_m \| y) \le \ln 2` and the paper's kappa
stops at 8). This study trains, on the demo's simulated corpus, each option that addresses it beside
the paper's method and the CB-CE baseline:

==================  ===============================================================================
variant             what changes (``amber2 train`` overrides)
==================  ===============================================================================
``paper``           nothing: the paper's method (Eq. 3-6, grid lambda_MAI {0.3,0.5,0.7} x kappa {2,4,8})
``class_balanced``  ``loss.options.class_balanced=true``: RAI and MAI terms weighted by CB-CE's weights
``wide_grid``       ``protocol.grid=wide``: lambda_MAI down to 0.1, kappa up to 32
``null_expert``     ``loss.options.null_expert=true``: the class prior competes in the softmax of u_m
==================  ===============================================================================

on two corpora: ``emotional_words`` (the demo's default simulator settings) and ``neutral_words``
(:meth:`amber2.demo.synth.SimulationConfig.with_neutral_words`: every emotional item is read with a
neutral sentence, so only the voice tells the classes apart, as on CREMA-D).

Layout under ``OUT`` (each corpus folder is a complete demo: its ``report.md`` is the paper variant)::

    OUT/emotional_words/   corpus, prepared, embeddings, run (paper + CB-CE), report.md
                           (``amber2 demo --study experts``: the demo's own folder instead)
    OUT/emotional_words/run-<variant>/   one training run per option (AmbER² only: baseline none)
    OUT/neutral_words/...
    OUT/study.json         every row below, with the settings
    OUT/section.md         the results table, appended to the demo's report by ``amber2 demo``

Each row is one system of one run: UAR, macro-F1, accuracy and JS as the protocol reports them (mean
over fold x seed runs), and the recall of every class from the test predictions pooled over the folds
(mean over seeds). Re-running reuses every finished run with the same settings.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from amber2.utils.io import atomic_write_json, atomic_write_text
from amber2.workflow.demo import DemoConfig, append_study_sections, run_demo

__all__ = ["STUDY_CORPORA", "STUDY_VARIANTS", "ExpertsStudyResult", "run_experts_study", "study_table"]

log = logging.getLogger(__name__)

#: The options compared, as ``amber2 train`` overrides (``paper`` is the demo's own run).
STUDY_VARIANTS: dict[str, tuple[str, ...]] = {
    "paper": (),
    "class_balanced": ("loss.options.class_balanced=true",),
    "wide_grid": ("protocol.grid=wide",),
    "null_expert": ("loss.options.null_expert=true",),
}
#: The corpora: the demo's default words, and words that carry no emotion for any item.
STUDY_CORPORA: tuple[str, ...] = ("emotional_words", "neutral_words")
#: The systems of the table, besides AmbER² of each variant (the CB-CE heads of the paper run).
_BASELINES: tuple[str, ...] = ("baseline_audio", "baseline_fusion")
_METRICS: tuple[str, ...] = ("uar", "f1", "acc", "js")


@dataclass
class ExpertsStudyResult:
    """What :func:`run_experts_study` wrote: the rows and the paths."""

    out: Path
    rows: list[dict[str, Any]]
    table: str
    study: Path
    section: Path
    settings: dict[str, Any] = field(default_factory=dict)


def run_experts_study(out: str | os.PathLike[str], config: DemoConfig | None = None, *,
                      variants: tuple[str, ...] = tuple(STUDY_VARIANTS), progress: bool = False,
                      overwrite: bool = False, report: str | os.PathLike[str] | None = None,
                      demo_dir: str | os.PathLike[str] | None = None) -> ExpertsStudyResult:
    """Train every variant on both corpora and write ``study.json`` and the table ``section.md``.

    Args:
        out: The study folder (``amber2 demo --study experts --out DIR`` uses ``DIR/experts``).
        config: The demo's settings (simulation size, seeds, folds, epochs); the corpus variant and the
            options are set here.
        variants: Which of :data:`STUDY_VARIANTS` to train (``paper`` is always trained: it holds the
            CB-CE baseline).
        progress: Show progress bars.
        overwrite: Passed to :func:`amber2.workflow.demo.run_demo` (a corpus made with other settings).
        report: A demo ``report.md`` to which the study's section is appended (replacing an earlier one).
        demo_dir: A demo folder made with ``config`` (``amber2 demo --study`` passes its own): used as the
            ``emotional_words`` corpus folder, so its corpus, embeddings and paper run are reused and its
            ``run-<variant>`` folders are written there.

    Returns:
        :class:`ExpertsStudyResult`.

    Raises:
        ValueError: An unknown variant.
    """
    from amber2.demo.synth import SimulationConfig

    unknown = [v for v in variants if v not in STUDY_VARIANTS]
    if unknown:
        raise ValueError(f"unknown experts-study variant(s) {unknown}; known: {list(STUDY_VARIANTS)}")
    variants = ("paper", *(v for v in variants if v != "paper"))
    config = config or DemoConfig()
    out = Path(out)
    base_sim = config.simulation or SimulationConfig()
    rows: list[dict[str, Any]] = []
    for corpus in STUDY_CORPORA:
        sim = base_sim if corpus == "emotional_words" else base_sim.with_neutral_words()
        folder = Path(demo_dir) if demo_dir is not None and corpus == "emotional_words" else out / corpus
        log.info("experts study: %s corpus, paper variant + CB-CE (the demo)", corpus)
        run_demo(folder, dataclasses.replace(config, simulation=sim), progress=progress, overwrite=overwrite)
        runs = {"paper": folder / "run"}
        for variant in variants[1:]:
            log.info("experts study: %s corpus, variant %s", corpus, variant)
            runs[variant] = _train_variant(folder, config, variant)
        rows += _rows(corpus, runs)
    table = study_table(rows)
    settings = {"seeds": list(config.seeds), "folds": config.folds, "max_epochs": config.max_epochs,
                "n_speakers": base_sim.n_speakers, "utterances_per_speaker": base_sim.utterances_per_speaker,
                "variants": {v: list(STUDY_VARIANTS[v]) for v in variants}}
    study = atomic_write_json(out / "study.json", {"settings": settings, "rows": rows})
    section = atomic_write_text(out / "section.md", _section(table, settings))
    if report is not None and Path(report).is_file():
        append_study_sections(Path(report), Path(report).parent)
    return ExpertsStudyResult(out, rows, table, Path(study), Path(section), settings)


def _train_variant(folder: Path, config: DemoConfig, variant: str) -> Path:
    """Train one option on a demo folder's prepared corpus and embeddings (reused when unchanged)."""
    from amber2.training.config import load_config
    from amber2.training.loading import load_training_data
    from amber2.workflow.demo import _invalidate_run, _reusable_run
    from amber2.workflow.run import train_from_config

    prepared = folder / "prepared"
    overrides = [*config.training_overrides(prepared, folder / "embeddings", prepared / "policy.json"),
                 "protocol.baseline=none", *STUDY_VARIANTS[variant]]
    cfg = load_config(None, overrides)
    td = load_training_data(cfg.data)
    run_dir = folder / f"run-{variant}"
    summary, why = _reusable_run(run_dir, cfg, td)
    if summary is None:
        if why:
            log.info("%s; training again", why)
        _invalidate_run(run_dir)
        train_from_config(cfg, out=run_dir, data=td)
    return run_dir


def _rows(corpus: str, runs: dict[str, Path]) -> list[dict[str, Any]]:
    """One row per (system, variant): the protocol's means and the pooled per-class recall."""
    from amber2.training.outputs import load_run

    rows = []
    for variant, run_dir in runs.items():
        record = load_run(run_dir)
        systems = [*_BASELINES, "amber2"] if variant == "paper" else ["amber2"]
        for system in systems:
            name = ("AmbER² " + variant.replace("_", " ")) if system == "amber2" else \
                f"CB-CE {system.removeprefix('baseline_')}"
            row: dict[str, Any] = {"corpus": corpus, "variant": variant, "system": system, "name": name}
            stats = record.summary[system]
            for m in _METRICS:
                row[m] = float(stats[m]["mean"])
                row[f"{m}_std"] = stats[m].get("std")
            row["recall"] = _class_recall(record, system)
            if system == "amber2":
                row["chosen"] = _chosen(record)
            rows.append(row)
    return rows


def _class_recall(record: Any, system: str) -> dict[str, float]:
    """Recall of each class (argmax of the raters' distribution), pooled over folds, mean over seeds."""
    truth = np.asarray(record.predictions["truth"], dtype=np.float64)
    classes = record.classes
    recalls = []
    for seed in record.seeds():
        pred = np.asarray(record.pooled(system, seed), dtype=np.float64)
        ok = np.isfinite(pred).all(axis=1) & np.isfinite(truth).all(axis=1)
        t, p = truth[ok].argmax(axis=1), pred[ok].argmax(axis=1)
        recalls.append([float((p[t == k] == k).mean()) if (t == k).any() else np.nan for k in range(len(classes))])
    mean = np.nanmean(np.asarray(recalls), axis=0)
    return {c: float(v) for c, v in zip(classes, mean, strict=True)}


def _chosen(record: Any) -> dict[str, int]:
    """How often each grid point was chosen (over folds, or folds x seeds)."""
    counts: dict[str, int] = {}
    for value in (record.results.get("chosen") or {}).values():
        key = str(value)
        counts[key] = counts.get(key, 0) + 1
    return counts


def study_table(rows: list[dict[str, Any]]) -> str:
    """The Markdown table of the rows: UAR, macro-F1, accuracy, JS and the recall of every class."""
    if not rows:
        return ""
    classes = list(rows[0]["recall"])
    head = ["corpus", "system", "UAR", "macro-F1", "acc", "JS", *(f"recall {c}" for c in classes)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["corpus"].replace("_", " "), r["name"], *(f"{r[m]:.3f}" for m in _METRICS),
                 *(f"{r['recall'][c]:.3f}" for c in classes)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _section(table: str, settings: dict[str, Any]) -> str:
    return (
        "## Experts study: options beyond the paper, and words that carry no emotion\n\n"
        "`amber2 demo --study experts` (docs/experts_study.md). AmbER² with the paper's method and with each "
        "option beyond the paper (off by default), beside the CB-CE baseline, on the demo corpus "
        "(`emotional words`) and on the same corpus read with neutral sentences only (`neutral words`: the "
        "words carry no emotion for any item). UAR, macro-F1, accuracy and JS: mean over fold x seed runs; "
        "recall: per class, test predictions pooled over folds, mean over seeds. "
        f"Size: {settings['n_speakers']} speakers x {settings['utterances_per_speaker']} utterances, "
        f"{settings['folds']} folds, seeds {settings['seeds']}, "
        f"{settings['max_epochs'] or 30} epochs at most.\n\n" + table
    )
