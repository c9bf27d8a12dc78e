"""A run killed with SIGKILL resumes without repeating a finished call (the cache commits each reply)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from amber2.annotate import RunSettings, annotate_corpus
from amber2.annotate.backends.openai import OpenAIBackend

SRC = Path(__file__).resolve().parents[2] / "src"


def test_sigkill_then_resume(corpus, fake_server):
    fake_server.state.service_time = 0.05
    cmd = [sys.executable, "-c", "from amber2.cli import main; main()", "annotate", "--corpus", str(corpus),
           "--backend", "openai", "--model", "fake-alm", "--base-url", fake_server.base_url, "--n", "10",
           "--max-in-flight", "2",
           "--no-progress"]
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        t0 = time.monotonic()
        while fake_server.count < 12:
            assert time.monotonic() - t0 < 60 and proc.poll() is None, "the annotate process never got going"
            time.sleep(0.01)
        proc.kill()
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    time.sleep(0.3)  # let the server finish reading the bodies of the calls cut off in flight
    first = len(fake_server.bodies)  # calls the server received in full (a cut-off upload is not a call)
    assert first < 60 and not (corpus / "annotations" / "openai_fake-alm.jsonl").exists()
    seen = {json.dumps(b, sort_keys=True) for b in fake_server.bodies}
    rep = annotate_corpus(corpus, OpenAIBackend("fake-alm", fake_server.base_url), n=10,
                          settings=RunSettings(max_in_flight=2))
    assert rep.stats.failed == 0 and rep.stats.cached >= first - 2 and rep.stats.calls == 60 - rep.stats.cached
    repeated = [b for b in fake_server.bodies[first:] if json.dumps(b, sort_keys=True) in seen]
    assert len(repeated) == first - rep.stats.cached <= 2  # only calls in flight at the kill are made again
