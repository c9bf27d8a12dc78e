r"""A simulated audio-language model (ALM) as N synthetic annotators of the simulated corpus.

The known-truth study asks whether synthetic votes bring targets closer to the population
distribution :math:`p^{\text{true}}`. On the simulated corpus an ALM must be simulated too; this module
gives it a generative model of its own, on the same signals the human raters perceive (the prosodic
cue :math:`v_j` and the lexical strengths :math:`S_j` of item :math:`j`, see
:mod:`amber2.demo.raters`), with parameters that are documented, not fitted to any outcome.

One model :math:`M` (an :class:`ALMConfig`) has a reliance on the voice :math:`w`, a per-class
response bias :math:`b`, a logit gain :math:`g`, a perception noise :math:`\sigma_M`, a prompt noise
:math:`\sigma_p` and an ambiguity dependence :math:`a`. Annotator :math:`i` of the model (the seed's
schedule) has a focus line :math:`f_i = i \bmod 5` and a temperature :math:`T_i`
(:func:`annotator_temperature`); the focus moves its reliance, :math:`w_i = \mathrm{clip}(w + \delta
d_{f_i}, 0, 1)` with :math:`d = (0, +1, -1, +1, 0)` (both / tone / words / subtle vocal cues /
said-versus-how). On item :math:`j` with normalised true entropy :math:`h_j`:

.. math::

    s_j = 1 + a\,h_j, \qquad
    \tilde v_j = v_j + s_j \sigma_M \sigma_V \epsilon_j, \qquad
    \tilde S_j = S_j + s_j \sigma_M \sigma_T \epsilon'_j,

    z_{ij} = g\left(w_i\,\ell^V(\tilde v_j) + (1 - w_i)\,\ell^T(\tilde S_j) + b\right)
             + s_j \sigma_p \eta_{ij}, \qquad
    \Pr(\text{vote}_{ij} = c) = \operatorname{softmax}(z_{ij} / T_i)_c .

The perception draws :math:`\epsilon_j, \epsilon'_j` belong to the model and the item: **every
annotator of one model hears the same item the same way** (one model, one audio file), so its
annotators' errors are correlated, unlike the human raters' independent noise. Only the focus, the
temperature and the prompt noise :math:`\eta_{ij}` differ between annotators. Draws are keyed by
(seed, model name, item id, annotator index): annotator :math:`i`'s vote on an item does not depend on
N or on the other items, so the first N of 20 votes are the votes of a run with N.
"""

from __future__ import annotations

import csv
import hashlib
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import softmax

from amber2.annotate.prompts import AnnotatorPreset, load_preset
from amber2.annotate.schedule import MAX_ANNOTATORS
from amber2.annotate.schedule import temperature as schedule_temperature
from amber2.corpora.raters import SYNTHETIC_KIND, parse_synthetic_rater, synthetic_rater_id
from amber2.corpora.table import CorpusTable
from amber2.demo.lexicon import CLASSES
from amber2.demo.raters import EvidenceModel
from amber2.demo.voice import PROSODY_DIMS
from amber2.metrics import entropy

__all__ = [
    "ALM_BACKEND",
    "FOCUS_LINES",
    "FOCUS_VOICE_DIRECTION",
    "MAX_ANNOTATORS",
    "ALMConfig",
    "ItemSignals",
    "add_alm_votes",
    "add_alm_votes_to_folder",
    "alm_vote_probabilities",
    "alm_votes",
    "annotator_temperature",
    "item_signals",
]

#: Backend name in the rater ids of the simulated ALM (``syn:simulated:<model>:<i>``).
ALM_BACKEND = "simulated"

#: The seed's focus lines, annotator ``i`` takes line ``i mod 5``.
FOCUS_LINES: tuple[str, ...] = (
    "both the tone of voice and the words",
    "the tone of voice",
    "the word choice and phrasing",
    "subtle vocal cues",
    "what is said versus how it is said",
)
#: How each focus line moves the reliance on the voice (times ``ALMConfig.focus_shift``).
FOCUS_VOICE_DIRECTION: tuple[int, ...] = (0, 1, -1, 1, 0)


def annotator_temperature(index: int) -> float:
    r"""Temperature of annotator ``index``: the seed's schedule, as :mod:`amber2.annotate.schedule` defines it.

    :math:`T_i = \mathrm{clip}(u_1 + u_2, 0.1, 1.0)` with :math:`u_1 \sim U(\text{band}_{i \bmod 5})` and
    :math:`u_2 \sim U(-0.05, 0.05)`, drawn in that order from ``np.random.RandomState(i)`` (the shipped
    ``default`` annotator preset's bands, jitter and clip range).
    """
    return schedule_temperature(index, _default_preset())


