"""Bad inputs raise clear errors naming the rows; empty sets give NaN."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import amber2.metrics as am

GOOD = [[0.5, 0.5, 0.0], [0.2, 0.3, 0.5]]
SCALAR_FUNCS = [
    am.js_distance, am.js_divergence, am.bhattacharyya, am.r2_pearson, am.r2_determination,
    am.r2_determination_flat, am.kl_divergence, am.expected_calibration_error, am.accuracy, am.macro_f1,
    am.weighted_f1, am.multilabel_f1,
]


@pytest.mark.parametrize("func", SCALAR_FUNCS)
def test_empty_set_gives_nan(func):
    assert math.isnan(func(np.zeros((0, 3)), np.zeros((0, 3))))


def test_empty_evaluate_and_many():
    res = am.evaluate(np.zeros((0, 4)), np.zeros((0, 4)), metrics=am.list_metrics())
    assert all(math.isnan(v) for v in res.values())
    many = am.evaluate_many(np.zeros((0, 4)), np.zeros((3, 0, 4)), metrics=am.list_metrics())
    assert all(v.shape == (3,) and np.isnan(v).all() for v in many.values())
    assert am.js_distance_per_item(np.zeros((0, 4)), np.zeros((0, 4))).shape == (0,)


def test_shapes_differ():
    with pytest.raises(ValueError, match=r"shapes differ: truth \(2, 3\) vs prediction \(2, 4\)"):
        am.js_distance(GOOD, [[0.25] * 4] * 2)
    with pytest.raises(ValueError, match=r"shapes differ"):
        am.accuracy(GOOD, GOOD[:1])


def test_not_2d():
    with pytest.raises(ValueError, match=r"truth must be a 2-D array .* got 1-D shape \(3,\).*\[p\]"):
        am.bhattacharyya([0.5, 0.5, 0.0], [0.5, 0.5, 0.0])
    with pytest.raises(ValueError, match=r"2-D"):
        am.r2_pearson(np.full((2, 2, 2), 0.5), np.full((2, 2, 2), 0.5))
    with pytest.raises(ValueError, match=r"at least 2 classes"):
        am.accuracy([[1.0]], [[1.0]])


def test_negative_entries_named():
    bad = [[0.5, 0.5, 0.0], [1.2, -0.2, 0.0]]
    with pytest.raises(ValueError, match=r"prediction has negative entries in 1 row\(s\), first: row 1"):
        am.js_distance(GOOD, bad)


def test_rows_not_summing_to_one_named():
    bad = [[0.5, 0.5, 0.0], [0.2, 0.3, 0.4], [1, 0, 0], [2.0, 1.0, 0.0]]
    msg = r"truth rows must sum to 1 .*2 row\(s\) do not, first: row 1 sums to 0.9, row 3"
    with pytest.raises(ValueError, match=msg):
        am.js_distance(bad, [[1 / 3] * 3] * 4)


def test_nan_named():
    with pytest.raises(ValueError, match=r"NaN or inf .* row 0"):
        am.evaluate([[math.nan, 1.0]], [[0.5, 0.5]])


def test_non_numeric():
    with pytest.raises(TypeError, match="numeric array"):
        am.accuracy([["a", "b"]], [[0.5, 0.5]])


def test_tolerance_and_input_types():
    # float32 softmax and 4-decimal rounding are accepted
    p32 = torch.softmax(torch.randn(5, 9), dim=-1)
    t = np.eye(9)[:5]
    assert math.isfinite(am.js_distance(t, p32))
    rounded = np.round(np.full((2, 9), 1 / 9), 4)
    assert math.isfinite(am.bhattacharyya(rounded, rounded))
    with pytest.raises(ValueError, match=r"tolerance 0\.001"):
        am.js_distance([[0.6, 0.5]], [[0.5, 0.5]])


def test_bad_options():
    with pytest.raises(ValueError, match="base"):
        am.js_distance(GOOD, GOOD, base=1.0)
    with pytest.raises(ValueError, match="n_bins"):
        am.expected_calibration_error(GOOD, GOOD, n_bins=0)
    with pytest.raises(ValueError, match="eps"):
        am.kl_divergence(GOOD, GOOD, eps=-1)


def test_evaluate_many_names_run_and_row():
    preds = np.tile(np.array(GOOD)[None], (3, 1, 1))
    preds[2, 1] = [0.2, 0.3, 0.4]
    with pytest.raises(ValueError, match=r"predictions rows must sum to 1 .*run \(2,\) row 1 sums to 0.9"):
        am.evaluate_many(GOOD, preds)
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 2, 3\) to match truth"):
        am.evaluate_many(GOOD, np.full((3, 4, 3), 1 / 3))


def test_unknown_metric():
    with pytest.raises(KeyError, match="unknown metric 'jsd'; known metrics: js, "):
        am.evaluate(GOOD, GOOD, metrics=("jsd",))
    with pytest.raises(ValueError, match="empty"):
        am.evaluate(GOOD, GOOD, metrics=())
