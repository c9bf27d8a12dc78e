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
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from amber2.losses import js_divergence, trusted_values
from amber2.metrics import METRICS, MetricSpec
from amber2.model.heads import FUSION, AmbER2Model, ModelConfig, input_stats
from amber2.model.stacked import BranchLayout, StackedHeads
from amber2.training.config import LossConfig, OptimConfig
from amber2.training.data import LabeledSet
from amber2.training.device import autocast, matmul_precision, resolve_device, resolve_precision
from amber2.training.objective import (
    StackedObjective,
    class_prior_for,
    class_weights_for,
    selection_units,
    uses_class_weights,
)
from amber2.training.optim import StackedAdamW, StepMask
from amber2.training.results import DivergenceError, HeadResult, RunResult
from amber2.training.selection import EpochSelector
from amber2.training.splits import epoch_order

__all__ = ["RunGrid", "SelectionUnit", "Split", "branch_plan", "device_selection_scores", "train_ensemble"]

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


@dataclass(frozen=True)
class SelectionUnit:
    """One scoring head of one objective: its validation score picks the epoch of its followers."""

    objective: int
    head: str
    followers: tuple[str, ...]


@dataclass(frozen=True)
class RunGrid:
    """Which runs train together and how they map onto the stacked model.

    Runs are ``n_groups`` groups (fold x seed) x ``n_objectives`` objectives; head ``h`` of objective
    ``o`` is branch ``plan[h][o]`` of every group.
    """

    groups: tuple[tuple[Split, int], ...]
    objectives: tuple[LossConfig, ...]
    heads: tuple[str, ...]
    student: str
    plan: dict[str, list[int]]
    units: tuple[SelectionUnit, ...]

    @classmethod
    def build(cls, groups: Sequence[tuple[Split, int]], objectives: Sequence[LossConfig],
              model_config: ModelConfig) -> RunGrid:
        """The grid of ``groups x objectives`` for ``model_config``'s heads."""
        heads, student = list(model_config.head_names), model_config.student
        units = tuple(SelectionUnit(o, u, tuple(f)) for o, loss in enumerate(objectives)
                      for u, f in selection_units(loss, heads, student))
        return cls(tuple(groups), tuple(objectives), tuple(heads), student,
                   branch_plan(objectives, heads, student), units)

    @property
    def n_groups(self) -> int:
        """Groups (fold x seed)."""
        return len(self.groups)

    @property
    def n_objectives(self) -> int:
        """Objectives per group."""
        return len(self.objectives)

    @property
    def layout(self) -> BranchLayout:
        """Branches per head of the training model."""
        return BranchLayout(self.n_groups, {h: max(self.plan[h]) + 1 for h in self.heads})

    def branch_activity(self, run_active: np.ndarray) -> dict[str, np.ndarray]:
        """A branch steps when any active run (``(G, O)`` bool) of its group uses it."""
        out = {}
        for h, idx in self.plan.items():
            a = np.zeros((self.n_groups, max(idx) + 1), dtype=bool)
            for o, k in enumerate(idx):
                a[:, k] |= run_active[:, o]
            out[h] = a
        return out

    def runs_stalled(self, unit_stalled: np.ndarray) -> np.ndarray:
        """Runs ``(G, O)`` all of whose units are stalled, from units ``(G, U)``."""
        out = np.ones((self.n_groups, self.n_objectives), dtype=bool)
        for j, unit in enumerate(self.units):
            out[:, unit.objective] &= unit_stalled[:, j]
        return out


@contextlib.contextmanager
def _flush_denormals() -> Iterator[None]:
    # Adam's second moments of tiny gradients are subnormal floats, which are very slow on x86.
    # Flushing them to zero changes values by < 1e-38.
    prev = torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(bool(prev))


