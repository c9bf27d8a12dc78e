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


def test_auto_holds_out_speakers_when_the_data_has_them_else_a_fraction():
    """Issue 15 point 4: the default validation holds out whole speakers whenever they are known."""
    from amber2.training.splits import resolved_strategy

    assert ValidationConfig().strategy == "auto"
    data = _data(n_groups=10)
    train_idx = np.arange(200)
    assert resolved_strategy(data, train_idx, ValidationConfig()) == "group-fraction"
    tr, va = validation_split(data, train_idx, ValidationConfig(), fold=0)
    _, va_g = validation_split(data, train_idx, ValidationConfig(strategy="group-fraction"), fold=0)
    assert np.array_equal(va, va_g) and not set(data.groups[tr]) & set(data.groups[va])
    # no groups, one group, or an item without a group: the stratified fraction, as before
    no_groups = _data(groups=False)
    assert resolved_strategy(no_groups, train_idx, ValidationConfig()) == "fraction"
    _, va_auto = validation_split(no_groups, train_idx, ValidationConfig(), fold=0)
    _, va_frac = validation_split(no_groups, train_idx, ValidationConfig(strategy="fraction"), fold=0)
    assert np.array_equal(va_auto, va_frac)
    assert resolved_strategy(_data(n_groups=1), train_idx, ValidationConfig()) == "fraction"
    gaps = _data(n_groups=10)
    gaps.groups[3] = "nan"
    assert resolved_strategy(gaps, train_idx, ValidationConfig()) == "fraction"
    # the old behaviour stays reachable by name
    assert resolved_strategy(data, train_idx, ValidationConfig(strategy="fraction")) == "fraction"


def test_grid_presets_by_name():
    """Issue 15 point 5: the wider grid is a named preset; the paper's grid stays the default, by name too."""
    from amber2.training.config import GRID_PRESETS, load_config

    assert load_config(None, []).protocol.grid == GRID_PRESETS["paper"]
    assert load_config(None, ["protocol.grid=paper"]).protocol.grid == {"lambda_mai": [0.3, 0.5, 0.7],
                                                                          "kappa": [2.0, 4.0, 8.0]}
    wide = load_config(None, ["protocol.grid=wide"]).protocol.grid
    assert min(wide["lambda_mai"]) == 0.1 and max(wide["kappa"]) == 32.0
    with pytest.raises(ValueError, match="unknown grid preset 'huge'"):
        load_config(None, ["protocol.grid=huge"])


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
