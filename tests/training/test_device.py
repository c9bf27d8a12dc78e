"""The device and precision settings of training, on the CPU (tests/training/test_cuda.py: on a GPU).

Everything that takes a device is run here with ``device="cpu"`` passed explicitly and compared with
the default (the CPU on a machine without a GPU; those comparisons skip where a GPU is the default): the
results must be the same bytes. The rest runs on any machine (``benchmarks/gpu_check.sh``'s suite step). The
hot loops are checked for host reads of tensors (each one a device synchronisation on a GPU) by counting them.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from amber2.cli import app
from amber2.training import ensemble, single
from amber2.training.config import ConfigError, load_config
from amber2.training.device import OperatorCount, autocast, matmul_precision, resolve_precision
from amber2.training.fit import fit_model
from amber2.training.protocol import default_chunk, grid_objectives, run_protocol

from .conftest import TINY, make_set

# The tests that compare the default device with an explicit CPU need the CPU to be the default.
cpu_default = pytest.mark.skipif(torch.cuda.is_available(), reason="the default device is a GPU here")

BASE = [*TINY, "protocol.seeds=[0,1]", "optim.max_epochs=3", "protocol.grid={lambda_mai: [0.3, 0.7], kappa: [4.0]}"]


def _digest(result) -> str:
    h = hashlib.sha256(result.scores.to_csv().encode())
    for r in result.runs:
        for head in r.heads.values():
            h.update(head.val_pred.tobytes())
            h.update(head.test_pred.tobytes())
            h.update(str(head.epoch).encode())
    return h.hexdigest()


@cpu_default
@pytest.mark.parametrize("engine", ["ensemble", "sequential"])
def test_explicit_cpu_device_gives_identical_results(engine):
    data = make_set(n=120)
    folds = np.arange(120) % 3
    cfg = load_config(None, [*BASE, f"protocol.engine={engine}", "optim.patience=1"])
    default = run_protocol(data, folds, cfg)
    explicit = run_protocol(data, folds, cfg, device="cpu")
    assert _digest(default) == _digest(explicit)
    assert default.info["precision"] == explicit.info["precision"] == "fp32"


@cpu_default
def test_fit_model_and_estimator_take_a_device():
    from amber2.inference.estimator import AmbER2Estimator

    data = make_set(n=90)
    kw = {"optim": load_config(None, BASE).optim}
    a, b = fit_model(data, **kw), fit_model(data, **kw, device="cpu")
    assert a.epochs == b.epochs and a.info["precision"] == "fp32"
    for k, v in a.model.state_dict().items():
        assert torch.equal(v, b.model.state_dict()[k]), k
    assert all(v.device.type == "cpu" for v in b.model.state_dict().values())
    est = AmbER2Estimator(hidden=8, fusion_dim=8, max_epochs=2, device="cpu", precision="fp32")
    est.fit(data.X, data.Y)
    ref = AmbER2Estimator(hidden=8, fusion_dim=8, max_epochs=2).fit(data.X, data.Y)
    np.testing.assert_array_equal(est.predict_proba(data.X), ref.predict_proba(data.X))
    assert est.get_params()["device"] == "cpu"


def _npz_digest(path: Path) -> str:
    z = np.load(path)
    return hashlib.sha256(b"".join(z[k].tobytes() for k in sorted(z.files))).hexdigest()


@cpu_default
def test_cli_train_and_evaluate_device(tmp_path):
    rng = np.random.default_rng(0)
    n, C = 90, 3
    Y = rng.dirichlet(np.ones(C), size=n)
    np.savez(tmp_path / "d.npz", ids=np.array([f"u{i}" for i in range(n)]), y=Y,
             audio=(rng.normal(size=(n, 6)) + Y @ rng.normal(size=(C, 6))).astype(np.float32),
             text=(rng.normal(size=(n, 5)) + Y @ rng.normal(size=(C, 5))).astype(np.float32),
             folds=np.arange(n) % 3, classes=np.array(["a", "b", "c"]))
    runner = CliRunner()
    args = ["optim.max_epochs=2", "protocol.seeds=[0]", "model.hidden=8", "model.fusion_dim=8",
            "protocol.grid={lambda_mai: [0.5], kappa: [4.0]}"]
    outs = {}
    for name, dev in (("default", []), ("cpu", ["--device", "cpu"])):
        out = tmp_path / name
        res = runner.invoke(app, ["train", "--arrays", str(tmp_path / "d.npz"), "--out", str(out), *dev, *args])
        assert res.exit_code == 0, res.output
        res = runner.invoke(app, ["evaluate", str(out / "model"), "--arrays", str(tmp_path / "d.npz"), *dev,
                                  "--out", str(tmp_path / f"ev_{name}.json")])
        assert res.exit_code == 0, res.output
        outs[name] = out
    a, b = outs["default"], outs["cpu"]
    assert (a / "scores.csv").read_bytes() == (b / "scores.csv").read_bytes()
    assert _npz_digest(a / "predictions.npz") == _npz_digest(b / "predictions.npz")
    assert (a / "config.yaml").read_text().replace(str(a), "") == (b / "config.yaml").read_text().replace(str(b), "")
    assert "precision: fp32" in (a / "config.yaml").read_text()  # resolved, not null
    ev = [json.loads((tmp_path / f"ev_{n}.json").read_text()) for n in ("default", "cpu")]
    assert ev[0]["heads"] == ev[1]["heads"]


def test_precision_setting():
    assert resolve_precision(None, "cpu") == "fp32"
    assert resolve_precision(None, "cuda:0") == "tf32"
    assert resolve_precision("bf16", "cpu") == "bf16"
    with pytest.raises(ValueError, match="precision must be one of"):
        resolve_precision("fp16", "cpu")
    with pytest.raises(ConfigError, match="optim.precision"):
        load_config(None, ["optim.precision=fp16"])
    prev = torch.backends.cuda.matmul.allow_tf32
    with matmul_precision("tf32"):
        assert torch.backends.cuda.matmul.allow_tf32
    with matmul_precision("fp32"):
        assert not torch.backends.cuda.matmul.allow_tf32
    assert torch.backends.cuda.matmul.allow_tf32 == prev
    with autocast("bf16", "cpu"):
        assert (torch.ones(2, 3) @ torch.ones(3, 2)).dtype == torch.bfloat16
    with autocast("fp32", "cpu"):
        assert (torch.ones(2, 3) @ torch.ones(3, 2)).dtype == torch.float32


@pytest.mark.parametrize("engine", ["ensemble", "sequential"])
def test_bf16_trains_close_to_fp32_and_tf32_is_fp32_on_cpu(engine):
    data = make_set(n=120)
    folds = np.arange(120) % 3
    res = {p: run_protocol(data, folds, load_config(None, [*BASE, f"protocol.engine={engine}",
                                                           f"optim.precision={p}"]), device="cpu")
           for p in ("fp32", "tf32", "bf16")}
    assert _digest(res["fp32"]) == _digest(res["tf32"])  # TF32 is a CUDA mode: the same arithmetic on a CPU
    assert res["bf16"].info["precision"] == "bf16"
    a = res["fp32"].scores["value"].to_numpy()
    b = res["bf16"].scores.set_index(["system", "fold", "seed", "metric"]).loc[
        res["fp32"].scores.set_index(["system", "fold", "seed", "metric"]).index, "value"].to_numpy()
    assert not np.array_equal(a, b)  # bf16 did run: it rounds differently ...
    js = res["fp32"].scores["metric"].to_numpy() == "js"
    assert np.max(np.abs(a[js] - b[js])) < 0.02  # ... but trains the same models to within bf16 noise


@cpu_default
def test_chunking_puts_every_group_together_on_a_gpu():
    data = make_set(n=60)
    cfg = load_config(None, TINY)
    mc = cfg.model.for_data(data.dims, data.n_classes)
    objectives = grid_objectives(cfg)
    assert default_chunk(mc, objectives, 128, device="cuda:0") >= 10_000
    assert default_chunk(mc, objectives, 128, device="cpu") == default_chunk(mc, objectives, 128)


# --- host reads in the hot loop --------------------------------------------------------------------

_READS = ("item", "tolist", "__bool__", "__float__", "__int__", "__index__", "numpy", "cpu", "__array__")
_SRC = os.sep + "amber2" + os.sep


@contextlib.contextmanager
def _count_host_reads(counts: collections.Counter):
    """Count reads of tensor values made by amber2's own code (torch internals are not counted)."""
    originals = {n: getattr(torch.Tensor, n) for n in _READS}

    def wrap(name, fn):
        def counted(self, *args, **kwargs):
            caller = sys._getframe(1).f_code.co_filename
            if _SRC in caller:
                counts[f"{name}@{Path(caller).name}"] += 1
            return fn(self, *args, **kwargs)
        return counted

    for n, fn in originals.items():
        setattr(torch.Tensor, n, wrap(n, fn))
    try:
        yield counts
    finally:
        for n, fn in originals.items():
            setattr(torch.Tensor, n, fn)


