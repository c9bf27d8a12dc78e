"""Fold assignments (gaps, fixed validation, classes absent from training) and loading from files."""

from __future__ import annotations

import numpy as np
import pytest

from amber2.training.config import DataConfig, load_config
from amber2.training.data import VALIDATION_ONLY, DataError, LabeledSet, check_folds
from amber2.training.loading import load_training_data, read_official_split
from amber2.training.protocol import make_splits, run_protocol

from .conftest import TINY, make_set


def test_a_gap_in_the_fold_numbers_is_a_fold_with_no_items(small_set):
    folds = np.array([0, 1, 3, 4])[np.arange(len(small_set)) % 4]
    with pytest.raises(DataError, match=r"fold\(s\) \[2\] have no items"):
        check_folds(small_set, folds)
    assert check_folds(small_set, folds, [0, 1]) == [0, 1]  # explicit folds: no gap check
    with pytest.raises(DataError, match="fold values must be"):
        check_folds(small_set, np.full(len(small_set), -5))


def test_class_only_in_the_validation_items_is_caught():
    data = make_set()
    folds = np.arange(len(data)) % 3
    folds[:20] = VALIDATION_ONLY
    Y = data.Y.copy()
    Y[20:, 3] = 0.0  # class c3 only in the fixed validation items
    Y /= Y.sum(1, keepdims=True)
    bad = LabeledSet(data.ids, data.X, Y, data.classes, data.groups)
    with pytest.raises(DataError, match=r"class\(es\) \['c3'\] never occur in the training items"):
        make_splits(bad, folds, load_config(None, TINY))


def test_smoothed_targets_still_reveal_a_class_without_votes():
    data = make_set()
    folds = np.arange(len(data)) % 3
    votes = np.eye(4)[data.Y.argmax(1)]
    votes[folds != 0, 2] = 0.0  # class c2 voted only in fold 0
    votes[(folds != 0) & (votes.sum(1) == 0), 0] = 1.0
    eps = 0.05
    Y = (1 - eps) * votes + eps / 4  # every class has mass eps / C
    smoothed = LabeledSet(data.ids, data.X, Y, data.classes, data.groups)
    with pytest.raises(DataError, match=r"fold 0: class\(es\) \['c2'\] never occur"):
        check_folds(smoothed, folds)


def test_fixed_validation_partition_is_every_folds_validation_set():
    data = make_set()
    folds = np.arange(len(data)) % 3
    folds[::10] = VALIDATION_ONLY
    cfg = load_config(None, [*TINY, "optim.max_epochs=2", "protocol.seeds=[0]",
                             "protocol.grid={lambda_mai: [0.5], kappa: [4.0]}"])
    splits = make_splits(data, folds, cfg)
    fixed = set(np.flatnonzero(folds == VALIDATION_ONLY))
    assert [sp.fold for sp in splits] == [0, 1, 2]
    for sp in splits:
        assert set(sp.val) == fixed and not set(sp.train) & fixed and not set(sp.test) & fixed
    res = run_protocol(data, folds, cfg)
    assert {r.fold for r in res.runs} == {0, 1, 2}


def _npz(path, n=60):
    rng = np.random.default_rng(1)
    Y = rng.dirichlet(np.ones(3), size=n)
    np.savez(path, ids=np.array([f"u{i}" for i in range(n)]), y=Y,
             audio=rng.normal(size=(n, 4)).astype(np.float32), classes=np.array(["a", "b", "c"]))
    return path


def test_items_missing_from_the_fold_file_are_dropped_by_name_or_fail(tmp_path, caplog):
    arrays = _npz(tmp_path / "d.npz")
    (tmp_path / "folds.csv").write_text("id,fold\n" + "".join(f"u{i},{i % 3}\n" for i in range(57)))
    with caplog.at_level("WARNING"):
        td = load_training_data(DataConfig(arrays=str(arrays), folds=str(tmp_path / "folds.csv")))
    assert len(td.data) == 57 and td.info["dropped"] == {"no_fold": 3}
    assert "'u57'" in caplog.text and "'u59'" in caplog.text
    with pytest.raises(DataError, match="3 item.*'u57'.*on_missing=fail"):
        load_training_data(DataConfig(arrays=str(arrays), folds=str(tmp_path / "folds.csv"), on_missing="fail"))
    with pytest.raises(DataError, match="no 'folds' array"):
        load_training_data(DataConfig(arrays=str(arrays)))
    td = load_training_data(DataConfig(arrays=str(arrays)), require_folds=False)
    assert (td.folds == -1).all()