@dataclass(frozen=True)
class _Positions:
    """Ragged item positions of every group stacked to ``(G, L)`` (padded with the row's first), on the device."""

    idx: torch.Tensor
    counts: tuple[int, ...]

    @classmethod
    def of(cls, rows: Sequence[np.ndarray], device: torch.device | str = "cpu") -> _Positions:
        L = max(len(r) for r in rows)
        idx = np.zeros((len(rows), max(L, 1)), dtype=np.int64)
        for g, r in enumerate(rows):
            idx[g, :len(r)] = r
            idx[g, len(r):] = r[0] if len(r) else 0
        return cls(torch.from_numpy(idx).to(device), tuple(len(r) for r in rows))


@dataclass
class _Inputs:
    """The data as tensors on the training device (copied once), with each group's input standardisation."""

    X: dict[str, torch.Tensor]
    Y: torch.Tensor
    norm: _GroupNorm

    @classmethod
    def of(cls, data: LabeledSet, groups: Sequence[tuple[Split, int]], standardize: bool,
           device: torch.device | str = "cpu") -> _Inputs:
        return cls({m: torch.from_numpy(a).to(device) for m, a in data.X.items()},
                   torch.from_numpy(data.Y).float().to(device), _GroupNorm(data, groups, standardize, device))

    def batch(self, idx: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Standardised inputs ``{m: (G, B, d_m)}`` and targets ``(G, B, C)`` at positions ``(G, B)``."""
        return self.norm({m: x[idx] for m, x in self.X.items()}), self.Y[idx]


@dataclass(frozen=True)
class _EpochBatches:
    """One epoch's mini-batches of every group, built before the epoch's first step.

    Group ``g`` sees the order :func:`epoch_order` gives its run alone; a group whose epoch is over
    (fewer training items) gets padding rows of weight 0 and its branches do not step. Branches of
    runs that stopped early step with their group (nothing reads them again). Everything the
    steps read is built here and copied to the device once per epoch, so the step loop does no
    host-side work but indexing and never waits for the device.

    Attributes:
        positions: ``(steps, G, B)`` item positions.
        weights: ``(steps, G, B)`` 1 for real rows, 0 for padding.
        activity: Per step, the branches that step (host and device copies).
    """

    positions: torch.Tensor
    weights: torch.Tensor
    activity: tuple[StepMask, ...]

    @classmethod
    def of(cls, grid: RunGrid, epoch: int, batch_size: int, run_active: np.ndarray,
           opt: StackedAdamW) -> _EpochBatches:
        B, G = batch_size, grid.n_groups
        orders = [sp.train[epoch_order(len(sp.train), seed=s, fold=sp.fold, epoch=epoch)] for sp, s in grid.groups]
        steps = max((len(sp.train) + B - 1) // B for sp, _ in grid.groups)
        idx = np.zeros((G, steps * B), dtype=np.int64)
        w = np.zeros((G, steps * B), dtype=np.float32)
        has_batch = np.zeros((steps, G), dtype=bool)
        for g, o in enumerate(orders):
            n = len(o)
            idx[g, :n] = o
            w[g, :n] = 1.0
            # padding rows repeat a real item (finite terms, weight 0): the last one of a partial batch,
            # the first item of the epoch in the batches after a group's last
            idx[g, n:] = o[0] if n else 0
            full = -(-n // B) * B  # end of the group's last (partial) batch
            idx[g, n:full] = o[-1] if n else 0
            has_batch[:(n + B - 1) // B, g] = True
        # A group with a batch steps all its branches, also those of runs that stopped early: their weights are
        # never read again (each result comes from the snapshot at its selected epoch), and stepping them keeps
        # every branch of the group on one step count, so the fused AdamW update applies instead of the
        # ~10-pass masked one (IEMOCAP size, two groups: 12 vs 43 ms). Few distinct patterns: built once each.
        stepping = has_batch & run_active.any(axis=1)
        patterns: dict[bytes, np.ndarray] = {}
        host = np.empty((steps, G, opt.n_branches), dtype=bool)
        for step in range(steps):
            key = stepping[step].tobytes()
            if key not in patterns:
                runs = np.repeat(stepping[step][:, None], grid.n_objectives, axis=1)
                patterns[key] = opt.host_mask(grid.branch_activity(runs))
            host[step] = patterns[key]
        idx = idx.reshape(G, steps, B).transpose(1, 0, 2).copy()  # (steps, G, B)
        w = w.reshape(G, steps, B).transpose(1, 0, 2).copy()
        device = opt.device
        masks = opt.masks(host)
        return cls(torch.from_numpy(idx).to(device), torch.from_numpy(w).to(device), tuple(masks))

    def __len__(self) -> int:
        return len(self.activity)


#: Selection metrics scored where the predictions are: ``name -> square root of the divergence`` (the JS
#: distance) or not. Per item the losses' JS (float64), then a masked mean over each group's validation items;
#: it equals the numpy metric to ~1e-16. On the host the numpy metric took ~60-90 ms per epoch at IEMOCAP
#: size (every branch of every group), time a GPU spends idle between epochs; other metrics run on the host.
_DEVICE_METRICS: dict[str, bool] = {"js": True, "js_div": False}


@torch.no_grad()
def device_selection_scores(name: str, probs: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    r"""A selection metric of every branch of every group, computed on the predictions' device.

    :math:`\frac{1}{n_g} \sum_{i \le n_g} f(JS(y_{gi} \| p_{gki}))` with :math:`f` the square root (``js``) or the
    identity (``js_div``), JS clipped to :math:`[0, \ln 2]` as the registry's metric does.

    Args:
        name: ``js`` or ``js_div`` (keys of ``_DEVICE_METRICS``).
        probs: ``(G, K, L, C)`` predicted distributions (float64).
        targets: ``(G, L, C)`` targets (padding rows finite).
        mask: ``(G, L)`` bool, True for each group's real items.

    Returns:
        ``(G, K)`` scores.
    """
    item = js_divergence(targets.unsqueeze(1), probs).clamp(0.0, math.log(2.0))  # (G, K, L)
    if _DEVICE_METRICS[name]:
        item = item.sqrt()
    w = mask.to(item.dtype).unsqueeze(1)
    return (item * w).sum(dim=-1) / w.sum(dim=-1)


@dataclass(frozen=True)
class _Validation:
    """The validation items of every group and the selection metric that scores them."""

    positions: _Positions
    targets: tuple[np.ndarray, ...]
    metric: MetricSpec
    #: ``(G, L, C)`` float64 targets (padding rows repeat each group's first item) and ``(G, L)`` real-item mask,
    #: on the device (for the metrics of ``_DEVICE_METRICS``).
    targets_device: torch.Tensor
    mask: torch.Tensor

    @classmethod
    def of(cls, data: LabeledSet, groups: Sequence[tuple[Split, int]], metric: MetricSpec,
           device: torch.device | str = "cpu") -> _Validation:
        positions = _Positions.of([sp.val for sp, _ in groups], device)
        L = positions.idx.shape[1]
        mask = torch.arange(L, device=device).unsqueeze(0) < torch.tensor(positions.counts, device=device).unsqueeze(1)
        targets = torch.from_numpy(np.asarray(data.Y, dtype=np.float64)).to(device)[positions.idx]
        return cls(positions, tuple(data.Y[sp.val] for sp, _ in groups), metric, targets, mask)

    def scores(self, model: StackedHeads, inputs: _Inputs, grid: RunGrid, run_active: np.ndarray,
               epoch: int, lr: float, precision: str = "fp32") -> dict[str, np.ndarray]:
        """Validation scores ``{head: (G, O)}`` of every active run (NaN for stopped runs).

        The epoch's one read from the device. For the metrics of ``_DEVICE_METRICS`` (the default ``js``
        among them) every branch's score and whether its predictions are finite, ``(G, K_h)`` per head, in
        one transfer; for the others the validation probabilities, and the metric runs on the host with one
        vectorised call per head and group. The selection runs on the host.

        Raises:
            DivergenceError: An active run's head predicts NaN or inf.
        """
        table, finite = (self._device_table(model, inputs, grid, precision) if self.metric.name in _DEVICE_METRICS
                         else self._host_table(model, inputs, grid, run_active, precision))
        branch = {h: np.asarray(grid.plan[h]) for h in grid.heads}  # (O,) branch of each objective
        scores = {h: np.where(run_active, table[h][:, branch[h]], np.nan) for h in grid.heads}
        for g, (sp, seed) in enumerate(grid.groups):
            diverged = [(int(o), i) for i, h in enumerate(grid.heads)
                        for o in np.flatnonzero(run_active[g] & ~finite[h][g, branch[h]])]
            if diverged:  # the first run (then head) that diverged, in the order of the objectives
                o, i = min(diverged)
                raise DivergenceError(fold=sp.fold, seed=seed, objective=grid.objectives[o], head=grid.heads[i],
                                      epoch=epoch, lr=lr)
        return scores

    def _device_table(self, model: StackedHeads, inputs: _Inputs, grid: RunGrid,
                      precision: str) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Every branch's score and finiteness ``{head: (G, K_h)}``, computed on the device, read in one copy."""
        probs = _predict_tensors(model, inputs, self.positions.idx, precision=precision)
        rows = []  # per head: (2, G, K_h), the scores and whether the branch's predictions are finite
        for h in grid.heads:
            score = device_selection_scores(self.metric.name, probs[h], self.targets_device, self.mask)
            finite = (torch.isfinite(probs[h]).all(dim=-1) | ~self.mask.unsqueeze(1)).all(dim=-1)
            rows.append(torch.stack([score, finite.to(score.dtype)]))
        sizes = [r.shape[2] for r in rows]
        parts = np.split(torch.cat(rows, dim=2).cpu().numpy(), np.cumsum(sizes)[:-1], axis=2)
        return ({h: p[0] for h, p in zip(grid.heads, parts, strict=True)},
                {h: p[1] > 0.5 for h, p in zip(grid.heads, parts, strict=True)})

    def _host_table(self, model: StackedHeads, inputs: _Inputs, grid: RunGrid, run_active: np.ndarray,
                    precision: str) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """The same table from the registry's numpy metric: one vectorised call per head and group."""
        probs = _predict(model, inputs, self.positions.idx, precision=precision)
        table = {h: np.full((grid.n_groups, probs[h].shape[1]), np.nan) for h in grid.heads}
        finite = {h: np.ones((grid.n_groups, probs[h].shape[1]), dtype=bool) for h in grid.heads}
        for g in range(grid.n_groups):
            if not run_active[g].any():
                continue
            n_v = self.positions.counts[g]
            for h in grid.heads:
                p = probs[h][g, :, :n_v]  # (K_h, n_v, C)
                finite[h][g] = np.isfinite(p).all(axis=(1, 2))
                with np.errstate(all="ignore"):  # a stopped run's branch may have diverged: never read
                    table[h][g] = np.asarray(self.metric.set_fn(self.targets[g], p), dtype=float).reshape(-1)
        return table, finite


