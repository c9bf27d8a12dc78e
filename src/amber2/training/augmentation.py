"""DiME-Aug inside the protocol: each fold's training part gets its new items, nothing else does.

:func:`augment_splits` is called once, after the train/validation split of every fold
(:func:`~amber2.training.protocol.make_splits`). The new items are appended after the original
items of a copy of the data, and only the fold they were made for lists their positions in its
training part; validation and test positions are unchanged and never point at them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from amber2.augment import CorpusAudio, augment_folds
from amber2.training.config import TrainConfig
from amber2.training.data import DataError, LabeledSet
from amber2.training.ensemble import Split

__all__ = ["PROVENANCE_META", "augment_splits"]

#: Metadata columns the augmented data carries for every item ("" for original items).
PROVENANCE_META = ("dime:parent1", "dime:parent2", "dime:alpha", "dime:fold")


def augment_splits(data: LabeledSet, splits: Sequence[Split], config: TrainConfig
                   ) -> tuple[LabeledSet, list[Split], dict[str, Any]]:
    """Apply ``config.augment.dime`` to every fold's training part.

    Returns:
        ``(train_data, splits, info)``: ``data`` with the new items appended (or ``data`` itself
        when augmentation is off), the splits whose training parts include their fold's new items,
        and the summary for ``results.json`` (empty when off).

    Raises:
        DataError: DiME-Aug cannot run (the message names the setting or item).
    """
    opts = config.augment.dime
    if not opts.enabled:
        return data, list(splits), {}
    corpus = None
    if opts.space == "waveform" or opts.features not in data.X:
        if not config.data.corpus:
            raise DataError(f"augment.dime (space={opts.space}, features={opts.features!r}) needs the corpus audio: "
                            f"set data.corpus and data.embeddings, or use space=embedding with features among "
                            f"{data.modalities}")
        corpus = CorpusAudio.from_paths(config.data.corpus, config.data.embeddings, opts.work_dir)
    try:
        aug = augment_folds(data.X, data.Y, data.ids, {sp.fold: sp.train for sp in splits}, opts,
                            classes=data.classes, corpus=corpus)
    except ValueError as exc:
        raise DataError(str(exc)) from exc
    n, m = len(data), len(aug.ids)
    prov = aug.provenance.set_index("id").loc[aug.ids] if m else None
    meta = {k: np.concatenate([np.asarray(v).astype(str), np.full(m, "dime")]) for k, v in data.meta.items()}
    cols = ("parent1", "parent2", "alpha", "fold")
    for name, col in zip(PROVENANCE_META, cols):
        meta[name] = np.concatenate([np.full(n, "", dtype=object),
                                     np.asarray([] if prov is None else prov[col].astype(str), dtype=object)])
    groups = None
    if data.groups is not None:
        first = [] if prov is None else list(prov["parent1"])
        pos = {i: k for k, i in enumerate(data.ids)}
        groups = np.concatenate([data.groups, np.asarray([data.groups[pos[p]] for p in first], dtype=str)])
    train_data = LabeledSet(
        [*data.ids, *aug.ids], {k: np.vstack([data.X[k], aug.X[k]]) for k in data.X}, np.vstack([data.Y, aug.Y]),
        list(data.classes), groups, meta, on_bad_rows=data.on_bad_rows, atol=data.atol,
    )
    out = [Split(sp.fold, np.concatenate([sp.train, n + aug.rows_of(sp.fold)]), sp.val, sp.test) for sp in splits]
    return train_data, out, aug.summary(data.classes)
