r"""Per-utterance predictions: the distribution, its ambiguity, each head, and the modality conflict.

For one utterance with head distributions :math:`p_h` (softmax of the head's logits):

* **distribution**: the student's :math:`s = p_{m^*}` (the fusion head by default). When the student
  cannot run (a clip without a transcript has no text input, so no fusion), the prediction comes from
  the heads that can: the single head that ran, or the mean of the modality heads that ran; the
  prediction is then flagged ``partial`` and ``head`` names what it came from.
* **label / confidence**: :math:`\arg\max_c s_c` (ties to the lowest index) and :math:`\max_c s_c`.
* **entropy** (ambiguity), in bits: :math:`H(s) = -\sum_c s_c \log_2 s_c`, range
  :math:`[0, \log_2 C]` (2 bits for 4 classes).
* **conflict** (modality conflict): the Jensen-Shannon divergence in bits between the distributions
  of the single-modality heads (the paper's expert heads A and T),

  .. math:: \mathrm{conflict} = JS_2(p_A \| p_T) = \tfrac12 KL_2(p_A \| m) + \tfrac12 KL_2(p_T \| m),
            \quad m = \tfrac12 (p_A + p_T),

  range [0, 1]: 0 when audio and text agree exactly, 1 when they put all their mass on different
  classes. With more than two modality heads it is the mean over pairs,
  :math:`\binom{M}{2}^{-1} \sum_{i<j} JS_2(p_i \| p_j)` (still in [0, 1]). It is None when fewer than
  two modality heads ran.

The expert weights :math:`u_m` of the loss (Eq. 5) need the raters' distribution, which does not exist at
inference, so they are not reported.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from amber2.utils.csvsafe import escape_cell
from amber2.utils.io import atomic_path

__all__ = [
    "Prediction",
    "PredictionWriter",
    "modality_conflict",
    "predictions_to_frame",
    "predictions_to_records",
    "write_predictions",
]

_FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".json": "json"}


def modality_conflict(heads: Mapping[str, np.ndarray]) -> np.ndarray:
    r"""Mean pairwise Jensen-Shannon divergence (bits) between modality heads, per utterance.

    .. math:: \mathrm{conflict} = \binom{M}{2}^{-1} \sum_{i<j} JS_2(p_i \| p_j)

    Args:
        heads: ``{head: (n, C) probabilities}`` of the single-modality heads (at least two).

    Returns:
        ``(n,)`` values in [0, 1].

    Raises:
        ValueError: Fewer than two heads, or shapes that differ.
    """
    from amber2.metrics import js_divergence_per_item

    names = list(heads)
    if len(names) < 2:
        raise ValueError(f"the modality conflict needs at least two modality heads, got {names}")
    pairs = list(itertools.combinations(names, 2))
    total = sum(js_divergence_per_item(heads[a], heads[b], base=2) for a, b in pairs)
    return np.clip(np.asarray(total, dtype=np.float64) / len(pairs), 0.0, 1.0)


def _floats(x: Iterable[float] | None) -> list[float] | None:
    return None if x is None else [float(v) for v in x]


@dataclass
class Prediction:
    """The prediction for one utterance (or the error that prevented it).

    Attributes:
        id: Utterance id (file stem, manifest id, or ``item<k>`` for arrays).
        classes: Class names, in the order of every probability vector.
        probs: The predicted distribution (length C), or None on error.
        head: The head ``probs`` comes from: the student (``fusion`` by default), another head, or
            ``mean(audio,text)`` for a mean of modality heads when the student could not run.
        label: Top class of ``probs`` (ties to the first class).
        confidence: Its probability.
        entropy: Entropy of ``probs`` in bits (ambiguity), in [0, log2 C].
        heads: Every head that ran (the experts and the student) as ``{head: probability vector}``,
            each vector in ``classes`` order like ``probs``. :attr:`head_distributions` gives the same
            as ``{head: {class: probability}}``, as :attr:`distribution` does for ``probs``.
        conflict: Modality conflict (JS divergence in bits between the modality heads), in [0, 1];
            None when fewer than two modality heads ran.
        partial: True when a modality was missing (e.g. no transcript) so the student did not run.
        missing: Modalities the item had no input for.
        transcript: The transcript used (None if none).
        transcript_source: ``given``, ``asr`` or None.
        source: Where the item came from (audio path, ``array``, ``embeddings``).
        duration: Audio duration in seconds (None without audio).
        error: Why the item could not be predicted (None when it was).
        error_reason: A short code for the error (``missing``, ``unreadable``, ``too_long``, ...).
    """

    id: str
    classes: list[str]
    probs: list[float] | None = None
    head: str | None = None
    label: str | None = None
    confidence: float | None = None
    entropy: float | None = None
    heads: dict[str, list[float]] = field(default_factory=dict)
    conflict: float | None = None
    partial: bool = False
    missing: list[str] = field(default_factory=list)
    transcript: str | None = None
    transcript_source: str | None = None
    source: str | None = None
    duration: float | None = None
    error: str | None = None
    error_reason: str | None = None

    @property
    def ok(self) -> bool:
        """True when the item got a prediction."""
        return self.error is None

    @property
    def distribution(self) -> dict[str, float]:
        """``{class: probability}`` of the prediction (empty on error)."""
        return {} if self.probs is None else dict(zip(self.classes, self.probs))

    @property
    def head_distributions(self) -> dict[str, dict[str, float]]:
        """``{head: {class: probability}}`` for every head that ran (``heads`` as mappings)."""
        return {h: dict(zip(self.classes, p)) for h, p in self.heads.items()}

    @property
    def max_entropy(self) -> float:
        """log2 C: the entropy of the uniform distribution (the most ambiguous prediction)."""
        return math.log2(len(self.classes))

    def to_dict(self) -> dict[str, Any]:
        """A nested JSON-ready dict (distributions as ``{class: probability}``)."""
        return {
            "id": self.id, "ok": self.ok, "label": self.label, "confidence": self.confidence,
            "entropy": self.entropy, "conflict": self.conflict, "head": self.head, "partial": self.partial,
            "missing": list(self.missing),
            "distribution": self.distribution,
            "heads": self.head_distributions,
            "transcript": self.transcript, "transcript_source": self.transcript_source,
            "source": self.source, "duration": self.duration,
            "error": self.error, "error_reason": self.error_reason,
        }

    def to_flat(self) -> dict[str, Any]:
        """One flat row: scalars, then ``p:<class>`` and ``<head>:<class>`` probability columns."""
        row: dict[str, Any] = {
            "id": self.id, "ok": self.ok, "label": self.label, "confidence": self.confidence,
            "entropy": self.entropy, "conflict": self.conflict, "head": self.head, "partial": self.partial,
            "missing": ";".join(self.missing), "transcript": self.transcript,
            "transcript_source": self.transcript_source, "source": self.source, "duration": self.duration,
            "error": self.error, "error_reason": self.error_reason,
        }
        for i, c in enumerate(self.classes):
            row[f"p:{c}"] = None if self.probs is None else self.probs[i]
        for h, p in self.heads.items():
            for c, v in zip(self.classes, p):
                row[f"{h}:{c}"] = v
        return row

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Prediction:
        """Inverse of :meth:`to_dict` (e.g. to read a JSONL file back)."""
        dist = d.get("distribution") or {}
        heads = d.get("heads") or {}
        classes = list(dist) or (list(next(iter(heads.values()))) if heads else list(d.get("classes", [])))
        return cls(
            id=str(d["id"]), classes=classes, probs=_floats(dist.values()) if dist else None, head=d.get("head"),
            label=d.get("label"), confidence=d.get("confidence"), entropy=d.get("entropy"),
            heads={h: [float(v[c]) for c in classes] for h, v in heads.items()},
            conflict=d.get("conflict"), partial=bool(d.get("partial", False)), missing=list(d.get("missing") or []),
            transcript=d.get("transcript"), transcript_source=d.get("transcript_source"), source=d.get("source"),
            duration=d.get("duration"), error=d.get("error"), error_reason=d.get("error_reason"),
        )


def predictions_to_records(predictions: Iterable[Prediction], *, flat: bool = False) -> list[dict[str, Any]]:
    """Predictions as dicts (nested :meth:`Prediction.to_dict`, or one flat row each)."""
    return [p.to_flat() if flat else p.to_dict() for p in predictions]


def predictions_to_frame(predictions: Iterable[Prediction]) -> Any:
    """Predictions as a pandas DataFrame of flat rows (one per utterance, indexed by nothing)."""
    import pandas as pd

    rows = predictions_to_records(predictions, flat=True)
    columns: list[str] = []
    for r in rows:  # union of the columns, first-seen order (items without text lack the fusion head)
        columns.extend(k for k in r if k not in columns)
    return pd.DataFrame.from_records(rows, columns=columns)


def _format(path: Path, fmt: str | None) -> str:
    if fmt is not None:
        if fmt not in ("jsonl", "csv", "json"):
            raise ValueError(f"unknown predictions format {fmt!r}; use jsonl, csv or json")
        return fmt
    try:
        return _FORMATS[path.suffix.lower()]
    except KeyError:
        raise ValueError(f"cannot tell the format of {path} from its suffix; use .jsonl, .csv or .json") from None


def _csv_columns(classes: Sequence[str], heads: Sequence[str]) -> list[str]:
    base = ["id", "ok", "label", "confidence", "entropy", "conflict", "head", "partial", "missing", "transcript",
            "transcript_source", "source", "duration", "error", "error_reason"]
    return base + [f"p:{c}" for c in classes] + [f"{h}:{c}" for h in heads for c in classes]


class PredictionWriter:
    """Stream predictions into a JSONL or CSV file that appears atomically when the writer closes.

    Lines go to a temporary file next to the destination; :meth:`close` renames it into place, so a
    reader never sees a half-written file, and an interrupted run leaves the old file untouched. Use
    :func:`PredictionWriter.open` as a context manager.

    Args:
        fh: Text handle of the temporary file.
        fmt: ``jsonl``, ``csv`` or ``json``.
        classes: Class names (the CSV columns).
        heads: Head names (the CSV columns).
    """

    def __init__(self, fh: io.TextIOBase, fmt: str, classes: Sequence[str], heads: Sequence[str]):
        self._fh = fh
        self.fmt = fmt
        self.count = 0
        self.errors = 0
        self._first = True
        if fmt == "csv":
            self._csv = csv.DictWriter(fh, fieldnames=_csv_columns(classes, heads), extrasaction="ignore")
            self._csv.writeheader()
        elif fmt == "json":
            fh.write("[\n")

    @classmethod
    @contextmanager
    def open(cls, path: str | os.PathLike[str], *, classes: Sequence[str], heads: Sequence[str],
             fmt: str | None = None) -> Iterator[PredictionWriter]:
        """Open a writer on ``path`` (format from the suffix unless ``fmt`` is given)."""
        p = Path(path)
        f = _format(p, fmt)
        with atomic_path(p) as tmp, open(tmp, "w", encoding="utf-8", newline="") as fh:
            w = cls(fh, f, classes, heads)
            yield w
            w._finish()

    def write(self, prediction: Prediction) -> None:
        """Append one prediction."""
        self.count += 1
        self.errors += 0 if prediction.ok else 1
        if self.fmt == "csv":
            self._csv.writerow({k: escape_cell(v) for k, v in prediction.to_flat().items()})
        elif self.fmt == "jsonl":
            self._fh.write(json.dumps(prediction.to_dict(), ensure_ascii=False, allow_nan=False) + "\n")
        else:
            self._fh.write(("" if self._first else ",\n") + json.dumps(prediction.to_dict(), ensure_ascii=False))
        self._first = False

    def _finish(self) -> None:
        if self.fmt == "json":
            self._fh.write("\n]\n")
        self._fh.flush()


def write_predictions(predictions: Iterable[Prediction], path: str | os.PathLike[str], *,
                      fmt: str | None = None) -> Path:
    """Write predictions atomically as JSONL (one nested object per line), CSV (flat rows) or JSON.

    Args:
        predictions: The predictions (errors included: they keep their row with ``ok`` false).
        path: Destination; the format comes from its suffix (``.jsonl``, ``.csv``, ``.json``) unless
            ``fmt`` is given.
        fmt: ``jsonl``, ``csv`` or ``json``.

    Returns:
        The path written.
    """
    preds = list(predictions)
    classes = next((p.classes for p in preds if p.classes), [])
    heads: list[str] = []
    for p in preds:
        heads.extend(h for h in p.heads if h not in heads)
    with PredictionWriter.open(path, classes=classes, heads=heads, fmt=fmt) as w:
        for p in preds:
            w.write(p)
    return Path(path)
