r"""The numbers behind the report of a run: ambiguity bins, expert weights, confusions, folds, grid.

Every function takes a :class:`~amber2.training.outputs.RunRecord` (``load_run(path)``) and returns a
pandas DataFrame (or plain arrays) computed from the run's pooled test predictions
(``predictions.npz``), its per-run scores (``scores.csv``) and its grid search (``selection.csv``).
Only items that were tested (finite prediction rows) enter any statistic.

- :func:`bins_frame` / :func:`bins_summary`: the paper's Fig. 2. Ambiguity of an item is the entropy
  of its rater distribution, :math:`H(y) = -\sum_c y_c \log_2 y_c` (bits); items are cut into
  equal-count bins that never split tied entropies (:func:`amber2.metrics.equal_count_edges`), each
  metric is computed per bin, system and seed, then averaged over seeds (std over seeds, ddof = 1).
- :func:`expert_weight_frame` / :func:`expert_weight_summary`: the weights AmbER²'s loss gives its
  experts (Eq. 5), :math:`u_m = \exp(-\kappa D_m) / \sum_{m'} \exp(-\kappa D_{m'})` with
  :math:`D_m = JS(p_m \| y)` (natural log; the square root when the run used ``js: distance``),
  using the expert heads' test predictions, the raters' distribution :math:`y` and the
  :math:`\kappa` of the grid point chosen for the item's fold.
- :func:`confusion_matrices`, :func:`fold_seed_frame`, :func:`fold_summary_frame`,
  :func:`grid_frame`, :func:`provenance`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from amber2.metrics import (
    METRICS,
    REPORTED_METRICS,
    assign_bins,
    confusion_matrix,
    entropy,
    equal_count_edges,
    js_divergence_per_item,
    per_bin_metrics,
)
from amber2.utils.logging import get_logger

if TYPE_CHECKING:
    import pandas as pd

    from amber2.training.outputs import RunRecord

__all__ = [
    "BASELINE",
    "EXPECTED_EXPERT",
    "STUDENT",
    "ambiguity_edges",
    "bins_frame",
    "bins_summary",
    "chosen_objective_of",
    "confusion_matrices",
    "expert_names",
    "expert_weight_frame",
    "expert_weight_summary",
    "fold_seed_frame",
    "fold_summary_frame",
    "grid_frame",
    "is_tested",
    "kappa_of",
    "provenance",
    "row_normalise",
    "systems_present",
]

log = get_logger(__name__)

#: The baseline system AmbER² is compared with (the CB-CE audio + text head) and AmbER² itself.
BASELINE = "baseline_fusion"
STUDENT = "amber2"

#: Conflict types (the simulated corpus's ``meta/conflict``) for which one expert is the right one to
#: trust: the channel that carries the emotion when the other is uninformative.
EXPECTED_EXPERT: dict[str, str] = {
    "voice_uninformative": "text",
    "audio_uninformative": "text",
    "text_uninformative": "audio",
}


# --------------------------------------------------------------------------------------------- basics


def systems_present(record: RunRecord) -> list[str]:
    """Systems with pooled predictions in the run, in the order of ``results.json``'s summary."""
    have = {k.split("/", 1)[0] for k in record.predictions if "/seed" in k and not k.startswith("meta/")}
    ordered = [s for s in record.summary if s in have]
    return ordered + sorted(have - set(ordered))


def _seeds_of(record: RunRecord, system: str) -> list[int]:
    seeds = []
    for k in record.predictions:
        if k.startswith(f"{system}/seed"):
            seeds.append(int(k.rsplit("seed", 1)[1]))
    return sorted(seeds)


def _pred(record: RunRecord, system: str, seed: int) -> np.ndarray:
    key = f"{system}/seed{seed}"
    if key not in record.predictions:
        raise KeyError(f"run {record.path}: no predictions for system {system!r} seed {seed} ({key} missing)")
    return np.asarray(record.predictions[key], dtype=np.float64)


def _truth(record: RunRecord) -> np.ndarray:
    return np.asarray(record.predictions["truth"], dtype=np.float64)


def is_tested(record: RunRecord, systems: Sequence[str] | None = None) -> np.ndarray:
    """Items with a finite test prediction for every given system and seed (default: all systems).

    Returns:
        Boolean array ``(n_items,)``.
    """
    truth = _truth(record)
    mask = np.isfinite(truth).all(axis=1)
    if "folds" in record.predictions:
        mask &= np.asarray(record.predictions["folds"]) >= 0
    for system in systems if systems is not None else systems_present(record):
        for seed in _seeds_of(record, system):
            mask &= np.isfinite(_pred(record, system, seed)).all(axis=1)
    return mask


