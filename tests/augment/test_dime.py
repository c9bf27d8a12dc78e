"""DiME-Aug in the embedding space: counts, parents, determinism, hand-computed mixes, the protocol."""

from __future__ import annotations

import json

import numpy as np
import pytest

from amber2.augment import (
    DimeError,
    DimeOptions,
    augment_folds,
    balance_counts,
    class_neighbours,
    item_classes,
    mix_targets,
    plan_fold,
    standardise,
)
from amber2.training.config import load_config
from amber2.training.data import DataError, LabeledSet
from amber2.workflow.run import write_run

TINY = ["model.hidden=8", "model.fusion_dim=8", "optim.batch_size=32", "optim.max_epochs=1",
        "protocol.grid={lambda_mai: [0.5], kappa: [4.0]}"]


def skewed_set(n: int = 150, seed: int = 0) -> LabeledSet:
    """Four classes with shares 0.6 / 0.2 / 0.12 / 0.08 by the argmax of soft targets."""
    rng = np.random.default_rng(seed)
    cls = rng.choice(4, size=n, p=[0.6, 0.2, 0.12, 0.08])
    Y = rng.dirichlet(np.ones(4) * 0.3, size=n) * 0.4
    Y[np.arange(n), cls] += 0.6
    X = {"audio": rng.normal(size=(n, 6)) + cls[:, None], "text": rng.normal(size=(n, 5))}
    groups = np.array([f"spk{i % 10}" for i in range(n)])
    return LabeledSet([f"u{i:03d}" for i in range(n)], X, Y, ["neu", "hap", "ang", "sad"], groups)


def test_balance_counts_by_hand():
    target, new = balance_counts([10, 5, 2, 0], 0.3)  # floor(0.3 x 10) = 3
    assert target.tolist() == [3, 3, 3, 3]
    assert new.tolist() == [0, 0, 1, 0]  # an absent class has nothing to mix
    assert balance_counts([40, 3, 6, 4], 0.5)[1].tolist() == [0, 17, 14, 16]
    assert balance_counts([7, 7], 1.0)[1].tolist() == [0, 0]


def test_mixed_distribution_equals_hand_computed():
    y1 = np.array([[0.6, 0.4, 0.0, 0.0]])
    y2 = np.array([[1.0, 0.0, 0.0, 0.0]])
    np.testing.assert_allclose(mix_targets(y1, y2, np.array([0.25])), [[0.7, 0.3, 0.0, 0.0]])
    # rows that do not sum to 1 are renormalised: (0.2, 0.2) + 0.5 ((0.6, 0.2) - (0.2, 0.2)) = (0.4, 0.2)
    np.testing.assert_allclose(mix_targets(np.array([[0.2, 0.2]]), np.array([[0.6, 0.2]]), np.array([0.5])),
                               [[2 / 3, 1 / 3]])


def test_class_counts_after_balancing_and_parents_of_the_same_class_and_split():
    data = skewed_set()
    opts = DimeOptions(enabled=True, ratio=0.5, k=3, seed=4)
    train = np.arange(0, len(data), 1)[np.arange(len(data)) % 3 != 0]  # a fold's training part
    plan = plan_fold(data.Y, data.X["audio"], train, opts, fold=2)
    cls = item_classes(data.Y)
    before = np.bincount(cls[train], minlength=4)
    target = int(np.floor(0.5 * before.max()))
    after = before + plan.added
    for c in range(4):
        assert after[c] == max(before[c], target)
    assert set(plan.parent1) <= set(train) and set(plan.parent2) <= set(train)
    assert (cls[plan.parent1] == plan.label).all() and (cls[plan.parent2] == plan.label).all()
    assert ((plan.alpha >= 0) & (plan.alpha < 1)).all()
    # x2 is one of the k nearest neighbours of x1 among its class's training items (standardised features)
    F = standardise(data.X["audio"][train])
    pos = {p: k for k, p in enumerate(train)}
    for a, b, c in zip(plan.parent1, plan.parent2, plan.label):
        members = [k for k, p in enumerate(train) if cls[p] == c]
        d = {train[k]: np.linalg.norm(F[k] - F[pos[a]]) for k in members if train[k] != a}
        assert b in sorted(d, key=d.get)[:3]


