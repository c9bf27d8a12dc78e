"""The proxies analysis as a report section: a Markdown section, two figures and the JSON.

Used by ``amber2 proxies`` (:func:`write_proxies`) and by ``amber2 report`` when the run's corpus holds
synthetic votes (:func:`run_proxies_section`). The numbers come from :mod:`amber2.labels.proxies`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from amber2.labels.proxies import TERTILES, ProxiesResult, SaturationFit, analyse_proxies, has_synthetic_votes
from amber2.report.plots import plot_style, save_figure
from amber2.utils.io import atomic_write_text
from amber2.utils.logging import get_logger

__all__ = [
    "PROXIES_FIGURES",
    "ProxiesOutput",
    "plot_saturation",
    "plot_tertiles",
    "proxies_markdown",
    "run_proxies_section",
    "write_proxies",
]

log = get_logger(__name__)

#: Figure file names.
PROXIES_FIGURES: dict[str, str] = {"saturation": "proxies_saturation.png", "tertiles": "proxies_tertiles.png"}
_GROUP_COLORS = {"all": "#000000", "low": "#009E73", "medium": "#E69F00", "high": "#D55E00"}


@dataclass
class ProxiesOutput:
    """What :func:`write_proxies` wrote.

    Attributes:
        result: The analysis.
        markdown: The Markdown section (also in ``proxies.md``).
        json_path: ``proxies.json``.
        markdown_path: ``proxies.md``.
        figures: Figure name -> PNG path (the figures that could be drawn).
    """

    result: ProxiesResult
    markdown: str
    json_path: Path
    markdown_path: Path
    figures: dict[str, Path] = field(default_factory=dict)


def _f(v: float | None, digits: int = 3) -> str:
    return "–" if v is None or not math.isfinite(v) else f"{v:.{digits}f}"


def _fit_cell(fit: SaturationFit) -> str:
    if not fit.ok or fit.n_saturation is None:
        return "no fit"
    return f"{fit.n_saturation:.1f}" + (" (extrapolated)" if fit.beyond_range else "")


def proxies_markdown(result: ProxiesResult, *, figures: Mapping[str, str] | None = None, level: int = 2) -> str:
    """The Markdown section of the analysis.

    Args:
        result: The analysis.
        figures: Figure name -> link (relative to the Markdown file).
        level: Heading level of the section title.
    """
    h = "#" * level
    g = result.groups
    edges = result.tertile_edges
    lines = [
        f"{h} Synthetic annotators as proxies ({result.source})", "",
        f"{len(result.ids)} utterances of {result.corpus or 'the corpus'} with both human and synthetic votes, "
        f"classes {', '.join(result.classes)}. JS is the Jensen-Shannon divergence in bits (0 = identical, 1 = "
        "disjoint) and BC the Bhattacharyya coefficient (1 = identical) between each utterance's synthetic and "
        "human vote distribution, averaged over utterances. Ambiguity tertiles cut the normalised entropy of the "
        f"human votes, H/log(C) with C = {len(result.classes)}, at {_f(edges[1], 2)} and {_f(edges[2], 2)}.", "",
        "| group | items | JS ↓ | BC ↑ | κ humans | κ synthetic | acc. of synthetic majority | macro-F1 | "
        "H humans (bits) | H synthetic (bits) | saturation N (JS) | saturation N (BC) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name in ("all", *TERTILES):
        x = g[name]
        label = name if name == "all" else f"{name} ambiguity"
        lines.append(
            f"| {label} | {x.n_items} | {_f(x.js)} | {_f(x.bc)} | {_f(x.kappa_human)} | {_f(x.kappa_synthetic)} | "
            f"{_f(x.accuracy)} | {_f(x.macro_f1)} | {_f(x.entropy_human)} | {_f(x.entropy_synthetic)} | "
            f"{_fit_cell(x.fit_js)} | {_fit_cell(x.fit_bc)} |"
        )
    a = g["all"]
    lines += ["", f"Saturation (N = 1..{result.n_max}, {result.subsets} random subsets each, seed {result.seed}, "
              f"{a.n_items_curve} utterances with at least {result.n_max} valid synthetic votes):", "",
              f"- JS: {a.fit_js.describe()}", f"- BC: {a.fit_bc.describe()}", ""]
    if a.kappa_human == a.kappa_human and a.kappa_synthetic == a.kappa_synthetic:
        more = "more" if a.kappa_synthetic > a.kappa_human else "less"
        lines += [f"The synthetic annotators agree {more} among themselves (κ {_f(a.kappa_synthetic)}) than the "
                  f"humans do (κ {_f(a.kappa_human)}).", ""]
    if all(g[t].n_items for t in TERTILES):
        lo, hi = g["low"], g["high"]
        trend = "closer to" if hi.js < lo.js else "further from"
        lines += [f"Where humans disagree most (high tertile) the synthetic votes are {trend} the human "
                  f"distribution than where they agree (JS {_f(hi.js)} vs {_f(lo.js)}).", ""]
    for note in result.notes:
        lines.append(f"- Note: {note}.")
    if result.notes:
        lines.append("")
    for name, link in (figures or {}).items():
        if link:
            lines += [f"![{name}]({link})", ""]
    return "\n".join(lines).rstrip() + "\n"


def plot_saturation(result: ProxiesResult, path: str | os.PathLike[str]) -> Path:
    """Mean JS and BC against N, with the fitted curves, for all utterances and per tertile."""
    import numpy as np
    from matplotlib.figure import Figure

    with plot_style():
        fig = Figure(figsize=(10, 3.8), layout="constrained")
        axes = fig.subplots(1, 2)
        for ax, metric, label in ((axes[0], "js", "JS divergence (bits) ↓"), (axes[1], "bc", "Bhattacharyya ↑")):
            for name in ("all", *TERTILES):
                g = result.groups[name]
                curve = g.curve_js if metric == "js" else g.curve_bc
                if not curve:
                    continue
                n = np.arange(1, len(curve) + 1)
                color = _GROUP_COLORS[name]
                ax.plot(n, curve, "o", ms=3.5, color=color, label=name if name == "all" else f"{name} ambiguity")
                fit = g.fit_js if metric == "js" else g.fit_bc
                if fit.ok:
                    grid = np.linspace(1, len(curve), 200)
                    ax.plot(grid, fit.a - fit.b * np.exp(-fit.c * grid), "-", lw=1.2, color=color)
                    if not fit.beyond_range:
                        ax.axvline(fit.n_saturation, color=color, lw=0.8, ls=":")
            ax.set_xlabel("synthetic votes per utterance (N)")
            ax.set_title(label)
        axes[0].legend(loc="best")
        return save_figure(fig, path)


def plot_tertiles(result: ProxiesResult, path: str | os.PathLike[str]) -> Path:
    """Mean JS and BC (all synthetic votes) per ambiguity tertile."""
    from matplotlib.figure import Figure

    names = ["all", *TERTILES]
    with plot_style():
        fig = Figure(figsize=(8, 3.4), layout="constrained")
        axes = fig.subplots(1, 2)
        for ax, metric, label in ((axes[0], "js", "JS divergence (bits) ↓"), (axes[1], "bc", "Bhattacharyya ↑")):
            vals = [getattr(result.groups[n], metric) for n in names]
            ax.bar(range(len(names)), [v if v == v else 0.0 for v in vals],
                   color=[_GROUP_COLORS[n] for n in names])
            ax.set_xticks(range(len(names)), [f"{n}\nn={result.groups[n].n_items}" for n in names])
            ax.set_title(label)
        return save_figure(fig, path)


def _draw(result: ProxiesResult, fig_dir: Path, rel_to: Path) -> tuple[dict[str, Path], dict[str, str]]:
    paths: dict[str, Path] = {}
    links: dict[str, str] = {}
    for name, fn in (("saturation", plot_saturation), ("tertiles", plot_tertiles)):
        path = fig_dir / PROXIES_FIGURES[name]
        try:
            fn(result, path)
        except Exception as exc:  # a figure must never cost the analysis
            log.warning("figure %s not drawn: %s", name, exc)
            continue
        paths[name] = path
        links[name] = os.path.relpath(path, rel_to).replace(os.sep, "/")
    return paths, links


def write_proxies(result: ProxiesResult, out: str | os.PathLike[str], *, figures: bool = True) -> ProxiesOutput:
    """Write ``proxies.json``, ``proxies.md`` and the figures into the folder ``out`` (atomically)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths, links = _draw(result, out, out) if figures else ({}, {})
    md = f"# Synthetic annotators on {result.corpus or 'the corpus'}\n\n" + proxies_markdown(result, figures=links)
    json_path = result.write_json(out / "proxies.json")
    md_path = atomic_write_text(out / "proxies.md", md)
    return ProxiesOutput(result, md, json_path, md_path, paths)


