"""Load test of ``amber2 serve`` on loopback, and one prediction through the Python API vs through HTTP.

    python benchmarks/serve.py --out serve.json              # 200 requests, concurrency 8, 3-s clips, 3 runs
    python benchmarks/serve.py --quick --out serve.json      # 40 requests, concurrency 4, 1 run (CI)
    python benchmarks/serve.py --quick --concurrency 64 --out serve64.json   # overload vs concurrency 8

What it does:

1. Builds a bundle with the offline preset (openSMILE eGeMAPSv02 + all-MiniLM-L6-v2; a random-init
   AmbER² head: the heads cost microseconds, the encoders are the work), unless ``--model`` names one.
2. Starts the service in a separate process (uvicorn on 127.0.0.1, a free port) and waits for /health.
3. Reference: the latency of one prediction through the Python API (``AmbER2.predict_waveform`` on the
   decoded clip, in this process) and of the same request through HTTP, one at a time (median of
   ``--single`` each); their ratio is the HTTP overhead. Equal work is checked: the HTTP distribution
   must equal the Python API's within 1e-6.
4. Load: ``--requests`` POST /predict (WAV + transcript) from ``--concurrency`` client threads; p50/p95
   latency, requests per second, successful (200) requests per second, and the count of 4xx, 5xx and
   failed connections per run; the medians over ``--repeats`` runs are reported. The server runs with
   the service's default admission (``--max-queue 32``), so more clients than ``workers + max_queue``
   exercise the wait at the door.
5. Overload: when ``--concurrency`` differs from ``--baseline-concurrency`` (8), the same load runs at
   the baseline too, and ``throughput_ratio`` = successful req/s at ``--concurrency`` / at the baseline
   (target: >= 0.9, with 0 5xx at the higher concurrency).

Writes ``--out`` JSON with ``p50_ms``, ``p95_ms``, ``requests_per_second``, ``ok_per_second``, ``errors``,
``status_5xx`` (medians over runs; counts summed), per-concurrency figures, ``throughput_ratio``, the
per-run figures, the single-request figures and the machine.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from amber2.utils.machine import cpu_model

TRANSCRIPTS = ["I can't believe you did that.", "It's eleven o'clock.", "That is exactly what happened.",
               "I'm on my way to the meeting.", "Maybe tomorrow it will be cold.", "We'll stop in a couple of minutes."]


def _clip(seconds: float, seed: int, sr: int = 16000) -> np.ndarray:
    """A speech-like clip: gliding harmonic tone with a syllable envelope plus a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    f0 = 110 + 50 * np.sin(2 * np.pi * 0.5 * t + rng.uniform(0, 6))
    phase = 2 * np.pi * np.cumsum(f0) / sr
    voiced = sum(np.sin(k * phase) / k for k in range(1, 6))
    env = 0.5 + 0.5 * np.sin(2 * np.pi * 3.5 * t + rng.uniform(0, 6)) ** 2
    return (0.25 * voiced * env / 2.3 + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


def _wav(x: np.ndarray, sr: int = 16000) -> bytes:
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, x, sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _make_bundle(folder: Path) -> Path:
    import torch

    from amber2.encoders import build_encoders
    from amber2.inference import save_bundle
    from amber2.model.heads import AmbER2Model, ModelConfig

    enc = build_encoders("offline", device="cpu")
    model = AmbER2Model(ModelConfig(dims={m: e.dim for m, e in enc.items()}, n_classes=4), seed=0)
    with torch.no_grad():  # keep random-init softmaxes away from 0/1 on raw eGeMAPS values
        for name, p in model.named_parameters():
            if name in ("heads.audio.fc1.weight", "fusion.proj.audio.weight", "fusion.gate.weight"):
                p.mul_(0.01)
    return save_bundle(folder / "bundle", model, classes=["neutral", "happy", "angry", "sad"], encoders=enc,
                       objective="random-init (benchmark)")


def _start_server(bundle: Path, port: int, workers: int | None, max_queue: int) -> subprocess.Popen[bytes]:
    code = ("import sys; from amber2.serve import serve; "
            f"serve({str(bundle)!r}, host='127.0.0.1', port={port}, log_level='warning', "
            f"workers={workers!r}, max_queue={max_queue})")
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", code], env=env)


def _wait_ready(base: str, proc: subprocess.Popen[bytes], timeout: float = 180) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with code {proc.returncode}")
        try:
            if httpx.get(base + "/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the server did not become ready")


def _post(client: Any, data: bytes, text: str) -> tuple[float, int, dict[str, Any] | None]:
    t0 = time.perf_counter()
    try:
        r = client.post("/predict", files={"file": ("clip.wav", data, "audio/wav")}, data={"transcript": text})
        status = r.status_code
        body = r.json() if status == 200 else None
    except Exception:
        status, body = -1, None
    return (time.perf_counter() - t0) * 1000.0, status, body


def _load_run(base: str, payloads: list[tuple[bytes, str]], n: int, concurrency: int) -> dict[str, Any]:
    import httpx

    latencies: list[float] = []
    statuses: list[int] = []
    lock = threading.Lock()
    counter = iter(range(n))

    def worker() -> None:
        with httpx.Client(base_url=base, timeout=120) as c:
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                data, text = payloads[i % len(payloads)]
                ms, status, _ = _post(c, data, text)
                with lock:
                    latencies.append(ms)
                    statuses.append(status)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    lat = np.asarray(latencies)
    st = np.asarray(statuses)
    ok = int((st == 200).sum())
    return {"requests": n, "concurrency": concurrency, "seconds": round(wall, 3),
            "p50_ms": round(float(np.percentile(lat, 50)), 2), "p95_ms": round(float(np.percentile(lat, 95)), 2),
            "p99_ms": round(float(np.percentile(lat, 99)), 2), "mean_ms": round(float(lat.mean()), 2),
            "requests_per_second": round(n / wall, 2), "ok_per_second": round(ok / wall, 2), "ok": ok,
            "status_4xx": int(((st >= 400) & (st < 500)).sum()), "status_5xx": int((st >= 500).sum()),
            "failed": int((st < 0).sum()), "errors": int(n - ok)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, help="A bundle to serve (default: a random-init offline-preset bundle).")
    ap.add_argument("--requests", type=int, default=None, help="Requests per run (default 200; quick: 40, "
                    "at least 4 per client).")
    ap.add_argument("--concurrency", type=int, default=None, help="Client threads (default 8; quick: 4).")
    ap.add_argument("--baseline-concurrency", type=int, default=8,
                    help="Reference concurrency for the throughput ratio (run too when --concurrency differs).")
    ap.add_argument("--max-queue", type=int, default=32, help="The server's max_queue (the service default).")
    ap.add_argument("--seconds", type=float, default=3.0, help="Clip length.")
    ap.add_argument("--repeats", type=int, default=3, help="Load runs (medians reported).")
    ap.add_argument("--single", type=int, default=30, help="Sequential requests for the API-vs-HTTP latency.")
    ap.add_argument("--workers", type=int, default=None, help="Server prediction threads (default: min(2, CPUs)).")
    ap.add_argument("--quick", action="store_true", help="40 requests, concurrency 4, 1 run, 10 single requests.")
    ap.add_argument("--out", type=Path, help="Write the figures as JSON.")
    args = ap.parse_args()
    if args.quick:
        args.repeats, args.single = 1, 10
    if args.concurrency is None:
        args.concurrency = 4 if args.quick else 8
    if args.requests is None:
        args.requests = max(40 if args.quick else 200, 4 * args.concurrency)

    import httpx
    import torch

    from amber2.inference import AmbER2
    from amber2.utils.io import atomic_write_json

    torch.set_num_threads(1)
    tmp = tempfile.TemporaryDirectory(prefix="amber2-bench-")
    bundle = args.model or _make_bundle(Path(tmp.name))
    clips = [_clip(args.seconds, seed=i) for i in range(16)]
    payloads = [(_wav(x), TRANSCRIPTS[i % len(TRANSCRIPTS)]) for i, x in enumerate(clips)]

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = _start_server(bundle, port, args.workers, args.max_queue)
    try:
        _wait_ready(base, proc)
        # --- reference: one prediction through the Python API vs through HTTP (one at a time)
        net = AmbER2.from_pretrained(bundle, device="cpu").warm_up()
        import soundfile as sf

        decoded = [sf.read(io.BytesIO(d), dtype="float32")[0] for d, _ in payloads]
        api_ms, http_ms, match = [], [], True
        with httpx.Client(base_url=base, timeout=120) as c:
            for _ in range(2):  # warm both paths
                net.predict_waveform(decoded[0], 16000, transcript=payloads[0][1])
                _post(c, *payloads[0])
            for i in range(args.single):
                k = i % len(payloads)
                t0 = time.perf_counter()
                ref = net.predict_waveform(decoded[k], 16000, transcript=payloads[k][1])
                api_ms.append((time.perf_counter() - t0) * 1000.0)
                ms, status, body = _post(c, *payloads[k])
                http_ms.append(ms)
                if status != 200 or body is None or \
                        max(abs(body["distribution"][cl] - p) for cl, p in ref.distribution.items()) > 1e-6:
                    match = False
        single = {"api_p50_ms": round(statistics.median(api_ms), 2),
                  "http_p50_ms": round(statistics.median(http_ms), 2)}
        single["http_over_api"] = round(single["http_p50_ms"] / single["api_p50_ms"], 3)
        single["outputs_match"] = match
        print(f"one prediction ({args.seconds:g}-s clip + transcript): Python API {single['api_p50_ms']:.1f} ms, "
              f"HTTP {single['http_p50_ms']:.1f} ms (x{single['http_over_api']:.2f}); outputs equal: {match}")
        # --- load (at the baseline concurrency too, when another one is asked for)
        levels = [args.concurrency] if args.concurrency == args.baseline_concurrency else \
            [args.baseline_concurrency, args.concurrency]
        by_level: dict[int, list[dict[str, Any]]] = {}
        for level in levels:
            for r in range(args.repeats):
                res = _load_run(base, payloads, args.requests, level)
                by_level.setdefault(level, []).append(res)
                print(f"run {r + 1}/{args.repeats}: {res['requests']} requests at concurrency {level}: "
                      f"p50 {res['p50_ms']:.1f} ms, p95 {res['p95_ms']:.1f} ms, {res['requests_per_second']:.2f} "
                      f"req/s, {res['ok_per_second']:.2f} successful req/s, {res['status_5xx']} 5xx, "
                      f"{res['status_4xx']} 4xx, {res['failed']} failed")
        runs = by_level[args.concurrency]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        tmp.cleanup()

    def med(key: str, rs: list[dict[str, Any]] = runs) -> float:
        return round(statistics.median(r[key] for r in rs), 2)

    levels_out = {str(level): {"ok_per_second": med("ok_per_second", rs), "p50_ms": med("p50_ms", rs),
                               "p95_ms": med("p95_ms", rs), "status_5xx": int(sum(r["status_5xx"] for r in rs)),
                               "errors": int(sum(r["errors"] for r in rs))}
                  for level, rs in by_level.items()}
    ratio = None
    if len(by_level) > 1:
        base_ok = levels_out[str(args.baseline_concurrency)]["ok_per_second"]
        ratio = round(levels_out[str(args.concurrency)]["ok_per_second"] / base_ok, 3) if base_ok else None

    summary = {
        "benchmark": "serve", "preset": "offline" if args.model is None else str(args.model),
        "requests": args.requests, "concurrency": args.concurrency, "clip_seconds": args.seconds,
        "repeats": args.repeats, "p50_ms": med("p50_ms"), "p95_ms": med("p95_ms"),
        "requests_per_second": med("requests_per_second"), "ok_per_second": med("ok_per_second"),
        "errors": int(sum(r["errors"] for r in runs)), "status_5xx": int(sum(r["status_5xx"] for r in runs)),
        "max_queue": args.max_queue, "baseline_concurrency": args.baseline_concurrency,
        "by_concurrency": levels_out, "throughput_ratio": ratio,
        "single": single, "runs": [r for rs in by_level.values() for r in rs],
        "machine": {"cpu": cpu_model(), "cpus": os.cpu_count(), "python": platform.python_version(),
                    "torch": torch.__version__, "server_workers": args.workers or min(2, os.cpu_count() or 1)},
    }
    print(f"median of {args.repeats} run(s): p50 {summary['p50_ms']:.1f} ms, p95 {summary['p95_ms']:.1f} ms, "
          f"{summary['requests_per_second']:.2f} req/s, {summary['errors']} errors, {summary['status_5xx']} 5xx; "
          f"machine: {cpu_model()} ({os.cpu_count()} CPUs)")
    if ratio is not None:
        print(f"successful throughput at concurrency {args.concurrency} / at {args.baseline_concurrency}: "
              f"x{ratio:.3f} (target >= 0.9, with 0 5xx)")
    if args.out:
        atomic_write_json(args.out, summary)
        print(f"wrote {args.out}")
    if summary["errors"] or not match:
        sys.exit(1)


if __name__ == "__main__":
    main()
