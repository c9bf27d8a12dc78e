"""Training on a CUDA GPU: agreement with the CPU, and a hot loop that never synchronises.

Skipped without a GPU (CI runs the CPU side in tests/training/test_device.py); run on a machine
with one. ``torch.cuda.set_sync_debug_mode("error")`` turns every host-device synchronisation
(``.item()``, a device-to-host copy, ``nonzero``, ...) into an error, so a step loop that completes
under it never waits for the device.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch

from amber2.metrics import evaluate
from amber2.training import ensemble, single
from amber2.training.config import load_config
from amber2.training.protocol import run_protocol

from .conftest import TINY, make_set

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

BASE = [*TINY, "protocol.seeds=[0,1]", "optim.max_epochs=4", "protocol.grid={lambda_mai: [0.3, 0.7], kappa: [4.0]}"]


@contextlib.contextmanager
def _no_sync():
    torch.cuda.synchronize()
    prev = torch.cuda.get_sync_debug_mode()
    torch.cuda.set_sync_debug_mode("error")
    try:
        yield
    finally:
        torch.cuda.set_sync_debug_mode(prev)


def _val_metrics(result, data):
    return {(r.fold, r.seed, r.config, h): evaluate(data.Y[r.val_idx], r.heads[h].val_pred)
            for r in result.runs for h in r.reported}


@pytest.mark.parametrize("engine", ["ensemble", "sequential"])
def test_cuda_agrees_with_cpu_at_fp32(engine):
    data = make_set(n=150)
    folds = np.arange(150) % 3
    cfg = load_config(None, [*BASE, f"protocol.engine={engine}", "optim.precision=fp32"])
    cpu, gpu = run_protocol(data, folds, cfg, device="cpu"), run_protocol(data, folds, cfg, device="cuda")
    assert gpu.info["precision"] == "fp32"
    a, b = _val_metrics(cpu, data), _val_metrics(gpu, data)
    assert a.keys() == b.keys()
    for k in a:
        for m in ("js", "bc", "r2"):
            assert abs(a[k][m] - b[k][m]) < 1e-3, (k, m, a[k][m], b[k][m])
    # results come back on the host, in the same shapes
    for r in gpu.runs:
        for h in r.heads.values():
            assert isinstance(h.val_pred, np.ndarray)


@pytest.mark.parametrize("engine", ["ensemble", "sequential"])
@pytest.mark.parametrize("precision", ["tf32", "bf16"])
def test_step_loop_never_synchronises(engine, precision, monkeypatch):
    module = ensemble if engine == "ensemble" else single
    loop = module._train_epoch
    calls = []

    def watched(*args, **kwargs):
        calls.append(1)
        with _no_sync():
            return loop(*args, **kwargs)

    monkeypatch.setattr(module, "_train_epoch", watched)
    cfg = load_config(None, [*BASE, f"protocol.engine={engine}", f"optim.precision={precision}", "optim.patience=1",
                             "optim.batch_size=16"])
    run_protocol(make_set(n=120), np.arange(120) % 3, cfg, device="cuda")
    assert calls
