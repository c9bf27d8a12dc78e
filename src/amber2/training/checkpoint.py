"""Saving and loading trained models: safetensors weights + a JSON description. Never pickle.

A checkpoint directory holds::

    model.safetensors   the weights of an AmbER2Model (state dict, float32)
    model.json          format version, amber2 version, the ModelConfig, class names, seed and any
                        caller metadata (label policy, training config, metrics, encoders' spec)
    checksums.json      SHA-256 of both files, written last (:mod:`amber2.utils.integrity`); loading
                        verifies it first and refuses a changed or truncated file by name, then
                        refuses weights holding NaN or inf

Inference bundles (:mod:`amber2.inference`) build on this format.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from amber2._version import __version__
from amber2.model.heads import AmbER2Model, ModelConfig
from amber2.utils.integrity import verify_checksums, write_checksums
from amber2.utils.io import atomic_path, atomic_write_json

__all__ = ["CHECKPOINT_FORMAT", "CheckpointError", "load_checkpoint", "save_checkpoint", "verify_checkpoint"]

CHECKPOINT_FORMAT = 1
WEIGHTS = "model.safetensors"
META = "model.json"
CHECKSUMS = "checksums.json"


class CheckpointError(ValueError):
    """A checkpoint is missing, malformed or from an incompatible format."""


def save_checkpoint(
    path: str | os.PathLike[str],
    model: AmbER2Model | None = None,
    *,
    state: Mapping[str, torch.Tensor] | None = None,
    config: ModelConfig | None = None,
    classes: list[str],
    metadata: Mapping[str, Any] | None = None,
) -> Path:
    """Write a checkpoint directory (atomically, file by file).

    Args:
        path: Output directory.
        model: The model (or give ``state`` and ``config``).
        state: A state dict of an :class:`AmbER2Model`.
        config: Its :class:`ModelConfig`.
        classes: Class names in output order.
        metadata: JSON-serialisable extras (policy, training config, metrics, encoders, ...).

    Returns:
        The directory.
    """
    from safetensors.torch import save_file

    if model is not None:
        state, config = model.state_dict(), model.config
    if state is None or config is None:
        raise ValueError("save_checkpoint needs a model, or a state dict and its ModelConfig")
    if len(classes) != config.n_classes:
        raise ValueError(f"{len(classes)} class names for a model with {config.n_classes} outputs")
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    (out / CHECKSUMS).unlink(missing_ok=True)  # a half-rewritten folder must not pass verification
    tensors = {k: v.detach().to(torch.float32).contiguous().cpu() for k, v in state.items()}
    with atomic_path(out / WEIGHTS) as tmp:
        save_file(tensors, str(tmp), metadata={"format": "amber2", "amber2_version": __version__})
    meta = {
        "format": "amber2.checkpoint", "format_version": CHECKPOINT_FORMAT, "amber2_version": __version__,
        "model": config.to_dict(), "classes": list(classes), "metadata": dict(metadata or {}),
    }
    atomic_write_json(out / META, meta)
    write_checksums(out, [META, WEIGHTS], CHECKSUMS)
    return out


def verify_checkpoint(path: str | os.PathLike[str]) -> bool:
    """Check the files of a checkpoint against its ``checksums.json``.

    Returns:
        True when verified; False for a checkpoint saved before checksums were written.

    Raises:
        CheckpointError: A file is missing or its bytes changed (the message names it).
    """
    return verify_checksums(path, CHECKSUMS, error=CheckpointError) is not None


def load_checkpoint(path: str | os.PathLike[str], *, map_location: str = "cpu") -> tuple[AmbER2Model, dict[str, Any]]:
    """Load a checkpoint directory written by :func:`save_checkpoint`.

    Returns:
        ``(model in eval mode, description dict)``.

    Raises:
        CheckpointError: Missing files, a foreign or newer format, or weights that do not fit the
            described architecture (the message says which).
    """
    from safetensors.torch import load_file

    p = Path(path)
    if not (p / META).exists() or not (p / WEIGHTS).exists():
        raise CheckpointError(f"{p} is not an amber2 checkpoint: expected {META} and {WEIGHTS}")
    verify_checkpoint(p)
    try:
        meta = json.loads((p / META).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{p / META} is not valid JSON: {exc}") from None
    if meta.get("format") != "amber2.checkpoint":
        raise CheckpointError(f"{p / META} is not an amber2 checkpoint description")
    if int(meta.get("format_version", 0)) > CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"{p} has checkpoint format {meta.get('format_version')} (written by amber2 {meta.get('amber2_version')}); "
            f"this amber2 {__version__} reads format <= {CHECKPOINT_FORMAT}: upgrade amber2"
        )
    config = ModelConfig.from_dict(meta["model"])
    model = AmbER2Model(config)
    state = load_file(str(p / WEIGHTS), device=map_location)
    for name, tensor in state.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise CheckpointError(f"{p / WEIGHTS}: weight {name!r} holds NaN or inf values; the model is "
                                  "unusable (re-train or re-export it)")
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:
        raise CheckpointError(f"{p}: weights do not fit the described architecture: {exc}") from None
    if missing or unexpected:
        raise CheckpointError(f"{p}: weights do not fit the architecture (missing {missing}, unexpected {unexpected})")
    model.to(map_location).eval()
    return model, meta
