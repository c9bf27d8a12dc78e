"""Random distribution sets for the metric tests (exact zeros, ties from few raters)."""

from __future__ import annotations

import numpy as np


def random_dists(rng: np.random.Generator, n: int, c: int, zero_frac: float = 0.4) -> np.ndarray:
    """Random distributions with many exact zeros (every row keeps at least one positive entry)."""
    x = rng.gamma(0.7, size=(n, c))
    x[rng.random((n, c)) < zero_frac] = 0.0
    empty = x.sum(axis=1) == 0
    x[empty, rng.integers(0, c, int(empty.sum()))] = 1.0
    return x / x.sum(axis=1, keepdims=True)


def vote_dists(rng: np.random.Generator, n: int, c: int, raters: int = 3) -> np.ndarray:
    """Distributions from a few raters' votes: exact zeros and ties, as in IEMOCAP."""
    votes = rng.integers(0, c, size=(n, raters))
    counts = np.stack([(votes == k).sum(axis=1) for k in range(c)], axis=1)
    return counts / raters
