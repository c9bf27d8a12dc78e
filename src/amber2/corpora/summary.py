r"""The summary a researcher checks before training: what was read, what was kept, what was dropped.

:func:`summarize` collects, for a corpus table and (optionally) the targets a label policy made from
it and a fold assignment:

* items, votes, votes per rater kind, raters per item (histogram; a vote row of weight k counts k
  votes, and an item whose rater count is not known - fractional counts, a distribution without
  ``n_raters`` - is counted as unknown, never given a made-up number);
* under the policy: items per class (argmax of y, ties to the first class), class mass
  (:math:`\sum_i y_{ic}`), votes counted per class (:math:`\sum_i n_{ic}`), votes per item, and the
  entropy histogram :math:`H(y) = -\sum_c y_c \log_2 y_c` (10 equal-width bins over
  :math:`[0, \log_2 C]`);
* items dropped by the policy, each reason counted (and a check that kept + dropped = all items);
* audio status counts (ok / missing / LFS pointer / empty / unchecked) and hours, missing
  transcripts, duplicate ids, and every reader issue counted by reason with a few examples;
* fold sizes.

The result renders as JSON (:meth:`CorpusSummary.to_dict`), Markdown (:meth:`CorpusSummary.to_markdown`)
and a rich console view (:meth:`CorpusSummary.to_rich`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from amber2.metrics import row_entropy
from amber2.utils.lfs import LFS_HINT

if TYPE_CHECKING:
    from amber2.corpora.table import CorpusTable
    from amber2.corpora.targets import PolicyTargets

__all__ = ["N_ENTROPY_BINS", "CorpusSummary", "summarize"]

N_ENTROPY_BINS = 10
_EXAMPLES = 5


@dataclass
class CorpusSummary:
    """Counts describing a prepared corpus (see the module docstring); every field is JSON-ready."""

    corpus: str
    n_items: int
    n_votes: int
    votes_by_kind: dict[str, int]
    raters_per_item: dict[str, Any]
    labels_in_votes: dict[str, int]
    audio: dict[str, Any]
    transcripts: dict[str, Any]
    duplicate_ids: dict[str, Any]
    issues: dict[str, dict[str, Any]]
    policy: dict[str, Any] | None = None
    entropy: dict[str, Any] | None = None
    dropped: dict[str, dict[str, Any]] = field(default_factory=dict)
    folds: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (for ``summary.json``)."""
        return {
            "corpus": self.corpus, "n_items": self.n_items, "n_votes": self.n_votes,
            "votes_by_kind": self.votes_by_kind, "raters_per_item": self.raters_per_item,
            "labels_in_votes": self.labels_in_votes, "policy": self.policy, "entropy": self.entropy,
            "dropped": self.dropped, "audio": self.audio, "transcripts": self.transcripts,
            "duplicate_ids": self.duplicate_ids, "issues": self.issues, "folds": self.folds, **self.extra,
        }

    # ------------------------------------------------------------------ Markdown
    def to_markdown(self) -> str:
        """A Markdown report (``summary.md``)."""
        out: list[str] = [f"# Corpus summary: {self.corpus}", ""]
        out.append(f"- items: **{self.n_items}**, votes: **{_num(self.n_votes)}** "
                   f"({', '.join(f'{k} {_num(v)}' for k, v in self.votes_by_kind.items()) or 'none'})")
        out.append(f"- raters per item: {_raters_text(self.raters_per_item)}")
        r = self.raters_per_item
        if len(r.get("by_kind", {})) > 1:
            out.append("  - by kind: " + "; ".join(f"{k} mean {d['mean']:.2f} (min {d['min']}, max {d['max']})"
                                                  for k, d in r["by_kind"].items()))
        a = self.audio
        out.append("- audio: " + ", ".join(f"{k} {v}" for k, v in a["status"].items())
                   + f"; {_duration(a['hours'])} of known duration ({a['duration_known']} items)")
        if a["status"].get("lfs_pointer"):
            out.append(f"  - **{a['status']['lfs_pointer']} Git LFS pointer(s)** instead of audio: {LFS_HINT}")
        t = self.transcripts
        out.append(f"- missing transcripts: {t['missing']}")
        out.append(f"- duplicate ids: {self.duplicate_ids['count']}"
                   + (f" (e.g. {', '.join(self.duplicate_ids['examples'])})" if self.duplicate_ids["count"] else ""))
        out.append("")
        if self.policy is not None:
            p = self.policy
            out += [f"## Targets under label policy `{p['name']}` (v{p['version']})", "",
                    f"{p['description']}", "",
                    f"Kept **{p['n_targets']}** of {self.n_items} items; dropped {p['n_dropped']}"
                    + (f"; **{p['unaccounted']} unaccounted**" if p.get("unaccounted") else "") + ".", "",
                    "| class | items (argmax, ties to the first) | class mass | votes counted |",
                    "| --- | ---: | ---: | ---: |"]
            for c in p["classes"]:
                out.append(f"| {c} | {p['items_per_class'][c]} | {p['class_mass'][c]:.1f} | "
                           f"{_num(p['votes_per_class'][c])} |")
            out += ["", f"Votes counted per item: {_hist_text(p['votes_per_item']['histogram'])} "
                        f"(mean {p['votes_per_item']['mean']:.2f})", ""]
            if p.get("out_of_set"):
                out += ["Labels outside the class set (mentions): "
                        + ", ".join(f"{k} {_num(v)}" for k, v in p["out_of_set"].items()), ""]
        if self.entropy is not None:
            e = self.entropy
            out += [f"## Ambiguity: entropy of y (bits; max log2 C = {e['max']:.3f})", "",
                    f"mean {e['mean']:.3f}, unanimous (H = 0): {e['zero']}", "",
                    "| bin | items | |", "| --- | ---: | --- |"]
            peak = max(e["counts"]) if e["counts"] else 0
            for lo, hi, n in zip(e["edges"][:-1], e["edges"][1:], e["counts"], strict=True):
                bar = "#" * (round(30 * n / peak) if peak else 0)
                out.append(f"| [{lo:.2f}, {hi:.2f}{']' if hi == e['edges'][-1] else ')'} | {n} | `{bar}` |")
            out.append("")
        out += ["## Dropped items (by reason)", ""]
        if self.dropped:
            out += ["| reason | items | examples |", "| --- | ---: | --- |"]
            for reason, d in self.dropped.items():
                out.append(f"| {reason} | {d['count']} | {', '.join(d['examples'])} |")
        else:
            out.append("none")
        out += ["", "## Reader issues (by reason)", ""]
        if self.issues:
            out += ["| reason | count | example |", "| --- | ---: | --- |"]
            for reason, d in self.issues.items():
                ex = d["examples"][0] if d["examples"] else ""
                out.append(f"| {reason} | {d['count']} | {_md_escape(ex)} |")
        else:
            out.append("none")
        out.append("")
        if self.folds is not None:
            f = self.folds
            out += ["## Folds", ""]
            if "error" in f:
                out.append(f"not made: {f['error']}")
            else:
                line = (f"scheme `{f['scheme']}`: sizes {f['sizes']}, not in any fold {f['unassigned']}"
                        + (f", size ratio max/min {f['size_ratio']:.3f}" if f.get("size_ratio") else ""))
                if "max_class_share_gap" in f:
                    line += f"; largest gap of a class share (argmax) to the overall share: {f['max_class_share_gap']}"
                out.append(line)
            out.append("")
        return "\n".join(out)

    # ------------------------------------------------------------------ rich
    def to_rich(self) -> Any:
        """A rich renderable (tables) for the console."""
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        parts: list[Any] = []
        head = Table(title=f"corpus: {self.corpus}", show_header=False, box=None)
        head.add_row("items", str(self.n_items))
        head.add_row("votes", f"{_num(self.n_votes)} ("
                     + ", ".join(f"{k} {_num(v)}" for k, v in self.votes_by_kind.items()) + ")")
        r = self.raters_per_item
        head.add_row("raters per item", _raters_text(r))
        for kind, d in r.get("by_kind", {}).items() if len(r.get("by_kind", {})) > 1 else ():
            head.add_row(f"  {kind}", f"mean {d['mean']:.2f}  min {d['min']}  max {d['max']}")
        head.add_row("audio", ", ".join(f"{k} {v}" for k, v in self.audio["status"].items())
                     + f"  ({_duration(self.audio['hours'])} known)")
        head.add_row("missing transcripts", str(self.transcripts["missing"]))
        head.add_row("duplicate ids", str(self.duplicate_ids["count"]))
        parts.append(head)
        if self.audio["status"].get("lfs_pointer"):
            parts.append(Text(f"{self.audio['status']['lfs_pointer']} audio file(s) are Git LFS pointers: "
                              f"{LFS_HINT}", style="bold yellow"))
        if self.policy is not None:
            p = self.policy
            t = Table(title=f"targets under policy {p['name']}: kept {p['n_targets']}, dropped {p['n_dropped']}")
            for col in ("class", "items (argmax)", "class mass", "votes counted"):
                t.add_column(col, justify="left" if col == "class" else "right")
            for c in p["classes"]:
                t.add_row(c, str(p["items_per_class"][c]), f"{p['class_mass'][c]:.1f}",
                          _num(p["votes_per_class"][c]))
            parts.append(t)
        if self.entropy is not None:
            e = self.entropy
            t = Table(title=f"entropy of y (bits), mean {e['mean']:.3f}, unanimous {e['zero']}")
            t.add_column("bin")
            t.add_column("items", justify="right")
            t.add_column("")
            peak = max(e["counts"]) if e["counts"] else 0
            for lo, hi, n in zip(e["edges"][:-1], e["edges"][1:], e["counts"], strict=True):
                t.add_row(f"{lo:.2f}-{hi:.2f}", str(n), "█" * (round(30 * n / peak) if peak else 0))
            parts.append(t)
        t = Table(title="dropped by the label policy")
        t.add_column("reason")
        t.add_column("items", justify="right")
        t.add_column("examples")
        for reason, d in self.dropped.items():
            t.add_row(reason, str(d["count"]), ", ".join(d["examples"][:3]))
        if not self.dropped:
            t.add_row("none", "0", "")
        parts.append(t)
        t = Table(title="reader issues")
        t.add_column("reason")
        t.add_column("count", justify="right")
        t.add_column("example", overflow="fold")
        for reason, d in self.issues.items():
            t.add_row(reason, str(d["count"]), d["examples"][0] if d["examples"] else "")
        if not self.issues:
            t.add_row("none", "0", "")
        parts.append(t)
        if self.folds is not None:
            f = self.folds
            parts.append(Text(f"folds: {f['error']}" if "error" in f else
                              f"folds ({f['scheme']}): sizes {f['sizes']}, not in any fold {f['unassigned']}"))
        return Group(*parts)


