from __future__ import annotations

import io
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf
from inference_helpers import CREMA_CLIP, LFS_POINTER, BlockingAudioEncoder, ToyTextEncoder, synth_clip
from serve_helpers import running

from amber2.inference import AmbER2
from amber2.model.heads import AmbER2Model, ModelConfig
from amber2.serve import create_app


def _wav(seconds: float, seed: int = 0, sr: int = 16000) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, synth_clip(seconds, sr, seed=seed), sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def _silent_wav() -> bytes:
    buf = io.BytesIO()
    sf.write(buf, np.zeros(8000, np.float32), 16000, format="WAV")
    return buf.getvalue()


def _post(client: httpx.Client, name: str, data: bytes, ctype: str = "audio/wav", transcript: str | None = None):
    form = {"transcript": transcript} if transcript is not None else None
    return client.post("/predict", files={"file": (name, data, ctype)}, data=form)


@pytest.fixture
def client(base_url: str):
    with httpx.Client(base_url=base_url, timeout=60) as c:
        yield c


def test_health_schema_and_page(client: httpx.Client):
    h = client.get("/health").json()
    assert h["status"] == "ok" and h["model"]["classes"] == ["neutral", "happy", "angry", "sad"]
    assert h["model"]["heads"] == ["audio", "text", "fusion"] and h["limits"]["max_duration_s"] == 4.0
    schema = client.get("/openapi.json").json()
    post = schema["paths"]["/predict"]["post"]
    assert {"200", "413", "415", "422"} <= set(post["responses"])
    assert "multipart/form-data" in post["requestBody"]["content"]
    assert "/health" in schema["paths"]
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"] and "/static/app.js" in page.text
    assert client.get("/static/app.js").status_code == 200 and client.get("/docs").status_code == 200


def test_prediction_over_http_equals_the_python_api(client: httpx.Client, model: AmbER2):
    data = CREMA_CLIP.read_bytes()
    r = _post(client, "1001_DFA_ANG_XX.wav", data, transcript="Don't forget a jacket")
    assert r.status_code == 200, r.text
    body = r.json()
    ref = model.predict(CREMA_CLIP, text="Don't forget a jacket")[0]
    assert body["id"] == "1001_DFA_ANG_XX" and body["source"] == "1001_DFA_ANG_XX.wav"
    assert body["label"] == ref.label and body["head"] == "fusion" and body["student"] == "fusion"
    assert body["distribution"] == ref.distribution
    assert body["heads"] == {h: dict(zip(ref.classes, p)) for h, p in ref.heads.items()}
    assert body["entropy"] == ref.entropy and body["conflict"] == ref.conflict and body["max_entropy"] == 2.0
    assert body["transcript"] == "Don't forget a jacket" and not body["partial"]
    r = _post(client, "clip.wav", data)
    assert r.status_code == 200 and r.json()["partial"] and r.json()["head"] == "audio"
    assert r.json()["conflict"] is None and r.json()["missing"] == ["text"]
    # any other rate / format soundfile reads: FLAC at 22.05 kHz, sent as octet-stream
    buf = io.BytesIO()
    sf.write(buf, synth_clip(1.0, 22050, seed=3), 22050, format="FLAC")
    r = _post(client, "x.flac", buf.getvalue(), "application/octet-stream", transcript="okay")
    assert r.status_code == 200 and r.json()["duration"] == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize(("name", "payload", "ctype", "status", "code"), [
    ("notes.txt", b"hello there", "text/plain", 415, "unsupported_media_type"),
    ("image.png", b"\x89PNG....", "image/png", 415, "unsupported_media_type"),
    ("fake.wav", b"this is no wav file", "audio/wav", 415, "unreadable"),
    ("pointer.wav", LFS_POINTER.read_bytes(), "audio/wav", 415, "lfs_pointer"),
    ("empty.wav", b"", "audio/wav", 422, "empty_file"),
    ("long.wav", _wav(5.0), "audio/wav", 422, "too_long"),
    ("silent.wav", _silent_wav(), "audio/wav", 422, "silent"),
    ("tiny.wav", _wav(0.005), "audio/wav", 422, "too_short"),
])
def test_bad_uploads_get_clear_errors(client: httpx.Client, name, payload, ctype, status, code):
    r = _post(client, name, payload, ctype)
    assert r.status_code == status, r.text
    body = r.json()
    assert body["error"] == code and name in body["detail"]
    assert "/tmp" not in body["detail"]  # the server's temporary path is never shown


