"""Shared helpers of the inference and serving tests: encoders, bundles, clips, fake encoders.

The test folders have no ``__init__.py``; another folder imports this module after putting this folder
on ``sys.path`` (see ``tests/serve/conftest.py``).
"""

from __future__ import annotations

import functools
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ASSETS = HERE / "assets"
CREMA_CLIP = ASSETS / "1001_DFA_ANG_XX.wav"
LFS_POINTER = ASSETS / "1001_DFA_DIS_XX.lfs-pointer.wav"
CLASSES = ["neutral", "happy", "angry", "sad"]

sys.path.insert(0, str(HERE.parent / "encoders"))
from tiny_models import synth_clip, write_wav  # noqa: E402

from amber2.encoders.base import AudioEncoder, TextEncoder  # noqa: E402

__all__ = [
    "ASSETS",
    "CLASSES",
    "CREMA_CLIP",
    "LFS_POINTER",
    "BlockingAudioEncoder",
    "ToyAudioEncoder",
    "ToyTextEncoder",
    "make_bundle",
    "offline_encoders",
    "synth_clip",
    "write_wav",
]


@functools.lru_cache(maxsize=1)
def offline_encoders() -> dict[str, Any]:
    """The offline preset's encoders (openSMILE eGeMAPSv02 88-d + MiniLM 384-d), built once per process."""
    from amber2.encoders import build_encoders

    return build_encoders("offline", device="cpu")


def make_bundle(path: Path, *, encoders: dict[str, Any] | None = None, seed: int = 3, classes: list[str] | None = None,
                student: str = "fusion", hidden: int = 16, fusion_dim: int = 8) -> Path:
    """Save a random-init model whose widths fit ``encoders`` (default: the offline preset) as a bundle."""
    from amber2.inference import save_bundle
    from amber2.model.heads import AmbER2Model, ModelConfig

    encoders = offline_encoders() if encoders is None else encoders
    dims = {m: int(e.dim) for m, e in encoders.items()}
    classes = classes or CLASSES
    model = AmbER2Model(ModelConfig(dims=dims, n_classes=len(classes), hidden=hidden, fusion_dim=fusion_dim,
                                    student=student), seed=seed)
    _scale_first_layers(model)
    return save_bundle(path, model, classes=classes, encoders=encoders, metrics={"js": 0.25}, objective="amber2(test)",
                       training_config={"note": "random init for tests"})


def _scale_first_layers(model: Any) -> None:
    """Shrink the audio head's first layer so raw eGeMAPS values (up to ~1e3) give non-degenerate softmaxes."""
    import torch

    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.startswith("heads.audio.fc1.weight") or name.startswith("fusion.proj.audio.weight") or \
                    name.startswith("fusion.gate.weight"):
                p.mul_(0.01)


class ToyAudioEncoder(AudioEncoder):
    """A cheap deterministic audio "encoder": 8 summary statistics of the waveform (no model)."""

    modality = "audio"
    kind = "toy-audio"
    sample_rate = 16000
    min_samples = 160
    dim = 8

    @property
    def spec(self) -> dict[str, Any]:
        return {"kind": self.kind}

    def encode(self, waveforms: list[np.ndarray], sample_rate: int) -> np.ndarray:
        out = np.zeros((len(waveforms), self.dim), dtype=np.float32)
        for i, w in enumerate(waveforms):
            x = np.asarray(w, dtype=np.float64)
            spec = np.abs(np.fft.rfft(x[: 4096] if x.size >= 4096 else np.pad(x, (0, 4096 - x.size))))
            bands = np.array_split(spec, 4)
            out[i] = [x.mean(), x.std(), np.abs(x).max(), x.size / sample_rate,
                      *[np.log1p(b.mean()) for b in bands]]
        return out


class ToyTextEncoder(TextEncoder):
    """A cheap deterministic text "encoder": 6 character statistics."""

    modality = "text"
    kind = "toy-text"
    dim = 6

    @property
    def spec(self) -> dict[str, Any]:
        return {"kind": self.kind}

    def encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            s = str(t).lower()
            out[i] = [len(s) / 20, s.count(" ") / 5, sum(c in "aeiou" for c in s) / 10, s.count("!"),
                      s.count("?"), sum(map(ord, s)) % 97 / 97]
        return out


class BlockingAudioEncoder(ToyAudioEncoder):
    """A toy audio encoder that blocks inside ``encode`` until ``release`` is set (for concurrency tests)."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()

    def encode(self, waveforms: list[np.ndarray], sample_rate: int) -> np.ndarray:
        self.entered.set()
        if not self.release.wait(timeout=30):
            raise RuntimeError("BlockingAudioEncoder was never released")
        return super().encode(waveforms, sample_rate)


def reseal(bundle) -> None:
    """Re-write a bundle's checksums.json after a test edited its files on purpose."""
    from amber2.utils.integrity import write_checksums

    write_checksums(bundle, ["model.json", "model.safetensors"], "checksums.json")
