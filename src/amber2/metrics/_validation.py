"""Input checks shared by every metric: shapes, finiteness, non-negativity, rows summing to 1.

Errors name the argument, the first offending rows and what is wrong with them, so that a user who
passes logits instead of probabilities, a 1-D vector, or mismatched arrays learns at once what to fix.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["ROW_SUM_ATOL", "as_distribution_set", "check_pair", "check_runs"]

#: Absolute tolerance on ``|sum_c p_c - 1|`` for a row to count as a distribution. Loose enough for
#: float32 softmax outputs and for distributions written to CSV with 4 decimals, tight enough to catch
#: logits, scores or un-normalised vote counts.
ROW_SUM_ATOL = 1e-3

_MAX_LISTED = 5


def _index_str(index: tuple[int, ...], *, lead: int) -> str:
    """Format an array index: ``row 3`` or ``run (2,) row 3``."""
    if lead == 0:
        return f"row {index[-1]}"
    run = tuple(int(i) for i in index[:-1])
    return f"run {run} row {index[-1]}"


def _as_float_array(x: Any, name: str) -> np.ndarray:
    """Convert ``x`` to a float64 ndarray, with a clear error for non-numeric input."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # a torch tensor: no import of torch needed
        x = x.detach().cpu().numpy()
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"{name} must be a numeric array of probabilities; could not convert it: {exc}"
        ) from exc
    return arr


def as_distribution_set(
    x: Any, name: str, *, leading: bool = False, atol: float = ROW_SUM_ATOL
) -> np.ndarray:
    """Validate a set of probability distributions.

    Args:
        x: Array-like of shape ``(n, C)`` (or ``(..., n, C)`` when ``leading`` is true).
        name: Argument name used in error messages (``"truth"``, ``"prediction"``).
        leading: Accept leading batch dimensions before ``(n, C)``.
        atol: Tolerance on the row sums.

    Returns:
        The array as float64.

    Raises:
        TypeError: Non-numeric input.
        ValueError: Wrong number of dimensions, fewer than 2 classes, NaN/inf, negative entries, or
            rows that do not sum to 1 within ``atol``; the message names the first bad rows.
    """
    arr = _as_float_array(x, name)
    if leading:
        if arr.ndim < 2:
            raise ValueError(
                f"{name} must have shape (..., n_utterances, n_classes) with at least 2 dimensions; "
                f"got shape {arr.shape}"
            )
    elif arr.ndim != 2:
        hint = " (wrap a single distribution as [p])" if arr.ndim == 1 else ""
        raise ValueError(
            f"{name} must be a 2-D array of shape (n_utterances, n_classes); got {arr.ndim}-D shape "
            f"{arr.shape}{hint}"
        )
    if arr.shape[-1] < 2:
        raise ValueError(f"{name} must have at least 2 classes (last axis); got shape {arr.shape}")
    if arr.size == 0:
        return arr
    lead = arr.ndim - 2
    bad = ~np.isfinite(arr).all(axis=-1)
    if bad.any():
        rows = [_index_str(tuple(i), lead=lead) for i in np.argwhere(bad)[:_MAX_LISTED]]
        raise ValueError(f"{name} contains NaN or inf in {int(bad.sum())} row(s), first: {', '.join(rows)}")
    bad = (arr < 0).any(axis=-1)
    if bad.any():
        idx = np.argwhere(bad)[:_MAX_LISTED]
        rows = [f"{_index_str(tuple(i), lead=lead)} (min {arr[tuple(i)].min():.4g})" for i in idx]
        raise ValueError(
            f"{name} has negative entries in {int(bad.sum())} row(s), first: {', '.join(rows)}; "
            "expected probabilities (apply softmax to logits)"
        )
    sums = arr.sum(axis=-1)
    bad = np.abs(sums - 1.0) > atol
    if bad.any():
        idx = np.argwhere(bad)[:_MAX_LISTED]
        rows = [f"{_index_str(tuple(i), lead=lead)} sums to {sums[tuple(i)]:.6g}" for i in idx]
        raise ValueError(
            f"{name} rows must sum to 1 (tolerance {atol:g}); {int(bad.sum())} row(s) do not, first: "
            f"{', '.join(rows)}; normalise with p / p.sum(axis=-1, keepdims=True)"
        )
    return arr


def check_pair(truth: Any, prediction: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validate a ``(truth, prediction)`` pair of ``(n, C)`` distribution sets with equal shapes.

    Returns:
        Both arrays as float64.

    Raises:
        ValueError: Shapes differ, or either array fails :func:`as_distribution_set`.
    """
    t = _as_float_array(truth, "truth")
    p = _as_float_array(prediction, "prediction")
    if t.shape != p.shape and t.ndim == p.ndim == 2:
        raise ValueError(f"truth and prediction shapes differ: truth {t.shape} vs prediction {p.shape}")
    t = as_distribution_set(t, "truth")
    p = as_distribution_set(p, "prediction")
    if t.shape != p.shape:
        raise ValueError(f"truth and prediction shapes differ: truth {t.shape} vs prediction {p.shape}")
    return t, p


def check_runs(truth: Any, predictions: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validate a truth set ``(n, C)`` against predictions of many runs ``(..., n, C)``.

    Returns:
        ``truth`` (n, C) and ``predictions`` (..., n, C) as float64.

    Raises:
        ValueError: The trailing ``(n, C)`` of ``predictions`` differs from ``truth``'s shape, or either
            array fails :func:`as_distribution_set`.
    """
    t = as_distribution_set(truth, "truth")
    p = as_distribution_set(predictions, "predictions", leading=True)
    if p.shape[-2:] != t.shape:
        raise ValueError(
            f"predictions must have shape (..., {t.shape[0]}, {t.shape[1]}) to match truth {t.shape}; "
            f"got {p.shape}"
        )
    return t, p
