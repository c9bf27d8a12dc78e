"""The plain per-run training loop: one model, ``torch.optim.AdamW``, one run after another.

This is the readable reference implementation of the protocol's training (and the engine used
when a model has dropout). The batched ensemble (:mod:`amber2.training.ensemble`) must reproduce
its results; a test and ``benchmarks/train_protocol.py`` check that it does.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping

import numpy as np
import torch

from amber2.losses import trusted_values
from amber2.metrics import METRICS
from amber2.model.heads import AmbER2Model, ModelConfig, input_stats
from amber2.training.config import LossConfig, OptimConfig
from amber2.training.data import LabeledSet
from amber2.training.device import autocast, matmul_precision, resolve_device, resolve_precision
from amber2.training.objective import class_prior_for, class_weights_for, run_loss, selection_units
from amber2.training.results import DivergenceError, HeadResult, RunResult
from amber2.training.selection import EpochSelector
from amber2.training.splits import epoch_order

__all__ = ["head_of_key", "predict_probs", "train_run"]


def head_of_key(key: str) -> str | None:
    """The head a state-dict key of :class:`AmbER2Model` belongs to (``fusion.*`` -> ``fusion``).

    None for the input-standardisation buffers (``input_mean_<m>``, ``input_std_<m>``), which
    belong to the model, not to a head.
    """
    parts = key.split(".")
    if parts[0] == "heads":
        return parts[1]
    return "fusion" if parts[0] == "fusion" else None


def _tensors(data: LabeledSet, idx: np.ndarray, device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
    return {m: torch.from_numpy(a[idx]).to(device) for m, a in data.X.items()}


@torch.no_grad()
def predict_probs(model: AmbER2Model, xs: Mapping[str, torch.Tensor], batch: int = 4096,
                  precision: str = "fp32") -> dict[str, np.ndarray]:
    """Probabilities of every head for inputs ``{modality: (n, d)}`` (evaluation mode), on the host.

    The inputs are moved to the model's device; the probabilities come back in one copy per head.
    """
    was = model.training
    model.eval()
    device = next(iter(model.parameters())).device
    n = next(iter(xs.values())).shape[0]
    parts: dict[str, list[torch.Tensor]] = {}
    for s in range(0, n, batch):
        with autocast(precision, device):
            out = model({m: x[s:s + batch].to(device) for m, x in xs.items()})
        for h, v in out.items():
            parts.setdefault(h, []).append(torch.softmax(v.double(), dim=-1))
    model.train(was)
    return {h: torch.cat(v).cpu().numpy() for h, v in parts.items()}


def _train_epoch(model: AmbER2Model, opt: torch.optim.Optimizer, X_tr: Mapping[str, torch.Tensor],
                 y_tr: torch.Tensor, order: torch.Tensor, loss: LossConfig, class_weights: torch.Tensor | None,
                 prior: torch.Tensor | None, batch_size: int, precision: str) -> None:
    """One epoch of AdamW steps over ``order`` (on the device): no read back to the host (the hot loop).

    The forward pass runs under the precision's autocast, the loss on float32 logits; the losses'
    per-call value checks are skipped (plain batches, validated hyperparameters), as each would wait
    for the device.
    """
    device = y_tr.device
    with trusted_values():
        for s in range(0, len(order), batch_size):
            b = order[s:s + batch_size]
            with autocast(precision, device):
                logits = model({m: x[b] for m, x in X_tr.items()})
            value = run_loss({h: v.float() for h, v in logits.items()}, y_tr[b], loss, student=model.config.student,
                             class_weights=class_weights, prior=prior)
            opt.zero_grad(set_to_none=True)
            value.backward()
            opt.step()


def train_run(
    data: LabeledSet,
    train_idx: np.ndarray,
    val_idx: np.ndarray,
    test_idx: np.ndarray,
    *,
    model_config: ModelConfig,
    optim: OptimConfig,
    loss: LossConfig,
    seed: int,
    fold: int,
    keep_state: bool = False,
    device: str | torch.device | None = None,
) -> RunResult:
    """Train one run with a plain PyTorch loop and select its epoch(s) on validation.

    Args:
        data: All items.
        train_idx: Positions of the fold's training items.
        val_idx: Positions of its validation items (model selection).
        test_idx: Positions of its test items.
        model_config: Architecture.
        optim: Optimiser and selection settings.
        loss: The objective.
        seed: Run seed (weights via the heads' derived seeds; batch order via ``epoch_order``).
        fold: Test fold (part of the batch-order seed).
        keep_state: Keep the selected model's state dict in the result (on the host).
        device: Torch device (default: a GPU when present, see :func:`amber2.training.device.resolve_device`).

    Returns:
        The run's :class:`RunResult`.
    """
    t0 = time.perf_counter()
    dev = torch.device(resolve_device(device))
    precision = resolve_precision(optim.precision, dev)
    torch.manual_seed(seed)
    model = AmbER2Model(model_config, seed=seed)  # initialised on the host: the same weights on any device
    model.set_input_stats(*input_stats({m: a[train_idx] for m, a in data.X.items()}))
    model.to(dev)
    # fused: one kernel per step and the step counts on the device (the default keeps them on the host and
    # reads them back each step); the same update as the ensemble's StackedAdamW
    opt = torch.optim.AdamW(model.parameters(), lr=optim.lr, weight_decay=optim.weight_decay, fused=True)
    heads = list(model_config.head_names)
    student = model_config.student
    metric = METRICS[optim.selection_metric]

    X_tr = _tensors(data, train_idx, dev)
    y_tr = torch.from_numpy(data.Y[train_idx]).float().to(dev)
    X_val = _tensors(data, val_idx, dev)
    y_val = data.Y[val_idx]
    cw = class_weights_for(loss, data.Y[train_idx])
    cw = None if cw is None else cw.to(dev)
    prior = class_prior_for(loss, data.Y[train_idx])
    prior = None if prior is None else prior.to(dev)

    units = selection_units(loss, heads, student)
    selector = EpochSelector((len(units),), higher_is_better=metric.higher_is_better, patience=optim.patience)
    snapshots: dict[str, dict[str, torch.Tensor]] = {}
    history: dict[str, list[float]] = {h: [] for h in heads}
    n = len(train_idx)
    epochs_trained = 0
    with matmul_precision(precision):
        model.train()
        for epoch in range(1, optim.max_epochs + 1):
            order = torch.from_numpy(epoch_order(n, seed=seed, fold=fold, epoch=epoch)).to(dev)
            _train_epoch(model, opt, X_tr, y_tr, order, loss, cw, prior, optim.batch_size, precision)
            epochs_trained = epoch
            probs = predict_probs(model, X_val, precision=precision)
            for h in heads:
                if not np.isfinite(probs[h]).all():
                    raise DivergenceError(fold=fold, seed=seed, objective=loss, head=h, epoch=epoch, lr=optim.lr)
                history[h].append(float(metric.set_fn(y_val, probs[h])))
            improved = selector.update(epoch, np.array([history[u][-1] for u, _ in units]))
            for (u, _), better in zip(units, improved, strict=True):
                if better:
                    snapshots[u] = copy.deepcopy(model.state_dict())
            if selector.stalled().all():
                break

        X_te = _tensors(data, test_idx, dev)
        results: dict[str, HeadResult] = {}
        state = None
        for j, (u, followers) in enumerate(units):
            model.load_state_dict(snapshots[u])
            pv, pt = predict_probs(model, X_val, precision=precision), predict_probs(model, X_te, precision=precision)
            for h in followers:
                results[h] = HeadResult(h, int(selector.best_epoch[j]), float(metric.set_fn(y_val, pv[h])), pv[h],
                                        pt[h], history[h])
            if keep_state:
                # Each unit contributes the weights of the heads it selected (one unit for AmbER²), and the
                # input statistics (the same in every snapshot) belong to every state.
                state = state or {}
                state.update({k: v.cpu().clone() for k, v in snapshots[u].items()
                              if head_of_key(k) in followers or head_of_key(k) is None})
    reported = [student] if loss.kind == "amber2" else heads
    return RunResult(fold, seed, loss, results, reported, epochs_trained, np.asarray(val_idx),
                     np.asarray(test_idx), state, time.perf_counter() - t0)
