"""Folds: leave-one-group-out, speaker folds, the paper's balanced folds, official split, validation ids."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from amber2.corpora import (
    FoldError,
    balanced_folds,
    emo_superb_validation_ids,
    leave_one_group_out,
    make_folds,
    official_split,
    speaker_folds,
    validation_ids,
)
from amber2.corpora.folds import entropy_bins


def synthetic(n=1200, n_speakers=60, C=4, seed=1):
    """Items with speakers of uneven size and soft targets with varied ambiguity."""
    rng = np.random.default_rng(seed)
    ids = [f"u{i:05d}" for i in range(n)]
    sizes = rng.integers(5, 40, n_speakers)
    spk = rng.choice(n_speakers, size=n, p=sizes / sizes.sum())
    votes = np.array([rng.multinomial(int(rng.integers(3, 8)), rng.dirichlet(np.ones(C) * 0.5)) for _ in ids])
    Y = votes / votes.sum(axis=1, keepdims=True)
    items = pd.DataFrame({"id": ids, "speaker": [f"s{s}" for s in spk], "group": [f"g{s % 7}" for s in spk]})
    return items, ids, Y


def strata(Y, n_bins=5):
    H = -np.where(Y > 0, Y * np.log2(np.where(Y > 0, Y, 1)), 0).sum(1)
    return entropy_bins(H, n_bins) * Y.shape[1] + Y.argmax(1)


def test_leave_one_group_out_natural_order():
    items = pd.DataFrame({"id": list("abcdef"), "group": ["Ses10", "Ses02", "Ses01", None, "Ses02", "Ses10"]})
    f = leave_one_group_out(items)
    assert f.to_dict() == {"a": 2, "b": 1, "c": 0, "d": -1, "e": 1, "f": 2}
    assert f.attrs["groups"] == ["Ses01", "Ses02", "Ses10"]
    assert "leave-one-group-out" in f.name
    with pytest.raises(FoldError, match="at least 2"):
        leave_one_group_out(items.assign(group="x"))


def test_balanced_folds_equal_sizes_and_strata():
    items, ids, Y = synthetic()
    f = balanced_folds(items, (ids, Y), k=5, seed=3)
    sizes = np.bincount(f.to_numpy(), minlength=5)
    assert sizes.max() - sizes.min() <= 1 and sizes.sum() == len(ids)
    st = strata(Y)
    folds = f.reindex(ids).to_numpy()
    for s in np.unique(st):
        per = np.bincount(folds[st == s], minlength=5)
        assert per.max() - per.min() <= 1, s  # every (entropy bin, class) stratum spread evenly
    # deterministic with the seed, different with another
    pd.testing.assert_series_equal(f, balanced_folds(items, (ids, Y), k=5, seed=3))
    assert not f.equals(balanced_folds(items, (ids, Y), k=5, seed=4))
    rep = f.attrs["report"]
    assert rep["size_ratio"] <= 241 / 240 and rep["max_class_share_gap"] < 0.02


def test_balanced_folds_speakers_disjoint():
    items, ids, Y = synthetic()
    f = make_folds(items, "paper", k=5, seed=0, labels=(ids, Y), speakers_disjoint=True)
    joined = items.set_index("id").assign(fold=f)
    assert (joined.groupby("speaker")["fold"].nunique() == 1).all()
    rep = f.attrs["report"]
    assert rep["size_ratio"] < 1.1  # as equal as the speakers allow: close here
    assert rep["max_class_share_gap"] < 0.06


def test_balanced_items_without_target_get_minus_one():
    items, ids, Y = synthetic(n=100, n_speakers=10)
    f = balanced_folds(items, (ids[:90], Y[:90]), k=5)
    assert (f[ids[90:]] == -1).all() and (f[ids[:90]] >= 0).all()
    with pytest.raises(FoldError, match="cannot fill"):
        balanced_folds(None, (ids[:3], Y[:3]), k=5)


def test_speaker_folds():
    items, _, _ = synthetic()
    f = speaker_folds(items, k=5, seed=0)
    joined = items.set_index("id").assign(fold=f)
    assert (joined.groupby("speaker")["fold"].nunique() == 1).all()
    sizes = np.bincount(f.to_numpy())
    assert len(sizes) == 5 and sizes.max() / sizes.min() < 1.1
    with pytest.raises(FoldError, match="speaker"):
        speaker_folds(items.head(3), k=5)


def test_make_folds_errors_and_official_split():
    items = pd.DataFrame({"id": ["a", "b", "c"], "split": ["Train", "Development", "Test1"],
                          "group": ["x", "y", "z"]})
    with pytest.raises(FoldError, match="official_split"):
        make_folds(items, "official")
    with pytest.raises(FoldError, match="unknown fold scheme"):
        make_folds(items, "random")
    with pytest.raises(FoldError, match="needs targets"):
        make_folds(items, "balanced")
    s = official_split(items)
    assert s.to_dict() == {"a": "Train", "b": "Development", "c": "Test1"} and s.name == "official"
    with pytest.raises(FoldError, match="no official partition"):
        official_split(items.drop(columns="split"))


def test_validation_ids_group_and_fraction():
    items = pd.DataFrame({"id": [f"i{k}" for k in range(50)], "group": [f"Ses0{1 + k % 5}" for k in range(50)]})
    test_fold = leave_one_group_out(items)
    train = [i for i, f in test_fold.items() if f != 0]  # Ses01 is the test session
    val = validation_ids(items, train, method="group", seed=0)
    gval = set(items.set_index("id").loc[val, "group"])
    assert len(gval) == 1 and "Ses01" not in gval and set(val) <= set(train)
    assert val == [i for i in train if i in set(val)]  # in train order
    assert len(val) == 10
    assert set(items.set_index("id").loc[validation_ids(items, train, groups=["Ses04"]), "group"]) == {"Ses04"}
    with pytest.raises(FoldError, match="not among the training groups"):
        validation_ids(items, train, groups=["Ses01"])
    gf = validation_ids(items, train, method="group-fraction", fraction=0.3, seed=1)
    assert 12 <= len(gf) <= 30
    Y = np.eye(4)[np.arange(50) % 4]
    fr = validation_ids(None, train, method="fraction", fraction=0.2, labels=([f"i{k}" for k in range(50)], Y))
    top = {f"i{k}": k % 4 for k in range(50)}
    per_class = np.bincount([top[i] for i in fr], minlength=4)
    assert per_class.tolist() == [2, 2, 2, 2]  # round(0.2 * 10) per class
    with pytest.raises(FoldError, match="fraction"):
        validation_ids(None, train, method="fraction", fraction=1.5)
    with pytest.raises(FoldError, match="unknown validation method"):
        validation_ids(items, train, method="magic")


# --------------------------------------------------------------------------- EMO-SUPERB's published folds
def test_crema_d_emo_superb_folds_are_numbered_as_their_label_files():
    # EMO-SUPERB's CREMA-D files 1-5 test actors 1001-1018, 1019-1036, 1037-1054, 1055-1072, 1073-1091;
    # file k validates on file k+1's test actors (file 5 on file 1's)
    actors = list(range(1001, 1092))
    items = pd.DataFrame({"id": [f"{a}_IEO_HAP_HI" for a in actors] + ["x"], "speaker": [*actors, "none"]})
    f = make_folds(items, "crema-d-emo-superb")
    assert f["x"] == -1
    tested = {k: sorted(int(i[:4]) for i, v in f.items() if v == k) for k in range(5)}
    assert [(t[0], t[-1], len(t)) for t in tested.values()] == [
        (1001, 1018, 18), (1019, 1036, 18), (1037, 1054, 18), (1055, 1072, 18), (1073, 1091, 19)]
    assert f.attrs["validation_folds"] == [1, 2, 3, 4, 0]
    val = {k: sorted(int(i[:4]) for i in emo_superb_validation_ids(f, k)) for k in range(5)}
    assert [(v[0], v[-1]) for v in val.values()] == [
        (1019, 1036), (1037, 1054), (1055, 1072), (1073, 1091), (1001, 1018)]
    # amber2's earlier numbering (folds 0-4 = their files 3, 1, 5, 4, 2) is gone
    assert tested[0][0] == 1001 and tested[2][0] == 1037


def test_iemocap_emo_superb_folds_are_numbered_as_their_label_files():
    # their files 1-5 test sessions 4, 3, 2, 1, 5 and validate on sessions 5, 4, 3, 2, 1
    sessions = [f"Ses0{s}" for s in range(1, 6)]
    items = pd.DataFrame({"id": [f"{s}F_impro01_F00{j}" for s in sessions for j in range(3)] + ["odd"],
                          "group": [s for s in sessions for _ in range(3)] + [None]})
    f = make_folds(items, "iemocap-emo-superb")
    assert f.name == "iemocap-emo-superb" and f["odd"] == -1
    test_session = {k: {i[:5] for i, v in f.items() if v == k} for k in range(5)}
    assert [test_session[k] for k in range(5)] == [{"Ses04"}, {"Ses03"}, {"Ses02"}, {"Ses01"}, {"Ses05"}]
    val_session = [{i[:5] for i in emo_superb_validation_ids(f, k)} for k in range(5)]
    assert val_session == [{"Ses05"}, {"Ses04"}, {"Ses03"}, {"Ses02"}, {"Ses01"}]
    # folds.csv read back has no name: the scheme is passed
    plain = pd.Series(f.to_numpy(), index=f.index)
    assert emo_superb_validation_ids(plain, 0, scheme="emo-superb-sessions") == emo_superb_validation_ids(f, 0)


def test_emo_superb_validation_refuses_other_schemes_and_folds():
    items = pd.DataFrame({"id": list("abcdef"), "group": ["Ses01", "Ses02", "Ses03", "Ses04", "Ses05", "Ses01"]})
    with pytest.raises(FoldError, match="not an EMO-SUPERB fold scheme"):
        emo_superb_validation_ids(leave_one_group_out(items), 0)
    with pytest.raises(FoldError, match="fold 5 is not one of"):
        emo_superb_validation_ids(make_folds(items, "iemocap-emo-superb"), 5)
    with pytest.raises(FoldError, match="no column 'session'"):
        make_folds(items, "iemocap-emo-superb", group_column="session")