def test_official_partition_maps_train_development_and_one_test_set(tmp_path):
    f = tmp_path / "split.csv"
    f.write_text("id,split\na,Train\nb,Development\nc,Test1\nd,Test2\ne,\n")
    folds, left_out = read_official_split(f, ["a", "b", "c", "d", "e", "z"])
    assert folds.tolist() == [-1, -2, 0, -3, -3, -3]
    assert left_out == {"partition_Test2": ["d"], "partition_none": ["e", "z"]}
    folds, _ = read_official_split(f, ["a", "b", "c", "d"], test="Test2")
    assert folds.tolist() == [-1, -2, -3, 0]
    with pytest.raises(DataError, match="no 'Test3' partition"):
        read_official_split(f, ["a"], test="Test3")
    with pytest.raises(DataError, match="no official partition file"):
        read_official_split(tmp_path / "nope.csv", ["a"])


def test_prepared_corpus_with_the_official_partition(tmp_path):
    import sys
    from pathlib import Path

    import pandas as pd

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "corpora"))
    from corpora_release_writers import write_msp_podcast

    from amber2.encoders.extract import extract
    from amber2.workflow.prepare import prepare_corpus

    r = prepare_corpus("msp", write_msp_podcast(tmp_path / "msp", "v1.7"), tmp_path / "out", k=2, check_audio=False)
    ids = r.table.items["id"].tolist()
    feats = pd.DataFrame(np.random.default_rng(0).normal(size=(len(ids), 3)), columns=["f0", "f1", "f2"])
    feats.insert(0, "id", ids)
    feats.to_parquet(tmp_path / "f.parquet")
    extract(tmp_path / "out", preset={"audio": None, "text": None}, features={"feat": tmp_path / "f.parquet"},
            cache_dir=tmp_path / "emb")
    cfg = DataConfig(corpus=str(tmp_path / "out"), embeddings=str(tmp_path / "emb"), split="official")
    td = load_training_data(cfg)
    part = dict(zip(*pd.read_csv(tmp_path / "out" / "split.csv").to_numpy().T, strict=True))
    code = {"Train": -1, "Development": -2, "Test1": 0}
    assert td.folds.tolist() == [code[part[i]] for i in td.data.ids]
    assert td.info["split"] == "official" and td.info["official_test"] == "Test1"
    items = r.table.items.set_index("id").loc[td.data.ids]
    by_group = load_training_data(cfg.model_copy(update={"groups": "group"}))
    assert by_group.data.groups.tolist() == items["group"].astype(str).tolist()


def test_default_chunk_keeps_activations_cache_sized():
    from amber2.model.heads import ModelConfig
    from amber2.training.protocol import CHUNK_ACTIVATION_BYTES, default_chunk, grid_objectives

    cfg = load_config(None, [])
    objectives = [*grid_objectives(cfg), cfg.loss.model_copy(update={"kind": "cbce"})]
    paper = default_chunk(ModelConfig(dims={"audio": 768, "text": 768}), objectives, 128)
    # 2 modality branches x 256 + 10 fusion branches x (256 + 256), per modality, 128 items, float32
    per_group = 4 * 128 * (2 * 2 * 256 + 2 * 10 * 512)
    assert paper == CHUNK_ACTIVATION_BYTES // per_group == 2
    tiny = default_chunk(ModelConfig(dims={"audio": 8, "text": 8}, hidden=4, fusion_dim=4), objectives, 16)
    assert tiny > 100  # small models train every group at once
