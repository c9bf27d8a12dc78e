"""Sentences of interpretation generated from a run's numbers (no canned claims).

Every sentence here is a function of its inputs: which system is better on a metric, by how much,
whether the difference exceeds the seed-to-seed spread, the p-values of the paired comparison, trends
across ambiguity bins, which expert the loss weights more per conflict type. Change a number and the
wording follows. Two values that print the same at the report's precision count as a tie, so no
sentence claims a difference the table does not show.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from amber2.metrics import METRICS
from amber2.report.analysis import BASELINE, EXPECTED_EXPERT, STUDENT, row_normalise
from amber2.report.tables import SYSTEM_LABELS

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "bins_sentences",
    "compare",
    "confusion_sentences",
    "expert_sentences",
    "fold_sentences",
    "grid_sentences",
    "headline",
    "heads_sentences",
    "join_words",
    "versus_sentences",
]

Summary = Mapping[str, Mapping[str, Mapping[str, float]]]

#: Significance level named in the sentences.
ALPHA = 0.05

_NAMES = {"baseline_fusion": "the baseline (A+T)", "amber2": "AmbER²"}


def _f(x: float, digits: int = 3) -> str:
    return f"{x:.{digits}f}"


def _d(x: float, digits: int = 3) -> str:
    """A signed difference; two significant digits when it would print as zero."""
    if x != 0 and abs(x) < 0.5 * 10.0 ** -digits:
        return f"{x:+.1e}"
    return f"{x:+.{digits}f}"


def _small(x: float, digits: int = 3) -> str:
    """A non-negative size; two significant digits when it would print as zero."""
    if x != 0 and abs(x) < 0.5 * 10.0 ** -digits:
        return f"{x:.1e}"
    return f"{x:.{digits}f}"


def _label(metric: str) -> str:
    return METRICS[metric].label if metric in METRICS else metric


def _head(system: str) -> str:
    return SYSTEM_LABELS.get(system, system)


def join_words(words: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    words = list(words)
    if not words:
        return ""
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " and " + words[-1]


def compare(metric: str, a: float, b: float, digits: int = 3) -> int:
    """+1 when ``a`` is better than ``b`` on ``metric``, -1 when worse, 0 when they print the same.

    Raises:
        KeyError: Unknown metric.
    """
    if not (math.isfinite(a) and math.isfinite(b)) or _f(a, digits) == _f(b, digits):
        return 0
    better = (a > b) if METRICS[metric].higher_is_better else (a < b)
    return 1 if better else -1


def _p(p: Any) -> str:
    try:
        p = float(p)
    except (TypeError, ValueError):
        return "n/a"
    if not math.isfinite(p):
        return "n/a"
    return "< 0.001" if p < 1e-3 else f"= {p:.3f}"


def _mean(summary: Summary, system: str, metric: str) -> float | None:
    s = summary.get(system, {}).get(metric)
    return float(s["mean"]) if s else None


def _value(summary: Summary, system: str, metric: str) -> float:
    v = _mean(summary, system, metric)
    return math.nan if v is None else v


# --------------------------------------------------------------------------------------- Tables 1-2


def heads_sentences(summary: Summary, metrics: Sequence[str], digits: int = 3) -> list[str]:
    """Which baseline head is best per metric, and whether fusing audio and text beats one modality."""
    heads = [s for s in summary if s.startswith("baseline_")]
    metrics = [m for m in metrics if any(_mean(summary, h, m) is not None for h in heads)]
    if not heads or not metrics:
        return ["The run has no baseline heads to compare."]
    if len(heads) == 1:
        vals = ", ".join(f"{_label(m)} {_f(_mean(summary, heads[0], m), digits)}" for m in metrics)  # type: ignore[arg-type]
        return [f"Only one baseline head was trained ({_head(heads[0])}): {vals}."]
    out = []
    best_of: dict[str, list[str]] = {}
    for m in metrics:
        vals = {h: v for h in heads if (v := _mean(summary, h, m)) is not None}
        ranked = sorted(vals, key=lambda h: vals[h], reverse=METRICS[m].higher_is_better)
        top, second = ranked[0], ranked[1] if len(ranked) > 1 else None
        if second is not None and compare(m, vals[top], vals[second], digits) == 0:
            tied = [h for h in ranked if compare(m, vals[top], vals[h], digits) == 0]
            best_of.setdefault(" and ".join(_head(h) for h in tied) + " (tied)", []).append(
                f"{_label(m)} ({_f(vals[top], digits)})")
        else:
            detail = f"{_label(m)} ({_f(vals[top], digits)}"
            detail += f" vs {_f(vals[second], digits)} for {_head(second)})" if second else ")"
            best_of.setdefault(_head(top), []).append(detail)
    for head, items in best_of.items():
        out.append(f"{head} is the best baseline head on {join_words(items)}.")
    uni = [h for h in heads if h in ("baseline_audio", "baseline_text")]
    if "baseline_fusion" in heads and uni:
        wins, losses = [], []
        for m in metrics:
            f = _mean(summary, "baseline_fusion", m)
            single = [v for h in uni if (v := _mean(summary, h, m)) is not None]
            if f is None or not single:
                continue
            best_single = max(single) if METRICS[m].higher_is_better else min(single)
            c = compare(m, f, best_single, digits)
            if c > 0:
                wins.append(_label(m))
            elif c < 0:
                losses.append(_label(m))
        n = len(wins) + len(losses)
        single_name = "the better single-modality head" if len(uni) > 1 else f"the {_head(uni[0])} head"
        s = f"The fused head (A+T) beats {single_name} on {len(wins)} of {len(metrics)} metrics"
        s += f" ({join_words(wins)})" if wins else ""
        if losses:
            s += f" and trails it on {join_words(losses)}"
        if n < len(metrics):
            s += f"; {len(metrics) - n} tie"
        out.append(s + ".")
    if {"baseline_audio", "baseline_text"} <= set(heads):
        audio_ahead = [m for m in metrics if compare(m, _value(summary, "baseline_audio", m),
                                                     _value(summary, "baseline_text", m), digits) > 0]
        text_ahead = [m for m in metrics if compare(m, _value(summary, "baseline_text", m),
                                                    _value(summary, "baseline_audio", m), digits) > 0]
        if len(audio_ahead) > len(text_ahead):
            lead, k = "audio", len(audio_ahead)
        elif len(text_ahead) > len(audio_ahead):
            lead, k = "text", len(text_ahead)
        else:
            lead, k = "", len(audio_ahead)
        if lead:
            out.append(f"Of the single modalities, {lead} is ahead on {k} of {len(metrics)} metrics.")
        else:
            out.append(f"Audio and text are each ahead on {k} of {len(metrics)} metrics.")
    return out


# --------------------------------------------------------------------------------------- Tables 3-4


def _comparison_row(comparison: pd.DataFrame | None, metric: str) -> dict[str, Any] | None:
    if comparison is None or comparison.empty or "metric" not in comparison.columns:
        return None
    rows = comparison[comparison["metric"] == metric]
    return rows.iloc[0].to_dict() if len(rows) else None


def _truthy(x: Any) -> bool:
    if isinstance(x, str):
        return x.strip().lower() in ("true", "1", "yes")
    return bool(x)


def _finite(x: Any) -> bool:
    try:
        return math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def _stats_clause(row: Mapping[str, Any], digits: int, name: str = "AmbER²") -> str:
    wins, pairs = int(row["a_better_pairs"]), int(row["pairs"])
    s = (f"{wins} of {pairs} (fold, seed) pairs favour {name}; the mean paired difference "
         f"({_d(float(row['diff']), digits)})")
    if _finite(row.get("seed_spread")):
        exceeds = _truthy(row["diff_exceeds_spread"])
        s += (f" is {'larger than' if exceeds else 'within'} the seed-to-seed spread "
              f"({_small(float(row['seed_spread']), digits)})")
    else:
        s += " cannot be set against a seed-to-seed spread (fewer than two seeds: the spread is n/a)"
    pt, pw = row.get("p_ttest"), row.get("p_wilcoxon")
    s += f"; paired t-test p {_p(pt)}, Wilcoxon p {_p(pw)}"
    p_main = float(pt) if pt is not None and _p(pt) != "n/a" else (float(pw) if _p(pw) != "n/a" else math.nan)
    if math.isfinite(p_main):
        which = "paired t-test" if _p(pt) != "n/a" else "Wilcoxon"
        s += (f", {'significant' if p_main < ALPHA else 'not significant'} at α = {ALPHA:g} ({which})")
    else:
        s += ", no test possible (fewer than two pairs, or no difference at all)"
    return s


def versus_sentences(summary: Summary, comparison: pd.DataFrame | None, metrics: Sequence[str],
                     digits: int = 3, *, kind: str = "", name: str = "AmbER²") -> list[str]:
    """AmbER² vs the baseline (A+T) per metric: direction, size, spread and p-values.

    ``name`` is what the ``amber2`` system is called (:func:`amber2.report.tables.student_name`).
    """
    kind = f" {kind}" if kind else ""
    have_a, have_b = STUDENT in summary, BASELINE in summary
    if not have_a or not have_b:
        missing = [n for n, h in ((name, have_a), ("CB-CE baseline (A+T)", have_b)) if not h]
        return [f"No comparison: the run has no {join_words(missing)}."]
    better, worse, tie = [], [], []
    per_metric = []
    for m in metrics:
        a, b = _mean(summary, STUDENT, m), _mean(summary, BASELINE, m)
        if a is None or b is None:
            continue
        c = compare(m, a, b, digits)
        diff = a - b
        rel = abs(diff) / abs(b) * 100 if b else math.nan
        rel_s = f", {rel:.1f} % {'better' if c > 0 else 'worse'}" if math.isfinite(rel) and c else ""
        values = f"{_f(a, digits)} vs {_f(b, digits)} (Δ {_d(diff, digits)}{rel_s})"
        if c > 0:
            better.append(_label(m))
            s = f"{_label(m)}: {name} improves on the baseline, {values}"
        elif c < 0:
            worse.append(_label(m))
            s = f"{_label(m)}: {name} is worse than the baseline, {values}"
        else:
            tie.append(_label(m))
            s = f"{_label(m)}: {name} and the baseline tie at {_f(a, digits)}"
        row = _comparison_row(comparison, m)
        if row is not None:
            s += "; " + _stats_clause(row, digits, name)
        per_metric.append(s + ".")
    n = len(better) + len(worse) + len(tie)
    if not n:
        return [f"No metric is available for both {name} and the baseline (A+T)."]
    lead = f"{name} is better than the baseline (A+T) on {len(better)} of {n}{kind} metrics"
    lead += f" ({join_words(better)})" if better else ""
    if worse:
        lead += f" and worse on {join_words(worse)}"
    if tie:
        lead += f"; {join_words(tie)} {'is a tie' if len(tie) == 1 else 'are ties'}"
    return [lead + ".", *per_metric]


def headline(summary: Summary, comparison: pd.DataFrame | None, metrics: Sequence[str], digits: int = 3, *,
             name: str = "AmbER²") -> str:
    """One sentence for the top of the report: wins, losses and how many differences beat the spread.

    Differences are set against the seed-to-seed spread only where it can be estimated (two or more
    seeds); otherwise the sentence says that it cannot.
    """
    if STUDENT not in summary or BASELINE not in summary:
        have = [name if s == STUDENT else _NAMES.get(s, _head(s)) for s in summary if not s.startswith("amber2_")]
        return (f"This run reports {join_words(have) or 'no system'}; there is no {name} vs baseline (A+T) "
                "comparison.")
    wins = losses = 0
    beyond_w = beyond_l = 0
    spread_known = with_row = 0
    sig = 0
    n = 0
    for m in metrics:
        a, b = _mean(summary, STUDENT, m), _mean(summary, BASELINE, m)
        if a is None or b is None:
            continue
        n += 1
        c = compare(m, a, b, digits)
        row = _comparison_row(comparison, m)
        known = row is not None and _finite(row.get("seed_spread"))
        spread_known += known
        with_row += row is not None
        exceeds = known and _truthy(row["diff_exceeds_spread"])
        if c > 0:
            wins += 1
            beyond_w += exceeds
        elif c < 0:
            losses += 1
            beyond_l += exceeds
        if row is not None and c and _p(row.get("p_ttest")) != "n/a" and float(row["p_ttest"]) < ALPHA:
            sig += 1
    s = f"{name} is better than the CB-CE baseline (A+T) on {wins} of {n} metrics and worse on {losses}"
    if comparison is not None and not comparison.empty:
        if spread_known == with_row:
            s += f"; {beyond_w} of the gains and {beyond_l} of the losses exceed the seed-to-seed spread"
        elif spread_known == 0:
            s += ("; the seed-to-seed spread cannot be estimated (fewer than two seeds), so no difference is set "
                  "against it")
        else:
            s += (f"; where the seed-to-seed spread can be estimated ({spread_known} of {with_row} metrics), "
                  f"{beyond_w} of the gains and {beyond_l} of the losses exceed it")
        s += f", and {sig} difference{'s are' if sig != 1 else ' is'} significant at α = {ALPHA:g} (paired t-test)"
    return s + "."


# -------------------------------------------------------------------------------------- ambiguity bins


_NO_TREND = "has too few non-empty bins for a trend"


def _trend(values: Sequence[float], digits: int) -> str:
    v = [x for x in values if math.isfinite(x)]
    if len(v) < 2:
        return _NO_TREND
    d = np.diff(np.round(v, digits))
    if (d > 0).all():
        return "rises"
    if (d < 0).all():
        return "falls"
    if (d == 0).all():
        return "stays flat"
    return "is not monotonic"


def bins_sentences(bsum: pd.DataFrame, metrics: Sequence[str], digits: int = 3, *, unit: str = "bits",
                   base_system: str = BASELINE, new_system: str = STUDENT) -> list[str]:
    """Per metric: in how many bins AmbER² beats the baseline, where the largest gain is, the trends."""
    if bsum is None or bsum.empty:
        return ["No ambiguity breakdown: the run has neither the baseline (A+T) nor AmbER²."]
    systems = list(dict.fromkeys(bsum["system"]))
    first = bsum[bsum["system"] == systems[0]].sort_values("bin")
    sizes = first["size"].astype(int).tolist()
    empty = sum(1 for s in sizes if s == 0)
    out = [f"The {sum(sizes)} tested items fall into {len(sizes)} ambiguity bins of sizes "
           f"{', '.join(map(str, sizes))} (equal-count bins of the entropy of the raters' distribution, in "
           f"{unit}; tied entropies are never split"
           + (f", so {empty} bin{'s are' if empty != 1 else ' is'} empty)." if empty else ").")]
    both = base_system in systems and new_system in systems

    def series(system: str, m: str) -> tuple[np.ndarray, np.ndarray]:
        part = bsum[bsum["system"] == system].sort_values("bin")
        return part[f"{m}_mean"].to_numpy(float), part[f"{m}_std"].to_numpy(float)

    def where(b: int) -> str:
        r = first[first["bin"] == b].iloc[0]
        lo_bracket = "[" if b == 0 else "("
        return f"bin {b + 1}, H ∈ {lo_bracket}{r['lower']:.2f}, {r['upper']:.2f}]"

    for m in metrics:
        if f"{m}_mean" not in bsum.columns:
            continue
        if not both:
            (only,) = [s for s in (base_system, new_system) if s in systems][:1] or [systems[0]]
            v, _ = series(only, m)
            trend = _trend(v, digits)
            who = _NAMES.get(only, _head(only))
            out.append(f"{_label(m)}: {who} has fewer than two non-empty bins, so no trend can be read." if trend ==
                       _NO_TREND else f"{_label(m)}: for {who} it {trend} with ambiguity.")
            continue
        a, sa = series(new_system, m)
        b, sb = series(base_system, m)
        ok = np.isfinite(a) & np.isfinite(b)
        cmp = np.array([compare(m, x, y, digits) if k else 0 for x, y, k in zip(a, b, ok)])
        wins, losses, n = int((cmp > 0).sum()), int((cmp < 0).sum()), int(ok.sum())
        ties = n - wins - losses
        s = f"{_label(m)}: AmbER² is better in {wins} of {n} bins"
        if losses:
            s += f", worse in {losses}"
        if ties:
            s += f", tied in {ties}"
        sign = 1.0 if METRICS[m].higher_is_better else -1.0
        gain = np.where(ok, sign * (a - b), -np.inf)
        if wins:
            j = int(np.argmax(gain))
            s += f"; the largest gain is in {where(j)} ({_f(a[j], digits)} vs {_f(b[j], digits)})"
            known = (cmp > 0) & np.isfinite(sa) & np.isfinite(sb)
            beyond = int((known & (np.abs(a - b) > np.maximum(sa, sb))).sum())
            if not known.any():
                s += "; the seed std cannot be estimated (fewer than two seeds), so no gain is set against it"
            elif wins == 1:
                s += f"; this gain {'exceeds' if beyond else 'does not exceed'} the seed std"
            elif int(known.sum()) < wins:
                s += f"; {beyond} of the {int(known.sum())} gains with an estimable seed std exceed it"
            else:
                s += f"; {beyond} of the {wins} gains exceed the seed std"
        ta, tb = _trend(a, digits), _trend(b, digits)
        if _NO_TREND in (ta, tb):
            s += ". Fewer than two non-empty bins: no trend with ambiguity can be read"
        elif ta == tb == "is not monotonic":
            s += ". With rising ambiguity it is not monotonic for either system"
        elif ta == tb:
            s += f". With rising ambiguity it {ta} for both systems"
        else:
            s += f". With rising ambiguity it {tb} for the baseline and {ta} for AmbER²"
        out.append(s + ".")
    return out


# ------------------------------------------------------------------------------------- expert weights


def expert_sentences(wsum: pd.DataFrame, by: str, experts: Sequence[str], digits: int = 2) -> list[str]:
    """Which expert the loss weights more in each group, and whether that is the informative channel."""
    if wsum is None or wsum.empty or len(experts) < 2:
        return ["No expert weights: the run has no AmbER² expert heads (or only one)."]
    out = []
    if by == "bin":
        for m in experts[:1] if len(experts) == 2 else experts:
            part = wsum.sort_values(by)
            v = part[f"u_{m}"].to_numpy(float)
            ok = np.isfinite(v) & (part["n_items"].to_numpy(float) > 0)
            v, bins = v[ok], part[by].to_numpy()[ok]
            if len(v) == 0:
                out.append(f"No ambiguity bin has items with a weight for the {m} expert.")
            elif len(v) == 1:
                out.append(f"All weighted items fall into one ambiguity bin (bin {int(bins[0]) + 1}), where the mean "
                           f"weight of the {m} expert is {_f(v[0], digits)}; no trend with ambiguity can be read.")
            else:
                out.append(f"Across ambiguity bins, the mean weight of the {m} expert {_trend(v, digits)} with "
                           f"ambiguity (from {_f(v[0], digits)} in bin {int(bins[0]) + 1} to {_f(v[-1], digits)} in "
                           f"bin {int(bins[-1]) + 1}).")
        return out
    for row in wsum.to_dict(orient="records"):
        g = row[by]
        u = {m: float(row[f"u_{m}"]) for m in experts}
        ranked = sorted(experts, key=lambda m: u[m], reverse=True)
        top = ranked[0]
        others = ", ".join(f"u_{m} = {_f(u[m], digits)}" for m in ranked[1:])
        if _f(u[top], digits) == _f(u[ranked[1]], digits):
            s = (f"On `{g}` items (n = {row['n_items']}) the loss weights the experts equally "
                 f"(u_{top} = {_f(u[top], digits)}, {others})")
        else:
            ci = row.get(f"u_{top}_ci")
            ci_s = f" ± {_f(ci, digits)}" if ci is not None and math.isfinite(float(ci)) else ""
            s = (f"On `{g}` items (n = {row['n_items']}) the loss weights the {top} expert more "
                 f"(u_{top} = {_f(u[top], digits)}{ci_s} vs {others})")
            expected = EXPECTED_EXPERT.get(str(g))
            if expected in experts:
                if expected == top:
                    s += f", the {expected} channel being the one that carries the emotion there"
                else:
                    s += f", even though the {expected} channel is the one that carries the emotion there"
        out.append(s + ".")
    groups = {str(r[by]): r for r in wsum.to_dict(orient="records")}
    if {"audio", "text"} <= set(experts):
        voice = groups.get("voice_uninformative") or groups.get("audio_uninformative")
        text = groups.get("text_uninformative")
        if voice is not None and text is not None:
            ut, uv = float(text["u_audio"]), float(voice["u_audio"])
            cis = (text.get("u_audio_ci"), voice.get("u_audio_ci"))
            ci_known = all(_finite(c) for c in cis)
            separated = ci_known and abs(ut - uv) > sum(float(c) for c in cis)  # type: ignore[arg-type]
            same = _f(ut, digits) == _f(uv, digits)
            verdict = "the same on" if same else ("higher on" if ut > uv else "lower on")
            s = (f"The audio expert's weight is {verdict} text-uninformative than on voice-uninformative items "
                 f"({_f(ut, digits)} vs {_f(uv, digits)}")
            if not ci_known:
                s += ("; a 95 % interval needs at least two items per group, so whether the loss shifts weight "
                      "toward the channel that carries the emotion cannot be told)")
            elif same or not separated:
                s += ("; the 95 % intervals overlap): the numbers do not show the loss shifting weight toward the "
                      "channel that carries the emotion")
            elif ut > uv:
                s += ("; the 95 % intervals do not overlap): the loss shifts weight toward the channel that carries "
                      "the emotion")
            else:
                s += ("; the 95 % intervals do not overlap): the loss shifts weight away from the channel that carries "
                      "the emotion")
            out.append(s + ".")
    return out


# ------------------------------------------------------------------------------------------ confusions


def confusion_sentences(cms: Mapping[str, np.ndarray], classes: Sequence[str], digits: int = 2) -> list[str]:
    """Mean per-class recall and the most frequent confusion of each system."""
    if not cms:
        return ["No confusion matrices: the run has neither the baseline (A+T) nor AmbER²."]
    out = []
    recalls = {}
    for system, cm in cms.items():
        r = row_normalise(cm)
        diag = np.diag(r)
        recalls[system] = float(np.nanmean(diag)) if np.isfinite(diag).any() else math.nan
        off = r.copy()
        np.fill_diagonal(off, -1.0)
        off = np.where(np.isfinite(off), off, -1.0)
        j, k = np.unravel_index(int(np.argmax(off)), off.shape)
        s = f"{_NAMES.get(system, _head(system))}: mean per-class recall (UAR) {_f(recalls[system], digits)}"
        if off[j, k] > 0:
            s += (f"; the most frequent confusion is {classes[j]} → {classes[k]} "
                  f"({off[j, k] * 100:.0f} % of the {classes[j]} items)")
        out.append(s[0].upper() + s[1:] + ".")
    if STUDENT in recalls and BASELINE in recalls:
        a, b = recalls[STUDENT], recalls[BASELINE]
        if _f(a, digits) == _f(b, digits):
            out.append("The two systems have the same mean per-class recall at this precision.")
        else:
            out.append(f"AmbER²'s mean per-class recall is {'higher' if a > b else 'lower'} than the baseline's "
                       f"({_f(a, digits)} vs {_f(b, digits)}).")
    return out


# ------------------------------------------------------------------------------------- folds and grid


def fold_sentences(fold_summary: pd.DataFrame, metric: str, digits: int = 3) -> list[str]:
    """Range of AmbER²'s per-fold score and in how many folds it beats the baseline (A+T)."""
    if fold_summary is None or fold_summary.empty or f"{metric}_mean" not in fold_summary.columns:
        return []
    out = []
    col = f"{metric}_mean"
    for system in (STUDENT, BASELINE):
        part = fold_summary[fold_summary["system"] == system]
        if part.empty:
            continue
        v = part[col].to_numpy(float)
        best = int(np.nanargmax(v) if METRICS[metric].higher_is_better else np.nanargmin(v))
        worst = int(np.nanargmin(v) if METRICS[metric].higher_is_better else np.nanargmax(v))
        name = _NAMES.get(system, _head(system))
        fb, fw = int(part["fold"].iloc[best]), int(part["fold"].iloc[worst])
        if np.isfinite(v).sum() < 2:
            out.append(f"{name[0].upper() + name[1:]}'s {_label(metric)} is {_f(v[best], digits)} on its only scored "
                       f"fold (fold {fb}); one fold shows no range over folds.")
            continue
        out.append(f"{name[0].upper() + name[1:]}'s {_label(metric)} ranges over folds from {_f(v[best], digits)} "
                   f"(fold {fb}, best) to {_f(v[worst], digits)} (fold {fw}).")
    a = fold_summary[fold_summary["system"] == STUDENT].set_index("fold")[col]
    b = fold_summary[fold_summary["system"] == BASELINE].set_index("fold")[col]
    common = a.index.intersection(b.index)
    if len(common):
        wins = sum(compare(metric, float(a[f]), float(b[f]), digits) > 0 for f in common)
        out.append(f"AmbER² beats the baseline (A+T) on {_label(metric)} in {wins} of {len(common)} folds "
                   "(fold means over seeds).")
    return out


