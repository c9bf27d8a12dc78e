"""Fixtures of the service tests: a real uvicorn server on a free loopback port, in a thread."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "inference"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from inference_helpers import make_bundle, offline_encoders
from serve_helpers import running


@pytest.fixture(scope="session")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_bundle(tmp_path_factory.mktemp("serve-bundle") / "model", encoders=offline_encoders())


@pytest.fixture(scope="session")
def model(bundle: Path) -> Any:
    from amber2.inference import AmbER2

    return AmbER2.from_pretrained(bundle, device="cpu", encoders=offline_encoders())


@pytest.fixture(scope="session")
def base_url(model: Any) -> Iterator[str]:
    """A server with the offline-preset bundle and small limits (1 MiB, 4 s)."""
    from amber2.serve import create_app

    app = create_app(model, max_upload_mb=1.0, max_duration_s=4.0, workers=2)
    with running(app) as url:
        yield url
