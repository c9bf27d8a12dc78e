"""``amber2 train`` as a function: data from a config, the protocol, the run directory, the final model.

The run directory's layout is described in :mod:`amber2.training.outputs`; :func:`write_run` adds the
paper's tables (:mod:`amber2.report`) to the files that module writes, and the final model is saved as
an inference bundle (:mod:`amber2.inference`), which is why this orchestration sits above both.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from amber2.training.config import LossConfig, TrainConfig
from amber2.training.data import LabeledSet
from amber2.training.fit import fit_model
from amber2.training.loading import TrainingData, load_training_data
from amber2.training.outputs import write_run_files
from amber2.training.protocol import ProtocolResult, run_protocol
from amber2.utils.io import atomic_write_text

__all__ = ["TrainOutcome", "chosen_objective", "train_from_config", "write_run"]

log = logging.getLogger(__name__)


@dataclass
class TrainOutcome:
    """What :func:`train_from_config` produced."""

    result: ProtocolResult
    out: Path
    model_dir: Path | None
    data: TrainingData


def write_run(
    result: ProtocolResult,
    out: str | os.PathLike[str],
    *,
    config: TrainConfig,
    data: LabeledSet,
    folds: np.ndarray,
    data_info: dict[str, Any] | None = None,
) -> Path:
    """Write a protocol's results into ``out``: the layout of :mod:`amber2.training.outputs` + ``tables.md``.

    Args:
        result: The protocol's result.
        out: Run directory (created).
        config: The resolved training configuration (``config.yaml``).
        data: The data the protocol ran on (fingerprint, truth, item metadata).
        folds: Test fold per item.
        data_info: More fields for ``data.json`` (label policy, corpus fingerprint, dropped items).

    Returns:
        ``out`` as a path; read it back with :func:`amber2.training.outputs.load_run`.
    """
    from amber2.report.tables import paper_tables_markdown

    path, comparison = write_run_files(result, out, config=config, data=data, folds=folds, data_info=data_info)
    atomic_write_text(path / "tables.md", paper_tables_markdown(result.summary, comparison,
                                                                    student=result.info["model"].get("student")))
    return path


def chosen_objective(result: ProtocolResult) -> LossConfig | None:
    """The AmbER² grid point chosen most often across folds (ties: the best mean validation score)."""
    chosen = result.info.get("chosen") or {}
    if not chosen:
        return None
    counts = Counter(chosen.values())
    sel = result.selection
    best_label = max(counts, key=lambda lab: (counts[lab], -sel[sel.objective == lab]["val_score"].mean()))
    for r in result.runs:
        if r.config == best_label:
            return r.loss
    return None


def train_from_config(
    config: TrainConfig,
    *,
    out: str | os.PathLike[str] | None = None,
    data: TrainingData | None = None,
    final_model: bool = True,
    on_progress: Callable[[int, int], None] | None = None,
) -> TrainOutcome:
    """Load data, run the protocol, write the run directory and fit the final AmbER² model.

    Args:
        config: The training configuration (``config.data`` says where the data is).
        out: Run directory (default ``config.out``).
        data: Already loaded data (skips ``config.data``).
        final_model: Also train one model on all items with the most often chosen grid point and
            save it as a bundle in ``OUT/model`` (the model you deploy).
        on_progress: Progress callback ``(done, total)``.

    Returns:
        :class:`TrainOutcome`.
    """
    import torch

    if config.threads:
        torch.set_num_threads(config.threads)
    td = data or load_training_data(config.data)
    out_dir = Path(out or config.out)
    result = run_protocol(td.data, td.folds, config, on_progress=on_progress)
    write_run(result, out_dir, config=config, data=td.data, folds=td.folds, data_info=td.info)
    model_dir = None
    objective = chosen_objective(result)
    if final_model and objective is not None:
        validation = config.protocol.validation
        if validation.strategy == "emo-superb":  # no test fold, so no EMO-SUPERB validation fold: draw a share
            validation = validation.model_copy(update={"strategy": "fraction", "scheme": None})
        fit = fit_model(td.data, model=config.model, optim=config.optim, loss=objective,
                        validation=validation, seed=config.protocol.seeds[0])
        model_dir = save_final_model(out_dir / "model", fit, td, config, result, objective)
    return TrainOutcome(result, out_dir, model_dir, td)


def save_final_model(path: Path, fit: Any, td: TrainingData, config: TrainConfig, result: ProtocolResult,
                     objective: LossConfig) -> Path:
    """Save the final model as an inference bundle (safetensors + JSON)."""
    from amber2.inference.bundle import save_bundle

    metrics = {"protocol": result.summary.get("amber2", {}), "validation": fit.val_metrics}
    return save_bundle(path, fit.model, classes=fit.classes, encoders=td.encoders, label_policy=td.policy,
                       training_config=config.model_dump(mode="json"), metrics=metrics,
                       objective=objective.model_dump(mode="json"))
