"""Fixtures of the inference tests: the offline encoders and a random-init bundle, built once per session."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from inference_helpers import make_bundle, offline_encoders


@pytest.fixture(scope="session")
def encoders() -> dict[str, Any]:
    return offline_encoders()


@pytest.fixture(scope="session")
def bundle(tmp_path_factory: pytest.TempPathFactory, encoders: dict[str, Any]) -> Path:
    return make_bundle(tmp_path_factory.mktemp("bundle") / "model", encoders=encoders)


@pytest.fixture(scope="session")
def loaded(bundle: Path, encoders: dict[str, Any]) -> Any:
    """The bundle loaded on CPU, reusing the session's encoders (same specs) to save their load time."""
    from amber2.inference import AmbER2

    return AmbER2.from_pretrained(bundle, device="cpu", encoders=encoders)
