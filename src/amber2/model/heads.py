r"""The AmbER² network: one two-layer MLP head per modality plus a gated-fusion head (Eq. 2).

.. math::

    p_m = g_m(h_m) = \mathrm{softmax}(W_2\,\mathrm{ReLU}(W_1 h_m + b_1) + b_2),
    \quad m \in \{A, T, AT\}

Heads return **logits**; probabilities are ``softmax(logits)``. The fused representation ``h_AT``
comes from :class:`GatedFusion`.

Every head is initialised from its own random stream derived from ``(seed, head name)``, so a
head's initial weights do not depend on which other heads exist. Two runs with the same seed start
their audio heads identically whatever their loss settings; the batched ensemble trainer relies on
this to train an expert once for all the runs that share it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from torch import nn

__all__ = [
    "FUSION", "AmbER2Model", "GatedFusion", "MLPHead", "ModelConfig", "ModelSettings", "head_seed", "input_stats",
]

FUSION = "fusion"


def head_seed(seed: int, head: str) -> int:
    """A deterministic 63-bit seed for one head of one run, derived from ``(seed, head)``."""
    digest = hashlib.sha256(f"amber2:{int(seed)}:{head}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


#: Upper bounds on user-set sizes (a typo such as ``hidden: 2560000`` fails at validation, not in torch).
MAX_WIDTH = 65_536
MAX_CLASSES = 10_000


class ModelSettings(BaseModel):
    """The architecture choices of an :class:`AmbER2Model` (the ``model:`` section of a training config).

    The one definition of these settings: :class:`ModelConfig` adds what the data decides (input
    widths, class count) to them, and the training configuration composes this class.

    Attributes:
        hidden: Hidden width of every two-layer MLP head.
        fusion_dim: Width d of the gated-fusion representation h_AT.
        gate_input: What the gate sees: ``"embeddings"`` (the concatenated raw embeddings, the
            usual gated multimodal unit) or ``"projections"`` (the tanh projections; cheaper).
        dropout: Dropout between the two layers of each head (0 disables it), in [0, 1).
        student: The head supervised by the experts (``"fusion"`` in the paper; any head name).
        standardize: Z-score every embedding dimension with the training items' mean and standard
            deviation (stored in the model, applied at inference). Not in the paper; it matters for
            features of mixed scales such as openSMILE functionals. Switch off for raw inputs.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    hidden: int = Field(256, ge=1, le=MAX_WIDTH)
    fusion_dim: int = Field(256, ge=1, le=MAX_WIDTH)
    gate_input: Literal["embeddings", "projections"] = "embeddings"
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    student: str = FUSION
    standardize: bool = True

    def for_data(self, dims: Mapping[str, int], n_classes: int) -> ModelConfig:
        """The :class:`ModelConfig` of these settings for inputs ``dims`` and ``n_classes`` classes.

        With a single modality there is no fusion head, and that modality's head is the student.
        """
        settings = self.model_dump()
        if settings["student"] == FUSION and len(dims) == 1:
            settings["student"] = next(iter(dims))
        return ModelConfig(dims=dict(dims), n_classes=n_classes, **settings)