def _duration(hours: float) -> str:
    return f"{hours:.2f} h" if hours >= 0.1 else f"{hours * 3600:.1f} s"


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:.2f}"


def _raters_text(r: dict[str, Any]) -> str:
    """``mean .., min .., max ..; histogram ..`` over the items whose rater count is known, else n/a."""
    unknown = int(r.get("unknown", 0))
    if r.get("mean") is None:
        return f"n/a (not given{f' for {unknown} item(s)' if unknown else ''})"
    text = f"mean {r['mean']:.2f}, min {_num(r['min'])}, max {_num(r['max'])}; histogram {_hist_text(r['histogram'])}"
    return text + (f"; n/a for {unknown} item(s) (rater count not given)" if unknown else "")


def _hist_text(hist: dict[str, int]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in hist.items()) or "none"


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _per_kind(votes: pd.DataFrame, ids: pd.Series) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    if not len(votes):
        return out
    for kind, sub in votes.groupby("kind"):
        per = sub.groupby("id")["weight"].sum().reindex(ids, fill_value=0).to_numpy()
        out[str(kind)] = {"mean": float(per.mean()), "min": _whole(per.min()), "max": _whole(per.max())}
    return out


def _whole(x: Any) -> int | float:
    """An int when the value is whole (JSON stays ``3``, not ``3.0``), else the float."""
    f = float(x)
    return int(f) if f.is_integer() else f