def grid_sentences(grid: pd.DataFrame, metric: str, digits: int = 4, *, per_seed: bool = False) -> list[str]:
    """Which grid point was chosen most often and how much the grid points differ on validation.

    Args:
        grid: :func:`amber2.report.analysis.grid_frame`.
        metric: The selection metric.
        digits: Decimals of the validation scores.
        per_seed: The run chose a grid point per fold and seed (``grid_selection: fold_seed``): count
            (fold, seed) choices instead of folds.
    """
    if grid is None or grid.empty:
        return ["The run has no AmbER² grid search."]
    folds = sorted(grid["fold"].unique())
    chosen = grid[grid["chosen"]]
    if per_seed and "chosen_seeds" in grid.columns:
        counts = chosen.groupby("objective")["chosen_seeds"].sum().sort_values(ascending=False)
        total = int(grid.groupby("fold")["n_seeds"].max().sum())
        unit = "(fold, seed) choices"
    else:
        counts = chosen.groupby("objective")["fold"].nunique().sort_values(ascending=False)
        total, unit = len(folds), "folds"
    out = []
    if len(counts):
        top = counts.index[0]
        tied = [o for o in counts.index if counts[o] == counts.iloc[0]]
        if len(tied) > 1:
            out.append(f"No single grid point dominates: {join_words([f'`{o}`' for o in tied])} are each chosen in "
                       f"{int(counts.iloc[0])} of {total} {unit}.")
        else:
            out.append(f"The grid point chosen most often is `{top}` ({int(counts.iloc[0])} of {total} {unit}).")
    spreads = grid.groupby("fold")["val_score"].agg(lambda v: float(v.max() - v.min()))
    if len(spreads) and grid["objective"].nunique() > 1:
        lo, hi = _small(float(spreads.min()), digits), _small(float(spreads.max()), digits)
        if len(spreads) == 1:
            out.append(f"In the one fold, the grid points' mean validation {_label(metric)} differ by {lo} "
                       "(max − min).")
        else:
            rng = lo if lo == hi else f"{lo} to {hi}"
            out.append(f"Within a fold, the grid points' mean validation {_label(metric)} differ by {rng} (max − min).")
    return out
