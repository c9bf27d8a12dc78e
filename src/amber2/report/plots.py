"""Figures of the run report (matplotlib, Agg, no pyplot state), written atomically as PNG.

- :func:`plot_ambiguity_bins`: the paper's Fig. 2, every metric per ambiguity bin, AmbER² vs the
  baseline (A+T), mean over seeds with std-over-seeds error bars, 2 x 3 panels.
- :func:`plot_expert_weights`: the loss's expert weights u_m per conflict type and per ambiguity bin.
- :func:`plot_confusions`: row-normalised argmax confusion matrices side by side.
- :func:`plot_grid`: the grid search (validation score per grid point and fold, chosen marked).

Figures use :class:`matplotlib.figure.Figure` directly (no global pyplot state, safe in threads and
servers) with one shared style (:data:`STYLE`), sized to stay readable when a README shows them at
about 800 px wide.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from amber2.metrics import METRICS, REPORTED_METRICS
from amber2.report.analysis import BASELINE, STUDENT, row_normalise
from amber2.utils.io import atomic_path

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = [
    "COLORS",
    "DPI",
    "STYLE",
    "plot_ambiguity_bins",
    "plot_confusions",
    "plot_expert_weights",
    "plot_grid",
    "plot_style",
    "save_figure",
]

#: Resolution of the PNGs.
DPI = 150

#: One look for every figure of the report.
STYLE: dict[str, Any] = {
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.6,
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
}

#: Colours per system and per expert (colour-blind safe Okabe-Ito hues).
COLORS: dict[str, str] = {
    BASELINE: "#0072B2",
    STUDENT: "#D55E00",
    "audio": "#009E73",
    "text": "#CC79A7",
    "fusion": "#E69F00",
}
_FALLBACK = ["#56B4E9", "#F0E442", "#000000", "#999999"]

_NAMES = {BASELINE: "Baseline (A+T)", STUDENT: "AmbER²"}


@contextlib.contextmanager
def plot_style() -> Iterator[None]:
    """Draw inside this context to get the report's look (:data:`STYLE`), e.g. for another stage's figures."""
    import matplotlib

    with matplotlib.rc_context(STYLE):
        yield


def save_figure(fig: Figure, path: str | os.PathLike[str], *, dpi: int = DPI) -> Path:
    """Write ``fig`` as a PNG at ``path`` atomically (temporary file + rename)."""
    path = Path(path)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
    return path


def _color(name: str, i: int) -> str:
    return COLORS.get(name, _FALLBACK[i % len(_FALLBACK)])


def _bin_ticks(part: pd.DataFrame) -> list[str]:
    out = []
    for b, lo, hi, n in zip(part["bin"], part["lower"], part["upper"], part["size"]):
        out.append(f"{'[' if int(b) == 0 else '('}{lo:.2f}, {hi:.2f}]\nn={int(n)}")
    return out


def plot_ambiguity_bins(bsum: pd.DataFrame, path: str | os.PathLike[str], *,
                        metrics: Sequence[str] = REPORTED_METRICS, unit: str = "bits",
                        systems: Sequence[str] = (BASELINE, STUDENT)) -> Path:
    """Every metric per ambiguity bin for each system, mean ± std over seeds (Fig. 2 of the paper).

    Args:
        bsum: :func:`amber2.report.analysis.bins_summary`.
        path: PNG to write.
        metrics: Metrics, one panel each, 3 per row.
        unit: Unit of the entropy (x axis label).
        systems: Systems to draw (those in ``bsum``).

    Returns:
        ``path``.
    """
    from matplotlib.figure import Figure

    systems = [s for s in systems if s in set(bsum["system"])] or list(dict.fromkeys(bsum["system"]))
    metrics = [m for m in metrics if f"{m}_mean" in bsum.columns]
    ncols = 3
    nrows = max(1, math.ceil(len(metrics) / ncols))
    with plot_style():
        fig = Figure(figsize=(12, 3.6 * nrows), layout="constrained")
        axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
        width = 0.12 if len(systems) > 1 else 0.0
        for ax, m in zip(axes, metrics):
            ticks: list[str] = []
            for i, system in enumerate(systems):
                part = bsum[bsum["system"] == system].sort_values("bin")
                x = part["bin"].to_numpy(float) + (i - (len(systems) - 1) / 2) * width
                y, e = part[f"{m}_mean"].to_numpy(float), part[f"{m}_std"].to_numpy(float)
                ax.errorbar(x, y, yerr=np.nan_to_num(e), marker="o", ms=5, lw=1.6, capsize=3,
                            color=_color(system, i), label=_NAMES.get(system, system))
                ticks = ticks or _bin_ticks(part)
            ax.set_xticks(range(len(ticks)), ticks)
            arrow = "↑" if METRICS[m].higher_is_better else "↓"
            ax.set_title(f"{METRICS[m].label} {arrow}")
            ax.set_xlabel(f"ambiguity: entropy of y ({unit})")
        for ax in axes[len(metrics):]:
            ax.set_visible(False)
        if len(metrics):
            handles, labels = axes[0].get_legend_handles_labels()
            fig.legend(handles, labels, loc="outside lower center", ncols=len(systems), frameon=False)
        fig.suptitle("Metrics per ambiguity bin (mean ± std over seeds)")
        return save_figure(fig, path)


def plot_expert_weights(frame: pd.DataFrame, path: str | os.PathLike[str], *, by: Sequence[str] = ("conflict",
                        "bin")) -> Path:
    """Box plots of the expert weights u_m per item (mean over seeds), one panel per grouping.

    Args:
        frame: :func:`amber2.report.analysis.expert_weight_frame`.
        path: PNG to write.
        by: Grouping columns, one panel each (those present in ``frame``); ``bin`` is the ambiguity bin.

    Returns:
        ``path``.

    Raises:
        ValueError: ``frame`` has no expert weights or none of the grouping columns.
    """
    import pandas as pd
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    experts = [c.removeprefix("u_") for c in frame.columns if c.startswith("u_")]
    groupings = [g for g in by if g in frame.columns]
    if frame.empty or not experts or not groupings:
        raise ValueError("no expert weights to plot (no AmbER² expert heads, or no grouping column)")
    per_item = frame.groupby("id", sort=False).agg({**{g: "first" for g in groupings},
                                                    **{f"u_{m}": "mean" for m in experts}})
    with plot_style():
        widths = []
        for g in groupings:
            widths.append(max(3.0, 1.4 * per_item[g].nunique()))
        fig = Figure(figsize=(min(16.0, sum(widths) + 1.5), 4.2), layout="constrained")
        axes = fig.subplots(1, len(groupings), squeeze=False, width_ratios=widths).ravel()
        for ax, g in zip(axes, groupings):
            groups = list(dict.fromkeys(per_item[g]))
            if g == "bin" or pd.api.types.is_numeric_dtype(per_item[g]):
                groups = sorted(groups)
            w = 0.8 / len(experts)
            for j, m in enumerate(experts):
                data = [per_item.loc[per_item[g] == k, f"u_{m}"].to_numpy(float) for k in groups]
                pos = np.arange(len(groups)) + (j - (len(experts) - 1) / 2) * w
                bp = ax.boxplot(data, positions=pos, widths=w * 0.85, patch_artist=True, showfliers=False,
                                medianprops={"color": "black", "lw": 1.2})
                for patch in bp["boxes"]:
                    patch.set_facecolor(_color(m, j))
                    patch.set_alpha(0.75)
                ax.scatter(pos, [d.mean() if d.size else np.nan for d in data], marker="D", s=18, color="black",
                           zorder=3)
            ax.axhline(1 / len(experts), color="grey", lw=0.8, ls="--")
            if g == "bin":
                labels = [f"bin {int(k) + 1}\nn={int((per_item[g] == k).sum())}" for k in groups]
                ax.set_xlabel("ambiguity bin (entropy of y, low → high)")
            else:
                labels = [f"{str(k).replace('_', ' ')}\nn={int((per_item[g] == k).sum())}" for k in groups]
                ax.set_xlabel("conflict type" if g == "conflict" else g.replace("_", " "))
            ax.set_xticks(range(len(groups)), labels)
            ax.set_ylim(-0.02, 1.02)
            ax.set_ylabel("expert weight u_m")
        handles = [Patch(facecolor=_color(m, j), alpha=0.75, label=f"{m} expert") for j, m in enumerate(experts)]
        fig.legend(handles=handles, loc="outside lower center", ncols=len(experts), frameon=False)
        fig.suptitle("Which expert does the loss trust? u_m = softmax(−κ JS(p_m‖y)) per item "
                     "(box: quartiles, ◆: mean, dashed: uniform)")
        return save_figure(fig, path)


def plot_confusions(cms: Mapping[str, np.ndarray], classes: Sequence[str], path: str | os.PathLike[str]) -> Path:
    """Row-normalised confusion matrices (truth rows, predicted columns) side by side.

    Args:
        cms: ``{system: counts (C, C)}`` (:func:`amber2.report.analysis.confusion_matrices`).
        classes: Class names.
        path: PNG to write.

    Returns:
        ``path``.

    Raises:
        ValueError: No matrix.
    """
    from matplotlib.figure import Figure

    if not cms:
        raise ValueError("no confusion matrix to plot")
    C = len(classes)
    side = max(3.2, 0.55 * C + 1.6)
    with plot_style():
        fig = Figure(figsize=(side * len(cms) + 1.0, side), layout="constrained")
        axes = fig.subplots(1, len(cms), squeeze=False).ravel()
        im = None
        for ax, (system, cm) in zip(axes, cms.items()):
            r = row_normalise(cm)
            im = ax.imshow(np.nan_to_num(r), vmin=0, vmax=1, cmap="Blues")
            ax.grid(False)
            for j in range(C):
                for k in range(C):
                    if np.isfinite(r[j, k]):
                        ax.text(k, j, f"{r[j, k]:.2f}", ha="center", va="center", fontsize=8 if C <= 8 else 6,
                                color="white" if r[j, k] > 0.55 else "black")
            ax.set_xticks(range(C), classes, rotation=45 if C > 4 else 0, ha="right" if C > 4 else "center")
            ax.set_yticks(range(C), classes)
            ax.set_xlabel("predicted (argmax)")
            ax.set_ylabel("truth (argmax of y)")
            ax.set_title(f"{_NAMES.get(system, system)}  (n = {int(cm.sum())} item·seeds)")
        if im is not None:
            fig.colorbar(im, ax=list(axes), shrink=0.8, label="share of the truth class")
        return save_figure(fig, path)


def plot_grid(grid: pd.DataFrame, path: str | os.PathLike[str], *, metric: str = "js") -> Path:
    """Heat map of the mean validation score per grid point (rows) and fold (columns); chosen boxed.

    Args:
        grid: :func:`amber2.report.analysis.grid_frame`.
        path: PNG to write.
        metric: The selection metric (colour bar label and direction).

    Returns:
        ``path``.

    Raises:
        ValueError: Empty grid.
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    if grid.empty:
        raise ValueError("no grid search to plot")
    objectives = list(dict.fromkeys(grid["objective"]))
    folds = sorted(grid["fold"].unique())
    M = np.full((len(objectives), len(folds)), np.nan)
    chosen = np.zeros_like(M, dtype=bool)
    for row in grid.itertuples():
        i, j = objectives.index(row.objective), folds.index(row.fold)
        M[i, j] = row.val_score
        chosen[i, j] = bool(row.chosen)
    spec = METRICS.get(metric)
    hib = spec.higher_is_better if spec else False
    with plot_style():
        fig = Figure(figsize=(max(4.5, 1.1 * len(folds) + 3.2), max(2.5, 0.42 * len(objectives) + 1.4)),
                     layout="constrained")
        ax = fig.subplots()
        im = ax.imshow(M, aspect="auto", cmap="viridis" if hib else "viridis_r")
        ax.grid(False)
        finite = M[np.isfinite(M)]
        mid = float(np.median(finite)) if finite.size else 0.0
        for i in range(M.shape[0]):
            for j in range(M.shape[1]):
                if np.isfinite(M[i, j]):
                    good = M[i, j] >= mid if hib else M[i, j] <= mid
                    ax.text(j, i, f"{M[i, j]:.4f}", ha="center", va="center", fontsize=8,
                            color="black" if good else "white", fontweight="bold" if chosen[i, j] else "normal")
                if chosen[i, j]:
                    ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, ec="red", lw=2.2))
        ax.set_xticks(range(len(folds)), [f"fold {int(f)}" for f in folds])
        ax.set_yticks(range(len(objectives)), objectives)
        label = f"{spec.label} {'↑' if hib else '↓'}" if spec else metric
        fig.colorbar(im, ax=ax, label=f"mean validation {label}")
        ax.set_title("Grid search on validation (red box: chosen)")
        return save_figure(fig, path)
