"""Training settings (one definition, bounds, config-file errors), the selection rule, the objective
dispatch shared by both engines, diverged runs, and one-modality final models."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from amber2.losses import AmbER2Options
from amber2.model.heads import AmbER2Model, ModelConfig, ModelSettings
from amber2.training.config import ConfigError, LossConfig, TrainConfig, load_config
from amber2.training.objective import StackedObjective, head_loss, run_loss
from amber2.training.results import DivergenceError
from amber2.training.selection import EpochSelector
from amber2.training.single import train_run

from .conftest import TINY, make_set

# ---------------------------------------------------------------- settings: one definition, bounds


def test_each_setting_is_defined_once():
    cfg = TrainConfig()
    assert type(cfg.loss.options) is AmbER2Options          # the loss library's class, not a copy
    assert type(cfg.model) is ModelSettings                  # the model layer's class, not a copy
    # Every model setting reaches the ModelConfig without a hand-written field list.
    changed = {"hidden": 7, "fusion_dim": 5, "gate_input": "projections", "dropout": 0.25, "student": "text",
               "standardize": False}
    assert set(changed) == set(ModelSettings.model_fields)
    mc = ModelSettings(**changed).for_data({"audio": 4, "text": 3}, 3)
    assert {k: getattr(mc, k) for k in changed} == changed and mc.dims == {"audio": 4, "text": 3}
    assert ModelSettings().for_data({"audio": 4}, 2).student == "audio"   # one modality: no fusion head
    # YAML keys and the model.json layout are unchanged.
    assert list(mc.to_dict())[:2] == ["dims", "n_classes"]
    assert ModelConfig.from_dict(mc.to_dict()) == mc
    assert load_config(Path(__file__).parents[2] / "configs" / "default.yaml") == cfg


@pytest.mark.parametrize(("override", "needle"), [
    ("optim.lr=1e999", "optim.lr: Input should be a finite number"),
    ("optim.lr=0", "optim.lr: Input should be greater than 0"),
    ("optim.lr=100", "optim.lr: Input should be less than or equal to 10"),
    ("optim.weight_decay=200", "optim.weight_decay"),
    ("optim.batch_size=0", "optim.batch_size"),
    ("optim.max_epochs=10000000", "optim.max_epochs"),
    ("optim.selection_metric=jss", "unknown metric 'jss'"),
    ("loss.kappa=-1", "loss.kappa"),
    ("loss.lambda_mai=nan", "loss.lambda_mai: Input should be a finite number"),
    ("loss.cb_beta=1", "loss.cb_beta"),
    ("loss.options.js=sqrt", "loss.options.js"),
    ("loss.options.expert_fidelity=maybe", "loss.options.expert_fidelity"),
    ("model.hidden=100000000", "model.hidden"),
    ("model.dropout=1", "model.dropout"),
    ("protocol.grid={kappa: [4, 1e9]}", "grid 'kappa' value 1000000000.0"),
    ("protocol.seeds=[0,0]", "seeds must be distinct"),
    ("protocol.seeds=[-1]", "seeds must be in"),
    ("threads=0", "threads"),
])
def test_out_of_bounds_settings_are_refused_in_one_line(override, needle):
    with pytest.raises(ConfigError) as err:
        load_config(None, [override])
    msg = str(err.value)
    assert needle in msg and "\n" not in msg and override in msg


def test_adamw_decay_factor_must_stay_positive():
    load_config(None, ["optim.lr=1", "optim.weight_decay=0.5"])
    with pytest.raises(ConfigError, match="lr x weight_decay must be < 1"):
        load_config(None, ["optim.lr=5", "optim.weight_decay=1"])


@pytest.mark.parametrize(("text", "needle"), [
    ("optim:\n  lr: [1, 2\n", "is not valid YAML at line"),
    ("a: !!python/object/apply:os.system ['touch {marker}']\n", "unsupported YAML tag at line 1"),
    ("- 1\n- 2\n", "must hold a mapping"),
    ("optim:\n  lr: 1e999\n", "optim.lr: Input should be a finite number"),
    ("optim:\n  lrr: 1\n", "optim.lrr: Extra inputs are not permitted"),
])
def test_bad_config_files_name_the_file(tmp_path, text, needle):
    marker = tmp_path / "executed"
    path = tmp_path / "cfg.yaml"
    path.write_text(text.format(marker=marker))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(path) in str(err.value) and needle in str(err.value) and "\n" not in str(err.value)
    assert not marker.exists()
    path.write_bytes(b"optim:\n  lr: \xff\n")
    with pytest.raises(ConfigError, match="is not UTF-8"):
        load_config(path)


def test_cli_prints_one_error_line_for_a_bad_config(tmp_path):
    from typer.testing import CliRunner

    from amber2.cli import app

    path = tmp_path / "cfg.yaml"
    path.write_text("a: !!python/object/apply:os.system ['echo hi']\n")
    res = CliRunner().invoke(app, ["train", str(path)])
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: config file") and "Traceback" not in res.output


# ---------------------------------------------------------------- the selection rule


def test_epoch_selector_by_hand():
    sel = EpochSelector((2,), higher_is_better=True, patience=2)
    # unit 0: 0.5, 0.4, 0.6, 0.6 (tie keeps epoch 3), 0.3 ; unit 1 lower-is-better view via sign below
    history = [[0.5, 0.9], [0.4, 0.8], [0.6, 0.7], [0.6, 0.95], [0.3, 0.1]]
    improved = [sel.update(e, np.array(s)).tolist() for e, s in enumerate(history, start=1)]
    assert improved == [[True, True], [False, False], [True, False], [False, True], [False, False]]
    assert sel.best_epoch.tolist() == [3, 4]
    assert sel.since.tolist() == [2, 1] and sel.stalled().tolist() == [True, False]
    low = EpochSelector((1,), higher_is_better=False, patience=None)
    for e, v in enumerate([0.3, 0.2, 0.25], start=1):
        low.update(e, np.array([v]))
    assert low.best_epoch.tolist() == [2] and not low.stalled().any()
    masked = EpochSelector((2,), higher_is_better=True, patience=1)
    masked.update(1, np.array([0.1, np.nan]), active=np.array([True, False]))   # inactive: ignored
    assert masked.best_epoch.tolist() == [1, 0] and masked.since.tolist() == [0, 0]


# ---------------------------------------------------------------- one objective dispatch


def test_stacked_objective_is_the_sum_of_run_losses():
    torch.manual_seed(0)
    G, B, C, heads = 2, 5, 3, ["audio", "text", "fusion"]
    objectives = [LossConfig(lambda_mai=0.3, kappa=2.0), LossConfig(lambda_mai=0.7, kappa=8.0),
                  LossConfig(kind="cbce"), LossConfig(kind="soft_ce")]
    plan = {h: list(range(len(objectives))) for h in heads}  # no sharing: every run its own branches
    logits = {h: torch.randn(G, len(objectives), B, C) for h in heads}
    y = torch.softmax(torch.randn(G, B, C), -1)
    w = torch.ones(G, B)
    w[1, 3:] = 0  # padding rows of group 1
    cw = torch.rand(G, C) + 0.5
    total = StackedObjective(objectives, plan, "fusion", class_weights=cw)(logits, y, w)
    expected = sum(
        run_loss({h: logits[h][g, o] for h in heads}, y[g], loss, student="fusion", class_weights=cw[g],
                 sample_weight=w[g])
        for g in range(G) for o, loss in enumerate(objectives)
    )
    torch.testing.assert_close(total, expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="not a per-head baseline"):
        head_loss("amber2", logits["audio"][0, 0], y[0])
    with pytest.raises(ValueError, match="cbce and class-balanced AmbER² need class weights"):
        StackedObjective(objectives, plan, "fusion")


# ---------------------------------------------------------------- diverged runs


@pytest.mark.parametrize("engine", ["ensemble", "sequential"])
def test_diverged_run_names_fold_seed_and_objective(engine):
    from amber2.training.ensemble import train_ensemble
    from amber2.training.protocol import grid_objectives, make_splits

    folds = np.arange(90) % 3
    cfg = load_config(None, [*TINY, "protocol.seeds=[3]", "optim.max_epochs=2", "model.standardize=false",
                             "protocol.grid={lambda_mai: [0.5], kappa: [4.0]}"])
    data = make_set(n=90)
    splits = make_splits(data, folds, cfg)
    data.X["audio"][0, 0] = np.inf  # fold 0 tests item 0 (trains on finite data); fold 1 trains on it
    mc = cfg.model.for_data(data.dims, data.n_classes)
    objectives = [*grid_objectives(cfg), LossConfig(kind="cbce")]
    with pytest.raises(DivergenceError) as err:
        if engine == "ensemble":
            train_ensemble(data, [(sp, 3) for sp in splits], objectives, model_config=mc, optim=cfg.optim)
        else:
            for sp in splits:
                for loss in objectives:
                    train_run(data, sp.train, sp.val, sp.test, model_config=mc, optim=cfg.optim, loss=loss,
                              seed=3, fold=sp.fold)
    e = err.value
    assert (e.fold, e.seed, e.epoch) == (1, 3, 1) and e.objective == "amber2(lm=0.5,k=4)"
    assert "fold 1, seed 3, objective amber2(lm=0.5,k=4)" in str(e) and "optim.lr=0.0003" in str(e)


def test_diverged_single_run_in_the_final_fit():
    data = make_set(n=90)
    data.X["audio"][5, 0] = np.inf  # corrupted after the data checks (as a faulty cache or device could)
    mc = ModelSettings(hidden=8, standardize=False).for_data(data.dims, data.n_classes)
    cfg = load_config(None, ["optim.max_epochs=2"])
    idx = np.arange(90)
    with pytest.raises(DivergenceError, match="the final fit .* seed 0, objective cbce"):
        train_run(data, idx[:70], idx[70:], idx[70:], model_config=mc, optim=cfg.optim,
                  loss=LossConfig(kind="cbce"), seed=0, fold=-1)


# ---------------------------------------------------------------- one modality, final model


@pytest.mark.parametrize("standardize", [True, False])
def test_fit_model_on_one_modality(standardize):
    from amber2.training.config import OptimConfig
    from amber2.training.fit import fit_model

    data = make_set(n=120).select_modalities(["audio"])
    fit = fit_model(data, model=ModelSettings(hidden=8, standardize=standardize),
                    optim=OptimConfig(max_epochs=2, batch_size=32))
    assert fit.model.config.head_names == ("audio",)
    assert torch.isfinite(fit.model.input_mean_audio).all()
    if standardize:  # the training items' statistics travel with the model
        assert not torch.allclose(fit.model.input_mean_audio, torch.zeros(16))
    reloaded = AmbER2Model(fit.model.config)
    reloaded.load_state_dict(fit.model.state_dict())  # strict


def test_estimator_on_one_modality():
    from amber2.inference.estimator import AmbER2Estimator

    data = make_set(n=120)
    X = {"audio": data.X["audio"]}
    est = AmbER2Estimator(max_epochs=2, hidden=8, batch_size=32).fit(X, data.Y)
    p = est.predict_proba(X)
    assert p.shape == (120, 4) and np.allclose(p.sum(1), 1) and est.heads_ == ["audio"]


def test_cli_train_on_one_modality_writes_the_model(tmp_path):
    from typer.testing import CliRunner

    from amber2.cli import app
    from amber2.inference import load_bundle

    data = make_set(n=90, C=3)
    np.savez(tmp_path / "a.npz", ids=np.array(data.ids), y=data.Y, audio=data.X["audio"],
             folds=np.arange(90) % 3, classes=np.array(data.classes))
    res = CliRunner().invoke(app, ["train", "--arrays", str(tmp_path / "a.npz"), "--out", str(tmp_path / "run"),
                                   "optim.max_epochs=2", "protocol.seeds=[0]", "model.hidden=8",
                                   "protocol.grid={lambda_mai: [0.5], kappa: [4.0]}"])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "run" / "results.json").read_text())["summary"]
    model, _ = load_bundle(tmp_path / "run" / "model")
    assert model.config.head_names == ("audio",)