def _histogram(values: np.ndarray) -> dict[str, int]:
    if len(values) == 0:
        return {}
    c = Counter(values.tolist())
    return {_num(k): int(c[k]) for k in sorted(c)}


def summarize(
    table: CorpusTable,
    labels: PolicyTargets | None = None,
    folds: pd.Series | None = None,
    *,
    fold_error: str | None = None,
) -> CorpusSummary:
    """Collect the summary of a corpus table, its targets under a policy and its folds.

    Args:
        table: The corpus table.
        labels: Targets made by a label policy from ``table`` (optional).
        folds: A fold assignment (:mod:`amber2.corpora.folds`) (optional).
        fold_error: Why folds could not be made (reported instead of the folds).

    Returns:
        The :class:`CorpusSummary`.
    """
    items, votes = table.items, table.votes
    n = len(items)
    ids = items["id"].astype(str)
    # an item whose vote rows all have weight 0 has no votes
    weight_per_item = votes.groupby("id")["weight"].sum().reindex(ids, fill_value=0).to_numpy() if n else np.zeros(0)
    raters = table.raters_per_item()
    known = raters[np.isfinite(raters)]
    kinds = {str(k): _whole(v) for k, v in votes.groupby("kind")["weight"].sum().items()} if len(votes) else {}
    lab: Counter = Counter()
    for ls, w in zip(votes["labels"], votes["weight"], strict=True):
        for x in ls:
            lab[x] += w
    status = items["audio_status"].fillna("unchecked").astype(str).value_counts()
    order = ["ok", "missing", "lfs_pointer", "empty", "unchecked"]
    status_d = {s: int(status.get(s, 0)) for s in order if int(status.get(s, 0))}
    dur = pd.to_numeric(items["duration"], errors="coerce")
    no_text = items["transcript"].isna() | (items["transcript"].astype(str).str.strip() == "")
    issues_by: dict[str, dict[str, Any]] = {}
    for iss in table.issues:
        d = issues_by.setdefault(iss.reason, {"count": 0, "examples": []})
        d["count"] += 1
        if len(d["examples"]) < _EXAMPLES:
            d["examples"].append(f"{iss.item}: {iss.detail}" if iss.item else iss.detail)
    issues_by = dict(sorted(issues_by.items(), key=lambda kv: (-kv[1]["count"], kv[0])))
    dup = [i.item for i in table.issues if i.reason == "duplicate_id" and i.item is not None]
    summary = CorpusSummary(
        corpus=table.corpus,
        n_items=n,
        n_votes=_whole(votes["weight"].sum()) if len(votes) else 0,
        votes_by_kind=kinds,
        raters_per_item={
            "mean": float(known.mean()) if len(known) else None,
            "min": _whole(known.min()) if len(known) else None,
            "max": _whole(known.max()) if len(known) else None, "histogram": _histogram(known),
            "unknown": int(n - len(known)),
            "items_without_votes": int((weight_per_item == 0).sum()),
            "by_kind": _per_kind(votes, ids),
        },
        labels_in_votes={k: _whole(v) for k, v in sorted(lab.items(), key=lambda kv: -kv[1])},
        audio={"status": status_d, "hours": float(dur.sum(skipna=True)) / 3600.0,
               "duration_known": int(dur.notna().sum()),
               "lfs_pointer_examples": ids[items["audio_status"] == "lfs_pointer"].head(_EXAMPLES).tolist(),
               "missing_examples": ids[items["audio_status"] == "missing"].head(_EXAMPLES).tolist()},
        transcripts={"missing": int(no_text.sum()), "examples": ids[no_text].head(_EXAMPLES).tolist()},
        duplicate_ids={"count": len(dup), "examples": sorted(set(dup))[:_EXAMPLES]},
        issues=issues_by,
    )
    if labels is not None:
        _add_labels(summary, labels, ids)
    if fold_error is not None:
        summary.folds = {"error": fold_error}
    elif folds is not None:
        from amber2.corpora.folds import fold_report

        summary.folds = fold_report(folds, labels)
    return summary


