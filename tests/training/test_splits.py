"""The validation split inside a fold: strategies, determinism, errors."""

from __future__ import annotations

import numpy as np
import pytest

from amber2.training.config import ValidationConfig
from amber2.training.data import DataError, LabeledSet
from amber2.training.splits import validation_split


def _data(n: int = 200, n_groups: int = 8, groups: bool = True) -> LabeledSet:
    rng = np.random.default_rng(0)
    Y = rng.dirichlet(np.ones(4), size=n)
    X = {"audio": rng.normal(size=(n, 3)).astype(np.float32)}
    g = np.array([f"spk{i % n_groups}" for i in range(n)]) if groups else None
    return LabeledSet([f"u{i}" for i in range(n)], X, Y, ["a", "b", "c", "d"], groups=g)


def test_fraction_is_stratified_disjoint_and_deterministic():
    data = _data()
    train_idx = np.arange(20, 200)
    cfg = ValidationConfig(strategy="fraction", fraction=0.2)
    tr, va = validation_split(data, train_idx, cfg, fold=1)
    assert set(tr) | set(va) == set(train_idx) and not set(tr) & set(va)
    labels = data.Y.argmax(1)
    for c in range(4):
        n_c = int((labels[train_idx] == c).sum())
        assert int((labels[va] == c).sum()) == round(0.2 * n_c)
    tr2, va2 = validation_split(data, train_idx, cfg, fold=1)
    assert np.array_equal(va, va2) and np.array_equal(tr, tr2)
    _, va3 = validation_split(data, train_idx, cfg, fold=2)
    assert not np.array_equal(va, va3)  # another fold, another draw


def test_group_holds_out_whole_groups():
    data = _data()
    train_idx = np.arange(200)
    tr, va = validation_split(data, train_idx, ValidationConfig(strategy="group", fraction=0.25), fold=0)
    g_tr, g_va = set(data.groups[tr]), set(data.groups[va])
    assert not g_tr & g_va
    assert len(g_va) == 2  # round(0.25 x 8)


def test_group_fraction_reaches_the_fraction():
    data = _data(n_groups=10)
    tr, va = validation_split(data, np.arange(200), ValidationConfig(strategy="group-fraction", fraction=0.3),
                              fold=0)
    assert len(va) >= 0.3 * 200 and not set(data.groups[tr]) & set(data.groups[va])


def test_group_errors_name_the_problem():
    with pytest.raises(DataError, match="needs groups"):
        validation_split(_data(groups=False), np.arange(50), ValidationConfig(strategy="group"), fold=0)
    with pytest.raises(DataError, match="fold 3: only 1 training group"):
        validation_split(_data(n_groups=1), np.arange(50), ValidationConfig(strategy="group"), fold=3)


@pytest.mark.parametrize(("scheme", "val_of"), [("crema-d-emo-superb", [1, 2, 3, 4, 0]),
                                                ("iemocap-emo-superb", [4, 0, 1, 2, 3])])
def test_emo_superb_strategy_uses_their_validation_fold(scheme, val_of):
    """Test fold f validates on EMO-SUPERB's fold: CREMA-D file k on file k+1's actors; IEMOCAP files
    1-5 (test sessions 4, 3, 2, 1, 5) validate on sessions 5, 4, 3, 2, 1, i.e. on folds 4, 0, 1, 2, 3."""
    from amber2.training.config import load_config
    from amber2.training.protocol import make_splits

    data = _data(n=100)
    folds = np.arange(100) % 5
    folds[:3] = -1  # in no fold: always in training, never validation
    cfg = load_config(None, ["protocol.validation.strategy=emo-superb", f"protocol.validation.scheme={scheme}"])
    splits = make_splits(data, folds, cfg)
    for sp in splits:
        assert sp.val.tolist() == np.flatnonzero(folds == val_of[sp.fold]).tolist()
        assert sp.test.tolist() == np.flatnonzero(folds == sp.fold).tolist()
        assert sorted([*sp.train, *sp.val, *sp.test]) == list(range(100))
        assert {0, 1, 2} <= set(sp.train.tolist())


def test_emo_superb_strategy_needs_a_scheme_and_folds():
    with pytest.raises(ValueError, match="needs scheme"):
        ValidationConfig(strategy="emo-superb")
    with pytest.raises(ValueError, match="only used by strategy 'emo-superb'"):
        ValidationConfig(scheme="crema-d-emo-superb")
    cfg = ValidationConfig(strategy="emo-superb", scheme="crema-d-emo-superb")
    data = _data(n=50)
    with pytest.raises(DataError, match="needs a test fold and the fold assignment"):
        validation_split(data, np.arange(50), cfg, fold=-1)
    with pytest.raises(DataError, match="prepared with --folds crema-d-emo-superb"):
        validation_split(data, np.arange(40), cfg, fold=0, folds=np.repeat([2, 0], 25))
