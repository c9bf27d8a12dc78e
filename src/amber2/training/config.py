"""Typed training configuration, loaded from YAML with dotted command-line overrides.

Every run writes its resolved configuration (``config.yaml``) beside its results, so a result can
always be traced to the settings that made it. Defaults are the paper's protocol (Sec. 4.2):
AdamW (lr 3e-4, weight decay 1e-2), batch 128, at most 30 epochs, model selection on validation,
lambda_RAI = 1, lambda_MAI in {0.3, 0.5, 0.7} x kappa in {2, 4, 8} chosen on validation,
five folds x five seeds, and the CB-CE baseline trained on the same architecture.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from amber2.augment.options import AugmentConfig

__all__ = [
    "DataConfig",
    "LossConfig",
    "ModelSettings",
    "OptimConfig",
    "ProtocolConfig",
    "TrainConfig",
    "ValidationConfig",
    "apply_overrides",
    "load_config",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class LossOptions(_Strict):
    """The open decisions of method.md, each an ablation switch (defaults in brackets).

    Attributes:
        expert_fidelity: [True] experts also get lambda_RAI * JS(y || p_m), so they are real teachers.
        detach_experts: [True] experts are detached inside L_MAI (distillation pulls the student only).
        detach_weights: [True] u_m is computed from detached D_m.
        js: ["divergence"] the JS used in the losses: the divergence or its square root.
    """

    expert_fidelity: bool = True
    detach_experts: bool = True
    detach_weights: bool = True
    js: Literal["divergence", "distance"] = "divergence"


class LossConfig(_Strict):
    """The training objective of one run.

    Attributes:
        kind: ``amber2`` (Eq. 6), ``cbce`` (class-balanced CE on every head, the paper's baseline)
            or ``soft_ce`` (plain soft-label cross-entropy on every head).
        lambda_rai: Weight of L_RAI (paper: 1.0).
        lambda_mai: Weight of L_MAI (grid in the protocol).
        kappa: Sharpness of the expert weights u_m (grid in the protocol).
        cb_beta: CB-CE beta; None = (N - 1) / N with N training utterances.
        options: The open decisions.
    """

    kind: Literal["amber2", "cbce", "soft_ce"] = "amber2"
    lambda_rai: float = 1.0
    lambda_mai: float = 0.5
    kappa: float = 4.0
    cb_beta: float | None = None
    options: LossOptions = Field(default_factory=LossOptions)

    @field_validator("lambda_rai", "lambda_mai", "kappa")
    @classmethod
    def _nonneg(cls, v: float) -> float:
        if v < 0:
            raise ValueError("must be >= 0")
        return v

    def label(self) -> str:
        """Short human-readable name, e.g. ``amber2(lm=0.5,k=4)`` or ``cbce``."""
        if self.kind == "amber2":
            return f"amber2(lm={self.lambda_mai:g},k={self.kappa:g})"
        return self.kind


class ModelSettings(_Strict):
    """Architecture (see :class:`amber2.model.ModelConfig`); input widths come from the data."""

    hidden: int = 256
    fusion_dim: int = 256
    gate_input: Literal["embeddings", "projections"] = "embeddings"
    dropout: float = 0.0
    student: str = "fusion"
    standardize: bool = True


class OptimConfig(_Strict):
    """Optimisation and model selection.

    Attributes:
        lr: AdamW learning rate.
        weight_decay: AdamW decoupled weight decay.
        batch_size: Mini-batch size.
        max_epochs: Upper bound on epochs.
        patience: Stop a run after this many epochs without a better validation score
            (None: always train ``max_epochs`` epochs; the best epoch is selected either way).
        selection_metric: Validation metric used to pick the best epoch and the grid point
            (any name of :data:`amber2.metrics.METRICS`, e.g. ``js``, ``bc``, ``r2``, ``f1``).
    """

    lr: float = 3e-4
    weight_decay: float = 1e-2
    batch_size: int = 128
    max_epochs: int = 30
    patience: int | None = None
    selection_metric: str = "js"

    @field_validator("batch_size", "max_epochs")
    @classmethod
    def _positive(cls, v: int) -> int:
        if v < 1:
            raise ValueError("must be >= 1")
        return v


class ValidationConfig(_Strict):
    """How the validation split is taken from the training part of each fold.

    Attributes:
        strategy: ``fraction`` (a class-stratified random share of the training items),
            ``group`` (whole groups, e.g. speakers or sessions, held out: ``round(fraction x groups)``,
            at least one) or ``group-fraction`` (whole groups until ``fraction`` of the items).
        fraction: Share of training items (``fraction``, ``group-fraction``) or of training groups
            (``group``).
        seed: Seed of the split (the same split for every seed and grid point of a fold, so grid
            points are compared on equal terms).
    """

    strategy: Literal["fraction", "group", "group-fraction"] = "fraction"
    fraction: float = 0.1
    seed: int = 0

    @field_validator("fraction")
    @classmethod
    def _frac(cls, v: float) -> float:
        if not 0 < v < 1:
            raise ValueError("must be in (0, 1)")
        return v


class ProtocolConfig(_Strict):
    """Cross-validation x seeds x grid, and the baseline beside AmbER².

    Attributes:
        seeds: Random seeds (paper: five).
        folds: Which test folds to run (None: all folds present in the fold assignment).
        grid: The lambda_MAI x kappa grid searched on validation within each fold.
        grid_selection: ``fold`` (one grid point per fold, by the mean validation score over
            seeds) or ``fold_seed`` (one per fold and seed).
        baseline: The baseline objective (``cbce`` as in the paper, ``soft_ce``, or ``none``).
        engine: ``ensemble`` (all runs trained together as stacked weights; fast) or
            ``sequential`` (one plain PyTorch loop per run; the reference).
        max_groups_per_chunk: How many fold x seed groups train together (None: sized so that one
            mini-batch's activations stay cache-sized, see ``protocol.default_chunk``).
        validation: How the validation split is taken from each fold's training part.
        spread: What the ± of the tables is: ``runs`` (sample std over every fold x seed run: the
            paper's "mean ± std over folds and seeds") or ``seeds`` (sample std over seeds of the
            fold-averaged metric). Both are always in results.json.
    """

    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2, 3, 4])
    folds: list[int] | None = None
    grid: dict[str, list[float]] = Field(
        default_factory=lambda: {"lambda_mai": [0.3, 0.5, 0.7], "kappa": [2.0, 4.0, 8.0]}
    )
    grid_selection: Literal["fold", "fold_seed"] = "fold"
    baseline: Literal["cbce", "soft_ce", "none"] = "cbce"
    engine: Literal["ensemble", "sequential"] = "ensemble"
    max_groups_per_chunk: int | None = None
    validation: ValidationConfig = Field(default_factory=ValidationConfig)
    spread: Literal["runs", "seeds"] = "runs"

    @field_validator("grid")
    @classmethod
    def _grid(cls, v: dict[str, list[float]]) -> dict[str, list[float]]:
        allowed = {"lambda_mai", "kappa", "lambda_rai"}
        bad = set(v) - allowed
        if bad:
            raise ValueError(f"grid keys must be among {sorted(allowed)}, got {sorted(bad)}")
        for k, vals in v.items():
            if not vals:
                raise ValueError(f"grid {k!r} is empty")
        return v


class DataConfig(_Strict):
    """Where the training data comes from (used by the CLI; the Python API takes arrays).

    Either a prepared corpus + an embedding cache (``corpus``, ``embeddings``, ``policy``) or arrays
    (``arrays``: an ``.npz`` file with ``ids``, ``y`` and one array per modality, or a folder of
    ``<modality>.npy`` + ``y.npy`` + ``ids.txt``) with a fold file.

    Attributes:
        corpus: Folder written by ``amber2 prepare`` (corpus.parquet, folds.csv).
        embeddings: Embedding cache folder written by ``amber2 extract``.
        policy: Label policy name or file.
        arrays: Arrays source (alternative to corpus + embeddings).
        folds: A CSV of ``id,fold`` (default: the corpus folder's folds.csv).
        modalities: Modalities to use (default: all available).
        on_bad_rows: Label rows not summing to 1: ``renormalize`` (with a warning) or ``fail``.
        on_missing: Items whose embedding is missing in a modality, or that the fold file does not
            list: ``drop`` (counted, named in a warning and in data.json) or ``fail``.
        split: ``folds`` (cross-validation over the fold file) or ``official`` (the release's fixed
            partition from the prepared corpus's ``split.csv``, e.g. MSP-Podcast: train on
            ``Train``, select on ``Development``, test on ``official_test``).
        official_test: The partition tested with ``split: official`` (MSP-Podcast: Test1, Test2, ...);
            items of the other partitions that are neither Train nor Development are left out (counted).
        groups: The corpus column that groups items for group validation splits
            (``protocol.validation.strategy: group``): ``speaker`` (falls back to ``group`` where
            missing) or ``group`` (IEMOCAP: the session, MSP-Podcast: the podcast).
    """

    corpus: str | None = None
    embeddings: str | None = None
    policy: str | None = None
    arrays: str | None = None
    folds: str | None = None
    modalities: list[str] | None = None
    on_bad_rows: Literal["renormalize", "fail"] = "renormalize"
    on_missing: Literal["drop", "fail"] = "drop"
    split: Literal["folds", "official"] = "folds"
    official_test: str = "Test1"
    groups: Literal["speaker", "group"] = "speaker"


class TrainConfig(_Strict):
    """Everything a training run needs; the YAML file of ``amber2 train``."""

    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelSettings = Field(default_factory=ModelSettings)
    optim: OptimConfig = Field(default_factory=OptimConfig)
    loss: LossConfig = Field(default_factory=LossConfig)
    protocol: ProtocolConfig = Field(default_factory=ProtocolConfig)
    augment: AugmentConfig = Field(default_factory=AugmentConfig)
    out: str = "runs/train"
    threads: int | None = None

    def to_yaml(self) -> str:
        """The resolved configuration as YAML."""
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


def _coerce(value: str) -> Any:
    """Parse an override value with YAML rules (``[1,2]`` -> list, ``null`` -> None).

    Strings such as ``3e-4`` stay strings here and are converted by pydantic's field types.
    """
    try:
        return yaml.safe_load(value)
    except yaml.YAMLError:
        return value


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Apply ``key.sub=value`` overrides to a nested dict (values parsed as YAML).

    Raises:
        ValueError: An override without ``=``.
    """
    out = _deepcopy(data)
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"override {item!r} must look like key.sub=value")
        key, value = item.split("=", 1)
        node = out
        parts = key.strip().split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ValueError(f"override {item!r}: {p!r} is not a section")
        node[parts[-1]] = _coerce(value.strip())
    return out


def _deepcopy(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (_deepcopy(v) if isinstance(v, dict) else v) for k, v in d.items()}


def load_config(path: str | os.PathLike[str] | None = None, overrides: Sequence[str] = ()) -> TrainConfig:
    """Load a :class:`TrainConfig` from YAML (or defaults) and apply dotted overrides.

    Args:
        path: YAML file, or None for the defaults.
        overrides: ``["optim.lr=1e-3", "protocol.seeds=[0,1]"]``.

    Returns:
        The validated configuration.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        pydantic.ValidationError: An unknown key or a bad value (the message names the field).
    """
    raw: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if not p.exists():
            raise FileNotFoundError(f"config file {p} does not exist")
        raw = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        if not isinstance(raw, dict):
            raise ValueError(f"config file {p} must hold a mapping at the top level")
    return TrainConfig.model_validate(apply_overrides(raw, overrides))
