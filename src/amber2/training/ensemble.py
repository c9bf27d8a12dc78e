"""The batched ensemble engine: every run of a protocol trained together as stacked weights.

Runs are arranged in **groups** (one per fold x seed: the runs of a group see the same
mini-batches, as the per-run loop would give them) and **objectives** (the grid points and the
baseline: the same list in every group). Each head of each run is a *branch* of a
:class:`~amber2.model.stacked.StackedHeads`; one optimiser step updates all of them with batched
matrix products and :class:`~amber2.training.optim.StackedAdamW`.

Exact sharing. Under the default AmbER² options (experts detached in L_MAI, u_m from detached
D_m) an expert head's gradient is lambda_RAI * dJS(y||p_m) alone: it does not depend on lambda_MAI
or kappa. Heads have disjoint parameters and AdamW is elementwise, so the experts of every grid point
of a group follow *the same trajectory*: they are trained once and shared by all grid points. With
the ablation switches off the sharing is switched off too (each run gets its own experts).

The result of every run equals that of :func:`amber2.training.single.train_run` (same data order,
same initial weights, the same AdamW arithmetic) up to floating-point summation order; a test and
``benchmarks/train_protocol.py`` measure the difference.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from amber2.losses import amber2_loss, cb_ce_loss, class_balanced_weights, soft_cross_entropy
from amber2.metrics import METRICS
from amber2.model.heads import FUSION, AmbER2Model, ModelConfig, input_stats
from amber2.model.stacked import BranchLayout, StackedHeads
from amber2.training.config import LossConfig, OptimConfig
from amber2.training.data import LabeledSet
from amber2.training.objective import amber2_options, selection_units
from amber2.training.optim import StackedAdamW
from amber2.training.results import HeadResult, RunResult
from amber2.training.splits import epoch_order

__all__ = ["Split", "branch_plan", "train_ensemble"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Split:
    """Positions of one fold's training, validation and test items."""

    fold: int
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def branch_plan(losses: Sequence[LossConfig], heads: Sequence[str], student: str) -> dict[str, list[int]]:
    """Which branch of each head every objective uses (shared experts get one branch).

    Returns:
        ``{head: [branch index for objective 0, 1, ...]}``.
    """
    plan: dict[str, list[int]] = {}
    for h in heads:
        keys: dict[tuple, int] = {}
        idx = []
        for c, loss in enumerate(losses):
            if (loss.kind == "amber2" and h != student and loss.options.detach_experts
                    and loss.options.detach_weights):
                # The expert's gradient depends only on these (see the module docstring).
                key: tuple = ("expert", loss.lambda_rai, loss.options.expert_fidelity, loss.options.js)
            else:
                key = ("own", c)
            idx.append(keys.setdefault(key, len(keys)))
        plan[h] = idx
    return plan


def first_layer_columns(model_config: ModelConfig, losses: Sequence[LossConfig]) -> int:
    """Output columns of the stacked first layer of one group, summed over modalities.

    Per modality: ``K_m x hidden`` (its own head's branches) plus, for each fusion branch, the
    projection and that modality's gate block (``fusion_dim`` each; ``M x fusion_dim`` gate width for
    M > 2), with ``K`` the distinct branches of :func:`branch_plan`.
    """
    plan = branch_plan(losses, list(model_config.head_names), model_config.student)
    k = {h: len(set(v)) for h, v in plan.items()}
    M, F = len(model_config.dims), model_config.fusion_dim
    columns = sum(k[m] * model_config.hidden for m in model_config.dims if m in k)
    if FUSION in k:
        columns += M * k[FUSION] * (F + (F if M == 2 else M * F))
    return columns


@contextlib.contextmanager
def _flush_denormals() -> Iterator[None]:
    # Adam's second moments of tiny gradients are subnormal floats, which are very slow on x86.
    # Flushing them to zero changes values by < 1e-38.
    prev = torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(bool(prev))