def test_neighbours_of_small_classes_and_duplicates():
    F = np.array([[0.0], [0.0], [5.0]])
    nb = class_neighbours(F, 3)
    assert nb.shape == (3, 2) and all(i not in row for i, row in enumerate(nb))
    assert nb[0, 0] == 1 and nb[1, 0] == 0  # the exact duplicate is the nearest, never the row itself
    assert class_neighbours(np.zeros((1, 2)), 3).tolist() == [[0]]  # a single item mixes with itself


def test_determinism_per_seed():
    data = skewed_set()
    train = {0: np.arange(0, 100), 1: np.arange(50, 150)}
    a = augment_folds(data.X, data.Y, data.ids, train, DimeOptions(enabled=True, seed=1))
    b = augment_folds(data.X, data.Y, data.ids, train, DimeOptions(enabled=True, seed=1))
    c = augment_folds(data.X, data.Y, data.ids, train, DimeOptions(enabled=True, seed=2))
    assert a.ids == b.ids and a.provenance.equals(b.provenance)
    np.testing.assert_array_equal(a.X["audio"], b.X["audio"])
    assert not np.array_equal(a.provenance["alpha"], c.provenance["alpha"])
    assert len(a.ids) == len(c.ids)  # how many depends on the counts, not on the seed


def test_embedding_mix_equals_hand_computed_and_transcript_parent():
    data = skewed_set()
    aug = augment_folds(data.X, data.Y, data.ids, {0: np.arange(120)}, DimeOptions(enabled=True, ratio=0.6))
    assert len(aug.ids) > 0
    pos = {i: k for k, i in enumerate(data.ids)}
    for j, row in aug.provenance.iterrows():
        a, b, al = pos[row.parent1], pos[row.parent2], row.alpha
        for m in ("audio", "text"):  # every modality with the same alpha
            np.testing.assert_allclose(aug.X[m][j], data.X[m][a] + al * (data.X[m][b] - data.X[m][a]), rtol=1e-5,
                                       atol=1e-6)
        y = data.Y[a] + al * (data.Y[b] - data.Y[a])
        np.testing.assert_allclose(aug.Y[j], y / y.sum())
        assert row.text_from == (row.parent1 if al < 0.5 else row.parent2)


def test_bounded_and_clear_errors():
    data = skewed_set()
    with pytest.raises(DimeError, match="max_new"):
        augment_folds(data.X, data.Y, data.ids, {0: np.arange(150)}, DimeOptions(enabled=True, ratio=1.0, max_new=5))
    with pytest.raises(DimeError, match="not a modality"):
        augment_folds(data.X, data.Y, data.ids, {0: np.arange(150)}, DimeOptions(enabled=True, features="egemaps"))
    with pytest.raises(DimeError, match="waveform"):
        augment_folds(data.X, data.Y, data.ids, {0: np.arange(150)}, DimeOptions(enabled=True, space="waveform"))
    with pytest.raises(ValueError, match="ratio"):
        load_config(None, ["augment.dime.ratio=0"])
    with pytest.raises(ValueError, match="k"):
        load_config(None, ["augment.dime.k=0"])


@pytest.fixture(scope="module")
def protocol_run():
    from amber2.training import protocol

    data = skewed_set()
    folds = np.arange(len(data)) % 3
    cfg = load_config(None, [*TINY, "protocol.seeds=[0, 1]", "augment.dime.enabled=true",
                             "augment.dime.ratio=0.5", "protocol.validation.strategy=group"])
    seen = []
    original = protocol.train_ensemble

    def spy(train_data, groups, *args, **kwargs):
        seen.append((train_data, [sp for sp, _ in groups]))
        return original(train_data, groups, *args, **kwargs)

    protocol.train_ensemble = spy
    try:
        result = protocol.run_protocol(data, folds, cfg)
    finally:
        protocol.train_ensemble = original
    return data, folds, cfg, result, seen