@lru_cache(maxsize=1)
def _default_preset() -> AnnotatorPreset:
    return load_preset(None)


@dataclass(frozen=True)
class ALMConfig:
    r"""The generative parameters of one simulated ALM (see the module docstring; defaults in brackets).

    The defaults give the model the *average* human rater's parameters where a human analogue exists
    (reliance 0.5 = the mean of the pool's Beta(2, 2); noise 1.0 = the middle of the pool's U(0.5, 1.5);
    no bias: the pool's mean) and switch off the effects that have none (prompt noise, ambiguity
    dependence), so that no default is chosen to favour any outcome of the study; vary them to ask
    "what if the model leans on the words / is biased / degrades on ambiguous items".

    Attributes:
        name: Model name in the rater ids [``sim-alm``].
        voice_reliance: :math:`w` in [0, 1], weight on the voice evidence (1 - w on the words) [0.5].
        focus_shift: :math:`\delta` >= 0, how far a voice- or word-focused prompt moves :math:`w` [0.15].
        class_bias: :math:`b`, logits per class in :data:`CLASSES` order [0, 0, 0, 0].
        gain: :math:`g` > 0, scale of the model's logits (decisiveness before the temperature) [1.0].
        perception_noise: :math:`\sigma_M` >= 0, the model's misperception of an item, shared by all its
            annotators, in units of the raters' :math:`\sigma_V, \sigma_T` [1.0].
        prompt_noise: :math:`\sigma_p` >= 0, logit noise per (item, annotator) [0.0].
        ambiguity_noise: :math:`a` >= 0, both noises grow as :math:`1 + a h_j` with the item's normalised
            true entropy :math:`h_j` [0.0].
        seed: Random seed [0].
    """

    name: str = "sim-alm"
    voice_reliance: float = 0.5
    focus_shift: float = 0.15
    class_bias: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    gain: float = 1.0
    perception_noise: float = 1.0
    prompt_noise: float = 0.0
    ambiguity_noise: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        synthetic_rater_id(ALM_BACKEND, self.name, 0)  # validates the name
        for f in ("voice_reliance", "focus_shift", "gain", "perception_noise", "prompt_noise", "ambiguity_noise"):
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise ValueError(f"ALMConfig.{f} must be a finite number >= 0, got {v!r}")
            object.__setattr__(self, f, float(v))
        if self.voice_reliance > 1:
            raise ValueError(f"ALMConfig.voice_reliance must be in [0, 1], got {self.voice_reliance}")
        if self.gain <= 0:
            raise ValueError(f"ALMConfig.gain must be > 0, got {self.gain}")
        b = tuple(self.class_bias)
        if len(b) != len(CLASSES) or not all(isinstance(x, (int, float)) and math.isfinite(x) for x in b):
            raise ValueError(f"ALMConfig.class_bias must be {len(CLASSES)} finite numbers for {CLASSES}, got {b!r}")
        object.__setattr__(self, "class_bias", tuple(float(x) for x in b))
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"ALMConfig.seed must be an integer >= 0, got {self.seed!r}")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}

    def reliance(self, index: int) -> float:
        r""":math:`w_i`: the reliance on the voice of annotator ``index`` (its focus line moves it)."""
        d = FOCUS_VOICE_DIRECTION[index % len(FOCUS_VOICE_DIRECTION)]
        return float(np.clip(self.voice_reliance + self.focus_shift * d, 0.0, 1.0))


@dataclass(frozen=True)
class ItemSignals:
    """What the simulator knows about each item: the signals raters perceive and the true distribution.

    Attributes:
        ids: Item ids.
        cue: Prosodic cues ``(n, 7)``.
        strength: Lexical strengths ``(n, 4)``.
        p_true: True distributions ``(n, 4)``.
        conflict: Conflict type per item.
        transcripts: What each item says (to check that a table belongs to this simulation).
        evidence: The evidence model of the corpus's raters (the same physical signals, the same scale).
    """

    ids: tuple[str, ...]
    cue: np.ndarray
    strength: np.ndarray
    p_true: np.ndarray
    conflict: tuple[str, ...]
    transcripts: tuple[str, ...]
    evidence: EvidenceModel

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, ids: Sequence[str]) -> ItemSignals:
        """The signals of ``ids`` in that order (unknown ids raise a ValueError naming them)."""
        pos = {i: k for k, i in enumerate(self.ids)}
        unknown = [i for i in ids if i not in pos]
        if unknown:
            raise ValueError(f"{len(unknown)} item(s) are not in the simulated corpus: {unknown[:8]}")
        k = np.array([pos[i] for i in ids], dtype=np.int64)
        return ItemSignals(tuple(ids), self.cue[k], self.strength[k], self.p_true[k],
                           tuple(self.conflict[j] for j in k), tuple(self.transcripts[j] for j in k), self.evidence)


