r"""The annotator schedule: annotator ``i`` has the same focus line and temperature on every utterance.

For annotator ``i`` (0-based) with ``B`` temperature bands and ``F`` focus lines:

.. math::

    \text{focus}_i = \text{focus}[i \bmod F], \qquad
    T_i = \operatorname{clip}\big(u_1 + u_2,\ T_{\min},\ T_{\max}\big),\quad
    u_1 \sim U(\ell_b, h_b),\ u_2 \sim U(-j, j),\ b = i \bmod B,

where both draws come, in that order, from ``numpy.random.RandomState(i).uniform`` so the schedule is
exactly reproducible (the default preset: five bands 0.1-0.3, ..., 0.9-0.93, ``j = 0.05``, clip to
[0.1, 1.0]).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from amber2.annotate.prompts import AnnotatorPreset

__all__ = ["MAX_ANNOTATORS", "Annotator", "annotator", "schedule", "temperature"]

#: Most annotators per item a run may ask for (a bound on user input).
MAX_ANNOTATORS = 1000


@dataclass(frozen=True)
class Annotator:
    """One synthetic annotator.

    Attributes:
        index: 0-based index (the rater id's last part).
        focus: Its focus line.
        focus_index: Which focus line (``index % len(focus lines)``).
        temperature: Its sampling temperature, in the preset's clip range.
    """

    index: int
    focus: str
    focus_index: int
    temperature: float


def temperature(index: int, preset: AnnotatorPreset) -> float:
    """Temperature of annotator ``index`` (see the module docstring for the equation)."""
    if index < 0:
        raise ValueError(f"annotator index must be >= 0, got {index}")
    lo, hi = preset.temperature_bands[index % len(preset.temperature_bands)]
    rng = np.random.RandomState(index)
    t = rng.uniform(lo, hi)
    t = t + rng.uniform(-preset.jitter, preset.jitter)
    return float(np.clip(t, preset.clip[0], preset.clip[1]))


def annotator(index: int, preset: AnnotatorPreset) -> Annotator:
    """Annotator ``index`` of ``preset``."""
    k = index % len(preset.focus)
    return Annotator(index=index, focus=preset.focus[k], focus_index=k, temperature=temperature(index, preset))


def schedule(n: int, preset: AnnotatorPreset) -> list[Annotator]:
    """Annotators ``0..n-1``.

    Raises:
        ValueError: ``n`` outside ``1..MAX_ANNOTATORS``.
    """
    if not 1 <= int(n) <= MAX_ANNOTATORS:
        raise ValueError(f"the number of annotators must be in 1..{MAX_ANNOTATORS}, got {n}")
    return [annotator(i, preset) for i in range(int(n))]
