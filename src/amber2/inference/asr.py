"""Optional speech recognition to supply transcripts for clips that have none.

Any Hugging Face ``automatic-speech-recognition`` model works (Whisper, wav2vec2-CTC, ...), given as a
local folder or a hub id already in the local Hugging Face cache (nothing is downloaded when the hub
cannot be reached: the error says how to get the model). Transcripts made this way are marked
``transcript_source="asr"`` in the predictions.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from amber2.utils.logging import get_logger

__all__ = ["Transcriber"]

log = get_logger(__name__)


class Transcriber:
    """Transcribe mono waveforms with a Hugging Face ASR model.

    Args:
        model: Local model folder or hub id (resolved like the encoders' models).
        device: Torch device (default: GPU if available, else CPU).
        batch_size: Clips per forward pass.
        generate_kwargs: Extra options for generative models (e.g. ``{"language": "en"}`` for Whisper).

    Raises:
        amber2.encoders.EncoderError: The model cannot be found locally nor downloaded, or is not an ASR
            model.
    """

    def __init__(self, model: str, *, device: Any = None, batch_size: int = 8,
                 generate_kwargs: dict[str, Any] | None = None):
        from transformers import pipeline

        from amber2.encoders.base import EncoderError, quiet_hf_loading, resolve_device, resolve_model_dir

        folder, identity = resolve_model_dir(str(model), what="ASR model")
        self.model_name = str(model)
        self.identity = identity
        self.device = resolve_device(device)
        self.batch_size = int(batch_size)
        self.generate_kwargs = dict(generate_kwargs or {})
        try:
            with quiet_hf_loading():
                self._pipe = pipeline("automatic-speech-recognition", model=str(folder), device=self.device)
        except Exception as exc:
            raise EncoderError(f"cannot load ASR model {model!r} from {folder}: {type(exc).__name__}: {exc}") from exc
        fe = getattr(self._pipe, "feature_extractor", None)
        self.sample_rate = int(getattr(fe, "sampling_rate", 16000) or 16000)
        self._lock = threading.Lock()

    def transcribe(self, waveforms: Sequence[np.ndarray], sample_rate: int) -> list[str]:
        """Transcripts of mono waveforms (resampled to the model's rate first).

        Args:
            waveforms: 1-D float arrays.
            sample_rate: Their rate in Hz.

        Returns:
            One stripped string per waveform (possibly empty).
        """
        from amber2.encoders.audio import resample

        if not waveforms:
            return []
        batch = [{"raw": resample(np.asarray(w, dtype=np.float32), int(sample_rate), self.sample_rate),
                  "sampling_rate": self.sample_rate} for w in waveforms]
        kwargs: dict[str, Any] = {"batch_size": self.batch_size}
        if self.generate_kwargs:
            kwargs["generate_kwargs"] = self.generate_kwargs
        with self._lock:  # HF pipelines are not safe to call from several threads at once
            out = self._pipe(batch, **kwargs)
        return [str(o.get("text", "")).strip() if isinstance(o, dict) else str(o).strip() for o in out]

    def __repr__(self) -> str:
        return f"Transcriber({self.model_name!r}, device={self.device!r})"
