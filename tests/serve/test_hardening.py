"""Service hardening: error JSON for every 4xx, admission before the body, headers, CORS, bearer token."""

from __future__ import annotations

import asyncio
import io
import threading

import httpx
import numpy as np
import pytest
import soundfile as sf
from inference_helpers import synth_clip
from serve_helpers import running

from amber2.serve import create_app
from amber2.serve.app import PAGE_CSP, _Admission


def _wav(seconds: float = 0.5, seed: int = 0, sr: int = 16000, subtype: str = "PCM_16", scale: float = 1.0) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, synth_clip(seconds, sr, seed=seed) * scale, sr, format="WAV", subtype=subtype)
    return buf.getvalue()


@pytest.fixture
def client(base_url: str):
    with httpx.Client(base_url=base_url, timeout=60) as c:
        yield c


def test_framework_errors_carry_the_error_json(client: httpx.Client):
    r = client.post("/predict", content=b"--x\r\n", headers={"content-type": "multipart/form-data"})  # no boundary
    assert r.status_code == 400 and r.json()["error"] == "bad_request" and "multipart" in r.json()["detail"]
    r = client.get("/nothing-here")
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    r = client.put("/predict")
    assert r.status_code == 405 and r.json()["error"] == "method_not_allowed"
    long_name = "a" * 5000 + ".wav"
    r = client.post("/predict", files={"file": (long_name, _wav(), "audio/wav")})
    assert r.status_code == 200 or "error" in r.json()
    if r.status_code == 200:
        assert len(r.json()["source"]) < 300  # shortened, not echoed whole


def test_suspicious_audio_is_refused_by_the_service(client: httpx.Client):
    loud = _wav(subtype="FLOAT", scale=40.0)
    r = client.post("/predict", files={"file": ("loud.wav", loud, "audio/wav")})
    assert r.status_code == 422 and r.json()["error"] == "out_of_range"
    buf = io.BytesIO()
    sf.write(buf, np.random.default_rng(0).normal(0, 0.1, 14).astype(np.float32), 7, format="WAV")
    r = client.post("/predict", files={"file": ("slow.wav", buf.getvalue(), "audio/wav")})
    assert r.status_code == 422 and r.json()["error"] == "low_sample_rate"
    full = _wav(1.0)
    r = client.post("/predict", files={"file": ("cut.wav", full[: len(full) // 2], "audio/wav")})
    assert r.status_code == 422 and r.json()["error"] == "truncated"


def test_security_headers_and_no_cors_by_default(client: httpx.Client):
    for path in ("/", "/static/app.js", "/health"):
        r = client.get(path, headers={"origin": "https://evil.example"})
        assert r.headers["x-content-type-options"] == "nosniff" and r.headers["x-frame-options"] == "DENY"
        assert r.headers["content-security-policy"] == PAGE_CSP
        assert "access-control-allow-origin" not in r.headers
    assert "content-security-policy" not in client.get("/docs").headers  # Swagger UI needs its CDN


def test_cors_when_configured_and_bearer_token(model, monkeypatch):
    app = create_app(model, warm_up=False, cors_origins=["https://ok.example"], api_token="s3cret")
    with running(app) as url, httpx.Client(base_url=url, timeout=60) as c:
        assert c.get("/", headers={"origin": "https://ok.example"}).headers["access-control-allow-origin"] == \
            "https://ok.example"
        r = c.get("/health")
        assert r.status_code == 401 and r.json()["error"] == "unauthorized"
        assert r.headers["www-authenticate"] == "Bearer"
        assert c.get("/health", headers={"authorization": "Bearer wrong"}).status_code == 401
        assert c.post("/predict", files={"file": ("a.wav", _wav(), "audio/wav")}).status_code == 401
        ok = c.post("/predict", files={"file": ("a.wav", _wav(), "audio/wav")},
                    headers={"authorization": "Bearer s3cret"})
        assert ok.status_code == 200
        assert c.get("/").status_code == 200  # the page itself is public
    monkeypatch.setenv("AMBER2_SERVE_TOKEN", "from-env")
    app = create_app(model, warm_up=False)
    with running(app) as url, httpx.Client(base_url=url, timeout=60) as c:
        assert c.get("/health").status_code == 401
        assert c.get("/health", headers={"authorization": "Bearer from-env"}).status_code == 200


def test_a_request_without_a_slot_is_refused_before_its_body_is_read():
    state, lock = {"in_flight": 0}, threading.Lock()
    release = asyncio.Event()

    async def inner(scope, receive, send):
        await receive()  # the admitted request reads its body...
        await release.wait()  # ...and holds its slot
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    mw = _Admission(inner, slots=1, wait_s=0.2, token=None, state=state, lock=lock)
    scope = {"type": "http", "method": "POST", "path": "/predict", "headers": []}

    async def run():
        reads = {"first": 0, "second": 0}
        sent: dict[str, list] = {"first": [], "second": []}

        def rec(name):
            async def receive():
                reads[name] += 1
                return {"type": "http.request", "body": b"x" * 1000, "more_body": False}

            async def send(msg):
                sent[name].append(msg)
            return receive, send

        first = asyncio.create_task(mw(scope, *rec("first")))
        await asyncio.sleep(0.05)
        assert state["in_flight"] == 1
        await mw(scope, *rec("second"))  # waits 0.2 s for the slot, then 503
        assert reads["second"] == 0  # never read
        assert sent["second"][0]["status"] == 503 and b'"busy"' in sent["second"][1]["body"]
        release.set()
        await first
        assert sent["first"][0]["status"] == 200 and state["in_flight"] == 0
        # once the slot is free, a waiting request is admitted instead of refused
        release.clear()
        first = asyncio.create_task(mw(scope, *rec("first")))
        await asyncio.sleep(0.05)
        second = asyncio.create_task(mw(scope, *rec("second")))
        await asyncio.sleep(0.05)
        release.set()
        await asyncio.gather(first, second)
        assert sent["second"][-2]["status"] == 200

    asyncio.run(run())