def _add_labels(summary: CorpusSummary, labels: PolicyTargets, ids: pd.Series) -> None:
    classes = list(labels.classes)
    Y = np.asarray(labels.Y, dtype=np.float64)
    C = len(classes)
    top = np.argmax(Y, axis=1) if len(Y) else np.zeros(0, int)
    per_class = np.bincount(top, minlength=C) if C else np.zeros(0, int)
    counts = np.asarray(labels.counts, dtype=np.float64) if hasattr(labels, "counts") else Y
    kept = set(labels.ids)
    dropped_ids = {i for lst in labels.dropped.values() for i in lst}
    unaccounted = [i for i in ids if i not in kept and i not in dropped_ids]
    pol = labels.policy
    summary.policy = {
        "name": pol.name, "version": pol.version, "description": pol.description,
        "fingerprint": pol.fingerprint(), "settings": pol.to_dict(), "classes": classes,
        "n_targets": len(labels), "n_dropped": sum(len(v) for v in labels.dropped.values()),
        "unaccounted": len(unaccounted), "unaccounted_examples": unaccounted[:_EXAMPLES],
        "items_per_class": {c: int(per_class[k]) for k, c in enumerate(classes)},
        "class_mass": {c: float(Y[:, k].sum()) for k, c in enumerate(classes)},
        "votes_per_class": {c: float(counts[:, k].sum()) for k, c in enumerate(classes)},
        "votes_per_item": {"mean": float(np.mean(labels.n_votes)) if len(labels) else 0.0,
                           "histogram": _histogram(np.asarray(labels.n_votes, dtype=np.float64))},
        "out_of_set": {str(k): float(v) for k, v in getattr(labels, "out_of_set", {}).items()},
    }
    summary.dropped = {
        reason: {"count": len(lst), "examples": [str(i) for i in lst[:_EXAMPLES]]}
        for reason, lst in labels.dropped.items() if lst
    }
    if C >= 2 and len(Y):
        H = row_entropy(Y)
        hmax = float(np.log2(C))
        edges = np.linspace(0.0, hmax, N_ENTROPY_BINS + 1)
        cnt, _ = np.histogram(np.clip(H, 0.0, hmax), bins=edges)
        summary.entropy = {"base": 2, "max": hmax, "edges": [float(e) for e in edges],
                           "counts": [int(c) for c in cnt], "mean": float(H.mean()),
                           "zero": int((H <= 1e-12).sum())}
