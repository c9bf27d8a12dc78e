"""amber2.metrics: pure numpy metrics over whole sets of distributions (truth vs prediction).

Every ``metric(truth, prediction, *, option=...) -> float`` computes a per-utterance value and averages
it over the whole set (never per batch); an empty set gives NaN. ``*_per_item`` variants return the
per-utterance arrays. :func:`evaluate` scores one set with registered names (:data:`PAPER_METRICS` by
default), :func:`evaluate_many` scores many runs at once, :func:`per_bin_metrics` breaks a set down by
ambiguity (entropy of the truth). Definitions: ``docs/metrics_and_losses.md``.
"""

from __future__ import annotations

from amber2.metrics._validation import ROW_SUM_ATOL
from amber2.metrics.ambiguity import assign_bins, equal_count_edges, per_bin_metrics
from amber2.metrics.classification import (
    accuracy,
    calibration_table,
    confusion_matrix,
    expected_calibration_error,
    hard_labels,
    macro_f1,
    multilabel_f1,
    unweighted_average_recall,
    weighted_f1,
)
from amber2.metrics.distribution import (
    bhattacharyya,
    bhattacharyya_per_item,
    entropy,
    js_distance,
    js_distance_per_item,
    js_divergence,
    js_divergence_per_item,
    kl_divergence,
    kl_divergence_per_item,
    r2_determination,
    r2_determination_flat,
    r2_determination_per_item,
    r2_pearson,
    r2_pearson_per_item,
    row_entropy,
)
from amber2.metrics.registry import (
    METRICS,
    PAPER_METRICS,
    REPORTED_METRICS,
    MetricSpec,
    evaluate,
    evaluate_many,
    list_metrics,
    metric_info,
)

__all__ = [
    "METRICS",
    "PAPER_METRICS",
    "REPORTED_METRICS",
    "ROW_SUM_ATOL",
    "MetricSpec",
    "accuracy",
    "assign_bins",
    "bhattacharyya",
    "bhattacharyya_per_item",
    "calibration_table",
    "confusion_matrix",
    "entropy",
    "equal_count_edges",
    "evaluate",
    "evaluate_many",
    "expected_calibration_error",
    "hard_labels",
    "js_distance",
    "js_distance_per_item",
    "js_divergence",
    "js_divergence_per_item",
    "kl_divergence",
    "kl_divergence_per_item",
    "list_metrics",
    "macro_f1",
    "metric_info",
    "multilabel_f1",
    "per_bin_metrics",
    "r2_determination",
    "r2_determination_flat",
    "r2_determination_per_item",
    "r2_pearson",
    "r2_pearson_per_item",
    "row_entropy",
    "unweighted_average_recall",
    "weighted_f1",
]