def item_signals(source: Any) -> ItemSignals:
    """The per-item signals of a simulated corpus.

    Args:
        source: A :class:`~amber2.demo.synth.CorpusPlan`, a :class:`~amber2.demo.synth.SimulatedCorpus`,
            or the folder :func:`~amber2.demo.synth.generate_corpus` wrote (``items.csv`` and
            ``simulation.json``).

    Raises:
        FileNotFoundError: the folder holds no generated corpus.
    """
    from amber2.demo.synth import CorpusPlan, SimulationConfig

    if isinstance(source, CorpusPlan):
        return ItemSignals(tuple(it.id for it in source.items), np.array([it.cue for it in source.items]),
                           np.array([it.text_strength for it in source.items]), np.asarray(source.p_true),
                           tuple(it.conflict for it in source.items), tuple(it.transcript for it in source.items),
                           source.config.evidence_model())
    root = Path(source if isinstance(source, (str, os.PathLike)) else getattr(source, "root", source))
    items, info = root / "items.csv", root / "simulation.json"
    if not items.is_file() or not info.is_file():
        raise FileNotFoundError(f"{root} holds no simulated corpus (items.csv and simulation.json); "
                                "generate it with amber2.demo.synth.generate_corpus")
    from amber2.utils.io import read_json

    cfg = SimulationConfig.from_dict(read_json(info)["config"])
    with open(items, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))

    def cols(prefix: str, names: Sequence[str]) -> np.ndarray:
        return np.array([[float(r[f"{prefix}:{n}"]) for n in names] for r in rows], dtype=np.float64)

    return ItemSignals(tuple(r["id"] for r in rows), cols("cue", PROSODY_DIMS), cols("text_strength", CLASSES),
                       cols("p_true", CLASSES), tuple(r["conflict"] for r in rows),
                       tuple(r["transcript"] for r in rows), cfg.evidence_model())


def _key(*parts: object) -> list[int]:
    """A numpy seed sequence entropy from printable parts (stable across runs and platforms)."""
    d = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return [int.from_bytes(d[k:k + 4], "little") for k in range(0, 16, 4)]


