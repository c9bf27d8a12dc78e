r"""A trained amber2 model as synthetic annotator (the ``bundle`` backend of ``amber2 annotate``).

The model predicts each item's emotion distribution ``p`` once; annotator ``i`` then draws its vote from
``p`` sharpened or flattened by its temperature :math:`T_i`:

.. math::

    q_c = \frac{\exp(\log p_c / T_i)}{\sum_k \exp(\log p_k / T_i)} = \frac{p_c^{1/T_i}}{\sum_k p_k^{1/T_i}},

so a low temperature votes for the top class nearly always and ``T = 1`` samples ``p`` itself. The draw is
seeded by (seed, annotator index, item id), so the same annotator gives the same vote on every run. It
works offline; on the simulated corpus, whose true distributions are known, it makes "are combined
targets closer to the truth?" measurable.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from amber2.annotate.backends.base import Reply, Request, ThreadedBackend
from amber2.utils.fingerprint import hash_arrays, hash_file, hash_strings

__all__ = ["BundleBackend", "tempered"]


def tempered(p: np.ndarray, temperature: float) -> np.ndarray:
    r"""``softmax(log p / T)`` along the last axis (zeros stay zeros).

    Args:
        p: Probabilities ``(..., C)`` (non-negative, rows summing to 1).
        temperature: ``T > 0``.

    Returns:
        float64 probabilities of the same shape.
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    with np.errstate(divide="ignore"):
        z = np.log(np.asarray(p, dtype=np.float64)) / float(temperature)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _bundle_fingerprint(predictor: Any) -> str:
    path = getattr(predictor, "path", None)
    if path is not None and Path(path).is_dir():
        files = sorted(f for f in Path(path).rglob("*") if f.is_file())
        return hash_strings([f"{f.relative_to(path)}={hash_file(f)}" for f in files])
    state = {k: v.detach().cpu().numpy() for k, v in predictor.model.state_dict().items()}
    return hash_arrays(state)


def _default_name(path: Path) -> str:
    """The bundle folder's name, with its parent's for the ``RUN/model`` folders ``amber2 train`` writes."""
    p = path.resolve()
    return f"{p.parent.name}/{p.name}" if p.name == "model" and p.parent.name else p.name


class BundleBackend(ThreadedBackend):
    """Votes sampled from a trained amber2 model's predicted distribution.

    Args:
        model: A loaded :class:`amber2.inference.AmbER2` or a bundle directory.
        name: Model name in the rater ids (default: the bundle folder's name, ``RUN/model`` for a run's model).
        seed: Seed of the vote draws.
        batch_size: Items predicted together.
        max_audio_seconds: Longest clip predicted (None: any); longer clips fail with ``too_long``.
        device: Device for a bundle loaded from a path.
    """

    name: ClassVar[str] = "bundle"

    def __init__(self, model: Any, *, name: str | None = None, seed: int = 0, batch_size: int = 32,
                 max_audio_seconds: float | None = None, device: str | None = None):
        from amber2.inference.predictor import AmbER2, load

        if isinstance(model, (str, os.PathLike)):
            self.predictor = load(model, device=device)
            default = _default_name(Path(model))
        elif isinstance(model, AmbER2):
            self.predictor = model
            default = _default_name(Path(model.path)) if model.path is not None else "amber2-model"
        else:
            raise TypeError(f"model must be an AmbER2 or a bundle directory, got {type(model).__name__}")
        if not 1 <= int(batch_size) <= 4096:
            raise ValueError(f"batch_size must be in 1..4096, got {batch_size}")
        self.model = name or default
        self.seed = int(seed)
        self.batch_size = int(batch_size)
        self.max_audio_seconds = max_audio_seconds
        self.uses_audio = "audio" in self.predictor.modalities
        self._fingerprint = _bundle_fingerprint(self.predictor)
        self._probs: dict[str, tuple[np.ndarray | None, str | None, str | None]] = {}

    def identity(self) -> dict[str, Any]:
        """Bundle weights fingerprint, classes, seed and audio limit."""
        return {"model": self.model, "weights": self._fingerprint, "classes": list(self.predictor.classes),
                "seed": self.seed, "max_audio_seconds": self.max_audio_seconds}

    def _predict(self, requests: Sequence[Request]) -> None:
        todo: dict[str, Any] = {}
        for r in requests:
            key = r.item.audio_sha256 or r.item.id
            if key not in self._probs and key not in todo:
                todo[key] = r.item
        if not todo:
            return
        keys = list(todo)
        items = [todo[k] for k in keys]
        if self.uses_audio:
            preds = self.predictor.predict([it.audio_path for it in items], text=[it.transcript for it in items],
                                           ids=[it.id for it in items], batch_size=self.batch_size,
                                           max_seconds=self.max_audio_seconds)
        else:
            from amber2.inference.inputs import InputItem

            preds = self.predictor.predict_items([InputItem(id=it.id, transcript=it.transcript) for it in items])
        for key, pred in zip(keys, preds):
            if pred.ok and pred.probs is not None:
                self._probs[key] = (np.asarray(pred.probs, dtype=np.float64), None, None)
            else:
                self._probs[key] = (None, pred.error, pred.error_reason or "predict_failed")

    def annotate_sync(self, requests: Sequence[Request]) -> list[Reply]:
        """Predict the items' distributions (once per item) and draw one vote per request."""
        self._predict(requests)
        classes = self.predictor.classes
        out: list[Reply] = []
        for r in requests:
            p, error, reason = self._probs[r.item.audio_sha256 or r.item.id]
            if p is None:
                out.append(Reply(error=error, reason=reason))
                continue
            q = tempered(p, r.annotator.temperature)
            rng = np.random.default_rng([self.seed, r.annotator.index, zlib.crc32(r.item.id.encode("utf-8"))])
            out.append(Reply(text=classes[int(rng.choice(len(classes), p=q))]))
        return out
