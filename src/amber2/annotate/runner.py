"""The engine that turns requests into replies: cache first, then bounded, rate-limited, retried calls.

* Cached replies are used as they are: a re-run with the same settings makes no call, raising the number
  of annotators makes only the new calls, a killed run resumes where it stopped (each reply is committed
  to the cache as it arrives).
* At most ``max_in_flight`` calls are open at once (asyncio workers pulling from one iterator), call
  starts are spaced by ``60 / requests_per_minute`` seconds, a call that fails with a retryable error
  (429, 5xx, timeout, connection refused, malformed response) is retried up to ``retries`` times with
  exponential backoff with jitter (tenacity), and at most ``max_calls`` requests are sent (those of the
  lowest annotator indices first, so the first N votes fill before later ones).
* A request that still fails is reported with its reason; the others carry on.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from amber2.annotate.backends.base import Backend, BackendError, Reply, Request
from amber2.annotate.cache import ReplyCache
from amber2.utils.logging import get_logger
from amber2.utils.progress import progress_bar

__all__ = ["Outcome", "RateLimiter", "RunSettings", "RunStats", "pending_requests", "run_requests"]

log = get_logger(__name__)


class RunSettings(BaseModel):
    """How calls are made (bounded: every number comes from a user).

    Attributes:
        max_in_flight: Most calls open at once (1-4096).
        requests_per_minute: Most call starts per minute (None: no limit).
        max_calls: Most uncached requests sent in this run (None: all); retries of a request do not
            count, they are bounded by ``retries``.
        retries: Retries of a call that failed with a retryable error (0-20).
        backoff_initial: First backoff in seconds; it doubles per retry (with jitter) ...
        backoff_max: ... up to this many seconds.
        progress: Show progress (a bar with ETA on a terminal, log lines otherwise).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_in_flight: int = Field(16, ge=1, le=4096)
    requests_per_minute: float | None = Field(None, gt=0, le=1e7)
    max_calls: int | None = Field(None, ge=0)
    retries: int = Field(4, ge=0, le=20)
    backoff_initial: float = Field(1.0, ge=0, le=600)
    backoff_max: float = Field(30.0, ge=0, le=3600)
    progress: bool = False


@dataclass
class Outcome:
    """What became of one request.

    Attributes:
        request: The request.
        text: The raw reply (None when there is none).
        cached: Whether the reply came from the cache.
        error: Why there is no reply.
        reason: Short code of ``error`` (``budget`` when ``max_calls`` left it unsent).
        note: A remark on a successful call (e.g. capped audio).
    """

    request: Request
    text: str | None = None
    cached: bool = False
    error: str | None = None
    reason: str | None = None
    note: str | None = None


