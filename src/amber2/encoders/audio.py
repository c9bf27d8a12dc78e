"""Audio loading for the encoders: decode, downmix, resample, validate, with one clear error per item.

Every problem an extraction can meet in a corpus gets its own :class:`AudioError` with a short
machine-friendly ``reason`` and a message naming the item and the file:

========================  =====================================================================
reason                    meaning
========================  =====================================================================
``no_path``               the corpus table gives no audio path for the item
``missing``               the file does not exist
``lfs_pointer``           a Git LFS pointer stands where the audio should be
``empty_file``            the file has 0 bytes
``unreadable``            soundfile cannot decode it (corrupt, truncated, unsupported format)
``zero_length``           it decodes to no samples
``non_finite``            it holds NaN or infinite samples
``silent``                every sample is (nearly) zero: peak amplitude below a threshold
``out_of_range``          float samples far outside [-1, 1] (peak above :data:`MAX_PEAK`): a file
                          written unscaled (integer PCM stored as float, a gain bug) would give a
                          meaningless embedding
``truncated``             a WAV whose data chunk is shorter than its header says (a partial copy)
``low_sample_rate``       a sample rate under :data:`MIN_SAMPLE_RATE` Hz: too low to carry speech
                          for any encoder (resampling up cannot restore what was never recorded)
``too_short``             shorter than the encoder's receptive field (raised by the encoders)
========================  =====================================================================
"""

from __future__ import annotations

import itertools
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from amber2.utils.lfs import is_lfs_pointer, lfs_pointer_message
from amber2.utils.logging import get_logger

__all__ = [
    "DEFAULT_SILENCE_THRESHOLD",
    "MAX_PEAK",
    "MIN_SAMPLE_RATE",
    "AudioError",
    "check_audio_file",
    "check_sample_rate",
    "downmix",
    "load_audio",
    "resample",
    "split_long",
    "validate_waveform",
    "zero_mean_unit_var",
]

log = get_logger(__name__)

#: Peak amplitude (full scale = 1.0) below which a clip counts as silent: 1e-4 is -80 dBFS, about
#: three steps of 16-bit quantisation.
DEFAULT_SILENCE_THRESHOLD = 1e-4
#: Largest peak amplitude accepted (full scale = 1.0): +6 dBFS leaves room for float files that clip a
#: little, and refuses samples "far outside [-1, 1]".
MAX_PEAK = 2.0
#: Lowest sample rate accepted, in Hz (narrow-band telephone speech).
MIN_SAMPLE_RATE = 8000


class AudioError(ValueError):
    """A clip cannot be used; ``reason`` is a short code (see the module docstring)."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


def _who(path: str | os.PathLike[str] | None, item_id: str | None) -> str:
    parts = []
    if item_id is not None:
        parts.append(f"item {item_id!r}")
    if path is not None:
        parts.append(os.fspath(path))
    return ": ".join(parts) + ": " if parts else ""


def check_audio_file(path: str | os.PathLike[str] | None, item_id: str | None = None) -> Path:
    """Cheap checks before decoding: a path is given, exists, is not empty and not an LFS pointer.

    Args:
        path: The audio file (None when the corpus table has none).
        item_id: Utterance id, for the message.

    Returns:
        The path as a :class:`~pathlib.Path`.

    Raises:
        AudioError: ``no_path``, ``missing``, ``empty_file`` or ``lfs_pointer``.
    """
    if path is None or (isinstance(path, float) and math.isnan(path)) or str(path) == "":
        raise AudioError(f"{_who(None, item_id)}no audio path in the corpus table", "no_path")
    p = Path(path)
    if not p.is_file():
        raise AudioError(f"{_who(p, item_id)}audio file not found", "missing")
    if p.stat().st_size == 0:
        raise AudioError(f"{_who(p, item_id)}empty file (0 bytes)", "empty_file")
    if is_lfs_pointer(p):
        raise AudioError(lfs_pointer_message(p, item_id), "lfs_pointer")
    return p


def downmix(samples: np.ndarray) -> np.ndarray:
    r"""Average the channels of ``(frames, channels)`` samples into mono ``(frames,)``.

    .. math:: x[t] = \frac{1}{C} \sum_{c=1}^{C} x_c[t]
    """
    a = np.asarray(samples)
    if a.ndim == 1:
        return a
    if a.ndim != 2:
        raise ValueError(f"expected (frames,) or (frames, channels) samples, got shape {a.shape}")
    return a.mean(axis=1, dtype=np.float64).astype(a.dtype if a.dtype.kind == "f" else np.float32)


def resample(x: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample a mono signal with a polyphase FIR filter (``scipy.signal.resample_poly``).

    The ratio ``target_sr / orig_sr`` is reduced to ``up / down`` by their greatest common divisor;
    the output has ``ceil(len(x) * up / down)`` samples.

    Args:
        x: Mono samples.
        orig_sr: Their sample rate (Hz, > 0).
        target_sr: Wanted sample rate (Hz, > 0).

    Returns:
        float32 samples at ``target_sr``.
    """
    if orig_sr <= 0 or target_sr <= 0:
        raise ValueError(f"sample rates must be positive, got {orig_sr} -> {target_sr}")
    x = np.asarray(x, dtype=np.float32)
    if orig_sr == target_sr:
        return x
    from scipy.signal import resample_poly

    g = math.gcd(int(orig_sr), int(target_sr))
    up, down = int(target_sr) // g, int(orig_sr) // g
    return resample_poly(x, up, down).astype(np.float32, copy=False)


