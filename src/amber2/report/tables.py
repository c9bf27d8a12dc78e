"""The paper's tables (1-4) as Markdown, from a protocol summary.

Table 1/2: the CB-CE baseline's heads (text, audio, audio+text) on distribution / classification
metrics. Table 3/4: baseline (audio+text) vs AmbER², metrics as rows. Cells are mean ± std (over
every fold x seed run by default, or over seeds of the fold-averaged metric: ``protocol.spread``; the
caption says which); the better system of each Table 3/4 row is in bold.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from amber2.metrics import METRICS

__all__ = [
    "CLASS_METRICS", "DIST_METRICS", "SYSTEM_LABELS", "comparison_markdown", "format_cell", "heads_table",
    "paper_tables_markdown", "versus_table",
]

DIST_METRICS: tuple[str, ...] = ("js", "bc", "r2")
CLASS_METRICS: tuple[str, ...] = ("f1", "wf1", "acc")
SYSTEM_LABELS: dict[str, str] = {
    "baseline_text": "Text (p_T)",
    "baseline_audio": "Audio (p_A)",
    "baseline_fusion": "Audio + Text (p_AT)",
    "amber2": "AmbER²",
}

VERSUS_LABELS: dict[str, str] = {"baseline_fusion": "Baseline (A+T)", "amber2": "AmbER²"}

Summary = Mapping[str, Mapping[str, Mapping[str, float]]]


def format_cell(stats: Mapping[str, float] | None, digits: int = 3, bold: bool = False) -> str:
    """``0.193 ± 0.002`` (bold when asked); ``–`` when missing."""
    if not stats:
        return "–"
    s = f"{stats['mean']:.{digits}f} ± {stats['std']:.{digits}f}"
    return f"**{s}**" if bold else s


def _arrow(metric: str) -> str:
    return "↑" if METRICS[metric].higher_is_better else "↓"


def _label(metric: str) -> str:
    return f"{METRICS[metric].label} {_arrow(metric)}"


def heads_table(summary: Summary, metrics: Sequence[str], digits: int = 3) -> str:
    """Table 1/2 layout: one row per baseline head, one column per metric."""
    header = "| Modality | " + " | ".join(_label(m) for m in metrics) + " |"
    lines = [header, "|" + " --- |" * (len(metrics) + 1)]
    for system in summary:
        if not system.startswith("baseline_"):
            continue
        name = SYSTEM_LABELS.get(system, system.removeprefix("baseline_"))
        lines.append(f"| {name} | " + " | ".join(format_cell(summary[system].get(m), digits) for m in metrics) + " |")
    return "\n".join(lines)


def versus_table(summary: Summary, metrics: Sequence[str], digits: int = 3, base: str = "baseline_fusion",
                 new: str = "amber2") -> str:
    """Table 3/4 layout: metrics as rows, the baseline (A+T) and AmbER² as columns; the better in bold."""
    lines = [f"| Metric | {VERSUS_LABELS.get(base, base)} | {VERSUS_LABELS.get(new, new)} |",
             "| --- | --- | --- |"]
    for m in metrics:
        a, b = summary.get(base, {}).get(m), summary.get(new, {}).get(m)
        better_b = better_a = False
        if a and b:
            # Compare what is printed: values equal at ``digits`` decimals are a tie (no bold).
            va, vb = round(a["mean"], digits), round(b["mean"], digits)
            hib = METRICS[m].higher_is_better
            better_b = (vb > va) if hib else (vb < va)
            better_a = (va > vb) if hib else (va < vb)
        lines.append(f"| {_label(m)} | {format_cell(a, digits, better_a)} | {format_cell(b, digits, better_b)} |")
    return "\n".join(lines)


#: What the ± of a summary is (``protocol.spread``; results written before it existed used ``seeds``).
SPREAD_TEXT = {
    "runs": "Mean ± sample standard deviation over every (fold, seed) run",
    "seeds": "Mean ± sample standard deviation over seeds of the metric averaged over the test folds",
}


def spread_caption(summary: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> str:
    """The caption that says what the ± of ``summary`` is."""
    for metrics in summary.values():
        for stats in metrics.values():
            return SPREAD_TEXT.get(str(stats.get("spread", "seeds")), SPREAD_TEXT["seeds"])
    return SPREAD_TEXT["runs"]


def paper_tables_markdown(
    summary: Summary, comparison: pd.DataFrame | None = None, *, digits: int = 3,
    title: str | None = None,
) -> str:
    """Tables 1-4 of the paper for one corpus, plus the paired comparison when given."""
    parts = []
    if title:
        parts.append(f"## {title}\n")
    parts.append("**Table 1.** Baseline heads trained with class-balanced cross-entropy, distribution metrics.\n")
    parts.append(heads_table(summary, DIST_METRICS, digits))
    parts.append("\n**Table 2.** Baseline heads, classification metrics.\n")
    parts.append(heads_table(summary, CLASS_METRICS, digits))
    if "amber2" in summary:
        parts.append("\n**Table 3.** AmbER² vs the baseline (audio + text), distribution metrics.\n")
        parts.append(versus_table(summary, DIST_METRICS, digits, "baseline_fusion", "amber2"))
        parts.append("\n**Table 4.** AmbER² vs the baseline (audio + text), classification metrics.\n")
        parts.append(versus_table(summary, CLASS_METRICS, digits, "baseline_fusion", "amber2"))
    if comparison is not None and len(comparison):
        parts.append("\n**Paired comparison** over (fold, seed) pairs: AmbER² minus baseline (audio + text).\n")
        parts.append(comparison_markdown(comparison, digits))
    parts.append(f"\n{spread_caption(summary)}.")
    return "\n".join(parts) + "\n"


def comparison_markdown(comparison: pd.DataFrame, digits: int = 3) -> str:
    """The paired comparison as a Markdown table."""
    lines = [
        "| Metric | Δ (AmbER² − baseline) | pairs AmbER² better | p (paired t) | p (Wilcoxon) | seed spread "
        "| Δ beyond spread |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in comparison.to_dict(orient="records"):
        lines.append(
            f"| {_label(row['metric'])} | {row['diff']:+.{digits}f} | {row['a_better_pairs']}/{row['pairs']} | "
            f"{_p(row['p_ttest'])} | {_p(row['p_wilcoxon'])} | {row['seed_spread']:.{digits}f} | "
            f"{'yes' if row['diff_exceeds_spread'] else 'no'} |"
        )
    return "\n".join(lines)


def _p(p: Any) -> str:
    try:
        p = float(p)
    except (TypeError, ValueError):
        return "–"
    if p != p:  # NaN
        return "–"
    return "<0.001" if p < 1e-3 else f"{p:.3f}"
