"""The run directory: everything a protocol run produced, written so that results stay traceable.

::

    RUN/
      config.yaml        the resolved TrainConfig
      data.json          data fingerprint, items, classes, modalities and widths, label policy
                         (rule + fingerprint), corpus fingerprint, items dropped and why
      results.json       per system and metric: mean, std (over seeds of fold means), n; the grid
                         points chosen per fold; the paired comparison AmbER² vs baseline; timings
      scores.csv         every run's test metrics: system, head, fold, seed, objective, epoch, metric, value
      selection.csv      the grid search on validation (fold, seed, objective, val score, chosen)
      comparison.csv     paired comparison over (fold, seed) pairs
      tables.md          the paper's Tables 1-4 layout
      predictions.npz    ids, classes, truth, test fold per item, and for each system/head and seed
                         the test predictions pooled over folds (NaN rows: never tested)
      model/             the final AmbER² model (safetensors + JSON), when trained

:func:`load_run` reads it back for reports and comparisons.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from amber2._version import __version__
from amber2.training.config import TrainConfig
from amber2.training.data import LabeledSet
from amber2.training.protocol import ProtocolResult, paired_comparison
from amber2.utils.io import atomic_path, atomic_write_json, atomic_write_text, read_json

__all__ = ["RunRecord", "load_run", "write_run"]


def _csv(df: pd.DataFrame, path: Path) -> None:
    atomic_write_text(path, df.to_csv(index=False))


def write_run(
    result: ProtocolResult,
    out: str | os.PathLike[str],
    *,
    config: TrainConfig,
    data: LabeledSet,
    folds: np.ndarray,
    data_info: dict[str, Any] | None = None,
) -> Path:
    """Write a protocol's results into ``out`` (see the module docstring for the layout)."""
    from amber2.report.tables import paper_tables_markdown

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "config.yaml", config.to_yaml())
    info = {
        "amber2_version": __version__,
        "fingerprint": data.fingerprint(),
        "n_items": len(data),
        "classes": list(data.classes),
        "modalities": data.dims,
        "folds": {str(int(f)): int((np.asarray(folds) == f).sum()) for f in np.unique(folds)},
        **(data_info or {}),
    }
    atomic_write_json(out / "data.json", info)
    comparison = paired_comparison(result) if {"amber2", "baseline_fusion"} <= set(result.summary) else pd.DataFrame()
    atomic_write_json(out / "results.json", {
        "summary": result.summary,
        "chosen": result.info.get("chosen", {}),
        "info": {k: v for k, v in result.info.items() if k != "chosen"},
        "comparison": comparison.to_dict(orient="records"),
        "seconds": result.seconds,
        "data_fingerprint": info["fingerprint"],
    })
    _csv(result.scores, out / "scores.csv")
    _csv(result.selection, out / "selection.csv")
    _csv(comparison, out / "comparison.csv")
    atomic_write_text(out / "tables.md", paper_tables_markdown(result.summary, comparison,
                                                                   student=result.info["model"].get("student")))

    arrays: dict[str, np.ndarray] = {
        "ids": np.asarray(result.ids), "classes": np.asarray(result.classes), "truth": data.Y,
        "folds": np.asarray(folds),
    }
    for system in result.summary:
        for seed in result.info["seeds"]:
            if system.startswith("amber2_"):
                pred = result.pooled_predictions("amber2", seed, head=system.removeprefix("amber2_"))
            else:
                pred = result.pooled_predictions(system, seed)
            arrays[f"{system}/seed{seed}"] = pred
    for name, values in data.meta.items():
        arrays[f"meta/{name}"] = np.asarray(values).astype(str)
    with atomic_path(out / "predictions.npz", suffix=".npz") as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays)
    return out


@dataclass
class RunRecord:
    """A run directory read back (see :func:`load_run`)."""

    path: Path
    config: dict[str, Any]
    data: dict[str, Any]
    results: dict[str, Any]
    scores: pd.DataFrame
    selection: pd.DataFrame
    comparison: pd.DataFrame
    predictions: dict[str, np.ndarray]

    @property
    def summary(self) -> dict[str, dict[str, dict[str, float]]]:
        """``{system: {metric: {mean, std, n_seeds}}}``."""
        return self.results["summary"]

    @property
    def classes(self) -> list[str]:
        """Class names."""
        return [str(c) for c in self.predictions["classes"]]

    def pooled(self, system: str, seed: int) -> np.ndarray:
        """Pooled test predictions of a system and seed (NaN rows: never tested)."""
        return self.predictions[f"{system}/seed{seed}"]

    def seeds(self) -> list[int]:
        """Seeds of the run."""
        return [int(s) for s in self.results["info"]["seeds"]]


def load_run(path: str | os.PathLike[str]) -> RunRecord:
    """Read a run directory written by :func:`write_run`.

    Raises:
        FileNotFoundError: ``path`` is not a run directory (names the missing file).
    """
    import yaml

    p = Path(path)
    for name in ("results.json", "scores.csv", "predictions.npz"):
        if not (p / name).exists():
            raise FileNotFoundError(f"{p} is not an amber2 run directory: {name} is missing")

    def _read(name: str) -> pd.DataFrame:
        f = p / name
        if not f.exists() or f.stat().st_size <= 1:
            return pd.DataFrame()
        return pd.read_csv(f)

    with np.load(p / "predictions.npz", allow_pickle=False) as z:
        preds = {k: z[k] for k in z.files}
    return RunRecord(
        path=p,
        config=yaml.safe_load((p / "config.yaml").read_text()) if (p / "config.yaml").exists() else {},
        data=read_json(p / "data.json") if (p / "data.json").exists() else {},
        results=read_json(p / "results.json"),
        scores=_read("scores.csv"),
        selection=_read("selection.csv"),
        comparison=_read("comparison.csv"),
        predictions=preds,
    )
