"""A readable description of the machine, reported beside every absolute benchmark figure."""

from __future__ import annotations

import os
import platform
from pathlib import Path

__all__ = ["cpu_model", "device_name"]


def cpu_model() -> str:
    """The CPU model name with the number of logical CPUs, e.g. ``AMD EPYC (2 cores)``."""
    name = platform.processor() or "CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{name} ({os.cpu_count()} cores)"


def device_name(device: str = "cpu") -> str:
    """The GPU's name for a CUDA device, else :func:`cpu_model`."""
    if device.startswith("cuda"):
        import torch

        return torch.cuda.get_device_name(torch.device(device))
    return cpu_model()