def run_proxies_section(data_info: Mapping[str, Any], fig_dir: Path, report_dir: Path, *,
                        figures: bool = True, drawn: dict[str, Path] | None = None) -> list[str]:
    """The section for a run report when the run's corpus holds synthetic votes (else no lines).

    Args:
        data_info: The run's ``data.json`` (``corpus_dir`` and ``policy`` are used).
        fig_dir: Where figures go.
        report_dir: The report's folder (figure links are relative to it).
        figures: Draw the figures.
        drawn: Filled with the figures drawn, as ``{"proxies_saturation": path, "proxies_tertiles": path}``
            (the report's ``figures`` dict).
    """
    corpus_dir = data_info.get("corpus_dir")
    if not corpus_dir or not Path(corpus_dir, "corpus.parquet").exists():
        return []
    from amber2.corpora.table import CorpusTable
    from amber2.labels import LabelPolicyError, load_policy

    try:
        table = CorpusTable.read(corpus_dir)
        if not has_synthetic_votes(table):
            return []
        policy = load_policy(data_info.get("policy") or "eq1")
        result = analyse_proxies(table, policy)
    except (LabelPolicyError, OSError, ValueError) as exc:
        log.warning("proxies section left out: %s", exc)
        return ["## Synthetic annotators as proxies", "", f"Not computed: {exc}.", ""]
    paths, links = _draw(result, fig_dir, report_dir) if figures else ({}, {})
    if drawn is not None:
        drawn.update({f"proxies_{name}": path for name, path in paths.items()})
    result.write_json(report_dir / "proxies.json")
    return [*proxies_markdown(result, figures=links).splitlines(), ""]