class ModelConfig(ModelSettings):
    """Architecture of an :class:`AmbER2Model`: :class:`ModelSettings` plus what the data decides.

    Attributes:
        dims: Input width per modality, in a fixed order (e.g. ``{"audio": 768, "text": 768}``).
        n_classes: Number of emotion classes C.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    dims: dict[str, int] = Field(default_factory=lambda: {"audio": 768, "text": 768})
    n_classes: int = Field(4, ge=2, le=MAX_CLASSES)

    @field_validator("dims", mode="before")
    @classmethod
    def _dims(cls, v: Any) -> dict[str, int]:
        if not isinstance(v, Mapping) or not v:
            raise ValueError("ModelConfig.dims needs at least one modality")
        out = {}
        for name, d in v.items():
            if str(name) == FUSION:
                raise ValueError(f"{FUSION!r} is reserved for the fusion head; rename that modality")
            if not 0 < int(d) <= 2**24:
                raise ValueError(f"modality {name!r}: input width must be in [1, 2**24], got {d}")
            out[str(name)] = int(d)
        return out

    @model_validator(mode="after")
    def _student_is_a_head(self) -> ModelConfig:
        if self.student not in self.head_names:
            raise ValueError(f"student {self.student!r} is not a head; heads are {self.head_names}")
        return self

    @property
    def settings(self) -> ModelSettings:
        """The user-set part (without ``dims`` and ``n_classes``)."""
        return ModelSettings(**self.model_dump(exclude={"dims", "n_classes"}))

    @property
    def modalities(self) -> tuple[str, ...]:
        """Modality names in order."""
        return tuple(self.dims)

    @property
    def has_fusion(self) -> bool:
        """A fusion head exists when there are at least two modalities."""
        return len(self.dims) >= 2

    @property
    def head_names(self) -> tuple[str, ...]:
        """All heads: the modalities, then ``fusion`` when there are >= 2 modalities."""
        return (*self.dims, FUSION) if len(self.dims) >= 2 else tuple(self.dims)

    @property
    def experts(self) -> tuple[str, ...]:
        """The heads that are not the student."""
        return tuple(h for h in self.head_names if h != self.student)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict (``dims``, ``n_classes``, then the settings)."""
        d = self.model_dump()
        return {"dims": dict(self.dims), "n_classes": self.n_classes,
                **{k: v for k, v in d.items() if k not in ("dims", "n_classes")}}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ModelConfig:
        """Inverse of :meth:`to_dict`."""
        return cls.model_validate(dict(d))


