"""Metric registry: names, descriptions, direction; ``evaluate`` one set, ``evaluate_many`` many runs.

``PAPER_METRICS`` is the paper's table layout (JS, BC, R², F1, W-F1, ACC); ``REPORTED_METRICS`` adds
UAR, which the tables and reports show beside them. Every registered metric maps
a name to a vectorised core that accepts predictions with leading run dimensions, so scoring hundreds of
training runs costs one numpy pass instead of hundreds of Python calls; the scalar public functions use
the very same cores.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from amber2.metrics import classification as _cls
from amber2.metrics import distribution as _dist
from amber2.metrics._validation import check_pair, check_runs

__all__ = [
    "METRICS",
    "PAPER_METRICS",
    "REPORTED_METRICS",
    "MetricSpec",
    "evaluate",
    "evaluate_many",
    "list_metrics",
    "metric_info",
]

#: The metrics of the paper's tables, in their order: JS (distance), BC, R² (squared Pearson),
#: macro-F1, weighted-F1, accuracy.
PAPER_METRICS: tuple[str, ...] = ("js", "bc", "r2", "f1", "wf1", "acc")

#: What every table, ``results.json`` and the report show: the paper's six, then UAR (unweighted
#: average recall = balanced accuracy, the speech-emotion field's standard metric).
REPORTED_METRICS: tuple[str, ...] = (*PAPER_METRICS, "uar")

_LN2 = math.log(2.0)


def _mean_items(
    core: Callable[..., np.ndarray], **kwargs: Any
) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """Turn a per-item core (..., n, C) -> (..., n) into a set-level one (..., n, C) -> (...)."""

    def set_fn(t: np.ndarray, p: np.ndarray) -> np.ndarray:
        values = core(t, p, **kwargs)
        if values.shape[-1] == 0:
            return np.full(values.shape[:-1], np.nan)
        return values.mean(axis=-1)

    return set_fn


@dataclass(frozen=True)
class MetricSpec:
    """One registered metric.

    Attributes:
        name: Registry key (``"js"``).
        label: Short column label for tables and plots (``"JS"``).
        description: One-line definition.
        higher_is_better: Direction (the report marks best values with it).
        value_range: Theoretical range ``(low, high)``.
        kind: ``"distribution"``, ``"classification"`` or ``"calibration"``.
        set_fn: Vectorised core ``(truth (n, C), pred (..., n, C)) -> (...)`` on validated float64 arrays.
    """

    name: str
    label: str
    description: str
    higher_is_better: bool
    value_range: tuple[float, float]
    kind: Literal["distribution", "classification", "calibration"]
    set_fn: Callable[[np.ndarray, np.ndarray], np.ndarray]

    def __call__(self, truth: Any, prediction: Any) -> float:
        """Score one set (validates the inputs)."""
        t, p = check_pair(truth, prediction)
        return float(self.set_fn(t, p))


METRICS: dict[str, MetricSpec] = {
    spec.name: spec
    for spec in (
        MetricSpec(
            "js", "JS", "Jensen-Shannon distance sqrt(JS divergence), natural log, per-utterance mean "
            "(paper-compatible)", False, (0.0, math.sqrt(_LN2)), "distribution",
            _mean_items(_dist._js_distance_items),
        ),
        MetricSpec(
            "js_div", "JS div", "Jensen-Shannon divergence in nats, per-utterance mean", False,
            (0.0, _LN2), "distribution", _mean_items(_dist._js_divergence_items),
        ),
        MetricSpec(
            "js_div2", "JS div (bits)", "Jensen-Shannon divergence in bits, per-utterance mean", False,
            (0.0, 1.0), "distribution", _mean_items(_dist._js_divergence_items, log_base=_LN2),
        ),
        MetricSpec(
            "bc", "BC", "Bhattacharyya coefficient sum_c sqrt(t_c p_c), per-utterance mean", True,
            (0.0, 1.0), "distribution", _mean_items(_dist._bc_items),
        ),
        MetricSpec(
            "r2", "R²", "squared Pearson correlation of the class vectors cov²/(var var + 1e-10), "
            "per-utterance mean (paper-compatible)", True, (0.0, 1.0), "distribution",
            _mean_items(_dist._r2_pearson_items),
        ),
        MetricSpec(
            "r2_det", "R² (det.)", "coefficient of determination 1 - SS_res/SS_tot per utterance, mean",
            True, (-math.inf, 1.0), "distribution", _mean_items(_dist._r2_determination_items),
        ),
        MetricSpec(
            "r2_det_flat", "R² (det., flat)", "coefficient of determination over all entries flattened",
            True, (-math.inf, 1.0), "distribution", _dist._r2_determination_flat_set,
        ),
        MetricSpec(
            "kl", "KL", "KL(truth || prediction) in nats, prediction smoothed by 1e-8, per-utterance mean",
            False, (0.0, math.inf), "distribution", _mean_items(_dist._kl_items),
        ),
        MetricSpec(
            "kl_reverse", "KL (p‖t)", "KL(prediction || truth) in nats, truth smoothed by 1e-8, per-utterance "
            "mean (the argument order of AER-LLM's evaluation)", False, (0.0, math.inf), "distribution",
            _mean_items(_dist._kl_reverse_items),
        ),
        MetricSpec(
            "ece", "ECE", "expected calibration error, 5 equal-width bins on max(pred)", False, (0.0, 1.0),
            "calibration", _cls._ece_set,
        ),
        MetricSpec(
            "acc", "ACC", "accuracy of argmax(pred) against argmax(truth)", True, (0.0, 1.0),
            "classification", _cls._accuracy_set,
        ),
        MetricSpec(
            "f1", "F1", "macro-F1 of the argmax labels over all classes", True, (0.0, 1.0),
            "classification", _cls._macro_f1_set,
        ),
        MetricSpec(
            "wf1", "W-F1", "support-weighted F1 of the argmax labels", True, (0.0, 1.0),
            "classification", _cls._weighted_f1_set,
        ),
        MetricSpec(
            "uar", "UAR", "unweighted average recall (balanced accuracy) of the argmax labels over the truth "
            "classes that occur", True, (0.0, 1.0), "classification", _cls._uar_set,
        ),
        MetricSpec(
            "ml_f1", "ML-F1", "EMO-SUPERB multi-label macro-F1 (both binarised at > 1/C)", True,
            (0.0, 1.0), "classification", _cls._multilabel_f1_set,
        ),
    )
}


def list_metrics() -> list[str]:
    """Names of all registered metrics."""
    return list(METRICS)


def metric_info(name: str) -> MetricSpec:
    """Return the :class:`MetricSpec` registered under ``name``.

    Raises:
        KeyError: Unknown name (the message lists the known ones).
    """
    try:
        return METRICS[name]
    except KeyError:
        raise KeyError(f"unknown metric {name!r}; known metrics: {', '.join(METRICS)}") from None


def _resolve(metrics: str | Iterable[str]) -> list[MetricSpec]:
    names = [metrics] if isinstance(metrics, str) else list(metrics)
    if not names:
        raise ValueError("metrics is empty; pass at least one metric name")
    return [metric_info(name) for name in names]


def evaluate(truth: Any, prediction: Any, metrics: str | Iterable[str] = PAPER_METRICS) -> dict[str, float]:
    """Score one prediction set with several metrics.

    Args:
        truth: Truth distributions, shape ``(n, C)``.
        prediction: Predicted distributions, same shape.
        metrics: Registered names (default :data:`PAPER_METRICS`).

    Returns:
        ``{name: value}`` in the order requested; NaN values for an empty set.

    Raises:
        KeyError: Unknown metric name.
        ValueError: Invalid inputs (see :func:`amber2.metrics.js_distance`).

    Examples:
        >>> evaluate([[1.0, 0.0]], [[1.0, 0.0]], metrics=("js", "acc"))
        {'js': 0.0, 'acc': 1.0}
    """
    specs = _resolve(metrics)
    t, p = check_pair(truth, prediction)
    return {spec.name: float(spec.set_fn(t, p)) for spec in specs}


def evaluate_many(
    truth: Any, predictions: Any, metrics: str | Iterable[str] = PAPER_METRICS
) -> dict[str, np.ndarray]:
    """Score the predictions of many runs on one truth set at once (vectorised over runs).

    Equal to calling :func:`evaluate` run by run (same cores), without the Python loop.

    Args:
        truth: Truth distributions, shape ``(n, C)``.
        predictions: Predictions of ``R`` runs, shape ``(R, n, C)`` or any ``(..., n, C)``.
        metrics: Registered names (default :data:`PAPER_METRICS`).

    Returns:
        ``{name: array of shape (R,)}`` (the leading shape of ``predictions``).

    Raises:
        KeyError: Unknown metric name.
        ValueError: Invalid inputs; bad rows are named as ``run (r,) row i``.
    """
    specs = _resolve(metrics)
    t, p = check_runs(truth, predictions)
    lead = p.shape[:-2]
    return {spec.name: np.broadcast_to(spec.set_fn(t, p), lead).astype(np.float64) for spec in specs}