def _draws(signals: ItemSignals, config: ALMConfig, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Perception draws per item (eps_v, eps_t), prompt noise (items, n, C), sampling uniforms (items, n)."""
    m, C, D = len(signals), len(CLASSES), signals.cue.shape[1]
    ev, et = np.empty((m, D)), np.empty((m, C))
    eta, u = np.empty((m, n, C)), np.empty((m, n))
    for j, item in enumerate(signals.ids):
        g = np.random.default_rng(_key("alm-perception", config.seed, config.name, item))
        ev[j], et[j] = g.standard_normal(D), g.standard_normal(C)
        for i in range(n):
            gi = np.random.default_rng(_key("alm-annotator", config.seed, config.name, item, i))
            eta[j, i], u[j, i] = gi.standard_normal(C), gi.random()
    return ev, et, eta, u


def alm_vote_probabilities(signals: ItemSignals, config: ALMConfig, n: int) -> np.ndarray:
    r"""Each annotator's vote distribution :math:`\operatorname{softmax}(z_{ij} / T_i)` on each item.

    Args:
        signals: The items (:func:`item_signals`).
        config: The model.
        n: Annotators 0..n-1 (1 <= n <= :data:`MAX_ANNOTATORS`).

    Returns:
        ``(items, n, 4)``, rows summing to 1.
    """
    probs, _ = _probabilities(signals, config, n)
    return probs


def _probabilities(signals: ItemSignals, config: ALMConfig, n: int) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= MAX_ANNOTATORS:
        raise ValueError(f"the number of ALM annotators must be an integer in [1, {MAX_ANNOTATORS}], got {n!r}")
    n = int(n)
    ev, et, eta, u = _draws(signals, config, n)
    model = signals.evidence
    h = entropy(signals.p_true, base=len(CLASSES))  # normalised: log base C
    s = 1.0 + config.ambiguity_noise * h  # (items,)
    sig = (s * config.perception_noise)[:, None]
    lv = model.voice_evidence(signals.cue + sig * model.voice_noise * ev)  # (items, C)
    lt = model.text_evidence(signals.strength + sig * model.text_noise * et)
    w = np.array([config.reliance(i) for i in range(n)])[None, :, None]  # (1, n, 1)
    z = config.gain * (w * lv[:, None, :] + (1.0 - w) * lt[:, None, :] + np.asarray(config.class_bias))
    z = z + (s * config.prompt_noise)[:, None, None] * eta
    T = np.array([annotator_temperature(i) for i in range(n)])[None, :, None]
    return softmax(z / T, axis=-1), u


def alm_votes(signals: ItemSignals, config: ALMConfig, n: int) -> np.ndarray:
    """One vote (class index) per item and annotator, ``(items, n)``: a draw from :func:`alm_vote_probabilities`."""
    p, u = _probabilities(signals, config, n)
    return np.minimum((np.cumsum(p, axis=-1) < u[..., None]).sum(axis=-1), len(CLASSES) - 1)


def add_alm_votes(
    table: CorpusTable,
    source: Any,
    n: int,
    config: ALMConfig | None = None,
) -> CorpusTable:
    """The corpus table with ``n`` votes of the simulated ALM added to every item.

    The votes have ``kind`` ``synthetic`` and rater ids ``syn:simulated:<config.name>:<i>``
    (:func:`amber2.corpora.raters.synthetic_rater_id`), ``labels`` the class name and ``note`` the raw
    reply (the class name the model answered). Votes this model gave before are replaced, so adding
    twice does not duplicate them; human votes and other sources are left as they are.

    Args:
        table: A corpus table of (a subset of) the simulated corpus, e.g. the prepared demo corpus.
        source: The simulated corpus (see :func:`item_signals`): its per-item cue, lexical strengths and
            ``p_true``.
        n: Annotators per item (1 to :data:`MAX_ANNOTATORS`).
        config: The model (default :class:`ALMConfig`).

    Returns:
        A new :class:`~amber2.corpora.table.CorpusTable`; ``info["simulated_alm"][name]`` records the
        model's parameters and ``n``.

    Raises:
        ValueError: ``n`` out of range, or table items the simulated corpus does not have (named).
    """
    config = config or ALMConfig()
    signals = item_signals(source).subset(table.ids)
    _check_same_corpus(table, signals)
    votes = alm_votes(signals, config, n)
    rows = [{"id": item, "rater": synthetic_rater_id(ALM_BACKEND, config.name, i), "kind": SYNTHETIC_KIND,
             "labels": [CLASSES[c]], "secondary": [], "note": CLASSES[c], "valence": np.nan, "arousal": np.nan,
             "dominance": np.nan, "weight": 1.0}
            for item, vs in zip(signals.ids, votes.tolist()) for i, c in enumerate(vs)]
    old = table.votes
    mine = np.array([_is_ours(r, k, config.name) for r, k in zip(old["rater"], old["kind"])], dtype=bool)
    new = CorpusTable.from_frames(table.items, pd.concat([old[~mine], pd.DataFrame(rows)], ignore_index=True),
                                  dict(table.info))
    new.info["simulated_alm"] = {**table.info.get("simulated_alm", {}), config.name: {**config.to_dict(), "n": int(n)}}
    return new


def _check_same_corpus(table: CorpusTable, signals: ItemSignals) -> None:
    """Raise a ValueError naming the items whose transcript differs from the simulation's (another corpus)."""
    differ = [i for i, t, s in zip(signals.ids, table.items["transcript"], signals.transcripts)
              if isinstance(t, str) and t != s]
    if differ:
        raise ValueError(f"{len(differ)} item(s) say something else than in the simulated corpus given (another "
                         f"simulation with the same ids?): {differ[:5]}")


def _is_ours(rater: Any, kind: Any, name: str) -> bool:
    if kind != SYNTHETIC_KIND or not isinstance(rater, str):
        return False
    try:
        r = parse_synthetic_rater(rater)
    except ValueError:
        return False
    return r.backend == ALM_BACKEND and r.model == name


def add_alm_votes_to_folder(corpus_dir: str | os.PathLike[str], source: Any, n: int,
                            config: ALMConfig | None = None) -> Path:
    """Add the votes to a prepared corpus folder's ``corpus.parquet`` in place (written atomically)."""
    p = Path(corpus_dir)
    table = CorpusTable.read(p)
    return add_alm_votes(table, source, n, config).write(p / "corpus.parquet" if p.is_dir() else p)
