r"""A simulated multi-rater speech + text corpus whose ground truth is known.

No public corpus has speech, transcripts and per-rater votes under an open licence, so amber2 makes
one: speakers with their own voices say templated sentences (:mod:`amber2.demo.lexicon`) with a
source-filter voice whose prosody follows the emotion (:mod:`amber2.demo.voice`), and a fixed pool of
simulated raters, each with their own reliance on voice versus words, noise and bias, vote one class
each (:mod:`amber2.demo.raters`). The vote distributions carry both of AmbER²'s ambiguities: rater
ambiguity (weak items split the raters) and modality ambiguity (items whose words carry one emotion and
whose voice another, or where one channel carries none). The generative model is documented in
``docs/simulated_corpus.md``.

Per item :math:`i` of speaker :math:`k`:

1. Conflict type :math:`t_i \in` {none, conflict, voice_uninformative, text_uninformative}, with exact
   counts from the configured shares, shuffled.
2. Intended class :math:`e_i`: emotional (happy/angry/sad, prior-weighted) when :math:`t_i \ne`
   none; otherwise drawn so that the overall share of each class equals ``class_priors``.
   Intensity :math:`s_i \sim \mathrm{Beta}(a, b)` (0 for neutral).
3. Channels: voice :math:`(e^V, s^V)` and text :math:`(e^T, s^T)`, each intensity
   :math:`\mathrm{clip}(s_i + \mathcal{N}(0, \sigma_s^2), 0, 1)`; *none*: both carry :math:`e_i`;
   *conflict*: text carries another emotional class; *voice_uninformative*: the voice is neutral
   (:math:`s^V = 0`); *text_uninformative*: the words are a neutral sentence (:math:`s^T = 0`).
4. Text: a transcript with lexical strength :math:`S_i` for :math:`(e^T, s^T)`; voice: the cue
   :math:`v_i = s^V P_{e^V} + \eta_i`; audio: :func:`amber2.demo.voice.synthesize`.
5. Raters: 3-7 raters of the pool vote; :math:`p^{\text{true}}_i` is the expected vote.

Entry points: :func:`plan_corpus` (everything but the audio, in memory, fast) and
:func:`generate_corpus` (writes WAVs, ``manifest.csv`` in the manifest's rater form, ``items.csv``,
``raters.csv`` and ``simulation.json``; resumable, atomic, idempotent).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from amber2._version import __version__
from amber2.demo.lexicon import CLASSES, compose_transcript, syllabify
from amber2.demo.raters import (
    BIAS_SD,
    NOISE_RANGE,
    RELIANCE_BETA,
    TRUE_DRAWS,
    EvidenceModel,
    RaterPool,
    draw_rater_pool,
    sample_votes,
    true_distribution,
)
from amber2.demo.voice import PROSODY_DIMS, Speaker, draw_speakers, prosody_prototypes, synthesize
from amber2.metrics import row_entropy
from amber2.utils.fingerprint import hash_json, short
from amber2.utils.io import atomic_path, atomic_write_json, atomic_write_text, read_json
from amber2.utils.logging import get_logger
from amber2.utils.progress import progress_bar

__all__ = [
    "CLASSES",
    "CONFLICT_TYPES",
    "GENERATOR_VERSION",
    "CorpusConflictError",
    "CorpusPlan",
    "PlannedItem",
    "SimulatedCorpus",
    "SimulationConfig",
    "SimulationError",
    "generate_corpus",
    "plan_corpus",
]

log = get_logger(__name__)

#: Bumped whenever the generative model changes, so an old output never passes for a new one.
GENERATOR_VERSION = 1

#: Conflict types of an item: both channels agree; they carry different emotional classes; the voice
#: is neutral while the words carry the emotion; the words are neutral while the voice carries it.
CONFLICT_TYPES: tuple[str, ...] = ("none", "conflict", "voice_uninformative", "text_uninformative")

_STAMP = ".amber2-synth.json"
_MANIFEST = "manifest.csv"
_ITEMS = "items.csv"
_RATERS = "raters.csv"
_INFO = "simulation.json"
_AUDIO = "audio"
_OUR_WAV = re.compile(r"^spk\d{3,}_utt\d{3,}\.wav$")
_OUR_TMP = re.compile(r"^\.(spk\d{3,}_utt\d{3,}\.wav|manifest\.csv|items\.csv|raters\.csv|simulation\.json|"
                      r"\.amber2-synth\.json)\..*\.tmp$")

# Independent random streams (numpy seeds [seed, stream]); audio uses [seed, _AUDIO_STREAM, item].
_SPEAKER_STREAM, _ITEM_STREAM, _TEXT_STREAM, _POOL_STREAM, _VOTE_STREAM, _TRUE_STREAM = 1, 2, 3, 4, 5, 6
_AUDIO_STREAM = 100


class SimulationError(RuntimeError):
    """Generation failed for some items (listed), or the output folder holds another corpus."""


class CorpusConflictError(SimulationError):
    """The output folder holds another simulated corpus, or files the simulator did not write.

    Attributes:
        root: The output folder.
        differences: ``{setting: (in the folder, asked for)}`` when the folder holds a corpus of
            another configuration whose settings could be read; None otherwise.
        foreign: True when the folder holds a manifest or audio the simulator did not write.
    """

    def __init__(self, message: str, *, root: Path, differences: dict[str, tuple[Any, Any]] | None = None,
                 foreign: bool = False):
        super().__init__(message)
        self.root = root
        self.differences = differences
        self.foreign = foreign

    def describe(self) -> str:
        """The differing settings as ``n_speakers 40 -> 10, seed 0 -> 1`` (or why they are unknown)."""
        if self.foreign:
            return f"{self.root} holds {_MANIFEST} or {_AUDIO}/ not written by the simulator"
        return _describe(self.differences)


def _describe(differences: Mapping[str, tuple[Any, Any]] | None) -> str:
    if not differences:
        return "the settings of the corpus in the folder cannot be read"
    return ", ".join(f"{k} {_show(a)} -> {_show(b)}" for k, (a, b) in differences.items())


def _show(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "(" + ", ".join(_show(v) for v in value) + ")"
    return "missing" if value is _MISSING else repr(value) if isinstance(value, str) else str(value)


_MISSING = object()


def config_differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """``{setting: (old, new)}`` for the settings whose JSON values differ (missing ones included)."""
    a, b = json.loads(json.dumps(dict(old), default=str)), json.loads(json.dumps(dict(new), default=str))
    return {k: (a.get(k, _MISSING), b.get(k, _MISSING)) for k in [*b, *(k for k in a if k not in b)]
            if a.get(k, _MISSING) != b.get(k, _MISSING)}


def _pair(value: Any, name: str, kind: type) -> tuple[Any, Any]:
    try:
        a, b = value
        return kind(a), kind(b)
    except (TypeError, ValueError):
        raise ValueError(f"SimulationConfig.{name} must be a pair of {kind.__name__}s, got {value!r}") from None


@dataclass(frozen=True)
class SimulationConfig:
    r"""Every parameter of the simulated corpus (defaults: a ~1,200-utterance demo corpus).

    Attributes:
        n_speakers: Speakers (alternating female/male), each with their own voice.
        utterances_per_speaker: Utterances per speaker (speaker-independent folds need several).
        class_priors: Share of each intended class, in :data:`CLASSES` order (neutral, happy, angry,
            sad); default the IEMOCAP 4-class shares (1708/1636/1103/1084 of 5,531).
        conflict_share: Share of items whose words carry another emotional class than the voice.
        voice_uninformative_share: Share of items with a neutral voice and emotional words.
        text_uninformative_share: Share of items with neutral words and an emotional voice.
            The three shares must sum to at most ``1 - class_priors[neutral]`` (they apply to
            emotional items only).
        intensity_beta: Beta(a, b) of an emotional item's intensity in [0, 1].
        channel_intensity_sd: Standard deviation of each channel's intensity around the item's.
        cue_variation_sd: :math:`\sigma_\eta`, emotion-free item-to-item prosodic variation (cue units).
        mixed_word_share: Probability that a weak emotional text uses a lexically ambiguous word
            (``upset``: angry or sad), see :data:`amber2.demo.lexicon.MIXED_WORDS`.
        n_raters: Size of the fixed rater pool.
        raters_per_item: Inclusive range of the number of raters per item.
        rater_reliance_beta: Beta(a, b) of a rater's reliance on the voice :math:`w_r`.
        rater_noise: Range (uniform) of a rater's perceptual-noise multiplier :math:`\sigma_r`.
        rater_bias_sd: Standard deviation of a rater's per-class response bias (logits).
        voice_gain: :math:`\gamma_V` of the evidence model (:class:`amber2.demo.raters.EvidenceModel`).
        voice_threshold: :math:`\tau_V`.
        text_gain: :math:`\gamma_T`.
        text_threshold: :math:`\tau_T`.
        voice_noise: :math:`\sigma_V` (cue units).
        text_noise: :math:`\sigma_T` (lexical strength units).
        true_draws: Monte Carlo noise draws per rater for the true distributions.
        sample_rate: Audio sample rate in Hz (16 kHz, as the encoders expect).
        seed: Random seed; the same seed and parameters give byte-identical files.
    """

    n_speakers: int = 40
    utterances_per_speaker: int = 30
    class_priors: tuple[float, float, float, float] = (0.31, 0.30, 0.20, 0.19)
    conflict_share: float = 0.15
    voice_uninformative_share: float = 0.10
    text_uninformative_share: float = 0.15
    intensity_beta: tuple[float, float] = (2.5, 2.0)
    channel_intensity_sd: float = 0.12
    cue_variation_sd: float = 0.4
    mixed_word_share: float = 0.3
    n_raters: int = 40
    raters_per_item: tuple[int, int] = (3, 7)
    # the raters' defaults are defined once, in amber2.demo.raters
    rater_reliance_beta: tuple[float, float] = RELIANCE_BETA
    rater_noise: tuple[float, float] = NOISE_RANGE
    rater_bias_sd: float = BIAS_SD
    voice_gain: float = EvidenceModel.voice_gain
    voice_threshold: float = EvidenceModel.voice_threshold
    text_gain: float = EvidenceModel.text_gain
    text_threshold: float = EvidenceModel.text_threshold
    voice_noise: float = EvidenceModel.voice_noise
    text_noise: float = EvidenceModel.text_noise
    true_draws: int = TRUE_DRAWS
    sample_rate: int = 16000
    seed: int = 0

    def __post_init__(self) -> None:
        def fix(name: str, value: Any) -> None:
            object.__setattr__(self, name, value)

        for name in ("n_speakers", "utterances_per_speaker", "n_raters", "true_draws", "sample_rate", "seed"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise ValueError(f"SimulationConfig.{name} must be an integer, got {v!r}")
            fix(name, int(v))
        for name in ("n_speakers", "utterances_per_speaker", "n_raters", "true_draws"):
            if getattr(self, name) < 1:
                raise ValueError(f"SimulationConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.sample_rate < 11025:
            raise ValueError(f"SimulationConfig.sample_rate must be >= 11025 Hz, got {self.sample_rate}")
        if self.seed < 0:
            raise ValueError(f"SimulationConfig.seed must be >= 0, got {self.seed}")
        floats = ("conflict_share", "voice_uninformative_share", "text_uninformative_share",
                  "channel_intensity_sd", "mixed_word_share", "cue_variation_sd", "rater_bias_sd", "voice_gain",
                  "voice_threshold", "text_gain", "text_threshold", "voice_noise", "text_noise")
        for name in floats:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float, np.number)) or not math.isfinite(v) or v < 0:
                raise ValueError(f"SimulationConfig.{name} must be a finite number >= 0, got {v!r}")
            fix(name, float(v))
        if self.mixed_word_share > 1:
            raise ValueError(f"SimulationConfig.mixed_word_share must be in [0, 1], got {self.mixed_word_share}")
        priors = tuple(self.class_priors)
        if len(priors) != len(CLASSES) or not all(
            isinstance(p, (int, float, np.number)) and math.isfinite(p) and p >= 0 for p in priors
        ):
            raise ValueError(
                f"SimulationConfig.class_priors must be {len(CLASSES)} numbers >= 0 for {CLASSES}, got {priors!r}"
            )
        if abs(sum(priors) - 1.0) > 1e-6:
            raise ValueError(f"SimulationConfig.class_priors must sum to 1, got {priors!r} (sum {sum(priors):.6g})")
        if sum(priors[1:]) <= 0:
            raise ValueError("SimulationConfig.class_priors gives no emotional class (happy, angry, sad)")
        fix("class_priors", tuple(float(p) for p in priors))
        other = self.conflict_share + self.voice_uninformative_share + self.text_uninformative_share
        if other > 1.0 - self.class_priors[0] + 1e-9:
            raise ValueError(
                "SimulationConfig: conflict_share + voice_uninformative_share + text_uninformative_share "
                f"= {other:.4g} exceeds the share of emotional items 1 - class_priors[neutral] = "
                f"{1.0 - self.class_priors[0]:.4g} (these types apply to emotional items only)"
            )
        if self.conflict_share > 0 and sum(p > 0 for p in self.class_priors[1:]) < 2:
            raise ValueError("SimulationConfig.conflict_share > 0 needs at least two emotional classes with prior > 0")
        a, b = _pair(self.intensity_beta, "intensity_beta", float)
        if not (a > 0 and b > 0):
            raise ValueError(f"SimulationConfig.intensity_beta must be two numbers > 0, got {self.intensity_beta!r}")
        fix("intensity_beta", (a, b))
        a, b = _pair(self.rater_reliance_beta, "rater_reliance_beta", float)
        if not (a > 0 and b > 0):
            raise ValueError(
                f"SimulationConfig.rater_reliance_beta must be two numbers > 0, got {self.rater_reliance_beta!r}"
            )
        fix("rater_reliance_beta", (a, b))
        lo, hi = _pair(self.rater_noise, "rater_noise", float)
        if not (0 <= lo <= hi) or not math.isfinite(hi):
            raise ValueError(
                f"SimulationConfig.rater_noise must be (lo, hi) with 0 <= lo <= hi, got {self.rater_noise!r}"
            )
        fix("rater_noise", (lo, hi))
        v = self.raters_per_item
        if not isinstance(v, (tuple, list)) or len(v) != 2 or not all(
            isinstance(x, (int, np.integer)) and not isinstance(x, bool) for x in v
        ):
            raise ValueError(f"SimulationConfig.raters_per_item must be a pair of integers, got {v!r}")
        lo_r, hi_r = int(v[0]), int(v[1])
        if not (1 <= lo_r <= hi_r):
            raise ValueError(f"SimulationConfig.raters_per_item must be (lo, hi) with 1 <= lo <= hi, got {v!r}")
        if hi_r > self.n_raters:
            raise ValueError(
                f"SimulationConfig.raters_per_item allows {hi_r} raters per item but the pool has only "
                f"n_raters={self.n_raters}"
            )
        fix("raters_per_item", (lo_r, hi_r))

    @property
    def n_items(self) -> int:
        """Number of utterances: ``n_speakers * utterances_per_speaker``."""
        return self.n_speakers * self.utterances_per_speaker

    def evidence_model(self) -> EvidenceModel:
        """The raters' :class:`~amber2.demo.raters.EvidenceModel` under this config."""
        return EvidenceModel(self.voice_gain, self.voice_threshold, self.text_gain, self.text_threshold,
                             self.voice_noise, self.text_noise)

    def with_neutral_words(self) -> SimulationConfig:
        """The same corpus settings with words that carry no emotion for any item.

        Every emotional item becomes ``text_uninformative`` (a neutral sentence, an emotional voice):
        ``text_uninformative_share = 1 - class_priors[neutral]``, no ``conflict`` or
        ``voice_uninformative`` items, so every ``none`` item is neutral and the class priors are kept.
        Like a corpus read from one fixed set of neutral sentences (CREMA-D), only the voice can tell
        the classes apart; the text expert is no better than the class prior.
        """
        return replace(self, conflict_share=0.0, voice_uninformative_share=0.0,
                       text_uninformative_share=1.0 - self.class_priors[0])

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (tuples become lists)."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SimulationConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise a ValueError naming them."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown SimulationConfig field(s) {unknown}; known: {sorted(names)}")
        return cls(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in data.items()})

    def fingerprint(self) -> str:
        """SHA-256 of the generator version and every parameter."""
        return hash_json({"generator_version": GENERATOR_VERSION, "config": self.to_dict()})


