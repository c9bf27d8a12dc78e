r"""Ambiguity analysis: bin utterances by the entropy of their truth distribution, score every bin.

The ambiguity of an utterance is the entropy of its rater distribution,
:math:`H(t) = -\sum_c t_c \log_2 t_c` (bits by default). Bins are intervals of entropy:
the first is closed, :math:`[e_0, e_1]`, the others half-open, :math:`(e_{b}, e_{b+1}]`.

**Equal-count bins** (the default) put about ``n / n_bins`` utterances in each bin while keeping
**tied entropies in one bin**: the ideal cut positions ``n * j / n_bins`` in the sorted entropies are
moved to boundaries between distinct values. With few raters (IEMOCAP: 3-4 per utterance) entropy takes
a handful of distinct values, so exact equal counts are impossible; when there are at least ``n_bins``
distinct values every bin is non-empty, otherwise each distinct value gets a bin of its own and the
remaining bins are empty (degenerate edges :math:`(e, e]`). Entropies equal to 9 decimals count as ties,
so that permuted distributions (``[2/3, 1/3]`` and ``[1/3, 2/3]``) never land in different bins.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

from amber2.metrics._validation import check_pair
from amber2.metrics.distribution import _check_base, row_entropy
from amber2.metrics.registry import PAPER_METRICS, _resolve

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["assign_bins", "equal_count_edges", "per_bin_metrics"]

#: Entropies are compared after rounding to this many decimals (ties across float noise).
TIE_DECIMALS = 9
_EDGE_TOL = 10.0 ** -TIE_DECIMALS


def _as_values(values: Any) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1:
        raise ValueError(f"values must be a 1-D array (one entropy per utterance); got shape {v.shape}")
    bad = ~np.isfinite(v)
    if bad.any():
        raise ValueError(f"values contain NaN or inf at positions {np.flatnonzero(bad)[:5].tolist()}")
    return np.round(v, TIE_DECIMALS)


def equal_count_edges(values: Any, n_bins: int = 4) -> np.ndarray:
    """Edges of ``n_bins`` equal-count bins over ``values`` that never split tied values.

    Cuts are placed at the boundaries between distinct values nearest to the ideal positions
    ``n * j / n_bins`` (greedily, left to right, leaving room for the remaining cuts so that every bin
    stays non-empty when there are at least ``n_bins`` distinct values). With fewer distinct values each
    value gets its own bin (the bin its middle rank falls in, kept in order) and the other bins are empty.
    The upper edge of a bin is its largest value; an empty bin has equal lower and upper edges.

    Args:
        values: 1-D array of entropies (any real values), at least one.
        n_bins: Number of bins.

    Returns:
        Non-decreasing array of ``n_bins + 1`` edges; ``edges[0]`` is the minimum, ``edges[-1]`` the
        maximum of ``values``. Use with :func:`assign_bins`.

    Raises:
        ValueError: Empty or non-finite values, or ``n_bins < 1``.

    Examples:
        >>> equal_count_edges([0, 0, 0, 1, 1, 2, 2, 2], n_bins=2).tolist()
        [0.0, 0.0, 2.0]
        >>> equal_count_edges([0, 0, 1, 1], n_bins=4).tolist()
        [0.0, 0.0, 0.0, 0.0, 1.0]
    """
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer; got {n_bins!r}")
    v = _as_values(values)
    if v.size == 0:
        raise ValueError("cannot derive equal-count bins from an empty set of values")
    uniq, counts = np.unique(v, return_counts=True)
    n, n_groups, k = v.size, uniq.size, int(n_bins)
    ends = np.cumsum(counts)  # rank just after each group of tied values
    group_bin = np.zeros(n_groups, dtype=np.int64)
    if n_groups >= k:
        boundaries = ends[:-1]  # cut positions between groups: a cut after group g sits at ends[g]
        ideal = n * np.arange(1, k) / k
        lo = 0
        for j in range(k - 1):
            hi = boundaries.size - (k - 1 - j)  # leave one boundary per remaining cut
            g = lo + int(np.argmin(np.abs(boundaries[lo : hi + 1] - ideal[j])))
            group_bin[g + 1 :] += 1
            lo = g + 1
    else:
        mid = (ends - counts / 2.0) / n  # middle rank of each group, as a fraction
        ideal_bin = np.minimum((mid * k).astype(np.int64), k - 1)
        prev = -1
        for g in range(n_groups):
            b = 0 if g == 0 else max(int(ideal_bin[g]), prev + 1)
            b = min(b, k - (n_groups - g))
            group_bin[g] = b
            prev = b
    edges = np.empty(k + 1, dtype=np.float64)
    edges[0] = uniq[0]
    for b in range(k):
        members = uniq[group_bin == b]
        edges[b + 1] = members.max() if members.size else edges[b]
    return edges


def assign_bins(values: Any, edges: Any) -> np.ndarray:
    """Bin index of each value: bin 0 is ``[e_0, e_1]``, bin ``b > 0`` is ``(e_b, e_{b+1}]``.

    Args:
        values: 1-D array (entropies).
        edges: Non-decreasing edges, at least 2 (equal neighbours make empty bins).

    Returns:
        Integer array of bin indices in ``[0, len(edges) - 2]``.

    Raises:
        ValueError: Bad edges (not 1-D, fewer than 2, decreasing, non-finite), or values outside
            ``[edges[0], edges[-1]]`` (beyond a 1e-9 tolerance; the message names the first ones).

    Examples:
        >>> assign_bins([0.0, 0.5, 1.0, 1.5], [0.0, 0.5, 1.5]).tolist()
        [0, 0, 1, 1]
    """
    v = _as_values(values)
    e = np.asarray(edges, dtype=np.float64)
    if e.ndim != 1 or e.size < 2:
        raise ValueError(f"edges must be a 1-D array of at least 2 values; got shape {e.shape}")
    if not np.isfinite(e).all():
        raise ValueError(f"edges must be finite; got {e.tolist()}")
    if (np.diff(e) < 0).any():
        raise ValueError(f"edges must be non-decreasing; got {e.tolist()}")
    e = np.round(e, TIE_DECIMALS)
    outside = (v < e[0] - _EDGE_TOL) | (v > e[-1] + _EDGE_TOL)
    if outside.any():
        idx = np.flatnonzero(outside)[:5]
        listed = ", ".join(f"item {i} ({v[i]:.6g})" for i in idx)
        raise ValueError(
            f"{int(outside.sum())} value(s) fall outside the edges [{e[0]:g}, {e[-1]:g}], first: {listed}"
        )
    return np.searchsorted(e[1:-1], v, side="left").astype(np.int64)


def per_bin_metrics(
    truth: Any,
    prediction: Any,
    *,
    metrics: str | Iterable[str] = PAPER_METRICS,
    n_bins: int = 4,
    edges: Any | None = None,
    base: float = 2.0,
) -> pd.DataFrame:
    """Score a prediction set per ambiguity bin (entropy of the truth), as in the paper's Fig. 2.

    Args:
        truth: Truth distributions, shape ``(n, C)``; their entropies define the bins.
        prediction: Predicted distributions, same shape.
        metrics: Registered metric names (default :data:`amber2.metrics.PAPER_METRICS`).
        n_bins: Number of equal-count bins (ignored when ``edges`` is given).
        edges: Explicit non-decreasing entropy edges (in the unit set by ``base``), e.g.
            ``[0, 0.5, 1, 1.5, 2]``; every entropy must lie within ``[edges[0], edges[-1]]``.
        base: Logarithm base of the entropy (default 2: bits; report it with the figure).

    Returns:
        DataFrame, one row per bin (empty bins included, their metrics NaN), columns ``bin``,
        ``lower``, ``upper``, ``size``, ``mean_entropy`` and one column per metric.

    Raises:
        ValueError: Invalid inputs, an empty set with equal-count bins, or entropies outside ``edges``.
        KeyError: Unknown metric name.
    """
    import pandas as pd

    specs = _resolve(metrics)
    _check_base(base)
    t, p = check_pair(truth, prediction)
    ent = row_entropy(t, base=base)
    bin_edges = equal_count_edges(ent, n_bins) if edges is None else np.asarray(edges, dtype=np.float64)
    idx = assign_bins(ent, bin_edges)
    rows = []
    for b in range(bin_edges.size - 1):
        mask = idx == b
        row: dict[str, Any] = {
            "bin": b,
            "lower": float(bin_edges[b]),
            "upper": float(bin_edges[b + 1]),
            "size": int(mask.sum()),
            "mean_entropy": float(ent[mask].mean()) if mask.any() else math.nan,
        }
        for spec in specs:
            row[spec.name] = float(spec.set_fn(t[mask], p[mask]))
        rows.append(row)
    return pd.DataFrame(rows)
