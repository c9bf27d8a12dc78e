"""The batched ensemble gives the same runs as the plain per-run loop (same seed, same data)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from amber2.training.config import load_config
from amber2.training.ensemble import branch_plan
from amber2.training.protocol import grid_objectives, run_protocol

from .conftest import TINY

# Stated tolerance: same arithmetic up to float32 summation order (batched vs single matmuls). On the CPU in
# fp32, passed explicitly: on a machine with a GPU the default is CUDA with tf32 matrix products (~1e-4;
# tests/training/test_cuda.py checks the engines there).
ATOL = 1e-5


def _runs(result):
    return {(r.fold, r.seed, r.config): r for r in result.runs}


@pytest.mark.slow  # ~4 s per case (make test-fast skips it)
@pytest.mark.parametrize("extra", [
    [],                                                        # defaults: shared experts, CB-CE baseline
    ["optim.patience=2", "protocol.baseline=soft_ce"],         # early stopping, soft-CE baseline
    ["optim.patience=1", "optim.lr=0.05"],                     # runs of a group stopping at different epochs
    ["loss.options.detach_experts=false", "loss.options.js=distance", "optim.selection_metric=r2"],  # no sharing
    # issue 15 point 5: the options beyond the paper, with and without a CB-CE baseline beside them
    ["loss.options.class_balanced=true", "loss.options.null_expert=true"],
    ["loss.options.class_balanced=true", "protocol.baseline=soft_ce", "loss.options.detach_weights=false"],
    # Eq. 6 exactly: experts get zero gradients (weight decay only) in both engines
    ["loss.options.expert_fidelity=false"],
])
def test_ensemble_equals_sequential(small_set, extra):
    folds = np.arange(len(small_set)) % 3
    common = [*TINY, "protocol.seeds=[0,1]", "optim.max_epochs=5",
              "protocol.grid={lambda_mai: [0.3, 0.7], kappa: [2.0, 8.0]}", *extra]
    ens = run_protocol(small_set, folds, load_config(None, [*common, "protocol.engine=ensemble"]), device="cpu")
    seq = run_protocol(small_set, folds, load_config(None, [*common, "protocol.engine=sequential"]), device="cpu")
    a, b = _runs(ens), _runs(seq)
    assert a.keys() == b.keys() and len(a) == 3 * 2 * 5
    for key, ra in a.items():
        rb = b[key]
        assert ra.epochs_trained == rb.epochs_trained, key
        for h, ha in ra.heads.items():
            hb = rb.heads[h]
            assert ha.epoch == hb.epoch, (key, h)
            np.testing.assert_allclose(ha.history, hb.history, atol=ATOL)
            np.testing.assert_allclose(ha.test_pred, hb.test_pred, atol=ATOL)
            np.testing.assert_allclose(ha.val_pred, hb.val_pred, atol=ATOL)
    sa = ens.scores.set_index(["system", "fold", "seed", "metric"])["value"].sort_index()
    sb = seq.scores.set_index(["system", "fold", "seed", "metric"])["value"].sort_index()
    np.testing.assert_allclose(sa.to_numpy(), sb.loc[sa.index].to_numpy(), atol=ATOL)
    assert ens.info["chosen"] == seq.info["chosen"]


def test_three_modalities_and_single_modality(small_set):
    from .conftest import make_set

    three = make_set(n=150, dims=(("audio", 8), ("text", 6), ("video", 5)))
    folds = np.arange(150) % 3
    cfg = [*TINY, "protocol.seeds=[0]", "optim.max_epochs=3", "protocol.grid={lambda_mai: [0.5], kappa: [4.0]}"]
    res = run_protocol(three, folds, load_config(None, cfg), device="cpu")
    assert {"amber2", "baseline_video", "amber2_video"} <= set(res.summary)
    one = three.select_modalities(["audio"])
    res1 = run_protocol(one, folds, load_config(None, cfg), device="cpu")
    assert set(res1.summary) == {"amber2", "baseline_audio"}
    seq = run_protocol(one, folds, load_config(None, [*cfg, "protocol.engine=sequential"]), device="cpu")
    for key, r in _runs(res1).items():
        np.testing.assert_allclose(r.heads["audio"].test_pred, _runs(seq)[key].heads["audio"].test_pred, atol=ATOL)


def test_experts_shared_only_when_exact():
    cfg = load_config(None, [])
    objs = [*grid_objectives(cfg), cfg.loss.model_copy(update={"kind": "cbce"})]
    plan = branch_plan(objs, ["audio", "text", "fusion"], "fusion")
    assert plan["audio"] == [0] * 9 + [1]          # 9 grid points share one expert; the baseline has its own
    assert plan["fusion"] == list(range(10))       # every run has its own student
    off = load_config(None, ["loss.options.detach_weights=false"])
    plan_off = branch_plan(grid_objectives(off), ["audio", "text", "fusion"], "fusion")
    assert plan_off["audio"] == list(range(9))


def test_ensemble_keeps_loadable_states(small_set):
    import torch

    from amber2.model.heads import AmbER2Model
    from amber2.training.ensemble import Split, train_ensemble
    from amber2.training.fit import model_config_for

    cfg = load_config(None, [*TINY, "optim.max_epochs=2", "model.standardize=false"])
    mc = model_config_for(small_set, cfg.model)
    idx = np.arange(len(small_set))
    sp = Split(0, idx[:150], idx[150:200], idx[200:])
    (run,) = train_ensemble(
        small_set, [(sp, 0)], [cfg.loss], model_config=mc, optim=cfg.optim, keep_state=True, device="cpu"
    )
    model = AmbER2Model(mc)
    model.load_state_dict(run.state)  # strict: every weight and buffer is there
    x = {m: torch.from_numpy(a[sp.test]) for m, a in small_set.X.items()}
    probs = torch.softmax(model.eval()(x)["fusion"].double(), -1).detach().numpy()
    np.testing.assert_allclose(probs, run.heads["fusion"].test_pred, atol=1e-5)


def test_early_stopping_keeps_the_fused_update(small_set, monkeypatch):
    """Runs that stop early keep stepping with their group, so every step takes the fused AdamW path."""
    from amber2.training.optim import StackedAdamW

    taken = []
    fused = StackedAdamW._fused_step

    def watched(self, act):
        taken.append(fused(self, act))
        return taken[-1]

    monkeypatch.setattr(StackedAdamW, "_fused_step", watched)
    folds = np.arange(len(small_set)) % 3
    cfg = load_config(None, [*TINY, "protocol.seeds=[0,1]", "optim.max_epochs=12", "optim.patience=1", "optim.lr=0.05",
                             "protocol.grid={lambda_mai: [0.3, 0.7], kappa: [2.0, 8.0]}", "protocol.baseline=cbce"])
    res = run_protocol(small_set, folds, cfg, device="cpu")
    by_group: dict = {}
    for r in res.runs:
        by_group.setdefault((r.fold, r.seed), set()).add(r.epochs_trained)
    assert any(len(e) > 1 for e in by_group.values())  # some runs of a group stopped before others
    assert taken and all(taken)


@pytest.mark.parametrize("extra", [[], ["loss.options.detach_experts=false"],
                                   ["loss.options.class_balanced=true", "loss.options.null_expert=true"]])
def test_stopped_branches_never_reach_live_runs(small_set, monkeypatch, extra):
    """Branches of stopped runs keep stepping; filling them with NaN before every epoch changes no live result."""
    from amber2.training import ensemble

    seen: dict = {}
    of, train = ensemble._EpochBatches.of.__func__, ensemble._train_epoch

    def batches(cls, grid, epoch, batch_size, run_active, opt):
        seen.update(grid=grid, active=run_active.copy())
        return of(cls, grid, epoch, batch_size, run_active, opt)

    def poisoned(model, *args):
        grid, active = seen["grid"], seen["active"]
        with torch.no_grad():
            for h, idx in grid.plan.items():
                for k in set(idx):
                    users = [o for o, kk in enumerate(idx) if kk == k]
                    for g in np.flatnonzero(~active[:, users].any(axis=1)):
                        seen["poisoned"] = seen.get("poisoned", 0) + 1
                        for v in model.branch_views(h, k).values():
                            v[g].fill_(float("nan"))
        return train(model, *args)

    folds = np.arange(len(small_set)) % 3
    cfg = load_config(None, [*TINY, "protocol.seeds=[0,1]", "optim.max_epochs=8", "optim.patience=1", "optim.lr=0.05",
                             "protocol.grid={lambda_mai: [0.3, 0.7], kappa: [2.0, 8.0]}", "protocol.baseline=cbce",
                             *extra])
    clean = _runs(run_protocol(small_set, folds, cfg, device="cpu"))
    monkeypatch.setattr(ensemble._EpochBatches, "of", classmethod(batches))
    monkeypatch.setattr(ensemble, "_train_epoch", poisoned)
    dirty = _runs(run_protocol(small_set, folds, cfg, device="cpu"))
    assert seen.get("poisoned", 0) > 0  # some branch belonged to stopped runs only while its group trained on
    for key, a in clean.items():
        b = dirty[key]
        assert a.epochs_trained == b.epochs_trained, key
        for h in a.heads:
            assert a.heads[h].epoch == b.heads[h].epoch, (key, h)
            np.testing.assert_array_equal(a.heads[h].val_pred, b.heads[h].val_pred)
            np.testing.assert_array_equal(a.heads[h].test_pred, b.heads[h].test_pred)


def _epoch_batches_reference(grid, epoch, batch_size, run_active, opt):
    """The mini-batches of an epoch built step by step and group by group (the vectorised builder's reference)."""
    from amber2.training.splits import epoch_order

    B, G = batch_size, grid.n_groups
    orders = [sp.train[epoch_order(len(sp.train), seed=s, fold=sp.fold, epoch=epoch)] for sp, s in grid.groups]
    steps = max((len(sp.train) + B - 1) // B for sp, _ in grid.groups)
    idx, w, host = np.zeros((steps, G, B), dtype=np.int64), np.zeros((steps, G, B), dtype=np.float32), []
    for step in range(steps):
        has_batch = np.zeros(G, dtype=bool)
        for g, o in enumerate(orders):
            b = o[step * B:(step + 1) * B]
            idx[step, g] = np.pad(b if len(b) else o[:1], (0, B - max(len(b), 1)), mode="edge")
            w[step, g, :len(b)] = 1.0
            has_batch[g] = len(b) > 0
        stepping = has_batch & run_active.any(axis=1)
        host.append(opt.host_mask(grid.branch_activity(np.repeat(stepping[:, None], grid.n_objectives, axis=1))))
    return idx, w, np.stack(host)


@pytest.mark.parametrize("batch_size", [7, 16, 40])
def test_epoch_batches_equal_the_step_by_step_reference(small_set, batch_size):
    """Ragged groups (folds of different sizes), partial last batches, a group with every run stopped."""
    from amber2.training import ensemble
    from amber2.training.fit import model_config_for
    from amber2.training.optim import StackedAdamW
    from amber2.training.protocol import make_splits

    folds = np.arange(len(small_set)) % 3
    folds[:5] = 0  # fold sizes differ: groups run out of batches at different steps
    cfg = load_config(None, [*TINY, "protocol.seeds=[0,1]", "protocol.grid={lambda_mai: [0.3, 0.7], kappa: [2.0]}",
                             "protocol.baseline=cbce"])
    mc = model_config_for(small_set, cfg.model)
    objectives = [*grid_objectives(cfg), cfg.loss.model_copy(update={"kind": "cbce"})]
    groups = [(sp, s) for sp in make_splits(small_set, folds, cfg) for s in cfg.protocol.seeds]
    grid = ensemble.RunGrid.build(groups, objectives, mc)
    opt = StackedAdamW(ensemble._initial_model(grid, mc))
    active = np.ones((grid.n_groups, grid.n_objectives), dtype=bool)
    active[1] = False  # every run of group 1 stopped
    active[2, 0] = False
    for epoch in (1, 2):
        got = ensemble._EpochBatches.of(grid, epoch, batch_size, active, opt)
        idx, w, host = _epoch_batches_reference(grid, epoch, batch_size, active, opt)
        np.testing.assert_array_equal(got.positions.numpy(), idx)
        np.testing.assert_array_equal(got.weights.numpy(), w)
        np.testing.assert_array_equal(np.stack([m.host for m in got.activity]), host)
        assert not w[-1].all()  # some group had no full last batch