def _meta(record: RunRecord) -> dict[str, np.ndarray]:
    return {k.removeprefix("meta/"): np.asarray(v).astype(str) for k, v in record.predictions.items()
            if k.startswith("meta/")}


def _pair(record: RunRecord, systems: Sequence[str] | None) -> list[str]:
    present = systems_present(record)
    if systems is None:
        return [s for s in (BASELINE, STUDENT) if s in present]
    missing = [s for s in systems if s not in present]
    if missing:
        raise KeyError(f"run {record.path}: no predictions for system(s) {missing}; the run has {present}")
    return list(systems)


# ---------------------------------------------------------------------------------------- ambiguity


def ambiguity_edges(record: RunRecord, *, n_bins: int = 4, edges: Sequence[float] | None = None,
                    base: float = 2.0, systems: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Entropy edges of the ambiguity bins and the tested-item mask they were computed on.

    Args:
        record: The run.
        n_bins: Number of equal-count bins (ignored with ``edges``).
        edges: Explicit non-decreasing entropy edges (in the unit of ``base``).
        base: Logarithm base of the entropy (2: bits).
        systems: Systems whose tested items count (default: baseline (A+T) and AmbER² when present).

    Returns:
        ``(edges, mask)``.

    Raises:
        ValueError: No tested item.
    """
    mask = is_tested(record, _pair(record, systems) or None)
    if not mask.any():
        raise ValueError(f"run {record.path}: no tested item (every prediction row is NaN)")
    ent = entropy(_truth(record)[mask], base=base)
    e = equal_count_edges(ent, n_bins) if edges is None else np.asarray(edges, dtype=np.float64)
    return e, mask


def bins_frame(
    record: RunRecord,
    *,
    systems: Sequence[str] | None = None,
    n_bins: int = 4,
    edges: Sequence[float] | None = None,
    base: float = 2.0,
    metrics: Sequence[str] = REPORTED_METRICS,
) -> pd.DataFrame:
    """Every metric per ambiguity bin, system and seed (the data of the paper's Fig. 2).

    The bins are computed once, from the entropies of the items tested by all ``systems``, so every
    system and seed is scored on the same items per bin.

    Args:
        record: The run.
        systems: Systems to score (default: ``baseline_fusion`` and ``amber2``, those present).
        n_bins: Number of equal-count bins (ties kept together; some bins may be empty).
        edges: Explicit entropy edges instead.
        base: Logarithm base of the entropy (default 2: bits).
        metrics: Registered metric names.

    Returns:
        Long DataFrame, one row per (system, seed, bin): ``system``, ``seed``, ``bin``, ``lower``,
        ``upper``, ``size``, ``mean_entropy`` and one column per metric (NaN in empty bins). Empty
        (no rows) when none of the systems is in the run.
    """
    import pandas as pd

    chosen = _pair(record, systems)
    cols = ["system", "seed", "bin", "lower", "upper", "size", "mean_entropy", *metrics]
    if not chosen:
        return pd.DataFrame(columns=cols)
    e, mask = ambiguity_edges(record, n_bins=n_bins, edges=edges, base=base, systems=chosen)
    truth = _truth(record)[mask]
    frames = []
    for system in chosen:
        for seed in _seeds_of(record, system):
            df = per_bin_metrics(truth, _pred(record, system, seed)[mask], metrics=list(metrics), edges=e, base=base)
            df.insert(0, "seed", seed)
            df.insert(0, "system", system)
            frames.append(df)
    return pd.concat(frames, ignore_index=True)[cols]


def bins_summary(frame: pd.DataFrame, metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """Mean and std over seeds of :func:`bins_frame` per (system, bin).

    Returns:
        DataFrame: ``system``, ``bin``, ``lower``, ``upper``, ``size``, ``mean_entropy``,
        ``n_seeds`` and ``<metric>_mean`` / ``<metric>_std`` (std with ddof = 1; NaN for one seed: n/a).
    """
    import pandas as pd

    fixed = {"system", "seed", "bin", "lower", "upper", "size", "mean_entropy"}
    metrics = list(metrics) if metrics is not None else [c for c in frame.columns if c not in fixed]
    rows = []
    for (system, b), part in frame.groupby(["system", "bin"], sort=False):
        row: dict[str, Any] = {"system": system, "bin": int(b), "lower": float(part["lower"].iloc[0]),
                               "upper": float(part["upper"].iloc[0]), "size": int(part["size"].iloc[0]),
                               "mean_entropy": float(part["mean_entropy"].iloc[0]), "n_seeds": len(part)}
        for m in metrics:
            v = part[m].to_numpy(dtype=float)
            v = v[np.isfinite(v)]
            row[f"{m}_mean"] = float(v.mean()) if v.size else math.nan
            row[f"{m}_std"] = float(v.std(ddof=1)) if v.size > 1 else math.nan  # n/a with one seed
        rows.append(row)
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------ expert weights


def expert_names(record: RunRecord) -> list[str]:
    """AmbER²'s expert heads in the run (``amber2_<head>`` systems): audio, text, then the others."""
    heads = [s.removeprefix("amber2_") for s in systems_present(record) if s.startswith("amber2_")]
    first = [h for h in ("audio", "text") if h in heads]
    return first + sorted(h for h in heads if h not in first)


def chosen_objective_of(record: RunRecord, fold: int, seed: int) -> str | None:
    """The grid point chosen for a fold (and seed, under ``grid_selection: fold_seed``), or None."""
    chosen = record.results.get("chosen") or {}
    return chosen.get(f"{int(fold)}/{int(seed)}") or chosen.get(f"{int(fold)}")


_KAPPA_RE = re.compile(r"k=([-+0-9.eE]+)")


def kappa_of(record: RunRecord, objective: str) -> float:
    """The kappa of a grid point: from ``selection.csv``, else parsed from the label ``...,k=4)``.

    Raises:
        ValueError: Neither gives a kappa.
    """
    sel = record.selection
    if len(sel) and {"objective", "kappa"} <= set(sel.columns):
        vals = sel.loc[sel["objective"] == objective, "kappa"].dropna().unique()
        if len(vals):
            return float(vals[0])
    m = _KAPPA_RE.search(objective)
    if m:
        return float(m.group(1))
    kappa = ((record.config.get("loss") or {}).get("kappa"))
    if kappa is None:
        raise ValueError(f"run {record.path}: cannot tell the kappa of grid point {objective!r}")
    return float(kappa)


def _js_kind(record: RunRecord) -> str:
    return str(((record.config.get("loss") or {}).get("options") or {}).get("js", "divergence"))


def _prior_distance(record: RunRecord, tested_folds: np.ndarray, tested_truth: np.ndarray) -> np.ndarray:
    """``JS(prior || y)`` per tested item, the prior being the mean target outside the item's test fold."""
    all_truth = _truth(record)
    all_folds = np.asarray(record.predictions["folds"]).astype(int)
    out = np.empty(len(tested_truth))
    for f in np.unique(tested_folds):
        outside = (all_folds != f) & np.isfinite(all_truth).all(axis=1)
        prior = all_truth[outside].mean(axis=0)
        sel = tested_folds == f
        out[sel] = js_divergence_per_item(np.broadcast_to(prior, tested_truth[sel].shape), tested_truth[sel])
    return out


def expert_weight_frame(record: RunRecord, *, n_bins: int = 4, base: float = 2.0) -> pd.DataFrame:
    r"""The expert weights :math:`u_m` of AmbER²'s loss (Eq. 5) on every tested item and seed.

    .. math:: D_m = JS(p_m \| y), \qquad u_m = \frac{\exp(-\kappa D_m)}{\sum_{m'} \exp(-\kappa D_{m'})}

    with :math:`p_m` the expert head's pooled test prediction (at the student's selected epoch),
    :math:`y` the raters' distribution, the natural-log JS divergence (its square root when the run's
    loss used ``js: distance``) and :math:`\kappa` of the grid point chosen for the item's fold. These
    are the weights the training loss would give the experts on these items: they need :math:`y`,
    so they show which expert the loss trusted, not a quantity available at inference time. When the
    run used ``loss.options.null_expert``, the class prior :math:`\pi` (the mean target of the items
    outside the test fold, training and validation together) joins the softmax with distance
    :math:`JS(\pi \| y)` and the experts' weights sum to less than 1.

    Args:
        record: The run.
        n_bins: Equal-count ambiguity bins for the ``bin`` column.
        base: Logarithm base of the ``entropy`` column (default 2: bits).

    Returns:
        One row per (tested item, seed): ``id``, ``seed``, ``fold``, ``objective``, ``kappa``,
        ``entropy``, ``bin``, the item metadata columns (``meta/<name>`` as ``<name>``, or
        ``meta_<name>`` on a name clash), and ``D_<m>``, ``u_<m>`` per expert. Empty when the run
        has no AmbER² expert heads.

    Raises:
        ValueError: A tested fold has no chosen grid point.
    """
    import pandas as pd

    experts = expert_names(record)
    fixed = ["id", "seed", "fold", "objective", "kappa", "entropy", "bin"]
    if not experts:
        return pd.DataFrame(columns=fixed)
    systems = [f"amber2_{m}" for m in experts]
    mask = is_tested(record, systems)
    if not mask.any():
        return pd.DataFrame(columns=fixed)
    truth = _truth(record)[mask]
    ids = np.asarray(record.predictions["ids"]).astype(str)[mask]
    folds = np.asarray(record.predictions["folds"]).astype(int)[mask]
    ent = entropy(truth, base=base)
    bins = assign_bins(ent, equal_count_edges(ent, n_bins))
    meta = {k: v[mask] for k, v in _meta(record).items()}
    distance = _js_kind(record) == "distance"
    null_expert = bool(((record.config.get("loss") or {}).get("options") or {}).get("null_expert", False))
    seeds = sorted(set.intersection(*(set(_seeds_of(record, s)) for s in systems)))
    frames = []
    for seed in seeds:
        objective = np.empty(len(ids), dtype=object)
        kappa = np.empty(len(ids))
        for f in np.unique(folds):
            obj = chosen_objective_of(record, int(f), seed)
            if obj is None:
                raise ValueError(f"run {record.path}: no chosen grid point for fold {int(f)} (seed {seed}) in "
                                 "results.json 'chosen'")
            objective[folds == f] = obj
            kappa[folds == f] = kappa_of(record, obj)
        D = np.stack([js_divergence_per_item(_pred(record, s, seed)[mask], truth) for s in systems], axis=1)
        if null_expert:  # the class prior's column (options.null_expert), dropped after the softmax
            D = np.concatenate([D, _prior_distance(record, folds, truth)[:, None]], axis=1)
        if distance:
            D = np.sqrt(D)
        z = -kappa[:, None] * D
        z -= z.max(axis=1, keepdims=True)
        u = np.exp(z)
        u /= u.sum(axis=1, keepdims=True)
        df = pd.DataFrame({"id": ids, "seed": seed, "fold": folds, "objective": objective.astype(str),
                           "kappa": kappa, "entropy": ent, "bin": bins})
        for name, values in meta.items():
            df[name if name not in df.columns else f"meta_{name}"] = values
        for j, m in enumerate(experts):
            df[f"D_{m}"] = D[:, j]
        for j, m in enumerate(experts):
            df[f"u_{m}"] = u[:, j]
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


def expert_weight_summary(frame: pd.DataFrame, by: str = "conflict", *, z: float = 1.96) -> pd.DataFrame:
    """Mean expert weight per group, with a normal-approximation 95 % confidence interval.

    Weights are first averaged over seeds per item, so each item counts once; the CI is
    ``mean ± z * std / sqrt(n_items)`` over items.

    Args:
        frame: :func:`expert_weight_frame`.
        by: Grouping column (``conflict``, ``bin``, any metadata column).
        z: Normal quantile of the interval (1.96: 95 %).

    Returns:
        One row per group (in order of appearance for strings, sorted for numbers): ``by``,
        ``n_items``, and per expert ``u_<m>``, ``u_<m>_ci`` (half width), ``D_<m>`` (mean).

    Raises:
        KeyError: ``by`` is not a column of ``frame``.
    """
    import pandas as pd

    if by not in frame.columns:
        raise KeyError(f"no column {by!r} to group expert weights by (have {list(frame.columns)})")
    experts = [c.removeprefix("u_") for c in frame.columns if c.startswith("u_")]
    if frame.empty:
        return pd.DataFrame(columns=[by, "n_items"])
    per_item = frame.groupby("id", sort=False).agg(
        {by: "first", **{f"u_{m}": "mean" for m in experts}, **{f"D_{m}": "mean" for m in experts}})
    groups = list(dict.fromkeys(per_item[by]))
    if pd.api.types.is_numeric_dtype(per_item[by]):
        groups = sorted(groups)
    rows = []
    for g in groups:
        part = per_item[per_item[by] == g]
        row: dict[str, Any] = {by: g, "n_items": len(part)}
        for m in experts:
            v = part[f"u_{m}"].to_numpy(dtype=float)
            row[f"u_{m}"] = float(v.mean())
            row[f"u_{m}_ci"] = float(z * v.std(ddof=1) / math.sqrt(v.size)) if v.size > 1 else math.nan
            row[f"D_{m}"] = float(part[f"D_{m}"].mean())
        rows.append(row)
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------- confusions


def confusion_matrices(record: RunRecord, systems: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """Argmax confusion counts (rows: truth class, columns: predicted class), summed over seeds.

    Args:
        record: The run.
        systems: Systems (default: ``baseline_fusion`` and ``amber2``, those present).

    Returns:
        ``{system: int array (C, C)}`` over the items tested by all the systems. Row-normalise with
        ``cm / cm.sum(1, keepdims=True)`` for recall per truth class.
    """
    chosen = _pair(record, systems)
    if not chosen:
        return {}
    mask = is_tested(record, chosen)
    truth = _truth(record)[mask]
    out = {}
    for system in chosen:
        total = np.zeros((truth.shape[1], truth.shape[1]), dtype=np.int64)
        for seed in _seeds_of(record, system):
            total += confusion_matrix(truth, _pred(record, system, seed)[mask])
        out[system] = total
    return out


def row_normalise(cm: np.ndarray) -> np.ndarray:
    """Rows divided by their sums (NaN rows for truth classes that never occur)."""
    cm = np.asarray(cm, dtype=np.float64)
    s = cm.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(s > 0, cm / np.where(s > 0, s, 1.0), np.nan)


# -------------------------------------------------------------------------------- folds, seeds, grid


def fold_seed_frame(record: RunRecord, systems: Sequence[str] | None = None,
                    metrics: Sequence[str] = REPORTED_METRICS) -> pd.DataFrame:
    """Test metrics of every (system, fold, seed) from ``scores.csv``, metrics as columns.

    Args:
        record: The run.
        systems: Systems to keep (default: all in the scores, in summary order).
        metrics: Metrics to keep (those present).

    Returns:
        DataFrame ``system, fold, seed, objective, <metric>...`` (empty without scores).
    """
    import pandas as pd

    s = record.scores
    if s.empty:
        return pd.DataFrame(columns=["system", "fold", "seed", "objective", *metrics])
    if systems is not None:
        s = s[s["system"].isin(list(systems))]
    s = s[s["metric"].isin(list(metrics))]
    wide = s.pivot_table(index=["system", "fold", "seed", "objective"], columns="metric", values="value",
                         aggfunc="mean").reset_index()
    order = {name: i for i, name in enumerate(record.summary)}
    wide["_o"] = wide["system"].map(lambda x: order.get(x, len(order)))
    wide = wide.sort_values(["_o", "fold", "seed"]).drop(columns="_o").reset_index(drop=True)
    wide.columns.name = None
    return wide[["system", "fold", "seed", "objective", *[m for m in metrics if m in wide.columns]]]


def fold_summary_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Per (system, fold): mean and std over seeds of :func:`fold_seed_frame`'s metrics.

    Returns:
        DataFrame ``system, fold, n_seeds, <metric>_mean, <metric>_std`` (std ddof = 1; NaN, "n/a",
        with one seed).
    """
    import pandas as pd

    metrics = [c for c in frame.columns if c in METRICS]
    rows = []
    for (system, fold), part in frame.groupby(["system", "fold"], sort=False):
        row: dict[str, Any] = {"system": system, "fold": int(fold), "n_seeds": len(part)}
        for m in metrics:
            v = part[m].to_numpy(dtype=float)
            row[f"{m}_mean"] = float(np.nanmean(v)) if np.isfinite(v).any() else math.nan
            row[f"{m}_std"] = float(np.nanstd(v, ddof=1)) if np.isfinite(v).sum() > 1 else math.nan  # n/a
        rows.append(row)
    return pd.DataFrame(rows)


def grid_frame(record: RunRecord) -> pd.DataFrame:
    """The grid search on validation: one row per (grid point, fold).

    Returns:
        DataFrame ``objective, lambda_mai, kappa, fold, val_score`` (mean over seeds), ``n_seeds``,
        ``chosen_seeds`` (in how many seeds the point was chosen for the fold) and ``chosen`` (in any
        seed); sorted by (lambda_mai, kappa, fold). Empty when the run has no AmbER² grid.
    """
    import pandas as pd

    sel = record.selection
    cols = ["objective", "lambda_mai", "kappa", "fold", "val_score", "n_seeds", "chosen_seeds", "chosen"]
    if sel.empty or not {"objective", "fold", "val_score"} <= set(sel.columns):
        return pd.DataFrame(columns=cols)
    sel = sel.copy()
    for c in ("lambda_mai", "kappa"):
        if c not in sel.columns:
            sel[c] = math.nan
    if "chosen" not in sel.columns:
        sel["chosen"] = False
    sel["chosen"] = sel["chosen"].astype(str).str.lower().isin(["true", "1"])
    g = sel.groupby(["objective", "fold"], sort=False).agg(
        lambda_mai=("lambda_mai", "first"), kappa=("kappa", "first"), val_score=("val_score", "mean"),
        n_seeds=("val_score", "size"), chosen_seeds=("chosen", "sum")).reset_index()
    g["chosen_seeds"] = g["chosen_seeds"].astype(int)
    g["chosen"] = g["chosen_seeds"] > 0
    return g.sort_values(["lambda_mai", "kappa", "objective", "fold"]).reset_index(drop=True)[cols]


# ------------------------------------------------------------------------------------------ provenance


def _short(x: Any, n: int = 12) -> str:
    return str(x)[:n] if x else "–"


def provenance(record: RunRecord) -> dict[str, Any]:
    """Where the numbers come from: settings, data and label fingerprints, encoders, drops, timings.

    Returns:
        A JSON-ready dict with ``config`` (key settings), ``data`` (fingerprints, counts, corpus,
        policy, encoders, dropped), ``run`` (engine, runs, seeds, folds, selection) and ``seconds``.
    """
    cfg, data, res = record.config or {}, record.data or {}, record.results or {}
    info = res.get("info") or {}
    model, optim = cfg.get("model") or {}, cfg.get("optim") or {}
    loss, proto = cfg.get("loss") or {}, cfg.get("protocol") or {}
    policy = data.get("policy")
    policy_name = policy.get("name") if isinstance(policy, dict) else policy
    encoders = {}
    for m, spec in (data.get("encoders") or {}).items():
        if isinstance(spec, dict):
            inner = spec.get("spec", spec)
            desc = ", ".join(f"{k}={v}" for k, v in inner.items()
                             if isinstance(v, (str, int, float, bool)) and k != "fingerprint") if isinstance(
                inner, dict) else str(inner)
            fp = spec.get("fingerprint")
            encoders[m] = desc + (f" (fingerprint {_short(fp)})" if fp else "")
        else:
            encoders[m] = str(spec)
    return {
        "config": {
            "model": {k: model.get(k) for k in ("hidden", "fusion_dim", "gate_input", "dropout", "student")
                      if k in model},
            "optim": {k: optim.get(k) for k in ("lr", "weight_decay", "batch_size", "max_epochs", "patience",
                                                "selection_metric") if k in optim},
            "loss": {"lambda_rai": loss.get("lambda_rai"), "options": loss.get("options")},
            "protocol": {k: proto.get(k) for k in ("seeds", "folds", "grid", "grid_selection", "baseline",
                                                   "engine", "validation") if k in proto},
        },
        "data": {
            "fingerprint": data.get("fingerprint") or res.get("data_fingerprint"),
            "n_items": data.get("n_items"),
            "classes": data.get("classes") or record.classes,
            "modalities": data.get("modalities"),
            "fold_sizes": data.get("folds"),
            "corpus": data.get("corpus"),
            "corpus_fingerprint": data.get("corpus_fingerprint"),
            "policy": policy_name,
            "policy_fingerprint": data.get("policy_fingerprint"),
            "label_fingerprint": data.get("label_fingerprint"),
            "encoders": encoders,
            "dropped": data.get("dropped") or {},
            "source": data.get("source") or data.get("corpus_dir"),
        },
        "run": {
            "engine": info.get("engine"), "n_runs": info.get("n_runs"), "seeds": info.get("seeds"),
            "folds": info.get("folds"), "grid_selection": info.get("grid_selection"),
            "selection_metric": info.get("selection_metric"), "objectives": info.get("objectives"),
        },
        "seconds": res.get("seconds"),
        "amber2_version": data.get("amber2_version"),
    }
