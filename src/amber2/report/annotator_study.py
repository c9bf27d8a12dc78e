"""The known-truth annotator study's Markdown section and figures (from its ``annotator_study.json``).

The study itself (:mod:`amber2.workflow.annotator_study`) decides what is measured; this module only
writes it down: a table of target distances to the true distribution per ambiguity tertile, a table of
the models trained on each target choice, the paired tests, and one figure panel per tertile.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from amber2.report.plots import plot_style, save_figure
from amber2.utils.logging import get_logger

__all__ = ["STUDY_FIGURES", "study_figures", "study_markdown"]

log = get_logger(__name__)

TERTILES: tuple[str, ...] = ("low", "medium", "high")
#: Figure files of the study.
STUDY_FIGURES: dict[str, str] = {"targets": "annotator_study_targets.png", "models": "annotator_study_models.png"}
_SYSTEM_NAMES = {"amber2": "AmbER²", "baseline_fusion": "CB-CE (fusion)"}


def _f(v: Any, d: int = 3) -> str:
    return "n/a" if v is None else f"{v:.{d}f}"


def _cell(m: dict[str, Any]) -> str:
    return f"{_f(m['mean'])} ± {_f(m['std'])}"


def _p(t: dict[str, Any] | None) -> str:
    if t is None or t.get("p") is None:
        return "n/a"
    q = t.get("q")
    return f"{t['p']:.3g}" + (f" (q {q:.3g})" if q is not None else "")


def study_markdown(payload: dict[str, Any], figures: list[Path] | None = None, *, base: Path | None = None,
                   heading: str = "#") -> str:
    """The study's Markdown: settings, target table, model table, tests, figures.

    Args:
        payload: The study's result (``annotator_study.json``).
        figures: Figure files to link.
        base: Folder the links are relative to.
        heading: Top heading level (``#`` for a file of its own, ``##`` for a section).
    """
    h2 = heading + "#"
    cfg = payload["config"]
    lines = [f"{heading} Synthetic annotators against the known truth", "",
             f"{payload['n_items']} simulated utterances, {len(payload['folds'])} speaker-disjoint folds, seeds "
             f"{cfg['seeds']}, N in {cfg['n_values']}, {cfg['max_epochs']} epochs, AmbER² at fixed "
             f"lambda_MAI {cfg['lambda_mai']:g} / kappa {cfg['kappa']:g}. Ambiguity: "
             f"{payload['ambiguity']['measure']} (edges {', '.join(_f(x) for x in payload['ambiguity']['edges'])}). "
             "JS: Jensen-Shannon distance (natural log, lower is better); BC: Bhattacharyya coefficient "
             "(higher is better).", ""]
    t = payload.get("timings_s") or {}
    if t:
        la = payload.get("load_average")
        lines += ["Time: " + ", ".join(f"{k} {v:.0f} s" for k, v in t.items()) + f" (total {sum(t.values()):.0f} s"
                  + (f"; load average at the end {la[0]:.2f} / {la[1]:.2f} / {la[2]:.2f} on "
                     f"{payload.get('cpu_count')} CPUs" if la else "") + ").", ""]
    tests = {(x["source"], x["choice"], x["scope"]): x for x in payload.get("target_tests", [])}
    for source, rows in payload["targets"].items():
        lines += [f"{h2} Targets against p_true ({source} synthetic votes)", "",
                  "| target | JS all | BC all | JS low | JS medium | JS high | p vs human (all) |",
                  "|---|---|---|---|---|---|---|"]
        for label, r in rows.items():
            ter = r["tertiles"]
            lines.append(f"| {label} | {_f(r['overall']['js'])} | {_f(r['overall']['bc'])} | "
                         + " | ".join(_f(ter[n]["js"]) for n in TERTILES)
                         + f" | {_p(tests.get((source, label, 'overall'))) if label != 'human' else '-'} |")
        lines += ["", "p: Wilcoxon signed-rank over items of the per-item JS, against the human targets; q: "
                  "Benjamini-Hochberg over every target test.", ""]
    mtests = {(x["source"], x["dime"], x["system"], x["choice"], x["metric"]): x
              for x in payload.get("model_tests", [])}
    for source, rows in payload["models"].items():
        lines += [f"{h2} Models trained on each target ({source} synthetic votes)", "",
                  "| target | DiME | system | JS to p_true | BC to p_true | JS to human votes | JS p_true low / med / "
                  "high | p vs human (p_true) | p vs human (human votes) |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for label, by_dime in rows.items():
            for dname, systems in by_dime.items():
                dime = dname == "dime"
                if "error" in systems:
                    lines.append(f"| {label} | {'yes' if dime else 'no'} | not trained: {systems['error']} "
                                 "| | | | | | |")
                    continue
                for system in _SYSTEM_NAMES:
                    s = systems.get(system)
                    if s is None:
                        continue
                    ter = s["tertiles_js_p_true"]
                    pt = mtests.get((source, dime, system, label, "js_p_true"))
                    ph = mtests.get((source, dime, system, label, "js_human"))
                    lines.append(f"| {label} | {'yes' if dime else 'no'} | {_SYSTEM_NAMES[system]} | "
                                 f"{_cell(s['p_true']['js'])} | {_cell(s['p_true']['bc'])} | "
                                 f"{_cell(s['human']['js'])} | "
                                 + " / ".join(_f(ter[n]) for n in TERTILES)
                                 + (" | - | - |" if label == "human" else f" | {_p(pt)} | {_p(ph)} |"))
        lines += ["", "Mean ± std over the (fold, seed) test units; p: Wilcoxon signed-rank over the same units "
                  "against the same system trained on human targets; q: Benjamini-Hochberg over every model "
                  "test. 'human votes' are the held-out test items' human-vote distributions.", ""]
    if payload.get("bundle"):
        b = payload["bundle"]
        lines += [f"{h2} The bundle backend", "",
                  f"For each fold an AmbER² model trained on the human targets of the other folds annotated that fold "
                  f"({b['n']} votes per item, rater ids syn:bundle:{b['model']}:i): "
                  + "; ".join(f"fold {f}: trained on {v['trained_on']}, annotated {v['annotated']} "
                              f"({v['votes']} votes, {v['failed_items']} failed items)" for f, v in b["folds"].items())
                  + ".", ""]
    if payload.get("proxies"):
        lines += [f"{h2} Proxies analysis (synthetic vs human votes)", "",
                  "| source | JS (bits) all | BC all | kappa human | kappa synthetic |", "|---|---|---|---|---|"]
        for source, p in payload["proxies"].items():
            g = (p.get("groups") or {}).get("all") or {}
            lines.append(f"| {source} | {_f(g.get('js'))} | {_f(g.get('bc'))} | {_f(g.get('kappa_human'))} | "
                         f"{_f(g.get('kappa_synthetic'))} |")
        lines.append("")
    for f in figures or []:
        link = os.path.relpath(f, base).replace(os.sep, "/") if base else str(f)
        lines += [f"![{Path(f).stem}]({link})", ""]
    return "\n".join(lines).rstrip() + "\n"


def study_figures(payload: dict[str, Any], fig_dir: str | os.PathLike[str]) -> list[Path]:
    """One panel per ambiguity tertile: JS to p_true against N, for targets and for AmbER²."""
    out: list[Path] = []
    for name, fn in (("targets", _plot_targets), ("models", _plot_models)):
        try:
            out.append(fn(payload, Path(fig_dir) / STUDY_FIGURES[name]))
        except Exception as exc:  # a figure must never cost the study
            log.warning("figure %s not drawn: %s", name, exc)
    return out


def _series(payload: dict[str, Any], get: Any) -> dict[str, Any]:
    """``{source: {votes: ([N], [value per tertile])}, "human": value per tertile}``."""
    ns = payload["config"]["n_values"]
    res: dict[str, Any] = {}
    for source in payload["targets"]:
        res[source] = {v: [[get(source, f"{v}@{n}", k) for n in ns] for k in TERTILES]
                       for v in ("synthetic", "combined")}
        res[source]["human"] = [get(source, "human", k) for k in TERTILES]
    return res


def _panel(payload: dict[str, Any], get: Any, path: Path, ylabel: str, *, sharey: bool = True) -> Path:
    from matplotlib.figure import Figure

    ns = payload["config"]["n_values"]
    series = _series(payload, get)
    styles = {"simulated": "-", "bundle": "--"}
    colors = {"synthetic": "#c44e52", "combined": "#4c72b0", "human": "#333333"}
    with plot_style():
        fig = Figure(figsize=(11, 3.6), layout="constrained")
        axes = fig.subplots(1, 3, sharey=sharey)
        for k, (ax, ter) in enumerate(zip(axes, TERTILES)):
            for source, s in series.items():
                for v in ("synthetic", "combined"):
                    ys = [y if y is not None else float("nan") for y in s[v][k]]
                    ax.plot(ns, ys, styles.get(source, "-"), marker="o", ms=3.5, color=colors[v],
                            label=f"{v} ({source})")
            human = next((s["human"][k] for s in series.values() if s["human"][k] is not None), None)
            if human is not None:  # the same human targets for every source
                ax.axhline(human, color=colors["human"], lw=1.2, label="human votes only")
            ax.set_title(f"{ter} ambiguity (p_true tertile)")
            ax.set_xlabel("synthetic votes per item (N)")
            ax.set_xticks(ns)
        axes[0].set_ylabel(ylabel)
        axes[-1].legend(loc="best", fontsize=7)
        return save_figure(fig, path)


def _plot_targets(payload: dict[str, Any], path: Path) -> Path:
    def get(source: str, label: str, ter: str) -> Any:
        return payload["targets"][source][label]["tertiles"][ter]["js"]

    return _panel(payload, get, path, "JS distance of the target to p_true ↓")


def _plot_models(payload: dict[str, Any], path: Path) -> Path:
    def get(source: str, label: str, ter: str) -> Any:
        m = payload["models"].get(source, {}).get(label, {}).get("plain", {}).get("amber2")
        return None if m is None else m["tertiles_js_p_true"][ter]

    return _panel(payload, get, path, "AmbER² (no DiME): JS to p_true ↓", sharey=False)  # small differences
