r"""Classification metrics on the argmax of the distributions, plus calibration (ECE).

Hard labels are ``argmax`` of the truth and of the prediction, **ties going to the lowest class index**
(``numpy.argmax``'s rule): a truth ``[0.5, 0.5, 0, 0]`` counts as class 0. The F1 scores equal
``sklearn.metrics.f1_score(argmax(t), argmax(p), labels=range(C), average=..., zero_division=0)``: a class
absent from both truth and prediction has F1 = 0 and still counts in the macro average (pass
``all_classes=False`` to average only over classes that occur).

The multi-label view EMO-SUPERB uses binarises both distributions at :math:`> 1/C` (every class that
received more than its uniform share of the votes is "present") and takes the macro-F1 over classes.

The private ``_*_set`` functions accept leading batch dimensions ``(..., n, C)`` and return ``(...)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from amber2.metrics._validation import as_distribution_set, check_pair

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "SOFT_LABEL_TOL",
    "accuracy",
    "calibration_table",
    "confusion_matrix",
    "expected_calibration_error",
    "hard_labels",
    "macro_f1",
    "multilabel_f1",
    "unweighted_average_recall",
    "weighted_f1",
]

#: A soft label counts as "above 1/C" only when it exceeds 1/C by more than this (float noise: votes
#: 2/6 and 1/3 must both count as exactly 1/3).
SOFT_LABEL_TOL = 1e-9
#: Default number of equal-width confidence bins of the ECE.
ECE_BINS = 5


def _nan_set(t: np.ndarray, p: np.ndarray) -> np.ndarray:
    return np.full(np.broadcast_shapes(t.shape, p.shape)[:-2], np.nan)


def _onehot(labels: np.ndarray, n_classes: int) -> np.ndarray:
    return labels[..., None] == np.arange(n_classes)


def _f1_per_class(t_bin: np.ndarray, p_bin: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-class F1 = 2 TP / (support + predicted), 0 where both are 0; (..., n, C) -> (..., C)."""
    tp = (t_bin & p_bin).sum(axis=-2)
    support = t_bin.sum(axis=-2)
    predicted = p_bin.sum(axis=-2)
    denom = support + predicted
    f1 = np.where(denom > 0, 2.0 * tp / np.maximum(denom, 1), 0.0)
    return f1, np.broadcast_to(support, f1.shape), denom


# --------------------------------------------------------------------------- set-level cores (..., n, C)


def _accuracy_set(t: np.ndarray, p: np.ndarray) -> np.ndarray:
    if t.shape[-2] == 0:
        return _nan_set(t, p)
    return (np.argmax(t, axis=-1) == np.argmax(p, axis=-1)).mean(axis=-1)


def _macro_f1_set(t: np.ndarray, p: np.ndarray, all_classes: bool = True) -> np.ndarray:
    if t.shape[-2] == 0:
        return _nan_set(t, p)
    n_classes = t.shape[-1]
    f1, _, denom = _f1_per_class(_onehot(np.argmax(t, -1), n_classes), _onehot(np.argmax(p, -1), n_classes))
    if all_classes:
        return f1.mean(axis=-1)
    present = denom > 0
    return (f1 * present).sum(axis=-1) / present.sum(axis=-1)


def _weighted_f1_set(t: np.ndarray, p: np.ndarray) -> np.ndarray:
    if t.shape[-2] == 0:
        return _nan_set(t, p)
    n_classes = t.shape[-1]
    f1, support, _ = _f1_per_class(_onehot(np.argmax(t, -1), n_classes), _onehot(np.argmax(p, -1), n_classes))
    return (f1 * support).sum(axis=-1) / support.sum(axis=-1)


