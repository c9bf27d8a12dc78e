"""Fit one model on all the data you have (no cross-validation): the model you then use.

The protocol (:mod:`amber2.training.protocol`) estimates how well AmbER² works; :func:`fit_model`
trains the model you deploy: a validation share of the items picks the epoch, the rest trains.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from amber2.metrics import evaluate
from amber2.model.heads import AmbER2Model, ModelConfig, ModelSettings
from amber2.training.config import LossConfig, OptimConfig, ValidationConfig
from amber2.training.data import LabeledSet
from amber2.training.device import resolve_device, resolve_precision
from amber2.training.single import train_run
from amber2.training.splits import validation_split

__all__ = ["FitResult", "fit_model", "model_config_for"]


def model_config_for(data: LabeledSet, settings: ModelSettings) -> ModelConfig:
    """The :class:`ModelConfig` for ``data``'s modalities and classes (:meth:`ModelSettings.for_data`).

    With a single modality there is no fusion head, and that modality's head is the student.
    """
    return settings.for_data(data.dims, data.n_classes)


@dataclass
class FitResult:
    """A fitted model and how it was selected.

    Attributes:
        model: The model at the selected epoch (eval mode).
        classes: Class names.
        epochs: Selected epoch per head.
        val_metrics: Validation metrics per reported head.
        history: Validation selection metric per epoch and head.
        info: Split sizes, seed, objective.
    """

    model: AmbER2Model
    classes: list[str]
    epochs: dict[str, int]
    val_metrics: dict[str, dict[str, float]]
    history: dict[str, list[float]]
    info: dict[str, Any] = field(default_factory=dict)


def fit_model(
    data: LabeledSet,
    *,
    model: ModelSettings | None = None,
    optim: OptimConfig | None = None,
    loss: LossConfig | None = None,
    validation: ValidationConfig | None = None,
    seed: int = 0,
    device: str | None = None,
) -> FitResult:
    """Train one model on ``data`` with a validation split for epoch selection.

    Args:
        data: Embeddings and target distributions.
        model: Architecture settings.
        optim: Optimiser settings (paper defaults).
        loss: Objective (AmbER² with lambda_MAI 0.5, kappa 4 by default; pick from a protocol run).
        validation: How the validation share is drawn.
        seed: Seed.
        device: Torch device to train on (default: a GPU when present); the model is returned on the host.

    Returns:
        :class:`FitResult`.
    """
    model, optim = model or ModelSettings(), optim or OptimConfig()
    loss, validation = loss or LossConfig(), validation or ValidationConfig()
    cfg = model_config_for(data, model)
    tr, va = validation_split(data, np.arange(len(data)), validation, fold=-1)
    run = train_run(data, tr, va, va, model_config=cfg, optim=optim, loss=loss, seed=seed, fold=-1, keep_state=True,
                    device=device)
    net = AmbER2Model(cfg, seed=seed)
    assert run.state is not None
    net.load_state_dict(run.state)
    net.eval()
    y_val = data.Y[va]
    return FitResult(
        model=net, classes=list(data.classes),
        epochs={h: r.epoch for h, r in run.heads.items()},
        val_metrics={h: evaluate(y_val, run.heads[h].val_pred) for h in run.reported},
        history={h: r.history for h, r in run.heads.items()},
        info={"n_train": len(tr), "n_val": len(va), "seed": seed, "objective": loss.label(),
              "epochs_trained": run.epochs_trained, "precision": resolve_precision(optim.precision,
                                                                                   resolve_device(device))},
    )
