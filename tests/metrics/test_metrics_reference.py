"""Reference values of docs/metrics_and_losses.md (AER-LLM conventions) and independent library references."""

from __future__ import annotations

import math

import numpy as np
import pytest
from metrics_testdata import random_dists, vote_dists
from scipy.spatial.distance import jensenshannon
from scipy.stats import entropy as scipy_entropy
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, r2_score
from sklearn.metrics import confusion_matrix as sk_confusion_matrix

import amber2.metrics as am

# (truth, prediction, JS distance, BC, R² squared-Pearson) from docs/metrics_and_losses.md (Reference values)
TABLE = [
    ([0.5, 0.5, 0, 0], [0.7, 0.1, 0.1, 0.1], 0.3879, 0.8152, 0.3333),
    ([1, 0, 0, 0], [1, 0, 0, 0], 0.0, 1.0, 1.0),
    ([1, 0, 0, 0], [0, 1, 0, 0], 0.8325, 0.0, 0.1111),
    ([0.25, 0.25, 0.25, 0.25], [0.4, 0.3, 0.2, 0.1], 0.1669, 0.9718, 0.0),
    ([2 / 3, 1 / 3, 0, 0], [0.6, 0.2, 0.1, 0.1], 0.2804, 0.8907, 0.9037),
    ([0, 0, 1, 0], [0.1, 0.1, 0.7, 0.1], 0.3424, 0.8367, 1.0),
]


@pytest.mark.parametrize(("t", "p", "js", "bc", "r2"), TABLE)
def test_reference_table(t, p, js, bc, r2):
    assert am.js_distance([t], [p]) == pytest.approx(js, abs=1e-3)
    assert am.bhattacharyya([t], [p]) == pytest.approx(bc, abs=1e-3)
    assert am.r2_pearson([t], [p]) == pytest.approx(r2, abs=1e-3)
    got = am.evaluate([t], [p], metrics=("js", "bc", "r2"))
    assert got == pytest.approx({"js": js, "bc": bc, "r2": r2}, abs=1e-3)


def test_reference_table_as_one_set():
    t = [row[0] for row in TABLE]
    p = [row[1] for row in TABLE]
    np.testing.assert_allclose(am.js_distance_per_item(t, p), [r[2] for r in TABLE], atol=1e-3)
    assert am.js_distance(t, p) == pytest.approx(np.mean([r[2] for r in TABLE]), abs=1e-3)
    assert am.r2_pearson(t, p) == pytest.approx(np.mean([r[4] for r in TABLE]), abs=1e-3)


def test_coefficient_of_determination_is_a_different_metric():
    t, p = [TABLE[4][0]], [TABLE[4][1]]
    assert am.r2_determination(t, p) == pytest.approx(0.8618, abs=1e-3)
    assert am.r2_pearson(t, p) == pytest.approx(0.9037, abs=1e-3)


def test_js_against_scipy_with_zeros():
    rng = np.random.default_rng(0)
    t, p = random_dists(rng, 200, 6), random_dists(rng, 200, 6)
    p[:20] = t[:20]  # identical rows
    ref = np.array([jensenshannon(a, b) for a, b in zip(t, p, strict=True)])
    ref2 = np.array([jensenshannon(a, b, base=2) for a, b in zip(t, p, strict=True)])
    np.testing.assert_allclose(am.js_distance_per_item(t, p), ref, atol=1e-7)
    np.testing.assert_allclose(am.js_distance_per_item(t, p, base=2), ref2, atol=1e-7)
    np.testing.assert_allclose(am.js_divergence_per_item(t, p), ref**2, atol=1e-10)
    np.testing.assert_allclose(am.js_divergence_per_item(t, p, base=2), ref2**2, atol=1e-10)
    assert am.js_distance(t, p) == pytest.approx(ref.mean(), abs=1e-9)
    assert np.all(am.js_distance_per_item(t, p) <= math.sqrt(math.log(2)) + 1e-12)
    np.testing.assert_allclose(am.js_distance_per_item(t, p), am.js_distance_per_item(p, t), atol=1e-12)


def test_bc_by_hand():
    rng = np.random.default_rng(1)
    t, p = random_dists(rng, 50, 5), random_dists(rng, 50, 5)
    ref = [sum(math.sqrt(a * b) for a, b in zip(r, s, strict=True)) for r, s in zip(t, p, strict=True)]
    np.testing.assert_allclose(am.bhattacharyya_per_item(t, p), ref, atol=1e-12)
    assert am.bhattacharyya(t, t) == pytest.approx(1.0)


def test_r2_pearson_against_corrcoef():
    rng = np.random.default_rng(2)
    t, p = random_dists(rng, 100, 5), random_dists(rng, 100, 5)
    ref = np.array([np.corrcoef(a, b)[0, 1] ** 2 for a, b in zip(t, p, strict=True)])
    np.testing.assert_allclose(am.r2_pearson_per_item(t, p), ref, rtol=1e-5, atol=1e-9)
    # a uniform truth has no variance: 0, not NaN
    uniform = np.full((3, 5), 0.2)
    assert np.all(am.r2_pearson_per_item(uniform, p[:3]) == 0.0)
    # anti-correlated prediction still scores > 0
    assert am.r2_pearson([[0.8, 0.2]], [[0.2, 0.8]]) == pytest.approx(1.0, abs=1e-6)


def test_r2_determination_against_sklearn():
    rng = np.random.default_rng(3)
    t, p = random_dists(rng, 60, 4), random_dists(rng, 60, 4)
    t[:3] = 0.25  # constant truth rows: sklearn's force_finite convention
    p[0] = 0.25
    ref = np.array([r2_score(a, b) for a, b in zip(t, p, strict=True)])
    np.testing.assert_allclose(am.r2_determination_per_item(t, p), ref, atol=1e-12)
    assert am.r2_determination_per_item(t[:1], p[:1])[0] == 1.0
    assert am.r2_determination_flat(t, p) == pytest.approx(r2_score(t.ravel(), p.ravel()), abs=1e-12)