@dataclass
class _Progress:
    """What training has produced so far: validation histories, epochs, selected-epoch weights."""

    grid: RunGrid
    selector: EpochSelector
    #: ``history[h]``: one ``(G, O)`` array of validation scores per epoch (NaN for stopped runs).
    history: dict[str, list[np.ndarray]] = field(default_factory=dict)
    epochs_trained: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    #: ``snapshots[(unit index, head)]``: that head's branch weights ``{name: (G, ...)}`` at the unit's best epoch.
    snapshots: dict[tuple[int, str], dict[str, torch.Tensor]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.history = {h: [] for h in self.grid.heads}
        self.epochs_trained = np.zeros((self.grid.n_groups, self.grid.n_objectives), dtype=int)

    @property
    def run_active(self) -> np.ndarray:
        """Runs ``(G, O)`` still training."""
        return ~self.grid.runs_stalled(self.selector.stalled())

    def run_history(self, g: int, o: int, head: str) -> list[float]:
        """Validation scores of head ``head`` of run (``g``, ``o``), one per epoch it trained."""
        return [float(e[g, o]) for e in self.history[head][:self.epochs_trained[g, o]]]

    def record(self, epoch: int, run_active: np.ndarray, scores: Mapping[str, np.ndarray], model: StackedHeads) -> None:
        """End of an epoch: keep the scores ``{head: (G, O)}``, select, snapshot the improved units."""
        self.epochs_trained[run_active] = epoch
        for h in self.grid.heads:
            self.history[h].append(scores[h])
        units = self.grid.units
        unit_scores = np.stack([scores[u.head][:, u.objective] for u in units], axis=1)
        unit_active = np.stack([run_active[:, u.objective] for u in units], axis=1)
        self.snapshot(model, self.selector.update(epoch, unit_scores, unit_active))

    @torch.no_grad()
    def snapshot(self, model: StackedHeads, improved: np.ndarray) -> None:
        """Keep the weights of every unit's followers in the groups where the unit improved."""
        for j, unit in enumerate(self.grid.units):
            if not improved[:, j].any():
                continue
            mask = torch.from_numpy(improved[:, j])
            mask = mask.to(next(iter(model.parameters())).device)
            for h in unit.followers:
                views = model.branch_views(h, self.grid.plan[h][unit.objective])
                snap = self.snapshots.get((j, h))
                if snap is None:
                    self.snapshots[(j, h)] = {n: v.detach().clone() for n, v in views.items()}
                    continue
                for n, v in views.items():
                    m = mask.view(-1, *([1] * (v.dim() - 1)))
                    snap[n] = torch.where(m, v.detach(), snap[n])


def train_ensemble(
    data: LabeledSet,
    groups: Sequence[tuple[Split, int]],
    losses: Sequence[LossConfig],
    *,
    model_config: ModelConfig,
    optim: OptimConfig,
    keep_state: bool = False,
    on_epoch: Callable[[int, int], None] | None = None,
    device: str | torch.device | None = None,
) -> list[RunResult]:
    """Train ``len(groups) x len(losses)`` runs together.

    Each epoch: one AdamW step per mini-batch for every active run at once, then the validation
    score of every head of every run, the selection of best epochs (:class:`EpochSelector`), and
    early stopping. At the end, every run's selected weights predict its validation and test items.

    Args:
        data: All items.
        groups: ``(split, seed)`` pairs: one group of runs per fold x seed.
        losses: Objectives (every group runs every objective).
        model_config: Architecture (no dropout).
        optim: Optimiser and selection settings.
        keep_state: Keep each run's selected state dict in its result.
        on_epoch: Called as ``on_epoch(epoch, max_epochs)`` after every epoch.
        device: Torch device (default: a GPU when present, see :func:`amber2.training.device.resolve_device`).
            The data, weights and optimiser state live there; the results are returned on the host.

    Returns:
        Run results ordered by group, then objective.

    Raises:
        DivergenceError: A run's predictions became NaN or inf (names its fold, seed and objective).
    """
    t_start = time.perf_counter()
    dev = torch.device(resolve_device(device))
    precision = resolve_precision(optim.precision, dev)
    grid = RunGrid.build(groups, losses, model_config)
    model = _initial_model(grid, model_config, dev)
    opt = StackedAdamW(model, lr=optim.lr, weight_decay=optim.weight_decay)
    metric = METRICS[optim.selection_metric]
    inputs = _Inputs.of(data, grid.groups, model_config.standardize, dev)
    objective = StackedObjective(grid.objectives, grid.plan, grid.student, _class_weights(data, grid),
                                 _class_prior(data, grid), device=dev)
    val = _Validation.of(data, grid.groups, metric, dev)
    progress = _Progress(grid, EpochSelector((grid.n_groups, len(grid.units)),
                                             higher_is_better=metric.higher_is_better, patience=optim.patience))
    with _flush_denormals(), matmul_precision(precision):
        for epoch in range(1, optim.max_epochs + 1):
            run_active = progress.run_active
            if not run_active.any():
                break
            batches = _EpochBatches.of(grid, epoch, optim.batch_size, run_active, opt)
            _train_epoch(model, opt, objective, inputs, batches, precision)
            scores = val.scores(model, inputs, grid, run_active, epoch, optim.lr, precision)
            progress.record(epoch, run_active, scores, model)
            if on_epoch is not None:
                on_epoch(epoch, optim.max_epochs)

        test = _Positions.of([sp.test for sp, _ in grid.groups], dev)
        results = _collect(grid, model_config, inputs, val.positions, test, progress, keep_state, precision)
    log.info("ensemble: %d runs (%d groups x %d objectives) in %.1f s", grid.n_groups * grid.n_objectives,
             grid.n_groups, grid.n_objectives, time.perf_counter() - t_start)
    return results


def _train_epoch(model: StackedHeads, opt: StackedAdamW, objective: StackedObjective, inputs: _Inputs,
                 batches: _EpochBatches, precision: str) -> None:
    """One AdamW step per mini-batch: device work only, no read back to the host (the hot loop).

    The forward pass runs under the precision's autocast; the objective sees float32 logits.
    Sample weights are 0/1 masks built by :class:`_EpochBatches` and the hyperparameters come from
    validated settings, so the losses' per-call value checks (each a device read) are skipped.
    """
    device = opt.device
    with trusted_values():
        for step in range(len(batches)):
            xs, y = inputs.batch(batches.positions[step])
            with autocast(precision, device):
                logits = model(xs)
            total = objective({h: v.float() for h, v in logits.items()}, y, batches.weights[step])
            opt.zero_grad()
            total.backward()
            opt.step(batches.activity[step])


def _initial_model(grid: RunGrid, model_config: ModelConfig, device: torch.device | str = "cpu") -> StackedHeads:
    """Every branch of group ``g`` starts from the weights its run would get alone (seed of ``g``).

    The per-seed models are initialised on the host (the same weights on any device) and copied to the
    device; the stacked model is allocated there and its branches filled from those copies, so only the
    few per-seed models cross to the device, not the stacked weights (IEMOCAP protocol: ~0.9 GB).
    """
    inits = {s: AmbER2Model(model_config, seed=s).to(device) for s in sorted({s for _, s in grid.groups})}
    layout = grid.layout
    with torch.device(device):
        return StackedHeads.from_models(
            model_config, {h: [[inits[s]] * layout.branches[h] for _, s in grid.groups] for h in grid.heads}
        )


def _class_weights(data: LabeledSet, grid: RunGrid) -> torch.Tensor | None:
    """Class weights ``(G, C)`` from each group's training labels (None when no objective uses them)."""
    users = [loss for loss in grid.objectives if uses_class_weights(loss)]
    if not users:
        return None
    if len({loss.cb_beta for loss in users}) > 1:
        raise ValueError("one ensemble supports one cb_beta")
    return torch.stack([class_weights_for(users[0], data.Y[sp.train]) for sp, _ in grid.groups])


def _class_prior(data: LabeledSet, grid: RunGrid) -> torch.Tensor | None:
    """Class priors ``(G, C)`` of each group's training labels (None when no objective uses them)."""
    users = [loss for loss in grid.objectives if loss.kind == "amber2" and loss.options.null_expert]
    if not users:
        return None
    return torch.stack([class_prior_for(users[0], data.Y[sp.train]) for sp, _ in grid.groups])


class _GroupNorm:
    """Each group's input standardisation (its fold's training statistics), as the single loop does."""

    def __init__(self, data: LabeledSet, groups: Sequence[tuple[Split, int]], enabled: bool,
                 device: torch.device | str = "cpu"):
        self.enabled = enabled
        self.mean: dict[str, torch.Tensor] = {}
        self.std: dict[str, torch.Tensor] = {}
        if not enabled:  # identity statistics, still saved with the model
            for m, a in data.X.items():
                self.mean[m] = torch.zeros(len(groups), 1, a.shape[1], device=device)
                self.std[m] = torch.ones(len(groups), 1, a.shape[1], device=device)
            return
        by_fold: dict[int, tuple[dict, dict]] = {}
        for sp, _ in groups:
            if sp.fold not in by_fold:
                by_fold[sp.fold] = input_stats({m: a[sp.train] for m, a in data.X.items()})
        for m in data.X:
            self.mean[m] = torch.stack([by_fold[sp.fold][0][m] for sp, _ in groups]).unsqueeze(1).to(device)  # (G,1,D)
            self.std[m] = torch.stack([by_fold[sp.fold][1][m] for sp, _ in groups]).unsqueeze(1).to(device)

    def __call__(self, xs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if not self.enabled:
            return xs
        return {m: (x - self.mean[m]) / self.std[m] for m, x in xs.items()}

    def buffers(self, g: int) -> dict[str, torch.Tensor]:
        """Group ``g``'s statistics as :class:`AmbER2Model` buffers (on the host)."""
        out = {}
        for m in self.mean:
            out[f"input_mean_{m}"] = self.mean[m][g, 0].cpu().clone()
            out[f"input_std_{m}"] = self.std[m][g, 0].cpu().clone()
        return out


@torch.no_grad()
def _predict_tensors(model: StackedHeads, inputs: _Inputs, idx: torch.Tensor, chunk: int = 2048,
                     precision: str = "fp32") -> dict[str, torch.Tensor]:
    """Probabilities ``{head: (G, K_h, L, C)}`` (float64) of every branch on padded positions ``idx`` (G, L)."""
    parts: dict[str, list[torch.Tensor]] = {}
    for s in range(0, idx.shape[1], chunk):
        sub = idx[:, s:s + chunk]
        with autocast(precision, idx.device):
            out = model(inputs.norm({m: x[sub] for m, x in inputs.X.items()}))
        for h, v in out.items():
            parts.setdefault(h, []).append(torch.softmax(v.double(), dim=-1))
    return {h: torch.cat(v, dim=2) for h, v in parts.items()}


def _predict(model: StackedHeads, inputs: _Inputs, idx: torch.Tensor, chunk: int = 2048,
             precision: str = "fp32") -> dict[str, np.ndarray]:
    """:func:`_predict_tensors`, on the host."""
    return {h: v.cpu().numpy() for h, v in _predict_tensors(model, inputs, idx, chunk, precision).items()}


def _collect(grid: RunGrid, model_config: ModelConfig, inputs: _Inputs, val: _Positions, test: _Positions,
             progress: _Progress, keep_state: bool, precision: str = "fp32") -> list[RunResult]:
    """Every run's result from its selected weights: validation and test predictions, state dicts."""
    # One evaluation model whose branches are the snapshots: per head, ordered by objective.
    per_head = {h: sorted((k for k in progress.snapshots if k[1] == h), key=lambda k: grid.units[k[0]].objective)
                for h in grid.heads}
    with torch.device(inputs.Y.device):  # allocated where it runs (no host copy of the stacked weights)
        ev = StackedHeads(model_config, BranchLayout(grid.n_groups, {h: max(1, len(per_head[h])) for h in grid.heads}))
    slot: dict[tuple[int, str], int] = {}
    with torch.no_grad():
        for h, keys in per_head.items():
            for k_new, key in enumerate(keys):
                slot[key] = k_new
                for n, v in ev.branch_views(h, k_new).items():
                    v.copy_(progress.snapshots[key][n])
    pv, pt = _predict(ev, inputs, val.idx, precision=precision), _predict(ev, inputs, test.idx, precision=precision)
    best_epoch = progress.selector.best_epoch
    out: list[RunResult] = []
    for g, (sp, seed) in enumerate(grid.groups):
        n_v, n_t = val.counts[g], test.counts[g]
        for o, loss in enumerate(grid.objectives):
            res: dict[str, HeadResult] = {}
            state: dict[str, torch.Tensor] | None = inputs.norm.buffers(g) if keep_state else None
            for j, unit in enumerate(grid.units):
                if unit.objective != o:
                    continue
                epoch = int(best_epoch[g, j])
                for h in unit.followers:
                    k = slot[(j, h)]
                    history = progress.run_history(g, o, h)
                    res[h] = HeadResult(h, epoch, history[epoch - 1], pv[h][g, k, :n_v], pt[h][g, k, :n_t], history)
                    if state is not None:
                        state.update({n: v.cpu() for n, v in ev.branch_state(h, k, g).items()})
            reported = [grid.student] if loss.kind == "amber2" else list(grid.heads)
            out.append(RunResult(sp.fold, seed, loss, res, reported, int(progress.epochs_trained[g, o]),
                                 np.asarray(sp.val), np.asarray(sp.test), state))
    return out