def _watch_step_loop(monkeypatch, engine: str, watch) -> list:
    """Run every call of ``engine``'s step loop inside the context manager ``watch()``; returns the calls' arguments."""
    module = ensemble if engine == "ensemble" else single
    loop = module._train_epoch
    calls = []

    def watched(*args, **kwargs):
        calls.append(args)
        with watch():
            return loop(*args, **kwargs)

    monkeypatch.setattr(module, "_train_epoch", watched)
    return calls


@pytest.mark.parametrize("engine", ["ensemble", "sequential"])
def test_the_epoch_loop_reads_nothing_back(engine, monkeypatch):
    """Inside the step loop of either engine, amber2 never reads a tensor's value on the host."""
    in_loop: collections.Counter = collections.Counter()
    calls = _watch_step_loop(monkeypatch, engine, lambda: _count_host_reads(in_loop))
    data = make_set(n=120)
    cfg = load_config(None, [*BASE, f"protocol.engine={engine}", "optim.batch_size=8", "optim.patience=1",
                             "protocol.baseline=cbce"])
    run_protocol(data, np.arange(120) % 3, cfg, device="cpu")
    assert calls and not in_loop, dict(in_loop)


@pytest.mark.parametrize("engine", ["ensemble", "sequential"])
def test_host_reads_do_not_grow_with_steps(engine):
    """Per epoch the engines read a fixed number of tensors (validation, selection), whatever the batch count."""
    data = make_set(n=120)
    counts = []
    for batch in (8, 64):
        c: collections.Counter = collections.Counter()
        cfg = load_config(None, [*BASE, f"protocol.engine={engine}", f"optim.batch_size={batch}"])
        with _count_host_reads(c):
            run_protocol(data, np.arange(120) % 3, cfg, device="cpu")
        counts.append(c)
    assert counts[0] == counts[1], (dict(counts[0]), dict(counts[1]))