def input_stats(
    X: Mapping[str, Any], *, floor: float = 1e-6
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Per-dimension mean and standard deviation (population) of each modality's training inputs.

    Dimensions whose deviation is below ``floor`` (constant features) get a deviation of 1.
    """
    mean, std = {}, {}
    for m, x in X.items():
        t = torch.as_tensor(x, dtype=torch.float64)
        mu, sd = t.mean(0), t.std(0, unbiased=False)
        mean[m] = mu.float()
        std[m] = torch.where(sd < floor, torch.ones_like(sd), sd).float()
    return mean, std


class MLPHead(nn.Module):
    """Two-layer MLP ``Linear -> ReLU -> (Dropout) -> Linear`` giving class logits."""

    def __init__(self, d_in: int, hidden: int, n_classes: int, dropout: float = 0.0):
        super().__init__()
        self.fc1 = nn.Linear(d_in, hidden)
        self.fc2 = nn.Linear(hidden, n_classes)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(..., C)`` of inputs ``(..., d_in)``."""
        return self.fc2(self.dropout(torch.relu(self.fc1(x))))


class GatedFusion(nn.Module):
    r"""Gated fusion of M modality embeddings into one representation of width d.

    Two modalities (the paper's A and T):

    .. math::

        z_A = \tanh(W_A h_A + b_A),\quad z_T = \tanh(W_T h_T + b_T),\quad
        g = \sigma(W_g [h_A; h_T] + b_g),\quad h_{AT} = g \odot z_A + (1 - g) \odot z_T

    M > 2 modalities generalise the gate to a per-dimension softmax over modalities,
    :math:`h = \sum_m g_m \odot z_m` with :math:`g = \mathrm{softmax}_m(W_g [h_1; \dots; h_M] + b_g)`
    (for M = 2 this is the sigmoid form above, since softmax of two logits is a sigmoid of their
    difference). With ``gate_input="projections"`` the gate reads ``[z_1; ...; z_M]`` instead.
    """

    def __init__(self, dims: Mapping[str, int], fusion_dim: int, gate_input: str = "embeddings"):
        super().__init__()
        if len(dims) < 2:
            raise ValueError("GatedFusion needs at least two modalities")
        self.modalities = tuple(dims)
        self.gate_input = gate_input
        self.proj = nn.ModuleDict({m: nn.Linear(int(d), fusion_dim) for m, d in dims.items()})
        gate_in = sum(int(d) for d in dims.values()) if gate_input == "embeddings" else fusion_dim * len(dims)
        n_gates = 1 if len(dims) == 2 else len(dims)
        self.gate = nn.Linear(gate_in, fusion_dim * n_gates)
        self.fusion_dim = fusion_dim

    def forward(self, xs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Fused representation ``(..., d)`` of ``{modality: (..., d_m)}``."""
        z = [torch.tanh(self.proj[m](xs[m])) for m in self.modalities]
        gin = torch.cat([xs[m] for m in self.modalities] if self.gate_input == "embeddings" else z, dim=-1)
        a = self.gate(gin)
        if len(z) == 2:
            g = torch.sigmoid(a)
            return g * z[0] + (1 - g) * z[1]
        g = torch.softmax(a.unflatten(-1, (len(z), self.fusion_dim)), dim=-2)
        return (g * torch.stack(z, dim=-2)).sum(dim=-2)


class AmbER2Model(nn.Module):
    """Heads for every modality plus the gated-fusion head; any head may be the student.

    Args:
        config: The architecture.
        seed: Seed of the run. Each head draws its initial weights from ``head_seed(seed, head)``.
    """

    def __init__(self, config: ModelConfig, seed: int = 0):
        super().__init__()
        self.config = config
        self.seed = int(seed)
        heads: dict[str, nn.Module] = {}
        for m, d in config.dims.items():
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(head_seed(seed, m))
                heads[m] = MLPHead(d, config.hidden, config.n_classes, config.dropout)
        self.heads = nn.ModuleDict(heads)
        if config.has_fusion:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(head_seed(seed, FUSION))
                self.fusion = GatedFusion(config.dims, config.fusion_dim, config.gate_input)
                self.heads[FUSION] = MLPHead(config.fusion_dim, config.hidden, config.n_classes, config.dropout)
        else:
            self.fusion = None
        for m, d in config.dims.items():
            self.register_buffer(f"input_mean_{m}", torch.zeros(d))
            self.register_buffer(f"input_std_{m}", torch.ones(d))

    @torch.no_grad()
    def set_input_stats(self, mean: Mapping[str, torch.Tensor], std: Mapping[str, torch.Tensor]) -> None:
        """Set the per-modality standardisation (used when ``config.standardize``)."""
        for m in self.config.dims:
            getattr(self, f"input_mean_{m}").copy_(torch.as_tensor(mean[m]))
            getattr(self, f"input_std_{m}").copy_(torch.as_tensor(std[m]))

    def normalize(self, xs: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Standardised inputs (identity when ``config.standardize`` is off)."""
        if not self.config.standardize:
            return dict(xs)
        return {m: (x - getattr(self, f"input_mean_{m}")) / getattr(self, f"input_std_{m}") if m in self.config.dims
                else x for m, x in xs.items()}

    @property
    def head_names(self) -> tuple[str, ...]:
        """Head names (modalities, then ``fusion``)."""
        return self.config.head_names

    def forward(self, xs: Mapping[str, torch.Tensor], heads: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
        """Logits per head.

        Args:
            xs: ``{modality: (..., d_m)}``; every modality of the config must be present for the
                fusion head, a modality head needs only its own input.
            heads: Which heads to run (default: all whose inputs are present).

        Returns:
            ``{head: logits (..., C)}``.
        """
        names = heads if heads is not None else [
            h for h in self.head_names
            if (h == FUSION and all(m in xs for m in self.config.modalities)) or h in xs
        ]
        out: dict[str, torch.Tensor] = {}
        xs = self.normalize(xs)
        for h in names:
            if h == FUSION:
                if self.fusion is None:
                    raise ValueError("this model has a single modality and no fusion head")
                missing = [m for m in self.config.modalities if m not in xs]
                if missing:
                    raise ValueError(f"the fusion head needs every modality; missing {missing}")
                out[h] = self.heads[FUSION](self.fusion(xs))
            else:
                if h not in xs:
                    raise ValueError(f"head {h!r} needs input {h!r}; got {sorted(xs)}")
                out[h] = self.heads[h](xs[h])
        return out

    def head_parameters(self, head: str) -> list[nn.Parameter]:
        """Parameters that belong to one head (the fusion head includes the gated fusion)."""
        params = list(self.heads[head].parameters())
        if head == FUSION and self.fusion is not None:
            params = list(self.fusion.parameters()) + params
        return params
