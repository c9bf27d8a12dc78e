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

Errors are JSON ``{"detail": "<what is wrong>", "error": "<code>"}`` with status (every 4xx and 5xx,
including those the framework raises itself, e.g. a multipart body without a boundary):

=====  =====================================================================================
400    a body that cannot be parsed (``bad_request``: a multipart body without boundary, ...)
401    a bearer token is configured (``AMBER2_SERVE_TOKEN``) and the request lacks it
       (``unauthorized``)
413    upload larger than ``max_upload_mb`` (checked from Content-Length before reading, and while
       reading a body without one)
415    the request is not multipart, the file's content type is not audio, or it does not decode as
       audio (including a Git LFS pointer)
422    empty file, no samples, silent clip, clip shorter than the encoder needs or longer than
       ``max_duration_s``, a transcript over ``max_transcript_chars``, a missing ``file`` field
503    no prediction slot freed within ``queue_wait_s`` (``busy``; retry later)
500    an unexpected failure inside the model (logged; the service keeps serving)
=====  =====================================================================================

Admission: at most ``workers + max_queue`` requests to ``/predict`` are admitted at once. A request
beyond that waits *before its body is read* (the upload stays in the client's socket) for up to
``queue_wait_s`` seconds, and is then answered 503 without reading it; so a burst of clients is
served at the workers' pace instead of each upload being read and then thrown away.

Security (see docs/security.md): every response carries ``X-Content-Type-Options: nosniff``,
``X-Frame-Options: DENY`` and ``Referrer-Policy: no-referrer``; the page and its files also a
``Content-Security-Policy`` allowing only this origin. CORS is off unless ``cors_origins`` is given.
With a token in the environment variable ``AMBER2_SERVE_TOKEN`` (or ``api_token=``), ``/predict``
and ``/health`` need ``Authorization: Bearer <token>``.

Concurrency: decoding, encoding and the heads run in a dedicated thread pool (``workers`` threads)
so the event loop never blocks; each encoder runs under its own lock (see
:class:`amber2.inference.AmbER2`), so audio of one request overlaps text of another.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import json
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
from starlette.exceptions import HTTPException as StarletteHTTPException

from amber2._version import __version__
from amber2.utils.logging import get_logger

__all__ = ["TOKEN_ENV", "ServiceLimits", "create_app", "serve"]

log = get_logger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
#: Environment variable holding the optional bearer token.
TOKEN_ENV = "AMBER2_SERVE_TOKEN"
#: Content-Security-Policy of the page: scripts, styles, media and requests from this origin only.
PAGE_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
            "media-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
            "form-action 'self'; frame-ancestors 'none'")
_NO_CSP = ("/docs", "/redoc", "/openapi.json")  # Swagger UI loads its script from a CDN
_HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 413: "too_large", 415: "unsupported_media_type",
               422: "invalid_request", 429: "busy", 503: "busy"}

#: Content types accepted for the uploaded file (besides any ``audio/*``).
ACCEPTED_TYPES = frozenset({"application/octet-stream", "video/webm", "video/ogg", "application/ogg", ""})