class _SyncingOps(torch.utils._python_dispatch.TorchDispatchMode):
    """Records every operator that would make a GPU wait for the host or the host for the GPU.

    Seen at the dispatcher, so torch's own code (optimisers, losses' internals) counts too:
    ``lift_fresh`` is a tensor built from Python data (on a GPU: a blocking host-to-device copy),
    ``_local_scalar_dense`` a value read back (``.item()``, ``bool()``), ``nonzero`` and the masked
    selections have data-dependent shapes (the host must wait for the count). What a CPU run cannot
    show: a copy of an existing host tensor to the device (on a CPU there is no copy) and the
    ``nonzero`` inside indexing by a boolean mask. ``tests/training/test_cuda.py``, under
    ``torch.cuda.set_sync_debug_mode("error")`` on a GPU, is the check that sees everything.
    """

    SYNCING = ("lift_fresh", "lift_fresh_copy", "_local_scalar_dense", "nonzero", "masked_select",
               "_unique2", "unique_dim", "repeat_interleave")

    def __init__(self):
        super().__init__()
        self.seen: collections.Counter = collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.overloadpacket.__name__
        if name in self.SYNCING:
            self.seen[name] += 1
        return func(*args, **(kwargs or {}))


def test_the_dispatch_watch_sees_host_data():
    with _SyncingOps() as mode:
        x = torch.ones(3, 4)
        x[:, [0, 2]].sum()  # a Python list as an index: a tensor from host data
        x.sum().item()
    assert mode.seen["lift_fresh"] >= 1 and mode.seen["_local_scalar_dense"] == 1


@pytest.mark.parametrize("engine", ["ensemble", "sequential"])
@pytest.mark.parametrize("options", [[], ["protocol.baseline=cbce", "loss.options.class_balanced=true",
                                          "loss.options.null_expert=true"]])
