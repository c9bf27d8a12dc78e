"""Evaluate a saved model on embeddings + target distributions (``amber2 evaluate``)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import torch

from amber2.metrics import evaluate, list_metrics, per_bin_metrics
from amber2.training.checkpoint import load_checkpoint
from amber2.training.data import DataError, LabeledSet
from amber2.training.device import matmul_precision, resolve_device
from amber2.training.single import predict_probs

__all__ = ["evaluate_model"]


def evaluate_model(
    model_dir: str | os.PathLike[str],
    data: LabeledSet,
    *,
    metrics: Sequence[str] | None = None,
    n_bins: int = 4,
    device: str | None = None,
) -> dict[str, Any]:
    """Score every head of a saved model on ``data``.

    Args:
        model_dir: A checkpoint / bundle directory.
        data: Items to score (their modalities must match the model's).
        metrics: Metric names (default: every registered metric).
        n_bins: Ambiguity bins for the student's per-bin breakdown.
        device: Torch device for the forward pass (default: a GPU when present). Probabilities are
            computed in float32 and scored on the host.

    Returns:
        ``{"n_items", "classes", "heads": {head: {metric: value}}, "student", "bins": [rows]}``.

    Raises:
        DataError: Classes or modality widths that do not match the model.
    """
    model, meta = load_checkpoint(model_dir)
    classes = meta["classes"]
    if list(classes) != list(data.classes) and not all(c.startswith("class") for c in data.classes):
        raise DataError(f"the model predicts classes {classes}, the data has {data.classes}")
    dims = model.config.dims
    for m, d in dims.items():
        if m in data.X and data.X[m].shape[1] != d:
            raise DataError(f"modality {m!r}: the model expects {d}-d embeddings, the data has {data.X[m].shape[1]}")
    xs = {m: torch.from_numpy(data.X[m]) for m in dims if m in data.X}
    if not xs:
        raise DataError(f"none of the model's modalities {list(dims)} is in the data ({data.modalities})")
    model.to(resolve_device(device))
    with matmul_precision("fp32"):
        probs = predict_probs(model, xs)
    names = list(metrics or list_metrics())
    heads = {h: evaluate(data.Y, p, metrics=names) for h, p in probs.items()}
    student = model.config.student
    bins = []
    if student in probs:
        bins = per_bin_metrics(data.Y, probs[student], n_bins=n_bins).to_dict(orient="records")
    return {"n_items": len(data), "classes": list(classes), "student": student,
            "heads": {h: {k: float(v) for k, v in d.items()} for h, d in heads.items()},
            "bins": bins, "model": str(model_dir), "objective": meta.get("metadata", {}).get("objective")}
