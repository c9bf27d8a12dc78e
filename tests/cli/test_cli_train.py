"""amber2 train / evaluate through the CLI, on arrays; clear errors for bad input."""

from __future__ import annotations

import json

import numpy as np
from typer.testing import CliRunner

from amber2.cli import app


def _arrays(path, n=150, C=3, seed=0):
    rng = np.random.default_rng(seed)
    Y = rng.dirichlet(np.ones(C), size=n)
    np.savez(path, ids=np.array([f"u{i}" for i in range(n)]), y=Y,
             audio=(rng.normal(size=(n, 6)) + Y @ rng.normal(size=(C, 6))).astype(np.float32),
             text=(rng.normal(size=(n, 5)) + Y @ rng.normal(size=(C, 5))).astype(np.float32),
             folds=np.arange(n) % 3, classes=np.array(["a", "b", "c"]))
    return path


def test_train_then_evaluate(tmp_path):
    data = _arrays(tmp_path / "d.npz")
    runner = CliRunner()
    res = runner.invoke(app, ["train", "--arrays", str(data), "--out", str(tmp_path / "run"),
                              "optim.max_epochs=2", "protocol.seeds=[0,1]", "model.hidden=8", "model.fusion_dim=8",
                              "protocol.grid={lambda_mai: [0.5], kappa: [4.0]}"])
    assert res.exit_code == 0, res.output
    run = tmp_path / "run"
    for name in ("config.yaml", "data.json", "results.json", "scores.csv", "tables.md", "predictions.npz"):
        assert (run / name).exists(), name
    assert (run / "model" / "model.safetensors").exists()
    summary = json.loads((run / "results.json").read_text())["summary"]
    assert {"amber2", "baseline_fusion", "baseline_audio", "baseline_text"} <= set(summary)
    res = runner.invoke(app, ["evaluate", str(run / "model"), "--arrays", str(data), "--fold", "0",
                              "--out", str(tmp_path / "ev.json")])
    assert res.exit_code == 0, res.output
    ev = json.loads((tmp_path / "ev.json").read_text())
    assert ev["n_items"] == 50 and set(ev["heads"]) == {"audio", "text", "fusion"}
    # New data without folds: every item is scored.
    fresh = dict(np.load(_arrays(tmp_path / "new.npz", n=40, seed=3)))
    fresh.pop("folds")
    np.savez(tmp_path / "new.npz", **fresh)
    res = runner.invoke(app, ["evaluate", str(run / "model"), "--arrays", str(tmp_path / "new.npz"),
                              "--out", str(tmp_path / "ev2.json")])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "ev2.json").read_text())["n_items"] == 40


def test_bad_inputs_exit_2_with_a_message(tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["train", "--arrays", str(tmp_path / "missing.npz")])
    assert res.exit_code == 2 and "error:" in res.output
    data = _arrays(tmp_path / "d.npz")
    res = runner.invoke(app, ["train", "--arrays", str(data), "optim.lrr=1"])
    assert res.exit_code == 2 and "optim.lrr" in res.output
    bad = dict(np.load(data))
    bad["audio"][3, 1] = np.nan
    np.savez(tmp_path / "bad.npz", **bad)
    res = runner.invoke(app, ["train", "--arrays", str(tmp_path / "bad.npz")])
    assert res.exit_code == 2 and "'u3'" in res.output


def test_train_with_emo_superb_validation_folds(tmp_path):
    """Each test fold validates on EMO-SUPERB's fold; the final model (no test fold) draws a share instead."""
    data = dict(np.load(_arrays(tmp_path / "d.npz", n=100)))
    data["folds"] = np.arange(100) % 5
    np.savez(tmp_path / "d5.npz", **data)
    res = CliRunner().invoke(app, ["train", "--arrays", str(tmp_path / "d5.npz"), "--out", str(tmp_path / "run"),
                                   "optim.max_epochs=2", "protocol.seeds=[0]", "model.hidden=8", "model.fusion_dim=8",
                                   "protocol.grid={lambda_mai: [0.5], kappa: [4.0]}", "protocol.folds=[0,4]",
                                   "protocol.validation.strategy=emo-superb",
                                   "protocol.validation.scheme=crema-d-emo-superb"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "run" / "model" / "model.safetensors").exists()
    res = CliRunner().invoke(app, ["train", "--arrays", str(tmp_path / "d5.npz"),
                                   "protocol.validation.strategy=emo-superb"])
    assert res.exit_code == 2 and "needs scheme" in res.output
