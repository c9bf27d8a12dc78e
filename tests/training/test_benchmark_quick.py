"""The protocol benchmark's --quick mode runs, and its two paths agree."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "train_protocol.py"


@pytest.mark.slow  # ~3 s: the benchmark script end to end
def test_train_protocol_quick(tmp_path):
    spec = importlib.util.spec_from_file_location("bench_train_protocol", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = tmp_path / "bench.json"
    res = mod.main(["--quick", "--threads", "1", "--out", str(out)])
    saved = json.loads(out.read_text())
    assert saved["runs"] == res["runs"] == 2 * 2 * 3
    assert saved["max_abs_diff"] <= 1e-5 and saved["max_abs_diff_test_metrics"] <= 1e-5
    assert saved["speedup"] > 0 and saved["batched_seconds"] > 0
    assert saved["selected_epoch_mismatches"] == 0 and saved["max_abs_diff_probabilities_same_epoch"] <= 1e-5
    ar = saved["arithmetic"]
    assert ar["sequential_gflop"] > ar["batched_gflop"] > 0  # the shared experts save arithmetic
    assert ar["batched_floor_seconds"] > 0 and ar["gemm_gflops_measured"] > 0
