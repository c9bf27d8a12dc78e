"""Each rule of a label policy, on small hand-made tables with hand-computed results."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from _labels_tables import table_from
from scipy.stats import entropy as scipy_entropy

from amber2.corpora.table import CorpusTable
from amber2.labels import DROP_REASONS, LabelPolicy, LabelPolicyError, read_labels, smooth

C3 = ("neutral", "happy", "angry")


def counts_of(ls, uid):
    return dict(zip(ls.classes, ls.counts[ls.ids.index(uid)].tolist(), strict=True))


@pytest.fixture
def multi():
    # a: rater 1 gives two in-set labels, rater 2 one; b: rater 1 gives an out-of-set label first
    return table_from({
        "a": [("r1", "external", ["happy", "angry"]), ("r2", "external", ["neutral"])],
        "b": [("r1", "external", ["sad", "happy"]), ("r2", "external", ["happy"])],
    })


def test_default_policy_is_eq1(multi):
    p = LabelPolicy()
    assert p.name == "eq1" and p.classes is None and p.rater_kinds is None and p.multi_label == "full"
    ls = p.apply(multi)
    # inferred classes: every label seen except "other", canonical order
    assert list(ls.classes) == ["neutral", "happy", "angry", "sad"]
    assert counts_of(ls, "a") == {"neutral": 1, "happy": 1, "angry": 1, "sad": 0}
    np.testing.assert_allclose(ls.Y[0], [1 / 3, 1 / 3, 1 / 3, 0])


def test_multi_label_full_split_first(multi):
    full = LabelPolicy(name="full", classes=C3).apply(multi)
    assert counts_of(full, "a") == {"neutral": 1, "happy": 1, "angry": 1}
    assert counts_of(full, "b") == {"neutral": 0, "happy": 2, "angry": 0}
    np.testing.assert_allclose(full.n_votes, [3, 2])

    split = LabelPolicy(name="split", classes=C3, multi_label="split").apply(multi)
    assert counts_of(split, "a") == {"neutral": 1, "happy": 0.5, "angry": 0.5}
    # b/r1: 'sad' is out of set, so r1's one remaining label carries its whole vote
    assert counts_of(split, "b") == {"neutral": 0, "happy": 2, "angry": 0}
    np.testing.assert_allclose(split.n_votes, [2, 2])
    np.testing.assert_allclose(split.Y[0], [0.5, 0.25, 0.25])

    first = LabelPolicy(name="first", classes=C3, multi_label="first").apply(multi)
    assert counts_of(first, "a") == {"neutral": 1, "happy": 1, "angry": 0}
    # b/r1 wrote 'sad' first: that rater's vote is lost (first label as written, not first valid one)
    assert counts_of(first, "b") == {"neutral": 0, "happy": 1, "angry": 0}
    np.testing.assert_array_equal(first.n_raters, [2, 1])


def test_msp_secondary_and_duplicates():
    t = table_from({
        "MSP-PODCAST_0001_0139": [
            ("WORKER00000001", "external", ["other"], ["concerned", "confused"]),
            ("WORKER00000018", "external", ["neutral"], ["neutral"]),
            ("WORKER00000044", "external", ["surprise"], ["neutral", "surprise"]),
        ],
    })
    classes = ("angry", "sad", "disgust", "contempt", "fear", "neutral", "surprise", "happy")
    primary = LabelPolicy(name="p", classes=classes).apply(t)
    assert counts_of(primary, "MSP-PODCAST_0001_0139")["neutral"] == 1
    assert counts_of(primary, "MSP-PODCAST_0001_0139")["surprise"] == 1
    assert primary.n_votes.tolist() == [2] and primary.n_raters.tolist() == [2]
    incl = LabelPolicy(name="i", classes=classes, include_secondary=True).apply(t)
    # worker 18: neutral twice -> once; worker 44: surprise twice -> once, plus neutral
    c = counts_of(incl, "MSP-PODCAST_0001_0139")
    assert (c["neutral"], c["surprise"], sum(c.values())) == (2, 1, 3)
    each = LabelPolicy(name="e", classes=classes, include_secondary=True, duplicates="each").apply(t)
    c = counts_of(each, "MSP-PODCAST_0001_0139")
    assert (c["neutral"], c["surprise"], sum(c.values())) == (3, 2, 5)
    assert incl.out_of_set == {"other": 1.0, "concerned": 1.0, "confused": 1.0}
    # first label with secondary: the primary comes first
    first = LabelPolicy(name="f", classes=classes, include_secondary=True, multi_label="first").apply(t)
    assert first.counts.sum() == 2


def test_other_keep_and_drop():
    t = table_from({"x": [("1", "external", ["happy"]), ("2", "external", ["other"]),
                          ("3", "external", ["frustrated", "sad"])]})
    drop = LabelPolicy(name="d", classes=("happy", "sad")).apply(t)
    assert drop.counts.tolist() == [[1, 1]]
    keep = LabelPolicy(name="k", classes=("happy", "sad", "other"), out_of_set="keep").apply(t)
    assert keep.counts.tolist() == [[1, 1, 2]]  # other + frustrated in the catch-all class
    assert keep.out_of_set == {"frustrated": 1.0}
    kept_as_class = LabelPolicy(name="c", classes=("happy", "other")).apply(t)  # 'other' is a real class
    assert kept_as_class.counts.tolist() == [[1, 1]]
    inferred = LabelPolicy(name="i", out_of_set="keep").apply(t)
    assert list(inferred.classes) == ["happy", "sad", "frustrated", "other"]


def test_merge():
    t = table_from({"x": [("1", "external", ["excited"]), ("2", "external", ["happy"]),
                          ("3", "external", ["neutral"])]})
    ls = LabelPolicy(name="m", classes=("neutral", "happy"), merge={"excited": "happy"}).apply(t)
    np.testing.assert_allclose(ls.Y, [[1 / 3, 2 / 3]])
    inferred = LabelPolicy(name="mi", merge={"excited": "happy"}).apply(t)
    assert list(inferred.classes) == ["neutral", "happy"]


def test_rater_kinds():
    t = table_from({"clip": [("v1", "voice", ["angry"]), ("v2", "voice", ["sad"]), ("f1", "face", ["angry"]),
                             ("a1", "audiovisual", ["happy"])]})
    voice = LabelPolicy(name="v", classes=("angry", "sad", "happy"), rater_kinds=("voice",)).apply(t)
    assert voice.counts.tolist() == [[1, 1, 0]]
    both = LabelPolicy(name="vf", classes=("angry", "sad", "happy"), rater_kinds=("voice", "face")).apply(t)
    assert both.counts.tolist() == [[2, 1, 0]]
    none = LabelPolicy(name="n", classes=("angry", "sad"), rater_kinds=("self",)).apply(t)
    assert none.dropped["no_votes"] == ["clip"] and len(none) == 0 and none.Y.shape == (0, 2)


@pytest.mark.parametrize("eps", [0.0, 0.05, 0.2, 0.5])
def test_smoothing_formula(eps):
    rng = np.random.default_rng(1)
    Y = rng.dirichlet(np.ones(5), size=20)
    C = 5
    expected = np.array([[(1 - eps) * y + eps * (1 - y) / (C - 1) for y in r] for r in Y])
    out = smooth(Y, eps)
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-15)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, atol=1e-12)
    onehot = smooth(np.eye(C)[:1], eps)
    np.testing.assert_allclose(onehot, [[1 - eps] + [eps / (C - 1)] * (C - 1)])


def test_smoothing_applied_after_normalisation():
    t = table_from({"x": [("1", "external", ["happy"]), ("2", "external", ["sad"]), ("3", "external", ["sad"])]})
    ls = LabelPolicy(name="s", classes=("happy", "sad", "angry"), smoothing=0.1).apply(t)
    y = np.array([1 / 3, 2 / 3, 0])
    np.testing.assert_allclose(ls.Y[0], 0.9 * y + 0.1 * (1 - y) / 2)
    assert ls.counts.tolist() == [[1, 2, 0]]


def test_smoothing_needs_two_classes():
    t = table_from({"x": [("1", "external", ["happy"])]})
    with pytest.raises(LabelPolicyError, match="at least 2 classes"):
        LabelPolicy(name="s", smoothing=0.1).apply(t)  # inferred classes: just 'happy'


def test_rounding_not_renormalised():
    t = table_from({"x": [("1", "external", ["happy"]), ("2", "external", ["sad"]), ("3", "external", ["angry"])],
                    "y": [("1", "external", ["happy"]), ("2", "external", ["happy"]), ("3", "external", ["sad"])]})
    ls = LabelPolicy(name="r", classes=("happy", "sad", "angry"), decimals=2).apply(t)
    assert ls.Y.tolist() == [[0.33, 0.33, 0.33], [0.67, 0.33, 0.0]]
    assert ls.Y.sum(axis=1).tolist() == pytest.approx([0.99, 1.0])
    ls1 = LabelPolicy(name="r1", classes=("happy", "sad", "angry"), decimals=1).apply(t)
    assert ls1.Y.tolist() == [[0.3, 0.3, 0.3], [0.7, 0.3, 0.0]]


def test_min_votes_and_min_raters():
    t = table_from({
        "two": [("1", "external", ["happy"]), ("2", "external", ["sad"])],
        "three": [("1", "external", ["happy"]), ("2", "external", ["sad"]), ("3", "external", ["sad"])],
        "multi": [("1", "external", ["happy", "sad", "angry"])],
    })
    ls = LabelPolicy(name="mv", classes=("happy", "sad", "angry"), min_votes=3).apply(t)
    assert ls.ids == ["three", "multi"] and ls.dropped["below_min_votes"] == ["two"]
    lr = LabelPolicy(name="mr", classes=("happy", "sad", "angry"), min_votes=3, min_raters=2).apply(t)
    assert lr.ids == ["three"] and lr.dropped["below_min_raters"] == ["multi"]
    split = LabelPolicy(name="ms", classes=("happy", "sad", "angry"), multi_label="split", min_votes=1.5).apply(t)
    assert split.dropped["below_min_votes"] == ["multi"]  # one rater = one vote when split


def test_selection_rules():
    t = table_from(
        {
            "clear": [("1", "external", ["happy"]), ("2", "external", ["happy"]), ("3", "external", ["sad"])],
            "tie": [("1", "external", ["happy"]), ("2", "external", ["sad"])],
            "plural": [("1", "external", ["happy"]), ("2", "external", ["happy"]), ("3", "external", ["sad"]),
                       ("4", "external", ["angry"]), ("5", "external", ["neutral"])],
            "half": [("1", "external", ["happy"]), ("2", "external", ["happy"]), ("3", "external", ["sad"]),
                     ("4", "external", ["angry"])],
        },
        consensus={"clear": "hap", "tie": "xxx", "plural": "hap", "half": None},
    )
    cls = ("neutral", "happy", "sad", "angry")
    assert len(LabelPolicy(name="all", classes=cls).apply(t)) == 4
    cons = LabelPolicy(name="c", classes=cls, selection="consensus", consensus_codes=("hap",)).apply(t)
    assert cons.ids == ["clear", "plural"]
    assert cons.dropped["not_selected_by_consensus"] == ["tie", "half"]  # missing code -> not selected
    plur = LabelPolicy(name="p", classes=cls, selection="plurality").apply(t)
    assert plur.ids == ["clear", "plural", "half"] and plur.dropped["no_plurality"] == ["tie"]
    maj = LabelPolicy(name="mj", classes=cls, selection="majority").apply(t)
    assert maj.ids == ["clear"]  # plural 2/5, half 2/4 (not > half), tie 1/2
    assert maj.dropped["no_majority"] == ["tie", "plural", "half"]


def test_plurality_with_split_fractions_is_tolerant():
    # 1/3 + 1/3 + 1/3 against 1.0: a tie, whatever the float rounding
    t = table_from({"x": [("1", "external", ["happy", "sad", "angry"]), ("2", "external", ["happy", "sad", "angry"]),
                          ("3", "external", ["happy", "sad", "angry"]), ("4", "external", ["sad"])]})
    ls = LabelPolicy(name="p", classes=("happy", "sad", "angry"), multi_label="split",
                     selection="plurality").apply(t)
    assert ls.ids == ["x"]
    t2 = table_from({"x": [("1", "external", ["happy", "sad", "angry"])] * 3 + [("4", "external", ["angry"])]
                     + [("5", "external", ["happy"])]})
    ls2 = LabelPolicy(name="p2", classes=("happy", "sad", "angry"), multi_label="split",
                      selection="plurality").apply(t2)
    assert ls2.dropped["no_plurality"] == ["x"]


def test_consensus_column_missing_is_a_clear_error():
    t = table_from({"x": [("1", "external", ["happy"])]})
    p = LabelPolicy(name="c", classes=("happy", "sad"), selection="consensus", consensus_codes=("hap",))
    with pytest.raises(LabelPolicyError, match=r"metadata column 'consensus'.*lacks"):
        p.apply(t)


def test_invalid_label_values_drop_the_item_with_a_warning(caplog):
    items = pd.DataFrame({"id": ["ok", "bad", "bad2"]})
    votes = pd.DataFrame({"id": ["ok", "bad", "bad", "bad2"], "rater": ["1", "1", "2", "1"],
                          "kind": "external", "labels": [["happy"], ["happy"], [None], [""]]})
    t = CorpusTable.from_frames(items, votes, {"corpus": "x"})
    with caplog.at_level(logging.WARNING, logger="amber2"):
        ls = LabelPolicy(name="v", classes=("happy", "sad")).apply(t)
    assert ls.ids == ["ok"] and ls.dropped["invalid_label"] == ["bad", "bad2"]
    assert "'bad'" in caplog.text and "rater '2'" in caplog.text


def test_labels_given_as_a_string_is_an_error():
    items = pd.DataFrame({"id": ["u1"]})
    votes = pd.DataFrame({"id": ["u1"], "rater": ["E1"], "kind": "external", "labels": [["happy"]]})
    t = CorpusTable.from_frames(items, votes, {"corpus": "x"})
    t.votes.at[0, "labels"] = "happy"
    with pytest.raises(LabelPolicyError, match=r"item 'u1', rater 'E1'.*must be a list"):
        LabelPolicy(name="s", classes=("happy", "sad")).apply(t)


def test_nested_label_is_an_error():
    items = pd.DataFrame({"id": ["u1", "u2"]})
    votes = pd.DataFrame({"id": ["u1", "u2"], "rater": ["E1", "E2"], "kind": "external",
                          "labels": [["happy"], [["happy", "sad"]]]})
    t = CorpusTable.from_frames(items, votes, {"corpus": "x"})
    with pytest.raises(LabelPolicyError, match=r"item 'u2', rater 'E2': a label must be a name"):
        LabelPolicy(name="s", classes=("happy", "sad")).apply(t)


def test_typo_in_classes_warns(caplog):
    t = table_from({"x": [("1", "external", ["angry"]), ("2", "external", ["sad"])]})
    with caplog.at_level(logging.WARNING, logger="amber2"):
        LabelPolicy(name="typo", classes=("angy", "sad")).apply(t)
    assert "'angy'" in caplog.text and "'angry'" in caplog.text


def test_empty_table_and_no_labels():
    empty = table_from({})
    ls = LabelPolicy().apply(empty)
    assert len(ls) == 0 and ls.classes == () and ls.Y.shape == (0, 0)
    silent = table_from({"x": [("1", "external", [])], "y": []})
    ls = LabelPolicy(name="s", classes=("happy", "sad")).apply(silent)
    assert ls.dropped["no_valid_votes"] == ["x"] and ls.dropped["no_votes"] == ["y"]
    assert set(ls.dropped) == set(DROP_REASONS)


def test_labelset_helpers(tmp_path):
    t = table_from({
        "a": [("1", "external", ["happy"]), ("2", "external", ["sad"])],
        "b": [("1", "external", ["happy"])],
        "c": [("1", "external", ["other"])],
    })
    ls = LabelPolicy(name="h", classes=("happy", "sad", "angry")).apply(t)
    np.testing.assert_allclose(ls.entropy(), [scipy_entropy(r, base=2) for r in ls.Y], atol=1e-12)
    np.testing.assert_allclose(ls.entropy(), [1.0, 0.0])
    np.testing.assert_allclose(ls.entropy(base=np.e), [np.log(2), 0.0])
    assert ls.argmax() == ["happy", "happy"]
    f = ls.to_frame(counts=True)
    assert list(f.columns) == ["id", "happy", "sad", "angry", "votes:happy", "votes:sad", "votes:angry",
                               "n_votes", "n_raters"]
    assert f["votes:sad"].tolist() == [1, 0]
    sel = ls.select(["b", "a"])
    assert sel.ids == ["b", "a"] and sel.Y[1].tolist() == [0.5, 0.5, 0]
    with pytest.raises(LabelPolicyError, match=r"'c' \(dropped: no_valid_votes\).*'zz' \(unknown\)"):
        ls.select(["a", "c", "zz"])
    path = ls.write(tmp_path / "labels.parquet")
    back = read_labels(path)
    assert back.ids == ls.ids and back.classes == ls.classes and back.policy == ls.policy
    np.testing.assert_array_equal(back.Y, ls.Y)
    np.testing.assert_array_equal(back.counts, ls.counts)
    assert back.dropped == ls.dropped and back.fingerprint() == ls.fingerprint()
    assert ls.summary()["n_items"] == 2 and ls.summary()["dropped"] == {"no_valid_votes": 1}
    assert "n=2" in repr(ls)


def test_corpus_table_round_trip_gives_the_same_targets(tmp_path, iemocap_blocks):
    """Labels read back from Parquet arrive as numpy arrays, not lists: same result."""
    p = iemocap_blocks.write(tmp_path / "corpus.parquet")
    back = CorpusTable.read(p)
    pol = LabelPolicy(name="rt", rater_kinds=("external", "self"))
    a, b = pol.apply(iemocap_blocks), pol.apply(back)
    assert a.classes == b.classes and a.ids == b.ids
    np.testing.assert_array_equal(a.Y, b.Y)