def test_kl_against_scipy():
    rng = np.random.default_rng(4)
    t, p = random_dists(rng, 40, 5), random_dists(rng, 40, 5, zero_frac=0.0)
    np.testing.assert_allclose(am.kl_divergence_per_item(t, p, eps=0.0), scipy_entropy(t, p, axis=1), atol=1e-12)
    eps = 1e-8
    q = (p + eps) / (1 + 5 * eps)
    np.testing.assert_allclose(am.kl_divergence_per_item(t, p), scipy_entropy(t, q, axis=1), atol=1e-12)
    # a zero where the truth has mass stays finite with the default eps
    assert math.isfinite(am.kl_divergence([[0.5, 0.5]], [[1.0, 0.0]]))
    assert am.kl_divergence_per_item([[0.5, 0.5]], [[1.0, 0.0]], eps=0.0)[0] == math.inf


def test_entropy_against_scipy():
    rng = np.random.default_rng(5)
    t = random_dists(rng, 30, 6)
    np.testing.assert_allclose(am.entropy(t), scipy_entropy(t, base=2, axis=1), atol=1e-12)
    np.testing.assert_allclose(am.entropy(t, base=math.e), scipy_entropy(t, axis=1), atol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_classification_against_sklearn(seed):
    rng = np.random.default_rng(seed)
    c = 5
    t, p = vote_dists(rng, 80, c), random_dists(rng, 80, c)
    p[:10] = vote_dists(rng, 10, c)  # ties in the prediction too
    yt, yp = np.argmax(t, 1), np.argmax(p, 1)
    labels = list(range(c))
    assert am.accuracy(t, p) == pytest.approx(accuracy_score(yt, yp))
    assert am.macro_f1(t, p) == pytest.approx(f1_score(yt, yp, labels=labels, average="macro", zero_division=0))
    assert am.macro_f1(t, p, all_classes=False) == pytest.approx(f1_score(yt, yp, average="macro", zero_division=0))
    assert am.weighted_f1(t, p) == pytest.approx(
        f1_score(yt, yp, labels=labels, average="weighted", zero_division=0)
    )
    tb, pb = (t > 1 / c).astype(int), (p > 1 / c).astype(int)
    assert am.multilabel_f1(t, p) == pytest.approx(f1_score(tb, pb, average="macro", zero_division=0))
    np.testing.assert_array_equal(am.confusion_matrix(t, p), sk_confusion_matrix(yt, yp, labels=labels))
    assert am.unweighted_average_recall(t, p) == pytest.approx(balanced_accuracy_score(yt, yp))


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
def test_uar_against_sklearn_with_absent_class_and_imbalance():
    # class 2 never occurs in the truth (sklearn averages over the classes present); 6:2 imbalance
    t = np.eye(3)[[0, 0, 0, 0, 0, 0, 1, 1]]
    p = np.eye(3)[[0, 0, 0, 0, 0, 0, 0, 2]]
    assert am.unweighted_average_recall(t, p) == pytest.approx(balanced_accuracy_score([0] * 6 + [1] * 2,
                                                                                        [0] * 7 + [2]))
    assert am.unweighted_average_recall(t, p) == pytest.approx(0.5)  # recall 1 and 0; accuracy 0.75
    assert am.accuracy(t, p) == pytest.approx(0.75)
    many = am.evaluate_many(t, np.stack([p, t]), metrics=["uar"])["uar"]
    np.testing.assert_allclose(many, [0.5, 1.0])
    assert math.isnan(am.unweighted_average_recall(np.zeros((0, 3)), np.zeros((0, 3))))


def test_absent_class_counts_in_macro_f1():
    t = [[1, 0, 0], [0, 1, 0]]
    p = [[1, 0, 0], [0, 1, 0]]
    assert am.macro_f1(t, p) == pytest.approx(2 / 3)  # class 2 absent: F1 0, like sklearn labels=range(C)
    assert am.macro_f1(t, p, all_classes=False) == 1.0
    assert am.weighted_f1(t, p) == 1.0


def test_argmax_ties_go_to_lowest_index():
    assert am.hard_labels([[0.5, 0.5, 0.0], [0.0, 0.5, 0.5]]).tolist() == [0, 1]
    assert am.accuracy([[0.5, 0.5, 0.0]], [[0.9, 0.05, 0.05]]) == 1.0
    assert am.accuracy([[0.5, 0.5, 0.0]], [[0.05, 0.9, 0.05]]) == 0.0


def test_multilabel_threshold_is_strict_and_tie_safe():
    # 1/3 from votes (2 of 6) sits exactly at the threshold: not present
    t = np.array([[2 / 6, 2 / 6, 2 / 6], [1.0, 0.0, 0.0]])
    p = np.array([[1 / 3, 1 / 3, 1 / 3], [0.9, 0.05, 0.05]])
    # class 0: truth present only in row 1, predicted present in row 1 -> F1 1; classes 1, 2: nothing -> 0
    assert am.multilabel_f1(t, p) == pytest.approx(1 / 3)


def test_set_mean_is_over_items_not_batches():
    rng = np.random.default_rng(7)
    t, p = random_dists(rng, 10, 4), random_dists(rng, 10, 4)
    per_item = am.js_distance_per_item(t, p)
    assert am.js_distance(t, p) == pytest.approx(per_item.mean())
    batch_means = np.mean([per_item[:7].mean(), per_item[7:].mean()])
    assert am.js_distance(t, p) != pytest.approx(batch_means)
