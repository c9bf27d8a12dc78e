"""Who a vote comes from: the rater-id convention shared by human and synthetic raters.

Human votes keep the rater ids and kinds their release gives (``external``, ``self``, ``voice``, ...).
A *synthetic* rater is one annotator of an automatic backend (an audio-language model behind an API, a
local model, a trained amber2 bundle): annotator ``i`` of that backend is the same simulated person on
every utterance (same prompt focus, same temperature). Its votes sit in the corpus table like any other
vote, with

* ``kind`` = :data:`SYNTHETIC_KIND` (``"synthetic"``),
* ``rater`` = ``"syn:<backend>:<model>:<index>"`` (:func:`synthetic_rater_id`), where ``model`` may itself
  contain ``:`` or ``/`` and ``index`` is the annotator's 0-based index,
* ``labels`` = the one class the reply was matched to, ``note`` = the raw reply (for audit).

"The first N synthetic votes" of an utterance are those of the annotators with the N smallest indices
(:func:`parse_synthetic_rater` recovers the index).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "SYNTHETIC_KIND",
    "SYNTHETIC_PREFIX",
    "SyntheticRater",
    "is_synthetic_kind",
    "parse_synthetic_rater",
    "synthetic_rater_id",
]

#: ``kind`` of every vote made by an automatic annotator.
SYNTHETIC_KIND = "synthetic"
#: Prefix of every synthetic rater id.
SYNTHETIC_PREFIX = "syn:"


@dataclass(frozen=True)
class SyntheticRater:
    """The parts of a synthetic rater id.

    Attributes:
        backend: Backend name (``openai``, ``transformers``, ``bundle``, ``simulated``, ...).
        model: Model name as the backend knows it (may contain ``:`` and ``/``).
        index: The annotator's 0-based index (its prompt focus and temperature follow from it).
    """

    backend: str
    model: str
    index: int

    @property
    def source(self) -> str:
        """``<backend>:<model>``: the annotators of one backend and model form one source."""
        return f"{self.backend}:{self.model}"


def is_synthetic_kind(kind: str) -> bool:
    """True for the rater kind of automatic annotators."""
    return kind == SYNTHETIC_KIND


def synthetic_rater_id(backend: str, model: str, index: int) -> str:
    """The rater id of annotator ``index`` of ``backend``/``model``: ``syn:<backend>:<model>:<index>``.

    Raises:
        ValueError: If ``backend`` is empty or contains ``:``, ``model`` is empty, or ``index < 0``.
    """
    if not backend or ":" in backend:
        raise ValueError(f"synthetic rater backend must be non-empty and without ':', got {backend!r}")
    if not model:
        raise ValueError("synthetic rater model must be non-empty")
    if int(index) < 0:
        raise ValueError(f"synthetic annotator index must be >= 0, got {index}")
    return f"{SYNTHETIC_PREFIX}{backend}:{model}:{int(index)}"


def parse_synthetic_rater(rater: str) -> SyntheticRater:
    """Split a rater id made by :func:`synthetic_rater_id` back into its parts.

    Raises:
        ValueError: If ``rater`` is not a synthetic rater id.
    """
    if not rater.startswith(SYNTHETIC_PREFIX):
        raise ValueError(f"not a synthetic rater id (no {SYNTHETIC_PREFIX!r} prefix): {rater!r}")
    body = rater[len(SYNTHETIC_PREFIX):]
    backend, sep, rest = body.partition(":")
    model, sep2, index = rest.rpartition(":")
    if not sep or not sep2 or not backend or not model or not index.isdigit():
        raise ValueError(f"malformed synthetic rater id {rater!r} (expected syn:<backend>:<model>:<index>)")
    return SyntheticRater(backend=backend, model=model, index=int(index))
