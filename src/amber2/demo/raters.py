r"""Simulated raters: how a listener turns an utterance's voice and words into one vote.

Every rater :math:`r` of a fixed pool has a **reliance on the voice** :math:`w_r \in [0, 1]` (1 - w_r
on the words), a **perceptual noise** level :math:`\sigma_r` and a **response bias** :math:`b_r \in
\mathbb{R}^C` (some raters say *neutral* more readily than others). Rating item :math:`i`, the rater
perceives the prosodic cue :math:`v_i` (see :mod:`amber2.demo.voice`) and the lexical strengths
:math:`S_i` (see :mod:`amber2.demo.lexicon`) with noise,

.. math::

    \tilde v = v_i + \sigma_r \sigma_V\,\epsilon, \qquad
    \tilde S = S_i + \sigma_r \sigma_T\,\epsilon', \qquad \epsilon, \epsilon' \sim \mathcal{N}(0, I),

turns each channel into class evidence (neutral is the reference, evidence 0)

.. math::

    \ell^V_c(\tilde v) = \gamma_V \left(\tilde v \cdot P_c - \tfrac{\tau_V}{2} \lVert P_c \rVert^2\right),
    \qquad
    \ell^T_c(\tilde S) = \gamma_T \left(\tilde S_c - \tau_T\right) \;(c \ne \text{neutral}),

(a linear discriminant against the class prototypes :math:`P_c`, which says *neutral* until the voice
has moved a share :math:`\tau_V/2` of the way to a prototype; and a lexical threshold :math:`\tau_T`),
combines them with its reliance and votes one class at random from

.. math::

    z_c = w_r\,\ell^V_c + (1 - w_r)\,\ell^T_c + b_{r,c}, \qquad
    \Pr(\text{vote} = c) = \operatorname{softmax}(z)_c.

Evidence grows with intensity, so weak items get spread-out votes (rater ambiguity), and items whose
channels disagree split raters by their reliance (modality ambiguity). The rater-free **true
distribution** of an item is the expected vote of a rater drawn uniformly from the pool,

.. math::

    p^{\text{true}}_i = \frac{1}{R} \sum_r
        \mathbb{E}_{\epsilon, \epsilon'}\left[\operatorname{softmax}(z_{ir})\right],

estimated by Monte Carlo with common random numbers; with raters drawn uniformly without replacement
it equals the expected soft label :math:`\mathbb{E}[y_i]` of Eq. 1 for any number of raters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import softmax

from amber2.demo.lexicon import CLASSES
from amber2.demo.voice import prosody_prototypes

__all__ = [
    "BIAS_SD",
    "NOISE_RANGE",
    "RELIANCE_BETA",
    "TRUE_DRAWS",
    "EvidenceModel",
    "RaterPool",
    "draw_rater_pool",
    "rater_logits",
    "sample_votes",
    "true_distribution",
]

#: Defaults of the rater pool (:func:`draw_rater_pool`) and of the true distributions
#: (:func:`true_distribution`); :class:`amber2.demo.synth.SimulationConfig` takes them from here.
RELIANCE_BETA: tuple[float, float] = (2.0, 2.0)
NOISE_RANGE: tuple[float, float] = (0.5, 1.5)
BIAS_SD: float = 0.3
TRUE_DRAWS: int = 128


@dataclass(frozen=True)
class EvidenceModel:
    r"""How strongly the channels speak to a rater (see the module docstring).

    Attributes:
        voice_gain: :math:`\gamma_V`, logits per cue unit of projection on a prototype.
        voice_threshold: :math:`\tau_V`, share of the way to a prototype where the voice stops
            sounding neutral, times two (0.5: a quarter of the way).
        text_gain: :math:`\gamma_T`, logits per unit of lexical strength.
        text_threshold: :math:`\tau_T`, lexical strength at which a class ties with neutral.
        voice_noise: :math:`\sigma_V`, perceptual noise on the cue (cue units) for a rater with
            :math:`\sigma_r = 1`.
        text_noise: :math:`\sigma_T`, perceptual noise on the lexical strengths for :math:`\sigma_r = 1`.
    """

    voice_gain: float = 0.45
    voice_threshold: float = 0.7
    text_gain: float = 1.8
    text_threshold: float = 0.6
    voice_noise: float = 0.6
    text_noise: float = 0.5

    def voice_evidence(self, cue: np.ndarray) -> np.ndarray:
        r""":math:`\ell^V(v)` for cues of shape ``(..., 7)`` -> ``(..., 4)``."""
        P = prosody_prototypes()
        return self.voice_gain * (np.asarray(cue) @ P.T - 0.5 * self.voice_threshold * (P * P).sum(1))

    def text_evidence(self, strength: np.ndarray) -> np.ndarray:
        r""":math:`\ell^T(S)` for strengths of shape ``(..., 4)`` -> ``(..., 4)`` (neutral stays 0)."""
        S = np.asarray(strength, dtype=np.float64)
        out = self.text_gain * (S - self.text_threshold)
        out[..., 0] = 0.0
        return out


@dataclass(frozen=True)
class RaterPool:
    r"""A fixed pool of simulated raters.

    Attributes:
        ids: Rater ids (``rater00``...).
        voice_reliance: :math:`w_r` in [0, 1], shape ``(R,)``.
        noise: :math:`\sigma_r` > 0, shape ``(R,)``.
        bias: :math:`b_r`, shape ``(R, 4)`` in :data:`CLASSES` order (centred per rater).
    """

    ids: tuple[str, ...]
    voice_reliance: np.ndarray
    noise: np.ndarray
    bias: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)


def draw_rater_pool(
    rng: np.random.Generator,
    n: int,
    *,
    reliance_beta: tuple[float, float] = RELIANCE_BETA,
    noise_range: tuple[float, float] = NOISE_RANGE,
    bias_sd: float = BIAS_SD,
) -> RaterPool:
    r"""Draw a rater pool.

    :math:`w_r \sim \mathrm{Beta}(a, b)`, :math:`\sigma_r \sim U(lo, hi)`,
    :math:`b_r \sim \mathcal{N}(0, s^2 I)` centred to mean 0 over classes.

    Args:
        rng: Random generator (consumed).
        n: Pool size (>= 1).
        reliance_beta: Beta parameters (a, b) of the voice reliance.
        noise_range: Range of the per-rater noise multiplier.
        bias_sd: Standard deviation of the per-class response bias (logits).

    Returns:
        The :class:`RaterPool`.
    """
    w = rng.beta(reliance_beta[0], reliance_beta[1], size=n)
    sig = rng.uniform(noise_range[0], noise_range[1], size=n)
    b = rng.normal(0.0, bias_sd, size=(n, len(CLASSES)))
    b -= b.mean(axis=1, keepdims=True)
    width = max(2, len(str(n - 1)))
    ids = tuple(f"rater{i:0{width}d}" for i in range(n))
    return RaterPool(ids, np.round(w, 6), np.round(sig, 6), np.round(b, 6))


def rater_logits(
    model: EvidenceModel,
    cue: np.ndarray,
    strength: np.ndarray,
    reliance: np.ndarray,
    noise: np.ndarray,
    bias: np.ndarray,
    eps_voice: np.ndarray,
    eps_text: np.ndarray,
) -> np.ndarray:
    r"""Class scores :math:`z` of raters perceiving items with the given noise draws (broadcasting).

    Args:
        model: The evidence model.
        cue: Prosodic cues, shape ``(..., 7)``.
        strength: Lexical strengths, shape ``(..., 4)``.
        reliance: :math:`w_r`, shape ``(...)``.
        noise: :math:`\sigma_r`, shape ``(...)``.
        bias: :math:`b_r`, shape ``(..., 4)``.
        eps_voice: Standard normal draws, shape ``(..., 7)``.
        eps_text: Standard normal draws, shape ``(..., 4)``.

    Returns:
        :math:`z`, shape ``(..., 4)``.
    """
    sv = (noise * model.voice_noise)[..., None]
    st = (noise * model.text_noise)[..., None]
    lv = model.voice_evidence(cue + sv * eps_voice)
    lt = model.text_evidence(strength + st * eps_text)
    w = reliance[..., None]
    return w * lv + (1.0 - w) * lt + bias


def sample_votes(
    rng: np.random.Generator,
    model: EvidenceModel,
    pool: RaterPool,
    cue: np.ndarray,
    strength: np.ndarray,
    raters_per_item: tuple[int, int],
) -> list[list[tuple[int, int]]]:
    """Draw each item's raters (uniformly, without replacement) and their votes.

    Args:
        rng: Random generator (consumed).
        model: The evidence model.
        pool: The rater pool.
        cue: Prosodic cues, shape ``(n, 7)``.
        strength: Lexical strengths, shape ``(n, 4)``.
        raters_per_item: Inclusive range (lo, hi) of the number of raters per item.

    Returns:
        Per item, a list of ``(rater index, class index)`` sorted by rater index.
    """
    lo, hi = raters_per_item
    out: list[list[tuple[int, int]]] = []
    for i in range(cue.shape[0]):
        k = int(rng.integers(lo, hi + 1))
        who = np.sort(rng.choice(len(pool), size=k, replace=False))
        z = rater_logits(
            model, cue[i][None, :], strength[i][None, :], pool.voice_reliance[who], pool.noise[who],
            pool.bias[who], rng.standard_normal((k, cue.shape[1])), rng.standard_normal((k, len(CLASSES))),
        )
        p = softmax(z, axis=-1)
        u = rng.random(k)
        votes = np.minimum((np.cumsum(p, axis=1) < u[:, None]).sum(axis=1), len(CLASSES) - 1)
        out.append([(int(r), int(c)) for r, c in zip(who, votes)])
    return out


def true_distribution(
    rng: np.random.Generator,
    model: EvidenceModel,
    pool: RaterPool,
    cue: np.ndarray,
    strength: np.ndarray,
    *,
    draws: int = TRUE_DRAWS,
    chunk: int = 64,
) -> np.ndarray:
    """Expected vote distribution over the pool and the perceptual noise (Monte Carlo).

    Uses the same ``draws`` noise samples for every item and rater (common random numbers), so items
    differ only by their cues.

    Args:
        rng: Random generator for the noise draws (consumed).
        model: The evidence model.
        pool: The rater pool.
        cue: Prosodic cues, shape ``(n, 7)``.
        strength: Lexical strengths, shape ``(n, 4)``.
        draws: Noise draws per rater.
        chunk: Items per vectorised block (memory: chunk x R x draws x 4 floats).

    Returns:
        ``(n, 4)`` float64, rows summing to 1.
    """
    C = len(CLASSES)
    ev = rng.standard_normal((draws, cue.shape[1]))
    et = rng.standard_normal((draws, C))
    # both evidences are linear in the perceived cue, so z splits into an item part and a noise part:
    # z[i, r, k] = (w_r l^V(v_i) + (1 - w_r) l^T(S_i) + b_r) + sigma_r (w_r n^V_k + (1 - w_r) n^T_k)
    w = pool.voice_reliance[:, None]
    lv, lt = model.voice_evidence(cue), model.text_evidence(strength)
    nv = model.voice_evidence(model.voice_noise * ev) - model.voice_evidence(np.zeros(cue.shape[1]))
    nt = model.text_evidence(model.text_noise * et) - model.text_evidence(np.zeros(C))
    A = w[None] * lv[:, None, :] + (1.0 - w[None]) * lt[:, None, :] + pool.bias[None]  # (n, R, C)
    B = pool.noise[:, None, None] * (w[:, None] * nv[None] + (1.0 - w[:, None]) * nt[None])  # (R, K, C)
    out = np.empty((cue.shape[0], C))
    for a in range(0, cue.shape[0], chunk):
        b = min(a + chunk, cue.shape[0])
        out[a:b] = softmax(A[a:b, :, None, :] + B[None], axis=-1).mean(axis=(1, 2))
    return out
