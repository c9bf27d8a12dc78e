r"""The baseline losses: class-balanced cross-entropy on soft labels (CB-CE) and plain soft cross-entropy.

CB-CE follows Cui et al. (CVPR 2019) in the soft-label form EMO-SUPERB uses (``docs/metrics_and_losses.md``):

.. math::
    n_k &= \#\{i \in \text{train} : y_{ik} > 1/K\} \quad (1 \text{ if } 0), \qquad
    \beta = (N - 1)/N \\
    w_k &\propto \frac{1 - \beta}{1 - \beta^{n_k}}, \quad \sum_k w_k = K \\
    \omega_i &= \sum_k w_k y_{ik}, \qquad
    \ell_i = -\omega_i \sum_k y_{ik} \log \mathrm{softmax}(z_i)_k

and the batch loss is the mean of :math:`\ell_i`. The EMO-SUPERB IEMOCAP fold-1 fixture in
``docs/metrics_and_losses.md`` (N = 5,766, nine classes) is reproduced to 4e-5 by exactly this reading
(``beta = (N - 1) / N`` with ``N`` the number of training utterances); ``tests/losses`` checks it.

The losses take **logits** (the heads' raw outputs) of shape ``(..., B, C)`` with any leading run dims.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from amber2.losses._reduce import weighted_mean
from amber2.metrics.classification import SOFT_LABEL_TOL

__all__ = [
    "cb_ce_loss",
    "class_balanced_weights",
    "effective_number_weights",
    "soft_cross_entropy",
    "soft_label_counts",
]

Reduction = Literal["mean", "none"]


def _as_numpy(x: Any, name: str) -> np.ndarray:
    if isinstance(x, Tensor):
        x = x.detach().cpu().numpy()
    try:
        return np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a numeric array; could not convert it: {exc}") from exc


def soft_label_counts(Y_train: Any) -> np.ndarray:
    r"""Per-class counts :math:`n_k = \#\{i : y_{ik} > 1/K\}` of a soft-label training set.

    Args:
        Y_train: Soft labels, shape ``(N, K)``, non-negative rows (numpy, list or tensor).

    Returns:
        Integer array of shape ``(K,)``.

    Raises:
        ValueError: Not 2-D, no rows, fewer than 2 classes, NaN/inf or negative entries (the message
            names the first bad rows).
    """
    Y = _as_numpy(Y_train, "Y_train")
    if Y.ndim != 2:
        raise ValueError(f"Y_train must be a 2-D array (N utterances, K classes); got shape {Y.shape}")
    if Y.shape[0] == 0 or Y.shape[1] < 2:
        raise ValueError(f"Y_train needs at least one row and two classes; got shape {Y.shape}")
    bad = ~np.isfinite(Y).all(axis=1) | (Y < 0).any(axis=1)
    if bad.any():
        rows = np.flatnonzero(bad)[:5].tolist()
        raise ValueError(f"Y_train has NaN/inf or negative entries in {int(bad.sum())} row(s), first: {rows}")
    return (1.0 / Y.shape[1] + SOFT_LABEL_TOL < Y).sum(axis=0).astype(np.int64)


def effective_number_weights(counts: Any, *, n_items: int | None = None, beta: float | None = None) -> np.ndarray:
    r"""Class weights from effective numbers, :math:`w_k \propto (1 - \beta) / (1 - \beta^{n_k})`, sum K.

    Args:
        counts: Per-class counts :math:`n_k`, shape ``(K,)``; zeros are replaced by 1.
        n_items: Number of training utterances :math:`N`, for the default :math:`\beta = (N - 1)/N`.
        beta: :math:`\beta \in [0, 1)`; overrides the default (0 gives uniform weights).

    Returns:
        Float64 array of shape ``(K,)``, positive, summing to ``K``.

    Raises:
        ValueError: Negative counts, neither ``n_items`` nor ``beta`` given, ``beta`` outside [0, 1).

    Examples:
        >>> effective_number_weights([10, 10], beta=0.9).tolist()
        [1.0, 1.0]
    """
    n = np.asarray(counts, dtype=np.float64)
    if n.ndim != 1 or n.size < 1 or not np.isfinite(n).all() or (n < 0).any():
        raise ValueError(f"counts must be a 1-D array of non-negative numbers; got {np.asarray(counts).tolist()}")
    if beta is None:
        if n_items is None or n_items < 1:
            raise ValueError("give n_items (the number of training utterances, >= 1) or an explicit beta")
        beta = (n_items - 1) / n_items
    beta = float(beta)
    if not 0.0 <= beta < 1.0:
        raise ValueError(f"beta must be in [0, 1); got {beta}")
    n = np.maximum(n, 1.0)
    # 1 - beta**n computed as -expm1(n log beta): accurate when beta is close to 1.
    w = np.ones_like(n) if beta == 0.0 else (1.0 - beta) / -np.expm1(n * math.log(beta))
    return w * (n.size / w.sum())


def class_balanced_weights(Y_train: Any, beta: float | None = None) -> np.ndarray:
    r"""CB-CE class weights from a soft-label training set (Cui et al. 2019, EMO-SUPERB's soft form).

    .. math::
        n_k = \#\{i : y_{ik} > 1/K\}\ (1 \text{ if } 0),\quad \beta = \frac{N-1}{N},\quad
        w_k = K \frac{(1-\beta)/(1-\beta^{n_k})}{\sum_j (1-\beta)/(1-\beta^{n_j})}

    Args:
        Y_train: Training soft labels, shape ``(N, K)`` (only the training fold: never the test set).
        beta: Override :math:`\beta \in [0, 1)`; default ``(N - 1) / N``.

    Returns:
        Float64 array of shape ``(K,)`` summing to ``K`` (rare classes weigh more).

    Raises:
        ValueError: See :func:`soft_label_counts` and :func:`effective_number_weights`.
    """
    counts = soft_label_counts(Y_train)
    n_items = _as_numpy(Y_train, "Y_train").shape[0]
    return effective_number_weights(counts, n_items=n_items, beta=beta)


def _soft_ce_items(logits: Tensor, y: Tensor) -> Tensor:
    if not (isinstance(logits, Tensor) and isinstance(y, Tensor)):
        raise TypeError("logits and y must be torch tensors")
    if logits.shape[-1] != y.shape[-1]:
        raise ValueError(
            f"logits and y must have the same number of classes; got {tuple(logits.shape)} and {tuple(y.shape)}"
        )
    log_p = torch.log_softmax(logits, dim=-1)
    y = y.to(log_p.dtype)
    terms = torch.where(y > 0, y * log_p, torch.zeros((), dtype=log_p.dtype, device=log_p.device))
    return -terms.sum(dim=-1)


def _reduce(loss_i: Tensor, sample_weight: Any | None, reduction: Reduction) -> Tensor:
    if reduction == "none":
        return loss_i
    if reduction == "mean":
        return weighted_mean(loss_i, sample_weight)
    raise ValueError(f"reduction must be 'mean' or 'none'; got {reduction!r}")


def soft_cross_entropy(
    logits: Tensor, y: Tensor, sample_weight: Tensor | None = None, *, reduction: Reduction = "mean"
) -> Tensor:
    r"""Cross-entropy against soft labels, :math:`\ell_i = -\sum_k y_{ik} \log \mathrm{softmax}(z_i)_k`.

    Terms with :math:`y_{ik} = 0` contribute 0 even when the logit is ``-inf``.

    Args:
        logits: Head outputs ``(..., B, C)``.
        y: Soft labels, broadcastable against ``logits``.
        sample_weight: ``None`` or non-negative weights ``(B,)`` / ``(..., B)`` (0 drops padded rows).
        reduction: ``"mean"`` (weighted mean over ``B``) or ``"none"`` (per-sample ``(..., B)``).

    Returns:
        Tensor ``(...)`` (or ``(..., B)`` with ``reduction="none"``).
    """
    return _reduce(_soft_ce_items(logits, y), sample_weight, reduction)


def cb_ce_loss(
    logits: Tensor,
    y: Tensor,
    class_weights: Any,
    sample_weight: Tensor | None = None,
    *,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Class-balanced soft cross-entropy (the paper's CB-CE baseline).

    .. math::
        \omega_i = \sum_k w_k y_{ik}, \qquad
        \ell_i = -\omega_i \sum_k y_{ik} \log \mathrm{softmax}(z_i)_k, \qquad
        L = \frac1B \sum_i \ell_i

    Args:
        logits: Head outputs ``(..., B, C)``.
        y: Soft labels, broadcastable against ``logits``.
        class_weights: :math:`w` from :func:`class_balanced_weights`: shape ``(C,)``, or ``(..., 1, C)``
            for one weight vector per run (e.g. per fold); array or tensor.
        sample_weight: ``None`` or non-negative weights ``(B,)`` / ``(..., B)``; the mean becomes
            :math:`\sum_i v_i \ell_i / \sum_i v_i` (0 drops padded rows).
        reduction: ``"mean"`` or ``"none"`` (per-sample ``(..., B)``).

    Returns:
        Tensor ``(...)`` (or ``(..., B)`` with ``reduction="none"``).

    Raises:
        ValueError: Class counts that differ between logits, labels and weights.
    """
    ce = _soft_ce_items(logits, y)
    w = torch.as_tensor(class_weights, dtype=ce.dtype, device=ce.device)
    if w.ndim == 0 or w.shape[-1] != logits.shape[-1]:
        raise ValueError(
            f"class_weights must have {logits.shape[-1]} classes on its last axis; got shape {tuple(w.shape)}"
        )
    omega = (w * y.to(ce.dtype)).sum(dim=-1)
    return _reduce(omega * ce, sample_weight, reduction)