@dataclass
class RunStats:
    """Counts of one run: requests, cached replies, calls made (attempts, retries included), failures."""

    requests: int = 0
    cached: int = 0
    sent: int = 0
    calls: int = 0
    retries: int = 0
    failed: int = 0
    budget_skipped: int = 0
    max_in_flight_seen: int = 0
    seconds: float = 0.0
    reasons: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (for JSON)."""
        return dict(self.__dict__)


class RateLimiter:
    """Spaces call starts at least ``60 / per_minute`` seconds apart.

    Hand-written because it is eight lines: a token bucket of size one on the event loop's clock.
    """

    def __init__(self, per_minute: float | None):
        self.interval = 0.0 if not per_minute else 60.0 / float(per_minute)
        self._next = 0.0

    async def acquire(self) -> None:
        """Wait for the next free start slot."""
        if self.interval <= 0:
            return
        now = asyncio.get_running_loop().time()
        start = max(now, self._next)
        self._next = start + self.interval
        if start > now:
            await asyncio.sleep(start - now)


def pending_requests(requests: Sequence[Request], cache: ReplyCache | None) -> list[int]:
    """Positions of the requests whose reply is not cached (each key counted once)."""
    hits = cache.get_many(r.key for r in requests) if cache is not None else {}
    seen: set[str] = set()
    out: list[int] = []
    for i, r in enumerate(requests):
        if r.key not in hits and r.key not in seen:
            seen.add(r.key)
            out.append(i)
    return out


class _Progress:
    """A bar with ETA on a terminal, a log line every 10 % (or 30 s) otherwise."""

    def __init__(self, enabled: bool, total: int, stack: Any):
        self.total, self.done, self.t0, self.last = total, 0, time.monotonic(), 0.0
        self.tty = enabled and sys.stderr.isatty()
        self.log = enabled and not self.tty
        self.bar = stack.enter_context(progress_bar(self.tty))
        self.task = self.bar.add_task("annotate", total=total)
        self.next_pct = 10

    def advance(self, n: int) -> None:
        self.done += n
        self.bar.advance(self.task, n)
        if not self.log or not self.total:
            return
        now = time.monotonic()
        pct = 100 * self.done / self.total
        if pct >= self.next_pct or now - self.last >= 30 or self.done == self.total:
            rate = self.done / max(now - self.t0, 1e-9)
            eta = (self.total - self.done) / rate if rate > 0 else float("inf")
            log.info("annotate: %d/%d requests (%.0f %%), %.1f/s, ETA %.0f s", self.done, self.total, pct, rate, eta)
            self.last = now
            while self.next_pct <= pct:
                self.next_pct += 10


def _batches(requests: Sequence[Request], positions: list[int], size: int) -> Iterator[list[int]]:
    """Consecutive runs of at most ``size`` positions sharing one annotator."""
    if size <= 1:
        for p in positions:
            yield [p]
        return
    order = sorted(positions, key=lambda p: (requests[p].annotator.index, p))
    batch: list[int] = []
    for p in order:
        if batch and (len(batch) >= size or requests[batch[0]].annotator.index != requests[p].annotator.index):
            yield batch
            batch = []
        batch.append(p)
    if batch:
        yield batch


async def run_requests(backend: Backend, requests: Sequence[Request], cache: ReplyCache | None,
                       settings: RunSettings | None = None) -> tuple[list[Outcome], RunStats]:
    """Get a reply for every request (from the cache or the backend).

    Args:
        backend: The backend that answers.
        requests: The requests (their ``key`` set; equal keys are asked once).
        cache: Where replies are looked up and stored (None: no cache).
        settings: Concurrency, rate, budget, retries, progress.

    Returns:
        One :class:`Outcome` per request, in order, and the run's :class:`RunStats`.
    """
    import contextlib

    from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

    settings = settings or RunSettings()
    t0 = time.monotonic()
    stats = RunStats(requests=len(requests))
    outcomes: list[Outcome | None] = [None] * len(requests)
    hits = cache.get_many(r.key for r in requests) if cache is not None else {}
    todo: list[int] = []
    first_of: dict[str, int] = {}
    for i, r in enumerate(requests):
        rec = hits.get(r.key)
        if rec is not None:
            outcomes[i] = Outcome(r, text=rec.get("reply"), cached=True, note=rec.get("note"))
            stats.cached += 1
        elif r.key in first_of:
            continue  # a duplicate key: answered with its first request below
        else:
            first_of[r.key] = i
            todo.append(i)
    if settings.max_calls is not None and len(todo) > settings.max_calls:
        keep = set(sorted(todo, key=lambda p: (requests[p].annotator.index, p))[: settings.max_calls])
        for p in todo:
            if p not in keep:
                outcomes[p] = Outcome(requests[p], error=f"not sent: the budget of {settings.max_calls} calls was "
                                      "used", reason="budget")
        stats.budget_skipped = len(todo) - len(keep)
        todo = [p for p in todo if p in keep]
    stats.sent = len(todo)
    limiter = RateLimiter(settings.requests_per_minute)
    in_flight = 0
    retry_if = retry_if_exception(lambda e: isinstance(e, BackendError) and e.retryable)

    def before_sleep(state: Any) -> None:
        stats.retries += 1
        exc = state.outcome.exception() if state.outcome else None
        log.debug("retrying after %s", backend.redact(str(exc)))

    async def call(batch: list[int]) -> list[Reply]:
        nonlocal in_flight
        reqs = [requests[p] for p in batch]
        async for attempt in AsyncRetrying(
            stop=stop_after_attempt(settings.retries + 1), retry=retry_if, reraise=True, before_sleep=before_sleep,
            wait=wait_exponential_jitter(multiplier=settings.backoff_initial, max=settings.backoff_max),
        ):
            with attempt:
                await limiter.acquire()
                stats.calls += 1
                in_flight += 1
                stats.max_in_flight_seen = max(stats.max_in_flight_seen, in_flight)
                try:
                    replies = await backend.annotate(reqs)
                finally:
                    in_flight -= 1
                if len(replies) != len(reqs):
                    raise BackendError(f"the backend returned {len(replies)} replies for {len(reqs)} requests",
                                       "backend_failed")
                return replies
        raise AssertionError("unreachable")  # pragma: no cover - reraise=True always raises

    def record(batch: list[int], replies: list[Reply]) -> None:
        for p, rep in zip(batch, replies):
            r = requests[p]
            if rep.ok:
                outcomes[p] = Outcome(r, text=rep.text, note=rep.note)
                if cache is not None:
                    cache.put(r.key, {"reply": rep.text, "note": rep.note, "backend": backend.name,
                                      "model": backend.model, "index": r.annotator.index, "item": r.item.id})
            else:
                outcomes[p] = Outcome(r, error=backend.redact(str(rep.error)), reason=rep.reason or "failed",
                                      note=rep.note)

    with contextlib.ExitStack() as stack:
        bar = _Progress(settings.progress, len(requests), stack)
        bar.advance(stats.cached)
        batches = _batches(requests, todo, max(1, int(backend.batch_size)))

        async def worker() -> None:
            for batch in batches:  # one shared iterator: each worker takes the next batch
                try:
                    replies = await call(batch)
                except BackendError as exc:
                    replies = [Reply(error=str(exc), reason=exc.reason)] * len(batch)
                except Exception as exc:  # a bug or an unexpected library error: report it per item, go on
                    replies = [Reply(error=f"{type(exc).__name__}: {exc}", reason="backend_failed")] * len(batch)
                record(batch, replies)
                bar.advance(len(batch))

        n_workers = min(settings.max_in_flight, max(1, len(todo)))
        await asyncio.gather(*(worker() for _ in range(n_workers)))
    for i, r in enumerate(requests):  # duplicates of a key share the first request's outcome
        if outcomes[i] is None:
            src = outcomes[first_of[r.key]]
            assert src is not None
            outcomes[i] = Outcome(r, text=src.text, cached=src.cached, error=src.error, reason=src.reason,
                                  note=src.note)
    final = [o for o in outcomes if o is not None]
    for o in final:
        if o.text is None:
            stats.failed += 1
            stats.reasons[o.reason or "failed"] = stats.reasons.get(o.reason or "failed", 0) + 1
    stats.seconds = time.monotonic() - t0
    return final, stats
