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
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from amber2.training.config import DataConfig
from amber2.training.data import DataError, LabeledSet, _show
from amber2.utils.csvsafe import unescape_frame
from amber2.utils.io import load_npy, load_npz

if TYPE_CHECKING:
    from amber2.labels import LabelPolicy

__all__ = ["TrainingData", "load_arrays", "load_training_data", "read_folds", "read_official_split"]

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


def read_folds(path: str | os.PathLike[str], ids: list[str]) -> tuple[np.ndarray, list[str]]:
    """Test fold per id from a CSV ``id,fold``.

    Returns:
        ``(folds, missing)``: the fold of each id (-1 for ids the file does not list) and those ids.
    """
    df = unescape_frame(pd.read_csv(path, dtype={"id": str}))
    if not {"id", "fold"} <= set(df.columns):
        raise DataError(f"{path}: a fold file needs columns id,fold (has {list(df.columns)})")
    dup = df["id"][df["id"].duplicated()].tolist()
    if dup:
        raise DataError(f"{path}: duplicate ids {dup[:10]}")
    m = dict(zip(df["id"], df["fold"].astype(int)))
    return np.array([m.get(i, -1) for i in ids], dtype=int), [i for i in ids if i not in m]


def read_official_split(path: str | os.PathLike[str], ids: list[str], test: str = "Test1") -> tuple[np.ndarray, dict]:
    """Folds from a release's fixed partition (``split.csv``: ``id,split``, written by ``amber2 prepare``).

    ``Train`` -> -1 (always training), ``Development`` -> -2 (the validation set), ``test`` -> 0 (the one
    test fold); items of any other partition, or with none, get -3 and are to be left out.

    Returns:
        ``(folds, left_out)`` with ``left_out`` ``{reason: [ids]}``.

    Raises:
        DataError: no such file, or the partitions lack Train, Development or ``test``.
    """
    p = Path(path)
    if not p.exists():
        raise DataError(f"no official partition file {p} (amber2 prepare writes split.csv for corpora that have "
                        "one, e.g. MSP-Podcast)")
    df = unescape_frame(pd.read_csv(p, dtype={"id": str, "split": str}, keep_default_na=False))
    if not {"id", "split"} <= set(df.columns):
        raise DataError(f"{p}: needs columns id,split (has {list(df.columns)})")
    part = dict(zip(df["id"], df["split"]))
    names = {v for v in part.values() if v}
    for need in ("Train", "Development", test):
        if need not in names:
            raise DataError(f"{p}: no {need!r} partition (partitions: {sorted(names)})")
    code = {"Train": -1, "Development": -2, test: 0}
    folds = np.array([code.get(part.get(i) or "", -3) for i in ids], dtype=int)
    left_out: dict[str, list[str]] = {}
    for i, f in zip(ids, folds):
        if f == -3:
            left_out.setdefault(f"partition_{part.get(i) or 'none'}", []).append(i)
    return folds, left_out


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
            try:
                arrays[f.stem] = load_npy(f)
            except ValueError as exc:
                raise DataError(str(exc)) from None
        if (p / "ids.txt").exists():
            arrays["ids"] = np.array((p / "ids.txt").read_text(encoding="utf-8").split())
    elif p.suffix == ".npz":
        try:
            arrays = load_npz(p)
        except ValueError as exc:
            raise DataError(str(exc)) from None
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


def _leave_out(data: LabeledSet, folds: np.ndarray, missing: list[str], reason: str, on_missing: str,
               dropped: dict[str, int], what: str) -> tuple[LabeledSet, np.ndarray]:
    """Drop ``missing`` items (named in a warning, counted under ``reason``) or fail (``on_missing="fail"``)."""
    if not missing:
        return data, folds
    shown = _show(missing)
    msg = f"{len(missing)} item(s) {what}: {shown}"
    if on_missing == "fail":
        raise DataError(msg + " (data.on_missing=fail)")
    log.warning("%s; left out (data.on_missing=drop)", msg)
    dropped[reason] = dropped.get(reason, 0) + len(missing)
    gone = set(missing)
    keep = np.array([i not in gone for i in data.ids])
    return data.subset(np.flatnonzero(keep)), folds[keep]


