r"""The voice of the simulated corpus: speakers, emotional prosody, and a source-filter synthesiser.

**Prosodic cue.** The voice channel of an utterance is a vector :math:`v \in \mathbb{R}^7` over
:data:`PROSODY_DIMS` (f0 level, f0 range, loudness, speaking rate, vocal tension, terminal contour,
pausing), each measured relative to the speaker's own neutral voice in the units of
:data:`PROSODY_UNITS` (so that one unit is a clearly audible change). An item whose voice carries
class :math:`e` at intensity :math:`s` has

.. math::

    v = s\,P_e + \eta, \qquad \eta \sim \mathcal{N}(0, \sigma_\eta^2 I),

with :math:`P_e` the class prototype (:data:`EMOTION_PROSODY`, zero for neutral) and :math:`\eta`
item-to-item variation that carries no emotion. The prototypes follow the directions the
emotion-acoustics literature reports (Banse & Scherer 1996; Juslin & Laukka 2003): anger and happiness
raise f0 level and range, loudness and rate; anger has the most vocal effort (tense voice, flatter
spectral slope) and falling ends, happiness rising ends; sadness lowers f0, range, loudness and rate,
adds pauses and a lax, breathy voice.

**Synthesis.** :func:`synthesize` renders a transcript's syllables (:func:`amber2.demo.lexicon.syllabify`)
with a speaker's voice and a cue :math:`v`:

1. Timeline: syllable durations with random variation, stress and phrase-final lengthening, rescaled so
   the syllable rate is exactly ``speaker.rate * 2**(v_rate * unit)``; onset consonants (stop closure +
   burst, fricative noise, sonorant) take part of each syllable; pauses at commas and sentence ends and
   a few hesitations between words, scaled by the pause cue.
2. f0 contour in semitones: level + declination + terminal rise/fall (contour cue) + pitch accents on
   stressed syllables and a slow drift (both scaled by the range cue); ``f0(t) = f0_spk 2**(st(t)/12)``.
3. Glottal source: phase :math:`\phi(t) = \sum f_0 (1 + j_k)/f_s` with per-cycle jitter :math:`j_k`;
   a Rosenberg flow pulse per cycle (opening :math:`0.5(1-\cos(\pi\phi/T_p))`, closing
   :math:`\cos(\frac{\pi}{2}(\phi-T_p)/T_n)`, open quotient and closing speed set by tension), scaled
   per cycle by shimmer; its time derivative (flow derivative, i.e. with lip radiation) is the voiced
   excitation; aspiration noise gated by the flow; frication noise for consonants.
4. Vocal tract in the STFT domain: each frame is multiplied by a cascade of five two-pole resonators
   :math:`|H_k| = (1 - 2r\cos\theta + r^2) / |1 - 2r\cos\theta\, z^{-1} + r^2 z^{-2}|` at the
   interpolated formant targets of the vowels (Peterson & Barney / Hillenbrand averages, scaled by the
   speaker's vocal-tract factor), plus a floor of -30 dB (the cascade alone falls off too steeply above
   F5), and by a spectral tilt of ``2.5 * tension`` dB per octave re 500 Hz.
5. Level: the active-speech RMS is set to ``-30 + speaker.level + v_loud * unit`` dBFS, a noise floor
   is added at -75 dBFS and peaks above 0.9 are soft-limited.

Everything is vectorised over samples and frames; an utterance of 3 s takes about 10-15 ms of CPU.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from amber2.demo.lexicon import CLASSES, Syllable

__all__ = [
    "EMOTION_PROSODY",
    "PROSODY_DIMS",
    "PROSODY_UNITS",
    "VOWEL_FORMANTS",
    "Speaker",
    "draw_speakers",
    "prosody_prototypes",
    "synthesize",
]

#: Dimensions of the prosodic cue vector.
PROSODY_DIMS: tuple[str, ...] = ("f0_level", "f0_range", "loudness", "rate", "tension", "contour", "pause")

#: One unit of each cue dimension, in physical units: semitones, log2 factor, dB, log2 factor,
#: tension units (0.4 = clearly tenser or laxer voice), semitones of terminal movement, log2 factor.
PROSODY_UNITS: tuple[float, ...] = (2.0, 0.35, 3.0, 0.12, 0.4, 2.0, 0.4)

#: Change from the speaker's neutral voice at intensity 1, in physical units (see PROSODY_UNITS).
EMOTION_PROSODY: dict[str, tuple[float, ...]] = {
    "neutral": (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
    #          f0 st  range   dB    rate  tension contour pause
    "happy": (4.0, 0.60, 4.0, 0.12, 0.30, 2.5, -0.30),
    "angry": (3.5, 0.45, 8.0, 0.18, 1.00, -2.0, -0.40),
    "sad": (-2.5, -0.60, -6.0, -0.35, -0.80, -1.5, 0.60),
}

#: Adult male vowel formants F1-F3 in Hz (Peterson & Barney 1952; Hillenbrand et al. 1995 averages).
VOWEL_FORMANTS: dict[str, tuple[float, float, float]] = {
    "a": (730.0, 1090.0, 2440.0),
    "e": (530.0, 1840.0, 2480.0),
    "i": (300.0, 2200.0, 2950.0),
    "o": (570.0, 870.0, 2410.0),
    "u": (320.0, 920.0, 2240.0),
    "@": (500.0, 1500.0, 2500.0),
}
_HIGHER_FORMANTS = (3400.0, 4300.0)
_BANDWIDTHS = np.array([80.0, 100.0, 150.0, 220.0, 300.0])
_HF_FLOOR = 0.03  # -30 dB re the cascade's DC gain
_LEVEL_REF_DBFS = -30.0
_NOISE_FLOOR_DBFS = -75.0


def prosody_prototypes() -> np.ndarray:
    """The class prototypes :math:`P_c` in cue units, shape ``(4, 7)`` in :data:`CLASSES` order."""
    units = np.asarray(PROSODY_UNITS)
    return np.stack([np.asarray(EMOTION_PROSODY[c]) / units for c in CLASSES])


@dataclass(frozen=True)
class Speaker:
    """One simulated speaker's neutral voice.

    Attributes:
        id: Speaker id (``spk007``).
        sex: ``female`` or ``male`` (sets the f0 and vocal-tract length ranges).
        f0_hz: Neutral f0 level (Hz): male median 115, female 205, log-normal spread.
        formant_scale: Vocal-tract factor on all formants (male ~1.0, female ~1.16).
        rate_syl_s: Neutral speaking rate, syllables per second (~4.6).
        level_db: Neutral speech level relative to -30 dBFS.
        tension: Neutral vocal tension (added to the tension cue).
        breathiness: Aspiration noise level relative to the voiced source.
        jitter: Relative per-cycle period perturbation (standard deviation).
        shimmer: Relative per-cycle amplitude perturbation (standard deviation).
        channel_tilt: Recording-channel spectral tilt, dB per octave (a nuisance).
    """

    id: str
    sex: str
    f0_hz: float
    formant_scale: float
    rate_syl_s: float
    level_db: float
    tension: float
    breathiness: float
    jitter: float
    shimmer: float
    channel_tilt: float

    def to_dict(self) -> dict[str, object]:
        """Plain dict (for JSON)."""
        return asdict(self)


def draw_speakers(rng: np.random.Generator, n: int) -> list[Speaker]:
    """Draw ``n`` speakers, alternating female and male (``spk000`` is female).

    Args:
        rng: Random generator (consumed).
        n: Number of speakers (>= 1).

    Returns:
        The speakers.

    Raises:
        ValueError: If ``n < 1``.
    """
    if n < 1:
        raise ValueError(f"need at least one speaker, got {n}")
    out = []
    for i in range(n):
        female = i % 2 == 0
        out.append(Speaker(
            id=f"spk{i:03d}",
            sex="female" if female else "male",
            f0_hz=round(float((205.0 if female else 115.0) * np.exp(rng.normal(0.0, 0.09))), 3),
            formant_scale=round(float((1.16 if female else 1.0) + rng.normal(0.0, 0.035)), 4),
            rate_syl_s=round(float(np.clip(rng.normal(4.6, 0.35), 3.6, 5.6)), 3),
            level_db=round(float(rng.normal(0.0, 1.5)), 3),
            tension=round(float(rng.normal(0.0, 0.15)), 3),
            breathiness=round(float(rng.uniform(0.04, 0.12)), 4),
            jitter=round(float(rng.uniform(0.004, 0.012)), 5),
            shimmer=round(float(rng.uniform(0.03, 0.07)), 4),
            channel_tilt=round(float(rng.normal(0.0, 0.7)), 3),
        ))
    return out


# ---------------------------------------------------------------------------- synthesis

_ONSET_SHARE = {"none": 0.0, "stop": 0.30, "fricative": 0.34, "sonorant": 0.24}


def _timeline(
    syllables: Sequence[Syllable], rate: float, pause_factor: float, rng: np.random.Generator,
) -> tuple[list[tuple[str, float, float, int]], float]:
    """Segments ``(kind, start_s, end_s, syllable_index)`` and the total duration in seconds."""
    n = len(syllables)
    raw = np.exp(rng.normal(0.0, 0.18, size=n))
    raw *= np.array([1.3 if s.stressed else 1.0 for s in syllables])
    raw *= np.array([1.45 if s.pause_after else 1.0 for s in syllables])
    dur = raw * (n / rate) / raw.sum()
    segs: list[tuple[str, float, float, int]] = []
    t = float(rng.uniform(0.12, 0.22))
    hes = rng.random(n)
    pause_jit = rng.uniform(0.8, 1.25, size=n)
    for k, (syl, d) in enumerate(zip(syllables, dur)):
        on = d * _ONSET_SHARE[syl.onset]
        if on > 0:
            segs.append((syl.onset, t, t + on, k))
        segs.append(("vowel", t + on, t + d, k))
        t += d
        if syl.pause_after == 1:
            t += 0.20 * pause_factor * pause_jit[k]
        elif syl.pause_after == 2 and k < n - 1:
            t += 0.38 * pause_factor * pause_jit[k]
        elif syl.word_final and k < n - 1 and hes[k] < 0.06 * pause_factor:
            t += 0.09 * pause_factor * pause_jit[k]
    return segs, t + float(rng.uniform(0.12, 0.2))


def _resonator_gain(freqs: np.ndarray, fc: np.ndarray, bw: np.ndarray, fs: float) -> np.ndarray:
    r"""|H| of a unit-DC-gain two-pole resonator: freqs (B,), fc/bw (T,) -> (T, B).

    .. math::  |H(\omega)| = \frac{1 - 2r\cos\theta + r^2}
               {\sqrt{(1 - 2r\cos\theta\cos\omega + r^2\cos 2\omega)^2
               + (2r\cos\theta\sin\omega - r^2\sin 2\omega)^2}},
               \quad r = e^{-\pi B/f_s},\ \theta = 2\pi F/f_s.
    """
    r = np.exp(-np.pi * bw / fs)[:, None]
    a1 = 2.0 * r * np.cos(2 * np.pi * fc / fs)[:, None]
    r2 = r * r
    w = 2 * np.pi * freqs / fs
    cw, sw, c2w, s2w = np.cos(w), np.sin(w), np.cos(2 * w), np.sin(2 * w)
    re = 1.0 - a1 * cw + r2 * c2w
    im = a1 * sw - r2 * s2w
    return (1.0 - a1 + r2) / np.sqrt(re * re + im * im)


def _hann(nper: int) -> np.ndarray:
    return 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(nper) / nper)  # periodic Hann


def _stft(x: np.ndarray, nper: int, hop: int) -> tuple[np.ndarray, np.ndarray]:
    """Hann-windowed frames every ``hop`` samples -> rfft, shape (T, nper/2+1), and frame centres.

    The signal is zero-padded by ``nper - hop`` at each end so every sample lies under four frames
    (hop = nper/4), which :func:`_istft` needs for an exact reconstruction.
    """
    pad = nper - hop
    n_frames = -(-(x.size + pad) // hop)
    xp = np.zeros((n_frames - 1) * hop + nper)
    xp[pad: pad + x.size] = x
    frames = np.lib.stride_tricks.sliding_window_view(xp, nper)[::hop]
    centres = np.arange(n_frames) * hop + nper // 2 - pad
    return np.fft.rfft(frames * _hann(nper), axis=1), centres


def _istft(Z: np.ndarray, nper: int, hop: int, n: int) -> np.ndarray:
    """Weighted overlap-add inverse of :func:`_stft` (hop = nper/4: window-square sum 1.5)."""
    if nper != 4 * hop:
        raise ValueError("_istft needs hop = nper / 4")
    frames = np.fft.irfft(Z, n=nper, axis=1) * _hann(nper)
    T = frames.shape[0]
    blocks = np.zeros((T + 3, hop))
    parts = frames.reshape(T, 4, hop)
    for j in range(4):
        blocks[j:j + T] += parts[:, j]
    y = blocks.reshape(-1) / 1.5
    pad = nper - hop
    return y[pad: pad + n]


def synthesize(
    speaker: Speaker,
    cue: np.ndarray,
    syllables: Sequence[Syllable],
    rng: np.random.Generator,
    sample_rate: int = 16000,
) -> np.ndarray:
    """Render an utterance: speaker voice + prosodic cue + syllables -> waveform (see the module doc).

    Args:
        speaker: The speaker.
        cue: Prosodic cue :math:`v`, shape ``(7,)`` in cue units (:data:`PROSODY_DIMS` order).
        syllables: The syllables to speak (from :func:`amber2.demo.lexicon.syllabify`).
        rng: Random generator for timing, jitter, shimmer and noise (consumed).
        sample_rate: Samples per second (>= 11025, so that five formants fit).

    Returns:
        float64 waveform in [-1, 1].

    Raises:
        ValueError: On a cue of the wrong shape or non-finite values, no syllables, or a too-low rate.
    """
    from scipy.fft import next_fast_len
    from scipy.ndimage import uniform_filter1d

    cue = np.asarray(cue, dtype=np.float64)
    if cue.shape != (len(PROSODY_DIMS),) or not np.all(np.isfinite(cue)):
        raise ValueError(f"prosodic cue must be {len(PROSODY_DIMS)} finite values, got {cue!r}")
    if not syllables:
        raise ValueError("no syllables to synthesise")
    if sample_rate < 11025:
        raise ValueError(f"sample_rate must be >= 11025 Hz, got {sample_rate}")
    fs = float(sample_rate)
    phys = cue * np.asarray(PROSODY_UNITS)
    st_level, range_log2, loud_db, rate_log2, tension_d, contour_st, pause_log2 = phys
    tension = speaker.tension + tension_d
    range_f = 2.0 ** range_log2
    rate = speaker.rate_syl_s * 2.0 ** rate_log2
    pause_factor = 2.0 ** pause_log2

    segs, total = _timeline(syllables, rate, pause_factor, rng)
    n = round(total * fs)
    t = np.arange(n) / fs

    # --- amplitude tracks: voicing and frication (step functions smoothed by ~12 ms)
    av = np.zeros(n)
    af = np.zeros(n)
    for kind, a, b, _ in segs:
        i0, i1 = int(a * fs), min(int(b * fs), n)
        if kind == "vowel":
            av[i0:i1] = 1.0
        elif kind == "sonorant":
            av[i0:i1] = 0.35
        elif kind == "fricative":
            af[i0:i1] = 0.30
        elif kind == "stop":  # closure, then a 12 ms burst
            ib = max(i0, i1 - int(0.012 * fs))
            af[ib:i1] = 0.55
    win = max(3, int(0.012 * fs))
    av = uniform_filter1d(av, win, mode="constant")
    af = uniform_filter1d(af, max(3, win // 2), mode="constant")

    # --- f0 contour (semitones re the speaker's f0)
    tau = t / max(total, 1e-9)
    st = st_level - 2.0 * (tau - 0.5) + contour_st * np.clip((tau - 0.7) / 0.3, 0.0, 1.0) ** 2
    for kind, a, b, k in segs:
        if kind == "vowel" and syllables[k].stressed and rng.random() < 0.75:
            amp = 2.5 * rng.uniform(0.6, 1.4) * range_f
            c = 0.5 * (a + b)
            i0, i1 = max(0, int((c - 0.2) * fs)), min(n, int((c + 0.2) * fs))
            st[i0:i1] += amp * np.exp(-0.5 * ((t[i0:i1] - c) / 0.06) ** 2)
    hop_drift = int(0.05 * fs)
    knots = rng.normal(0.0, 0.6 * range_f, size=n // hop_drift + 2)
    st += np.interp(t, np.arange(knots.size) * hop_drift / fs, knots)
    f0 = speaker.f0_hz * 2.0 ** (st / 12.0)

    # --- glottal source: phase with per-cycle jitter, Rosenberg flow, shimmer
    phase0 = np.cumsum(f0) / fs
    n_cyc = int(phase0[-1]) + 2
    jit = rng.normal(0.0, speaker.jitter * (1.0 + 0.3 * max(0.0, -tension)), size=n_cyc)
    phase = np.cumsum(f0 * (1.0 + jit[phase0.astype(np.int64)])) / fs
    cyc = phase.astype(np.int64)
    frac = phase - cyc
    oq = float(np.clip(0.62 - 0.12 * tension, 0.35, 0.85))
    tp = 0.62 * oq
    tn = float(np.clip((0.38 - 0.08 * tension) * oq, 0.04, 0.5 * oq))
    grid = np.linspace(0.0, 1.0, 2049)  # one pulse, tabulated, then looked up per sample
    pulse = np.where(
        grid < tp, 0.5 * (1.0 - np.cos(np.pi * grid / tp)),
        np.where(grid < tp + tn, np.cos(0.5 * np.pi * np.clip(grid - tp, 0.0, tn) / tn), 0.0),
    )
    flow = np.interp(frac, grid, pulse)
    shim = 1.0 + rng.normal(0.0, speaker.shimmer, size=cyc[-1] + 2)
    flow *= shim[cyc]
    voiced = np.diff(flow, prepend=0.0) * (f0 / 150.0) ** -0.5
    breath = speaker.breathiness * 2.0 ** (-1.2 * tension)
    asp = rng.normal(0.0, 1.0, size=n) * (0.25 + flow) * breath * 0.02
    src_v = (voiced + asp) * av
    src_f = rng.normal(0.0, 0.02, size=n) * af

    # --- vocal tract in the STFT domain (voiced + aspiration); frication through a fixed filter
    nper = int(2 ** round(np.log2(0.032 * fs)))  # ~32 ms frames: 512 at 16 kHz
    hop = nper // 4
    Zv, centres = _stft(src_v, nper, hop)
    freqs = np.arange(nper // 2 + 1) * fs / nper
    times = centres / fs
    bp_t, bp_f = [], []
    scale = speaker.formant_scale
    centr = 0.15 * max(0.0, -tension)
    f1_up = 1.0 + 0.05 * max(0.0, tension)
    schwa = np.array(VOWEL_FORMANTS["@"])
    for kind, a, b, k in segs:
        if kind == "vowel":
            tgt = np.array(VOWEL_FORMANTS[syllables[k].vowel])
            tgt = schwa + (tgt - schwa) * (1.0 - centr)
            tgt[0] *= f1_up
            bp_t.append(0.5 * (a + b))
            bp_f.append(tgt)
        elif kind in ("stop", "fricative"):
            bp_t.append(0.5 * (a + b))
            bp_f.append(np.array([320.0, 1700.0, 2600.0]))
    bp_t_a = np.asarray(bp_t)
    bp_f_a = np.asarray(bp_f) * scale
    nyq = fs / 2.0
    bw_scale = 1.0 + 2.0 * breath
    octs = np.log2(np.maximum(freqs, 100.0) / 500.0)
    fixed = np.ones(freqs.size)
    for j, fhi in enumerate(_HIGHER_FORMANTS):
        fixed = fixed * _resonator_gain(freqs, np.array([min(fhi * scale, nyq - 400.0)]),
                                        np.array([_BANDWIDTHS[3 + j]]), fs)[0]
    H = np.broadcast_to(fixed, (times.size, freqs.size)).copy()
    for j in range(3):
        fc = np.interp(times, bp_t_a, bp_f_a[:, j])
        H *= _resonator_gain(freqs, fc, np.full(times.size, _BANDWIDTHS[j] * bw_scale), fs)
    # a floor for the steep roll-off of the cascade above F5 (real speech keeps energy up to 8 kHz),
    # then the voice-quality and channel tilt
    H += _HF_FLOOR
    H *= 10.0 ** ((2.5 * tension + speaker.channel_tilt) * octs / 20.0)
    y = _istft(Zv * H, nper, hop, n)
    # frication: zero-phase filter over the whole signal (a broad high resonance + high-pass)
    nf = next_fast_len(n + nper, real=True)  # zero-padded: a fast length, and little wrap-around
    ff = np.fft.rfftfreq(nf, 1.0 / fs)
    fric = _resonator_gain(ff, np.array([min(4200.0 * scale, nyq - 500.0)]), np.array([2500.0]), fs)[0]
    fric *= (ff / (ff + 1500.0)) ** 2 * 10.0 ** (speaker.channel_tilt * np.log2(np.maximum(ff, 100.0) / 500.0) / 20.0)
    yf = np.fft.irfft(np.fft.rfft(src_f, n=nf) * fric, n=nf)[:n]
    # frication at a fixed level re the voiced speech (-12 dB at full frication amplitude)
    vmask, fmask = av > 0.5, af > 0.25
    if vmask.any() and fmask.any():
        rv = float(np.sqrt(np.mean(y[vmask] ** 2)))
        rf = float(np.sqrt(np.mean(yf[fmask] ** 2)))
        if rf > 0:
            yf *= 10.0 ** (-12.0 / 20.0) * rv / rf
    y = y + yf

    # --- level: active-speech RMS to the target, noise floor, soft limit
    active = (av + af) > 0.1
    rms = float(np.sqrt(np.mean(y[active] ** 2))) if active.any() else 0.0
    target_db = _LEVEL_REF_DBFS + speaker.level_db + loud_db
    if rms > 0:
        y *= 10.0 ** (target_db / 20.0) / rms
    y += rng.normal(0.0, 10.0 ** (_NOISE_FLOOR_DBFS / 20.0), size=n)
    mag = np.abs(y)
    over = mag > 0.9
    if over.any():
        y[over] = np.sign(y[over]) * (0.9 + 0.1 * np.tanh((mag[over] - 0.9) / 0.1))
    return y
