"""The fuzz tests reuse the inference helpers (toy encoders, bundles, clips)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "inference"))
