"""Run directories for the report tests: real protocol runs (tiny settings) and edited copies."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from amber2.training.config import load_config
from amber2.training.data import LabeledSet
from amber2.training.outputs import RunRecord, load_run
from amber2.training.protocol import run_protocol
from amber2.workflow.run import write_run

CONFLICTS = np.array(["none", "conflict", "voice_uninformative", "text_uninformative"])
TINY = ["model.hidden=16", "model.fusion_dim=8", "optim.batch_size=32", "optim.max_epochs=4", "optim.lr=3e-3",
        "protocol.seeds=[0,1]"]


def make_set(n: int = 150, C: int = 4, seed: int = 0, meta: bool = True) -> LabeledSet:
    """Soft labels and two modalities; with ``meta``, a conflict column where one channel is noise."""
    rng = np.random.default_rng(seed)
    Y = rng.dirichlet(np.ones(C) * 0.5, size=n)
    conflict = CONFLICTS[np.arange(n) % 4]
    Xa = rng.normal(size=(n, 10)) + 2 * Y @ rng.normal(size=(C, 10))
    Xt = rng.normal(size=(n, 8)) + 2 * Y @ rng.normal(size=(C, 8))
    if meta:
        va, tu = conflict == "voice_uninformative", conflict == "text_uninformative"
        Xa[va] = rng.normal(size=(va.sum(), 10))
        Xt[tu] = rng.normal(size=(tu.sum(), 8))
    return LabeledSet(
        [f"u{i:03d}" for i in range(n)], {"audio": Xa.astype(np.float32), "text": Xt.astype(np.float32)}, Y,
        [f"c{i}" for i in range(C)], np.array([f"spk{i % 6}" for i in range(n)]),
        {"conflict": conflict, "intensity": np.round(rng.uniform(size=n), 2)} if meta else {},
    )


def _train(out: Path, overrides: list[str], meta: bool = True, data_info: dict | None = None) -> Path:
    data = make_set(meta=meta)
    folds = np.arange(len(data)) % 3
    cfg = load_config(None, [*TINY, *overrides])
    res = run_protocol(data, folds, cfg)
    write_run(res, out, config=cfg, data=data, folds=folds, data_info=data_info)
    return out


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory) -> Path:
    """AmbER² (2 x 2 grid) + CB-CE, 3 folds x 2 seeds, conflict metadata, provenance."""
    info = {"corpus": "toy", "corpus_fingerprint": "c0ffee" * 8, "policy": {"name": "eq1"},
            "policy_fingerprint": "beef" * 16, "dropped": {"no_votes": 3, "no_embedding": 1},
            "encoders": {"audio": {"fingerprint": "ab" * 32, "dim": 10, "spec": {"kind": "opensmile"}},
                         "text": {"fingerprint": "cd" * 32, "dim": 8, "spec": {"kind": "minilm"}}}}
    return _train(tmp_path_factory.mktemp("run") / "full",
                  ["protocol.grid={lambda_mai: [0.3, 0.7], kappa: [2.0, 8.0]}"], data_info=info)


@pytest.fixture(scope="session")
def run_no_baseline(tmp_path_factory) -> Path:
    """AmbER² only (protocol.baseline=none), no metadata."""
    return _train(tmp_path_factory.mktemp("run") / "nobase",
                  ["protocol.baseline=none", "protocol.grid={lambda_mai: [0.5], kappa: [4.0]}"], meta=False)


def _rewrite_npz(path: Path, keep) -> None:
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files if keep(k)}
    np.savez_compressed(path, **arrays)


@pytest.fixture(scope="session")
def run_no_meta(run_dir, tmp_path_factory) -> Path:
    """The full run without any ``meta/`` column."""
    out = tmp_path_factory.mktemp("run") / "nometa"
    shutil.copytree(run_dir, out, ignore=shutil.ignore_patterns("report*", "figures"))
    _rewrite_npz(out / "predictions.npz", lambda k: not k.startswith("meta/"))
    return out


@pytest.fixture(scope="session")
def run_no_amber2(run_dir, tmp_path_factory) -> Path:
    """The full run with every AmbER² system removed (baseline heads only)."""
    out = tmp_path_factory.mktemp("run") / "noamber"
    shutil.copytree(run_dir, out, ignore=shutil.ignore_patterns("report*", "figures"))
    _rewrite_npz(out / "predictions.npz", lambda k: not k.startswith("amber2"))
    res = json.loads((out / "results.json").read_text())
    res["summary"] = {k: v for k, v in res["summary"].items() if not k.startswith("amber2")}
    res["chosen"], res["comparison"] = {}, []
    (out / "results.json").write_text(json.dumps(res))
    scores = pd.read_csv(out / "scores.csv")
    scores[~scores["system"].str.startswith("amber2")].to_csv(out / "scores.csv", index=False)
    (out / "selection.csv").write_text("")
    (out / "comparison.csv").write_text("")
    return out


@pytest.fixture(scope="session")
def full_report(run_dir):
    from amber2.report import build_report

    return build_report(run_dir, title="Toy run", corpus_note="A toy corpus for tests.")


def synthetic_record(truth: np.ndarray, preds: dict[str, list[np.ndarray]], folds: np.ndarray,
                     chosen: dict[str, str] | None = None, meta: dict[str, np.ndarray] | None = None,
                     selection: pd.DataFrame | None = None, config: dict | None = None) -> RunRecord:
    """A RunRecord built in memory (``preds``: system -> one array per seed)."""
    n, C = truth.shape
    arrays: dict[str, np.ndarray] = {"ids": np.array([f"i{k}" for k in range(n)]),
                                     "classes": np.array([f"k{c}" for c in range(C)]), "truth": truth,
                                     "folds": np.asarray(folds)}
    seeds = 0
    for system, per_seed in preds.items():
        for s, p in enumerate(per_seed):
            arrays[f"{system}/seed{s}"] = np.asarray(p, dtype=float)
        seeds = max(seeds, len(per_seed))
    for k, v in (meta or {}).items():
        arrays[f"meta/{k}"] = np.asarray(v).astype(str)
    results = {"summary": {s: {} for s in preds}, "chosen": chosen or {},
               "info": {"seeds": list(range(seeds)), "folds": sorted({int(f) for f in folds if f >= 0})},
               "comparison": [], "seconds": 1.0}
    return RunRecord(Path("synthetic"), config or {}, {}, results, pd.DataFrame(),
                     selection if selection is not None else pd.DataFrame(), pd.DataFrame(), arrays)


@pytest.fixture
def make_record():
    return synthetic_record


@pytest.fixture(scope="session")
def full_record(run_dir) -> RunRecord:
    return load_run(run_dir)


@pytest.fixture(scope="session")
def train_run():
    """``train(out, overrides, meta=True, data_info=None) -> run dir``: a tiny protocol run (TINY + overrides)."""
    return _train


@pytest.fixture(scope="session")
def tiny_data():
    """``(make_set, TINY)``: the data builder and the tiny training overrides of these tests."""
    return make_set, TINY
