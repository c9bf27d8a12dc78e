"""Vote rows with a weight (counts-form manifests: one row per class, weight = count) count as that many
votes in every consumer: the proxies analysis (Fleiss' kappa, saturation, human distributions), the corpus
summary and the synthetic source counts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from amber2.corpora.manifest import read_manifest
from amber2.corpora.raters import synthetic_rater_id
from amber2.corpora.summary import summarize
from amber2.corpora.table import CorpusBuilder, CorpusTable
from amber2.labels import LabelPolicy, LabelPolicyError, synthetic_sources
from amber2.labels.proxies import analyse_proxies, fleiss_kappa

C2 = LabelPolicy(name="two", classes=("angry", "sad"))
HUMAN = {"a": (3, 1), "b": (0, 4), "c": (2, 2), "d": (4, 0), "e": (1, 2), "f": (0, 0)}  # (angry, sad)
SYNTH = {"a": "angry angry sad", "b": "sad sad sad", "c": "angry sad sad", "d": "angry angry angry",
         "e": "sad angry sad", "f": "sad sad angry"}


def _counts_manifest(tmp_path):
    rows = "".join(f"{i},{i}.wav,{a},{s}\n" for i, (a, s) in HUMAN.items())
    path = tmp_path / "manifest.csv"
    path.write_text("id,audio,votes:angry,votes:sad\n" + rows)
    return read_manifest(path, check_audio=False)


def _expanded_table():
    """The same human votes, one row per rater (weight 1)."""
    b = CorpusBuilder("manifest", None, "tests")
    for uid, (a, s) in HUMAN.items():
        b.add_item(uid)
        for k, lab in enumerate(["angry"] * a + ["sad"] * s):
            b.add_vote(uid, rater=f"r{k}", kind="human", labels=[lab])
    return b.build()


def _with_synthetic(table: CorpusTable, *, weighted: bool = False) -> CorpusTable:
    """Add SYNTH's votes; ``weighted``: a run of equal votes of annotator i is one row of weight k."""
    rows = []
    for uid, labs in SYNTH.items():
        labs = labs.split()
        if weighted:  # annotator 0 gives len(labs) votes of labs[0] ... as in a counts-form synthetic table
            rows += [(uid, synthetic_rater_id("fake", "m", k), lab, float(labs.count(lab)))
                     for k, lab in enumerate(dict.fromkeys(labs))]
        else:
            rows += [(uid, synthetic_rater_id("fake", "m", k), lab, 1.0) for k, lab in enumerate(labs)]
    extra = pd.DataFrame({"id": [r[0] for r in rows], "rater": [r[1] for r in rows], "kind": "synthetic",
                          "labels": [[r[2]] for r in rows], "secondary": [[] for _ in rows], "note": "",
                          "valence": np.nan, "arousal": np.nan, "dominance": np.nan,
                          "weight": [r[3] for r in rows]})
    return CorpusTable(table.items, pd.concat([table.votes, extra], ignore_index=True), table.info)


def test_counts_form_manifest_stores_one_row_per_class_with_its_count(tmp_path):
    t = _counts_manifest(tmp_path)
    assert len(t.votes) == 8  # non-zero cells only, not 19 rows
    assert t.votes["weight"].sum() == 19


def test_proxies_on_counts_form_equal_one_row_per_vote(tmp_path):
    counts_form = _with_synthetic(_counts_manifest(tmp_path))
    expanded = _with_synthetic(_expanded_table())
    r1 = analyse_proxies(counts_form, C2, subsets=4, seed=1)
    r2 = analyse_proxies(expanded, C2, subsets=4, seed=1)
    assert r1.ids == r2.ids == ["a", "b", "c", "d", "e"]  # f has no human vote
    assert r1.js == pytest.approx(r2.js) and r1.bc == pytest.approx(r2.bc)
    human = np.array([HUMAN[i] for i in r1.ids], dtype=float)
    # Fleiss' kappa of the counts themselves, not of one vote per class row
    assert r1.groups["all"].kappa_human == pytest.approx(fleiss_kappa(human))
    assert r1.groups["all"].kappa_human == pytest.approx(r2.groups["all"].kappa_human)
    assert r1.groups["all"].entropy_human == pytest.approx(r2.groups["all"].entropy_human)
    assert r1.groups["all"].curve_js == pytest.approx(r2.groups["all"].curve_js)


def test_weighted_synthetic_rows_count_as_that_many_votes(tmp_path):
    table = _counts_manifest(tmp_path)
    one_each, weighted = _with_synthetic(table), _with_synthetic(table, weighted=True)
    assert synthetic_sources(one_each) == synthetic_sources(weighted) == {"fake:m": 18}
    r1 = analyse_proxies(one_each, C2, subsets=3, seed=0)
    r2 = analyse_proxies(weighted, C2, subsets=3, seed=0)
    assert r1.n_max == r2.n_max == 3
    assert r1.groups["all"].kappa_synthetic == pytest.approx(r2.groups["all"].kappa_synthetic)
    assert r1.js == pytest.approx(r2.js)
    bad = weighted.votes.copy()
    bad.loc[bad.index[-1], "weight"] = 0.5
    with pytest.raises(LabelPolicyError, match="not a whole number"):
        analyse_proxies(CorpusTable(weighted.items, bad, weighted.info), C2)


def test_summary_sums_weights(tmp_path):
    t = _counts_manifest(tmp_path)
    s = summarize(t)
    assert s.n_votes == 19 and s.votes_by_kind == {k: 19 for k in s.votes_by_kind}
    assert s.raters_per_item["items_without_votes"] == 1  # f: every cell 0
    zero = t.votes.copy()
    zero.loc[zero["id"] == "a", "weight"] = 0.0  # rows present, no weight: no votes
    assert summarize(CorpusTable(t.items, zero, t.info)).raters_per_item["items_without_votes"] == 2
