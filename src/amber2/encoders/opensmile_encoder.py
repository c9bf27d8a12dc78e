"""openSMILE functionals (eGeMAPSv02: 88 dims, ComParE_2016: 6,373 dims) as an offline audio encoder.

openSMILE is distributed by audEERING under a **research / non-commercial licence**; it is an optional
extra (``pip install 'amber2[opensmile]'``) and is only imported when this encoder is built.

Each clip gives one vector of utterance-level functionals (means, percentiles, slopes... of
low-level descriptors such as pitch, loudness, jitter, shimmer, formants and MFCCs) computed by
``opensmile.Smile(feature_set, feature_level="Functionals").process_signal``. The cost is about
15 ms per second of audio on one CPU core, so extraction runs it inside the data-loader worker
processes (``encode_in_workers``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from amber2.encoders.audio import resample
from amber2.encoders.base import AudioEncoder, EncoderError

__all__ = ["OPENSMILE_ALIASES", "OpenSmileEncoder"]

#: Short names accepted for the feature sets.
OPENSMILE_ALIASES = {
    "egemaps": "eGeMAPSv02", "egemapsv02": "eGeMAPSv02", "gemaps": "GeMAPSv01b",
    "compare": "ComParE_2016", "compare_2016": "ComParE_2016",
}

_LICENCE_HINT = (
    "openSMILE (audEERING, research / non-commercial licence) is an optional extra: "
    "pip install 'amber2[opensmile]'"
)


def _import_opensmile() -> Any:
    try:
        import opensmile
    except ImportError as exc:
        raise EncoderError(f"the openSMILE encoder is not available: {_LICENCE_HINT}") from exc
    return opensmile


class OpenSmileEncoder(AudioEncoder):
    """openSMILE functionals of a clip.

    Args:
        feature_set: ``eGeMAPSv02`` (default, 88 dims), ``ComParE_2016`` (6,373 dims) or another
            ``opensmile.FeatureSet`` name (aliases: ``egemaps``, ``compare``).
        feature_level: ``Functionals`` (one vector per clip; the only level that gives utterance
            embeddings).
        sample_rate: Clips are resampled to this rate first (Hz), so that the features do not depend
            on the corpus' rate.

    Raises:
        EncoderError: openSMILE not installed, unknown feature set.
    """

    kind = "opensmile"
    encode_in_workers = True
    thread_safe = True  # a fresh native extractor per call, and it releases the GIL

    def __init__(self, feature_set: str = "eGeMAPSv02", *, feature_level: str = "Functionals",
                 sample_rate: int = 16000, version: str | None = None):
        opensmile = _import_opensmile()
        name = OPENSMILE_ALIASES.get(str(feature_set).lower(), str(feature_set))
        try:
            fs = opensmile.FeatureSet[name]
        except KeyError:
            names = ", ".join(f.name for f in opensmile.FeatureSet)
            raise EncoderError(f"unknown openSMILE feature set {feature_set!r}; choose from {names}") from None
        if feature_level != "Functionals":
            raise EncoderError(
                f"openSMILE feature_level must be 'Functionals' (one vector per clip), got {feature_level!r}"
            )
        self.feature_set = fs.name
        self.feature_level = feature_level
        self.sample_rate = int(sample_rate)
        self.min_samples = int(0.05 * self.sample_rate)
        self.version = str(getattr(opensmile, "__version__", "unknown"))
        del version  # recorded in the spec; a different installed version just gives a new fingerprint
        self._smile = opensmile.Smile(feature_set=fs, feature_level=opensmile.FeatureLevel.Functionals)
        self._dim = len(self._smile.feature_names)

    @property
    def spec(self) -> dict[str, Any]:
        """Feature set, level, sample rate and the openSMILE version."""
        return {"kind": self.kind, "feature_set": self.feature_set, "feature_level": self.feature_level,
                "sample_rate": self.sample_rate, "version": self.version}

    @property
    def dim(self) -> int:
        """Number of functionals (88 for eGeMAPSv02)."""
        return self._dim

    @property
    def feature_names(self) -> list[str]:
        """The functionals' names as openSMILE gives them, in column order."""
        return list(self._smile.feature_names)

    def encode(self, waveforms: list[np.ndarray], sample_rate: int) -> np.ndarray:
        """Functionals of each clip (resampled to :attr:`sample_rate` first).

        Returns:
            float32 ``(len(waveforms), dim)``.
        """
        out = np.zeros((len(waveforms), self._dim), dtype=np.float32)
        for i, w in enumerate(waveforms):
            x = resample(np.asarray(w, dtype=np.float32).reshape(-1), sample_rate, self.sample_rate)
            out[i] = self.encode_one(x)
        return out

    def encode_one(self, x: np.ndarray) -> np.ndarray:
        """Functionals of one float32 clip already at :attr:`sample_rate`."""
        df = self._smile.process_signal(np.asarray(x, dtype=np.float32), self.sample_rate)
        return np.asarray(df.to_numpy(dtype=np.float64)[0], dtype=np.float32)
