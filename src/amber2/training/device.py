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

import contextlib
from collections.abc import Iterator
from typing import Any, Literal

import torch

from amber2.encoders.base import resolve_device

__all__ = ["PRECISIONS", "Precision", "autocast", "matmul_precision", "resolve_device", "resolve_precision"]

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
