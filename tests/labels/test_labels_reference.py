"""The vectorised engine against a plain per-item, per-rater reference on random tables and policies."""

from __future__ import annotations

import math

import numpy as np
import pytest
from _labels_tables import table_from
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from amber2.labels import LabelPolicy, order_classes

VOCAB = ["neutral", "happy", "excited", "angry", "sad", "frustrated", "other", "amused"]
KINDS = ["external", "self", "voice"]
CODES = ["neu", "hap", "exc", "xxx", None]


def reference(policy: LabelPolicy, items: dict, consensus: dict):
    """Straightforward re-statement of the documented rule, one utterance and one rater at a time."""
    merge = policy.merge_map

    def rater_labels(labels, secondary):
        labs = list(labels) + (list(secondary) if policy.include_secondary else [])
        if policy.multi_label == "first":
            labs = labs[:1]
        return [merge.get(x, x) for x in labs]

    def in_play(uid):
        return policy.selection != "consensus" or consensus.get(uid) in policy.consensus_codes

    def counted(rows):
        return [r for r in rows if policy.rater_kinds is None or r[1] in policy.rater_kinds]

    if policy.classes is None:
        seen = {x for uid, rows in items.items() if in_play(uid) for r in counted(rows)
                for x in rater_labels(r[2], r[3])}
        classes = order_classes(seen - {policy.other_class})
        if policy.out_of_set == "keep":
            classes.append(policy.other_class)
    else:
        classes = list(policy.classes)
    C = len(classes)
    out, dropped = {}, {}
    for uid, rows in items.items():
        if not in_play(uid):
            dropped[uid] = "not_selected_by_consensus"
            continue
        rows = counted(rows)
        if not rows:
            dropped[uid] = "no_votes"
            continue
        n = dict.fromkeys(classes, 0.0)
        raters = 0
        for r in rows:
            labs = []
            for x in rater_labels(r[2], r[3]):
                if x in classes:
                    labs.append(x)
                elif policy.out_of_set == "keep":
                    labs.append(policy.other_class)
            if policy.duplicates == "once":
                labs = list(dict.fromkeys(labs))
            if not labs:
                continue
            raters += 1
            for x in labs:
                n[x] += 1.0 / len(labs) if policy.multi_label == "split" else 1.0
        N = sum(n.values())
        ranked = sorted(n.values(), reverse=True)
        if N == 0:
            dropped[uid] = "no_valid_votes"
        elif policy.min_votes - 1e-9 > N:
            dropped[uid] = "below_min_votes"
        elif raters < policy.min_raters:
            dropped[uid] = "below_min_raters"
        elif policy.selection == "plurality" and len(ranked) > 1 and math.isclose(ranked[0], ranked[1]):
            dropped[uid] = "no_plurality"
        elif policy.selection == "majority" and not ranked[0] > N / 2 + 1e-9:
            dropped[uid] = "no_majority"
        else:
            eps = policy.smoothing
            y = [v / N for v in n.values()]
            if eps:
                y = [(1 - eps) * v + eps * (1 - v) / (C - 1) for v in y]
            if policy.decimals is not None:
                y = [round(v, policy.decimals) for v in y]
            out[uid] = (y, list(n.values()), N, raters)
    return classes, out, dropped


label_lists = st.lists(st.sampled_from(VOCAB), max_size=3)
vote = st.tuples(st.sampled_from(["r1", "r2", "r3", "r4", "r5"]), st.sampled_from(KINDS), label_lists,
                 st.lists(st.sampled_from(VOCAB), max_size=2))
tables = st.dictionaries(st.from_regex(r"u[0-9]{1,3}", fullmatch=True), st.lists(vote, max_size=6), max_size=8)


@st.composite
def policies(draw):
    classes = draw(st.none() | st.lists(st.sampled_from(VOCAB), min_size=2, max_size=5, unique=True))
    out_of_set = draw(st.sampled_from(["drop", "keep"]))
    if classes is not None and out_of_set == "keep" and "other" not in classes:
        classes.append("other")
    merge = {}
    if draw(st.booleans()) and (classes is None or ("happy" in classes and "excited" not in classes)):
        merge = {"excited": "happy"}
    selection = draw(st.sampled_from(["all", "consensus", "plurality", "majority"]))
    return LabelPolicy(
        name="random",
        classes=None if classes is None else tuple(classes),
        merge=merge,
        rater_kinds=draw(st.none() | st.lists(st.sampled_from(KINDS), min_size=1, max_size=2, unique=True)
                         .map(tuple)),
        multi_label=draw(st.sampled_from(["full", "split", "first"])),
        include_secondary=draw(st.booleans()),
        duplicates=draw(st.sampled_from(["once", "each"])),
        out_of_set=out_of_set,
        smoothing=draw(st.sampled_from([0.0, 0.05, 0.3])) if classes is not None else 0.0,
        decimals=draw(st.none() | st.integers(1, 3)),
        min_votes=draw(st.sampled_from([0.0, 1.0, 2.5])),
        min_raters=draw(st.integers(0, 2)),
        selection=selection,
        consensus_codes=("hap", "exc") if selection == "consensus" else None,
    )


@pytest.mark.slow  # ~5 s: 120 hypothesis examples
@settings(max_examples=120, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=tables, policy=policies(), codes=st.lists(st.sampled_from(CODES), min_size=8, max_size=8))
def test_engine_matches_reference(raw, policy, codes):
    items = {uid: [(f"{r}_{k}", kind, labs, sec) for k, (r, kind, labs, sec) in enumerate(rows)]
             for uid, rows in raw.items()}
    consensus = {uid: codes[i] for i, uid in enumerate(items)}
    table = table_from(items, consensus={u: c for u, c in consensus.items()})
    ls = policy.apply(table)
    classes, expected, dropped = reference(policy, items, consensus)
    assert list(ls.classes) == classes
    assert ls.ids == list(expected)
    assert {uid: why for why, ids in ls.dropped.items() for uid in ids} == dropped
    for k, uid in enumerate(ls.ids):
        y, counts, N, raters = expected[uid]
        np.testing.assert_allclose(ls.Y[k], y, atol=1e-12 if policy.decimals is None else 1.01 * 10**-policy.decimals)
        np.testing.assert_allclose(ls.counts[k], counts, atol=1e-12)
        assert ls.n_votes[k] == np.float64(N) or math.isclose(ls.n_votes[k], N)
        assert ls.n_raters[k] == raters
        if policy.decimals is None:
            assert math.isclose(ls.Y[k].sum(), 1.0, abs_tol=1e-9)
        assert (ls.Y[k] >= 0).all()
