"""Annotating backends behind one interface (:class:`Backend`).

``openai`` and ``transformers`` live here, ``bundle`` (a trained amber2 model) in
:mod:`amber2.inference.annotator`.

The backend modules import their client libraries when they are built, not when this package is imported.
"""

from __future__ import annotations

from amber2.annotate.backends.base import Backend, BackendError, Item, Reply, Request, ThreadedBackend

__all__ = ["Backend", "BackendError", "Item", "Reply", "Request", "ThreadedBackend"]
