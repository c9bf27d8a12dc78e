"""Throughput of ``amber2 annotate``'s engine against a loopback OpenAI-compatible server.

    python benchmarks/annotate.py --out annotate.json            # 1 s service time, 16 rounds per level
    python benchmarks/annotate.py --quick --out annotate.json    # 1 s service time, 6 rounds per level (CI)
    python benchmarks/annotate.py --quick --service-time 0.2     # where a 2-core machine runs out of CPU

What it does:

1. Writes ``--items`` 1-s WAV clips with transcripts and builds the requests of ``n`` annotators per item
   (the real prompts, cache keys and base64 WAV audio of the ``openai`` backend).
2. Starts the fake server (``tests/annotate/fake_openai.py``) in its own process: every call waits a fixed
   ``--service-time`` and answers a deterministic emotion word.
3. For each number of calls in flight (1, 16, 256): ``rounds x in-flight`` calls through
   :func:`amber2.annotate.run_requests` (fresh reply cache, retries and parsing on), and the same calls
   through a plain reference: one ``httpx`` client with an ``asyncio.Semaphore``, no cache, no retries.
   Equal outputs are checked (every reply identical). Reported per level: calls per second of both, the
   ideal ``in_flight / service_time``, amber2 as a fraction of the ideal and of the plain loop, and the
   client's CPU seconds per call (``time.process_time``; the server runs in another process).

Target: amber2 at >= 80 % of the ideal with 256 calls in flight.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
FAKE = HERE.parent / "tests" / "annotate" / "fake_openai.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(service_time: float) -> tuple[subprocess.Popen[bytes], str]:
    import httpx

    port = free_port()
    proc = subprocess.Popen([sys.executable, str(FAKE), "--port", str(port), "--service-time", str(service_time)])
    url = f"http://127.0.0.1:{port}"
    t0 = time.monotonic()
    while time.monotonic() - t0 < 30:
        try:
            httpx.post(f"{url}/v1/chat/completions", json={"model": "m", "messages": [{"role": "user",
                       "content": "ping"}]}, timeout=5)
            return proc, f"{url}/v1"
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the fake server did not start")


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far (Linux ``/proc``; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def make_requests(folder: Path, items: int, n: int, backend: Any) -> list[Any]:
    import soundfile as sf

    from amber2.annotate import DEFAULT_CLASSES, Item, build_requests, load_preset
    from amber2.utils.fingerprint import hash_file

    rng = np.random.default_rng(0)
    out = []
    for i in range(items):
        p = folder / f"clip{i}.wav"
        sf.write(p, (0.2 * rng.standard_normal(16000)).astype(np.float32), 16000, subtype="PCM_16")
        out.append(Item(id=f"u{i}", audio_path=str(p), transcript=f"utterance number {i}",
                        audio_sha256=hash_file(p)))
    return build_requests(out, backend, load_preset(), list(DEFAULT_CLASSES), n)


async def plain(requests: list[Any], base_url: str, in_flight: int) -> tuple[list[str], float, float]:
    """The reference: one httpx client, a semaphore, base64 WAV audio per item, nothing else."""
    import base64
    import json

    import httpx

    limits = httpx.Limits(max_connections=in_flight, max_keepalive_connections=in_flight)
    client = httpx.AsyncClient(base_url=base_url + "/", limits=limits, timeout=60,
                               headers={"Content-Type": "application/json", "Authorization": "Bearer EMPTY"})
    sem = asyncio.Semaphore(in_flight)
    audio: dict[str, str] = {}

    async def one(r: Any) -> str:
        async with sem:
            if r.item.id not in audio:
                audio[r.item.id] = base64.b64encode(Path(r.item.audio_path).read_bytes()).decode("ascii")
            body = {"model": "fake-alm", "temperature": r.annotator.temperature, "max_tokens": 16,
                    "messages": [{"role": "system", "content": r.prompt.system},
                                 {"role": "user", "content": [
                                     {"type": "input_audio",
                                      "input_audio": {"data": audio[r.item.id], "format": "wav"}},
                                     {"type": "text", "text": r.prompt.user}]}]}
            try:
                resp = await client.post("chat/completions", content=json.dumps(body))
                return str(resp.json()["choices"][0]["message"]["content"] or "")
            except httpx.HTTPError as exc:  # counted as an error, not retried
                return f"<error {type(exc).__name__}>"

    try:
        await one(requests[0])  # warm-up: connection, imports (not timed)
        c0, t0 = time.process_time(), time.perf_counter()
        out = list(await asyncio.gather(*(one(r) for r in requests)))
        return out, time.perf_counter() - t0, time.process_time() - c0
    finally:
        await client.aclose()


def measure(requests: list[Any], base_url: str, in_flight: int, server_pid: int) -> dict[str, Any]:
    from amber2.annotate import ReplyCache, RunSettings, run_requests
    from amber2.annotate.backends.openai import OpenAIBackend

    with tempfile.TemporaryDirectory() as tmp:
        backend = OpenAIBackend("fake-alm", base_url, api_key_env="AMBER2_BENCH_NO_KEY", connections=in_flight)
        cache = ReplyCache(tmp)

        async def run() -> Any:
            try:
                await backend.annotate(requests[:1])  # warm-up: connection, imports (not cached, not timed)
                c0, t0 = time.process_time(), time.perf_counter()
                out = await run_requests(backend, requests, cache, RunSettings(max_in_flight=in_flight, retries=0))
                return out, time.perf_counter() - t0, time.process_time() - c0
            finally:
                await backend.aclose()

        s0 = proc_cpu(server_pid)
        (outcomes, stats), t_amber, c_amber = asyncio.run(run())
        s_amber = proc_cpu(server_pid) - s0
        cache.close()
    ref, t_plain, c_plain = asyncio.run(plain(requests, base_url, in_flight))
    got = [o.text for o in outcomes]
    return {"calls": len(requests), "amber2_s": t_amber, "plain_s": t_plain,
            "amber2_calls_per_s": len(requests) / t_amber, "plain_calls_per_s": len(requests) / t_plain,
            "amber2_cpu_ms_per_call": 1e3 * c_amber / len(requests),
            "server_cpu_ms_per_call": 1e3 * s_amber / len(requests),
            "plain_cpu_ms_per_call": 1e3 * c_plain / len(requests),
            "max_in_flight_seen": stats.max_in_flight_seen, "failed": stats.failed, "failure_reasons": stats.reasons,
            "plain_errors": sum(str(x).startswith("<error") for x in ref),
            "equal_outputs": got == ref}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, help="Write the figures as JSON.")
    ap.add_argument("--quick", action="store_true", help="Short run for CI.")
    ap.add_argument("--service-time", type=float, default=None, help="Seconds the server takes per call.")
    ap.add_argument("--rounds", type=int, default=None, help="Calls per level = rounds x in-flight.")
    ap.add_argument("--levels", default="1,16,256", help="Calls in flight, comma separated.")
    args = ap.parse_args()
    service = args.service_time or 1.0
    rounds = args.rounds or (6 if args.quick else 16)
    levels = [int(x) for x in args.levels.split(",")]
    from amber2.annotate.backends.openai import OpenAIBackend
    from amber2.utils.io import atomic_write_json
    from amber2.utils.machine import cpu_model

    proc, base_url = start_server(service)
    results: dict[str, Any] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            n_max = max(levels) * rounds
            items = 64
            annotators = -(-n_max // items)
            all_requests = make_requests(Path(tmp), items, annotators, OpenAIBackend("fake-alm", base_url))
            for level in levels:
                reqs = all_requests[: max(level * rounds, 10)]
                r = measure(reqs, base_url, level, proc.pid)
                r["ideal_calls_per_s"] = level / service
                r["fraction_of_ideal"] = r["amber2_calls_per_s"] / r["ideal_calls_per_s"]
                r["ratio_vs_plain"] = r["amber2_calls_per_s"] / r["plain_calls_per_s"]
                results[str(level)] = r
                print(f"in flight {level:4d}: amber2 {r['amber2_calls_per_s']:8.1f} calls/s "
                      f"({100 * r['fraction_of_ideal']:5.1f} % of ideal {r['ideal_calls_per_s']:.0f}), plain "
                      f"{r['plain_calls_per_s']:8.1f} calls/s, ratio {r['ratio_vs_plain']:.2f}x; client CPU "
                      f"{r['amber2_cpu_ms_per_call']:.2f} ms/call (plain {r['plain_cpu_ms_per_call']:.2f}), server CPU "
                      f"{r['server_cpu_ms_per_call']:.2f} ms/call; "
                      f"equal outputs {r['equal_outputs']}; failed {r['failed']} {r['failure_reasons']}, plain errors "
                      f"{r['plain_errors']}")
    finally:
        proc.terminate()
        proc.wait(10)
    top = results.get(str(max(levels)), {})
    summary = {"benchmark": "annotate", "quick": args.quick, "service_time_s": service, "rounds": rounds,
               "levels": results, "target": ">= 0.8 of ideal at 256 in flight",
               "target_met": bool(top.get("fraction_of_ideal", 0) >= 0.8) if "256" in results else None,
               "machine": {"cpu": cpu_model(), "python": platform.python_version(), "pid_cpus": os.cpu_count()}}
    if args.out:
        atomic_write_json(args.out, summary)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
