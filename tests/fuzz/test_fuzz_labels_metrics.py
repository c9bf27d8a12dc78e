"""Property tests: label policies on weighted votes (issue 14.9/15.3) and the distribution metrics."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.spatial.distance import jensenshannon
from scipy.stats import entropy as scipy_entropy

from amber2.corpora.table import CorpusBuilder
from amber2.labels import LabelPolicy
from amber2.metrics.distribution import entropy, js_divergence_per_item, kl_divergence_per_item

FAST = settings(max_examples=40, deadline=None)
CLASSES = ["neutral", "happy", "sad", "angry"]

# per item: a list of (class index, whole weight >= 1) rows
votes_st = st.lists(st.lists(st.tuples(st.integers(0, 3), st.integers(1, 5)), min_size=0, max_size=5),
                    min_size=1, max_size=6)


def _table(items, *, expand: bool):
    b = CorpusBuilder("fuzz", None, "test")
    for i, rows in enumerate(items):
        b.add_item(f"u{i}")
        k = 0
        for c, w in rows:
            if expand:  # w raters, one row each
                for _ in range(w):
                    k += 1
                    b.add_vote(f"u{i}", rater=f"r{k}", labels=[CLASSES[c]])
            else:  # one row of weight w
                k += 1
                b.add_vote(f"u{i}", rater=f"r{k}", labels=[CLASSES[c]], weight=w)
    return b.build()


@FAST
@given(items=votes_st, smoothing=st.sampled_from([0.0, 0.1]))
def test_a_row_of_weight_k_counts_as_k_raters(items, smoothing):
    policy = LabelPolicy(name="t", classes=tuple(CLASSES), smoothing=smoothing)
    a = policy.apply(_table(items, expand=True))
    b = policy.apply(_table(items, expand=False))
    assert a.ids == b.ids
    np.testing.assert_allclose(a.Y, b.Y, atol=1e-12)
    np.testing.assert_allclose(a.counts, b.counts)
    assert a.n_raters.tolist() == b.n_raters.tolist()
    for i, uid in enumerate(a.ids):  # Eq. 1 by hand
        rows = items[int(uid[1:])]
        n = np.zeros(4)
        for c, w in rows:
            n[c] += w
        if smoothing == 0:
            np.testing.assert_allclose(a.Y[i], n / n.sum())
        assert a.Y[i].sum() == pytest.approx(1.0)
    dropped = {u for ids in a.dropped.values() for u in ids}
    assert dropped == {f"u{i}" for i, rows in enumerate(items) if not rows}


@FAST
@given(w=st.floats(0.01, 1e6, allow_subnormal=False), v=st.floats(0.01, 1e6, allow_subnormal=False))
def test_fractional_weights_are_eq1_on_the_mass(w, v):
    b = CorpusBuilder("fuzz", None, "test")
    b.add_item("u")
    b.add_vote("u", rater="a", labels=["happy"], weight=w)
    b.add_vote("u", rater="b", labels=["sad"], weight=v)
    ls = LabelPolicy(name="t", classes=("happy", "sad")).apply(b.build())
    assert ls.Y[0].tolist() == pytest.approx([w / (w + v), v / (w + v)])


def test_a_weight_that_is_not_a_finite_number_is_refused():
    from amber2.corpora.table import CorpusTable, CorpusTableError

    t = _table([[(0, 1)]], expand=False)
    votes = t.votes.copy()
    for bad in (-1.0, math.inf, math.nan):
        votes["weight"] = bad
        with pytest.raises(CorpusTableError, match="weight"):
            CorpusTable(t.items, votes, t.info)
    old = CorpusTable(t.items, t.votes.drop(columns=["weight"]), t.info)  # frames from before weights
    assert old.votes["weight"].tolist() == [1.0]


def test_weights_round_trip_through_parquet_and_old_fingerprints_hold(tmp_path):
    from amber2.corpora.table import CorpusTable

    t = _table([[(0, 3), (1, 1)]], expand=False)
    back = CorpusTable.read(t.write(tmp_path / "c.parquet"))
    assert back.votes["weight"].tolist() == [3.0, 1.0] and back.fingerprint() == t.fingerprint()
    ones = _table([[(0, 1)]], expand=False)
    legacy = CorpusTable(ones.items, ones.votes.drop(columns=["weight"]), ones.info)
    assert legacy.fingerprint() == ones.fingerprint()
    assert _table([[(0, 2)]], expand=False).fingerprint() != _table([[(0, 1)]], expand=False).fingerprint()


UNIT = st.floats(0, 1, allow_subnormal=False)  # subnormals: another library may have set flush-to-zero
dist = arrays(np.float64, st.tuples(st.integers(1, 6), st.just(4)), elements=UNIT).filter(
    lambda a: (a.sum(axis=1) > 1e-3).all()).map(lambda a: a / a.sum(axis=1, keepdims=True))


@FAST
@given(t=dist, data=st.data())
def test_metrics_agree_with_scipy_and_stay_in_range(t, data):
    p = data.draw(arrays(np.float64, st.just(t.shape), elements=UNIT).filter(
        lambda a: (a.sum(axis=1) > 1e-3).all()).map(lambda a: a / a.sum(axis=1, keepdims=True)))
    js = js_divergence_per_item(t, p, base=2)
    np.testing.assert_allclose(js, jensenshannon(t, p, axis=1, base=2) ** 2, atol=1e-9)
    assert ((js >= -1e-12) & (js <= 1 + 1e-12)).all()
    np.testing.assert_allclose(js, js_divergence_per_item(p, t, base=2), atol=1e-12)  # symmetric
    np.testing.assert_allclose(entropy(t), scipy_entropy(t, base=2, axis=1), atol=1e-9)
    kl = kl_divergence_per_item(t, p)
    assert np.isfinite(kl).all() and (kl >= -1e-9).all()


@pytest.mark.parametrize("bad", [[[np.nan, 1.0]], [[np.inf, 0.0]], [[0.5, 0.6]], [[-0.5, 1.5]], [[1.0]]])
def test_metrics_refuse_invalid_distributions_with_a_clear_error(bad):
    with pytest.raises(ValueError):
        js_divergence_per_item(bad, [[0.5, 0.5]])


def test_frames_survive_the_summary():
    from amber2.corpora.summary import summarize

    t = _table([[(0, 3), (1, 1)], [(2, 2)]], expand=False)
    s = summarize(t).to_dict()
    assert s["n_votes"] == 6 and s["raters_per_item"]["mean"] == 3 and s["labels_in_votes"]["neutral"] == 3
    assert isinstance(pd.DataFrame(t.votes), pd.DataFrame)