def _uar_set(t: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Mean recall over the truth classes that occur (sklearn ``balanced_accuracy_score``)."""
    if t.shape[-2] == 0:
        return _nan_set(t, p)
    n_classes = t.shape[-1]
    t_bin = _onehot(np.argmax(t, -1), n_classes)
    p_bin = _onehot(np.argmax(p, -1), n_classes)
    tp = (t_bin & p_bin).sum(axis=-2)
    support = np.broadcast_to(t_bin.sum(axis=-2), tp.shape)
    present = support > 0
    recall = np.where(present, tp / np.maximum(support, 1), 0.0)
    return recall.sum(axis=-1) / present.sum(axis=-1)


def _multilabel_f1_set(t: np.ndarray, p: np.ndarray, threshold: float | None = None) -> np.ndarray:
    if t.shape[-2] == 0:
        return _nan_set(t, p)
    thr = 1.0 / t.shape[-1] if threshold is None else float(threshold)
    f1, _, _ = _f1_per_class(t > thr + SOFT_LABEL_TOL, p > thr + SOFT_LABEL_TOL)
    return f1.mean(axis=-1)


def _ece_bin_index(conf: np.ndarray, n_bins: int) -> np.ndarray:
    """Bin of each confidence among ``n_bins`` equal-width bins (lower, upper] over [0, 1]."""
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    return np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, n_bins - 1)


def _ece_set(t: np.ndarray, p: np.ndarray, n_bins: int = ECE_BINS) -> np.ndarray:
    if t.shape[-2] == 0:
        return _nan_set(t, p)
    conf = p.max(axis=-1)
    correct = (np.argmax(p, axis=-1) == np.argmax(t, axis=-1)).astype(np.float64)
    lead = conf.shape[:-1]
    n_runs = int(np.prod(lead, dtype=np.int64))
    # one bincount over all runs: slot = run * n_bins + bin; gap = sum over the bin of (acc - conf)
    slot = (np.arange(n_runs)[:, None] * n_bins + _ece_bin_index(conf, n_bins).reshape(n_runs, -1)).ravel()
    gap = np.bincount(slot, weights=(correct - conf).ravel(), minlength=n_runs * n_bins)
    return (np.abs(gap.reshape(*lead, n_bins)).sum(axis=-1) / t.shape[-2]).reshape(lead)


def _check_n_bins(n_bins: int) -> int:
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer; got {n_bins!r}")
    return int(n_bins)


# --------------------------------------------------------------------------- public functions


def hard_labels(distributions: Any) -> np.ndarray:
    """Argmax class of each distribution; ties go to the lowest class index.

    Args:
        distributions: Shape ``(n, C)``, rows summing to 1.

    Returns:
        Integer array of shape ``(n,)``.

    Examples:
        >>> hard_labels([[0.5, 0.5, 0.0], [0.1, 0.2, 0.7]]).tolist()
        [0, 2]
    """
    return np.argmax(as_distribution_set(distributions, "distributions"), axis=-1)


def accuracy(truth: Any, prediction: Any) -> float:
    r"""Share of utterances whose predicted argmax equals the truth's argmax (higher is better).

    .. math:: ACC = \frac1n \sum_i [\arg\max_c p_{ic} = \arg\max_c t_{ic}]

    Args:
        truth: Truth distributions, shape ``(n, C)``.
        prediction: Predicted distributions, same shape.

    Returns:
        Value in [0, 1]; NaN for an empty set.

    Raises:
        ValueError: Invalid shapes or rows (see :func:`amber2.metrics.js_distance`).

    Examples:
        >>> accuracy([[0.6, 0.4], [0.5, 0.5]], [[0.9, 0.1], [0.2, 0.8]])
        0.5
    """
    t, p = check_pair(truth, prediction)
    return float(_accuracy_set(t, p))


def macro_f1(truth: Any, prediction: Any, *, all_classes: bool = True) -> float:
    r"""Macro-averaged F1 of the argmax labels (the paper's "F1"; higher is better).

    .. math:: F1 = \frac1{C}\sum_k \frac{2\,TP_k}{2\,TP_k + FP_k + FN_k}

    Args:
        truth: Truth distributions, shape ``(n, C)``.
        prediction: Predicted distributions, same shape.
        all_classes: Average over all ``C`` classes (sklearn ``labels=range(C)``; a class absent from
            truth and prediction scores 0). False: only over classes present in either.

    Returns:
        Value in [0, 1]; NaN for an empty set.

    Examples:
        >>> macro_f1([[1, 0], [0, 1]], [[1, 0], [1, 0]]).__round__(4)
        0.3333
    """
    t, p = check_pair(truth, prediction)
    return float(_macro_f1_set(t, p, all_classes))


def weighted_f1(truth: Any, prediction: Any) -> float:
    r"""Support-weighted F1 of the argmax labels (the paper's "W-F1"; higher is better).

    .. math:: W\text{-}F1 = \sum_k \frac{n_k}{n} F1_k, \quad n_k = \#\{i : \arg\max t_i = k\}

    Returns:
        Value in [0, 1]; NaN for an empty set.
    """
    t, p = check_pair(truth, prediction)
    return float(_weighted_f1_set(t, p))


def unweighted_average_recall(truth: Any, prediction: Any) -> float:
    r"""Unweighted average recall (UAR, balanced accuracy) of the argmax labels (higher is better).

    The speech-emotion field's standard metric: the recall of every truth class that occurs, averaged
    with equal weight, so a majority-class predictor scores :math:`1/C'` whatever the class balance.
    Equal to ``sklearn.metrics.balanced_accuracy_score(argmax(t), argmax(p))``.

    .. math:: UAR = \frac1{|K|}\sum_{k \in K} \frac{TP_k}{n_k}, \quad
              K = \{k : n_k > 0\},\ n_k = \#\{i : \arg\max t_i = k\}

    Args:
        truth: Truth distributions, shape ``(n, C)``.
        prediction: Predicted distributions, same shape.

    Returns:
        Value in [0, 1]; NaN for an empty set.

    Examples:
        >>> unweighted_average_recall([[1, 0], [1, 0], [1, 0], [0, 1]], [[1, 0], [1, 0], [1, 0], [1, 0]])
        0.5
    """
    t, p = check_pair(truth, prediction)
    return float(_uar_set(t, p))


def multilabel_f1(truth: Any, prediction: Any, *, threshold: float | None = None) -> float:
    r"""EMO-SUPERB multi-label macro-F1: binarise both distributions at :math:`> 1/C`, macro-F1 over classes.

    .. math:: \hat t_{ic} = [t_{ic} > \tau],\ \hat p_{ic} = [p_{ic} > \tau],\ \tau = 1/C;\quad
              F1 = \frac1C \sum_c \frac{2\,TP_c}{\sum_i \hat t_{ic} + \sum_i \hat p_{ic}}

    A class with no positive in truth or prediction scores 0 (sklearn ``zero_division=0``).

    Args:
        truth: Truth distributions, shape ``(n, C)``.
        prediction: Predicted distributions, same shape.
        threshold: :math:`\tau`; default ``1/C``.

    Returns:
        Value in [0, 1]; NaN for an empty set.
    """
    t, p = check_pair(truth, prediction)
    return float(_multilabel_f1_set(t, p, threshold))


def confusion_matrix(truth: Any, prediction: Any) -> np.ndarray:
    """Confusion matrix of the argmax labels: rows are truth classes, columns predicted classes.

    Returns:
        Integer array of shape ``(C, C)``; entry ``[j, k]`` counts utterances of truth class ``j``
        predicted as ``k``.

    Examples:
        >>> confusion_matrix([[1, 0], [0, 1], [0, 1]], [[1, 0], [1, 0], [0, 1]]).tolist()
        [[1, 0], [1, 1]]
    """
    t, p = check_pair(truth, prediction)
    n_classes = t.shape[1]
    codes = np.argmax(t, axis=1) * n_classes + np.argmax(p, axis=1)
    return np.bincount(codes, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def expected_calibration_error(truth: Any, prediction: Any, *, n_bins: int = ECE_BINS) -> float:
    r"""Expected calibration error of the argmax decision (lower is better).

    Confidence :math:`\hat c_i = \max_c p_{ic}`; ``n_bins`` equal-width bins :math:`(l_b, u_b]` over
    [0, 1]; accuracy :math:`a_i = [\arg\max p_i = \arg\max t_i]`.

    .. math:: ECE = \sum_b \frac{|B_b|}{n} \left| \overline{a}_{B_b} - \overline{\hat c}_{B_b} \right|

    Args:
        truth: Truth distributions, shape ``(n, C)``.
        prediction: Predicted distributions, same shape.
        n_bins: Number of bins (default 5).

    Returns:
        Value in [0, 1]; NaN for an empty set.

    Examples:
        >>> round(expected_calibration_error([[1, 0], [1, 0]], [[0.9, 0.1], [0.3, 0.7]]), 4)
        0.4
    """
    n_bins = _check_n_bins(n_bins)
    t, p = check_pair(truth, prediction)
    return float(_ece_set(t, p, n_bins))


def calibration_table(truth: Any, prediction: Any, *, n_bins: int = ECE_BINS) -> pd.DataFrame:
    """Reliability table behind :func:`expected_calibration_error` (one row per confidence bin).

    Returns:
        DataFrame with columns ``bin``, ``lower``, ``upper``, ``size``, ``accuracy``, ``confidence``
        (NaN for empty bins) and ``gap`` (``|accuracy - confidence|``, NaN for empty bins).
    """
    import pandas as pd

    n_bins = _check_n_bins(n_bins)
    t, p = check_pair(truth, prediction)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    conf = p.max(axis=1)
    correct = (np.argmax(p, axis=1) == np.argmax(t, axis=1)).astype(np.float64)
    idx = _ece_bin_index(conf, n_bins)
    size = np.bincount(idx, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.bincount(idx, weights=correct, minlength=n_bins) / size
        mean_conf = np.bincount(idx, weights=conf, minlength=n_bins) / size
    return pd.DataFrame(
        {
            "bin": np.arange(n_bins),
            "lower": edges[:-1],
            "upper": edges[1:],
            "size": size,
            "accuracy": acc,
            "confidence": mean_conf,
            "gap": np.abs(acc - mean_conf),
        }
    )
