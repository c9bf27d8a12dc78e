"""Benchmark: the paper's protocol trained as one batched ensemble vs one plain loop per run.

IEMOCAP-sized synthetic embeddings (5,531 utterances, 768-d audio and 768-d text, 4 classes, rater
distributions from 3-4 simulated votes, five sessions = five leave-one-session-out folds), 5 folds x
5 seeds x (9 grid points + the CB-CE baseline) = 250 runs of up to 30 epochs, trained both ways on
the same data with the same seeds. Prints and writes (``--out``) JSON with:

- ``speedup``: sequential seconds / batched seconds (same runs);
- ``max_abs_diff``: the largest difference between the two paths' final validation metrics
  (every metric of every reported head of every run, at the selected epoch);
- ``batched_seconds``, ``sequential_seconds``, run counts, threads and the machine;
- ``arithmetic``: the floating-point work each path must do (multiply-adds counted from the model's
  shapes, the folds' sizes and the epochs), the device's measured GEMM rate at the shapes the
  ensemble runs (best of several trials, each trial listed), and the resulting floors: no
  implementation of the same arithmetic can train the protocol faster than ``batched_floor_seconds``
  here. ``--arithmetic-only`` prints just this block;
- ``achieved_gflops`` and ``gemm_share`` (achieved / measured GEMM rate) of each engine timed;
- ``host_work``: operators dispatched per training step (all, and those that compute: kernel launches
  on a GPU, each a few microseconds of host time) and outside the steps, counted on the same protocol
  at 8-wide embeddings for one epoch, and ``host_seconds_per_step``: the time of a step whose arithmetic
  is negligible (one item per group, 8 wide) on this device (``--host-work-only`` prints just this block);
- ``complete``: False in a file written while the benchmark was still running (it saves after each
  stage, so a run stopped at a time limit leaves what it measured);
- ``load_average`` (``os.getloadavg``) before and after every timing: on a shared machine a timing
  under load is slower than the machine, and ratios measured in the same run are the figures to trust;
- with ``--compare-precision bf16`` (or ``tf32``, or ``tf32,bf16``): the ensemble trained again at each
  precision and its agreement with fp32 (selected epochs, JS/BC/R2 differences, argmax flips), a list
  ``precision_agreement``;
- with ``--profile``: a ``torch.profiler`` breakdown of the ensemble's time by operator category
  (GEMM, elementwise, optimiser, indexing, reductions/softmax, copies, other), which shows what
  holds the ensemble below the GEMM rate. The profiled run is the same protocol cut to
  ``--profile-epochs`` epochs (default 2): the trace holds every operator call, and every epoch
  runs the same operators.

``--device cuda`` runs everything on a GPU (default: a GPU when present), with the default precision
of that device (tf32 on CUDA) unless ``--precision`` says otherwise; an untimed one-epoch run of the first
fold comes first there (CUDA context, library handles, kernels of these shapes), and the GEMM rate is
measured as the batched product of one step (``torch.bmm`` over all groups, which train at once on a GPU,
each with its own weights: ``gemm_batch``).

Usage::

    python benchmarks/train_protocol.py --out runs/bench/train_protocol.json
    python benchmarks/train_protocol.py --device cuda --engines ensemble --out gpu.json
    python benchmarks/train_protocol.py --quick --out /tmp/quick.json   # small version for CI
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from amber2.metrics import evaluate
from amber2.training.config import load_config
from amber2.training.data import LabeledSet
from amber2.training.device import measure_gemm_rate, resolve_device, resolve_precision
from amber2.training.ensemble import branch_plan, first_layer_columns
from amber2.training.protocol import default_chunk, grid_objectives, make_splits, run_protocol
from amber2.utils.machine import device_name

log = logging.getLogger("bench")


def synthetic_iemocap(
    n: int = 5531, dim: int = 768, n_classes: int = 4, seed: int = 0
) -> tuple[LabeledSet, np.ndarray]:
    """Embeddings whose class signal is spread over both modalities, and vote-based soft labels."""
    rng = np.random.default_rng(seed)
    latent = rng.dirichlet(np.full(n_classes, 0.7), size=n)
    raters = rng.integers(3, 5, size=n)
    Y = np.stack([rng.multinomial(k, p) for k, p in zip(raters, latent)]).astype(float)
    Y /= Y.sum(1, keepdims=True)
    X = {m: (rng.normal(size=(n, dim)) + 1.5 * latent @ rng.normal(size=(n_classes, dim))).astype(np.float32)
         for m in ("audio", "text")}
    sessions = np.repeat(np.arange(5), int(np.ceil(n / 5)))[:n]
    rng.shuffle(sessions)
    data = LabeledSet([f"utt{i:05d}" for i in range(n)], X, Y, ["neutral", "happy", "angry", "sad"][:n_classes],
                      groups=sessions.astype(str))
    return data, sessions


def _val_metrics(result, data: LabeledSet) -> dict[tuple, dict[str, float]]:
    out = {}
    for r in result.runs:
        y_val = data.Y[r.val_idx]
        for h in r.reported:
            out[(r.fold, r.seed, r.config, h)] = evaluate(y_val, r.heads[h].val_pred)
    return out


def _agreement(a, b) -> dict:
    """Where the two paths differ: selected epochs, predicted distributions, argmax decisions.

    Both paths do the same arithmetic up to floating-point summation order; over hundreds of AdamW
    steps those rounding differences can grow, and a metric on argmax decisions (accuracy, F1) jumps
    by one item's weight when a near-tie flips. These figures tell the two apart.
    """
    ha = {(r.fold, r.seed, r.config, h): r.heads[h] for r in a.runs for h in r.reported}
    hb = {(r.fold, r.seed, r.config, h): r.heads[h] for r in b.runs for h in r.reported}
    same_epoch = [k for k in ha if ha[k].epoch == hb[k].epoch]
    prob = max((float(np.abs(ha[k].val_pred - hb[k].val_pred).max()) for k in same_epoch), default=0.0)
    flips = sum(int((ha[k].val_pred.argmax(1) != hb[k].val_pred.argmax(1)).sum()) for k in ha)
    n_dec = sum(len(ha[k].val_pred) for k in ha)
    return {
        "heads_compared": len(ha),
        "selected_epoch_mismatches": len(ha) - len(same_epoch),
        "max_abs_diff_probabilities_same_epoch": prob,
        "argmax_flips": flips,
        "argmax_decisions": n_dec,
    }


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)


def protocol_arithmetic(data: LabeledSet, folds: np.ndarray, cfg, threads: int, device: str = "cpu") -> dict:
    """The multiply-adds of the protocol, both ways, and the time floor they imply on this machine.

    Per item and head (d_m input widths, H hidden, F fusion width, C classes; a first layer reads data,
    so its backward pass is the weight gradient alone):

    * modality head, training: ``2 d_m H + 3 H C``; evaluation ``d_m H + H C``;
    * fusion head (projections and gate read the embeddings), training:
      ``2 (sum_m d_m) F + 2 (sum_m d_m) F_g + 3 (F H + H C)``; evaluation half the first two terms
      plus ``F H + H C``, with ``F_g = F`` for two modalities (``M F`` otherwise).

    The sequential path trains every head of every objective; the ensemble trains one branch per
    distinct trajectory (:func:`~amber2.training.ensemble.branch_plan`: AmbER²'s detached experts are
    shared by the grid points). Each epoch trains on the fold's training part and evaluates its
    validation part; elementwise work (activations, losses, AdamW) is left out, so the floors are
    optimistic.
    """
    from amber2.model.heads import FUSION
    from amber2.training.fit import model_config_for

    mc = model_config_for(data, cfg.model)
    H, F, C = mc.hidden, mc.fusion_dim, mc.n_classes
    dims = dict(mc.dims)
    d_sum = sum(dims.values())
    f_gate = F if len(dims) == 2 else len(dims) * F
    train_macs = {m: 2 * d * H + 3 * H * C for m, d in dims.items()}
    eval_macs = {m: d * H + H * C for m, d in dims.items()}
    if len(dims) > 1:
        train_macs[FUSION] = 2 * d_sum * F + 2 * d_sum * f_gate + 3 * (F * H + H * C)
        eval_macs[FUSION] = d_sum * F + d_sum * f_gate + F * H + H * C
    objectives = grid_objectives(cfg)
    if cfg.protocol.baseline:
        objectives.append(cfg.loss.model_copy(update={"kind": cfg.protocol.baseline}))
    plan = branch_plan(objectives, list(train_macs), mc.student)
    per_item_seq = {k: len(objectives) * v for k, v in (("train", sum(train_macs.values())),
                                                         ("eval", sum(eval_macs.values())))}
    per_item_ens = {"train": sum(len(set(plan[h])) * train_macs[h] for h in train_macs),
                    "eval": sum(len(set(plan[h])) * eval_macs[h] for h in eval_macs)}
    epochs, n_seeds = cfg.optim.max_epochs, len(cfg.protocol.seeds)
    item_epochs = {"train": 0, "eval": 0}
    splits = make_splits(data, folds, cfg)
    for sp in splits:
        item_epochs["train"] += len(sp.train) * epochs * n_seeds
        item_epochs["eval"] += len(sp.val) * epochs * n_seeds
    seq = 2 * sum(per_item_seq[k] * item_epochs[k] for k in item_epochs)
    ens = 2 * sum(per_item_ens[k] * item_epochs[k] for k in item_epochs)

    # The GEMM rate at the ensemble's shape: one mini-batch through the first layer of every branch. On a
    # CPU the batched product runs group by group (one product of this shape each); on a GPU the groups of
    # a chunk (all of them by default) are one batched kernel, each group with its own weights: measured
    # as that torch.bmm, which moves more memory per FLOP than one 2-D product with as many rows.
    torch.set_num_threads(threads)
    d0 = next(iter(dims.values()))
    cols = first_layer_columns(mc, objectives) // len(dims)  # one modality's block of the stacked first layer
    batch = 1
    if not str(device).startswith("cpu"):
        chunk = cfg.protocol.max_groups_per_chunk or default_chunk(mc, objectives, cfg.optim.batch_size, device)
        batch = min(len(splits) * n_seeds, chunk)
    shape = [cfg.optim.batch_size, d0, max(cols, H)]
    load = os.getloadavg()
    measured = measure_gemm_rate(*shape, device=device, precision=resolve_precision(cfg.optim.precision, device),
                                 batch=batch)
    rate = measured["best"]
    return {
        "sequential_gflop": seq / 1e9,
        "batched_gflop": ens / 1e9,
        "arithmetic_ratio": seq / ens,
        "gemm_gflops_measured": rate / 1e9,
        "gemm_gflops_trials": [r / 1e9 for r in measured["trials"]],
        "gemm_load_average": [*load, *os.getloadavg()],
        "gemm_shape": shape,
        "gemm_batch": batch,
        "sequential_floor_seconds": seq / rate,
        "batched_floor_seconds": ens / rate,
    }


#: Operator categories of the profile (first match wins; names as torch.profiler reports them).
_CATEGORIES = (
    ("gemm", ("mm", "bmm", "addmm", "baddbmm", "matmul", "linear", "einsum", "addbmm")),
    ("optimizer", ("fused_adamw", "adamw", "lerp", "addcmul", "addcdiv", "sqrt")),
    ("indexing", ("index", "gather", "scatter", "embedding", "take", "select", "slice")),
    ("softmax_reduce", ("softmax", "log_softmax", "sum", "mean", "max", "min", "logsumexp", "norm")),
    ("copy_alloc", ("copy", "to", "to_copy", "clone", "empty", "zeros", "ones", "fill", "cat", "stack",
                    "contiguous", "zero")),
    ("elementwise", ("mul", "add", "sub", "div", "where", "log", "exp", "relu", "threshold", "clamp", "pow",
                     "sigmoid", "tanh", "neg", "rsub", "gt", "lt", "ge", "le", "eq", "ne", "abs", "isfinite")),
)


def _category(name: str) -> str:
    op = name.removeprefix("aten::").lower().strip("_")  # aten::_softmax -> softmax
    for cat, names in _CATEGORIES:
        if op in names or any(op.startswith(n + "_") or op == n for n in names):
            return cat
    return "other"


def profile_breakdown(data: LabeledSet, folds: np.ndarray, cfg, device: str) -> dict:
    """Self time of the ensemble's operators by category (``torch.profiler``), and the share of each.

    Self time (an operator's own time, without the operators it calls) of every ``aten::`` op is
    summed per category; on CUDA the device's kernel time is used. Whatever is not GEMM is what keeps
    the ensemble below the GEMM rate (plus Python, numpy and framework time: ``outside_torch_ops``).
    """
    from torch.profiler import ProfilerActivity, profile

    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.startswith("cuda") else [])
    load = os.getloadavg()
    t0 = time.perf_counter()
    with profile(activities=acts) as prof:
        run_protocol(data, folds, cfg, device=device)
        _sync(device)
    wall = time.perf_counter() - t0
    use_cuda = device.startswith("cuda")
    totals: dict[str, float] = {}
    per_op: dict[str, float] = {}
    for ev in prof.key_averages():
        if not ev.key.startswith("aten::"):
            continue
        t = (getattr(ev, "self_device_time_total", 0) or getattr(ev, "self_cuda_time_total", 0)) if use_cuda \
            else ev.self_cpu_time_total
        totals[_category(ev.key)] = totals.get(_category(ev.key), 0.0) + t / 1e6
        per_op[ev.key] = per_op.get(ev.key, 0.0) + t / 1e6
    traced = sum(totals.values())
    out = {c: {"seconds": v, "share": v / wall} for c, v in sorted(totals.items(), key=lambda kv: -kv[1])}
    out["outside_torch_ops"] = {"seconds": max(0.0, wall - traced), "share": max(0.0, wall - traced) / wall}
    top = sorted(per_op.items(), key=lambda kv: -kv[1])[:12]
    return {"wall_seconds_profiled": wall, "clock": "device" if use_cuda else "cpu", "by_category": out,
            "top_ops": [{"op": k, "category": _category(k), "seconds": v, "share": v / wall} for k, v in top],
            "load_average": [*load, *os.getloadavg()]}


def host_work(data: LabeledSet, folds: np.ndarray, overrides: list[str], cfg, device: str) -> dict:
    """What the host does to issue the ensemble's training steps: operators per step, and their time.

    On a GPU each computing operator is a kernel the host launches (a few microseconds of host time
    whatever the tensor size), so for a step of many small operators the host, not the arithmetic, sets
    the pace. The count depends on the objectives and the code, not on the widths or the number of groups:
    it is taken on the same protocol (``overrides``; every fold, seed and objective in one ensemble) with 8-wide
    embeddings and heads, one epoch. The time is that of one epoch of the same protocol on every 8th item
    with mini-batches of one, where the arithmetic is negligible: the host's cost of one step on this device.
    """
    from amber2.training import ensemble
    from amber2.training.device import OperatorCount

    narrow = LabeledSet(list(data.ids), {m: np.ascontiguousarray(x[:, :8]) for m, x in data.X.items()}, data.Y,
                        list(data.classes), groups=data.groups)
    base = [*overrides, "optim.max_epochs=1", "model.hidden=8", "model.fusion_dim=8", "protocol.engine=ensemble",
            "protocol.max_groups_per_chunk=1000", f"optim.precision={resolve_precision(cfg.optim.precision, device)}"]
    step_ops, steps, seconds = OperatorCount(), [], []
    loop = ensemble._train_epoch
    counting = True

    def watched(*args, **kwargs):
        steps.append(len(args[4]))  # the epoch's mini-batches
        if counting:
            with step_ops:
                return loop(*args, **kwargs)
        _sync(device)
        t0 = time.perf_counter()
        out = loop(*args, **kwargs)
        _sync(device)
        seconds.append(time.perf_counter() - t0)
        return out

    ensemble._train_epoch = watched
    try:
        with OperatorCount() as all_ops:
            run_protocol(narrow, folds, load_config(None, [*base, f"optim.batch_size={cfg.optim.batch_size}"]),
                         device=device)
        counted_steps, counting = sum(steps), False
        steps.clear()
        # every 8th item, one per mini-batch: as many steps as above at 8 items each, on tensors of a few
        # hundred numbers (a CPU's softmax and log still cost microseconds there; a GPU's cost nothing)
        few = np.arange(0, len(narrow), 8)
        run_protocol(narrow.subset(few), np.asarray(folds)[few], load_config(None, [*base, "optim.batch_size=1"]),
                     device=device)
    finally:
        ensemble._train_epoch = loop
    n = max(1, counted_steps)
    return {
        "steps_per_epoch": counted_steps,
        "operators_per_step": step_ops.total / n,
        "computing_operators_per_step": step_ops.compute / n,
        "top_computing_operators_per_step": {k: v / n for k, v in step_ops.by_op.most_common(12)},
        "operators_outside_steps_one_epoch_run": all_ops.total - step_ops.total,
        "computing_operators_outside_steps_one_epoch_run": all_ops.compute - step_ops.compute,
        "host_seconds_per_step": sum(seconds) / max(1, sum(steps)),
        "host_timing": f"one epoch, {sum(steps)} steps of one item per group, 8 wide: negligible arithmetic",
    }


def compare(a, b, data: LabeledSet) -> dict:
    """How two results of the same runs differ: validation metrics, test metrics, epochs, argmax decisions."""
    va, vb = _val_metrics(a, data), _val_metrics(b, data)
    assert va.keys() == vb.keys(), "the two results trained different runs"
    by_metric = {m: float(max(abs(va[k][m] - vb[k][m]) for k in va)) for m in next(iter(va.values()))}
    sa = a.scores.set_index(["system", "fold", "seed", "metric"])["value"].sort_index()
    sb = b.scores.set_index(["system", "fold", "seed", "metric"])["value"].sort_index()
    return {
        "max_abs_diff": max(by_metric.values()),
        "max_abs_diff_test_metrics": float(np.max(np.abs(sa.to_numpy() - sb.loc[sa.index].to_numpy()))),
        "max_abs_diff_by_metric": by_metric,
        **_agreement(a, b),
    }


def _timed(data: LabeledSet, sessions: np.ndarray, cfg, device: str):
    load = os.getloadavg()
    _sync(device)
    t0 = time.perf_counter()
    result = run_protocol(data, sessions, cfg, device=device)
    _sync(device)
    return result, time.perf_counter() - t0, [*load, *os.getloadavg()]


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small protocol for CI (seconds)")
    ap.add_argument("--out", type=Path, help="write the JSON result here")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch threads (both paths)")
    ap.add_argument("--epochs", type=int, default=None, help="override max epochs")
    ap.add_argument("--engines", default="ensemble,sequential",
                    help="comma-separated engines to time (a speedup needs both)")
    ap.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: a GPU when present)")
    ap.add_argument("--precision", default=None, choices=["fp32", "tf32", "bf16"],
                    help="optim.precision (default: tf32 on CUDA, fp32 on CPU)")
    ap.add_argument("--compare-precision", default=None,
                    help="also train the ensemble at these precisions (tf32, bf16; comma-separated) and report "
                         "each one's agreement with fp32")
    ap.add_argument("--profile", action="store_true",
                    help="profile the ensemble (torch.profiler) and report its time by operator category")
    ap.add_argument("--profile-epochs", type=int, default=2,
                    help="epochs of the profiled run (the trace of every operator call grows with them)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="extra config override, e.g. protocol.max_groups_per_chunk=5 (repeatable)")
    ap.add_argument("--arithmetic-only", action="store_true",
                    help="print the protocol's arithmetic and time floors, train nothing")
    ap.add_argument("--host-work-only", action="store_true",
                    help="print the operators dispatched per training step (host work on a GPU), time nothing")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)

    if args.quick:
        data, sessions = synthetic_iemocap(n=600, dim=64)
        overrides = ["protocol.folds=[0,1]", "protocol.seeds=[0,1]", "optim.max_epochs=3",
                     "protocol.grid={lambda_mai: [0.3, 0.7], kappa: [4.0]}"]
    else:
        data, sessions = synthetic_iemocap()
        overrides = []
    if args.epochs:
        overrides.append(f"optim.max_epochs={args.epochs}")
    if args.precision:
        overrides.append(f"optim.precision={args.precision}")
    overrides += args.set
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    cfg = load_config(None, overrides)
    precision = resolve_precision(cfg.optim.precision, device)
    if args.profile_epochs < 1:
        ap.error(f"--profile-epochs must be >= 1, got {args.profile_epochs}")
    compared = [c.strip() for c in (args.compare_precision or "").split(",") if c.strip()]
    if any(c not in ("tf32", "bf16") for c in compared):
        ap.error(f"--compare-precision takes tf32 and/or bf16, got {args.compare_precision!r}")

    def only(block: dict) -> dict:
        """Print (and write to ``--out``) one block of the benchmark, measured alone."""
        block = {**block, "device": device, "machine": device_name(device), "torch": torch.__version__}
        if args.out:
            from amber2.utils.io import atomic_write_text

            atomic_write_text(args.out, json.dumps(block, indent=2) + "\n")
        print(json.dumps(block, indent=2))
        return block

    if args.host_work_only:
        return only(host_work(data, sessions, overrides, cfg, device))
    arithmetic = protocol_arithmetic(data, sessions, cfg, args.threads, device)
    log.info("arithmetic: %s", json.dumps(arithmetic))
    if args.arithmetic_only:
        return only(arithmetic)

    if device.startswith("cuda"):  # CUDA context, cuBLAS handles, kernels of these shapes: not part of any timing
        first_fold = int(np.unique(sessions)[0])
        run_protocol(data, sessions, load_config(None, [*overrides, "optim.max_epochs=1", "protocol.seeds=[0]",
                                                        f"protocol.folds=[{first_fold}]"]), device=device)
        _sync(device)
    timings, results, loads = {}, {}, {}
    for engine in engines:
        ecfg = load_config(None, [*overrides, f"protocol.engine={engine}"])
        results[engine], timings[engine], loads[engine] = _timed(data, sessions, ecfg, device)
        log.info("%s: %d runs in %.1f s (load %s)", engine, len(results[engine].runs), timings[engine],
                 loads[engine])
    gflop = {"ensemble": arithmetic["batched_gflop"], "sequential": arithmetic["sequential_gflop"]}
    achieved = {e: gflop[e] / timings[e] for e in engines}
    first = results[engines[0]]
    out: dict = {
        "benchmark": "train_protocol",
        "quick": args.quick,
        "engines": engines,
        "overrides": overrides,
        **{f"{'batched' if e == 'ensemble' else e}_seconds": timings[e] for e in engines},
        "load_average": {e: loads[e] for e in engines},
        "achieved_gflops": {("batched" if e == "ensemble" else e): v for e, v in achieved.items()},
        "achieved_tflops": {("batched" if e == "ensemble" else e): v / 1e3 for e, v in achieved.items()},
        "gemm_share": {("batched" if e == "ensemble" else e): v / arithmetic["gemm_gflops_measured"]
                       for e, v in achieved.items()},
        "runs": len(first.runs),
        "folds": len(first.info["folds"]),
        "seeds": len(cfg.protocol.seeds),
        "objectives": len(first.info["objectives"]),
        "max_epochs": cfg.optim.max_epochs,
        "n_items": len(data),
        "dims": data.dims,
        "threads": args.threads,
        "arithmetic": arithmetic,
        "host_work": host_work(data, sessions, overrides, cfg, device),
        "torch": torch.__version__,
        "device": device,
        "precision": precision,
        "machine": device_name(device),
        "python": sys.version.split()[0],
    }
    def save(complete: bool) -> None:
        """Write what is measured so far (a run stopped at a time limit still leaves its figures)."""
        if args.out:
            from amber2.utils.io import atomic_write_text

            atomic_write_text(args.out, json.dumps({**out, "complete": complete}, indent=2) + "\n")

    if set(engines) == {"ensemble", "sequential"}:
        out["speedup"] = timings["sequential"] / timings["ensemble"]
        out.update(compare(results["ensemble"], results["sequential"], data))
    save(complete=False)
    if args.compare_precision:
        base = results.get("ensemble") if precision == "fp32" else None
        if base is None:
            base = _timed(data, sessions, load_config(None, [*overrides, "protocol.engine=ensemble",
                                                             "optim.precision=fp32"]), device)[0]
        out["precision_agreement"] = []
        for other_precision in compared:
            other, secs, load = _timed(data, sessions, load_config(
                None, [*overrides, "protocol.engine=ensemble", f"optim.precision={other_precision}"]), device)
            out["precision_agreement"].append({"precision": other_precision, "against": "fp32", "seconds": secs,
                                               "load_average": load, **compare(other, base, data)})
            save(complete=False)
    if args.profile:
        # A trace keeps every operator call: the whole protocol's would not fit in memory (one fold's 30
        # epochs took over 24 GiB), and every epoch runs the same operators, so a few epochs show the mix.
        epochs = min(args.profile_epochs, cfg.optim.max_epochs)
        out["profile"] = profile_breakdown(data, sessions, load_config(
            None, [*overrides, "protocol.engine=ensemble", f"optim.max_epochs={epochs}"]), device)
        out["profile"]["epochs"] = epochs
    out["complete"] = True
    save(complete=True)
    print(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
