"""Training-data augmentation (layer: above labels and encoders, below training).

DiME-Aug (:mod:`amber2.augment.dime`) balances the classes of each fold's training items by mixing
an item with one of its nearest neighbours of the same class, in the embedding space or on the
waveforms (:mod:`amber2.augment.waveform`). See ``docs/augment.md``.

::

    from amber2.augment import DimeOptions, augment_folds

    aug = augment_folds(X, Y, ids, {0: train_positions}, DimeOptions(enabled=True, ratio=0.3))
    aug.X["audio"], aug.Y, aug.provenance, aug.summary(classes)
"""

from __future__ import annotations

from amber2.augment.dime import (
    DimeAugmentation,
    DimeError,
    DimePlan,
    augment_folds,
    balance_counts,
    class_neighbours,
    item_classes,
    mix_rows,
    mix_targets,
    plan_fold,
    standardise,
)
from amber2.augment.options import AugmentConfig, DimeOptions
from amber2.augment.waveform import CorpusAudio, mix_waveforms

__all__ = [
    "AugmentConfig",
    "CorpusAudio",
    "DimeAugmentation",
    "DimeError",
    "DimeOptions",
    "DimePlan",
    "augment_folds",
    "balance_counts",
    "class_neighbours",
    "item_classes",
    "mix_rows",
    "mix_targets",
    "mix_waveforms",
    "plan_fold",
    "standardise",
]