# ---------------------------------------------------------------------------- plan

@dataclass(frozen=True)
class PlannedItem:
    """One utterance of the plan: everything about it but its audio samples.

    Attributes:
        index: Position in the corpus (0-based).
        id: Utterance id ``spk007_utt012``.
        speaker: Speaker id.
        conflict: One of :data:`CONFLICT_TYPES`.
        intensity: Item intensity :math:`s_i` in [0, 1] (0 for neutral items).
        voice_emotion: Class the voice carries.
        voice_intensity: :math:`s^V` in [0, 1].
        text_emotion: Class the words carry.
        text_intensity: :math:`s^T` in [0, 1].
        transcript: The sentence(s) spoken.
        text_strength: Lexical strength :math:`S_i` per class (:data:`CLASSES` order).
        cue: Prosodic cue :math:`v_i` in cue units (:data:`amber2.demo.voice.PROSODY_DIMS` order).
    """

    index: int
    id: str
    speaker: str
    conflict: str
    intensity: float
    voice_emotion: str
    voice_intensity: float
    text_emotion: str
    text_intensity: float
    transcript: str
    text_strength: tuple[float, ...]
    cue: tuple[float, ...]


@dataclass
class CorpusPlan:
    """The whole simulated corpus except the audio samples.

    Attributes:
        config: The configuration.
        speakers: The speakers.
        pool: The rater pool.
        items: The utterances.
        votes: Per item, ``(rater index, class index)`` pairs.
        p_true: Expected vote distribution per item, ``(n, 4)``.
    """

    config: SimulationConfig
    speakers: list[Speaker]
    pool: RaterPool
    items: list[PlannedItem]
    votes: list[list[tuple[int, int]]]
    p_true: np.ndarray = field(repr=False)

    def soft_labels(self) -> np.ndarray:
        """Vote shares :math:`y_c = n_c / N` (Eq. 1) per item, ``(n, 4)``."""
        Y = np.zeros((len(self.items), len(CLASSES)))
        for i, vs in enumerate(self.votes):
            for _, c in vs:
                Y[i, c] += 1
            Y[i] /= len(vs)
        return Y


