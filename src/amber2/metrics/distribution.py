r"""Distributional metrics: per-utterance values, then the arithmetic mean over the whole set.

Every metric compares a truth distribution ``t`` (the raters' votes, Eq. 1) with a predicted
distribution ``p`` over the same ``C`` classes, utterance by utterance; the set-level score is the plain
mean of the per-utterance values over the **whole** set (never per batch, then over batches).

Conventions (see ``docs/metrics_and_losses.md``):

* natural logarithm unless a ``base`` is given; terms with a zero first argument contribute 0
  (:math:`0 \log 0 = 0`);
* ``js_distance`` is the paper-compatible "JS" (AER-LLM, ICASSP 2025): the **square root** of the
  Jensen-Shannon divergence in nats, range :math:`[0, \sqrt{\ln 2}]`;
* ``r2_pearson`` is the paper-compatible "R²": the squared Pearson correlation between the two
  ``C``-vectors of one utterance (population statistics, ``+1e-10`` in the denominator). The coefficient
  of determination :math:`1 - SS_{res}/SS_{tot}` is a different metric with its own names
  (``r2_determination``, ``r2_determination_flat``).

The private ``_*_items`` functions accept any leading batch dimensions ``(..., n, C)`` and return
``(..., n)``; :func:`amber2.metrics.evaluate_many` uses them to score many runs at once.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np

from amber2.metrics._validation import as_distribution_set, check_pair

__all__ = [
    "bhattacharyya",
    "bhattacharyya_per_item",
    "entropy",
    "js_distance",
    "js_distance_per_item",
    "js_divergence",
    "js_divergence_per_item",
    "kl_divergence",
    "kl_divergence_per_item",
    "r2_determination",
    "r2_determination_flat",
    "r2_determination_per_item",
    "r2_pearson",
    "r2_pearson_per_item",
    "row_entropy",
]

#: Added to ``var(t) var(p)`` in the paper-compatible R² (AER-LLM's convention).
R2_PEARSON_EPS = 1e-10
#: Smoothing of the second argument of KL: ``q <- (q + eps) / (1 + C eps)``.
KL_EPS = 1e-8
#: Argument order of KL: ``"truth||prediction"`` (amber2's ``kl``) or ``"prediction||truth"`` (the order of
#: AER-LLM's evaluation code; the ``kl_reverse`` metric).
KLDirection = Literal["truth||prediction", "prediction||truth"]
KL_DIRECTIONS: tuple[str, ...] = ("truth||prediction", "prediction||truth")
#: ``SS_tot`` at or below this counts as zero (a uniform truth vector) in the coefficient of determination.
SS_TOT_ZERO = 1e-12


def _check_base(base: float) -> float:
    base = float(base)
    if not (base > 0 and base != 1 and math.isfinite(base)):
        raise ValueError(f"base must be a positive number other than 1; got {base}")
    return math.log(base)


def _set_mean(values: np.ndarray) -> float:
    """Mean of per-utterance values over the last axis as a float; NaN for an empty set."""
    if values.shape[-1] == 0:
        return float("nan")
    return float(np.mean(values, axis=-1))


def _xlogy_ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Elementwise ``a * ln(a / b)`` with ``0`` where ``a == 0`` (``b > 0`` wherever ``a > 0``)."""
    shape = np.broadcast_shapes(a.shape, b.shape)
    a = np.broadcast_to(a, shape)
    pos = (a > 0) & (b > 0)
    ratio = np.divide(a, b, out=np.ones(shape), where=pos)  # 1 (log 0) wherever a term is 0
    return a * np.log(ratio)


# --------------------------------------------------------------------------- per-item cores (..., n, C)


def _js_divergence_items(t: np.ndarray, p: np.ndarray, log_base: float = 1.0) -> np.ndarray:
    m = 0.5 * (t + p)
    js = 0.5 * _xlogy_ratio(t, m).sum(axis=-1) + 0.5 * _xlogy_ratio(p, m).sum(axis=-1)
    return np.clip(js, 0.0, math.log(2.0)) / log_base


def _js_distance_items(t: np.ndarray, p: np.ndarray, log_base: float = 1.0) -> np.ndarray:
    return np.sqrt(_js_divergence_items(t, p, log_base))