def test_the_step_loop_builds_no_tensor_from_host_data(engine, options, monkeypatch):
    """At the dispatcher: no operator of the step loop would synchronise a GPU (CPU stand-in for the CUDA test)."""
    mode = _SyncingOps()  # re-entered by every epoch: its counts add up
    calls = _watch_step_loop(monkeypatch, engine, lambda: mode)
    cfg = load_config(None, [*BASE, f"protocol.engine={engine}", "optim.batch_size=16", "optim.patience=1",
                             *options])
    run_protocol(make_set(n=120), np.arange(120) % 3, cfg, device="cpu")
    assert calls and not mode.seen, dict(mode.seen)


def test_operator_count_separates_views_from_compute():
    x = torch.ones(4, 3)
    with OperatorCount() as ops:
        y = x.view(3, 4).t().detach()  # views only
        (y * 2).sum()
    assert ops.compute == 2 and ops.total >= 5 and dict(ops.by_op) == {"mul": 1, "sum": 1}


@pytest.mark.parametrize("options", [[], ["loss.options.class_balanced=true", "loss.options.null_expert=true"]])
def test_the_ensemble_step_stays_a_few_hundred_operators(options, monkeypatch):
    """On a GPU each computing operator of a step is a kernel the host launches: for the paper's protocol
    that host time, not the arithmetic, set the pace (H200: 17.9 s with ~630 per step, 6.6 s with 204). The loss
    is written to keep the count low (fused JS, heads stacked, weights normalised once); this pins it."""
    ops = OperatorCount()  # re-entered by every epoch: its counts add up
    calls = _watch_step_loop(monkeypatch, "ensemble", lambda: ops)
    cfg = load_config(None, [*BASE, "protocol.engine=ensemble", "optim.batch_size=16", "protocol.baseline=cbce",
                             *options])
    run_protocol(make_set(n=120), np.arange(120) % 3, cfg, device="cpu")
    per_step = ops.compute / sum(len(args[4]) for args in calls)  # args[4]: the epoch's batches
    assert per_step <= 240, (per_step, ops.by_op.most_common(10))


@pytest.mark.parametrize("name", ["js", "js_div"])
def test_selection_scores_on_the_device_equal_the_registry_metric(name):
    """The ensemble scores `js`/`js_div` where the predictions are; per group it is the numpy metric."""
    from amber2.metrics import METRICS

    gen = torch.Generator().manual_seed(0)
    G, K, L, C = 3, 4, 9, 4
    probs = torch.softmax(torch.randn(G, K, L, C, generator=gen, dtype=torch.float64) * 3, dim=-1)
    probs[0, 1, 2] = torch.tensor([1.0, 0.0, 0.0, 0.0], dtype=torch.float64)  # exact zeros in a prediction
    votes = torch.randint(0, C, (G, L, 3), generator=gen)
    targets = torch.nn.functional.one_hot(votes, C).double().mean(-2)  # 3 raters: exact zeros
    counts = [9, 5, 1]
    mask = torch.arange(L).unsqueeze(0) < torch.tensor(counts).unsqueeze(1)
    got = ensemble.device_selection_scores(name, probs, targets, mask).numpy()
    for g, n in enumerate(counts):
        want = METRICS[name].set_fn(targets[g, :n].numpy(), probs[g, :, :n].numpy())
        np.testing.assert_allclose(got[g], want, rtol=1e-12, atol=1e-15)


def test_host_and_device_selection_metrics_pick_the_same_epochs(monkeypatch):
    """The same protocol scored by the device path and by the registry's numpy metric on the host."""
    cfg = load_config(None, [*BASE, "protocol.engine=ensemble", "optim.batch_size=16", "optim.patience=1"])
    data, folds = make_set(n=120), np.arange(120) % 3
    on_device = run_protocol(data, folds, cfg, device="cpu")
    monkeypatch.setattr(ensemble, "_DEVICE_METRICS", {})  # every metric on the host
    on_host = run_protocol(data, folds, cfg, device="cpu")
    for a, b in zip(on_device.runs, on_host.runs, strict=True):
        for h in a.heads:
            assert a.heads[h].epoch == b.heads[h].epoch
            np.testing.assert_allclose(a.heads[h].history, b.heads[h].history, rtol=1e-12)
            np.testing.assert_array_equal(a.heads[h].test_pred, b.heads[h].test_pred)