def _pad(rows: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack ragged position arrays into (G, L) indices (padded with the row's first) + mask."""
    L = max(len(r) for r in rows)
    idx = np.zeros((len(rows), max(L, 1)), dtype=np.int64)
    mask = np.zeros_like(idx, dtype=bool)
    for g, r in enumerate(rows):
        idx[g, :len(r)] = r
        idx[g, len(r):] = r[0] if len(r) else 0
        mask[g, :len(r)] = True
    return torch.from_numpy(idx), torch.from_numpy(mask)


def train_ensemble(
    data: LabeledSet,
    groups: Sequence[tuple[Split, int]],
    losses: Sequence[LossConfig],
    *,
    model_config: ModelConfig,
    optim: OptimConfig,
    keep_state: bool = False,
    on_epoch: Callable[[int, int], None] | None = None,
) -> list[RunResult]:
    """Train ``len(groups) x len(losses)`` runs together.

    Args:
        data: All items.
        groups: ``(split, seed)`` pairs: one group of runs per fold x seed.
        losses: Objectives (every group runs every objective).
        model_config: Architecture (no dropout).
        optim: Optimiser and selection settings.
        keep_state: Keep each run's selected state dict in its result.
        on_epoch: Called as ``on_epoch(epoch, max_epochs)`` after every epoch.

    Returns:
        Run results ordered by group, then objective.
    """
    t_start = time.perf_counter()
    groups = list(groups)
    seeds = sorted({s for _, s in groups})
    G, C = len(groups), len(losses)
    heads = list(model_config.head_names)
    student = model_config.student
    plan = branch_plan(losses, heads, student)
    layout = BranchLayout(G, {h: max(plan[h]) + 1 for h in heads})
    inits = {s: AmbER2Model(model_config, seed=s) for s in seeds}
    model = StackedHeads.from_models(
        model_config, {h: [[inits[s]] * layout.branches[h] for _, s in groups] for h in heads}
    )
    opt = StackedAdamW(model, lr=optim.lr, weight_decay=optim.weight_decay)
    metric = METRICS[optim.selection_metric]
    sign = 1.0 if metric.higher_is_better else -1.0
    B = optim.batch_size

    X_all = {m: torch.from_numpy(a) for m, a in data.X.items()}
    norm = _GroupNorm(data, groups, model_config.standardize)
    Y_all = torch.from_numpy(data.Y).float()
    n_train = [len(sp.train) for sp, _ in groups]
    steps_per_epoch = [(n + B - 1) // B for n in n_train]
    max_steps = max(steps_per_epoch)

    # CB-CE class weights per group (from that fold's training labels).
    cw = None
    if any(loss.kind == "cbce" for loss in losses):
        betas = {loss.cb_beta for loss in losses if loss.kind == "cbce"}
        if len(betas) > 1:
            raise ValueError("one ensemble supports one cb_beta")
        beta = betas.pop()
        cw = torch.stack([
            torch.as_tensor(class_balanced_weights(data.Y[sp.train], beta=beta), dtype=torch.float32)
            for sp, _ in groups
        ])  # (G, C)

    # AmbER² objectives are vectorised per option set; baselines per objective.
    a2_sets: dict[tuple, list[int]] = {}
    for c, loss in enumerate(losses):
        if loss.kind == "amber2":
            a2_sets.setdefault((loss.options.model_dump_json(), loss.lambda_rai), []).append(c)

    units = [selection_units(loss, heads, student) for loss in losses]
    best = {(c, u): np.full(G, -np.inf) for c in range(C) for u, _ in units[c]}
    best_epoch = {k: np.zeros(G, dtype=int) for k in best}
    since = {k: np.zeros(G, dtype=int) for k in best}
    history = {(c, h): [[] for _ in range(G)] for c in range(C) for h in heads}
    run_active = np.ones((G, C), dtype=bool)
    epochs_trained = np.zeros((G, C), dtype=int)
    snaps: dict[tuple[int, str, str], dict[str, torch.Tensor]] = {}

    val_idx, val_mask = _pad([sp.val for sp, _ in groups])
    test_idx, test_mask = _pad([sp.test for sp, _ in groups])
    plan_t = {h: torch.tensor(plan[h]) for h in heads}

    with _flush_denormals():
        for epoch in range(1, optim.max_epochs + 1):
            if not run_active.any():
                break
            orders = [sp.train[epoch_order(len(sp.train), seed=s, fold=sp.fold, epoch=epoch)] for sp, s in groups]
            for step in range(max_steps):
                rows, w = [], np.zeros((G, B), dtype=np.float32)
                has_batch = np.zeros(G, dtype=bool)
                for g, o in enumerate(orders):
                    b = o[step * B:(step + 1) * B]
                    rows.append(b if len(b) else o[:1])
                    w[g, :len(b)] = 1.0
                    has_batch[g] = len(b) > 0
                idx = np.stack([np.pad(r, (0, B - len(r)), mode="edge") for r in rows])
                idx_t = torch.from_numpy(idx)
                xs = norm({m: X_all[m][idx_t] for m in X_all})
                y = Y_all[idx_t]  # (G, B, C)
                sw = torch.from_numpy(w)
                logits = model(xs)
                total = _ensemble_loss(logits, y, sw, losses, plan_t, a2_sets, student, heads, cw)
                opt.zero_grad()
                total.backward()
                active = _branch_activity(run_active & has_batch[:, None], plan, layout)
                opt.step(active)
            epochs_trained[run_active] = epoch

            # ---- validation, selection, early stopping
            probs = _predict(model, X_all, val_idx, norm)
            for g in range(G):
                n_v = int(val_mask[g].sum())
                yv = data.Y[val_idx[g, :n_v].numpy()]
                for c in range(C):
                    if not run_active[g, c]:
                        continue
                    for h in heads:
                        p = probs[h][g, plan[h][c], :n_v]
                        history[(c, h)][g].append(float(metric.set_fn(yv, p)))
            for c in range(C):
                for u, followers in units[c]:
                    key = (c, u)
                    scores = np.array([
                        sign * history[(c, u)][g][-1] if run_active[g, c] else -np.inf for g in range(G)
                    ])
                    imp = (scores > best[key]) & run_active[:, c]
                    best[key][imp] = scores[imp]
                    best_epoch[key][imp] = epoch
                    since[key][imp] = 0
                    since[key][~imp & run_active[:, c]] += 1
                    if imp.any():
                        mask = torch.from_numpy(imp)
                        for h in followers:
                            _snapshot(snaps, (c, u, h), model, h, plan[h][c], mask)
            if optim.patience is not None:
                for c in range(C):
                    stalled = np.all([since[(c, u)] >= optim.patience for u, _ in units[c]], axis=0)
                    run_active[:, c] &= ~stalled
            if on_epoch is not None:
                on_epoch(epoch, optim.max_epochs)

    # ---- final predictions from the snapshots
    results = _collect(
        groups, losses, units, snaps, heads, student, model_config, val_idx, val_mask, test_idx, test_mask,
        X_all, norm, best_epoch, history, epochs_trained, keep_state,
    )
    log.info("ensemble: %d runs (%d groups x %d objectives) in %.1f s", G * C, G, C, time.perf_counter() - t_start)
    return results


def _branch_activity(
    run_active: np.ndarray, plan: Mapping[str, list[int]], layout: BranchLayout
) -> dict[str, torch.Tensor]:
    """A branch steps when any active run of its group uses it."""
    G = run_active.shape[0]
    out = {}
    for h, idx in plan.items():
        a = np.zeros((G, layout.branches[h]), dtype=bool)
        for c, k in enumerate(idx):
            a[:, k] |= run_active[:, c]
        out[h] = torch.from_numpy(a)
    return out


def _ensemble_loss(
    logits: Mapping[str, torch.Tensor],
    y: torch.Tensor,
    sw: torch.Tensor,
    losses: Sequence[LossConfig],
    plan: Mapping[str, torch.Tensor],
    a2_sets: Mapping[tuple, list[int]],
    student: str,
    heads: Sequence[str],
    cw: torch.Tensor | None,
) -> torch.Tensor:
    """Sum over groups and objectives of each run's loss, each shared expert counted once."""
    total = logits[heads[0]].new_zeros(())
    y4, sw3 = y.unsqueeze(1), sw.unsqueeze(1)  # (G, 1, B, C), (G, 1, B)
    for cols in a2_sets.values():
        first = losses[cols[0]]
        opts = amber2_options(first)
        sel = torch.tensor(cols)
        probs = {h: torch.softmax(logits[h].index_select(1, plan[h][sel]), dim=-1) for h in heads}
        lam_mai = torch.tensor([losses[c].lambda_mai for c in cols], dtype=y.dtype)  # (S,)
        kappa = torch.tensor([losses[c].kappa for c in cols], dtype=y.dtype)
        terms = amber2_loss(
            probs, y4, student=student, lambda_rai=first.lambda_rai, lambda_mai=lam_mai.view(1, -1, 1),
            kappa=kappa.view(1, -1, 1), options=opts, sample_weight=sw3,
        )
        total = total + (first.lambda_rai * terms.rai + lam_mai * terms.mai).sum()
        if opts.expert_fidelity:
            for e, val in terms.expert_rai.items():
                branches = plan[e][sel].tolist()
                keep = [i for i, k in enumerate(branches) if k not in branches[:i]]  # shared -> once
                total = total + first.lambda_rai * val[:, keep].sum()
    for c, loss in enumerate(losses):
        if loss.kind == "amber2":
            continue
        for h in heads:
            lg = logits[h][:, plan[h][c]]  # (G, B, C)
            if loss.kind == "cbce":
                assert cw is not None
                total = total + cb_ce_loss(lg, y, cw.unsqueeze(1), sample_weight=sw).sum()
            else:
                total = total + soft_cross_entropy(lg, y, sample_weight=sw).sum()
    return total


class _GroupNorm:
    """Each group's input standardisation (its fold's training statistics), as the single loop does."""

    def __init__(self, data: LabeledSet, groups: Sequence[tuple[Split, int]], enabled: bool):
        self.enabled = enabled
        self.mean: dict[str, torch.Tensor] = {}
        self.std: dict[str, torch.Tensor] = {}
        if not enabled:  # identity statistics, still saved with the model
            for m, a in data.X.items():
                self.mean[m] = torch.zeros(len(groups), 1, a.shape[1])
                self.std[m] = torch.ones(len(groups), 1, a.shape[1])
            return
        by_fold: dict[int, tuple[dict, dict]] = {}
        for sp, _ in groups:
            if sp.fold not in by_fold:
                by_fold[sp.fold] = input_stats({m: a[sp.train] for m, a in data.X.items()})
        for m in data.X:
            self.mean[m] = torch.stack([by_fold[sp.fold][0][m] for sp, _ in groups]).unsqueeze(1)  # (G, 1, D)
            self.std[m] = torch.stack([by_fold[sp.fold][1][m] for sp, _ in groups]).unsqueeze(1)

    def __call__(self, xs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if not self.enabled:
            return xs
        return {m: (x - self.mean[m]) / self.std[m] for m, x in xs.items()}

    def buffers(self, g: int) -> dict[str, torch.Tensor]:
        """Group ``g``'s statistics as :class:`AmbER2Model` buffers."""
        out = {}
        for m in self.mean:
            out[f"input_mean_{m}"] = self.mean[m][g, 0].clone()
            out[f"input_std_{m}"] = self.std[m][g, 0].clone()
        return out


@torch.no_grad()
def _predict(model: StackedHeads, X_all: Mapping[str, torch.Tensor], idx: torch.Tensor, norm: _GroupNorm,
             chunk: int = 2048) -> dict[str, np.ndarray]:
    """Probabilities ``{head: (G, K_h, L, C)}`` of every branch on padded positions ``idx`` (G, L)."""
    parts: dict[str, list[torch.Tensor]] = {}
    for s in range(0, idx.shape[1], chunk):
        sub = idx[:, s:s + chunk]
        out = model(norm({m: X_all[m][sub] for m in X_all}))
        for h, v in out.items():
            parts.setdefault(h, []).append(torch.softmax(v.double(), dim=-1))
    return {h: torch.cat(v, dim=2).numpy() for h, v in parts.items()}


@torch.no_grad()
def _snapshot(snaps: dict, key: tuple, model: StackedHeads, head: str, k: int, mask: torch.Tensor) -> None:
    views = model.branch_views(head, k)
    if key not in snaps:
        snaps[key] = {n: v.detach().clone() for n, v in views.items()}
        return
    for n, v in views.items():
        m = mask.view(-1, *([1] * (v.dim() - 1)))
        snaps[key][n] = torch.where(m, v.detach(), snaps[key][n])


def _collect(
    groups, losses, units, snaps, heads, student, model_config, val_idx, val_mask, test_idx, test_mask,
    X_all, norm, best_epoch, history, epochs_trained, keep_state,
) -> list[RunResult]:
    G = len(groups)
    keys = sorted(snaps, key=lambda k: (k[2], k[0], k[1]))
    per_head: dict[str, list[tuple]] = {h: [k for k in keys if k[2] == h] for h in heads}
    layout = BranchLayout(G, {h: max(1, len(per_head[h])) for h in heads})
    ev = StackedHeads(model_config, layout)
    slot: dict[tuple, int] = {}
    with torch.no_grad():
        for h in heads:
            for k_new, key in enumerate(per_head[h]):
                slot[key] = k_new
                for n, v in ev.branch_views(h, k_new).items():
                    v.copy_(snaps[key][n])
    pv = _predict(ev, X_all, val_idx, norm)
    pt = _predict(ev, X_all, test_idx, norm)
    out: list[RunResult] = []
    for g, (sp, seed) in enumerate(groups):
        n_v, n_t = int(val_mask[g].sum()), int(test_mask[g].sum())
        for c, loss in enumerate(losses):
            res: dict[str, HeadResult] = {}
            state: dict[str, torch.Tensor] | None = norm.buffers(g) if keep_state else None
            for u, followers in units[c]:
                for h in followers:
                    k = slot[(c, u, h)]
                    pvh, pth = pv[h][g, k, :n_v], pt[h][g, k, :n_t]
                    metric_val = history[(c, h)][g][best_epoch[(c, u)][g] - 1]
                    res[h] = HeadResult(h, int(best_epoch[(c, u)][g]), float(metric_val), pvh, pth,
                                        list(history[(c, h)][g]))
                    if state is not None:
                        state.update(ev.branch_state(h, k, g))
            reported = [student] if loss.kind == "amber2" else list(heads)
            out.append(RunResult(sp.fold, seed, loss, res, reported, int(epochs_trained[g, c]),
                                 np.asarray(sp.val), np.asarray(sp.test), state))
    return out