def _exact_counts(shares: Sequence[float], n: int) -> list[int]:
    """Largest-remainder rounding of ``shares * n`` (ties to the earlier entry)."""
    raw = np.asarray(shares, dtype=np.float64) * n
    counts = np.floor(raw + 1e-9).astype(int)
    rest = n - counts.sum()
    order = np.argsort(-(raw - counts), kind="stable")
    counts[order[:rest]] += 1
    return counts.tolist()


def _none_class_probs(config: SimulationConfig) -> np.ndarray:
    r"""Class probabilities of *none* items so that the overall class shares equal the priors.

    .. math::  q_n = \pi_n / (1 - o), \quad q_e = \pi_e (1 - o / (1 - \pi_n)) / (1 - o),

    with :math:`o` the share of conflict and uninformative items (which are all emotional).
    """
    pri = np.asarray(config.class_priors)
    o = config.conflict_share + config.voice_uninformative_share + config.text_uninformative_share
    if o >= 1.0 - 1e-12:
        return pri
    q = pri.copy()
    q[1:] = pri[1:] * (1.0 - o / (1.0 - pri[0])) / (1.0 - o)
    q[0] = pri[0] / (1.0 - o)
    q = np.clip(q, 0.0, None)
    return q / q.sum()


def plan_corpus(config: SimulationConfig | None = None) -> CorpusPlan:
    """Draw speakers, items, transcripts, cues, raters, votes and true distributions (no audio).

    Deterministic in ``config`` (fast: well under a second for the default size).

    Args:
        config: The configuration (default :class:`SimulationConfig`).

    Returns:
        The :class:`CorpusPlan`.
    """
    cfg = config if config is not None else SimulationConfig()
    seed = cfg.seed
    speakers = draw_speakers(np.random.default_rng([seed, _SPEAKER_STREAM]), cfg.n_speakers)
    rng = np.random.default_rng([seed, _ITEM_STREAM])
    text_rng = np.random.default_rng([seed, _TEXT_STREAM])
    n = cfg.n_items
    shares = [0.0, cfg.conflict_share, cfg.voice_uninformative_share, cfg.text_uninformative_share]
    shares[0] = max(0.0, 1.0 - sum(shares))
    types = np.repeat(np.arange(len(CONFLICT_TYPES)), _exact_counts(shares, n))
    rng.shuffle(types)
    pri = np.asarray(cfg.class_priors)
    emo_p = pri[1:] / pri[1:].sum()
    none_p = _none_class_probs(cfg)
    P = prosody_prototypes()
    sd = cfg.channel_intensity_sd
    items: list[PlannedItem] = []
    cues = np.empty((n, len(PROSODY_DIMS)))
    strengths = np.empty((n, len(CLASSES)))
    for i in range(n):
        t = CONFLICT_TYPES[int(types[i])]
        # intended class: emotional for conflict / uninformative items, else so that the priors hold
        e = int(rng.choice(len(CLASSES), p=none_p)) if t == "none" else 1 + int(rng.choice(len(emo_p), p=emo_p))
        s = 0.0 if e == 0 else float(rng.beta(*cfg.intensity_beta))
        jv, jt = rng.normal(0.0, sd, size=2)
        sv = 0.0 if e == 0 else float(np.clip(s + jv, 0.0, 1.0))
        st = 0.0 if e == 0 else float(np.clip(s + jt, 0.0, 1.0))
        ev = et = e
        if t == "conflict":
            others = [c for c in range(1, len(CLASSES)) if c != e and pri[c] > 0]
            w = pri[others] / pri[others].sum()
            et = others[int(rng.choice(len(others), p=w))]
        elif t == "voice_uninformative":
            ev, sv = 0, 0.0
        elif t == "text_uninformative":
            et, st = 0, 0.0
        eta = rng.normal(0.0, cfg.cue_variation_sd, size=len(PROSODY_DIMS))
        cues[i] = sv * P[ev] + eta
        tr = compose_transcript(text_rng, CLASSES[et], st, mixed_share=cfg.mixed_word_share)
        strengths[i] = tr.strength
        k, u = divmod(i, cfg.utterances_per_speaker)
        items.append(PlannedItem(
            index=i, id=f"{speakers[k].id}_utt{u:03d}", speaker=speakers[k].id, conflict=t,
            intensity=round(s, 6), voice_emotion=CLASSES[ev], voice_intensity=round(sv, 6),
            text_emotion=CLASSES[et], text_intensity=round(st, 6), transcript=tr.text,
            text_strength=tuple(float(x) for x in tr.strength),
            cue=tuple(round(float(x), 6) for x in cues[i]),
        ))
    cues = np.array([it.cue for it in items])
    pool = draw_rater_pool(
        np.random.default_rng([seed, _POOL_STREAM]), cfg.n_raters, reliance_beta=cfg.rater_reliance_beta,
        noise_range=cfg.rater_noise, bias_sd=cfg.rater_bias_sd,
    )
    model = cfg.evidence_model()
    votes = sample_votes(np.random.default_rng([seed, _VOTE_STREAM]), model, pool, cues, strengths,
                         cfg.raters_per_item)
    p_true = true_distribution(np.random.default_rng([seed, _TRUE_STREAM]), model, pool, cues, strengths,
                               draws=cfg.true_draws)
    return CorpusPlan(cfg, speakers, pool, items, votes, p_true)


