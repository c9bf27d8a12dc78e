"""Many AmbER² networks trained as one: stacked weights and batched matmuls.

The paper's protocol trains hundreds of small networks (folds x seeds x grid points, plus the
baseline). :class:`StackedHeads` holds the weights of all of them in a few large tensors and runs
them with batched matrix products, so one optimiser step updates every run at once.

Layout. Runs are organised in **groups** ``g = 0..G-1`` (one group = one fold x seed: the runs of a
group see the same mini-batches) and, inside a group, **branches**: branch ``k`` of head ``h`` is one
copy of that head's weights. Several runs may share a branch when their training provably gives that
head the same trajectory (an expert whose loss does not depend on the run's grid point); the
trainer decides this, this module only stores and runs branches.

For each modality ``m`` every first layer that reads ``h_m`` (the modality head's first layer, the
fusion projection ``W_m`` and the gate's block for ``h_m``, of every branch) is one column block of
a single weight ``W1[m]`` of shape ``(G, d_m, cols_m)``, so the whole first layer is one batched
product ``X_m @ W1[m]`` per modality. Second layers (inputs differ per branch) are batched over
``G x K``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from amber2.model.heads import FUSION, AmbER2Model, ModelConfig

__all__ = ["BranchLayout", "StackedHeads"]


@dataclass(frozen=True)
class BranchLayout:
    """How many groups and branches per head a :class:`StackedHeads` holds."""

    n_groups: int
    branches: Mapping[str, int]  # head -> K_h

    def __post_init__(self) -> None:
        if self.n_groups < 1:
            raise ValueError("n_groups must be >= 1")
        for h, k in self.branches.items():
            if k < 1:
                raise ValueError(f"head {h!r}: needs at least one branch, got {k}")


class StackedHeads(nn.Module):
    """Stacked weights of ``G x K_h`` branches per head, run with batched matmuls.

    Args:
        config: The architecture shared by every branch (``dropout`` must be 0).
        layout: Groups and branches per head (every head of ``config`` must be present).
    """

    def __init__(self, config: ModelConfig, layout: BranchLayout):
        super().__init__()
        if config.dropout:
            raise ValueError("StackedHeads does not support dropout; train such models one by one")
        missing = [h for h in config.head_names if h not in layout.branches]
        if missing:
            raise ValueError(f"layout lacks branch counts for heads {missing}")
        self.config = config
        self.layout = layout
        G, H, C, d = layout.n_groups, config.hidden, config.n_classes, config.fusion_dim
        M = len(config.dims)
        self.n_modalities = M
        self.gate_width = d if M == 2 else M * d
        Kf = layout.branches.get(FUSION, 0) if config.has_fusion else 0
        self.Kf = Kf
        self.slices: dict[str, dict[str, slice]] = {}
        self.W1 = nn.ParameterDict()
        self.b1 = nn.ParameterDict()
        self.W2 = nn.ParameterDict()
        self.b2 = nn.ParameterDict()
        self.bp = nn.ParameterDict()
        for m, dm in config.dims.items():
            Km = layout.branches[m]
            cols = Km * H
            sl = {"head": slice(0, Km * H)}
            if Kf:
                sl["proj"] = slice(cols, cols + Kf * d)
                cols += Kf * d
                if config.gate_input == "embeddings":
                    sl["gate"] = slice(cols, cols + Kf * self.gate_width)
                    cols += Kf * self.gate_width
                self.bp[m] = nn.Parameter(torch.zeros(G, 1, Kf * d))
            self.slices[m] = sl
            self.W1[m] = nn.Parameter(torch.zeros(G, dm, cols))
            self.b1[m] = nn.Parameter(torch.zeros(G, 1, Km * H))
            self.W2[m] = nn.Parameter(torch.zeros(G, Km, H, C))
            self.b2[m] = nn.Parameter(torch.zeros(G, Km, 1, C))
        if Kf:
            self.bg = nn.Parameter(torch.zeros(G, 1, Kf * self.gate_width))
            if config.gate_input == "projections":
                self.Wg = nn.Parameter(torch.zeros(G, Kf, M * d, self.gate_width))
            self.Wf1 = nn.Parameter(torch.zeros(G, Kf, d, H))
            self.bf1 = nn.Parameter(torch.zeros(G, Kf, 1, H))
            self.Wf2 = nn.Parameter(torch.zeros(G, Kf, H, C))
            self.bf2 = nn.Parameter(torch.zeros(G, Kf, 1, C))

    # ------------------------------------------------------------------ forward
    def forward(self, xs: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Logits of every branch.

        Args:
            xs: ``{modality: (G, B, d_m)}``: group ``g``'s inputs.

        Returns:
            ``{head: (G, K_h, B, C)}``.
        """
        cfg = self.config
        G, H, d = self.layout.n_groups, cfg.hidden, cfg.fusion_dim
        out: dict[str, torch.Tensor] = {}
        proj: list[torch.Tensor] = []
        gate_pre: torch.Tensor | None = None
        B = next(iter(xs.values())).shape[1]
        for m in cfg.modalities:
            x = xs[m]
            y = torch.bmm(x, self.W1[m])  # (G, B, cols_m)
            sl = self.slices[m]
            Km = self.layout.branches[m]
            # split (not slicing): its backward concatenates instead of zero-filling per slice.
            parts = dict(zip(sl, y.split([s.stop - s.start for s in sl.values()], dim=-1), strict=True))
            hid = torch.relu(parts["head"] + self.b1[m])  # (G, B, Km*H)
            hid = hid.view(G, B, Km, H).transpose(1, 2)  # (G, Km, B, H)
            out[m] = torch.matmul(hid, self.W2[m]) + self.b2[m]  # (G, Km, B, C)
            if self.Kf:
                proj.append(torch.tanh(parts["proj"] + self.bp[m]))  # (G, B, Kf*d)
                if "gate" in parts:
                    part = parts["gate"]
                    gate_pre = part if gate_pre is None else gate_pre + part
        if self.Kf:
            Kf = self.Kf
            if cfg.gate_input == "projections":
                z = torch.cat([p.view(G, B, Kf, d) for p in proj], dim=-1).transpose(1, 2)  # (G,Kf,B,M*d)
                gate_pre = torch.matmul(z, self.Wg).transpose(1, 2).reshape(G, B, Kf * self.gate_width)
            assert gate_pre is not None
            a = gate_pre + self.bg
            if self.n_modalities == 2:
                g = torch.sigmoid(a)
                h = g * proj[0] + (1 - g) * proj[1]  # (G, B, Kf*d)
            else:
                M = self.n_modalities
                g = torch.softmax(a.view(G, B, Kf, M, d), dim=-2)
                z = torch.stack([p.view(G, B, Kf, d) for p in proj], dim=-2)
                h = (g * z).sum(dim=-2).reshape(G, B, Kf * d)
            h = h.view(G, B, Kf, d).transpose(1, 2)  # (G, Kf, B, d)
            hid = torch.relu(torch.matmul(h, self.Wf1) + self.bf1)
            out[FUSION] = torch.matmul(hid, self.Wf2) + self.bf2
        return out

    # ------------------------------------------------------------------ branch access
    def _fusion_cols(self, k: int, width: int) -> slice:
        return slice(k * width, (k + 1) * width)

    def branch_views(self, head: str, k: int) -> dict[str, torch.Tensor]:
        """Views (sharing storage) of the weights of branch ``k`` of ``head`` across groups.

        Keys follow :class:`AmbER2Model`'s state-dict names (``heads.audio.fc1.weight`` ...);
        values are laid out ``(G, in, out)`` (transposed with respect to ``nn.Linear``).
        """
        cfg = self.config
        H, d = cfg.hidden, cfg.fusion_dim
        v: dict[str, torch.Tensor] = {}
        if head != FUSION:
            m = head
            hs = self.slices[m]["head"]
            v[f"heads.{m}.fc1.weight"] = self.W1[m][:, :, hs][:, :, k * H:(k + 1) * H]
            v[f"heads.{m}.fc1.bias"] = self.b1[m][:, :, k * H:(k + 1) * H]
            v[f"heads.{m}.fc2.weight"] = self.W2[m][:, k]
            v[f"heads.{m}.fc2.bias"] = self.b2[m][:, k]
            return v
        gw = self.gate_width
        for m in cfg.modalities:
            ps = self.slices[m]["proj"]
            v[f"fusion.proj.{m}.weight"] = self.W1[m][:, :, ps][:, :, self._fusion_cols(k, d)]
            v[f"fusion.proj.{m}.bias"] = self.bp[m][:, :, self._fusion_cols(k, d)]
            if cfg.gate_input == "embeddings":
                gs = self.slices[m]["gate"]
                v[f"fusion.gate.weight@{m}"] = self.W1[m][:, :, gs][:, :, self._fusion_cols(k, gw)]
        if cfg.gate_input == "projections":
            v["fusion.gate.weight"] = self.Wg[:, k]
        v["fusion.gate.bias"] = self.bg[:, :, self._fusion_cols(k, gw)]
        v["heads.fusion.fc1.weight"] = self.Wf1[:, k]
        v["heads.fusion.fc1.bias"] = self.bf1[:, k]
        v["heads.fusion.fc2.weight"] = self.Wf2[:, k]
        v["heads.fusion.fc2.bias"] = self.bf2[:, k]
        return v

    @torch.no_grad()
    def load_branch(self, head: str, k: int, g: int, model: AmbER2Model | Mapping[str, torch.Tensor]) -> None:
        """Copy ``model``'s weights of ``head`` (the model or its state dict) into branch ``k`` of group ``g``."""
        sd = model if isinstance(model, Mapping) else model.state_dict()
        for key, view in self.branch_views(head, k).items():
            view[g].copy_(_from_linear(sd, key, self.config))

    @torch.no_grad()
    def branch_state(self, head: str, k: int, g: int) -> dict[str, torch.Tensor]:
        """``head``'s weights of branch ``k`` in group ``g`` as an :class:`AmbER2Model` state dict."""
        views = {key: v[g] for key, v in self.branch_views(head, k).items()}
        return _to_linear(views, self.config)

    @classmethod
    def from_models(
        cls, config: ModelConfig, sources: Mapping[str, Sequence[Sequence[AmbER2Model]]]
    ) -> StackedHeads:
        """Build from per-branch source models: ``sources[head][g][k]`` initialises that branch."""
        G = len(next(iter(sources.values())))
        layout = BranchLayout(G, {h: len(sources[h][0]) for h in config.head_names})
        st = cls(config, layout)
        states: dict[int, Mapping[str, torch.Tensor]] = {}  # one state dict per source model (shared by branches)
        for h in config.head_names:
            if len(sources[h]) != G:
                raise ValueError(f"head {h!r}: expected {G} groups of sources, got {len(sources[h])}")
            for g, models in enumerate(sources[h]):
                if len(models) != layout.branches[h]:
                    raise ValueError(f"head {h!r}, group {g}: uneven branch counts across groups")
                for k, model in enumerate(models):
                    if id(model) not in states:
                        states[id(model)] = model.state_dict()
                    st.load_branch(h, k, g, states[id(model)])
        return st

    def branch_column_owner(self, name: str) -> list[tuple[str, int, slice]] | None:
        """For parameters whose last axis mixes branches, the (head, branch, column slice) blocks.

        Used by the optimiser to mask updates per branch. Returns None for parameters laid out
        with the branch on axis 1.
        """
        cfg = self.config
        H, d, gw = cfg.hidden, cfg.fusion_dim, self.gate_width
        kind, _, m = name.partition(".")
        blocks: list[tuple[str, int, slice]] = []
        if kind == "W1":
            sl = self.slices[m]
            for k in range(self.layout.branches[m]):
                blocks.append((m, k, slice(sl["head"].start + k * H, sl["head"].start + (k + 1) * H)))
            for key, width in (("proj", d), ("gate", gw)):
                if key in sl:
                    for k in range(self.Kf):
                        s0 = sl[key].start + k * width
                        blocks.append((FUSION, k, slice(s0, s0 + width)))
            return blocks
        if kind == "b1":
            return [(m, k, slice(k * H, (k + 1) * H)) for k in range(self.layout.branches[m])]
        if kind == "bp":
            return [(FUSION, k, slice(k * d, (k + 1) * d)) for k in range(self.Kf)]
        if kind == "bg":
            return [(FUSION, k, slice(k * gw, (k + 1) * gw)) for k in range(self.Kf)]
        return None

    def branch_axis_head(self, name: str) -> str:
        """The head of a parameter laid out with the branch on axis 1 (``W2.audio`` -> ``audio``)."""
        kind, _, m = name.partition(".")
        return m if kind in ("W2", "b2") else FUSION


def _from_linear(sd: Mapping[str, torch.Tensor], key: str, config: ModelConfig) -> torch.Tensor:
    """Value of stacked key ``key`` taken from an AmbER2Model state dict (transposing weights)."""
    if "@" in key:  # one modality's block of the gate weight
        base, m = key.split("@")
        W = sd[base]  # (gw, sum d_m)
        off = 0
        for name, dm in config.dims.items():
            if name == m:
                return W[:, off:off + dm].T
            off += dm
        raise KeyError(key)
    t = sd[key]
    return t.T if key.endswith("weight") else t.unsqueeze(0)


def _to_linear(views: Mapping[str, torch.Tensor], config: ModelConfig) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    gate_blocks: dict[str, torch.Tensor] = {}
    for key, v in views.items():
        if "@" in key:
            m = key.split("@")[1]
            gate_blocks[m] = v.T
            continue
        out[key] = (v.T if key.endswith("weight") else v.squeeze(0)).clone()
    if gate_blocks:
        out["fusion.gate.weight"] = torch.cat([gate_blocks[m] for m in config.modalities], dim=1).clone()
    return out
