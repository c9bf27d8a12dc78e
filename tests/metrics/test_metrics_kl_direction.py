"""KL in both argument orders, and how far amber2's exact JS is from AER-LLM's rounded one."""

from __future__ import annotations

import math

import numpy as np
import pytest
from metrics_testdata import random_dists, vote_dists
from scipy.stats import entropy as scipy_entropy

import amber2.metrics as am


def test_kl_reverse_is_prediction_first_against_scipy():
    rng = np.random.default_rng(11)
    t, p = vote_dists(rng, 50, 4, raters=3), random_dists(rng, 50, 4, zero_frac=0.0)
    eps = 1e-8
    t_smooth = (t + eps) / (1 + 4 * eps)
    want = scipy_entropy(p, t_smooth, axis=1)  # KL(prediction || truth), the truth smoothed
    got = am.kl_divergence_per_item(t, p, direction="prediction||truth")
    np.testing.assert_allclose(got, want, atol=1e-12)
    assert am.evaluate(t, p, metrics=["kl_reverse"])["kl_reverse"] == pytest.approx(want.mean(), abs=1e-12)
    assert am.evaluate_many(t, np.stack([p, p]), metrics="kl_reverse")["kl_reverse"] == pytest.approx(
        [want.mean()] * 2, abs=1e-12)
    # the two directions differ (KL is not symmetric); the default is truth first
    assert am.kl_divergence(t, p) == pytest.approx(scipy_entropy(t, (p + eps) / (1 + 4 * eps), axis=1).mean())
    assert abs(am.kl_divergence(t, p) - got.mean()) > 0.1


def test_kl_reverse_by_hand_and_its_spec():
    # KL([0.5, 0.5] || smoothed [1, 0]) = 0.5 ln(0.5 / q0) + 0.5 ln(0.5 / q1), q = ([1, 0] + 1e-8) / (1 + 2e-8)
    q = [(1 + 1e-8) / (1 + 2e-8), 1e-8 / (1 + 2e-8)]
    want = 0.5 * math.log(0.5 / q[0]) + 0.5 * math.log(0.5 / q[1])
    assert am.kl_divergence([[1.0, 0.0]], [[0.5, 0.5]], direction="prediction||truth") == pytest.approx(want)
    assert am.kl_divergence([[1.0, 0.0]], [[0.5, 0.5]]) == pytest.approx(math.log(2.0), abs=1e-7)
    spec = am.metric_info("kl_reverse")
    assert not spec.higher_is_better and spec.kind == "distribution" and "prediction || truth" in spec.description
    with pytest.raises(ValueError, match="direction must be one of"):
        am.kl_divergence([[1.0, 0.0]], [[0.5, 0.5]], direction="backwards")


def _aer_llm_js(t: np.ndarray, p: np.ndarray) -> np.ndarray:
    """AER-LLM's JS distance, re-implemented: each KL rounded to 4 decimals, 1e-8 added to its 2nd argument."""

    def kl4(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        terms = np.where(a > 0, a * np.log(np.where(a > 0, a, 1.0) / (b + 1e-8)), 0.0)
        return np.round(terms.sum(axis=-1), 4)

    m = (t + p) / 2
    return np.sqrt(np.maximum(0.5 * kl4(t, m) + 0.5 * kl4(p, m), 0.0))


def test_js_against_aer_llm_rounding_per_item_and_set_mean():
    rng = np.random.default_rng(0)
    t = vote_dists(rng, 2000, 4, raters=5)
    p = 0.9 * t + 0.1 * random_dists(rng, 2000, 4, zero_frac=0.0)  # predictions close to the truth
    diff = np.abs(am.js_distance_per_item(t, p) - _aer_llm_js(t, p))
    # per item: up to sqrt(5e-5) ~ 7e-3 where the 4-decimal rounding meets the square root near 0
    assert 1e-3 < diff.max() <= math.sqrt(5e-5) + 1e-6
    # set means agree to 1e-5
    assert abs(am.js_distance(t, p) - _aer_llm_js(t, p).mean()) < 1e-5
