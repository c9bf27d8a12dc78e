"""The paper's tables (1-4) as Markdown, from a protocol summary.

Table 1/2: the CB-CE baseline's heads (text, audio, audio+text) on distribution / classification
metrics. Table 3/4: baseline (audio+text) vs AmbER², metrics as rows. Cells are mean ± std (over
every fold x seed run by default, or over seeds of the fold-averaged metric: ``protocol.spread``; the
caption says which); the better system of each Table 3/4 row is in bold.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from amber2.metrics import METRICS

__all__ = [
    "CLASS_METRICS",
    "DIST_METRICS",
    "NA",
    "SYSTEM_LABELS",
    "comparison_markdown",
    "finite",
    "format_cell",
    "has_experts",
    "has_na_spread",
    "heads_table",
    "paper_tables_markdown",
    "student_name",
    "versus_table",
]

DIST_METRICS: tuple[str, ...] = ("js", "bc", "r2")
#: Classification metrics of Tables 2 and 4: the paper's three, then UAR (balanced accuracy).
CLASS_METRICS: tuple[str, ...] = ("f1", "wf1", "acc", "uar")
SYSTEM_LABELS: dict[str, str] = {
    "baseline_text": "Text (p_T)",
    "baseline_audio": "Audio (p_A)",
    "baseline_fusion": "Audio + Text (p_AT)",
    "amber2": "AmbER²",
}

VERSUS_LABELS: dict[str, str] = {"baseline_fusion": "Baseline (A+T)", "amber2": "AmbER²"}

Summary = Mapping[str, Mapping[str, Mapping[str, float]]]


#: How a spread that cannot be estimated (fewer than two values, e.g. one seed) is printed.
NA = "n/a"


def finite(x: Any) -> bool:
    """True for a real, finite number (False for None, NaN, inf, strings)."""
    try:
        return math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def format_cell(stats: Mapping[str, float] | None, digits: int = 3, bold: bool = False) -> str:
    """``0.193 ± 0.002`` (bold when asked); ``0.193 ± n/a`` without an estimable spread; ``–`` if missing."""
    if not stats or not finite(stats.get("mean")):
        return "–"
    std = stats.get("std")
    spread = f"{float(std):.{digits}f}" if finite(std) else NA
    s = f"{stats['mean']:.{digits}f} ± {spread}"
    return f"**{s}**" if bold else s


def has_na_spread(summary: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> bool:
    """Whether any cell of ``summary`` has a spread that cannot be estimated."""
    return any(not finite(st.get("std")) for metrics in summary.values() for st in metrics.values() if st)


def _arrow(metric: str) -> str:
    return "↑" if METRICS[metric].higher_is_better else "↓"


def _label(metric: str) -> str:
    return f"{METRICS[metric].label} {_arrow(metric)}"


def heads_table(summary: Summary, metrics: Sequence[str], digits: int = 3) -> str:
    """Table 1/2 layout: one row per baseline head, one column per metric."""
    header = "| Modality | " + " | ".join(_label(m) for m in metrics) + " |"
    lines = [header, "|" + " --- |" * (len(metrics) + 1)]
    for system in summary:
        if system.startswith("amber2"):
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
    """The caption that says what the ± of ``summary`` is (and what ``n/a`` means when one appears)."""
    na = "; n/a: a spread needs at least two values (e.g. one seed has no seed-to-seed spread)"
    for metrics in summary.values():
        for stats in metrics.values():
            text = SPREAD_TEXT.get(str(stats.get("spread", "seeds")), SPREAD_TEXT["seeds"])
            return text + (na if has_na_spread(summary) else "")
    return SPREAD_TEXT["runs"]


def has_experts(summary: Summary) -> bool:
    """Whether the run's AmbER² student had experts (``amber2_<head>`` systems beside ``amber2``)."""
    return any(s.startswith("amber2_") for s in summary)


def student_name(summary: Summary, student: str | None = None) -> str:
    """What to call the ``amber2`` system in titles and sentences.

    "AmbER²" for the paper's setting (fusion student with experts); "AmbER² (audio student)" for
    another student head; and, when the run had no experts (one modality), "Audio head, JS objective
    (no experts)": AmbER²'s MAI term is then empty, so the method is not AmbER².
    """
    head = student or "fusion"
    label = {"fusion": "audio + text"}.get(head, head)
    if "amber2" in summary and not has_experts(summary):
        return f"{label[0].upper() + label[1:]} head, JS objective (no experts)"
    return "AmbER²" if head == "fusion" else f"AmbER² ({label} student)"


def paper_tables_markdown(
    summary: Summary, comparison: pd.DataFrame | None = None, *, digits: int = 3,
    title: str | None = None, student: str | None = None, name: str | None = None,
) -> str:
    """Tables 1-4 of the paper for one corpus, plus the paired comparison when given.

    Tables 3-4 need both AmbER² and the baseline's audio + text head; a run without the latter (one
    modality, or ``protocol.baseline=none``) gets a plain table of its AmbER² student instead of
    comparison tables with empty cells. ``student`` (``model.student``) names the student head in the
    titles (default: the paper's fusion head). ``name`` overrides what the ``amber2`` system is called
    (:func:`student_name` of the *whole* summary, when ``summary`` is a subset without the experts).
    """
    parts = []
    if title:
        parts.append(f"## {title}\n")
    parts.append("**Table 1.** Baseline heads trained with class-balanced cross-entropy, distribution metrics.\n")
    parts.append(heads_table(summary, DIST_METRICS, digits))
    parts.append("\n**Table 2.** Baseline heads, classification metrics.\n")
    parts.append(heads_table(summary, CLASS_METRICS, digits))
    name = name or student_name(summary, student)
    if "amber2" in summary and "baseline_fusion" in summary:
        parts.append(f"\n**Table 3.** {name} vs the baseline (audio + text), distribution metrics.\n")
        parts.append(versus_table(summary, DIST_METRICS, digits, "baseline_fusion", "amber2"))
        parts.append(f"\n**Table 4.** {name} vs the baseline (audio + text), classification metrics.\n")
        parts.append(versus_table(summary, CLASS_METRICS, digits, "baseline_fusion", "amber2"))
    elif "amber2" in summary:
        parts.append(f"\n**{name}** (no baseline (audio + text) in this run to compare with, so no Tables 3-4).\n")
        parts.append(heads_table({name: summary["amber2"]}, DIST_METRICS + CLASS_METRICS, digits))
    if comparison is not None and len(comparison):
        parts.append(f"\n**Paired comparison** over (fold, seed) pairs: {name} minus baseline (audio + text).\n")
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
            f"{_p(row['p_ttest'])} | {_p(row['p_wilcoxon'])} | {_spread(row['seed_spread'], digits)} | "
            f"{_beyond(row)} |"
        )
    return "\n".join(lines)


def _spread(x: Any, digits: int) -> str:
    return f"{float(x):.{digits}f}" if finite(x) else NA


def _beyond(row: Mapping[str, Any]) -> str:
    """``yes``/``no``; ``n/a`` when the spread cannot be estimated (then no claim either way)."""
    if not finite(row.get("seed_spread")):
        return NA
    x = row.get("diff_exceeds_spread")
    yes = x.strip().lower() in ("true", "1", "yes") if isinstance(x, str) else bool(x)
    return "yes" if yes else "no"


def _p(p: Any) -> str:
    try:
        p = float(p)
    except (TypeError, ValueError):
        return "–"
    if p != p:  # NaN
        return "–"
    return "<0.001" if p < 1e-3 else f"{p:.3f}"
