"""Grid selection, aggregation, run outputs, checkpoints and data validation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from amber2.model.heads import AmbER2Model, ModelConfig
from amber2.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from amber2.training.config import load_config
from amber2.training.data import DataError, LabeledSet, check_folds
from amber2.training.outputs import load_run
from amber2.training.protocol import run_protocol
from amber2.workflow.run import write_run

from .conftest import TINY


@pytest.fixture(scope="module")
def result():
    from .conftest import make_set

    data = make_set()
    folds = np.arange(len(data)) % 3
    cfg = load_config(None, [*TINY, "protocol.seeds=[0,1,2]", "optim.max_epochs=4",
                             "protocol.grid={lambda_mai: [0.3, 0.7], kappa: [4.0]}"])
    return data, folds, cfg, run_protocol(data, folds, cfg)


def test_grid_point_chosen_by_mean_validation_score(result):
    _, _, _, res = result
    sel = res.selection
    for fold, part in sel.groupby("fold"):
        means = part.groupby("objective")["val_score"].mean()
        assert res.info["chosen"][str(fold)] == means.idxmin()  # js: lower is better
        assert part[part.chosen]["objective"].nunique() == 1


def test_summary_is_mean_and_std_over_runs_and_over_seeds(result):
    _, _, _, res = result
    s = res.scores
    part = s[(s.system == "amber2") & (s.metric == "js")]
    per_seed = part.groupby("seed")["value"].mean()
    js = res.summary["amber2"]["js"]
    assert js["mean"] == pytest.approx(per_seed.mean()) == pytest.approx(part["value"].mean())
    assert js["std_seeds"] == pytest.approx(per_seed.std(ddof=1))
    assert js["std_runs"] == pytest.approx(part["value"].std(ddof=1))
    assert js["spread"] == "runs" and js["std"] == js["std_runs"]  # the paper's "± std over folds and seeds"
    assert js["n_runs"] == 3 * 3 and js["n_seeds"] == 3
    assert js["std_runs"] > js["std_seeds"]  # folds differ more than seeds
    assert list(res.summary)[:4] == ["baseline_text", "baseline_audio", "baseline_fusion", "amber2"]


def test_write_and_load_run(tmp_path, result):
    data, folds, cfg, res = result
    write_run(res, tmp_path, config=cfg, data=data, folds=folds, data_info={"policy": {"name": "eq1"}})
    rec = load_run(tmp_path)
    assert rec.summary.keys() == res.summary.keys()
    assert rec.summary["amber2"]["js"]["mean"] == pytest.approx(res.summary["amber2"]["js"]["mean"])
    assert rec.data["fingerprint"] == data.fingerprint()
    assert rec.data["policy"] == {"name": "eq1"}
    pooled = rec.pooled("amber2", 0)
    assert np.isfinite(pooled).all() and np.allclose(pooled.sum(1), 1)  # every item tested once
    assert "Table 3" in (tmp_path / "tables.md").read_text()
    assert (tmp_path / "config.yaml").read_text().startswith("data:")


def test_checkpoint_roundtrip_and_errors(tmp_path):
    cfg = ModelConfig(dims={"audio": 6, "text": 5}, n_classes=3, hidden=4, fusion_dim=4)
    model = AmbER2Model(cfg, seed=1)
    save_checkpoint(tmp_path / "m", model, classes=["a", "b", "c"], metadata={"policy": "eq1"})
    loaded, meta = load_checkpoint(tmp_path / "m")
    x = {"audio": torch.randn(2, 6), "text": torch.randn(2, 5)}
    for h, v in model.eval()(x).items():
        torch.testing.assert_close(v, loaded(x)[h])
    assert meta["classes"] == ["a", "b", "c"] and meta["metadata"] == {"policy": "eq1"}
    with pytest.raises(CheckpointError, match="not an amber2 checkpoint"):
        load_checkpoint(tmp_path)
    with pytest.raises(ValueError, match="class names"):
        save_checkpoint(tmp_path / "x", model, classes=["a"])


def test_data_errors_name_the_items():
    X = {"audio": np.zeros((3, 2), np.float32)}
    Y = np.array([[1.0, 0], [0.5, 0.5], [0, 1]])
    with pytest.raises(DataError, match="duplicate utterance id.*'a'"):
        LabeledSet(["a", "a", "b"], X, Y)
    bad = X["audio"].copy()
    bad[1, 0] = np.nan
    with pytest.raises(DataError, match="NaN or inf.*'b'"):
        LabeledSet(["a", "b", "c"], {"audio": bad}, Y)
    with pytest.raises(DataError, match="3 rows but 2 ids"):
        LabeledSet(["a", "b"], X, Y[:2])
    off = Y.copy()
    off[2] = [0, 0.9]
    with pytest.raises(DataError, match="do not sum to 1.*'c'"):
        LabeledSet(["a", "b", "c"], X, off, on_bad_rows="fail")
    fixed = LabeledSet(["a", "b", "c"], X, off)
    assert np.allclose(fixed.Y.sum(1), 1)
    with pytest.raises(DataError, match="no label mass.*'c'"):
        LabeledSet(["a", "b", "c"], X, np.array([[1.0, 0], [0.5, 0.5], [0, 0]]))


def test_fold_errors(small_set):
    with pytest.raises(DataError, match="fold 7 has no items"):
        check_folds(small_set, np.arange(len(small_set)) % 3, [7])
    Y = small_set.Y.copy()
    folds = np.arange(len(Y)) % 3
    Y[folds != 0, 3] = 0
    Y /= Y.sum(1, keepdims=True)
    data = LabeledSet(small_set.ids, small_set.X, Y, small_set.classes)
    with pytest.raises(DataError, match=r"fold 0: class\(es\) \['c3'\] never occur"):
        check_folds(data, folds)


def test_config_overrides_and_errors(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("optim:\n  lr: 0.001\nprotocol:\n  seeds: [1, 2]\n")
    cfg = load_config(p, ["optim.max_epochs=7", "loss.options.js=distance"])
    assert cfg.optim.lr == 1e-3 and cfg.protocol.seeds == [1, 2] and cfg.optim.max_epochs == 7
    assert cfg.loss.options.js == "distance"
    with pytest.raises(Exception, match="optim.lrr"):
        load_config(None, ["optim.lrr=1"])
    with pytest.raises(ValueError, match="key.sub=value"):
        load_config(None, ["optim.lr"])
    with pytest.raises(FileNotFoundError):
        load_config(tmp_path / "nope.yaml")


def test_shipped_default_config_is_current():
    from pathlib import Path

    import yaml

    from amber2.training.config import TrainConfig

    shipped = Path(__file__).resolve().parents[2] / "configs" / "default.yaml"
    assert yaml.safe_load(shipped.read_text()) == TrainConfig().model_dump(mode="json")