# ---------------------------------------------------------------------------- output

@dataclass(frozen=True)
class SimulatedCorpus:
    """Where a generated corpus lies, and what it holds.

    Attributes:
        root: The output folder.
        manifest: ``manifest.csv`` (rater form: one row per vote).
        audio_dir: Folder of the 16 kHz mono PCM16 WAV files.
        items: ``items.csv`` (one row per utterance: the full ground truth).
        raters: ``raters.csv`` (the rater pool).
        info: ``simulation.json`` (resolved config, counts, speakers).
        n_items: Utterances.
        n_speakers: Speakers.
        n_raters: Raters in the pool.
        n_votes: Votes (rows of the manifest).
        duration_s: Total audio duration in seconds.
        config: The configuration.
        fingerprint: The configuration's fingerprint.
        generated: WAV files written by this call (0 when an existing complete output was reused).
    """

    root: Path
    manifest: Path
    audio_dir: Path
    items: Path
    raters: Path
    info: Path
    n_items: int
    n_speakers: int
    n_raters: int
    n_votes: int
    duration_s: float
    config: SimulationConfig
    fingerprint: str
    generated: int

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (paths as strings, the config as a dict)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["config"] = self.config.to_dict()
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in out.items()}


def _wav_path(audio_dir: Path, item_id: str) -> Path:
    return audio_dir / f"{item_id}.wav"


