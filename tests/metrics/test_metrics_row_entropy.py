"""The one entropy of the package (metrics.row_entropy) against scipy, and its callers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import entropy as scipy_entropy

from amber2.metrics import entropy, row_entropy


@pytest.mark.parametrize("base", [2, math.e, 10])
def test_matches_scipy_with_zeros_and_leading_dims(base):
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(5), size=(3, 7))
    p[p < 0.1] = 0.0
    p /= p.sum(-1, keepdims=True)
    np.testing.assert_allclose(row_entropy(p, base=base), scipy_entropy(p, base=base, axis=-1), atol=1e-12)
    assert row_entropy(p, base=base).shape == (3, 7)


def test_exact_bits_and_no_checks():
    assert row_entropy([[0.5, 0.5, 0, 0], [0.25] * 4, [1, 0, 0, 0]]).tolist() == [1.0, 2.0, 0.0]
    # no validation: a negative entry contributes 0 like a zero (checked entropy() refuses it)
    assert row_entropy([[-0.1, 0.5, 0.5]]).tolist() == [1.0]
    with pytest.raises(ValueError):
        entropy([[-0.1, 0.5, 0.5]])
    with pytest.raises(ValueError, match="base"):
        row_entropy([[1.0]], base=1)


def test_checked_entropy_is_the_same_function():
    Y = np.array([[2 / 3, 1 / 3, 0.0], [1 / 3, 1 / 3, 1 / 3]])
    np.testing.assert_array_equal(entropy(Y), row_entropy(Y))
    np.testing.assert_array_equal(entropy(Y, base=math.e), row_entropy(Y, base=math.e))
