"""Ambiguity bins: equal counts, ties kept together, empty bins, explicit edges, per-bin table."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from metrics_testdata import random_dists, vote_dists

import amber2.metrics as am


def test_equal_count_on_distinct_values():
    rng = np.random.default_rng(0)
    v = rng.random(103)
    edges = am.equal_count_edges(v, n_bins=4)
    sizes = np.bincount(am.assign_bins(v, edges), minlength=4)
    assert sizes.sum() == 103 and sizes.max() - sizes.min() <= 1
    assert edges[0] == pytest.approx(v.min()) and edges[-1] == pytest.approx(v.max())


def test_ties_stay_in_one_bin_and_bins_nonempty_when_possible():
    # IEMOCAP-like: few distinct entropies, heavy ties
    v = np.repeat([0.0, 0.918, 1.0, 1.585], [100, 500, 150, 250])
    edges = am.equal_count_edges(v, n_bins=4)
    idx = am.assign_bins(v, edges)
    for value in np.unique(v):
        assert len(np.unique(idx[v == value])) == 1
    assert np.bincount(idx, minlength=4).tolist() == [100, 500, 150, 250]


def test_fewer_distinct_values_than_bins_gives_empty_bins():
    v = np.repeat([0.0, 1.0, 2.0], [900, 50, 50])
    edges = am.equal_count_edges(v, n_bins=4)
    sizes = np.bincount(am.assign_bins(v, edges), minlength=4)
    assert sizes.tolist() == [900, 0, 50, 50]
    assert np.all(np.diff(edges) >= 0)
    single = am.equal_count_edges(np.zeros(7), n_bins=3)
    assert single.tolist() == [0.0, 0.0, 0.0, 0.0]
    assert np.bincount(am.assign_bins(np.zeros(7), single), minlength=3).tolist() == [7, 0, 0]


def test_permuted_distributions_share_a_bin():
    t = np.array([[2 / 3, 1 / 3, 0.0], [1 / 3, 2 / 3, 0.0], [0.0, 1 / 3, 2 / 3], [1.0, 0.0, 0.0]])
    ent = am.entropy(t)
    idx = am.assign_bins(ent, am.equal_count_edges(ent, n_bins=2))
    assert len(set(idx[:3].tolist())) == 1


def test_explicit_edges():
    v = np.array([0.0, 0.5, 0.5000000000001, 1.0, 2.0])
    assert am.assign_bins(v, [0, 0.5, 1.0, 2.0]).tolist() == [0, 0, 0, 1, 2]
    assert am.assign_bins([1.5849625007211563], [0, math.log2(3)]).tolist() == [0]  # float noise at the top
    with pytest.raises(ValueError, match=r"outside the edges \[0, 1\], first: item 4 \(2\)"):
        am.assign_bins(v, [0, 1.0])
    with pytest.raises(ValueError, match="non-decreasing"):
        am.assign_bins(v, [0, 2.0, 1.0])
    with pytest.raises(ValueError, match="at least 2"):
        am.assign_bins(v, [0])
    with pytest.raises(ValueError, match="empty"):
        am.equal_count_edges([], n_bins=2)


def test_per_bin_metrics_matches_subsets():
    rng = np.random.default_rng(1)
    t, p = vote_dists(rng, 120, 4, raters=3), random_dists(rng, 120, 4)
    df = am.per_bin_metrics(t, p, n_bins=4)
    assert isinstance(df, pd.DataFrame)
    assert list(df.columns) == ["bin", "lower", "upper", "size", "mean_entropy", *am.PAPER_METRICS]
    assert df["size"].sum() == 120
    ent = am.entropy(t)
    idx = am.assign_bins(ent, np.r_[df["lower"].iloc[0], df["upper"].to_numpy()])
    for _, row in df.iterrows():
        mask = idx == row["bin"]
        if row["size"] == 0:
            assert np.isnan(row["js"])
            continue
        ref = am.evaluate(t[mask], p[mask])
        for name in am.PAPER_METRICS:
            assert row[name] == pytest.approx(ref[name])
        assert row["mean_entropy"] == pytest.approx(ent[mask].mean())


def test_per_bin_metrics_explicit_edges_and_empty_bins():
    rng = np.random.default_rng(2)
    t, p = vote_dists(rng, 60, 4, raters=4), random_dists(rng, 60, 4)
    df = am.per_bin_metrics(t, p, edges=[0, 0.5, 1.0, 1.2, 1.4, 2.0], metrics=("js", "ece"))
    # 4 raters over 4 classes give entropies in {0, .811, 1, 1.5, 2}: the bin (1.2, 1.4] is empty
    assert len(df) == 5 and df.loc[3, "size"] == 0 and np.isnan(df.loc[3, "js"])
    assert df["size"].sum() == 60
    nats = am.per_bin_metrics(t, p, n_bins=2, base=math.e)
    assert nats["upper"].iloc[-1] == pytest.approx(am.entropy(t, base=math.e).max())