def validate_waveform(
    x: np.ndarray,
    *,
    item_id: str | None = None,
    path: str | os.PathLike[str] | None = None,
    silence_threshold: float = DEFAULT_SILENCE_THRESHOLD,
    max_peak: float = MAX_PEAK,
) -> np.ndarray:
    """Check a decoded mono waveform: non-empty, finite, within range, not silent.

    Args:
        x: Mono samples (any float/int dtype).
        item_id: Utterance id, for the message.
        path: Source file, for the message.
        silence_threshold: A clip whose peak ``max|x|`` is below this is rejected as silent
            (0 disables the check).
        max_peak: A clip whose peak is above this is rejected as ``out_of_range`` (0 disables it).

    Returns:
        The samples as float32.

    Raises:
        AudioError: ``zero_length``, ``non_finite``, ``out_of_range`` or ``silent``.
    """
    a = np.asarray(x)
    if a.ndim != 1:
        raise AudioError(f"{_who(path, item_id)}expected mono samples, got shape {a.shape}", "unreadable")
    if a.size == 0:
        raise AudioError(f"{_who(path, item_id)}zero-length audio (no samples)", "zero_length")
    a = a.astype(np.float32, copy=False)
    finite = np.isfinite(a)
    if not finite.all():
        bad = int(a.size - np.count_nonzero(finite))
        raise AudioError(
            f"{_who(path, item_id)}{bad} of {a.size} samples are NaN or infinite", "non_finite"
        )
    peak = float(np.max(np.abs(a)))
    if max_peak > 0 and peak > max_peak:
        raise AudioError(
            f"{_who(path, item_id)}samples far outside [-1, 1] (peak amplitude {peak:.3g} > {max_peak:g}): "
            "unscaled audio (integer PCM stored as float?); rescale it to [-1, 1]", "out_of_range",
        )
    if silence_threshold > 0 and peak < silence_threshold:
        raise AudioError(
            f"{_who(path, item_id)}all-silent audio (peak amplitude {peak:.2g} < {silence_threshold:g})",
            "silent",
        )
    return a


def check_sample_rate(sr: int, *, item_id: str | None = None, path: str | os.PathLike[str] | None = None) -> int:
    """Refuse a sample rate below :data:`MIN_SAMPLE_RATE` (``low_sample_rate``); return it as an int."""
    if int(sr) < MIN_SAMPLE_RATE:
        raise AudioError(f"{_who(path, item_id)}sample rate {sr} Hz is below {MIN_SAMPLE_RATE} Hz: too low to "
                         "carry speech for the encoders", "low_sample_rate")
    return int(sr)


def _wav_shortfall(path: Path) -> tuple[int, int] | None:
    """``(declared, present)`` data bytes of a RIFF/WAVE file whose data chunk is cut short, else None.

    Hand-written because libsndfile silently clamps a short data chunk to the bytes present.
    """
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            pos = 12
            for _ in range(64):  # a WAV has a handful of chunks; bound the walk
                ch = fh.read(8)
                if len(ch) < 8:
                    return None
                cid, n = ch[:4], int.from_bytes(ch[4:8], "little")
                pos += 8
                if cid == b"data":
                    present = size - pos
                    # 0 and 0xFFFFFFFF mark streamed / RF64 files whose size is not in this header
                    return (n, present) if n not in (0, 0xFFFFFFFF) and n > present else None
                pos += n + (n & 1)
                fh.seek(pos)
    except OSError:
        return None
    return None


