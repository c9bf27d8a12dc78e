"""Assemble training data from a prepared corpus and an embedding cache (what ``amber2 train`` reads).

::

    corpus folder (amber2 prepare)  ->  votes  --label policy-->  Y (n, C)
    embedding cache (amber2 extract) ->  X = {audio: (n, d_A), text: (n, d_T)}
    folds.csv                        ->  test fold per item

Items that the policy drops, or that have no embedding in a modality, are counted by reason and
left out (or, with ``on_missing="fail"``, stop the run with their ids); nothing is dropped silently.
Alternatively a folder or ``.npz`` of arrays (``ids``, ``y``, one array per modality, ``folds``)
skips the corpus and the cache.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from amber2.training.config import DataConfig
from amber2.training.data import DataError, LabeledSet

__all__ = ["TrainingData", "load_arrays", "load_training_data", "read_folds"]

log = logging.getLogger(__name__)


@dataclass
class TrainingData:
    """Data ready for :func:`amber2.training.run_protocol`.

    Attributes:
        data: Embeddings + targets.
        folds: Test fold per item (-1: never tested).
        info: Provenance for ``data.json``: label policy (rule and fingerprint), corpus fingerprint,
            encoders' spec, items dropped per reason.
        encoders: Encoder spec per modality (for model bundles), or empty.
        policy: The label policy as a dict, or None.
    """

    data: LabeledSet
    folds: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)
    encoders: dict[str, Any] = field(default_factory=dict)
    policy: dict[str, Any] | None = None


def read_folds(path: str | os.PathLike[str], ids: list[str]) -> np.ndarray:
    """Test fold per id from a CSV ``id,fold``; ids absent from the file get -1."""
    df = pd.read_csv(path, dtype={"id": str})
    if not {"id", "fold"} <= set(df.columns):
        raise DataError(f"{path}: a fold file needs columns id,fold (has {list(df.columns)})")
    dup = df["id"][df["id"].duplicated()].tolist()
    if dup:
        raise DataError(f"{path}: duplicate ids {dup[:10]}")
    m = dict(zip(df["id"], df["fold"].astype(int)))
    return np.array([m.get(i, -1) for i in ids], dtype=int)


def load_arrays(
    path: str | os.PathLike[str], *, on_bad_rows: str = "renormalize"
) -> tuple[LabeledSet, np.ndarray | None]:
    """Arrays from an ``.npz`` file or a folder of ``.npy`` files (never pickles).

    Expected names: ``ids`` (strings; a folder may hold ``ids.txt``), ``y`` (n, C), one array per
    modality (any other name), optionally ``folds`` (n,), ``classes`` (C,), ``groups`` (n,).
    """
    p = Path(path)
    arrays: dict[str, np.ndarray] = {}
    if p.is_dir():
        for f in sorted(p.glob("*.npy")):
            arrays[f.stem] = np.load(f, allow_pickle=False)
        if (p / "ids.txt").exists():
            arrays["ids"] = np.array((p / "ids.txt").read_text(encoding="utf-8").split())
    elif p.suffix == ".npz":
        with np.load(p, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    else:
        raise DataError(f"{p}: expected an .npz file or a folder of .npy files")
    for need in ("ids", "y"):
        if need not in arrays:
            raise DataError(f"{p}: no {need!r} array (have {sorted(arrays)})")
    reserved = {"ids", "y", "folds", "classes", "groups"}
    X = {k: v for k, v in arrays.items() if k not in reserved}
    if not X:
        raise DataError(f"{p}: no embedding arrays besides {sorted(reserved & set(arrays))}")
    data = LabeledSet(
        [str(i) for i in arrays["ids"]], X, arrays["y"],
        [str(c) for c in arrays["classes"]] if "classes" in arrays else [],
        arrays.get("groups"), on_bad_rows=on_bad_rows,  # type: ignore[arg-type]
    )
    return data, (arrays["folds"].astype(int) if "folds" in arrays else None)


def load_training_data(config: DataConfig) -> TrainingData:
    """Build the training data a :class:`DataConfig` describes (see the module docstring)."""
    if config.arrays:
        data, folds = load_arrays(config.arrays, on_bad_rows=config.on_bad_rows)
        if config.folds:
            folds = read_folds(config.folds, data.ids)
        if folds is None:
            raise DataError(f"{config.arrays}: no 'folds' array and no data.folds file")
        if config.modalities:
            data = data.select_modalities(config.modalities)
        return TrainingData(data, folds, {"source": str(config.arrays)})
    if not config.corpus or not config.embeddings:
        raise DataError("data: give either data.arrays, or data.corpus (amber2 prepare) and data.embeddings "
                        "(amber2 extract)")
    from amber2.corpora.table import CorpusTable
    from amber2.encoders import load_embeddings
    from amber2.labels import load_policy

    corpus_dir = Path(config.corpus)
    table = CorpusTable.read(corpus_dir)
    policy_name = config.policy or _prepared_policy(corpus_dir) or "eq1"
    policy = load_policy(policy_name)
    labels = policy.apply(table)
    dropped = {r: len(v) for r, v in labels.dropped.items() if v}
    emb = load_embeddings(config.embeddings, list(labels.ids), modalities=config.modalities)
    missing = [i for i in labels.ids if i in emb.failed]
    if missing:
        msg = f"{len(missing)} item(s) have no embedding in some modality, e.g. " + "; ".join(
            f"{i}: {emb.failed[i]}" for i in missing[:5])
        if config.on_missing == "fail":
            raise DataError(msg)
        log.warning("%s; left out", msg)
        dropped["no_embedding"] = len(missing)
    keep = [i for i in labels.ids if i not in emb.failed]
    lab = labels.select(keep)
    emb = emb.subset(keep)
    items = table.items.set_index("id").loc[keep]
    groups = items["speaker"].where(items["speaker"].notna(), items["group"]).astype(str).to_numpy()
    meta = {c: items[c].astype(str).to_numpy() for c in table.metadata_columns}
    data = LabeledSet(keep, emb.features, lab.Y, list(lab.classes), groups, meta, on_bad_rows=config.on_bad_rows)
    fold_file = Path(config.folds) if config.folds else corpus_dir / "folds.csv"
    if not fold_file.exists():
        raise DataError(f"no fold file: {fold_file} (amber2 prepare writes folds.csv; or set data.folds)")
    folds = read_folds(fold_file, keep)
    pol = policy.to_dict()
    info = {
        "corpus": table.corpus, "corpus_dir": str(corpus_dir), "corpus_fingerprint": table.fingerprint(),
        "policy": pol, "policy_fingerprint": policy.fingerprint(), "label_fingerprint": lab.fingerprint(),
        "dropped": dropped, "embeddings": str(config.embeddings), "encoders": emb.spec,
        "fold_file": str(fold_file),
    }
    encoders = {m: s.get("spec", s) for m, s in emb.spec.items()}
    return TrainingData(data, folds, info, encoders, pol)


def _prepared_policy(corpus_dir: Path) -> str | None:
    from amber2.utils.io import read_json

    f = corpus_dir / "summary.json"
    if not f.exists():
        return None
    s = read_json(f)
    return (s.get("prepare") or {}).get("policy")
