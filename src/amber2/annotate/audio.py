"""Audio for the annotating backends: decode, downmix, resample, cap; and WAV bytes for HTTP APIs.

The encoders' decoder (:func:`amber2.encoders.audio.load_audio`) sits above this layer, so the few
lines an annotator needs are here, on the same libraries (soundfile, ``scipy.signal.resample_poly``).
A clip longer than the backend takes is *capped* (its first ``max_seconds`` kept): one vote is one
judgement of one utterance, so chunking would not give a vote; the cap is reported per item.
"""

from __future__ import annotations

import io
import math
import os
from dataclasses import dataclass

import numpy as np

from amber2.corpora.audio_files import ensure_audio_file

__all__ = ["AnnotationAudioError", "Clip", "read_clip", "wav_bytes"]


class AnnotationAudioError(ValueError):
    """An item's audio cannot be used; ``reason`` is a short code (``missing_audio``, ...)."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Clip:
    """Mono float32 samples at ``sample_rate``; ``capped_from`` is the original length when capped."""

    samples: np.ndarray
    sample_rate: int
    capped_from: float | None = None

    @property
    def note(self) -> str | None:
        """A report line when the clip was capped."""
        if self.capped_from is None:
            return None
        return f"audio capped from {self.capped_from:.1f} s to {self.samples.size / self.sample_rate:.1f} s"


def read_clip(path: str | os.PathLike[str] | None, sample_rate: int, *, item_id: str,
              max_seconds: float | None = None, long_audio: str = "cap") -> Clip:
    """Read an item's audio as mono float32 at ``sample_rate``.

    Args:
        path: The audio file.
        sample_rate: Wanted rate (Hz).
        item_id: For messages.
        max_seconds: Longest clip the backend takes (None: any).
        long_audio: ``cap`` (keep the first ``max_seconds``) or ``skip`` (error ``too_long``).

    Raises:
        AnnotationAudioError: ``missing_audio``, ``unreadable_audio`` or ``too_long``.
    """
    try:
        p = ensure_audio_file(path, item_id)
    except (FileNotFoundError, ValueError) as exc:
        raise AnnotationAudioError(str(exc), "missing_audio") from None
    import soundfile as sf
    from scipy.signal import resample_poly

    try:
        data, sr = sf.read(str(p), dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises LibsndfileError, RuntimeError, TypeError ...
        raise AnnotationAudioError(f"item {item_id!r}: cannot decode {p}: {exc}", "unreadable_audio") from None
    if data.shape[0] == 0 or not np.isfinite(data).all():
        raise AnnotationAudioError(f"item {item_id!r}: {p} has no samples or non-finite ones", "unreadable_audio")
    x = data.mean(axis=1)
    seconds = x.size / sr
    capped = None
    if max_seconds is not None and seconds > max_seconds:
        if long_audio == "skip":
            raise AnnotationAudioError(f"item {item_id!r}: {seconds:.1f} s of audio is over the backend's limit of "
                                       f"{max_seconds:g} s", "too_long")
        x, capped = x[: int(math.floor(max_seconds * sr))], seconds
    if sr != sample_rate:
        g = math.gcd(int(sr), int(sample_rate))
        x = resample_poly(x, sample_rate // g, sr // g)
    return Clip(np.asarray(x, dtype=np.float32), int(sample_rate), capped)


def wav_bytes(clip: Clip) -> bytes:
    """The clip as a 16-bit PCM WAV file in memory."""
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.clip(clip.samples, -1.0, 1.0), clip.sample_rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()