#: HTTP status per prediction error reason (see amber2.encoders.audio).
_STATUS = {
    "unreadable": 415, "lfs_pointer": 415,
    "empty_file": 422, "zero_length": 422, "non_finite": 422, "silent": 422, "too_short": 422, "too_long": 422,
    "no_input": 422, "missing": 422, "out_of_range": 422, "truncated": 422, "low_sample_rate": 422,
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
        max_queue: Admitted predictions waiting for a worker; requests beyond ``workers + max_queue``
            wait unread at the door.
        queue_wait_s: How long a request waits at the door for a slot before 503 (0: at once).
    """

    def __init__(self, *, max_upload_mb: float = 10.0, max_duration_s: float = 60.0,
                 max_transcript_chars: int = 5000, workers: int = 2, max_queue: int = 32,
                 queue_wait_s: float = 30.0):
        if max_upload_mb <= 0 or max_duration_s <= 0:
            raise ValueError("max_upload_mb and max_duration_s must be positive")
        if workers < 1 or max_queue < 0:
            raise ValueError("workers must be >= 1 and max_queue >= 0")
        if not 0 <= queue_wait_s <= 3600:
            raise ValueError(f"queue_wait_s must be in [0, 3600], got {queue_wait_s}")
        self.queue_wait_s = float(queue_wait_s)
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
                "max_queue": self.max_queue, "queue_wait_s": self.queue_wait_s}


class _BodyTooLargeError(Exception):
    pass


async def _send_json(send: Send, status: int, detail: str, code: str,
                     headers: list[tuple[bytes, bytes]] | None = None) -> None:
    """Answer from ASGI middleware with the service's error JSON (and close the connection)."""
    body = json.dumps({"detail": detail, "error": code}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close"), *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


def _is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class _Admission:
    """ASGI middleware for the prediction endpoint: bearer token, then a free slot, before the body is read.

    Args:
        app: The wrapped app.
        slots: Requests admitted at once (``workers + max_queue``).
        wait_s: How long a request waits for a slot before 503.
        token: Bearer token required on ``protected`` paths (None: no authentication).
        state: The service's counters (``in_flight`` is kept here).
        lock: Lock of ``state``.
    """

    def __init__(self, app: Any, *, slots: int, wait_s: float, token: str | None, state: dict[str, int],
                 lock: threading.Lock, paths: tuple[str, ...] = ("/predict",),
                 protected: tuple[str, ...] = ("/predict", "/health")):
        self.app = app
        self.slots = asyncio.Semaphore(int(slots))
        self.wait_s = float(wait_s)
        self.token = token.encode() if token else None
        self.state, self.lock = state, lock
        self.paths, self.protected = paths, protected

    def _authorized(self, scope: Scope) -> bool:
        for k, v in scope.get("headers", []):
            if k == b"authorization":
                scheme, _, given = v.partition(b" ")
                return scheme.lower() == b"bearer" and hmac.compare_digest(given.strip(), self.token or b"")
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.token is not None and scope.get("path") in self.protected and not self._authorized(scope):
            await _send_json(send, 401, "this service needs 'Authorization: Bearer <token>' (the token set in "
                             f"{TOKEN_ENV} where it runs)", "unauthorized", [(b"www-authenticate", b"Bearer")])
            return
        if scope.get("method") != "POST" or scope.get("path") not in self.paths:
            await self.app(scope, receive, send)
            return
        try:
            if self.wait_s <= 0 and self.slots.locked():
                raise TimeoutError
            await asyncio.wait_for(self.slots.acquire(), self.wait_s if self.wait_s > 0 else None)
        except TimeoutError:
            with self.lock:
                busy = self.state["in_flight"]
            await _send_json(send, 503, f"server busy: {busy} predictions in flight and no slot freed within "
                             f"{self.wait_s:g} s; retry shortly (the upload was not read)", "busy",
                             [(b"retry-after", b"1")])
            return
        with self.lock:
            self.state["in_flight"] += 1
        try:
            await self.app(scope, receive, send)
        finally:
            with self.lock:
                self.state["in_flight"] -= 1
            self.slots.release()


class _SecurityHeaders:
    """ASGI middleware adding nosniff, frame and referrer headers to every response, and the page's CSP."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        csp = not str(scope.get("path", "")).startswith(_NO_CSP)

        async def with_headers(msg: Message) -> None:
            if msg["type"] == "http.response.start":
                headers = [(k, v) for k, v in msg.get("headers", [])
                           if k.lower() not in (b"x-content-type-options", b"x-frame-options")]
                headers += [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
                            (b"referrer-policy", b"no-referrer")]
                if csp:
                    headers.append((b"content-security-policy", PAGE_CSP.encode()))
                msg = {**msg, "headers": headers}
            await send(msg)

        await self.app(scope, receive, with_headers)


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
        size = f" ({declared / 1048576:.1f} MiB)" if declared else ""
        await _send_json(send, 413, f"upload too large{size}: the limit is {self.file_limit / 1048576:g} MiB",
                         "too_large")

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
    queue_wait_s: float = 30.0,
    api_token: str | None = None,
    cors_origins: list[str] | None = None,
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
        max_queue: Admitted requests allowed to wait for a worker; beyond ``workers + max_queue`` a request
            waits unread at the door.
        queue_wait_s: Longest wait at the door for a slot before 503 (0: refuse at once).
        api_token: Bearer token required by ``/predict`` and ``/health`` (default: the environment
            variable ``AMBER2_SERVE_TOKEN``; unset or empty: no authentication).
        cors_origins: Origins allowed to call the API from a browser (CORS); None: CORS off.
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
                           workers=workers or max(1, min(2, os.cpu_count() or 1)), max_queue=max_queue,
                           queue_wait_s=queue_wait_s)
    token = api_token if api_token is not None else os.environ.get(TOKEN_ENV)
    token = (token or "").strip() or None
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
    app.add_middleware(_Admission, slots=limits.workers + limits.max_queue, wait_s=limits.queue_wait_s,
                       token=token, state=state, lock=state_lock)
    app.add_middleware(_UploadLimit, limit_bytes=limits.max_upload_bytes)
    if cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["authorization", "content-type"])
    app.add_middleware(_SecurityHeaders)
    if STATIC_DIR.is_dir():
        app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "error")
        detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail, default=str)
        if exc.status_code == 400 and request.url.path == "/predict":
            detail = f"cannot parse the request body as multipart/form-data ({detail})"
        return _error(exc.status_code, detail, code, dict(exc.headers or {}))

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
        if len(filename) > 255:  # a file name no file system keeps; shorten it for messages and the id
            filename = filename[:120] + "..." + filename[-8:]
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
        try:  # the slot was taken by the admission middleware before the body was read
            loop = asyncio.get_running_loop()
            pred = await loop.run_in_executor(executor, _run, data, filename, text)
        except Exception as exc:  # the service keeps serving
            log.exception("prediction failed for %s", filename)
            with state_lock:
                state["errors"] += 1
            return _error(500, f"{filename}: prediction failed: {type(exc).__name__}: {exc}", "internal_error")
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

    token = options.get("api_token") or os.environ.get(TOKEN_ENV)
    if not _is_loopback(host) and not (token or "").strip():
        log.warning("serving on %s, beyond loopback, without a token: anyone who can reach this port can use "
                    "the model; set %s (see docs/security.md)", host, TOKEN_ENV)
    app = create_app(model, **options)
    uvicorn.run(app, host=host, port=int(port), log_level=log_level)
