"""The web service: FastAPI app with ``POST /predict``, ``GET /health``, the OpenAPI schema and a web page.

    >>> from amber2.serve import create_app
    >>> app = create_app("runs/my-model", max_upload_mb=10, max_duration_s=60)   # doctest: +SKIP
    >>> # uvicorn.run(app, host="127.0.0.1", port=8000)

Endpoints:

``POST /predict``
    ``multipart/form-data`` with ``file`` (an audio file soundfile can decode: WAV, FLAC, OGG/Vorbis,
    MP3...) and an optional ``transcript`` field. Returns the prediction as JSON (see
    :class:`PredictionResponse`): the distribution, top class, entropy, every head's distribution and
    the modality conflict. Without a transcript the audio head answers and ``partial`` is true.
``GET /health``
    ``{"status": "ok", "model": {...classes, heads...}, "limits": {...}, "in_flight": n}``.
``GET /`` and ``/static/*``
    The page: upload or record a clip, type a transcript, see the bars per head.
``GET /docs``, ``GET /openapi.json``
    The interactive docs and the schema.

Errors are JSON ``{"detail": "<what is wrong>", "error": "<code>"}`` with status:

=====  =====================================================================================
413    upload larger than ``max_upload_mb`` (checked from Content-Length before reading, and while
       reading a body without one)
415    the request is not multipart, the file's content type is not audio, or it does not decode as
       audio (including a Git LFS pointer)
422    empty file, no samples, silent clip, clip shorter than the encoder needs or longer than
       ``max_duration_s``, a transcript over ``max_transcript_chars``, a missing ``file`` field
503    more than ``workers + max_queue`` predictions in flight (retry later)
500    an unexpected failure inside the model (logged; the service keeps serving)
=====  =====================================================================================

Concurrency: decoding, encoding and the heads run in a dedicated thread pool (``workers`` threads)
so the event loop never blocks; each encoder runs under its own lock (see
:class:`amber2.inference.AmbER2`), so audio of one request overlaps text of another.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from amber2._version import __version__
from amber2.utils.logging import get_logger

__all__ = ["ServiceLimits", "create_app", "serve"]

log = get_logger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"

#: Content types accepted for the uploaded file (besides any ``audio/*``).
ACCEPTED_TYPES = frozenset({"application/octet-stream", "video/webm", "video/ogg", "application/ogg", ""})

#: HTTP status per prediction error reason (see amber2.encoders.audio).
_STATUS = {
    "unreadable": 415, "lfs_pointer": 415,
    "empty_file": 422, "zero_length": 422, "non_finite": 422, "silent": 422, "too_short": 422, "too_long": 422,
    "no_input": 422, "missing": 422,
}

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class ServiceLimits:
    """The service's limits (shown by ``/health`` and the page).

    Args:
        max_upload_mb: Largest accepted upload in MiB (the whole request body, form overhead included,
            may exceed it by 64 KiB).
        max_duration_s: Longest accepted clip in seconds.
        max_transcript_chars: Longest accepted transcript.
        workers: Threads running predictions.
        max_queue: Predictions waiting for a worker before new ones get 503.
    """

    def __init__(self, *, max_upload_mb: float = 10.0, max_duration_s: float = 60.0,
                 max_transcript_chars: int = 5000, workers: int = 2, max_queue: int = 32):
        if max_upload_mb <= 0 or max_duration_s <= 0:
            raise ValueError("max_upload_mb and max_duration_s must be positive")
        if workers < 1 or max_queue < 0:
            raise ValueError("workers must be >= 1 and max_queue >= 0")
        self.max_upload_mb = float(max_upload_mb)
        self.max_duration_s = float(max_duration_s)
        self.max_transcript_chars = int(max_transcript_chars)
        self.workers = int(workers)
        self.max_queue = int(max_queue)

    @property
    def max_upload_bytes(self) -> int:
        """The upload limit in bytes."""
        return int(self.max_upload_mb * 1024 * 1024)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {"max_upload_mb": self.max_upload_mb, "max_duration_s": self.max_duration_s,
                "max_transcript_chars": self.max_transcript_chars, "workers": self.workers,
                "max_queue": self.max_queue}


class _BodyTooLargeError(Exception):
    pass


class _UploadLimit:
    """ASGI middleware: 413 for a POST body over the limit, before the app reads it whole.

    A declared ``Content-Length`` over the limit is refused at once; a body without one is counted as
    it arrives and refused as soon as it passes the limit.
    """

    def __init__(self, app: Any, limit_bytes: int, paths: tuple[str, ...] = ("/predict",)):
        self.app = app
        self.limit = int(limit_bytes) + 64 * 1024  # multipart framing and the transcript field
        self.file_limit = int(limit_bytes)
        self.paths = paths

    async def _reject(self, send: Send, declared: int | None) -> None:
        import json

        size = f" ({declared / 1048576:.1f} MiB)" if declared else ""
        body = json.dumps({"detail": f"upload too large{size}: the limit is {self.file_limit / 1048576:g} MiB",
                           "error": "too_large"}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST" or scope.get("path") not in self.paths:
            await self.app(scope, receive, send)
            return
        declared = None
        for k, v in scope.get("headers", []):
            if k == b"content-length":
                with contextlib.suppress(ValueError):
                    declared = int(v)
        if declared is not None and declared > self.limit:
            await self._reject(send, declared)
            return
        seen = 0
        started = rejected = False

        async def limited_receive() -> Message:
            nonlocal seen, rejected
            msg = await receive()
            if msg["type"] == "http.request" and not rejected:
                seen += len(msg.get("body", b""))
                if seen > self.limit:
                    # answer now: the framework may catch the exception below and try to send its own error
                    if not started:
                        await self._reject(send, None)
                    rejected = True
                    raise _BodyTooLargeError()
            return msg

        async def tracking_send(msg: Message) -> None:
            nonlocal started
            if rejected:
                return  # the 413 has been sent; drop whatever the app answers after it
            if msg["type"] == "http.response.start":
                started = True
            await send(msg)

        with contextlib.suppress(_BodyTooLargeError):
            await self.app(scope, limited_receive, tracking_send)


def _error(status: int, detail: str, code: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail, "error": code}, status_code=status, headers=headers)


def create_app(
    model: Any,
    *,
    max_upload_mb: float = 10.0,
    max_duration_s: float = 60.0,
    max_transcript_chars: int = 5000,
    workers: int | None = None,
    max_queue: int = 32,
    torch_threads: int | None = 1,
    device: str | None = None,
    warm_up: bool = True,
    asr: Any = None,
    allow_version_mismatch: bool = False,
) -> Any:
    """Build the FastAPI app around a model.

    Args:
        model: An :class:`~amber2.inference.AmbER2` or a bundle directory.
        max_upload_mb: Largest upload (MiB) -> 413 above.
        max_duration_s: Longest clip (s) -> 422 above (read from the file header before decoding).
        max_transcript_chars: Longest transcript -> 422 above.
        workers: Prediction threads (default: min(2, CPU count)).
        max_queue: Requests allowed to wait for a worker; beyond ``workers + max_queue`` in flight -> 503.
        torch_threads: ``torch.set_num_threads`` for the process (1: the workers run side by side
            instead of fighting over cores); None leaves it.
        device: Torch device when ``model`` is a path.
        warm_up: Build the encoders and run them once before serving.
        asr: Optional ASR model (folder / cached hub id / Transcriber) for uploads without transcript.
        allow_version_mismatch: When ``model`` is a path, load a bundle saved by an incompatible amber2
            version anyway (see :func:`amber2.inference.read_bundle_info`).

    Returns:
        The FastAPI application.

    Raises:
        amber2.inference.BundleError: The bundle cannot be loaded.
    """
    from amber2.inference import AmbER2, InputItem
    from amber2.serve.schemas import ErrorResponse, HealthResponse, PredictionResponse

    if torch_threads:
        import torch

        torch.set_num_threads(int(torch_threads))
    net = model if isinstance(model, AmbER2) else AmbER2.from_pretrained(
        model, device=device, allow_version_mismatch=allow_version_mismatch)
    limits = ServiceLimits(max_upload_mb=max_upload_mb, max_duration_s=max_duration_s,
                           max_transcript_chars=max_transcript_chars,
                           workers=workers or max(1, min(2, os.cpu_count() or 1)), max_queue=max_queue)
    if warm_up:
        net.warm_up()
    transcriber = net._asr_model(asr) if asr is not None else None
    executor = ThreadPoolExecutor(max_workers=limits.workers, thread_name_prefix="amber2-predict")
    state = {"in_flight": 0, "served": 0, "errors": 0}
    state_lock = threading.Lock()

    @contextlib.asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        yield
        executor.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(
        title="amber2",
        version=__version__,
        description="AmbER²: emotion distributions from speech and text, with rater ambiguity (entropy) and "
                    "modality conflict (JS between the audio and text heads).",
        lifespan=lifespan,
    )
    app.state.model = net
    app.state.limits = limits
    app.state.stats = state
    app.add_middleware(_UploadLimit, limit_bytes=limits.max_upload_bytes)
    if STATIC_DIR.is_dir():
        app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        ctype = request.headers.get("content-type", "")
        if request.url.path == "/predict" and not ctype.startswith("multipart/form-data"):
            return _error(415, f"POST /predict expects multipart/form-data with an audio 'file' field, got "
                               f"content type {ctype or 'none'!r}", "unsupported_media_type")
        missing = [".".join(str(x) for x in e.get("loc", ())[1:]) for e in exc.errors()]
        return _error(422, f"invalid request: {', '.join(m for m in missing if m) or exc.errors()} "
                           f"({'; '.join(str(e.get('msg')) for e in exc.errors())})", "invalid_request")

    @app.get("/", include_in_schema=False)
    async def index() -> Any:
        page = STATIC_DIR / "index.html"
        if not page.is_file():  # pragma: no cover - the page ships with the package
            return _error(404, "the web page is not installed", "no_page")
        return FileResponse(page, media_type="text/html")

    @app.get("/health", response_model=HealthResponse, summary="Service and model status")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "version": __version__, "model": net.describe(), "limits": limits.to_dict(),
                "in_flight": state["in_flight"], "served": state["served"], "errors": state["errors"]}

    def _run(data: bytes, filename: str, transcript: str | None) -> Any:
        suffix = Path(filename).suffix.lower()[:8] if Path(filename).suffix else ".audio"
        stem = Path(filename).stem or "upload"
        with tempfile.TemporaryDirectory(prefix="amber2-upload-") as tmp:
            path = Path(tmp) / f"upload{suffix}"
            path.write_bytes(data)
            item = InputItem(id=stem, path=path, transcript=transcript,
                             transcript_source="given" if transcript else None)
            pred = net.predict_items([item], asr=transcriber, max_seconds=limits.max_duration_s)[0]
        pred.source = filename
        if pred.error:
            pred.error = pred.error.replace(os.fspath(path), filename)
        return pred

    @app.post(
        "/predict", response_model=PredictionResponse, summary="Predict the emotion distribution of one clip",
        responses={413: {"model": ErrorResponse, "description": "Upload too large"},
                   415: {"model": ErrorResponse, "description": "Not multipart, not an audio type, or not decodable"},
                   422: {"model": ErrorResponse, "description": "Empty, silent, too short or too long clip"},
                   503: {"model": ErrorResponse, "description": "Too many requests in flight"}},
    )
    async def predict(
        file: UploadFile = File(..., description="Audio file (WAV, FLAC, OGG/Vorbis, MP3, ...)"),
        transcript: str | None = Form(None, description="What was said (optional; without it the audio head "
                                                          "answers and the result is flagged partial)"),
    ) -> Any:
        filename = os.path.basename(file.filename or "upload")
        ctype = (file.content_type or "").split(";")[0].strip().lower()
        if not (ctype.startswith("audio/") or ctype in ACCEPTED_TYPES):
            return _error(415, f"{filename}: content type {ctype!r} is not audio (send audio/wav, audio/flac, "
                               "audio/ogg, audio/mpeg ... or application/octet-stream)", "unsupported_media_type")
        text = None if transcript is None else transcript.strip() or None
        if text is not None and len(text) > limits.max_transcript_chars:
            return _error(422, f"transcript has {len(text)} characters; the limit is {limits.max_transcript_chars}",
                          "transcript_too_long")
        data = await file.read(limits.max_upload_bytes + 1)
        if len(data) > limits.max_upload_bytes:
            return _error(413, f"{filename}: upload too large: the limit is {limits.max_upload_mb:g} MiB",
                          "too_large")
        if not data:
            return _error(422, f"{filename}: empty file (0 bytes)", "empty_file")
        with state_lock:
            if state["in_flight"] >= limits.workers + limits.max_queue:
                busy = state["in_flight"]
                return _error(503, f"server busy: {busy} predictions in flight; retry shortly", "busy",
                              {"Retry-After": "1"})
            state["in_flight"] += 1
        try:
            loop = asyncio.get_running_loop()
            pred = await loop.run_in_executor(executor, _run, data, filename, text)
        except Exception as exc:  # the service keeps serving
            log.exception("prediction failed for %s", filename)
            with state_lock:
                state["errors"] += 1
            return _error(500, f"{filename}: prediction failed: {type(exc).__name__}: {exc}", "internal_error")
        finally:
            with state_lock:
                state["in_flight"] -= 1
        with state_lock:
            state["served"] += 1
        if not pred.ok:
            with state_lock:
                state["errors"] += 1
            status = _STATUS.get(str(pred.error_reason), 500)
            return _error(status, str(pred.error), str(pred.error_reason))
        body = pred.to_dict()
        body.update({"classes": list(pred.classes), "student": net.student, "max_entropy": pred.max_entropy})
        return body

    return app


def serve(model: Any, *, host: str = "127.0.0.1", port: int = 8000, log_level: str = "info", **options: Any) -> None:
    """Run the service with uvicorn (blocking).

    Args:
        model: An :class:`~amber2.inference.AmbER2` or a bundle directory.
        host: Interface to bind (``0.0.0.0`` for every interface).
        port: TCP port.
        log_level: uvicorn's log level.
        **options: :func:`create_app` options (limits, workers, device, asr).
    """
    import uvicorn

    app = create_app(model, **options)
    uvicorn.run(app, host=host, port=int(port), log_level=log_level)
