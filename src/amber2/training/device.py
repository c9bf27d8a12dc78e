"""Where and at which precision training runs: the device and ``optim.precision``.

The device is a run-time choice (the same results are written whatever it is, up to the precision's
rounding); it defaults to a GPU when one is present, chosen by the same helper as extraction
(:func:`amber2.encoders.base.resolve_device`). The precision is a setting of the run
(``optim.precision``), recorded in the resolved configuration:

- ``fp32``: IEEE float32 everywhere (matrix products included);
- ``tf32``: float32 storage, matrix products on NVIDIA tensor cores with a 10-bit mantissa
  (CUDA only; on a CPU it is the same as fp32);
- ``bf16``: forward pass under ``torch.autocast`` to bfloat16 (weights, optimiser state, losses
  and selection stay float32).

Unset, it is ``tf32`` on CUDA and ``fp32`` elsewhere.
"""

from __future__ import annotations

import collections
import contextlib
import time
from collections.abc import Iterator
from typing import Any, Literal

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from amber2.encoders.base import resolve_device

__all__ = ["PRECISIONS", "OperatorCount", "Precision", "autocast", "matmul_precision", "measure_gemm_rate",
           "resolve_device", "resolve_precision"]

Precision = Literal["fp32", "tf32", "bf16"]
PRECISIONS: tuple[str, ...] = ("fp32", "tf32", "bf16")


def resolve_precision(precision: str | None, device: Any) -> str:
    """``precision`` if given, else ``tf32`` on a CUDA device and ``fp32`` elsewhere.

    Raises:
        ValueError: Not one of :data:`PRECISIONS`.
    """
    if precision is None:
        return "tf32" if str(device).startswith("cuda") else "fp32"
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {list(PRECISIONS)}, got {precision!r}")
    return precision


@contextlib.contextmanager
def matmul_precision(precision: str) -> Iterator[None]:
    """Allow (``tf32``) or forbid (otherwise) TF32 matrix products inside the block; restores the setting."""
    prev_mm, prev_cudnn = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = precision == "tf32"
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = prev_mm, prev_cudnn


def autocast(precision: str, device: Any) -> contextlib.AbstractContextManager[Any]:
    """``torch.autocast`` to bfloat16 for ``bf16``; a no-op context otherwise."""
    if precision != "bf16":
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16)


def measure_gemm_rate(m: int, k: int, n: int, device: Any = "cpu", precision: str = "fp32", trials: int = 5,
                      seconds: float = 0.3, batch: int = 1) -> dict[str, Any]:
    """The device's matrix-product rate at shape ``(m, k) @ (k, n)``: the best of ``trials`` timings.

    Each trial repeats the product for about ``seconds`` and counts :math:`2mkn` floating-point
    operations per product (times ``batch``); the rate is FLOP/s. With ``batch > 1`` the product is
    ``torch.bmm`` of ``batch`` independent pairs, ``(batch, m, k) @ (batch, k, n)``: as many weight
    matrices as products, which moves more memory per FLOP than one large 2-D product. One timing
    swung by 2x between runs on a shared machine (other processes, clock changes), so the best of
    several short trials estimates what the device can do, and every trial is returned. On CUDA each
    trial ends with a synchronisation. ``precision`` follows ``optim.precision``: ``tf32`` allows TF32
    products, ``bf16`` multiplies bfloat16 inputs.

    Returns:
        ``{"best": FLOP/s, "trials": [FLOP/s, ...], "shape": [m, k, n], "batch": batch,
        "precision": precision}``.

    Raises:
        ValueError: A size, ``batch``, ``trials`` or ``seconds`` that is not positive, or an unknown
            precision.
    """
    if min(m, k, n, trials, batch) < 1 or not seconds > 0:
        raise ValueError(f"sizes, batch and trials must be >= 1 and seconds > 0; got {(m, k, n)}, batch {batch}, "
                         f"{trials} trials, {seconds} s")
    resolve_precision(precision, device)
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    lead = (batch,) if batch > 1 else ()
    a = torch.randn(*lead, m, k, device=device, dtype=dtype)
    b = torch.randn(*lead, k, n, device=device, dtype=dtype)
    cuda = str(device).startswith("cuda")

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize(device)

    rates = []
    with matmul_precision(precision):
        for _ in range(3):  # first calls pick kernels and page memory in
            a @ b
        sync()
        for _ in range(trials):
            reps, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < seconds:
                for _ in range(8):
                    a @ b
                reps += 8
                sync()
            rates.append(2.0 * batch * m * k * n * reps / (time.perf_counter() - t0))
    return {"best": max(rates), "trials": rates, "shape": [m, k, n], "batch": batch, "precision": precision}


class OperatorCount(TorchDispatchMode):
    """Counts the operators torch dispatches inside the block (``with OperatorCount() as ops: ...``).

    On a GPU every computing operator is at least one kernel launch that the host issues, a few
    microseconds of host time each whatever the tensor's size: for a training step of small tensors that
    host time, not the device's arithmetic, sets the pace. Views (``view``, ``expand``, ``detach``,
    ``select`` ...) compute nothing but still pass the dispatcher.

    Attributes:
        total: Every dispatched operator.
        compute: Operators that compute (not views): kernels on a GPU.
        by_op: ``compute`` per operator name.
    """

    #: Operators that only build another view of the same storage but are not flagged as views.
    _METADATA = frozenset({"_unsafe_view", "_reshape_alias", "alias"})

    def __init__(self) -> None:
        super().__init__()
        self.total = 0
        self.compute = 0
        self.by_op: collections.Counter[str] = collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.total += 1
        name = func.overloadpacket.__name__
        if not func.is_view and name not in self._METADATA:
            self.compute += 1
            self.by_op[name] += 1
        return func(*args, **(kwargs or {}))