def load_audio(
    path: str | os.PathLike[str] | None,
    target_sr: int = 16000,
    *,
    item_id: str | None = None,
    max_seconds: float | None = None,
    silence_threshold: float = DEFAULT_SILENCE_THRESHOLD,
) -> np.ndarray:
    """Read an audio file as float32 mono at ``target_sr``, with a clear error for every bad input.

    Decoding uses soundfile (WAV, FLAC, OGG, ...); several channels are averaged to mono; other rates
    are resampled (:func:`resample`). ``max_seconds`` caps a long clip (the first ``max_seconds``
    are kept and a debug message is logged); encoders that prefer to *chunk* long clips do it
    themselves (:func:`split_long`).

    Args:
        path: Audio file.
        target_sr: Output sample rate in Hz.
        item_id: Utterance id, named in error messages.
        max_seconds: Keep at most this many seconds (None: everything).
        silence_threshold: Peak amplitude below which the clip is rejected as silent.

    Returns:
        1-D float32 array of samples in [-1, 1] for integer PCM sources.

    Raises:
        AudioError: one of the reasons of the module docstring.
    """
    p = check_audio_file(path, item_id)
    import soundfile as sf

    try:
        data, sr = sf.read(str(p), dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises LibsndfileError, RuntimeError, TypeError...
        msg = str(exc).strip() or type(exc).__name__
        raise AudioError(
            f"{_who(p, item_id)}cannot decode audio (corrupt or unsupported format): {msg}", "unreadable"
        ) from exc
    if data.shape[0] == 0:
        raise AudioError(f"{_who(p, item_id)}zero-length audio (no samples)", "zero_length")
    check_sample_rate(sr, item_id=item_id, path=p)
    short = _wav_shortfall(p)
    if short is not None:
        raise AudioError(f"{_who(p, item_id)}truncated WAV: the header announces {short[0]} data bytes, the file "
                         f"holds {short[1]} (a partial copy?)", "truncated")
    x = downmix(data)
    # Validate before resampling: a NaN spreads over the whole filter and an empty clip cannot be
    # filtered.
    x = validate_waveform(x, item_id=item_id, path=p, silence_threshold=0.0)
    x = resample(x, int(sr), int(target_sr))
    if max_seconds is not None and max_seconds > 0:
        cap = round(max_seconds * target_sr)
        if x.size > cap:
            log.debug("%scapped from %.1f s to %.1f s", _who(p, item_id), x.size / target_sr, max_seconds)
            x = x[:cap]
    return validate_waveform(x, item_id=item_id, path=p, silence_threshold=silence_threshold)


def zero_mean_unit_var(x: np.ndarray, eps: float = 1e-7) -> np.ndarray:
    r"""Normalise one utterance as Hugging Face's ``Wav2Vec2FeatureExtractor(do_normalize=True)`` does.

    .. math:: \tilde x[t] = \frac{x[t] - \mu}{\sqrt{\sigma^2 + \epsilon}}, \quad
              \mu = \frac{1}{T}\sum_t x[t], \quad \sigma^2 = \frac{1}{T}\sum_t (x[t]-\mu)^2

    Args:
        x: Mono samples.
        eps: The :math:`\epsilon` above (1e-7 as in transformers).

    Returns:
        float32 samples with mean 0 and variance ~1.
    """
    a = np.asarray(x, dtype=np.float32)
    return ((a - a.mean()) / np.sqrt(a.var() + eps)).astype(np.float32, copy=False)


def split_long(n_samples: int, max_samples: int) -> list[tuple[int, int]]:
    """Split ``[0, n_samples)`` into the fewest nearly equal chunks of at most ``max_samples``.

    Args:
        n_samples: Length of the clip (>= 0).
        max_samples: Longest chunk allowed (> 0).

    Returns:
        ``[(start, stop), ...]`` covering the clip in order; one chunk when it already fits.
    """
    if max_samples <= 0:
        raise ValueError(f"max_samples must be positive, got {max_samples}")
    k = max(1, math.ceil(n_samples / max_samples))
    edges = np.linspace(0, n_samples, k + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in itertools.pairwise(edges.tolist())]


def audio_duration(path: str | os.PathLike[str]) -> float:
    """Duration in seconds from the file header (0.0 if the header cannot be read)."""
    import soundfile as sf

    try:
        info: Any = sf.info(str(path))
        return float(info.frames) / float(info.samplerate) if info.samplerate else 0.0
    except Exception:
        return 0.0
