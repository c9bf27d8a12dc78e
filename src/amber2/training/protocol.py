"""The paper's protocol: k-fold cross-validation x seeds x the lambda/kappa grid, AmbER² beside CB-CE.

The grid point is chosen on validation inside each fold.

For every test fold the remaining items are split into training and validation
(:func:`~amber2.training.splits.validation_split`); every seed trains every objective (each grid
point of AmbER² and the baseline); the grid point with the best validation score (mean over
seeds, per fold by default) is AmbER²'s result for that fold. Systems reported:

- ``baseline_<head>``: each head of the baseline on its own (Tables 1-2: text, audio, audio+text);
- ``amber2``: the student of the selected grid point (Tables 3-4).

Aggregation: a metric is computed on each run's test fold; for each seed the folds are averaged,
and the tables report the mean +- sample standard deviation (ddof = 1) of those per-seed values,
i.e. the seed-to-seed spread of the cross-validated score. Per-fold, per-seed values are kept.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from amber2.metrics import METRICS, REPORTED_METRICS, evaluate
from amber2.model.heads import ModelConfig
from amber2.training.augmentation import augment_splits
from amber2.training.config import LossConfig, TrainConfig
from amber2.training.data import VALIDATION_ONLY, LabeledSet, check_folds, check_training_classes
from amber2.training.ensemble import Split, first_layer_columns, train_ensemble
from amber2.training.fit import model_config_for
from amber2.training.results import RunResult
from amber2.training.single import train_run
from amber2.training.splits import validation_split

__all__ = [
    "REPORT_METRICS", "ProtocolResult", "grid_objectives", "make_splits", "paired_comparison", "run_protocol",
    "summarise",
]

log = logging.getLogger(__name__)

#: Metrics computed on every test fold: the paper's six and UAR (``amber2.metrics.REPORTED_METRICS``).
REPORT_METRICS: tuple[str, ...] = REPORTED_METRICS


def grid_objectives(config: TrainConfig) -> list[LossConfig]:
    """AmbER² objectives for every grid point (lambda_MAI x kappa, ...) on top of ``config.loss``."""
    base = config.loss.model_copy(update={"kind": "amber2"})
    grid = config.protocol.grid
    keys = list(grid)
    out = []
    for values in itertools.product(*(grid[k] for k in keys)):
        out.append(base.model_copy(update=dict(zip(keys, (float(v) for v in values), strict=True))))
    return out or [base]


#: Activation bytes of one mini-batch's first layer that a chunk of groups may fill (cache-sized).
CHUNK_ACTIVATION_BYTES = 16 * 2**20


def default_chunk(model_config: ModelConfig, objectives: Sequence[LossConfig], batch_size: int) -> int:
    """How many (fold, seed) groups the ensemble trains together when ``max_groups_per_chunk`` is unset.

    The first layer's output of one mini-batch has ``batch x columns`` floats per group (columns: the
    hidden units of every branch of every head, for each modality). Chunks are sized so that this
    stays within :data:`CHUNK_ACTIVATION_BYTES`: on the development CPU, at IEMOCAP size, 2 groups at
    once trained 1.3x faster than all 25 (activations that stay in cache), and the result is the same.
    """
    per_group = 4 * batch_size * max(1, first_layer_columns(model_config, objectives))
    return max(1, CHUNK_ACTIVATION_BYTES // per_group)


def make_splits(data: LabeledSet, folds: np.ndarray, config: TrainConfig) -> list[Split]:
    """Train/validation/test positions for each test fold.

    The validation set is drawn from the fold's training part (``protocol.validation``; strategy
    ``emo-superb`` takes EMO-SUPERB's own validation fold of each test fold), unless some
    items have fold -2 (a fixed validation partition, e.g. MSP-Podcast's Development set): then those
    are the validation set of every fold. Each fold's final training part must hold every class.
    """
    fold_ids = check_folds(data, folds, config.protocol.folds)
    folds = np.asarray(folds)
    fixed_val = folds == VALIDATION_ONLY
    splits = []
    for f in fold_ids:
        test = np.flatnonzero(folds == f)
        if fixed_val.any():
            tr, va = np.flatnonzero((folds != f) & ~fixed_val), np.flatnonzero(fixed_val)
        else:
            tr, va = validation_split(data, np.flatnonzero(folds != f), config.protocol.validation, fold=f,
                                      folds=folds)
        check_training_classes(data, tr, f)
        splits.append(Split(f, tr, va, test))
    return splits


@dataclass
class ProtocolResult:
    """Everything the protocol produced (see :func:`run_protocol`).

    Attributes:
        runs: Every run (fold x seed x objective).
        scores: Long table: system, head, fold, seed, objective, metric, value (test fold).
        selection: Grid search on validation: fold (and seed), objective, mean validation score,
            and whether it was chosen.
        summary: ``{system: {metric: {"mean", "std", "std_runs", "std_seeds", "n_seeds", "n_runs",
            "spread"}}}``; ``std`` is the spread ``protocol.spread`` names (default: over all runs).
        classes: Class names.
        ids: Item ids (positions index them).
        seconds: Wall time of the training.
        info: Engine, counts and settings.
    """

    runs: list[RunResult]
    scores: pd.DataFrame
    selection: pd.DataFrame
    summary: dict[str, dict[str, dict[str, float]]]
    classes: list[str]
    ids: list[str]
    seconds: float
    info: dict[str, Any] = field(default_factory=dict)

    def systems(self) -> list[str]:
        """System names in table order (baseline heads, then AmbER²)."""
        return list(self.summary)

    def table(self, metrics: Sequence[str] = REPORT_METRICS, digits: int = 3) -> pd.DataFrame:
        """Mean +- std per system (rows) and metric (columns) as strings (``± n/a``: no spread estimable)."""
        def cell(v: dict[str, float]) -> str:
            std = f"{v['std']:.{digits}f}" if np.isfinite(v["std"]) else "n/a"
            return f"{v['mean']:.{digits}f} ± {std}"

        rows = {system: {m: cell(vals[m]) for m in metrics if m in vals} for system, vals in self.summary.items()}
        return pd.DataFrame.from_dict(rows, orient="index")

    def selected_runs(self, system: str) -> list[RunResult]:
        """The runs behind a system (AmbER²: the selected grid point of each fold/seed)."""
        chosen = self.info["chosen"]
        if system == "amber2":
            return [r for r in self.runs if r.loss.kind == "amber2" and chosen[_sel_key(r, self.info)] == r.config]
        head = system.removeprefix("baseline_")
        return [r for r in self.runs if r.loss.kind != "amber2" and head in r.heads]

    def pooled_predictions(self, system: str, seed: int, head: str | None = None) -> np.ndarray:
        """Test predictions of one system and seed pooled over folds.

        Returns:
            ``(n_items, C)``; NaN rows for items that are in no test fold.
        """
        out = np.full((len(self.ids), len(self.classes)), np.nan)
        for r in self.selected_runs(system):
            if r.seed != seed:
                continue
            h = head or (r.reported[0] if system == "amber2" else system.removeprefix("baseline_"))
            out[r.test_idx] = r.heads[h].test_pred
        return out


def _sel_key(r: RunResult, info: dict[str, Any]) -> str:
    return f"{r.fold}" if info["grid_selection"] == "fold" else f"{r.fold}/{r.seed}"


def run_protocol(
    data: LabeledSet,
    folds: np.ndarray | Sequence[int],
    config: TrainConfig | None = None,
    *,
    on_progress: Callable[[int, int], None] | None = None,
) -> ProtocolResult:
    """Run the paper's protocol on embeddings and soft labels.

    Args:
        data: Embeddings per modality and target distributions.
        folds: Test fold of every item (``-1``: always in training).
        config: Settings (default: the paper's protocol, :class:`TrainConfig`).
        on_progress: Called as ``on_progress(done, total)`` (epochs for the ensemble engine, runs
            for the sequential one).

    Returns:
        A :class:`ProtocolResult`.

    Raises:
        DataError: Bad folds (empty fold, class absent from a fold's training part, ...).
    """
    config = config or TrainConfig()
    if config.protocol.baseline == "none" and not config.protocol.grid:
        raise ValueError("nothing to train: no baseline and an empty grid")
    modalities = config.data.modalities or data.modalities
    data = data.select_modalities(modalities)
    model_config = model_config_for(data, config.model)
    splits = make_splits(data, np.asarray(folds), config)
    # DiME-Aug: new items join their fold's training part only; evaluation below uses `data`
    train_data, splits, augment_info = augment_splits(data, splits, config)
    objectives = grid_objectives(config)
    if config.protocol.baseline != "none":
        objectives.append(config.loss.model_copy(update={"kind": config.protocol.baseline}))
    seeds = list(config.protocol.seeds)
    groups = [(sp, s) for sp in splits for s in seeds]
    engine = config.protocol.engine
    if model_config.dropout and engine == "ensemble":
        log.warning("dropout > 0: the ensemble engine does not support dropout; using the sequential engine")
        engine = "sequential"
    log.info("protocol: %d folds x %d seeds x %d objectives = %d runs (%s engine)",
             len(splits), len(seeds), len(objectives), len(groups) * len(objectives), engine)

    t0 = time.perf_counter()
    runs: list[RunResult] = []
    if engine == "ensemble":
        chunk = config.protocol.max_groups_per_chunk or default_chunk(model_config, objectives, config.optim.batch_size)
        chunk = max(1, min(chunk, len(groups)))
        total = config.optim.max_epochs * ((len(groups) + chunk - 1) // chunk)
        done = 0
        for start in range(0, len(groups), chunk):
            def tick(epoch: int, max_epochs: int, _base: int = done) -> None:
                if on_progress:
                    on_progress(_base + epoch, total)
            runs += train_ensemble(train_data, groups[start:start + chunk], objectives, model_config=model_config,
                                   optim=config.optim, on_epoch=tick)
            done += config.optim.max_epochs
            if on_progress:
                on_progress(done, total)
    else:
        total = len(groups) * len(objectives)
        for sp, seed in groups:
            for loss in objectives:
                runs.append(train_run(train_data, sp.train, sp.val, sp.test, model_config=model_config,
                                      optim=config.optim, loss=loss, seed=seed, fold=sp.fold))
                if on_progress:
                    on_progress(len(runs), total)
    seconds = time.perf_counter() - t0
    result = summarise(data, runs, config, model_config, seconds=seconds, engine=engine)
    if augment_info:
        result.info["augment"] = augment_info
    return result


def summarise(
    data: LabeledSet, runs: list[RunResult], config: TrainConfig, model_config: ModelConfig, *,
    seconds: float, engine: str,
) -> ProtocolResult:
    """Grid selection on validation, test metrics of every run, and the per-system summary."""
    metric = METRICS[config.optim.selection_metric]
    sign = 1.0 if metric.higher_is_better else -1.0
    by_fold = config.protocol.grid_selection == "fold"

    sel_rows = []
    for r in runs:
        if r.loss.kind != "amber2":
            continue
        h = r.reported[0]
        sel_rows.append({"fold": r.fold, "seed": r.seed, "objective": r.config, "lambda_mai": r.loss.lambda_mai,
                         "kappa": r.loss.kappa, "val_score": r.heads[h].val_score, "epoch": r.heads[h].epoch})
    selection = pd.DataFrame(sel_rows)
    chosen: dict[str, str] = {}
    if len(selection):
        keys = ["fold"] if by_fold else ["fold", "seed"]
        agg = selection.groupby([*keys, "objective"], sort=False)["val_score"].mean().reset_index()
        for key_vals, part in agg.groupby(keys, sort=False):
            kv = key_vals if isinstance(key_vals, tuple) else (key_vals,)
            best = part.iloc[int(np.argmax(sign * part["val_score"].to_numpy()))]
            chosen["/".join(str(int(v)) for v in kv)] = str(best["objective"])
        selection["chosen"] = [
            chosen[f"{f}" if by_fold else f"{f}/{s}"] == o
            for f, s, o in zip(selection["fold"], selection["seed"], selection["objective"])
        ]

    rows = []
    for r in runs:
        y_test = data.Y[r.test_idx]
        if r.loss.kind == "amber2":
            key = f"{r.fold}" if by_fold else f"{r.fold}/{r.seed}"
            if chosen.get(key) != r.config:
                continue
            systems = [("amber2", r.reported[0])] + [(f"amber2_{h}", h) for h in r.heads if h != r.reported[0]]
        else:
            systems = [(f"baseline_{h}", h) for h in r.reported]
        for system, h in systems:
            vals = evaluate(y_test, r.heads[h].test_pred, metrics=REPORT_METRICS)
            for m, v in vals.items():
                rows.append({"system": system, "head": h, "fold": r.fold, "seed": r.seed, "objective": r.config,
                             "epoch": r.heads[h].epoch, "metric": m, "value": float(v)})
    scores = pd.DataFrame(rows)
    summary = _summary(scores, config.protocol.spread)
    info = {
        "engine": engine, "chosen": chosen, "grid_selection": config.protocol.grid_selection,
        "n_runs": len(runs), "model": model_config.to_dict(), "selection_metric": config.optim.selection_metric,
        "folds": sorted({r.fold for r in runs}), "seeds": sorted({r.seed for r in runs}),
        "objectives": sorted({r.config for r in runs}),
    }
    return ProtocolResult(runs, scores, selection, summary, list(data.classes), list(data.ids), seconds, info)


def _order(system: str) -> tuple[int, str]:
    order = {"baseline_text": 0, "baseline_audio": 1, "baseline_fusion": 2, "amber2": 3}
    return (order.get(system, 10 if system.startswith("baseline") else 20), system)


def _summary(scores: pd.DataFrame, spread: str = "runs") -> dict[str, dict[str, dict[str, float]]]:
    """Per system and metric: the mean over runs, both spreads, and ``std`` = the one ``spread`` names.

    ``std_runs``: sample std over all (fold, seed) test scores (the paper's "mean ± std over folds
    and seeds"); ``std_seeds``: sample std over seeds of the fold-averaged score (the seed-to-seed
    spread, which leaves out how much folds differ). With every fold run for every seed, the mean
    over runs equals the mean of the fold averages. A spread of fewer than two values (one seed, or one
    fold with one seed) cannot be estimated: NaN, which tables print as "n/a".
    """
    out: dict[str, dict[str, dict[str, float]]] = {}
    if scores.empty:
        return out
    per_seed = scores.groupby(["system", "metric", "seed"])["value"].mean()

    def sd(v: np.ndarray) -> float:
        # one value has no spread to estimate: NaN ("n/a"), never 0 (which would make every difference
        # look larger than the noise)
        return float(v.std(ddof=1)) if len(v) > 1 else float("nan")

    for system in sorted(scores["system"].unique(), key=_order):
        out[system] = {}
        for m, runs in scores[scores["system"] == system].groupby("metric")["value"]:
            r = runs.to_numpy()
            seeds = per_seed.loc[(system, m)].to_numpy()
            std = {"runs": sd(r), "seeds": sd(seeds)}
            out[system][m] = {
                "mean": float(seeds.mean()), "std": std[spread], "std_runs": std["runs"], "std_seeds": std["seeds"],
                "n_seeds": len(seeds), "n_runs": len(r), "spread": spread,
            }
    return out


def paired_comparison(result: ProtocolResult, a: str = "amber2", b: str = "baseline_fusion",
                      metrics: Sequence[str] = REPORT_METRICS) -> pd.DataFrame:
    """Paired comparison of two systems over (fold, seed) pairs.

    For each metric: mean difference a - b, how many pairs favour a, the paired t-test and the
    Wilcoxon signed-rank test p-values, and the seed-to-seed spread (std over seeds of each
    system's fold mean) to compare the difference with.
    """
    from scipy import stats

    s = result.scores
    rows = []
    for m in metrics:
        pa = s[(s.system == a) & (s.metric == m)].set_index(["fold", "seed"])["value"]
        pb = s[(s.system == b) & (s.metric == m)].set_index(["fold", "seed"])["value"]
        idx = pa.index.intersection(pb.index)
        if len(idx) == 0:
            continue
        d = pa.loc[idx].to_numpy() - pb.loc[idx].to_numpy()
        better = METRICS[m].higher_is_better
        wins = int((d > 0).sum() if better else (d < 0).sum())
        t_p = float(stats.ttest_rel(pa.loc[idx], pb.loc[idx]).pvalue) if len(idx) > 1 and d.std() > 0 else float("nan")
        try:
            w_p = float(stats.wilcoxon(d).pvalue) if len(idx) > 1 and np.any(d != 0) else float("nan")
        except ValueError:
            w_p = float("nan")
        sa, sb = result.summary[a][m], result.summary[b][m]
        spreads = (float(sa.get("std_seeds", sa["std"])), float(sb.get("std_seeds", sb["std"])))
        spread = max(spreads) if all(np.isfinite(spreads)) else float("nan")  # n/a when either is
        exceeds = bool(abs(d.mean()) > spread) if np.isfinite(spread) else None  # None: spread n/a (one seed)
        rows.append({"metric": m, "a": a, "b": b, "mean_a": float(pa.loc[idx].mean()),
                     "mean_b": float(pb.loc[idx].mean()),
                     "diff": float(d.mean()), "a_better_pairs": wins, "pairs": len(idx), "p_ttest": t_p,
                     "p_wilcoxon": w_p, "seed_spread": spread, "diff_exceeds_spread": exceeds,
                     "a_better": bool(d.mean() > 0) == better})
    return pd.DataFrame(rows)


