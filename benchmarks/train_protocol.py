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
  shapes, the folds' sizes and the epochs), this machine's measured fp32 GEMM rate at the shapes the
  ensemble runs, and the resulting floors: no implementation of the same arithmetic can train the
  protocol faster than ``batched_floor_seconds`` here. ``--arithmetic-only`` prints just this block.

Usage::

    python benchmarks/train_protocol.py --out runs/bench/train_protocol.json
    python benchmarks/train_protocol.py --quick --out /tmp/quick.json   # small version for CI
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
import torch

from amber2.metrics import evaluate
from amber2.training.config import load_config
from amber2.training.data import LabeledSet
from amber2.training.ensemble import branch_plan, first_layer_columns
from amber2.training.protocol import grid_objectives, make_splits, run_protocol
from amber2.utils.machine import cpu_model

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


def protocol_arithmetic(data: LabeledSet, folds: np.ndarray, cfg, threads: int) -> dict:
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
    for sp in make_splits(data, folds, cfg):
        item_epochs["train"] += len(sp.train) * epochs * n_seeds
        item_epochs["eval"] += len(sp.val) * epochs * n_seeds
    seq = 2 * sum(per_item_seq[k] * item_epochs[k] for k in item_epochs)
    ens = 2 * sum(per_item_ens[k] * item_epochs[k] for k in item_epochs)

    # The GEMM rate at the ensemble's shape: one mini-batch through the first layer of every branch.
    torch.set_num_threads(threads)
    d0 = next(iter(dims.values()))
    cols = first_layer_columns(mc, objectives) // len(dims)  # one modality's block of the stacked first layer
    a = torch.randn(cfg.optim.batch_size, d0)
    b = torch.randn(d0, max(cols, H))
    for _ in range(3):
        a @ b
    reps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < 1.0:
        a @ b
        reps += 1
    rate = 2 * a.shape[0] * a.shape[1] * b.shape[1] * reps / (time.perf_counter() - t0)
    return {
        "sequential_gflop": seq / 1e9,
        "batched_gflop": ens / 1e9,
        "arithmetic_ratio": seq / ens,
        "gemm_gflops_measured": rate / 1e9,
        "gemm_shape": [a.shape[0], a.shape[1], b.shape[1]],
        "sequential_floor_seconds": seq / rate,
        "batched_floor_seconds": ens / rate,
    }


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small protocol for CI (seconds)")
    ap.add_argument("--out", type=Path, help="write the JSON result here")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch threads (both paths)")
    ap.add_argument("--epochs", type=int, default=None, help="override max epochs")
    ap.add_argument("--engines", default="ensemble,sequential",
                    help="comma-separated engines to time (a speedup needs both)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="extra config override, e.g. protocol.max_groups_per_chunk=5 (repeatable)")
    ap.add_argument("--arithmetic-only", action="store_true",
                    help="print the protocol's arithmetic and time floors, train nothing")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(args.threads)

    if args.quick:
        data, sessions = synthetic_iemocap(n=600, dim=64)
        overrides = ["protocol.folds=[0,1]", "protocol.seeds=[0,1]", "optim.max_epochs=3",
                     "protocol.grid={lambda_mai: [0.3, 0.7], kappa: [4.0]}"]
    else:
        data, sessions = synthetic_iemocap()
        overrides = []
    if args.epochs:
        overrides.append(f"optim.max_epochs={args.epochs}")
    overrides += args.set
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]

    arithmetic = protocol_arithmetic(data, sessions, load_config(None, overrides), args.threads)
    log.info("arithmetic: %s", json.dumps(arithmetic))
    if args.arithmetic_only:
        print(json.dumps(arithmetic, indent=2))
        return arithmetic

    timings, results = {}, {}
    for engine in engines:
        cfg = load_config(None, [*overrides, f"protocol.engine={engine}"])
        t0 = time.perf_counter()
        results[engine] = run_protocol(data, sessions, cfg)
        timings[engine] = time.perf_counter() - t0
        log.info("%s: %d runs in %.1f s", engine, len(results[engine].runs), timings[engine])

    if set(engines) != {"ensemble", "sequential"}:
        out = {"benchmark": "train_protocol", "engines": engines, "overrides": overrides,
               **{f"{e}_seconds": timings[e] for e in engines}, "threads": args.threads, "arithmetic": arithmetic}
        print(json.dumps(out, indent=2))
        return out
    va, vb = _val_metrics(results["ensemble"], data), _val_metrics(results["sequential"], data)
    assert va.keys() == vb.keys(), "the two paths trained different runs"
    max_diff = max(abs(va[k][m] - vb[k][m]) for k in va for m in va[k])
    by_metric = {m: float(max(abs(va[k][m] - vb[k][m]) for k in va)) for m in next(iter(va.values()))}
    agreement = _agreement(results["ensemble"], results["sequential"])
    sa = results["ensemble"].scores.set_index(["system", "fold", "seed", "metric"])["value"].sort_index()
    sb = results["sequential"].scores.set_index(["system", "fold", "seed", "metric"])["value"].sort_index()
    test_diff = float(np.max(np.abs(sa.to_numpy() - sb.loc[sa.index].to_numpy())))
    cfg = load_config(None, overrides)
    out = {
        "benchmark": "train_protocol",
        "quick": args.quick,
        "overrides": overrides,
        "speedup": timings["sequential"] / timings["ensemble"],
        "max_abs_diff": float(max_diff),
        "max_abs_diff_test_metrics": test_diff,
        "max_abs_diff_by_metric": by_metric,
        **agreement,
        "batched_seconds": timings["ensemble"],
        "sequential_seconds": timings["sequential"],
        "runs": len(results["ensemble"].runs),
        "folds": len(results["ensemble"].info["folds"]),
        "seeds": len(cfg.protocol.seeds),
        "objectives": len(results["ensemble"].info["objectives"]),
        "max_epochs": cfg.optim.max_epochs,
        "n_items": len(data),
        "dims": data.dims,
        "threads": args.threads,
        "arithmetic": arithmetic,
        "achieved_gflops": {"batched": arithmetic["batched_gflop"] / timings["ensemble"],
                            "sequential": arithmetic["sequential_gflop"] / timings["sequential"]},
        "torch": torch.__version__,
        "device": "cpu",
        "machine": cpu_model(),
        "python": sys.version.split()[0],
    }
    text = json.dumps(out, indent=2)
    print(text)
    if args.out:
        from amber2.utils.io import atomic_write_text

        atomic_write_text(args.out, text + "\n")
    return out


if __name__ == "__main__":
    main()
