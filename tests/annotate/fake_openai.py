"""A fake OpenAI-compatible chat-completions server on 127.0.0.1 for the annotate tests and benchmark.

It answers ``POST /v1/chat/completions`` with noisy emotion words chosen from a hash of the request (so
the same request gets the same answer), counts requests and the most requests open at once, and takes a
``policy`` callable that may answer differently (429, 5xx, garbage, delays, refusing audio).

    with serve_in_thread() as server:
        ...  # server.base_url, server.count, server.max_concurrent, server.policy = ...

``python fake_openai.py --port P --service-time S`` runs it in its own process (the benchmark).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

#: Noisy answers of the default policy: class names, synonyms, sentences, and garbage.
ANSWERS = ("anger", "Anger.", "sadness", "Sad", "happiness", "happy!", "neutral", "Neutral.",
           "The emotion is anger.", "furious", "I think sadness", "banana", "")


@dataclass
class FakeState:
    """What the server saw and how it answers."""

    service_time: float = 0.0
    policy: Callable[[int, dict[str, Any], dict[str, str]], Any] | None = None
    count: int = 0
    concurrent: int = 0
    max_concurrent: int = 0
    bodies: list[dict[str, Any]] = field(default_factory=list)
    keep_bodies: bool = True
    headers_seen: list[str] = field(default_factory=list)


def answer_for(body: dict[str, Any]) -> str:
    """The default answer: a deterministic pick from :data:`ANSWERS`."""
    user = body["messages"][-1]["content"]
    text = user if isinstance(user, str) else "".join(p.get("text", "") for p in user if isinstance(p, dict))
    h = hashlib.sha256(f"{text}|{body.get('temperature')}".encode()).digest()
    return ANSWERS[h[0] % len(ANSWERS)]


def completion(text: str | None, model: str = "fake") -> dict[str, Any]:
    """A chat-completion JSON body holding ``text``."""
    return {
        "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()), "model": model,
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": text}}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12},
    }


def make_app(state: FakeState) -> Any:
    """The FastAPI app over ``state``."""
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Any:
        state.count += 1
        n = state.count
        state.concurrent += 1
        state.max_concurrent = max(state.max_concurrent, state.concurrent)
        try:
            body = json.loads(await request.body())
            if state.keep_bodies:
                state.bodies.append(body)
            state.headers_seen.append(request.headers.get("authorization", ""))
            if state.service_time:
                await asyncio.sleep(state.service_time)
            if state.policy is not None:
                out = state.policy(n, body, dict(request.headers))
                if asyncio.iscoroutine(out):
                    out = await out
                if out is not None:
                    if isinstance(out, Response):
                        return out
                    status, payload = out
                    if isinstance(payload, (bytes, str)):
                        return Response(content=payload, status_code=status, media_type="application/json")
                    return JSONResponse(payload, status_code=status)
            return JSONResponse(completion(answer_for(body), body.get("model", "fake")))
        finally:
            state.concurrent -= 1

    return app


@dataclass
class RunningServer:
    """A fake server running in a thread."""

    state: FakeState
    port: int

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __getattr__(self, name: str) -> Any:
        return getattr(self.state, name)


@contextlib.contextmanager
def serve_in_thread(state: FakeState | None = None, *, timeout: float = 20.0) -> Iterator[RunningServer]:
    """Run the fake server on a free loopback port in a daemon thread; stop it on exit (bounded in time)."""
    import uvicorn

    state = state or FakeState()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(make_app(state), log_level="warning", lifespan="off", backlog=4096))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    t0 = time.monotonic()
    while not server.started:
        if time.monotonic() - t0 > timeout or not thread.is_alive():
            raise RuntimeError("the fake OpenAI server did not start")
        time.sleep(0.01)
    try:
        yield RunningServer(state, port)
    finally:
        server.should_exit = True
        thread.join(timeout)
        sock.close()


def main() -> None:
    import uvicorn

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--service-time", type=float, default=0.0)
    args = ap.parse_args()
    state = FakeState(service_time=args.service_time, keep_bodies=False)
    uvicorn.run(make_app(state), host="127.0.0.1", port=args.port, log_level="warning", lifespan="off",
                backlog=4096, access_log=False)


if __name__ == "__main__":
    main()