def _write_wav(path: Path, y: np.ndarray, sample_rate: int) -> int:
    """Quantise to PCM16 and write atomically; return the number of samples."""
    import soundfile as sf

    pcm = np.round(np.clip(y, -1.0, 1.0) * 32767.0).astype(np.int16)
    with atomic_path(path) as tmp:
        sf.write(tmp, pcm, sample_rate, subtype="PCM_16", format="WAV")
    return int(pcm.size)


def _wav_frames(path: Path) -> int:
    import soundfile as sf

    return int(sf.info(str(path)).frames)


def _csv_text(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def _f(x: float, nd: int = 6) -> str:
    return f"{x:.{nd}f}"


def _check_folder(root: Path, cfg: SimulationConfig, fingerprint: str, overwrite: bool) -> bool:
    """Return True if ``root`` already holds this corpus (stamp matches); clear or refuse otherwise.

    Raises:
        CorpusConflictError: ``root`` holds another corpus, or foreign files, and not ``overwrite``.
    """
    stamp = root / _STAMP
    if stamp.exists():
        try:
            info = read_json(stamp)
            old, old_config = info.get("fingerprint"), info.get("config")
            old_version = info.get("generator_version")
        except (OSError, ValueError, AttributeError):
            old, old_config, old_version = None, None, None
        if old == fingerprint:
            return True
        if not overwrite:
            differences = None
            if isinstance(old_config, dict):
                differences = config_differences(old_config, cfg.to_dict())
                if old_version != GENERATOR_VERSION:
                    differences = {"generator_version": (old_version, GENERATOR_VERSION), **differences}
            raise CorpusConflictError(
                f"{root} holds a simulated corpus made with another configuration ({_describe(differences)}; "
                f"fingerprint {short(str(old))} != {short(fingerprint)}); choose another folder or pass "
                "overwrite=True", root=root, differences=differences or None)
    elif not overwrite and ((root / _MANIFEST).exists() or (root / _AUDIO).exists()):
        raise CorpusConflictError(
            f"{root} already holds {_MANIFEST} or {_AUDIO}/ not written by the simulator; choose an empty "
            "folder or pass overwrite=True", root=root, foreign=True,
        )
    if overwrite:
        _clear(root)
    return False


def _clear(root: Path) -> None:
    """Remove the files a previous simulation wrote into ``root`` (and nothing else)."""
    removed = 0
    audio = root / _AUDIO
    if audio.is_dir():
        for p in audio.iterdir():
            if p.is_file() and (_OUR_WAV.match(p.name) or _OUR_TMP.match(p.name)):
                p.unlink()
                removed += 1
    for name in (_MANIFEST, _ITEMS, _RATERS, _INFO, _STAMP):
        p = root / name
        if p.exists():
            p.unlink()
            removed += 1
    for p in root.glob(".*.tmp") if root.is_dir() else []:
        if _OUR_TMP.match(p.name):
            p.unlink()
    if removed:
        log.info("overwrite: removed %d files of the previous simulation in %s", removed, root)


def _reuse(root: Path, cfg: SimulationConfig, fingerprint: str) -> SimulatedCorpus | None:
    """The existing output if it is complete for this fingerprint, else None."""
    info_path, manifest = root / _INFO, root / _MANIFEST
    if not (info_path.exists() and manifest.exists() and (root / _RATERS).exists() and (root / _ITEMS).exists()):
        return None
    try:
        info = read_json(info_path)
    except (OSError, ValueError):
        return None
    if info.get("fingerprint") != fingerprint:
        return None
    with open(manifest, encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        audio = {row["audio"] for row in reader}
    if not all((root / a).exists() for a in audio):
        return None
    c = info["counts"]
    return SimulatedCorpus(
        root=root, manifest=manifest, audio_dir=root / _AUDIO, items=root / _ITEMS, raters=root / _RATERS,
        info=info_path, n_items=c["items"], n_speakers=c["speakers"], n_raters=c["raters"],
        n_votes=c["votes"], duration_s=c["duration_s"], config=cfg, fingerprint=fingerprint, generated=0,
    )


def generate_corpus(
    out_dir: str | os.PathLike[str],
    config: SimulationConfig | None = None,
    *,
    overwrite: bool = False,
    progress: bool = False,
) -> SimulatedCorpus:
    """Generate the simulated corpus into ``out_dir`` (resumable, atomic, idempotent).

    Layout::

        out_dir/audio/<id>.wav   16 kHz mono PCM16, one per utterance
        out_dir/manifest.csv     rater form: one row per vote (id, audio, transcript, speaker, group,
                                 duration, rater, label, rater_kind, then item metadata)
        out_dir/items.csv        one row per utterance: the whole ground truth (cues, strengths, p_true)
        out_dir/raters.csv       the rater pool (reliance on voice, noise, biases, votes cast)
        out_dir/simulation.json  resolved config, fingerprint, counts, speakers

    Each WAV is written through a temporary file and renamed; ``manifest.csv`` is written last. A small
    stamp (``.amber2-synth.json``, the config's fingerprint) is written first: a re-run with the same
    config resumes an interrupted run (existing WAVs are kept) or, if the output is complete, does no
    work at all; a different config into the same folder is an error unless ``overwrite=True``.

    Args:
        out_dir: Output folder (created if needed).
        config: The configuration (default :class:`SimulationConfig`).
        overwrite: Replace a corpus of another configuration found in ``out_dir`` (only files the
            simulator writes are removed).
        progress: Show a progress bar.

    Returns:
        The :class:`SimulatedCorpus`.

    Raises:
        CorpusConflictError: ``out_dir`` holds another corpus or foreign files (and not ``overwrite``);
            the message (and the error's ``differences``) names the settings that differ.
        SimulationError: Some items failed (they are listed; the manifest is then not written and a
            re-run retries them).
    """
    cfg = config if config is not None else SimulationConfig()
    root = Path(out_dir)
    fp = cfg.fingerprint()
    if root.exists() and not root.is_dir():
        raise SimulationError(f"output path {root} exists and is not a folder")
    root.mkdir(parents=True, exist_ok=True)
    if _check_folder(root, cfg, fp, overwrite):
        done = _reuse(root, cfg, fp)
        if done is not None:
            log.info("simulated corpus %s is complete (%d items, fingerprint %s): nothing to do",
                     root, done.n_items, short(fp))
            return done
    atomic_write_json(root / _STAMP, {"generator": "amber2.demo.synth", "generator_version": GENERATOR_VERSION,
                                      "fingerprint": fp, "config": cfg.to_dict()})
    t0 = time.perf_counter()
    plan = plan_corpus(cfg)
    t_plan = time.perf_counter() - t0
    audio_dir = root / _AUDIO
    audio_dir.mkdir(exist_ok=True)
    frames = np.zeros(len(plan.items), dtype=np.int64)
    failures: dict[str, str] = {}
    spk = {s.id: s for s in plan.speakers}
    written = 0
    t1 = time.perf_counter()
    with progress_bar(progress) as bar:
        task = bar.add_task("synthesising audio", total=len(plan.items))
        for it in plan.items:
            path = _wav_path(audio_dir, it.id)
            try:
                if path.exists():  # from an interrupted run (written atomically): keep it if readable
                    try:
                        frames[it.index] = _wav_frames(path)
                    except Exception as exc:
                        log.warning("item %s: unreadable %s (%s); making it again", it.id, path.name, exc)
                        path.unlink()
                if not path.exists():
                    y = synthesize(spk[it.speaker], np.asarray(it.cue), syllabify(it.transcript),
                                   np.random.default_rng([cfg.seed, _AUDIO_STREAM, it.index]), cfg.sample_rate)
                    frames[it.index] = _write_wav(path, y, cfg.sample_rate)
                    written += 1
            except Exception as exc:  # record, carry on; the run fails at the end
                failures[it.id] = f"{type(exc).__name__}: {exc}"
                log.warning("item %s failed: %s", it.id, failures[it.id])
            bar.advance(task)
    t_audio = time.perf_counter() - t1
    if failures:
        shown = "; ".join(f"{k}: {v}" for k, v in list(failures.items())[:5])
        raise SimulationError(
            f"{len(failures)} of {len(plan.items)} items failed ({shown}{' ...' if len(failures) > 5 else ''}); "
            f"the manifest was not written; re-run to retry them"
        )
    durations = frames / cfg.sample_rate
    _write_tables(root, plan, durations, fp, t_plan, t_audio)
    log.info("simulated corpus: %d items, %d votes, %.1f min of audio in %s (%d WAVs written, %.1f s)",
             len(plan.items), sum(len(v) for v in plan.votes), durations.sum() / 60, root, written,
             time.perf_counter() - t0)
    return SimulatedCorpus(
        root=root, manifest=root / _MANIFEST, audio_dir=audio_dir, items=root / _ITEMS, raters=root / _RATERS,
        info=root / _INFO, n_items=len(plan.items), n_speakers=len(plan.speakers), n_raters=len(plan.pool),
        n_votes=sum(len(v) for v in plan.votes), duration_s=float(durations.sum()), config=cfg,
        fingerprint=fp, generated=written,
    )


def _write_tables(root: Path, plan: CorpusPlan, durations: np.ndarray, fp: str, t_plan: float,
                  t_audio: float) -> None:
    """Write raters.csv, items.csv, simulation.json, then manifest.csv (last)."""
    cfg, pool = plan.config, plan.pool
    sex = {s.id: s.sex for s in plan.speakers}
    n_cast = np.zeros(len(pool), dtype=int)
    for vs in plan.votes:
        for r, _ in vs:
            n_cast[r] += 1
    atomic_write_text(root / _RATERS, _csv_text(
        ["rater", "voice_reliance", "noise", *[f"bias:{c}" for c in CLASSES], "n_votes"],
        [[pool.ids[r], _f(pool.voice_reliance[r]), _f(pool.noise[r]), *[_f(b) for b in pool.bias[r]],
          int(n_cast[r])] for r in range(len(pool))],
    ))
    Y = plan.soft_labels()
    p_cols = [f"p_true:{c}" for c in CLASSES]
    meta_header = ["gender", "conflict", "intensity", "voice_emotion", "voice_intensity", "text_emotion",
                   "text_intensity", *p_cols]

    def meta(it: PlannedItem) -> list[str]:
        return [sex[it.speaker], it.conflict, _f(it.intensity, 4), it.voice_emotion, _f(it.voice_intensity, 4),
                it.text_emotion, _f(it.text_intensity, 4), *[_f(p) for p in plan.p_true[it.index]]]

    item_rows = []
    for it in plan.items:
        item_rows.append([
            it.id, f"{_AUDIO}/{it.id}.wav", it.transcript, it.speaker, _f(durations[it.index], 4), *meta(it),
            *[_f(s, 4) for s in it.text_strength], *[_f(v, 6) for v in it.cue],
            *[_f(y, 6) for y in Y[it.index]], len(plan.votes[it.index]),
        ])
    atomic_write_text(root / _ITEMS, _csv_text(
        ["id", "audio", "transcript", "speaker", "duration", *meta_header,
         *[f"text_strength:{c}" for c in CLASSES], *[f"cue:{d}" for d in PROSODY_DIMS],
         *[f"y:{c}" for c in CLASSES], "n_votes"],
        item_rows,
    ))
    ent = row_entropy(Y, base=math.e)
    majority_ok = np.array([
        Y[i].argmax() == CLASSES.index(it.voice_emotion if it.conflict != "voice_uninformative" else it.text_emotion)
        for i, it in enumerate(plan.items)
    ])
    counts = {
        "items": len(plan.items),
        "speakers": len(plan.speakers),
        "raters": len(pool),
        "votes": int(sum(len(v) for v in plan.votes)),
        "duration_s": round(float(durations.sum()), 3),
        "duration_range_s": [round(float(durations.min()), 3), round(float(durations.max()), 3)],
        "conflict": {t: sum(it.conflict == t for it in plan.items) for t in CONFLICT_TYPES},
        "voice_emotion": {c: sum(it.voice_emotion == c for it in plan.items) for c in CLASSES},
        "text_emotion": {c: sum(it.text_emotion == c for it in plan.items) for c in CLASSES},
        "majority_vote": {c: int((Y.argmax(1) == k).sum()) for k, c in enumerate(CLASSES)},
        "mean_vote_entropy_nats": round(float(ent.mean()), 4),
        "mean_true_entropy_nats": round(float(row_entropy(plan.p_true, base=math.e).mean()), 4),
        "majority_matches_intended_class": round(float(majority_ok.mean()), 4),
    }
    atomic_write_json(root / _INFO, {
        "generator": "amber2.demo.synth",
        "generator_version": GENERATOR_VERSION,
        "amber2_version": __version__,
        "fingerprint": fp,
        "config": cfg.to_dict(),
        "classes": list(CLASSES),
        "counts": counts,
        "files": {"manifest": _MANIFEST, "items": _ITEMS, "raters": _RATERS, "audio": f"{_AUDIO}/"},
        "speakers": [s.to_dict() for s in plan.speakers],
        "prosody_dims": list(PROSODY_DIMS),
    })
    rows = []
    for it in plan.items:
        base = [it.id, f"{_AUDIO}/{it.id}.wav", it.transcript, it.speaker, it.speaker, _f(durations[it.index], 4)]
        m = meta(it)
        for r, c in plan.votes[it.index]:
            rows.append([*base, pool.ids[r], CLASSES[c], "external", *m])
    atomic_write_text(root / _MANIFEST, _csv_text(
        ["id", "audio", "transcript", "speaker", "group", "duration", "rater", "label", "rater_kind", *meta_header],
        rows,
    ))
    log.debug("plan %.2f s, audio %.2f s", t_plan, t_audio)
