r"""AdamW for stacked branches, with a per-branch update mask (decoupled weight decay).

Implements exactly the update of ``torch.optim.AdamW`` (Loshchilov & Hutter, 2019) for every branch
of a :class:`~amber2.model.stacked.StackedHeads`, where each branch keeps its own step count and may
skip a step (e.g. its group has no mini-batch left in this epoch):

.. math::

    \theta \leftarrow \theta (1 - \eta \lambda),\quad
    m \leftarrow \beta_1 m + (1-\beta_1) g,\quad
    v \leftarrow \beta_2 v + (1-\beta_2) g^2,\quad
    \theta \leftarrow \theta - \frac{\eta}{1-\beta_1^t}\,
        \frac{m}{\sqrt{v}/\sqrt{1-\beta_2^t} + \epsilon}

A skipped branch keeps ``theta``, ``m``, ``v`` and ``t`` unchanged, so its trajectory equals that of
the same run trained alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch

from amber2.model.stacked import StackedHeads

__all__ = ["StackedAdamW", "StepMask"]


@dataclass(frozen=True)
class StepMask:
    """Which branches step, ``(G, n_branches)``: a host copy for decisions, a device copy for the math.

    The optimiser decides on the host copy (which update applies, which groups step) so that a step
    never reads a device tensor back (on a GPU that would wait for the device every step).
    """

    host: np.ndarray
    device: torch.Tensor


class StackedAdamW:
    """AdamW over all parameters of a :class:`StackedHeads`, masked per (group, branch).

    Args:
        model: The stacked model (its parameters' device is the optimiser's).
        lr: Learning rate (paper: 3e-4).
        weight_decay: Decoupled weight decay (paper: 1e-2).
        betas: Adam betas.
        eps: Adam epsilon.
    """

    def __init__(
        self,
        model: StackedHeads,
        lr: float = 3e-4,
        weight_decay: float = 1e-2,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ):
        self.model = model
        self.lr, self.wd, self.eps = float(lr), float(weight_decay), float(eps)
        self.b1, self.b2 = float(betas[0]), float(betas[1])
        layout = model.layout
        self.heads = list(layout.branches)
        self._offsets: dict[str, int] = {}
        off = 0
        for h in self.heads:
            self._offsets[h] = off
            off += layout.branches[h]
        self.n_branches = off
        G = layout.n_groups
        self.params: list[tuple[str, torch.nn.Parameter]] = [(n, p) for n, p in model.named_parameters()]
        self.device = self.params[0][1].device if self.params else torch.device("cpu")
        #: Step count of every branch, on the device (the update's bias corrections read it) ...
        self.steps = torch.zeros(G, off, dtype=torch.float64, device=self.device)
        #: ... and the same counts on the host (the choice of update reads them).
        self.host_steps = np.zeros((G, off), dtype=np.int64)
        self.state: dict[str, tuple[torch.Tensor, torch.Tensor]] = {
            n: (torch.zeros_like(p), torch.zeros_like(p)) for n, p in self.params
        }
        self._buffers: dict[str, torch.Tensor] = {}
        #: Use the fused AdamW kernel when every branch of a group steps together (exact same math).
        self.use_fused = True
        # How each parameter maps onto the flat branch axis (G, n_branches).
        self._gather: dict[str, torch.Tensor] = {}
        self._axis1: dict[str, str] = {}
        for n, p in self.params:
            blocks = model.branch_column_owner(n)
            if blocks is not None:
                idx = torch.empty(p.shape[-1], dtype=torch.long)
                for head, k, sl in blocks:
                    idx[sl] = self._offsets[head] + k
                self._gather[n] = idx.to(self.device)
            else:
                self._axis1[n] = model.branch_axis_head(n)

    def zero_grad(self) -> None:
        """Drop gradients."""
        for _, p in self.params:
            p.grad = None

    def _expand(self, name: str, values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """Broadcast per-branch values ``(G, n_branches)`` to parameter ``name``'s shape."""
        if name in self._gather:
            v = values[:, self._gather[name]]  # (G, cols)
            return v.view(v.shape[0], *([1] * (like.dim() - 2)), v.shape[1])
        head = self._axis1[name]
        o = self._offsets[head]
        K = self.model.layout.branches[head]
        v = values[:, o:o + K]
        return v.view(v.shape[0], K, *([1] * (like.dim() - 2)))

    def host_mask(self, active: Mapping[str, torch.Tensor | np.ndarray]) -> np.ndarray:
        """Concatenate ``{head: (G, K_h) bool}`` (host arrays or CPU tensors) into ``(G, n_branches)`` bools."""
        return np.concatenate([np.asarray(active[h], dtype=bool) for h in self.heads], axis=1)

    def masks(self, host: np.ndarray) -> list[StepMask]:
        """Step masks for a sequence of steps ``(steps, G, n_branches)``, moved to the device in one copy."""
        dev = torch.from_numpy(np.ascontiguousarray(host, dtype=np.float64)).to(self.device)
        return [StepMask(host[s], dev[s]) for s in range(len(host))]

    @torch.no_grad()
    def step(self, active: Mapping[str, torch.Tensor | np.ndarray] | StepMask) -> None:
        """One AdamW step for the branches marked active (``{head: (G, K_h) bool}`` or a :class:`StepMask`)."""
        mask = active if isinstance(active, StepMask) else self.masks(self.host_mask(active)[None])[0]
        a = mask.device
        self.steps += a
        self.host_steps += mask.host
        if self._fused_step(mask.host):
            return
        t = self.steps.clamp(min=1.0)
        bc1 = 1.0 - self.b1 ** t
        bc2_sqrt = torch.sqrt(1.0 - self.b2 ** t)
        per_branch = {
            "decay": (1.0 - self.lr * self.wd * a),
            "w1": (1.0 - self.b1) * a,
            "w2": (1.0 - self.b2) * a,
            "step": self.lr * a / bc1,
            "bc2": bc2_sqrt,
        }
        all_active = bool(mask.host.all())
        for name, p in self.params:
            g = p.grad
            if g is None:
                continue
            m, v = self.state[name]
            buf = self._scratch(name, p)
            dt = p.dtype
            ex = {k: self._expand(name, val, p).to(dt) for k, val in per_branch.items()}
            if all_active:
                p.mul_(1.0 - self.lr * self.wd)
                m.lerp_(g, 1.0 - self.b1)
                v.mul_(self.b2).addcmul_(g, g, value=1.0 - self.b2)
            else:
                p.mul_(ex["decay"])
                m.lerp_(g, ex["w1"].expand_as(m))
                torch.mul(g, g, out=buf)
                v.lerp_(buf, ex["w2"].expand_as(v))
            # Large temporaries are costly (fresh pages); every step reuses one buffer per parameter.
            torch.sqrt(v, out=buf)
            buf.div_(ex["bc2"]).add_(self.eps)
            torch.div(m, buf, out=buf)
            buf.mul_(ex["step"])
            p.sub_(buf)

    def _fused_step(self, act: np.ndarray) -> bool:
        """The common case in one fused pass per tensor: every branch of a group steps together.

        When, in every group, all branches are active or all inactive and share one step count (the ensemble
        keeps it so: a group steps all its branches or none), each group's slice of each parameter is an
        ordinary AdamW tensor with one step count: ``torch._fused_adamw_`` (the kernel behind
        ``torch.optim.AdamW(fused=True)``) updates the active groups in a single read-write pass, instead of
        the ~10 passes of the masked update. When every group steps with the same count, whole tensors go to
        the kernel (fewest launches). Returns False when that does not apply. The decision reads only the
        host copies of the masks and counts.
        """
        fused = getattr(torch, "_fused_adamw_", None)
        if fused is None or not self.use_fused:
            return False
        if not (act.all(1) | ~act.any(1)).all():
            return False
        steps = self.host_steps
        if not (steps.min(1) == steps.max(1)).all():
            return False
        groups = np.flatnonzero(act.all(1))
        if not len(groups):
            return True
        counts = self.steps[:, 0].to(torch.float32)  # device scalars, read by the kernel
        ps, gs, ms, vs, ts = [], [], [], [], []
        whole = len(groups) == len(act) and (steps[:, 0] == steps[0, 0]).all()
        for name, p in self.params:
            if p.grad is None:
                continue
            m, v = self.state[name]
            if whole:
                ps.append(p.data), gs.append(p.grad), ms.append(m), vs.append(v), ts.append(counts[0])
                continue
            for g in groups:
                ps.append(p.data[g])
                gs.append(p.grad[g])
                ms.append(m[g])
                vs.append(v[g])
                ts.append(counts[g])
        fused(ps, gs, ms, vs, [], ts, lr=self.lr, beta1=self.b1, beta2=self.b2, weight_decay=self.wd,
              eps=self.eps, amsgrad=False, maximize=False)
        return True

    def _scratch(self, name: str, p: torch.Tensor) -> torch.Tensor:
        buf = self._buffers.get(name)
        if buf is None or buf.shape != p.shape:
            buf = self._buffers[name] = torch.empty_like(p)
        return buf

    def state_size_bytes(self) -> int:
        """Memory held by the optimiser state."""
        return sum(m.numel() * m.element_size() * 2 for m, _ in self.state.values())
