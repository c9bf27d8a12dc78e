"""The report of a training run: ``RUN/report.md`` + ``RUN/figures/*.png`` + ``RUN/report.json``.

It reads like the results section of a short paper: the analogues of the paper's Tables 1-4 with a
sentence of interpretation each, the ambiguity analysis (Fig. 2), the expert weights of AmbER²'s loss
per conflict type, confusion matrices, per-fold results, the grid search and the run's provenance.
Every sentence is generated from the numbers (:mod:`amber2.report.interpret`); every number comes
from the run directory (:func:`amber2.training.outputs.load_run`). A run without the baseline, or
without AmbER², reports what it has.

Entry points: :func:`write_report` (returns the path of ``report.md``) and :func:`build_report`
(returns a :class:`Report` with the Markdown, the figure paths and the numbers).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from amber2._version import __version__
from amber2.metrics import METRICS, REPORTED_METRICS
from amber2.report import analysis as an
from amber2.report import interpret as it
from amber2.report.analysis import BASELINE, STUDENT
from amber2.report.proxies import run_proxies_section
from amber2.report.tables import (
    CLASS_METRICS,
    DIST_METRICS,
    SYSTEM_LABELS,
    comparison_markdown,
    format_cell,
    paper_tables_markdown,
    spread_caption,
    student_name,
)
from amber2.utils.io import atomic_write_json, atomic_write_text
from amber2.utils.logging import get_logger

if TYPE_CHECKING:
    import pandas as pd

    from amber2.training.outputs import RunRecord

__all__ = ["FIGURES", "Report", "build_report", "write_report"]

log = get_logger(__name__)

#: Figure file names (under ``figures/`` next to ``report.md``).
FIGURES: dict[str, str] = {
    "ambiguity_bins": "ambiguity_bins.png",
    "expert_weights": "expert_weights.png",
    "confusion": "confusion.png",
    "grid": "grid_search.png",
}

_SYS_NAMES = {BASELINE: "Baseline (A+T)", STUDENT: "AmbER²", "amber2_audio": "AmbER² audio expert",
              "amber2_text": "AmbER² text expert"}


@dataclass
class Report:
    """A written report.

    Attributes:
        path: ``report.md``.
        figures: ``{name: PNG path}`` of the figures written (see :data:`FIGURES`).
        numbers: Everything the text states, JSON-ready (also written to ``report.json``): summary,
            paired comparison, ambiguity bins, expert weights, confusion matrices, per-fold results,
            grid search, provenance, and the generated sentences per section.
        markdown: The Markdown text.
    """

    path: Path
    figures: dict[str, Path] = field(default_factory=dict)
    numbers: dict[str, Any] = field(default_factory=dict)
    markdown: str = ""


# ------------------------------------------------------------------------------------------ helpers


def _system_name(system: str) -> str:
    return _SYS_NAMES.get(system, SYSTEM_LABELS.get(system, system))


def _arrow(metric: str) -> str:
    return "↑" if METRICS[metric].higher_is_better else "↓"


def _mlabel(metric: str) -> str:
    return f"{METRICS[metric].label} {_arrow(metric)}"


def _bullets(sentences: Sequence[str]) -> str:
    return "\n".join(f"- {s}" for s in sentences)


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _cell(mean: float, std: float, digits: int, bold: bool = False) -> str:
    if mean is None or not math.isfinite(mean):
        return "–"
    return format_cell({"mean": mean, "std": std}, digits, bold)  # a NaN std prints "n/a"


def _clean(obj: Any) -> Any:
    """JSON-ready copy: numpy scalars to Python, NaN/inf to None."""
    if isinstance(obj, Mapping):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _clean(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def _records(df: pd.DataFrame | None) -> list[dict[str, Any]]:
    return [] if df is None or df.empty else _clean(df.to_dict(orient="records"))


def _table_blocks(md: str) -> dict[str, str]:
    """Split :func:`paper_tables_markdown` output into ``{"Table 1": caption + table, ...}``."""
    blocks: dict[str, list[str]] = {}
    key = None
    for line in md.splitlines():
        if line.startswith("**Table ") or line.startswith("**Paired comparison"):
            key = line[2:].split(".", 1)[0].split("**", 1)[0].strip()
            blocks[key] = [line]
        elif line.startswith("Mean ± standard deviation"):
            key = None
        elif key is not None:
            blocks[key].append(line)
    return {k: "\n".join(v).strip() for k, v in blocks.items()}


# --------------------------------------------------------------------------------------------- sections


def _heads_section(summary: Mapping[str, Any], digits: int, sentences: dict[str, list[str]]) -> list[str]:
    out = ["## 1. Baseline heads (Tables 1–2)", ""]
    heads = {s: v for s, v in summary.items() if s.startswith("baseline_")}
    if not heads:
        out += ["This run has no baseline (CB-CE) heads.", ""]
        sentences["tables_1_2"] = ["This run has no baseline (CB-CE) heads."]
        return out
    blocks = _table_blocks(paper_tables_markdown(heads, digits=digits))
    s1 = it.heads_sentences(summary, DIST_METRICS, digits)
    s2 = it.heads_sentences(summary, CLASS_METRICS, digits)
    sentences["table_1"], sentences["table_2"] = s1, s2
    out += ["The CB-CE baseline trains its three heads jointly with class-balanced cross-entropy on the soft "
            "labels; each head is scored on its own.", ""]
    for key, sents in (("Table 1", s1), ("Table 2", s2)):
        if key in blocks:
            out += [blocks[key], "", _bullets(sents), ""]
    return out


def student_of(record: RunRecord) -> str | None:
    """The run's student head (``results.json`` info, else the config's ``model.student``)."""
    info_model = (record.results.get("info") or {}).get("model") or {}
    return info_model.get("student") or (record.config.get("model") or {}).get("student")


def _versus_section(record: RunRecord, digits: int, sentences: dict[str, list[str]]) -> list[str]:
    summary = record.summary
    name = student_name(summary, student_of(record))
    out = [f"## 2. {name} vs the baseline (Tables 3–4)", ""]
    if STUDENT not in summary or BASELINE not in summary:
        s = it.versus_sentences(summary, None, REPORTED_METRICS, digits, name=name)
        sentences["table_3"] = sentences["table_4"] = s
        out += [_bullets(s), ""]
        if STUDENT in summary:
            rows = [[name, *(format_cell(summary[STUDENT].get(m), digits) for m in REPORTED_METRICS)]]
            out += [_table(["System", *(_mlabel(m) for m in REPORTED_METRICS)], rows), ""]
            out += _student_heads_table(summary, digits)
        return out
    both = {k: summary[k] for k in (BASELINE, STUDENT)}
    blocks = _table_blocks(paper_tables_markdown(both, digits=digits, name=name))
    comp = record.comparison if record.comparison is not None else None
    s3 = it.versus_sentences(summary, comp, DIST_METRICS, digits, kind="distribution")
    s4 = it.versus_sentences(summary, comp, CLASS_METRICS, digits, kind="classification")
    sentences["table_3"], sentences["table_4"] = s3, s4
    for key, sents in (("Table 3", s3), ("Table 4", s4)):
        if key in blocks:
            out += [blocks[key], "", _bullets(sents), ""]
    if comp is not None and not comp.empty:
        out += ["**Paired comparison** over (fold, seed) pairs: AmbER² minus the baseline (A+T). *Seed spread* is "
                "the larger of the two systems' std over seeds; a difference inside it is not distinguishable from "
                "seed-to-seed noise. The pairs share test folds and training data, so they are not independent and "
                "the p-values are optimistic.", "", comparison_markdown(comp, digits), ""]
    out += _student_heads_table(summary, digits)
    return out


def _student_heads_table(summary: Mapping[str, Any], digits: int) -> list[str]:
    rows = []
    for system in [s for s in summary if s.startswith("amber2_")] + [STUDENT]:
        if system in summary:
            cells = (format_cell(summary[system].get(m), digits) for m in REPORTED_METRICS)
            rows.append([_system_name(system), *cells])
    if len(rows) < 2:
        return []
    return ["**AmbER²'s heads.** The experts at the student's selected epoch, beside the student.", "",
            _table(["Head", *(_mlabel(m) for m in REPORTED_METRICS)], rows), ""]


def _bins_section(bsum: pd.DataFrame, digits: int, unit: str, fig: str | None,
                  sentences: dict[str, list[str]]) -> list[str]:
    out = ["## 3. Performance by ambiguity (Fig. 2)", ""]
    s = it.bins_sentences(bsum, REPORTED_METRICS, digits, unit=unit)
    sentences["ambiguity"] = s
    if bsum.empty:
        return [*out, _bullets(s), ""]
    out += [f"Ambiguity of an item is the entropy of its raters' distribution (base 2, {unit}); higher means the "
            "raters disagree more. Tested items are cut into equal-count bins (tied entropies stay together), "
            "every metric is computed per bin and seed, and the figure shows the mean over seeds with the std over "
            "seeds as error bars.", ""]
    if fig:
        out += [f"![Metrics per ambiguity bin]({fig})", ""]
    systems = list(dict.fromkeys(bsum["system"]))
    rows = []
    for b in sorted(bsum["bin"].unique()):
        part = bsum[bsum["bin"] == b]
        first = part.iloc[0]
        rng = f"{'[' if b == 0 else '('}{first['lower']:.2f}, {first['upper']:.2f}]"
        for system in systems:
            r = part[part["system"] == system]
            if r.empty:
                continue
            r = r.iloc[0]
            cells = []
            for m in REPORTED_METRICS:
                mean = float(r[f"{m}_mean"])
                others = [float(part[part["system"] == o].iloc[0][f"{m}_mean"]) for o in systems if o != system]
                best = bool(others) and all(it.compare(m, mean, o, digits) > 0 for o in others)
                cells.append(_cell(mean, float(r[f"{m}_std"]), digits, best))
            ment = f"{first['mean_entropy']:.2f}" if math.isfinite(first["mean_entropy"]) else "–"
            rows.append([b + 1, rng, int(first["size"]), ment, _system_name(system), *cells])
    out += [_table(["Bin", f"H ({unit})", "n", "mean H", "System", *(_mlabel(m) for m in REPORTED_METRICS)], rows), "",
            _bullets(s), ""]
    return out


def _expert_section(frame: pd.DataFrame, experts: list[str], by_conflict: pd.DataFrame | None,
                    by_bin: pd.DataFrame | None, fig: str | None, sentences: dict[str, list[str]]) -> list[str]:
    out = ["## 4. Expert weights: does the student listen to the right expert?", ""]
    if frame.empty or len(experts) < 2:
        s = ["No expert weights: the run has no AmbER² expert heads (or only one)."]
        sentences["expert_weights"] = s
        return [*out, _bullets(s), ""]
    kappas = sorted(set(np.round(frame["kappa"].to_numpy(float), 6)))
    out += ["AmbER²'s loss pulls the student toward each expert m with weight "
            "u_m = exp(−κ D_m) / Σ exp(−κ D_m'), D_m = JS(p_m ‖ y) (Eq. 5). Here u_m is recomputed on every tested "
            "item from the expert heads' test predictions and the raters' distribution y, with the κ of the grid "
            f"point chosen for the item's fold (κ ∈ {{{', '.join(f'{k:g}' for k in kappas)}}}), and averaged over "
            "seeds. Because it needs y, u_m is a training-time quantity: it shows which expert the loss would trust "
            "on these items, not something the model computes at inference time.", ""]
    if fig:
        out += [f"![Expert weights]({fig})", ""]
    sents: list[str] = []
    for by, table in (("conflict", by_conflict), ("bin", by_bin)):
        if table is None or table.empty:
            continue
        first_col = "Conflict type" if by == "conflict" else "Ambiguity bin"
        rows = []
        for r in table.to_dict(orient="records"):
            g = f"`{r[by]}`" if by == "conflict" else f"bin {int(r[by]) + 1}"
            cells = []
            for m in experts:
                ci = r.get(f"u_{m}_ci")
                ci_s = f" ± {ci:.2f}" if ci is not None and math.isfinite(ci) else ""
                cells.append(f"{r[f'u_{m}']:.2f}{ci_s}")
            cells += [f"{r[f'D_{m}']:.3f}" for m in experts]
            rows.append([g, r["n_items"], *cells])
        header = [first_col, "n items", *(f"mean u_{m} (95 % CI)" for m in experts),
                  *(f"mean D_{m}" for m in experts)]
        what = "conflict type" if by == "conflict" else "ambiguity bin"
        out += [f"**Mean expert weight per {what}.**", "", _table(header, rows), ""]
        sents += it.expert_sentences(table, by, experts)
    sentences["expert_weights"] = sents
    out += [_bullets(sents), ""]
    return out


def _confusion_section(cms: Mapping[str, np.ndarray], classes: list[str], fig: str | None,
                       sentences: dict[str, list[str]]) -> list[str]:
    out = ["## 5. Confusion matrices", ""]
    s = it.confusion_sentences(cms, classes)
    sentences["confusion"] = s
    if cms:
        out += ["Argmax of the raters' distribution (rows) vs argmax of the prediction (columns), counts summed over "
                "seeds and normalised per row (each row is the recall of that truth class).", ""]
        if fig:
            out += [f"![Confusion matrices]({fig})", ""]
    return [*out, _bullets(s), ""]


def _folds_section(fseed: pd.DataFrame, fsum: pd.DataFrame, metric: str, digits: int,
                   sentences: dict[str, list[str]]) -> list[str]:
    out = ["## 6. Per fold and seed", ""]
    if fseed.empty:
        sentences["folds"] = []
        return [*out, "The run has no per-run scores.", ""]
    metrics = [m for m in REPORTED_METRICS if f"{m}_mean" in fsum.columns]
    main = [s for s in (BASELINE, STUDENT) if s in set(fsum["system"])] or list(dict.fromkeys(fsum["system"]))
    rows = []
    for r in fsum[fsum["system"].isin(main)].to_dict(orient="records"):
        rows.append([_system_name(r["system"]), r["fold"], r["n_seeds"],
                     *(_cell(r[f"{m}_mean"], r[f"{m}_std"], digits) for m in metrics)])
    s = it.fold_sentences(fsum, metric, digits) if metric in METRICS else []
    sentences["folds"] = s
    out += ["Test metrics per fold, mean ± std over seeds.", "",
            _table(["System", "Fold", "seeds", *(_mlabel(m) for m in metrics)], rows), ""]
    if s:
        out += [_bullets(s), ""]
    full = []
    for r in fseed.to_dict(orient="records"):
        full.append([_system_name(r["system"]), r["fold"], r["seed"], f"`{r['objective']}`",
                     *(f"{r[m]:.{digits}f}" if m in r and math.isfinite(r[m]) else "–" for m in metrics)])
    out += ["<details><summary>Every system, fold and seed</summary>", "",
            _table(["System", "Fold", "Seed", "Objective", *(_mlabel(m) for m in metrics)], full), "", "</details>", ""]
    return out


def _grid_section(grid: pd.DataFrame, metric: str, fig: str | None, sentences: dict[str, list[str]],
                  per_seed: bool = False) -> list[str]:
    out = ["## 7. Grid search", ""]
    s = it.grid_sentences(grid, metric, per_seed=per_seed)
    sentences["grid"] = s
    if grid.empty:
        return [*out, _bullets(s), ""]
    label = _mlabel(metric) if metric in METRICS else metric
    if per_seed:
        how = ("a point is chosen per fold and seed (★k/n: chosen in k of the n seeds, red box) and is AmbER²'s "
               "result for that fold and seed.")
    else:
        how = "the chosen point of each fold (★, red box) is AmbER²'s result for that fold."
    out += [f"Mean validation {label} over seeds of every λ_MAI × κ grid point in every fold; {how}", ""]
    if fig:
        out += [f"![Grid search]({fig})", ""]
    folds = sorted(grid["fold"].unique())
    rows = []
    for obj in dict.fromkeys(grid["objective"]):
        part = grid[grid["objective"] == obj].set_index("fold")
        cells = []
        for f in folds:
            if f not in part.index:
                cells.append("–")
                continue
            r = part.loc[f]
            star = ""
            if r["chosen"]:
                star = " ★" if int(r["n_seeds"]) <= 1 or int(r["chosen_seeds"]) == int(r["n_seeds"]) else (
                    f" ★{int(r['chosen_seeds'])}/{int(r['n_seeds'])}")
            cells.append(f"{r['val_score']:.4f}{star}")
        rows.append([f"`{obj}`", *cells])
    out += [_table(["Grid point", *(f"fold {int(f)}" for f in folds)], rows), "", _bullets(s), ""]
    return out


def _fmt_value(v: Any, top: bool = True) -> str:
    if isinstance(v, dict):
        inner = ", ".join(f"{k}={_fmt_value(x, False)}" for k, x in v.items())
        return (inner or "–") if top else "{" + inner + "}"
    if isinstance(v, list):
        return "[" + ", ".join(_fmt_value(x, False) for x in v) + "]"
    if v is None:
        return "–"
    return f"{v:g}" if isinstance(v, float) else str(v)


def _seconds(sec: Any) -> str:
    if isinstance(sec, Mapping):
        return ", ".join(f"{k} {_seconds(v)}" for k, v in sec.items()) or "–"
    try:
        x = float(sec)
    except (TypeError, ValueError):
        return "–"
    return f"{x:.1f} s" if x < 600 else f"{x / 60:.1f} min"


def _provenance_section(prov: Mapping[str, Any]) -> list[str]:
    d, c, r = prov["data"], prov["config"], prov["run"]
    fp = d.get("fingerprint")
    lines = [
        f"- **Data**: {d.get('n_items', '–')} items, classes {', '.join(map(str, d.get('classes') or [])) or '–'}; "
        f"modalities {_fmt_value(d.get('modalities'))}; fold sizes {_fmt_value(d.get('fold_sizes'))}; "
        f"data fingerprint `{fp[:16] if fp else '–'}`.",
        f"- **Corpus**: {d.get('corpus') or '–'}"
        + (f" (fingerprint `{str(d['corpus_fingerprint'])[:16]}`)" if d.get("corpus_fingerprint") else "")
        + (f", from `{d['source']}`" if d.get("source") else "") + ".",
        f"- **Label policy**: {d.get('policy') or '–'}"
        + (f" (fingerprint `{str(d['policy_fingerprint'])[:16]}`)" if d.get("policy_fingerprint") else "")
        + (f"; labels fingerprint `{str(d['label_fingerprint'])[:16]}`" if d.get("label_fingerprint") else "") + ".",
        "- **Encoders**: " + ("; ".join(f"{m}: {s}" for m, s in d["encoders"].items()) if d.get("encoders") else "–")
        + ".",
        "- **Dropped items**: " + (", ".join(f"{k}: {v}" for k, v in d["dropped"].items()) if d.get("dropped")
                                   else "none recorded") + ".",
        f"- **Model**: {_fmt_value(c['model'])}.",
        f"- **Optimisation**: {_fmt_value(c['optim'])}.",
        f"- **Loss**: λ_RAI={_fmt_value(c['loss'].get('lambda_rai'))}; options {_fmt_value(c['loss'].get('options'))}.",
        f"- **Protocol**: {_fmt_value(c['protocol'])}.",
        f"- **Run**: engine {r.get('engine') or '–'}, {r.get('n_runs') or '–'} training runs, seeds "
        f"{_fmt_value(r.get('seeds'))}, folds {_fmt_value(r.get('folds'))}, grid selection "
        f"{r.get('grid_selection') or '–'} on validation {r.get('selection_metric') or '–'}.",
        f"- **Time**: training {_seconds(prov.get('seconds'))}.",
        f"- **Versions**: trained with amber2 {prov.get('amber2_version') or '–'}; report by amber2 {__version__}.",
    ]
    return ["## 8. Provenance", "", *lines, ""]


# ---------------------------------------------------------------------------------------------- driver


#: Files of a run directory that a report must never overwrite (written by ``amber2 train``).
RUN_FILES: frozenset[str] = frozenset({
    "results.json", "data.json", "config.yaml", "scores.csv", "selection.csv", "comparison.csv", "tables.md",
    "predictions.npz",
})


def _resolve_out(run_dir: Path, out: str | os.PathLike[str] | None) -> Path:
    """The report's Markdown path; refuses one whose Markdown or ``.json`` twin would overwrite a run file.

    Raises:
        ValueError: ``out`` (or the numbers written beside it, same name with ``.json``) is one of the
            run's own files (e.g. ``--out RUN/results.md`` would replace ``RUN/results.json``).
    """
    if out is None:
        return run_dir / "report.md"
    p = Path(out)
    if p.is_dir():
        p = p / "report.md"
    for target in (p, p.with_suffix(".json")):
        if target.name in RUN_FILES and (target.exists() or target.parent.resolve() == run_dir.resolve()):
            what = "the report itself" if target == p else "the report's numbers"
            raise ValueError(
                f"--out {p} would write {what} to {target}, a file of the training run that the report must not "
                f"overwrite; choose another name (default {run_dir / 'report.md'}, numbers in report.json)")
    return p


def _figure(name: str, fn: Any, fig_dir: Path, report_dir: Path, figures: dict[str, Path], *args: Any,
            **kwargs: Any) -> str | None:
    """Draw one figure; a failure is logged and the report goes on without it."""
    path = fig_dir / FIGURES[name]
    try:
        fn(*args, path, **kwargs)
    except Exception as exc:  # a figure must never cost the whole report
        log.warning("figure %s not drawn: %s", name, exc)
        return None
    figures[name] = path
    return os.path.relpath(path, report_dir).replace(os.sep, "/")


def build_report(
    run_dir: str | os.PathLike[str] | RunRecord,
    *,
    out: str | os.PathLike[str] | None = None,
    title: str | None = None,
    corpus_note: str | None = None,
    n_bins: int = 4,
    edges: Sequence[float] | None = None,
    digits: int = 3,
    figures: bool = True,
) -> Report:
    """Write the report of a run and return it with its numbers.

    Args:
        run_dir: A run directory written by ``amber2 train`` (or a loaded
            :class:`~amber2.training.outputs.RunRecord`).
        out: The Markdown file to write (default ``RUN/report.md``; a folder gets ``report.md``).
            Figures go to ``figures/`` beside it, the numbers to the same name with ``.json``.
        title: Report title (default from the corpus name in ``data.json``).
        corpus_note: A paragraph under the title describing the data (e.g. "simulated corpus, ...").
        n_bins: Equal-count ambiguity bins (Fig. 2 and the expert weights by bin).
        edges: Explicit entropy edges (bits) instead of equal-count bins.
        digits: Decimals of the metrics in tables and sentences.
        figures: Draw the PNGs (False: Markdown and numbers only).

    Returns:
        :class:`Report`.

    Raises:
        FileNotFoundError: ``run_dir`` is not a run directory.
    """
    from amber2.training.outputs import RunRecord, load_run

    record = run_dir if isinstance(run_dir, RunRecord) else load_run(run_dir)
    md_path = _resolve_out(record.path, out)
    report_dir = md_path.parent
    fig_dir = report_dir / "figures"
    summary = record.summary
    classes = record.classes
    prov = an.provenance(record)
    metric = str(prov["run"].get("selection_metric") or (record.config.get("optim") or {}).get("selection_metric")
                 or "js")
    unit = "bits"
    sentences: dict[str, list[str]] = {}
    figs: dict[str, Path] = {}

    import pandas as pd

    problems: dict[str, str] = {}

    def safe(name: str, fn: Any, *args: Any, **kwargs: Any) -> pd.DataFrame:
        """A part that cannot be computed is reported as such; the rest of the report goes on."""
        try:
            return fn(*args, **kwargs)
        except (ValueError, KeyError) as exc:
            log.warning("report: %s not computed: %s", name, exc)
            problems[name] = str(exc.args[0] if isinstance(exc, KeyError) and exc.args else exc)
            return pd.DataFrame()

    bframe = safe("ambiguity", an.bins_frame, record, n_bins=n_bins, edges=edges)
    bsum = an.bins_summary(bframe, REPORTED_METRICS) if not bframe.empty else bframe
    wframe = safe("expert_weights", an.expert_weight_frame, record, n_bins=n_bins)
    experts = an.expert_names(record)
    has_conflict = "conflict" in wframe.columns and not wframe.empty
    by_conflict = an.expert_weight_summary(wframe, "conflict") if has_conflict else None
    by_bin = an.expert_weight_summary(wframe, "bin") if not wframe.empty else None
    cms = an.confusion_matrices(record)
    fseed = an.fold_seed_frame(record)
    fsum = an.fold_summary_frame(fseed) if not fseed.empty else fseed
    grid = an.grid_frame(record)

    fig_links: dict[str, str | None] = {}
    if figures:
        from amber2.report import plots

        if not bsum.empty:
            fig_links["ambiguity_bins"] = _figure("ambiguity_bins", plots.plot_ambiguity_bins, fig_dir, report_dir,
                                                  figs, bsum, unit=unit)
        if not wframe.empty and len(experts) >= 2:
            fig_links["expert_weights"] = _figure("expert_weights", plots.plot_expert_weights, fig_dir, report_dir,
                                                  figs, wframe, by=("conflict", "bin"))
        if cms:
            fig_links["confusion"] = _figure("confusion", plots.plot_confusions, fig_dir, report_dir, figs, cms,
                                             classes)
        if not grid.empty:
            fig_links["grid"] = _figure("grid", plots.plot_grid, fig_dir, report_dir, figs, grid, metric=metric)

    comp = record.comparison
    head = it.headline(summary, comp, REPORTED_METRICS, digits, name=student_name(summary, student_of(record)))
    sentences["headline"] = [head]
    n_tested = int(an.is_tested(record).sum()) if an.systems_present(record) else 0
    info = record.results.get("info") or {}
    corpus = (record.data or {}).get("corpus")
    title = title or (f"AmbER² results on {corpus}" if corpus else "AmbER² results")

    lines = [f"# {title}", ""]
    if corpus_note:
        lines += [corpus_note.strip(), ""]
    lines += [
        f"*Run `{record.path}`: {n_tested} tested items, {len(classes)} classes ({', '.join(classes)}), "
        f"{len(info.get('folds') or [])} folds × {len(info.get('seeds') or [])} seeds; AmbER²'s grid point chosen on "
        f"validation {METRICS[metric].label if metric in METRICS else metric}. Cells: "
        f"{spread_caption(summary).lower()}; ↑/↓ mark the better direction and bold the better system.*", "",
        f"**Summary.** {head}", "",
    ]
    lines += _heads_section(summary, digits, sentences)
    lines += _versus_section(record, digits, sentences)
    if "ambiguity" in problems:
        sentences["ambiguity"] = [f"Not computed: {problems['ambiguity']}."]
        lines += ["## 3. Performance by ambiguity (Fig. 2)", "", _bullets(sentences["ambiguity"]), ""]
    else:
        lines += _bins_section(bsum, digits, unit, fig_links.get("ambiguity_bins"), sentences)
    if "expert_weights" in problems:
        sentences["expert_weights"] = [f"Not computed: {problems['expert_weights']}."]
        lines += ["## 4. Expert weights: does the student listen to the right expert?", "",
                  _bullets(sentences["expert_weights"]), ""]
    else:
        lines += _expert_section(wframe, experts, by_conflict, by_bin, fig_links.get("expert_weights"), sentences)
    lines += _confusion_section(cms, classes, fig_links.get("confusion"), sentences)
    lines += _folds_section(fseed, fsum, metric, digits, sentences)
    lines += _grid_section(grid, metric, fig_links.get("grid"), sentences,
                           per_seed=info.get("grid_selection") == "fold_seed")
    # the proxies section only when the corpus holds synthetic votes; its figures join figs
    lines += run_proxies_section(record.data or {}, fig_dir, report_dir, figures=figures, drawn=figs)
    lines += _provenance_section(prov)
    markdown = "\n".join(lines).rstrip() + "\n"

    numbers = _clean({
        "title": title,
        "run": str(record.path),
        "n_tested": n_tested,
        "classes": classes,
        "summary": summary,
        "comparison": _records(comp),
        "chosen": record.results.get("chosen") or {},
        "ambiguity": {"unit": unit, "n_bins": n_bins, "table": _records(bsum)},
        "expert_weights": {"experts": experts, "by_conflict": _records(by_conflict), "by_bin": _records(by_bin)},
        "confusion": {s: {"counts": cm, "row_normalised": an.row_normalise(cm)} for s, cm in cms.items()},
        "folds": _records(fsum),
        "grid": _records(grid),
        "provenance": prov,
        "sentences": sentences,
        "figures": {k: os.path.relpath(v, report_dir).replace(os.sep, "/") for k, v in figs.items()},
        "problems": problems,
        "amber2_version": __version__,
    })
    atomic_write_text(md_path, markdown)
    atomic_write_json(md_path.with_suffix(".json"), numbers)
    log.info("report written to %s (%d figures)", md_path, len(figs))
    return Report(md_path, figs, numbers, markdown)


def write_report(
    run_dir: str | os.PathLike[str],
    *,
    out: str | os.PathLike[str] | None = None,
    title: str | None = None,
    corpus_note: str | None = None,
    n_bins: int = 4,
) -> Path:
    """Write ``report.md`` (+ ``figures/*.png``, ``report.json``) for a run directory; see :func:`build_report`.

    Returns:
        The path of ``report.md``.
    """
    return build_report(run_dir, out=out, title=title, corpus_note=corpus_note, n_bins=n_bins).path
