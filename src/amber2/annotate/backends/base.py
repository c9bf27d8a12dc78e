"""The one small interface every annotating backend implements.

An annotator takes items and returns votes with the raw reply: a backend receives a batch of
:class:`Request` (one item, one annotator, its prompt) and returns one :class:`Reply` per request, the
model's raw text or the reason there is none. A failure of the whole call raises
:class:`BackendError`; ``retryable=True`` (rate limit, server error, timeout, connection refused) lets
the runner retry it with exponential backoff, anything else is reported for each item of the batch.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from amber2.annotate.prompts import Prompt
from amber2.annotate.schedule import Annotator

__all__ = ["Backend", "BackendError", "Item", "Reply", "Request", "ThreadedBackend"]


@dataclass(frozen=True)
class Item:
    """One utterance to annotate.

    Attributes:
        id: Utterance id.
        audio_path: Its audio file (None: no audio).
        transcript: Its transcript (None: none; the prompt then says to rely on the audio).
        audio_sha256: SHA-256 of the audio file's bytes (part of the cache key).
    """

    id: str
    audio_path: str | None = None
    transcript: str | None = None
    audio_sha256: str | None = None


@dataclass(frozen=True)
class Request:
    """One call: annotator ``annotator`` judges ``item`` with ``prompt``; ``key`` is its cache key."""

    item: Item
    annotator: Annotator
    prompt: Prompt
    key: str = ""


@dataclass(frozen=True)
class Reply:
    """The raw reply of one request, or why there is none.

    Attributes:
        text: The model's answer as returned (None when the request failed).
        error: What went wrong (None on success).
        reason: Short code of the error (``missing_audio``, ``too_long``, ``rejected``, ...).
        note: Something to report although the call worked (e.g. the audio was capped).
    """

    text: str | None = None
    error: str | None = None
    reason: str | None = None
    note: str | None = None

    @property
    def ok(self) -> bool:
        """True when there is a reply."""
        return self.text is not None


class BackendError(Exception):
    """A call failed as a whole.

    Args:
        message: What happened (never containing a secret).
        reason: Short code: ``rate_limited``, ``server_error``, ``timeout``, ``server_unreachable``,
            ``malformed_response``, ``rejected``, ``audio_refused``, ``backend_failed``.
        retryable: Whether trying again later may succeed.
    """

    def __init__(self, message: str, reason: str, *, retryable: bool = False):
        super().__init__(message)
        self.reason = reason
        self.retryable = retryable


class Backend(abc.ABC):
    """A source of synthetic votes.

    Attributes:
        name: Backend name, the rater id's second part (``openai``, ``transformers``, ``bundle``).
        model: Model name, the rater id's third part.
        batch_size: Most requests per :meth:`annotate` call; a batch holds requests of one annotator.
        uses_audio: Whether the backend listens to the audio (False: it reads transcripts only).
    """

    name: ClassVar[str] = ""
    model: str = ""
    batch_size: int = 1
    uses_audio: bool = True

    @abc.abstractmethod
    def identity(self) -> dict[str, Any]:
        """The settings that change replies (model, mode, limits): part of every cache key; no secrets."""

    @abc.abstractmethod
    async def annotate(self, requests: Sequence[Request]) -> list[Reply]:
        """One reply per request, in order (raise :class:`BackendError` when the whole call fails)."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook, most backends hold nothing to close
        """Release connections or models."""

    def redact(self, text: str) -> str:
        """``text`` with any secret the backend holds replaced (for error messages)."""
        return text


class ThreadedBackend(Backend):
    """A backend whose work is blocking (a local model): it runs in a worker thread, one batch at a time."""

    _locks: dict[int, asyncio.Lock]

    @abc.abstractmethod
    def annotate_sync(self, requests: Sequence[Request]) -> list[Reply]:
        """The blocking work of :meth:`annotate`."""

    async def annotate(self, requests: Sequence[Request]) -> list[Reply]:
        """Run :meth:`annotate_sync` in a thread (one batch at a time: the model is not shared)."""
        loop = id(asyncio.get_running_loop())
        locks = self.__dict__.setdefault("_locks", {})
        lock = locks.setdefault(loop, asyncio.Lock())  # one lock per event loop (runs may use several)
        async with lock:
            return await asyncio.to_thread(self.annotate_sync, list(requests))
