"""The extraction benchmark's arithmetic: FLOPs counted per clip, and the device's GEMM rate."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode
from transformers import AutoModel, AutoTokenizer

from amber2.training.device import measure_gemm_rate

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "extract.py"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_extract", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _exact(model, **inputs) -> float:
    with FlopCounterMode(display=False) as fc, torch.no_grad():
        model(**inputs)
    return float(fc.get_total_flops())


def test_counted_flops_match_a_real_forward(tiny_models, tmp_path):
    torch.set_num_threads(1)
    from tiny_models import make_corpus

    b = make_corpus(tmp_path / "audio", n=6, seconds=0.5, step=0.4)
    table = b.build()
    flops = _bench().count_flops(tiny_models["w2v_group"], tiny_models["bert"], table, fit_points=6)
    assert flops["audio_fit_max_rel_error"] < 1e-3
    assert flops["audio"].shape == flops["text"].shape == (len(table),)
    # against a real forward pass of the loaded model on the CPU, clip by clip; with eager attention,
    # because torch's counter has no formula for the CPU's fused attention kernel (it would leave the
    # attention products out, which the benchmark counts)
    import soundfile as sf

    audio = AutoModel.from_pretrained(tiny_models["w2v_group"], local_files_only=True,
                                      attn_implementation="eager").eval()
    text = AutoModel.from_pretrained(tiny_models["bert"], local_files_only=True, attn_implementation="eager").eval()
    tok = AutoTokenizer.from_pretrained(tiny_models["bert"])
    for k, (path, transcript) in enumerate(zip(table.items["audio_path"], table.items["transcript"])):
        wav, _ = sf.read(path, dtype="float32")
        want = _exact(audio, input_values=torch.from_numpy(wav)[None])
        assert flops["audio"][k] == pytest.approx(want, rel=1e-3), k
        ids = tok(transcript, truncation=True, return_tensors="pt")["input_ids"]
        assert flops["text"][k] == _exact(text, input_ids=ids), k
    lengths = np.array([sf.info(p).frames for p in table.items["audio_path"]])
    order = np.argsort(lengths)
    assert np.all(np.diff(flops["audio"][order]) > 0)  # longer clips cost more


def test_gemm_rate_is_the_best_of_its_trials():
    torch.set_num_threads(1)
    r = measure_gemm_rate(64, 64, 64, trials=3, seconds=0.02)
    assert len(r["trials"]) == 3 and r["best"] == max(r["trials"]) > 0
    assert r["shape"] == [64, 64, 64] and r["precision"] == "fp32" and r["batch"] == 1
    assert measure_gemm_rate(16, 32, 8, trials=1, seconds=0.01, batch=3)["batch"] == 3  # torch.bmm of 3 pairs
    with pytest.raises(ValueError, match="sizes, batch and trials"):
        measure_gemm_rate(0, 64, 64)
    with pytest.raises(ValueError, match="precision must be one of"):
        measure_gemm_rate(8, 8, 8, precision="fp16")