def test_too_large_uploads_get_413(client: httpx.Client, base_url: str):
    big = b"\0" * (2 * 1024 * 1024)
    r = _post(client, "big.wav", big)
    assert r.status_code == 413 and r.json()["error"] == "too_large" and "1 MiB" in r.json()["detail"]

    def chunks():  # no Content-Length: the limit is enforced while the body streams in
        boundary = b"--xyz\r\n"
        yield boundary + b'Content-Disposition: form-data; name="file"; filename="a.wav"\r\n'
        yield b"Content-Type: audio/wav\r\n\r\n"
        for _ in range(40):
            yield b"\0" * 65536
        yield b"\r\n--xyz--\r\n"

    with httpx.Client(base_url=base_url, timeout=60) as c:
        r = c.post("/predict", content=chunks(), headers={"content-type": "multipart/form-data; boundary=xyz"})
    assert r.status_code == 413 and r.json()["error"] == "too_large"


def test_malformed_requests(client: httpx.Client):
    r = client.post("/predict", json={"file": "abc"})
    assert r.status_code == 415 and "multipart/form-data" in r.json()["detail"]
    r = client.post("/predict", files={"other": ("a.wav", b"x", "audio/wav")}, data={"transcript": "hi"})
    assert r.status_code == 422 and r.json()["error"] == "invalid_request" and "file" in r.json()["detail"]
    r = _post(client, "a.wav", _wav(0.5), transcript="x" * 6000)
    assert r.status_code == 422 and r.json()["error"] == "transcript_too_long"
    # after all of these, the service still serves
    assert _post(client, "ok.wav", _wav(0.5), transcript="still here").status_code == 200
    assert client.get("/health").json()["errors"] >= 1


def test_concurrent_requests_all_succeed_and_match(client: httpx.Client, base_url: str):
    clips = [(_wav(0.5 + 0.1 * i, seed=i), f"text number {i}" if i % 2 else None) for i in range(8)]
    seq = [_post(client, f"c{i}.wav", d, transcript=t).json() for i, (d, t) in enumerate(clips)]

    def one(i: int):
        with httpx.Client(base_url=base_url, timeout=60) as c:
            d, t = clips[i]
            return _post(c, f"c{i}.wav", d, transcript=t)

    with ThreadPoolExecutor(8) as pool:
        par = list(pool.map(one, range(8)))
    assert [r.status_code for r in par] == [200] * 8
    for s, p in zip(seq, par):
        assert p.json()["distribution"] == pytest.approx(s["distribution"], abs=1e-6)
        assert p.json()["partial"] == s["partial"]


def _blocking_app(**kw):
    enc = BlockingAudioEncoder()
    net = AmbER2(AmbER2Model(ModelConfig(dims={"audio": 8, "text": 6}, n_classes=3, hidden=4, fusion_dim=4)),
                 classes=["a", "b", "c"], encoders={"audio": enc, "text": ToyTextEncoder()})
    return enc, create_app(net, warm_up=False, **kw)


def test_the_event_loop_stays_free_while_a_prediction_runs():
    enc, app = _blocking_app(workers=1)
    with running(app) as url, httpx.Client(base_url=url, timeout=30) as c:
        result = {}
        t = threading.Thread(target=lambda: result.setdefault("r", _post(c, "slow.wav", _wav(0.5))))
        t.start()
        try:
            assert enc.entered.wait(20), "the prediction never reached the encoder"
            with httpx.Client(base_url=url, timeout=5) as c2:  # answered while the worker is blocked
                h = c2.get("/health").json()
            assert h["in_flight"] == 1
        finally:
            enc.release.set()
            t.join(30)
        assert result["r"].status_code == 200


def test_a_full_queue_answers_503_and_recovers():
    enc, app = _blocking_app(workers=1, max_queue=0, queue_wait_s=0)
    with running(app) as url:
        with httpx.Client(base_url=url, timeout=30) as c:
            t = threading.Thread(target=lambda: _post(c, "slow.wav", _wav(0.5)))
            t.start()
            try:
                assert enc.entered.wait(20)
                with httpx.Client(base_url=url, timeout=5) as c2:
                    r = _post(c2, "second.wav", _wav(0.5))
                assert r.status_code == 503 and r.json()["error"] == "busy" and r.headers["retry-after"] == "1"
            finally:
                enc.release.set()
                t.join(30)
        with httpx.Client(base_url=url, timeout=30) as c:
            assert _post(c, "third.wav", _wav(0.5)).status_code == 200


def test_app_from_a_bundle_path_and_bad_bundles(bundle: Path, tmp_path: Path):
    from amber2.inference import BundleError

    with pytest.raises(BundleError, match="does not exist"):
        create_app(tmp_path / "nothing")
    broken = tmp_path / "broken"
    shutil.copytree(bundle, broken)
    (broken / "model.safetensors").unlink()
    with pytest.raises(BundleError, match="missing model.safetensors"):
        create_app(broken)
    with pytest.raises(ValueError, match="must be positive"):
        create_app(bundle, max_upload_mb=0, warm_up=False)
