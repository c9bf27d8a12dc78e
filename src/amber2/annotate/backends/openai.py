"""Any OpenAI-compatible chat-completions server as annotator (vLLM serving Qwen2-Audio, hosted ALMs).

Each request is one chat completion: the preset's system turn, then a user turn holding the item's audio
inline as a base64 WAV ``input_audio`` part and the prompt's text (or, in text-only mode, the text alone,
for an LLM reading transcripts), sampled at the annotator's temperature. The API key is read from an
environment variable named by the user; it is kept in the HTTP client's headers only and masked in every
message.

The calls go through ``httpx`` directly rather than the ``openai`` client: the request is one JSON body
and the answer one field, and the client's typed request/response layers cost 1.8x the CPU per call
(measured: 4.9 vs 2.7 ms on this project's loaded 2-core machine), which matters at hundreds of calls in
flight.

Errors: 429 -> ``rate_limited``, 5xx -> ``server_error``, timeout -> ``timeout``, no connection ->
``server_unreachable``, a body that is not a chat completion -> ``malformed_response`` (all retried);
other 4xx -> ``rejected`` (or ``audio_refused`` when the server says it takes no audio), not retried.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, ClassVar

from amber2.annotate.audio import AnnotationAudioError, read_clip, wav_bytes
from amber2.annotate.backends.base import Backend, BackendError, Reply, Request

__all__ = ["DEFAULT_KEY_ENV", "OpenAIBackend"]

#: Environment variable the API key is read from unless another is named.
DEFAULT_KEY_ENV = "OPENAI_API_KEY"
_AUDIO_WORDS = ("audio", "input_audio", "modalit")
_CLIP_CACHE = 1024
_POOL = 4  # connections per httpx client


class OpenAIBackend(Backend):
    """Votes from an OpenAI-compatible ``/v1/chat/completions`` server.

    Args:
        model: Model name the server knows (``Qwen/Qwen2-Audio-7B-Instruct``).
        base_url: The server's API root (``http://localhost:8000/v1``).
        api_key_env: Name of the environment variable holding the key. When it is unset the key
            ``EMPTY`` is sent (what a local vLLM server without ``--api-key`` expects).
        text_only: Send the prompt only (the model reads the transcript); items without a transcript
            then fail with ``no_transcript``.
        timeout: Seconds before one call times out.
        max_tokens: Longest answer (tokens).
        max_audio_seconds: Longest audio sent (Qwen2-Audio hears 30 s); longer clips are capped or
            skipped per ``long_audio``.
        long_audio: ``cap`` or ``skip``.
        sample_rate: Rate of the WAV sent (Hz).
        connections: Size of the HTTP connection pool (set it to the run's ``max_in_flight``).
        extra_body: Extra JSON fields for the server (e.g. vLLM's ``{"top_k": -1}``).
    """

    name: ClassVar[str] = "openai"

    def __init__(self, model: str, base_url: str, *, api_key_env: str = DEFAULT_KEY_ENV, text_only: bool = False,
                 timeout: float = 60.0, max_tokens: int = 16, max_audio_seconds: float | None = 30.0,
                 long_audio: str = "cap", sample_rate: int = 16000, connections: int = 64,
                 extra_body: dict[str, Any] | None = None):
        import httpx

        if not model:
            raise ValueError("the openai backend needs --model (the model name the server serves)")
        if not base_url:
            raise ValueError("the openai backend needs --base-url (e.g. http://localhost:8000/v1)")
        if long_audio not in ("cap", "skip"):
            raise ValueError(f"long_audio must be 'cap' or 'skip', got {long_audio!r}")
        if not 0 < timeout <= 3600:
            raise ValueError(f"timeout must be in (0, 3600] seconds, got {timeout}")
        self.model = str(model)
        self.base_url = str(base_url).rstrip("/")
        self.text_only = bool(text_only)
        self.uses_audio = not self.text_only
        self.max_tokens = int(max_tokens)
        self.max_audio_seconds = max_audio_seconds
        self.long_audio = long_audio
        self.sample_rate = int(sample_rate)
        self.extra_body = dict(extra_body or {})
        self.api_key_env = api_key_env
        key = os.environ.get(api_key_env) or ""
        self._secret = key
        n = max(1, int(connections))
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key or 'EMPTY'}"}
        # Several small connection pools instead of one big one: httpcore scans its whole pool on every
        # request and response, so one pool of 256 connections costs 14 ms of CPU per call where 16 pools
        # of 16 cost 1.9 ms (measured with 256 calls in flight).
        per = min(n, _POOL)
        self._pools = [httpx.AsyncClient(base_url=self.base_url + "/", headers=headers, timeout=httpx.Timeout(timeout),
                                         limits=httpx.Limits(max_connections=per, max_keepalive_connections=per))
                       for _ in range(-(-n // per))]
        self._turn = 0
        self._clips: OrderedDict[tuple[str, str | None], Any] = OrderedDict()

    def identity(self) -> dict[str, Any]:
        """Model, mode, token limit and audio handling (the server's address and the key change no reply)."""
        return {"model": self.model, "text_only": self.text_only, "max_tokens": self.max_tokens,
                "max_audio_seconds": None if self.text_only else self.max_audio_seconds,
                "long_audio": self.long_audio, "sample_rate": self.sample_rate, "extra_body": self.extra_body}

    def redact(self, text: str) -> str:
        """Mask the API key wherever it appears."""
        return text.replace(self._secret, "***") if self._secret else text

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        for pool in self._pools:
            await pool.aclose()

    async def _audio(self, request: Request) -> tuple[str, str | None]:
        """The item's audio as base64 WAV and a cap note, decoded once for all annotators of the item.

        The decode runs in a thread; requests of the same item that arrive meanwhile await the same task
        (the last ``_CLIP_CACHE`` items are kept).
        """
        key = (str(request.item.audio_path), request.item.audio_sha256)
        task = self._clips.get(key)
        if task is None:
            def encode() -> tuple[str, str | None]:
                clip = read_clip(request.item.audio_path, self.sample_rate, item_id=request.item.id,
                                 max_seconds=self.max_audio_seconds, long_audio=self.long_audio)
                return base64.b64encode(wav_bytes(clip)).decode("ascii"), clip.note

            task = asyncio.ensure_future(asyncio.to_thread(encode))
            self._clips[key] = task
            while len(self._clips) > _CLIP_CACHE:
                self._clips.popitem(last=False)
        else:
            self._clips.move_to_end(key)
        return await asyncio.shield(task)

    async def annotate(self, requests: Sequence[Request]) -> list[Reply]:
        """One chat completion per request (the runner sends batches of one)."""
        return [await self._one(r) for r in requests]

    async def _one(self, request: Request) -> Reply:
        import httpx

        item = request.item
        content: list[dict[str, Any]] = [{"type": "text", "text": request.prompt.user}]
        note = None
        if self.text_only:
            if not (item.transcript or "").strip():
                return Reply(error=f"item {item.id!r}: no transcript for a text-only backend", reason="no_transcript")
        else:
            try:
                data, note = await self._audio(request)
            except AnnotationAudioError as exc:
                return Reply(error=str(exc), reason=exc.reason)
            content.insert(0, {"type": "input_audio", "input_audio": {"data": data, "format": "wav"}})
        body = {"model": self.model, "temperature": request.annotator.temperature, "max_tokens": self.max_tokens,
                "n": 1, "messages": [{"role": "system", "content": request.prompt.system},
                                     {"role": "user", "content": content}], **self.extra_body}
        who = f"item {item.id!r}, annotator {request.annotator.index}"
        try:
            self._turn = (self._turn + 1) % len(self._pools)
            resp = await self._pools[self._turn].post("chat/completions", content=json.dumps(body))
        except httpx.TimeoutException:
            raise BackendError(f"{who}: the server did not answer in time", "timeout", retryable=True) from None
        except httpx.TransportError as exc:
            raise BackendError(f"{who}: cannot reach {self.base_url}: {type(exc).__name__}: {self.redact(str(exc))}",
                               "server_unreachable", retryable=True) from None
        status = resp.status_code
        if status == 429:
            raise BackendError(f"{who}: rate limited (HTTP 429)", "rate_limited", retryable=True)
        if status >= 500:
            raise BackendError(f"{who}: server error (HTTP {status}): {self._body(resp)}", "server_error",
                               retryable=True)
        if status >= 400:
            text = self._body(resp)
            refused = not self.text_only and any(w in text.lower() for w in _AUDIO_WORDS)
            raise BackendError(f"{who}: the server rejected the request (HTTP {status}): {text}",
                               "audio_refused" if refused else "rejected")
        try:
            message = resp.json()["choices"][0]["message"]
            text = message.get("content")
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            raise BackendError(f"{who}: malformed response (not a chat completion): {self._body(resp)[:120]!r}",
                               "malformed_response", retryable=True) from None
        if text is not None and not isinstance(text, str):
            raise BackendError(f"{who}: malformed response (content is {type(text).__name__})", "malformed_response",
                               retryable=True)
        return Reply(text=text or "", note=note)

    def _body(self, resp: Any) -> str:
        """The error message of a JSON error body (or the body's start), secrets masked."""
        try:
            data = resp.json()
            msg = data.get("error", {}).get("message") if isinstance(data.get("error"), dict) else data.get("detail")
            msg = msg or resp.text
        except (ValueError, AttributeError):
            msg = resp.text
        return self.redact(str(msg))[:300]
