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
    res = mod.main(["--quick", "--threads", "1", "--device", "cpu", "--out", str(out)])  # fp32: 1e-5 below
    saved = json.loads(out.read_text())
    assert saved["runs"] == res["runs"] == 2 * 2 * 3
    assert saved["max_abs_diff"] <= 1e-5 and saved["max_abs_diff_test_metrics"] <= 1e-5
    assert saved["speedup"] > 0 and saved["batched_seconds"] > 0
    assert saved["selected_epoch_mismatches"] == 0 and saved["max_abs_diff_probabilities_same_epoch"] <= 1e-5
    ar = saved["arithmetic"]
    assert ar["sequential_gflop"] > ar["batched_gflop"] > 0  # the shared experts save arithmetic
    assert ar["batched_floor_seconds"] > 0 and ar["gemm_gflops_measured"] > 0


def _bench():
    spec = importlib.util.spec_from_file_location("bench_train_protocol", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.slow  # ~2 s
def test_single_engine_writes_out_with_rates_and_load(tmp_path):
    mod = _bench()
    out = tmp_path / "one.json"
    res = mod.main(["--quick", "--threads", "1", "--engines", "ensemble", "--device", "cpu", "--out", str(out)])
    saved = json.loads(out.read_text())  # --out is honoured with one engine too
    assert saved == json.loads(json.dumps(res))
    assert saved["device"] == "cpu" and saved["precision"] == "fp32" and "speedup" not in saved
    assert len(saved["load_average"]["ensemble"]) == 6  # before and after the timing
    ar = saved["arithmetic"]
    assert len(ar["gemm_gflops_trials"]) == 5 and ar["gemm_gflops_measured"] == max(ar["gemm_gflops_trials"])
    share = saved["gemm_share"]["batched"]
    assert share == pytest.approx(saved["achieved_gflops"]["batched"] / ar["gemm_gflops_measured"])
    work = saved["host_work"]  # operators per step of the same protocol (2-point grid + CB-CE)
    assert work["steps_per_epoch"] > 0 and 0 < work["computing_operators_per_step"] < work["operators_per_step"]
    assert work["computing_operators_per_step"] <= 240 and work["host_seconds_per_step"] > 0


@pytest.mark.slow  # ~2 s
def test_host_work_only_writes_out(tmp_path):
    out = tmp_path / "host.json"
    res = _bench().main(["--quick", "--threads", "1", "--device", "cpu", "--host-work-only", "--out", str(out)])
    saved = json.loads(out.read_text())
    assert saved == json.loads(json.dumps(res)) and saved["device"] == "cpu"
    assert "batched_seconds" not in saved and saved["top_computing_operators_per_step"]


def test_profile_categories():
    cat = _bench()._category
    assert [cat(n) for n in ("aten::addmm", "aten::bmm", "aten::baddbmm", "aten::mm")] == ["gemm"] * 4
    assert cat("aten::_fused_adamw_") == "optimizer"
    assert cat("aten::index_select") == cat("aten::index") == "indexing"
    assert cat("aten::_softmax") == cat("aten::softmax") == cat("aten::sum") == "softmax_reduce"
    assert cat("aten::mul") == cat("aten::where") == "elementwise"
    assert cat("aten::copy_") == cat("aten::_to_copy") == "copy_alloc" and cat("aten::something_new") == "other"


@pytest.mark.slow  # ~4 s
def test_precision_comparisons_and_a_bounded_profile(tmp_path):
    mod = _bench()
    res = mod.main(["--quick", "--threads", "1", "--engines", "ensemble", "--device", "cpu",
                    "--compare-precision", "tf32", "--profile", "--profile-epochs", "1"])
    (agree,) = res["precision_agreement"]
    # On a CPU tf32 is fp32: the same arithmetic, so the comparison finds nothing
    assert agree["precision"] == "tf32" and agree["against"] == "fp32"
    assert agree["max_abs_diff"] == 0 and agree["selected_epoch_mismatches"] == 0 and agree["argmax_flips"] == 0
    prof = res["profile"]
    assert prof["epochs"] == 1 and prof["by_category"]["gemm"]["seconds"] > 0
    with pytest.raises(SystemExit):
        mod.main(["--quick", "--compare-precision", "fp16"])