def _bc_items(t: np.ndarray, p: np.ndarray) -> np.ndarray:
    return np.clip(np.sqrt(t * p).sum(axis=-1), 0.0, 1.0)


def _r2_pearson_items(t: np.ndarray, p: np.ndarray, eps: float = R2_PEARSON_EPS) -> np.ndarray:
    tc = t - t.mean(axis=-1, keepdims=True)
    pc = p - p.mean(axis=-1, keepdims=True)
    cov = (tc * pc).mean(axis=-1)
    var_t = (tc * tc).mean(axis=-1)
    var_p = (pc * pc).mean(axis=-1)
    return cov * cov / (var_t * var_p + eps)


def _r2_determination_items(t: np.ndarray, p: np.ndarray) -> np.ndarray:
    ss_res = ((t - p) ** 2).sum(axis=-1)
    ss_tot = ((t - t.mean(axis=-1, keepdims=True)) ** 2).sum(axis=-1)
    ss_res, ss_tot = np.broadcast_arrays(ss_res, ss_tot)
    degenerate = ss_tot <= SS_TOT_ZERO
    out = np.empty(ss_res.shape, dtype=np.float64)
    out[~degenerate] = 1.0 - ss_res[~degenerate] / ss_tot[~degenerate]
    # sklearn's r2_score(force_finite=True): a constant truth gives 1 for a perfect fit, else 0.
    out[degenerate] = np.where(ss_res[degenerate] <= SS_TOT_ZERO, 1.0, 0.0)
    return out