def test_no_augmented_item_in_validation_or_test_through_the_protocol(protocol_run):
    data, folds, _, result, seen = protocol_run
    n = len(data)
    cls = item_classes(data.Y)
    pos = {i: k for k, i in enumerate(data.ids)}
    added: dict[int, set[int]] = {}
    for train_data, splits in seen:
        assert train_data.ids[:n] == data.ids
        for sp in splits:
            assert (sp.val < n).all() and (sp.test < n).all()  # never validated or tested on
            new = sp.train[sp.train >= n]
            orig = set(sp.train[sp.train < n].tolist())
            assert len(new) > 0
            for p in new:
                assert train_data.meta["dime:fold"][p] == str(sp.fold)  # made for this fold only
                a, b = pos[train_data.meta["dime:parent1"][p]], pos[train_data.meta["dime:parent2"][p]]
                assert a in orig and b in orig  # parents from this fold's training part
                assert cls[a] == cls[b]
                assert not set(np.flatnonzero(folds == sp.fold)) & {a, b}
            added.setdefault(sp.fold, set()).update(new.tolist())
    for r in result.runs:
        assert (r.val_idx < n).all() and (r.test_idx < n).all()
    info = result.info["augment"]
    assert len(result.ids) == n  # results are about the original items only
    assert sum(sum(f["added"].values()) for f in info["folds"].values()) == info["added"]
    assert {str(f): len(v) for f, v in added.items()} == {f: sum(v["added"].values()) for f, v in info["folds"].items()}


def test_results_json_records_counts_per_fold_and_class(protocol_run, tmp_path):
    data, folds, cfg, result, _ = protocol_run
    write_run(result, tmp_path, config=cfg, data=data, folds=folds)
    saved = json.loads((tmp_path / "results.json").read_text())["info"]["augment"]
    assert set(saved["folds"]) == {"0", "1", "2"}
    for f in saved["folds"].values():
        before, added, target = f["before"], f["added"], f["target"]
        assert set(added) == {"neu", "hap", "ang", "sad"}
        for c in added:
            assert added[c] == max(0, target[c] - before[c])
    assert "augment:" in (tmp_path / "config.yaml").read_text()


def test_off_by_default_changes_nothing():
    from amber2.training.augmentation import augment_splits
    from amber2.training.protocol import make_splits

    data = skewed_set()
    cfg = load_config(None, [])
    assert not cfg.augment.dime.enabled and cfg.augment.dime.ratio == 0.3 and cfg.augment.dime.k == 3
    splits = make_splits(data, np.arange(len(data)) % 3, cfg)
    same, out, info = augment_splits(data, splits, cfg)
    assert same is data and info == {} and all(a is b for a, b in zip(out, splits))


def test_protocol_needs_corpus_for_named_features():
    from amber2.training.protocol import run_protocol

    data = skewed_set()
    cfg = load_config(None, [*TINY, "protocol.seeds=[0]", "augment.dime.enabled=true",
                             "augment.dime.features=egemaps"])
    with pytest.raises(DataError, match="data.corpus"):
        run_protocol(data, np.arange(len(data)) % 3, cfg)


def test_amber2_train_cli_overrides(tmp_path):
    from typer.testing import CliRunner

    from amber2.cli import app

    data = skewed_set(n=90)
    np.savez(tmp_path / "d.npz", ids=np.asarray(data.ids), y=data.Y, audio=data.X["audio"], text=data.X["text"],
             folds=np.arange(len(data)) % 3, classes=np.asarray(data.classes))
    runner = CliRunner()
    args = ["train", "--arrays", str(tmp_path / "d.npz"), "--out", str(tmp_path / "run"), "--no-final-model", *TINY,
            "protocol.seeds=[0]", "augment.dime.enabled=true"]
    res = runner.invoke(app, [*args, "augment.dime.ratio=0.4", "augment.dime.k=2"])
    assert res.exit_code == 0, res.output
    saved = json.loads((tmp_path / "run" / "results.json").read_text())["info"]["augment"]
    assert (saved["ratio"], saved["k"], saved["space"]) == (0.4, 2, "embedding") and saved["added"] > 0
    res = runner.invoke(app, [*args, "augment.dime.ratio=2"])
    assert res.exit_code != 0 and "ratio" in res.output
