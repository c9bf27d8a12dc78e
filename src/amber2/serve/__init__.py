"""The web service: ``create_app(model)`` (FastAPI) and ``serve(model, host, port)`` (uvicorn).

See :mod:`amber2.serve.app` for the endpoints, limits and error codes, and ``docs/inference.md``.
"""

from __future__ import annotations

from amber2.serve.app import STATIC_DIR, ServiceLimits, create_app, serve

__all__ = ["STATIC_DIR", "ServiceLimits", "create_app", "serve"]