def _r2_determination_flat_set(t: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Set-level (..., n, C) -> (...): 1 - SS_res / SS_tot over all n*C entries of each run."""
    if t.shape[-2] == 0:
        return np.full(np.broadcast_shapes(t.shape, p.shape)[:-2], np.nan)
    ss_res = ((t - p) ** 2).sum(axis=(-2, -1))
    ss_tot = ((t - t.mean(axis=(-2, -1), keepdims=True)) ** 2).sum(axis=(-2, -1))
    ss_res, ss_tot = np.broadcast_arrays(ss_res, ss_tot)
    regular = ss_tot > SS_TOT_ZERO
    out = np.empty(ss_res.shape, dtype=np.float64)
    out[regular] = 1.0 - ss_res[regular] / ss_tot[regular]
    out[~regular] = np.where(ss_res[~regular] <= SS_TOT_ZERO, 1.0, 0.0)
    return out


def _kl_items(t: np.ndarray, p: np.ndarray, eps: float = KL_EPS) -> np.ndarray:
    """KL(t || q) per item, q = p smoothed by ``eps`` (the first argument is never smoothed)."""
    n_classes = p.shape[-1]
    q = (p + eps) / (1.0 + n_classes * eps)
    kl = np.maximum(_xlogy_ratio(t, q).sum(axis=-1), 0.0)
    # t_c > 0 = q_c (only possible with eps = 0): KL is +inf
    return np.where(((t > 0) & (q <= 0)).any(axis=-1), np.inf, kl)


def _kl_reverse_items(t: np.ndarray, p: np.ndarray, eps: float = KL_EPS) -> np.ndarray:
    """KL(p || t') per item, t' = the truth smoothed by ``eps`` (AER-LLM's argument order)."""
    return _kl_items(p, t, eps)


def row_entropy(distributions: Any, *, base: float = 2.0) -> np.ndarray:
    r"""Shannon entropy of each row, :math:`H(p) = -\sum_c p_c \log_b p_c`, without input checks.

    The one entropy of the package: :func:`entropy` (checked), the ambiguity bins, label sets, folds,
    the prepare summary, predictions and the simulated corpus all call it. Entries :math:`\le 0` contribute
    0 (:math:`0 \log 0 = 0`); the result is clipped at 0. Base 2 uses ``log2`` and base e ``log`` directly
    (exact powers of two give exact bits); other bases divide the natural logarithm by :math:`\ln b`.

    Args:
        distributions: Array ``(..., C)`` of distributions the caller made (no validation).
        base: Logarithm base ``b`` (default 2: bits).

    Returns:
        float64 array ``(...)``.

    Raises:
        ValueError: ``base`` is not a positive number other than 1.
    """
    log_base = _check_base(base)
    p = np.asarray(distributions, dtype=np.float64)
    pos = p > 0
    terms = np.zeros(p.shape, dtype=np.float64)
    if base == 2:
        terms[pos] = -p[pos] * np.log2(p[pos])
        return np.maximum(terms.sum(axis=-1), 0.0)
    terms[pos] = -p[pos] * np.log(p[pos])
    if base == math.e:
        return np.maximum(terms.sum(axis=-1), 0.0)
    return np.maximum(terms.sum(axis=-1), 0.0) / log_base


# --------------------------------------------------------------------------- public per-item functions


def js_divergence_per_item(truth: Any, prediction: Any, *, base: float = math.e) -> np.ndarray:
    r"""Jensen-Shannon divergence of each utterance.

    .. math::
        JS(t \| p) = \tfrac12 KL(t \| m) + \tfrac12 KL(p \| m), \quad m = \tfrac12 (t + p),

    with :math:`0 \log 0 = 0`, divided by :math:`\ln(\text{base})`.

    Args:
        truth: Truth distributions, shape ``(n, C)``, rows summing to 1.
        prediction: Predicted distributions, shape ``(n, C)``.
        base: Logarithm base (``math.e``: nats, range :math:`[0, \ln 2]`; ``2``: bits, range [0, 1]).

    Returns:
        Array of shape ``(n,)``; 0 for identical distributions.

    Raises:
        ValueError: Invalid shapes or rows (see :func:`amber2.metrics.js_distance`).

    Examples:
        >>> js_divergence_per_item([[1.0, 0.0]], [[0.0, 1.0]], base=2).round(6).tolist()
        [1.0]
    """
    log_base = _check_base(base)
    t, p = check_pair(truth, prediction)
    return _js_divergence_items(t, p, log_base)


def js_distance_per_item(truth: Any, prediction: Any, *, base: float = math.e) -> np.ndarray:
    r"""Jensen-Shannon distance :math:`\sqrt{JS(t \| p)}` of each utterance (paper-compatible "JS").

    Args:
        truth: Truth distributions, shape ``(n, C)``.
        prediction: Predicted distributions, shape ``(n, C)``.
        base: Logarithm base of the divergence under the root (default ``e``: range
            :math:`[0, \sqrt{\ln 2}] \approx [0, 0.8326]`).

    Returns:
        Array of shape ``(n,)``.

    Examples:
        >>> js_distance_per_item([[0.5, 0.5, 0, 0]], [[0.7, 0.1, 0.1, 0.1]]).round(4).tolist()
        [0.3879]
    """
    log_base = _check_base(base)
    t, p = check_pair(truth, prediction)
    return _js_distance_items(t, p, log_base)


def bhattacharyya_per_item(truth: Any, prediction: Any) -> np.ndarray:
    r"""Bhattacharyya coefficient :math:`BC = \sum_c \sqrt{t_c p_c}` of each utterance.

    Returns:
        Array of shape ``(n,)`` in [0, 1] (1: identical distributions; higher is better).

    Examples:
        >>> bhattacharyya_per_item([[1.0, 0.0]], [[0.25, 0.75]]).tolist()
        [0.5]
    """
    t, p = check_pair(truth, prediction)
    return _bc_items(t, p)


def r2_pearson_per_item(truth: Any, prediction: Any, *, eps: float = R2_PEARSON_EPS) -> np.ndarray:
    r"""Paper-compatible R²: squared Pearson correlation between the ``C``-vectors of each utterance.

    .. math::
        R^2 = \frac{\mathrm{cov}(t, p)^2}{\mathrm{var}(t)\,\mathrm{var}(p) + \epsilon}

    with population statistics over the ``C`` classes (``ddof=0``) and :math:`\epsilon = 10^{-10}`
    (AER-LLM's convention). A constant truth vector (uniform votes) gives 0; an anti-correlated
    prediction still scores > 0 (the square hides the sign).

    Args:
        truth: Truth distributions, shape ``(n, C)``.
        prediction: Predicted distributions, shape ``(n, C)``.
        eps: Constant added to the denominator.

    Returns:
        Array of shape ``(n,)`` in [0, 1].

    Examples:
        >>> r2_pearson_per_item([[1, 0, 0, 0]], [[0, 1, 0, 0]]).round(4).tolist()
        [0.1111]
    """
    t, p = check_pair(truth, prediction)
    return _r2_pearson_items(t, p, float(eps))


def r2_determination_per_item(truth: Any, prediction: Any) -> np.ndarray:
    r"""Coefficient of determination of each utterance, :math:`1 - SS_{res} / SS_{tot}` over its classes.

    .. math::
        R^2_{det} = 1 - \frac{\sum_c (t_c - p_c)^2}{\sum_c (t_c - \bar t)^2}

    Not the paper's R² (that is :func:`r2_pearson_per_item`). A constant (uniform) truth vector has
    :math:`SS_{tot} = 0`: like ``sklearn.metrics.r2_score`` it then scores 1 for a perfect prediction
    and 0 otherwise.

    Returns:
        Array of shape ``(n,)`` in :math:`(-\infty, 1]`.

    Examples:
        >>> r2_determination_per_item([[2/3, 1/3, 0, 0]], [[0.6, 0.2, 0.1, 0.1]]).round(4).tolist()
        [0.8618]
    """
    t, p = check_pair(truth, prediction)
    return _r2_determination_items(t, p)


def kl_divergence_per_item(truth: Any, prediction: Any, *, eps: float = KL_EPS,
                           direction: KLDirection = "truth||prediction") -> np.ndarray:
    r"""Kullback-Leibler divergence :math:`KL(t \| q) = \sum_c t_c \ln(t_c / q_c)` of each utterance.

    The second argument is smoothed so that a zero where the first has mass stays finite:
    :math:`q = (p + \epsilon) / (1 + C\epsilon)` (still a distribution, so KL >= 0),
    :math:`\epsilon = 10^{-8}` by default. ``direction="prediction||truth"`` swaps the arguments,
    :math:`KL(p \| t')` with the truth smoothed, the order in which AER-LLM's evaluation code calls it.

    Args:
        truth: Truth distributions ``t``, shape ``(n, C)``.
        prediction: Predicted distributions ``p``, shape ``(n, C)``.
        eps: Smoothing of the second argument (0 gives ``inf`` where it is 0 and the first is not).
        direction: ``"truth||prediction"`` (default; metric ``kl``) or ``"prediction||truth"`` (``kl_reverse``).

    Returns:
        Array of shape ``(n,)`` in :math:`[0, \infty)` (nats).

    Raises:
        ValueError: ``eps < 0``, an unknown direction, or invalid distributions.

    Examples:
        >>> kl_divergence_per_item([[0.5, 0.5]], [[0.5, 0.5]]).tolist()
        [0.0]
        >>> kl_divergence_per_item([[1.0, 0.0]], [[0.5, 0.5]], direction="prediction||truth").round(3).tolist()
        [8.517]
    """
    if not eps >= 0:
        raise ValueError(f"eps must be >= 0; got {eps}")
    if direction not in KL_DIRECTIONS:
        raise ValueError(f"direction must be one of {KL_DIRECTIONS}; got {direction!r}")
    t, p = check_pair(truth, prediction)
    core = _kl_items if direction == "truth||prediction" else _kl_reverse_items
    with np.errstate(divide="ignore"):
        return core(t, p, float(eps))


def entropy(distributions: Any, *, base: float = 2.0) -> np.ndarray:
    r"""Shannon entropy of each distribution, :math:`H(t) = -\sum_c t_c \log_b t_c` (0 log 0 = 0).

    Used as the **ambiguity** of an utterance when applied to its truth distribution.

    Args:
        distributions: Shape ``(n, C)``, rows summing to 1.
        base: Logarithm base ``b`` (default 2: bits, range :math:`[0, \log_2 C]`).

    Returns:
        Array of shape ``(n,)``.

    Examples:
        >>> entropy([[0.5, 0.5, 0, 0], [0.25, 0.25, 0.25, 0.25]]).tolist()
        [1.0, 2.0]
    """
    _check_base(base)
    return row_entropy(as_distribution_set(distributions, "distributions"), base=base)


# --------------------------------------------------------------------------- public set-level functions


def js_distance(truth: Any, prediction: Any, *, base: float = math.e) -> float:
    r"""Mean Jensen-Shannon **distance** over the set (the paper's "JS"; lower is better).

    .. math::
        \mathrm{JS} = \frac1n \sum_i \sqrt{\tfrac12 KL(t_i \| m_i) + \tfrac12 KL(p_i \| m_i)},
        \quad m_i = \tfrac12 (t_i + p_i)

    natural logarithm by default, terms with a zero first argument contributing 0.

    Args:
        truth: Truth distributions, shape ``(n, C)``; rows non-negative and summing to 1 (within
            ``amber2.metrics.ROW_SUM_ATOL``).
        prediction: Predicted distributions, same shape.
        base: Logarithm base of the divergence under the root.

    Returns:
        Mean in :math:`[0, \sqrt{\ln 2}] \approx [0, 0.8326]`; NaN for an empty set.

    Raises:
        ValueError: Not 2-D, shapes differ, NaN/inf, negative entries, or rows not summing to 1 (the
            message names the first bad rows).

    Examples:
        >>> round(js_distance([[1, 0, 0, 0]], [[0, 1, 0, 0]]), 4)
        0.8326
    """
    return _set_mean(js_distance_per_item(truth, prediction, base=base))


def js_divergence(truth: Any, prediction: Any, *, base: float = math.e) -> float:
    r"""Mean Jensen-Shannon **divergence** over the set (no square root; lower is better).

    Returns:
        Mean in :math:`[0, \ln 2]` (base ``e``) or [0, 1] (base 2); NaN for an empty set.

    Examples:
        >>> round(js_divergence([[1, 0]], [[0, 1]], base=2), 6)
        1.0
    """
    return _set_mean(js_divergence_per_item(truth, prediction, base=base))


def bhattacharyya(truth: Any, prediction: Any) -> float:
    r"""Mean Bhattacharyya coefficient :math:`\frac1n\sum_i \sum_c \sqrt{t_{ic} p_{ic}}` (higher is better).

    Returns:
        Mean in [0, 1]; NaN for an empty set.

    Examples:
        >>> round(bhattacharyya([[0.5, 0.5, 0, 0]], [[0.7, 0.1, 0.1, 0.1]]), 4)
        0.8152
    """
    return _set_mean(bhattacharyya_per_item(truth, prediction))


def r2_pearson(truth: Any, prediction: Any, *, eps: float = R2_PEARSON_EPS) -> float:
    r"""Mean paper-compatible R² (squared per-utterance Pearson correlation; higher is better).

    See :func:`r2_pearson_per_item` for the per-utterance definition.

    Returns:
        Mean in [0, 1]; NaN for an empty set.

    Examples:
        >>> round(r2_pearson([[2/3, 1/3, 0, 0]], [[0.6, 0.2, 0.1, 0.1]]), 4)
        0.9037
    """
    return _set_mean(r2_pearson_per_item(truth, prediction, eps=eps))


def r2_determination(truth: Any, prediction: Any) -> float:
    r"""Mean per-utterance coefficient of determination (not the paper's R²; higher is better).

    Returns:
        Mean in :math:`(-\infty, 1]`; NaN for an empty set.
    """
    return _set_mean(r2_determination_per_item(truth, prediction))


def r2_determination_flat(truth: Any, prediction: Any) -> float:
    r"""Coefficient of determination over all ``n*C`` entries flattened (``sklearn.metrics.r2_score``).

    .. math::
        R^2_{flat} = 1 - \frac{\sum_{i,c} (t_{ic} - p_{ic})^2}{\sum_{i,c} (t_{ic} - \bar t)^2},
        \quad \bar t = \frac{1}{nC}\sum_{i,c} t_{ic} = \frac1C

    A set-level statistic (not a mean of per-utterance values).

    Returns:
        Value in :math:`(-\infty, 1]`; NaN for an empty set.
    """
    t, p = check_pair(truth, prediction)
    return float(_r2_determination_flat_set(t, p))


def kl_divergence(truth: Any, prediction: Any, *, eps: float = KL_EPS,
                  direction: KLDirection = "truth||prediction") -> float:
    r"""Mean :math:`KL(t \| q)` over the set, prediction smoothed by ``eps`` (lower is better).

    See :func:`kl_divergence_per_item` (``direction="prediction||truth"``: :math:`KL(p \| t')`).

    Returns:
        Mean in :math:`[0, \infty)` nats; NaN for an empty set.
    """
    return _set_mean(kl_divergence_per_item(truth, prediction, eps=eps, direction=direction))
