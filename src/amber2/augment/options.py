"""The settings of DiME-Aug (``augment.dime.*`` in the training configuration).

Defined here, in the augment layer, so that training only holds one field of this type
(``TrainConfig.augment``) and the settings are written once.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["MAX_NEW_PER_FOLD", "AugmentConfig", "DimeOptions"]

#: Upper bound on ``max_new`` (new items made for one fold).
MAX_NEW_PER_FOLD = 1_000_000


class DimeOptions(BaseModel):
    r"""DiME-Aug: class balancing of the training items by interpolation (see ``docs/augment.md``).

    Attributes:
        enabled: Augment the training part of every fold (off by default).
        ratio: Every class is brought up to :math:`\lfloor \text{ratio} \times \text{majority count}\rfloor`
            training items (by the argmax of the target); classes already above are left alone.
        k: Each new item mixes a random item of the class with one of its ``k`` nearest neighbours
            in the class (Euclidean on standardised ``features``).
        space: ``embedding`` (mix the frozen embeddings of every modality; fast, no re-extraction) or
            ``waveform`` (mix the audio, write the clips with their provenance, embed them through the
            encoders and a cache; needs ``data.corpus`` and ``data.embeddings``).
        features: What the neighbour search measures: a modality of the training data (default
            ``audio``) or an audio encoder shorthand (``egemaps``, ``compare``, ``opensmile:<set>``)
            computed on the corpus audio through the embedding cache.
        seed: Seed of the draws; fold ``f`` uses the stream ``(seed, f)``, so a fold's new items are the
            same for every training seed and grid point (as its validation split is).
        max_new: Most new items one fold may receive (a bound on what a ratio can ask for).
        work_dir: Where waveform clips and feature caches are written (default ``<data.corpus>/dime``).
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    enabled: bool = False
    ratio: float = 0.3
    k: int = 3
    space: Literal["embedding", "waveform"] = "embedding"
    features: str = "audio"
    seed: int = 0
    max_new: int = 100_000
    work_dir: str | None = None

    @field_validator("ratio")
    @classmethod
    def _ratio(cls, v: float) -> float:
        if not 0 < v <= 1:
            raise ValueError("must be in (0, 1] (a share of the majority class's count)")
        return v

    @field_validator("k")
    @classmethod
    def _k(cls, v: int) -> int:
        if not 1 <= v <= 1000:
            raise ValueError("must be in [1, 1000]")
        return v

    @field_validator("seed")
    @classmethod
    def _seed(cls, v: int) -> int:
        if v < 0:
            raise ValueError("must be >= 0")
        return v

    @field_validator("max_new")
    @classmethod
    def _max_new(cls, v: int) -> int:
        if not 1 <= v <= MAX_NEW_PER_FOLD:
            raise ValueError(f"must be in [1, {MAX_NEW_PER_FOLD}]")
        return v

    @field_validator("features")
    @classmethod
    def _features(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must name a modality or an audio feature set")
        return v.strip()


class AugmentConfig(BaseModel):
    """Training-data augmentation (``augment`` in the training configuration).

    Attributes:
        dime: DiME-Aug class balancing.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    dime: DimeOptions = Field(default_factory=DimeOptions)
