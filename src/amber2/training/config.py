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
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from amber2.augment.options import AugmentConfig
from amber2.losses import AmbER2Options
from amber2.metrics import METRICS
from amber2.model.heads import ModelSettings

__all__ = [
    "ConfigError",
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


#: Bounds on user-set numbers: wide enough for any sensible run, narrow enough that a typo (an extra
#: zero, ``1e999``) fails at validation instead of hours into training.
MAX_LR = 10.0
MAX_LAMBDA = 1e3
MAX_KAPPA = 1e4
MAX_BATCH = 1_000_000
MAX_EPOCHS = 100_000
MAX_SEEDS = 1_000
MAX_GRID_VALUES = 100
MAX_SEED = 2**32 - 1


class ConfigError(ValueError):
    """A training configuration cannot be read or is invalid; the message names the file and the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


class LossConfig(_Strict):
    """The training objective of one run.

    Attributes:
        kind: ``amber2`` (Eq. 6), ``cbce`` (class-balanced CE on every head, the paper's baseline)
            or ``soft_ce`` (plain soft-label cross-entropy on every head).
        lambda_rai: Weight of L_RAI (paper: 1.0).
        lambda_mai: Weight of L_MAI (grid in the protocol).
        kappa: Sharpness of the expert weights u_m (grid in the protocol).
        cb_beta: CB-CE beta in [0, 1); None = (N - 1) / N with N training utterances.
        options: The open decisions (:class:`amber2.losses.AmbER2Options`, defined once there).
    """

    kind: Literal["amber2", "cbce", "soft_ce"] = "amber2"
    lambda_rai: float = Field(1.0, ge=0.0, le=MAX_LAMBDA)
    lambda_mai: float = Field(0.5, ge=0.0, le=MAX_LAMBDA)
    kappa: float = Field(4.0, ge=0.0, le=MAX_KAPPA)
    cb_beta: float | None = Field(None, ge=0.0, lt=1.0)
    options: AmbER2Options = Field(default_factory=AmbER2Options)

    def label(self) -> str:
        """Short human-readable name, e.g. ``amber2(lm=0.5,k=4)`` or ``cbce``."""
        if self.kind == "amber2":
            return f"amber2(lm={self.lambda_mai:g},k={self.kappa:g})"
        return self.kind


class OptimConfig(_Strict):
    """Optimisation and model selection.

    Attributes:
        lr: AdamW learning rate, in (0, 10].
        weight_decay: AdamW decoupled weight decay, in [0, 10].
        batch_size: Mini-batch size.
        max_epochs: Upper bound on epochs.
        patience: Stop a run after this many epochs without a better validation score
            (None: always train ``max_epochs`` epochs; the best epoch is selected either way).
        selection_metric: Validation metric used to pick the best epoch and the grid point
            (any name of :data:`amber2.metrics.METRICS`, e.g. ``js``, ``bc``, ``r2``, ``f1``).
    """

    lr: float = Field(3e-4, gt=0.0, le=MAX_LR)
    weight_decay: float = Field(1e-2, ge=0.0, le=MAX_LR)
    batch_size: int = Field(128, ge=1, le=MAX_BATCH)
    max_epochs: int = Field(30, ge=1, le=MAX_EPOCHS)
    patience: int | None = Field(None, ge=1, le=MAX_EPOCHS)
    selection_metric: str = "js"

    @field_validator("selection_metric")
    @classmethod
    def _known_metric(cls, v: str) -> str:
        if v not in METRICS:
            raise ValueError(f"unknown metric {v!r}; choose one of {sorted(METRICS)}")
        return v

    @model_validator(mode="after")
    def _decay_below_one(self) -> OptimConfig:
        # AdamW multiplies the weights by (1 - lr * weight_decay) every step: at >= 1 they flip sign.
        if self.lr * self.weight_decay >= 1.0:
            raise ValueError(f"lr x weight_decay must be < 1 (AdamW scales weights by 1 - lr x weight_decay "
                             f"each step); got {self.lr:g} x {self.weight_decay:g}")
        return self


class ValidationConfig(_Strict):
    """How the validation split is taken from the training part of each fold.

    Attributes:
        strategy: ``fraction`` (a class-stratified random share of the training items),
            ``group`` (whole groups, e.g. speakers or sessions, held out: ``round(fraction x groups)``,
            at least one), ``group-fraction`` (whole groups until ``fraction`` of the items) or
            ``emo-superb`` (EMO-SUPERB's own validation set of each test fold: the test items of
            another fold, :func:`amber2.corpora.folds.emo_superb_validation_ids`; the fold file must
            be numbered by the EMO-SUPERB ``scheme``, and ``fraction`` and ``seed`` are unused).
        fraction: Share of training items (``fraction``, ``group-fraction``) or of training groups
            (``group``).
        seed: Seed of the split (the same split for every seed and grid point of a fold, so grid
            points are compared on equal terms).
        scheme: The EMO-SUPERB fold scheme the fold file follows (``crema-d-emo-superb`` or
            ``iemocap-emo-superb``); required by, and only used with, ``strategy: emo-superb``.
    """

    strategy: Literal["fraction", "group", "group-fraction", "emo-superb"] = "fraction"
    fraction: float = 0.1
    seed: int = Field(0, ge=0, le=MAX_SEED)
    scheme: Literal["crema-d-emo-superb", "iemocap-emo-superb"] | None = None

    @model_validator(mode="after")
    def _scheme(self) -> ValidationConfig:
        if self.strategy == "emo-superb" and self.scheme is None:
            raise ValueError("strategy 'emo-superb' needs scheme: crema-d-emo-superb or iemocap-emo-superb "
                             "(the scheme the fold file was prepared with)")
        if self.strategy != "emo-superb" and self.scheme is not None:
            raise ValueError(f"scheme is only used by strategy 'emo-superb', not {self.strategy!r}")
        return self

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

    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2, 3, 4], min_length=1, max_length=MAX_SEEDS)
    folds: list[int] | None = Field(None, min_length=1, max_length=MAX_SEEDS)
    grid: dict[str, list[float]] = Field(
        default_factory=lambda: {"lambda_mai": [0.3, 0.5, 0.7], "kappa": [2.0, 4.0, 8.0]}
    )
    grid_selection: Literal["fold", "fold_seed"] = "fold"
    baseline: Literal["cbce", "soft_ce", "none"] = "cbce"
    engine: Literal["ensemble", "sequential"] = "ensemble"
    max_groups_per_chunk: int | None = Field(None, ge=1)
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
            if len(vals) > MAX_GRID_VALUES:
                raise ValueError(f"grid {k!r} has {len(vals)} values; at most {MAX_GRID_VALUES}")
            for x in vals:  # each grid value must be a valid LossConfig value (same bounds)
                try:
                    LossConfig.model_validate({k: x})
                except ValidationError as exc:
                    raise ValueError(f"grid {k!r} value {x!r}: {exc.errors()[0]['msg']}") from None
        return v

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, v: list[int]) -> list[int]:
        bad = [s for s in v if not 0 <= s <= MAX_SEED]
        if bad:
            raise ValueError(f"seeds must be in [0, 2**32 - 1]; got {bad}")
        if len(set(v)) != len(v):
            raise ValueError(f"seeds must be distinct; got {v}")
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
        policy_overrides: Settings that replace the policy's own, e.g. the choice of votes
            ``{votes: combined, synthetic_n: 10}`` (CLI: ``data.policy_overrides.votes=combined``).
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
    policy_overrides: dict[str, Any] = Field(default_factory=dict)
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
    threads: int | None = Field(None, ge=1, le=4096)

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


def _describe(exc: ValidationError) -> str:
    """One line per pydantic error: ``optim.lr: Input should be ... (got 1e999)``."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err["loc"]) or "(top level)"
        got = err.get("input")
        shown = "" if isinstance(got, dict | list) else f" (got {got!r})"
        msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}{shown}")
    return "; ".join(parts)


def read_yaml_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a YAML config file as a mapping, with errors that name the file.

    Only plain YAML is read (``yaml.safe_load``): tags such as ``!!python/object`` are refused.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ConfigError: Unreadable, not UTF-8, not valid YAML, an unsafe tag, or not a mapping.
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"config file {p} does not exist")
    if not p.is_file():
        raise ConfigError(f"config file {p} is not a file")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {p} is not UTF-8 text (byte {exc.start})") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ConfigError(f"config file {p}: unsupported YAML tag{where} (only plain YAML is read; tags such as "
                          f"!!python are refused): {exc.problem}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"config file {p} is not valid YAML{where}: {problem}") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {p} must hold a mapping at the top level, got {type(raw).__name__}")
    return raw


def load_config(path: str | os.PathLike[str] | None = None, overrides: Sequence[str] = ()) -> TrainConfig:
    """Load a :class:`TrainConfig` from YAML (or defaults) and apply dotted overrides.

    Args:
        path: YAML file, or None for the defaults.
        overrides: ``["optim.lr=1e-3", "protocol.seeds=[0,1]"]``.

    Returns:
        The validated configuration.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ConfigError: Unreadable or malformed YAML, an unknown key or a value out of bounds; one line
            naming the file (or the overrides) and every bad key.
    """
    raw = read_yaml_config(path) if path is not None else {}
    try:
        return TrainConfig.model_validate(apply_overrides(raw, overrides))
    except ValidationError as exc:
        where = f"config file {path}" if path is not None else "config"
        if overrides:
            where += f" (with overrides {' '.join(overrides)})"
        raise ConfigError(f"{where}: {_describe(exc)}") from None
