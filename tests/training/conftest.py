from __future__ import annotations

import numpy as np
import pytest

from amber2.training.data import LabeledSet


def make_set(n: int = 240, C: int = 4, dims=(("audio", 16), ("text", 12)), seed: int = 0) -> LabeledSet:
    rng = np.random.default_rng(seed)
    Y = rng.dirichlet(np.ones(C) * 0.5, size=n)
    X = {m: (rng.normal(size=(n, d)) + Y @ rng.normal(size=(C, d))).astype(np.float32) for m, d in dims}
    groups = np.array([f"spk{i % 6}" for i in range(n)])
    return LabeledSet([f"u{i}" for i in range(n)], X, Y, [f"c{i}" for i in range(C)], groups)


@pytest.fixture
def small_set() -> LabeledSet:
    return make_set()


TINY = ["model.hidden=16", "model.fusion_dim=8", "optim.batch_size=32"]
