r"""Can the synthetic annotators stand in for the human raters? The proxies analysis.

Given a corpus table holding human votes and synthetic votes (kind ``synthetic``, see
:mod:`amber2.corpora.raters`), and a label policy that says which votes and classes count, this module
compares, per utterance, the synthetic vote distribution :math:`s` with the human one :math:`h`
(both the raw vote frequencies :math:`n_c / N`; the policy's smoothing and rounding are for training
targets and are not applied here):

* Jensen-Shannon divergence in bits, in [0, 1] (0: identical),
  :math:`JS(h \| s) = \tfrac12 KL(h \| m) + \tfrac12 KL(s \| m)`, :math:`m = \tfrac12 (h + s)`;
* Bhattacharyya coefficient, in [0, 1] (1: identical), :math:`BC = \sum_c \sqrt{h_c s_c}`;
* Fleiss' kappa among the human raters and among the synthetic annotators (:func:`fleiss_kappa`);
* accuracy and macro-F1 of the synthetic majority class against the human majority class (argmax,
  ties to the first class in the policy's order);
* mean entropy (bits) of both distributions;
* the saturation curve: for :math:`N = 1 \dots N_{max}`, ``subsets`` seeded random subsets of N
  votes out of each utterance's first :math:`N_{max}` synthetic votes, mean JS / BC to the human
  distribution, a fitted :math:`f(N) = a - b e^{-cN}` (:func:`fit_saturation`) and the saturation
  point, the N where the fit comes within 10 % of its range of the asymptote :math:`a`.

Everything is also given per *ambiguity tertile*: the normalised entropy of the human votes,
:math:`H(h) / \log C` with C the number of classes of the policy (not the number of labels present
in the utterance), cut into three equal-count bins (low / medium / high) that never split tied values.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from amber2.corpora.raters import SYNTHETIC_KIND, parse_synthetic_rater
from amber2.labels.apply import select_vote_rows, synthetic_sources
from amber2.labels.policy import LabelPolicy, LabelPolicyError
from amber2.metrics.ambiguity import assign_bins, equal_count_edges
from amber2.metrics.classification import accuracy, macro_f1
from amber2.metrics.distribution import bhattacharyya_per_item, entropy, js_divergence_per_item
from amber2.utils.io import atomic_write_json
from amber2.utils.logging import get_logger

if TYPE_CHECKING:
    from amber2.corpora.table import CorpusTable
    from amber2.labels.labelset import LabelSet

__all__ = [
    "TERTILES",
    "GroupProxies",
    "ProxiesResult",
    "SaturationFit",
    "analyse_proxies",
    "fit_saturation",
    "fleiss_kappa",
    "has_synthetic_votes",
]

log = get_logger(__name__)

#: Names of the ambiguity tertiles, low to high normalised entropy of the human votes.
TERTILES: tuple[str, ...] = ("low", "medium", "high")
#: Bounds on user-given sizes.
MAX_N = 1_000
MAX_SUBSETS = 1_000
#: Fewest points a 3-parameter fit is attempted on.
MIN_FIT_POINTS = 4


def fleiss_kappa(counts: Any) -> float:
    r"""Fleiss' kappa of a table of rating counts (Fleiss 1971), raters per item allowed to vary.

    Written here because it is a few lines and the usual implementation (statsmodels) is not a
    dependency of amber2. With :math:`n_{ij}` the raters putting item i in category j and
    :math:`n_i = \sum_j n_{ij}`:

    .. math::

        P_i = \frac{\sum_j n_{ij}^2 - n_i}{n_i (n_i - 1)}, \quad
        p_j = \frac{\sum_i n_{ij}}{\sum_i n_i}, \quad
        \kappa = \frac{\bar P - \sum_j p_j^2}{1 - \sum_j p_j^2}

    which is Fleiss' statistic when every :math:`n_i` is equal. Items with fewer than 2 ratings
    cannot show agreement and are left out.

    Args:
        counts: (n_items, C) non-negative rating counts.

    Returns:
        Kappa (1: perfect agreement, 0: chance level, negative: below chance); NaN when fewer than
        one item has 2 ratings or when every rating falls in one category (chance agreement is 1).

    Examples:
        >>> round(fleiss_kappa([[0, 2], [2, 0], [1, 1]]), 4)
        0.1111
    """
    c = np.asarray(counts, dtype=np.float64)
    if c.ndim != 2 or (c < 0).any() or not np.isfinite(c).all():
        raise ValueError(f"fleiss_kappa needs a 2-D table of non-negative counts, got shape {c.shape}")
    n_i = c.sum(axis=1)
    c = c[n_i >= 2]
    n_i = n_i[n_i >= 2]
    if not len(c):
        return float("nan")
    p_item = ((c**2).sum(axis=1) - n_i) / (n_i * (n_i - 1))
    p_cat = c.sum(axis=0) / n_i.sum()
    chance = float((p_cat**2).sum())
    if chance >= 1.0 - 1e-12:
        return float("nan")
    return float((p_item.mean() - chance) / (1.0 - chance))


@dataclass
class SaturationFit:
    r"""The fit :math:`f(N) = a - b e^{-cN}` of a saturation curve, or why there is none.

    Attributes:
        ok: A fit was found.
        a: Asymptote (the value with unlimited synthetic votes).
        b: Amplitude.
        c: Rate (> 0).
        n_saturation: The N where :math:`|f(N) - a| = 0.1\,|f(1) - a|`, i.e. :math:`1 + \ln 10 / c`
            (None without a fit).
        beyond_range: ``n_saturation`` lies beyond the largest N measured (an extrapolation).
        reason: Why there is no fit (empty when ``ok``).
    """

    ok: bool
    a: float | None = None
    b: float | None = None
    c: float | None = None
    n_saturation: float | None = None
    beyond_range: bool = False
    reason: str = ""

    def describe(self, digits: int = 3) -> str:
        """One line for reports."""
        if not self.ok:
            return f"no fit ({self.reason})"
        where = " (beyond the largest N measured: an extrapolation)" if self.beyond_range else ""
        return (f"a - b·exp(-cN) with a = {self.a:.{digits}f}, b = {self.b:.{digits}f}, c = {self.c:.{digits}f}; "
                f"within 10 % of its range of the asymptote from N ≈ {self.n_saturation:.1f}{where}")


def fit_saturation(ns: Sequence[float], values: Sequence[float], *, within: float = 0.10) -> SaturationFit:
    r"""Fit :math:`f(N) = a - b e^{-cN}` (scipy's ``curve_fit``) and find its saturation point.

    The range of the fit over the measured N is :math:`|f(1) - a| = |b| e^{-c}`; the fit is within
    ``within`` of that range of the asymptote once :math:`e^{-c(N-1)} \le` ``within``, i.e. from
    :math:`N^* = 1 + \ln(1/\text{within}) / c`.

    Args:
        ns: The N values (1, 2, ...).
        values: The mean JS or BC at each N.
        within: Fraction of the range (0.10 = 10 %).

    Returns:
        The fit, or ``ok=False`` with the reason (too few points, a flat curve, no convergence, a
        rate that is not positive).
    """
    from scipy.optimize import OptimizeWarning, curve_fit

    x = np.asarray(ns, dtype=np.float64)
    y = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(y)
    x, y = x[ok], y[ok]
    if len(x) < MIN_FIT_POINTS:
        return SaturationFit(False, reason=f"N_max = {len(x)} < {MIN_FIT_POINTS}: too few points for 3 parameters")
    if np.ptp(y) <= 1e-12:
        return SaturationFit(False, reason="the curve is flat")

    def model(n: np.ndarray, a: float, b: float, c: float) -> np.ndarray:
        return a - b * np.exp(-c * n)

    c0 = 0.5
    p0 = (y[-1], (y[-1] - y[0]) * math.exp(c0 * x[0]), c0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", OptimizeWarning)
            (a, b, c), _ = curve_fit(model, x, y, p0=p0, bounds=([-np.inf, -np.inf, 1e-6], [np.inf, np.inf, 50.0]),
                                     maxfev=20_000)
    except (RuntimeError, ValueError, OptimizeWarning) as exc:
        return SaturationFit(False, reason=f"the fit did not converge ({exc})")
    if not all(math.isfinite(v) for v in (a, b, c)) or c <= 1e-6 * 1.001:
        return SaturationFit(False, reason="the fitted rate is not positive (no saturation within reach)")
    n_sat = 1.0 + math.log(1.0 / within) / c
    return SaturationFit(True, float(a), float(b), float(c), float(n_sat), bool(n_sat > x.max()))


@dataclass
class GroupProxies:
    """The proxies figures of one group of utterances (all, or one ambiguity tertile).

    Attributes:
        n_items: Utterances in the group.
        js: Mean JS divergence (bits) synthetic vs human.
        bc: Mean Bhattacharyya coefficient.
        kappa_human: Fleiss' kappa among the human raters.
        kappa_synthetic: Fleiss' kappa among the synthetic annotators.
        accuracy: Share of utterances whose synthetic majority class is the human majority class.
        macro_f1: Macro-F1 of the synthetic majority against the human majority.
        entropy_human: Mean entropy (bits) of the human distributions.
        entropy_synthetic: Mean entropy (bits) of the synthetic distributions.
        curve_js: Mean JS at N = 1..N_max (saturation curve); empty when not computed.
        curve_bc: Mean BC at N = 1..N_max.
        n_items_curve: Utterances in the saturation curve (those with N_max valid synthetic votes).
        fit_js: Fit of ``curve_js``.
        fit_bc: Fit of ``curve_bc``.
    """

    n_items: int
    js: float
    bc: float
    kappa_human: float
    kappa_synthetic: float
    accuracy: float
    macro_f1: float
    entropy_human: float
    entropy_synthetic: float
    curve_js: list[float] = field(default_factory=list)
    curve_bc: list[float] = field(default_factory=list)
    n_items_curve: int = 0
    fit_js: SaturationFit = field(default_factory=lambda: SaturationFit(False, reason="not computed"))
    fit_bc: SaturationFit = field(default_factory=lambda: SaturationFit(False, reason="not computed"))


@dataclass
class ProxiesResult:
    r"""Everything the proxies analysis found (see the module docstring).

    Attributes:
        corpus: Corpus name.
        policy: The human-votes policy's settings (:meth:`LabelPolicy.to_dict`).
        source: The synthetic source compared (``<backend>:<model>``).
        classes: Class names, in the policy's order.
        ids: Compared utterance ids (with both human and synthetic votes).
        js: Per-item JS divergence (bits).
        bc: Per-item Bhattacharyya coefficient.
        ambiguity: Per-item normalised entropy of the human votes, :math:`H(h) / \log C`.
        tertile: Per-item tertile index (0 low, 1 medium, 2 high).
        tertile_edges: The 4 edges of the tertiles on the normalised-entropy scale.
        n_max: Largest N of the saturation curve (0: not computed).
        subsets: Random subsets per N.
        seed: Seed of the subsets.
        groups: ``all``, ``low``, ``medium``, ``high`` -> :class:`GroupProxies`.
        notes: What was left out and why (items without synthetic votes, ...).
    """

    corpus: str
    policy: dict[str, Any]
    source: str
    classes: list[str]
    ids: list[str]
    js: np.ndarray
    bc: np.ndarray
    ambiguity: np.ndarray
    tertile: np.ndarray
    tertile_edges: list[float]
    n_max: int
    subsets: int
    seed: int
    groups: dict[str, GroupProxies]
    notes: list[str] = field(default_factory=list)

    def to_dict(self, *, per_item: bool = True) -> dict[str, Any]:
        """JSON-ready dict (NaN written as null); per-item values under ``items`` when asked."""
        out: dict[str, Any] = {
            "corpus": self.corpus, "policy": self.policy, "source": self.source, "classes": self.classes,
            "n_items": len(self.ids), "n_max": self.n_max, "subsets": self.subsets, "seed": self.seed,
            "ambiguity": "normalised entropy of the human votes, H(h) / log(C), C = number of classes",
            "tertile_edges": self.tertile_edges,
            "groups": {k: asdict(g) for k, g in self.groups.items()}, "notes": self.notes,
        }
        if per_item:
            out["items"] = {"id": self.ids, "js": self.js.tolist(), "bc": self.bc.tolist(),
                            "ambiguity": self.ambiguity.tolist(),
                            "tertile": [TERTILES[t] for t in self.tertile.tolist()]}
        return _nan_to_none(out)

    def write_json(self, path: str | os.PathLike[str]) -> Path:
        """Write :meth:`to_dict` atomically."""
        return atomic_write_json(path, self.to_dict())


def has_synthetic_votes(table: CorpusTable) -> bool:
    """True when the table holds at least one vote of kind ``synthetic``."""
    return bool(len(table.votes)) and bool((table.votes["kind"] == SYNTHETIC_KIND).any())


def analyse_proxies(
    table: CorpusTable,
    policy: LabelPolicy,
    *,
    source: str | None = None,
    n_max: int | None = None,
    subsets: int = 5,
    seed: int = 0,
) -> ProxiesResult:
    """Compare the synthetic votes of ``table`` with its human votes (see the module docstring).

    Args:
        table: Corpus table with human and synthetic votes.
        policy: Which human raters and classes count (its ``votes`` setting is ignored: the human
            side uses ``votes="human"``, the synthetic side ``votes="synthetic"``; its
            ``synthetic_n`` and ``synthetic_source`` are kept). With ``classes=None`` the classes
            inferred from the human votes are used for both.
        source: ``<backend>:<model>`` of the synthetic annotators (needed when the table holds
            several; overrides the policy's).
        n_max: Largest N of the saturation curve; default: the fewest valid synthetic votes of a
            compared utterance. Utterances with fewer valid votes are left out of the curve.
        subsets: Random subsets per N (>= 1).
        seed: Seed of the subsets.

    Returns:
        The :class:`ProxiesResult`.

    Raises:
        LabelPolicyError: No synthetic votes, an ambiguous or absent source, no utterance with both
            kinds of votes, or sizes out of bounds.
    """
    if not 1 <= int(subsets) <= MAX_SUBSETS:
        raise LabelPolicyError(f"subsets must be in [1, {MAX_SUBSETS}], got {subsets}")
    if n_max is not None and not 1 <= int(n_max) <= MAX_N:
        raise LabelPolicyError(f"n_max must be in [1, {MAX_N}], got {n_max}")
    if not has_synthetic_votes(table):
        raise LabelPolicyError(f"the {table.corpus or 'corpus'} table holds no synthetic votes (run amber2 annotate)")
    keep_n = policy.synthetic_n if policy.uses_synthetic else None
    src = source if source is not None else (policy.synthetic_source if policy.uses_synthetic else None)
    human_pol = policy.with_votes("human", name=policy.name)
    human = human_pol.apply(table)
    if policy.classes is None:
        if len(human.classes) < 2:
            raise LabelPolicyError(f"the human votes of {table.corpus or 'the corpus'} give fewer than 2 classes")
        human_pol = human_pol.replace(classes=human.classes)
    syn_pol = human_pol.with_votes("synthetic", n=keep_n, source=src, name=policy.name)
    synthetic = syn_pol.apply(table)
    source_used = src or _only_source(table)
    with_synthetic = set(synthetic.ids)
    common = [i for i in human.ids if i in with_synthetic]
    notes = []
    if len(common) < len(human.ids):
        notes.append(f"{len(human.ids) - len(common)} of {len(human.ids)} utterances with human votes have no valid "
                     "synthetic vote and are left out")
    if not common:
        raise LabelPolicyError("no utterance has both human and synthetic votes under this policy")
    h, s = human.select(common), synthetic.select(common)
    classes = list(h.classes)
    ph, ps = _freq(h), _freq(s)
    js = js_divergence_per_item(ph, ps, base=2)
    bc = bhattacharyya_per_item(ph, ps)
    amb = entropy(ph, base=2) / math.log2(len(classes))
    edges = equal_count_edges(amb, n_bins=len(TERTILES))
    tertile = assign_bins(amb, edges)

    pool = _synthetic_pool(table, syn_pol, common, classes)
    counts_valid = np.array([len(p) for p in pool])
    n_curve = int(n_max) if n_max is not None else int(counts_valid.min())
    curve_rows = np.flatnonzero(counts_valid >= n_curve)
    if n_max is not None and len(curve_rows) < len(common):
        notes.append(f"{len(common) - len(curve_rows)} utterance(s) have fewer than n_max = {n_curve} valid synthetic "
                     "votes and are left out of the saturation curve")
    per_item_js, per_item_bc = _saturation(ph[curve_rows], [pool[i] for i in curve_rows], n_curve, len(classes),
                                           int(subsets), int(seed))

    groups: dict[str, GroupProxies] = {}
    for name, mask in [("all", np.ones(len(common), dtype=bool)),
                       *[(t, tertile == k) for k, t in enumerate(TERTILES)]]:
        in_curve = mask[curve_rows]
        groups[name] = _group(ph[mask], ps[mask], h.counts[mask], s.counts[mask], js[mask], bc[mask],
                              per_item_js[:, in_curve], per_item_bc[:, in_curve])
    log.info("proxies on %s (%s): %d utterances, mean JS %.3f, mean BC %.3f", table.corpus, source_used,
             len(common), groups["all"].js, groups["all"].bc)
    return ProxiesResult(
        corpus=table.corpus, policy=human_pol.to_dict(), source=source_used, classes=classes, ids=common,
        js=js, bc=bc, ambiguity=amb, tertile=tertile, tertile_edges=[float(e) for e in edges], n_max=n_curve,
        subsets=int(subsets), seed=int(seed), groups=groups, notes=notes,
    )


# ---------------------------------------------------------------------- helpers
def _freq(ls: LabelSet) -> np.ndarray:
    """Raw vote frequencies n_c / N (no smoothing, no rounding)."""
    return ls.counts / ls.n_votes[:, None]


def _only_source(table: CorpusTable) -> str:
    return next(iter(synthetic_sources(table)))


def _synthetic_pool(table: CorpusTable, policy: LabelPolicy, ids: list[str],
                    classes: list[str]) -> list[np.ndarray]:
    """Per utterance of ``ids``, its valid synthetic votes as class indices, by annotator index.

    A vote row of weight k counts as k votes (k whole: the saturation curve draws whole votes);
    weight 0 is no vote.

    Raises:
        LabelPolicyError: A synthetic vote row whose weight is not a whole number (names item and rater).
    """
    _, syn = select_vote_rows(policy, table)
    votes = table.votes.iloc[np.flatnonzero(syn)]
    cidx = {c: k for k, c in enumerate(classes)}
    merge = policy.merge_map
    raters = votes["rater"].tolist()
    index = {r: parse_synthetic_rater(str(r)).index for r in set(raters)}  # parse each rater once
    per_item: dict[str, list[tuple[int, int]]] = {}
    for uid, rater, labels, w in zip(votes["id"].tolist(), raters, votes["labels"].tolist(),
                                     votes["weight"].tolist(), strict=True):
        if float(w) != int(w):
            raise LabelPolicyError(f"item {uid!r}: synthetic vote of {rater!r} has weight {w}, not a whole number "
                                   "of votes (the saturation curve draws whole votes)")
        if len(labels) == 0:
            continue
        k = cidx.get(merge.get(labels[0], labels[0]), -1)
        if k >= 0:
            per_item.setdefault(str(uid), []).extend([(index[rater], k)] * int(w))
    return [np.array([k for _, k in sorted(per_item.get(i, []))], dtype=np.int64) for i in ids]


def _saturation(ph: np.ndarray, pool: list[np.ndarray], n_max: int, n_classes: int, subsets: int,
                seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-item JS / BC (averaged over subsets) at N = 1..n_max, each (n_max, n_items)."""
    n = len(pool)
    if n == 0 or n_max < 1:
        return np.zeros((0, n)), np.zeros((0, n))
    votes = np.stack([p[:n_max] for p in pool])  # the first n_max valid votes of each utterance
    rng = np.random.default_rng(seed)
    js = np.zeros((n_max, n))
    bc = np.zeros((n_max, n))
    rows = np.arange(n)[:, None]
    for _ in range(subsets):
        order = rng.random((n, n_max)).argsort(axis=1)  # one random order per utterance and subset
        shuffled = votes[rows, order]
        counts = np.zeros((n, n_classes))
        for k in range(n_max):  # the first N of the random order: a random N-subset
            counts[np.arange(n), shuffled[:, k]] += 1.0
            p = counts / (k + 1)
            js[k] += js_divergence_per_item(ph, p, base=2)
            bc[k] += bhattacharyya_per_item(ph, p)
    return js / subsets, bc / subsets


def _group(ph: np.ndarray, ps: np.ndarray, ch: np.ndarray, cs: np.ndarray, js: np.ndarray, bc: np.ndarray,
           curve_js: np.ndarray, curve_bc: np.ndarray) -> GroupProxies:
    n = len(ph)
    nan = float("nan")
    if n == 0:
        return GroupProxies(0, nan, nan, nan, nan, nan, nan, nan, nan)
    cj = curve_js.mean(axis=1).tolist() if curve_js.size else []
    cb = curve_bc.mean(axis=1).tolist() if curve_bc.size else []
    ns = list(range(1, len(cj) + 1))
    reason = "no utterance of this group has N_max valid synthetic votes"
    return GroupProxies(
        n_items=n, js=float(js.mean()), bc=float(bc.mean()),
        kappa_human=fleiss_kappa(ch), kappa_synthetic=fleiss_kappa(cs),
        accuracy=accuracy(ph, ps), macro_f1=macro_f1(ph, ps),
        entropy_human=float(entropy(ph, base=2).mean()), entropy_synthetic=float(entropy(ps, base=2).mean()),
        curve_js=cj, curve_bc=cb, n_items_curve=int(curve_js.shape[1]) if curve_js.ndim == 2 else 0,
        fit_js=fit_saturation(ns, cj) if cj else SaturationFit(False, reason=reason),
        fit_bc=fit_saturation(ns, cb) if cb else SaturationFit(False, reason=reason),
    )


def _nan_to_none(obj: Any) -> Any:
    if isinstance(obj, float):
        return None if not math.isfinite(obj) else obj
    if isinstance(obj, dict):
        return {k: _nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_nan_to_none(v) for v in obj]
    return obj
