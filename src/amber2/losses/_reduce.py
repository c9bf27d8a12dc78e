"""Reductions and hyperparameter broadcasting shared by the losses."""

from __future__ import annotations

import contextlib
import contextvars
import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import Tensor

__all__ = ["as_hyperparameter", "broadcast_shape", "trusted_values", "weighted_mean"]

#: Whether the losses check tensor *values* (non-negative weights, finite hyperparameters). Each such
#: check reads a tensor on the host: on a GPU it waits for the device. Shape checks always run.
_CHECK_VALUES: contextvars.ContextVar[bool] = contextvars.ContextVar("amber2_loss_value_checks", default=True)


@contextlib.contextmanager
def trusted_values() -> Iterator[None]:
    """Skip the losses' value checks inside the block (shape and type checks still run).

    For training loops whose weights and hyperparameters were validated once before the loop (the
    engines build 0/1 masks and take lambda/kappa from validated settings): without it every step
    would synchronise with the GPU.
    """
    token = _CHECK_VALUES.set(False)
    try:
        yield
    finally:
        _CHECK_VALUES.reset(token)


def broadcast_shape(*shapes: tuple[int, ...]) -> torch.Size:
    """The broadcast shape of ``shapes`` (numpy's rule, which is torch's).

    ``torch.broadcast_shapes`` goes through torch's Python reference implementation (~0.2 ms a call,
    several calls per training step); numpy's takes ~4 us.

    Raises:
        RuntimeError: The shapes do not broadcast (the error torch raises).
    """
    try:
        return torch.Size(np.broadcast_shapes(*(tuple(s) for s in shapes)))
    except ValueError as exc:
        raise RuntimeError(str(exc)) from None


def weighted_mean(x: Tensor, sample_weight: Any | None = None, *, dim: int = -1) -> Tensor:
    r"""Weighted mean over the batch axis: :math:`\sum_i w_i x_i / \sum_i w_i`.

    Rows with weight 0 are dropped exactly: their value is never read (even NaN cannot leak into the
    result) and they receive a zero gradient (keep padded rows finite, e.g. zero targets, so that the
    computation upstream of ``x`` does not turn that zero into NaN). With all weights 0 the result is 0.

    Args:
        x: Per-sample values, shape ``(..., B)`` (``B`` along ``dim``).
        sample_weight: ``None`` (plain mean) or non-negative weights broadcastable against ``x``,
            typically ``(B,)`` or ``(..., B)``; 0/1 masks for padded batches.
        dim: The batch axis.

    Returns:
        Tensor of the broadcast shape of ``x`` and ``sample_weight`` without ``dim``.

    Raises:
        ValueError: Weights that do not broadcast against ``x`` or are negative / non-finite.
    """
    if sample_weight is None:
        return x.mean(dim=dim)
    w = torch.as_tensor(sample_weight, dtype=x.dtype, device=x.device)
    try:
        x_b, w_b = torch.broadcast_tensors(x, w)
    except RuntimeError:
        raise ValueError(
            f"sample_weight of shape {tuple(w.shape)} does not broadcast against the per-sample losses of "
            f"shape {tuple(x.shape)} (expected (B,) or (..., B))"
        ) from None
    if _CHECK_VALUES.get() and (bool((w < 0).any()) or not bool(torch.isfinite(w).all())):
        raise ValueError("sample_weight must be finite and non-negative")
    keep = w_b > 0
    num = (torch.where(keep, x_b, torch.zeros_like(x_b)) * w_b).sum(dim=dim)
    den = w_b.sum(dim=dim)
    return num / den.clamp_min(torch.finfo(den.dtype).tiny)


def as_hyperparameter(
    value: Any, name: str, per_sample_shape: torch.Size, like: Tensor, *, minimum: float = 0.0
) -> float | Tensor:
    """Check a loss hyperparameter against the per-sample shape ``(..., B)``.

    Rule: a Python number, a 0-d tensor, or a tensor whose shape broadcasts against the per-sample shape
    **without adding dimensions** and whose last axis is 1 (one value per run: ``(..., 1)``) or ``B``
    (one value per sample). A per-run tensor without its trailing singleton axis, e.g. ``(G, S)``
    against ``(G, S, B)``, is refused (it would align ``S`` with ``B``).

    Args:
        value: The hyperparameter.
        name: Its name, for error messages.
        per_sample_shape: Shape ``(..., B)`` of the per-sample loss terms.
        like: Tensor whose dtype and device a tensor value is moved to.
        minimum: Smallest allowed value.

    Returns:
        A float or a tensor on ``like``'s device.

    Raises:
        TypeError: Not a number or tensor.
        ValueError: Bad shape, NaN, or a value below ``minimum``.
    """
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a number or a tensor; got a bool")
    if isinstance(value, (int, float)):
        v = float(value)
        if not (math.isfinite(v) and v >= minimum):
            raise ValueError(f"{name} must be a finite number >= {minimum}; got {value}")
        return v
    if not isinstance(value, Tensor):
        try:
            value = torch.as_tensor(value)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise TypeError(f"{name} must be a number or a tensor; got {type(value).__name__}") from exc
    t = value.to(dtype=like.dtype, device=like.device)
    if t.ndim > 0:
        batch = per_sample_shape[-1] if len(per_sample_shape) else 1
        shape_ok = t.shape[-1] in (1, batch)
        if shape_ok:
            try:
                shape_ok = broadcast_shape(t.shape, per_sample_shape) == per_sample_shape
            except RuntimeError:
                shape_ok = False
        if not shape_ok:
            raise ValueError(
                f"{name} has shape {tuple(t.shape)}; it must broadcast against the per-sample loss shape "
                f"{tuple(per_sample_shape)} (..., B) without adding dimensions: use a number, shape (..., 1) "
                "for one value per run (e.g. kappa[..., None]) or (..., B) for one value per sample"
            )
    if _CHECK_VALUES.get() and (not bool(torch.isfinite(t).all()) or bool((t < minimum).any())):
        raise ValueError(f"{name} must be finite and >= {minimum}")
    return t
