"""Registry, evaluate, and vectorised evaluate_many == the scalar functions run by run."""

from __future__ import annotations

import math

import numpy as np
import pytest
from metrics_testdata import random_dists, vote_dists

import amber2.metrics as am

SCALAR = {
    "js": am.js_distance,
    "js_div": am.js_divergence,
    "js_div2": lambda t, p: am.js_divergence(t, p, base=2),
    "bc": am.bhattacharyya,
    "r2": am.r2_pearson,
    "r2_det": am.r2_determination,
    "r2_det_flat": am.r2_determination_flat,
    "kl": am.kl_divergence,
    "kl_reverse": lambda t, p: am.kl_divergence(t, p, direction="prediction||truth"),
    "ece": am.expected_calibration_error,
    "acc": am.accuracy,
    "f1": am.macro_f1,
    "wf1": am.weighted_f1,
    "ml_f1": am.multilabel_f1,
    "uar": am.unweighted_average_recall,
}


def test_registry_covers_every_scalar_function():
    assert set(am.list_metrics()) == set(SCALAR)
    assert am.PAPER_METRICS == ("js", "bc", "r2", "f1", "wf1", "acc")
    assert (*am.PAPER_METRICS, "uar") == am.REPORTED_METRICS
    assert [am.metric_info(n).higher_is_better for n in am.PAPER_METRICS] == [False, True, True, True, True, True]
    assert am.metric_info("r2").label == "R²"
    for spec in am.METRICS.values():
        assert spec.description and spec.value_range[0] < spec.value_range[1]


def test_evaluate_equals_scalar_functions():
    rng = np.random.default_rng(0)
    t, p = vote_dists(rng, 50, 5), random_dists(rng, 50, 5)
    res = am.evaluate(t, p, metrics=am.list_metrics())
    for name, func in SCALAR.items():
        assert res[name] == pytest.approx(func(t, p), abs=1e-12), name
        assert am.metric_info(name)(t, p) == pytest.approx(res[name], abs=1e-12)
    assert list(am.evaluate(t, p)) == list(am.PAPER_METRICS)
    assert am.evaluate(t, p, metrics="bc") == {"bc": pytest.approx(am.bhattacharyya(t, p))}


def test_evaluate_many_equals_run_by_run():
    rng = np.random.default_rng(1)
    n, c, runs = 40, 4, 7
    t = vote_dists(rng, n, c)
    preds = np.stack([random_dists(rng, n, c) for _ in range(runs)])
    preds[3] = t  # a perfect run
    preds[4] = 1.0 / c  # a uniform run
    many = am.evaluate_many(t, preds, metrics=am.list_metrics())
    for name, func in SCALAR.items():
        assert many[name].shape == (runs,)
        expected = [func(t, preds[r]) for r in range(runs)]
        np.testing.assert_allclose(many[name], expected, atol=1e-12, err_msg=name)
    assert many["js"][3] == 0.0 and many["acc"][3] == 1.0


def test_evaluate_many_any_leading_dims():
    rng = np.random.default_rng(2)
    t = random_dists(rng, 15, 3)
    preds = np.stack([random_dists(rng, 15, 3) for _ in range(6)]).reshape(2, 3, 15, 3)
    many = am.evaluate_many(t, preds)
    assert many["js"].shape == (2, 3)
    assert many["f1"][1, 2] == pytest.approx(am.macro_f1(t, preds[1, 2]))
    single = am.evaluate_many(t, preds[0, 0])
    assert single["bc"].shape == () and float(single["bc"]) == pytest.approx(am.bhattacharyya(t, preds[0, 0]))
    assert not any(math.isnan(float(v.sum())) for v in many.values())