def load_training_data(config: DataConfig, *, require_folds: bool = True) -> TrainingData:
    """Build the training data a :class:`DataConfig` describes (see the module docstring).

    Args:
        config: Where the data comes from.
        require_folds: Fail when there is no fold assignment; with False (scoring a model on every
            item), items get fold -1.
    """
    dropped: dict[str, int] = {}
    if config.arrays:
        data, folds = load_arrays(config.arrays, on_bad_rows=config.on_bad_rows)
        if config.split == "official":
            if not config.folds:
                raise DataError(f"data.split=official with data.arrays ({config.arrays}) needs the partition file: "
                                "set data.folds=PATH/split.csv (columns id,split: Train, Development, "
                                f"{config.official_test}), e.g. the split.csv 'amber2 prepare' writes")
            folds, left_out = read_official_split(config.folds, list(data.ids), config.official_test)
            for reason, ids_out in left_out.items():
                data, folds = _leave_out(data, folds, ids_out, reason, "drop", dropped,
                                         f"are in partition {reason.removeprefix('partition_')!r}, neither Train, "
                                         f"Development nor {config.official_test}")
        elif config.folds:
            folds, missing = read_folds(config.folds, data.ids)
            data, folds = _leave_out(data, folds, missing, "no_fold", config.on_missing, dropped,
                                     f"are not in the fold file {config.folds}")
        if folds is None:
            if require_folds:
                raise DataError(f"{config.arrays}: no 'folds' array and no data.folds file")
            folds = np.full(len(data), -1, dtype=int)
        if config.modalities:
            data = data.select_modalities(config.modalities)
        return TrainingData(data, folds, {"source": str(config.arrays), "dropped": dropped})
    if not config.corpus or not config.embeddings:
        raise DataError("data: give either data.arrays, or data.corpus (amber2 prepare) and data.embeddings "
                        "(amber2 extract)")
    from amber2.corpora.table import CorpusTable
    from amber2.encoders import load_embeddings
    from amber2.labels import load_policy

    corpus_dir = Path(config.corpus)
    table = CorpusTable.read(corpus_dir)
    policy = _prepared_policy(corpus_dir, config.policy) or load_policy(config.policy or "eq1")
    if config.policy_overrides:
        policy = policy.replace(**config.policy_overrides)
    labels = policy.apply(table)
    dropped.update({r: len(v) for r, v in labels.dropped.items() if v})
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
    if config.groups == "speaker":
        groups = items["speaker"].where(items["speaker"].notna(), items["group"]).astype(str).to_numpy()
    else:
        groups = items["group"].astype(str).to_numpy()
    meta = {c: items[c].astype(str).to_numpy() for c in table.metadata_columns}
    # A policy that rounds leaves rows off 1 by up to C x 0.5 x 10^-decimals: expected, renormalised quietly.
    decimals = getattr(policy, "decimals", None)
    atol = 1e-4 if decimals is None else max(1e-4, len(lab.classes) * 0.5 * 10.0 ** -int(decimals) + 1e-9)
    data = LabeledSet(keep, emb.features, lab.Y, list(lab.classes), groups, meta, on_bad_rows=config.on_bad_rows,
                      atol=atol)
    if config.split == "official":
        fold_file = Path(config.folds) if config.folds else corpus_dir / "split.csv"
        folds, left_out = read_official_split(fold_file, keep, config.official_test)
        for reason, ids_out in left_out.items():
            part = reason.removeprefix("partition_")
            data, folds = _leave_out(data, folds, ids_out, reason, "drop", dropped,
                                     f"are in partition {part!r}, neither Train, Development nor "
                                     f"{config.official_test}")
    else:
        fold_file = Path(config.folds) if config.folds else corpus_dir / "folds.csv"
        if not fold_file.exists():
            if require_folds:
                raise DataError(f"no fold file: {fold_file} (amber2 prepare writes folds.csv; or set data.folds)")
            folds, missing = np.full(len(keep), -1, dtype=int), []
        else:
            folds, missing = read_folds(fold_file, keep)
        data, folds = _leave_out(data, folds, missing, "no_fold", config.on_missing, dropped,
                                 f"have labels and embeddings but no fold in {fold_file} (prepared with another "
                                 "label policy?)")
    pol = policy.to_dict()
    info = {
        "corpus": table.corpus, "corpus_dir": str(corpus_dir), "corpus_fingerprint": table.fingerprint(),
        "policy": pol, "policy_fingerprint": policy.fingerprint(), "label_fingerprint": lab.fingerprint(),
        "dropped": dropped, "embeddings": str(config.embeddings), "encoders": emb.spec,
        "fold_file": str(fold_file), "split": config.split,
        "official_test": config.official_test if config.split == "official" else None, "groups": config.groups,
    }
    encoders = {m: s.get("spec", s) for m, s in emb.spec.items()}
    return TrainingData(data, folds, info, encoders, pol)


def _prepared_policy(corpus_dir: Path, wanted: str | None) -> LabelPolicy | None:
    """The policy ``amber2 prepare`` saved with the corpus (``policy.json``), when it is the one wanted.

    With no policy asked for, the saved one is used (a custom policy such as the demo's travels with
    its corpus); a policy asked for by the saved one's name also resolves to it. Corpora prepared
    before policies were saved fall back to the name recorded in ``summary.json``.
    """
    from amber2.corpora.table import PREPARED_POLICY
    from amber2.labels import LabelPolicy, load_policy
    from amber2.utils.io import read_json

    saved = corpus_dir / PREPARED_POLICY
    if saved.is_file():
        policy = LabelPolicy.load(saved)
        if wanted is None or wanted == policy.name:
            return policy
        return None
    f = corpus_dir / "summary.json"
    if wanted is not None or not f.exists():
        return None
    name = (read_json(f).get("prepare") or {}).get("policy")
    return None if name is None else load_policy(name)
