"""A scikit-learn style estimator over embeddings: drop AmbER² into your own cross-validation code.

    >>> from amber2.inference import AmbER2Estimator
    >>> est = AmbER2Estimator(max_epochs=20).fit({"audio": A, "text": T}, Y)   # doctest: +SKIP
    >>> est.predict_proba({"audio": A2, "text": T2})                          # doctest: +SKIP

``X`` is a dict of modality arrays ``{modality: (n, d_m)}`` (the natural form), or one 2-D array of the
modalities' columns side by side together with ``modalities={"audio": 88, "text": 384}`` (the widths,
in column order); a 2-D array without ``modalities`` is one modality, ``features`` (one head, no fusion).
``Y`` is soft labels ``(n, C)`` (rows summing to 1: the raters' distribution) or hard integer / string
labels ``(n,)`` (or a column ``(n, 1)``, with a ``DataConversionWarning``), one-hot encoded. Inputs are
checked with scikit-learn's validators: NaN, inf, sparse or complex X, empty sets and a continuous
``(n,)`` target raise a ``ValueError`` as for any scikit-learn classifier.

What works with scikit-learn's tools:

* ``clone``, ``get_params`` / ``set_params`` and ``GridSearchCV``-style parameter grids: always.
* ``cross_val_score``, ``cross_validate``, ``GridSearchCV`` and ``Pipeline``: with the **2-D array**
  form of X (scikit-learn indexes rows of arrays, not of dicts). Soft ``Y`` (a 2-D array) is split
  with ``KFold``; hard labels with ``StratifiedKFold`` as for any classifier.
* Scoring: :meth:`AmbER2Estimator.score` is the accuracy for hard labels and minus the mean JS
  distance (the paper's "JS", so higher is better) for soft labels; :func:`js_scorer` is the same as a
  scorer for ``scoring=``.
* ``sklearn.utils.estimator_checks.check_estimator`` passes except the checks in
  :data:`EXPECTED_FAILED_CHECKS`, which assume what a soft-label estimator is not (each with the reason).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

__all__ = ["EXPECTED_FAILED_CHECKS", "SINGLE_MODALITY", "AmbER2Estimator", "js_scorer"]

#: The modality name of a 2-D array X given without ``modalities``.
SINGLE_MODALITY = "features"
#: scikit-learn estimator checks that cannot apply to a soft-label estimator, with the reason (pass as
#: ``check_estimator(est, expected_failed_checks=EXPECTED_FAILED_CHECKS)``).
EXPECTED_FAILED_CHECKS: dict[str, str] = {
    "check_classifier_multioutput": "a 2-D y is one soft label distribution per row (n, C), not several "
                                    "outputs of hard labels: predict returns one label per row",
}


def _is_dict(X: Any) -> bool:
    """X given as ``{modality: array}`` (a scipy sparse DOK matrix is a mapping too, but not this)."""
    from scipy.sparse import issparse

    return isinstance(X, Mapping) and not issparse(X)


def _finite_2d(a: Any, what: str) -> np.ndarray:
    """A float32 2-D array checked by scikit-learn (no NaN/inf, not sparse or complex, not empty)."""
    from sklearn.utils import check_array

    return check_array(a, dtype=np.float32, input_name=what, ensure_min_samples=1)


def _modality_arrays(X: Any, modalities: Mapping[str, int] | Sequence[str] | None, fitted: Mapping[str, int] | None,
               ) -> dict[str, np.ndarray]:
    """Normalise X to ``{modality: float32 (n, d)}``."""
    if _is_dict(X):
        names = list(modalities) if modalities is not None else list(X)
        missing = [m for m in names if m not in X]
        if missing:
            raise ValueError(f"X has no array for modalities {missing} (has {list(X)})")
        out = {}
        for m in names:
            if np.ndim(X[m]) != 2:
                raise ValueError(f"X[{m!r}] must be 2-D (n, d), got shape {np.shape(X[m])}")
            out[m] = _finite_2d(X[m], f"X[{m!r}]")
        return out
    widths = dict(fitted) if fitted is not None else None
    if widths is None:
        if modalities is not None and not isinstance(modalities, Mapping):
            raise ValueError("X is a single array: pass modalities={'audio': d_audio, 'text': d_text} (the widths of "
                             "its column blocks, in order), or give X as a dict of modality arrays")
        widths = {str(m): int(d) for m, d in modalities.items()} if modalities is not None else None
    a = _finite_2d(X, "X")  # 2-D (n, sum of widths), dense, finite
    if widths is None:  # one modality
        widths = {SINGLE_MODALITY: a.shape[1]}
    total = sum(widths.values())
    if a.shape[1] != total:
        raise ValueError(f"X has {a.shape[1]} columns but the modalities {widths} add up to {total}")
    out, start = {}, 0
    for m, d in widths.items():
        out[m] = a[:, start:start + d]
        start += d
    return out


class AmbER2Estimator(ClassifierMixin, BaseEstimator):
    """AmbER² (or its CB-CE / soft-CE baselines) trained on embeddings, with scikit-learn's interface.

    ``fit`` trains one model with :func:`amber2.training.fit.fit_model`: a class-stratified validation
    share of the training items picks the epoch, the rest trains.

    Args:
        modalities: Widths of the column blocks when X is one 2-D array (``{"audio": 88, "text": 384}``),
            or the modalities to use (a list of names) when X is a dict. None: every key of the dict.
        classes: Class names for soft labels (default ``0..C-1``); ignored for hard labels (their sorted
            unique values are the classes).
        loss: ``amber2`` (Eq. 6), ``cbce`` (the paper's baseline) or ``soft_ce``.
        lambda_rai: Weight of L_RAI.
        lambda_mai: Weight of L_MAI.
        kappa: Sharpness of the expert weights u_m.
        hidden: Hidden width of every head.
        fusion_dim: Width of the gated-fusion representation.
        gate_input: ``embeddings`` or ``projections``.
        dropout: Dropout inside the heads.
        student: The student head (``fusion`` by default; with one modality, that modality's head).
        head: Which head :meth:`predict_proba` reports (None: the student).
        lr: AdamW learning rate.
        weight_decay: AdamW weight decay.
        batch_size: Mini-batch size.
        max_epochs: Most epochs.
        patience: Early stopping patience (None: train ``max_epochs``; the best epoch is kept either way).
        selection_metric: Validation metric selecting the epoch (``js``, ``bc``, ``r2``, ``f1``...).
        validation_fraction: Share of the training items held out for epoch selection.
        random_state: Seed of the weights, the batch order and the validation split.
        device: Torch device ``fit`` trains on (None: a GPU when present, else the CPU); the fitted
            model lives on the host either way.
        precision: ``fp32``, ``tf32`` or ``bf16`` (None: tf32 on CUDA, fp32 elsewhere).

    Attributes:
        classes_: The class labels (``predict`` returns these).
        modalities_: ``{modality: width}`` seen in ``fit``.
        n_features_in_: Total input width.
        model_: The fitted :class:`amber2.model.AmbER2Model`.
        fit_result_: The :class:`amber2.training.fit.FitResult` (epochs, validation metrics, history).
        heads_: The model's heads.
    """

    def __init__(
        self,
        *,
        modalities: Mapping[str, int] | Sequence[str] | None = None,
        classes: Sequence[str] | None = None,
        loss: str = "amber2",
        lambda_rai: float = 1.0,
        lambda_mai: float = 0.5,
        kappa: float = 4.0,
        hidden: int = 256,
        fusion_dim: int = 256,
        gate_input: str = "embeddings",
        dropout: float = 0.0,
        student: str = "fusion",
        head: str | None = None,
        lr: float = 3e-4,
        weight_decay: float = 1e-2,
        batch_size: int = 128,
        max_epochs: int = 30,
        patience: int | None = None,
        selection_metric: str = "js",
        validation_fraction: float = 0.1,
        random_state: int = 0,
        device: str | None = None,
        precision: str | None = None,
    ):
        self.modalities = modalities
        self.classes = classes
        self.loss = loss
        self.lambda_rai = lambda_rai
        self.lambda_mai = lambda_mai
        self.kappa = kappa
        self.hidden = hidden
        self.fusion_dim = fusion_dim
        self.gate_input = gate_input
        self.dropout = dropout
        self.student = student
        self.head = head
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.selection_metric = selection_metric
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.device = device
        self.precision = precision

    # ------------------------------------------------------------------ helpers
    def _targets(self, y: Any) -> tuple[np.ndarray, np.ndarray, bool]:
        """``(Y soft (n, C), classes, hard?)`` from soft or hard labels."""
        from sklearn.utils.multiclass import check_classification_targets
        from sklearn.utils.validation import column_or_1d

        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None")
        arr = np.asarray(y)
        if arr.ndim == 2 and arr.shape[1] == 1:  # a column of hard labels, as scikit-learn's classifiers take it
            arr = column_or_1d(arr, warn=True)
        if arr.ndim == 2:
            Y = arr.astype(np.float64)
            if Y.shape[1] < 2:
                raise ValueError(f"soft labels need at least 2 classes, got shape {Y.shape}")
            names = list(self.classes) if self.classes is not None else list(range(Y.shape[1]))
            if len(names) != Y.shape[1]:
                raise ValueError(f"{len(names)} class names for {Y.shape[1]} columns of Y")
            return Y, np.asarray(names, dtype=object if self.classes is not None else None), False
        if arr.ndim != 1:
            raise ValueError(f"Y must be soft labels (n, C) or hard labels (n,), got shape {arr.shape}")
        check_classification_targets(arr)  # a continuous (n,) target is an error, as for any classifier
        classes, codes = np.unique(arr, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(f"hard labels need at least 2 distinct classes, got {len(classes)} class: "
                             f"{classes.tolist()}")
        Y = np.zeros((len(arr), len(classes)))
        Y[np.arange(len(arr)), codes] = 1.0
        return Y, classes, True

    def _inputs(self, X: Any, *, fitting: bool = False) -> dict[str, np.ndarray]:
        fitted = None if fitting else getattr(self, "modalities_", None)
        if not fitting and not _is_dict(X):
            X = _finite_2d(X, "X")
            if X.shape[1] != self.n_features_in_:
                raise ValueError(f"X has {X.shape[1]} features, but {type(self).__name__} is expecting "
                                 f"{self.n_features_in_} features as input")
        Xd = _modality_arrays(X, self.modalities if (fitting or _is_dict(X)) else None, fitted)
        if not fitting:
            want = self.modalities_
            if list(Xd) != list(want) and set(Xd) >= set(want):
                Xd = {m: Xd[m] for m in want}
            for m, d in want.items():
                if m not in Xd:
                    raise ValueError(f"X lacks modality {m!r} seen in fit (fit saw {list(want)})")
                if Xd[m].shape[1] != d:
                    raise ValueError(f"X[{m!r}] has {Xd[m].shape[1]} columns; fit saw {d}")
        return Xd

    def _check_fitted(self) -> None:
        from sklearn.exceptions import NotFittedError

        if not hasattr(self, "model_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit(X, Y) first")

    # ------------------------------------------------------------------ sklearn API
    def fit(self, X: Any, y: Any, *, groups: Any = None) -> AmbER2Estimator:
        """Train on embeddings ``X`` and labels ``y``.

        Args:
            X: ``{modality: (n, d_m)}`` or a 2-D array with ``modalities`` widths set.
            y: Soft labels ``(n, C)`` (rows sum to 1; others are renormalised with a warning) or hard
                labels ``(n,)``.
            groups: Optional speaker / session per item (kept with the data; the validation share is
                class-stratified).

        Returns:
            self.
        """
        from amber2.training.config import LossConfig, ModelSettings, OptimConfig, ValidationConfig
        from amber2.training.data import LabeledSet
        from amber2.training.fit import fit_model

        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None")
        Xd = self._inputs(X, fitting=True)
        Y, classes, hard = self._targets(y)
        n = {a.shape[0] for a in Xd.values()}
        if n != {Y.shape[0]}:
            raise ValueError(f"X has {sorted(n)} rows but y has {Y.shape[0]}")
        data = LabeledSet(ids=[str(i) for i in range(Y.shape[0])], X=Xd, Y=Y, classes=[str(c) for c in classes],
                          groups=None if groups is None else np.asarray(groups))
        res = fit_model(
            data,
            model=ModelSettings(hidden=self.hidden, fusion_dim=self.fusion_dim, gate_input=self.gate_input,
                                dropout=self.dropout, student=self.student),
            optim=OptimConfig(lr=self.lr, weight_decay=self.weight_decay, batch_size=self.batch_size,
                              max_epochs=self.max_epochs, patience=self.patience,
                              selection_metric=self.selection_metric, precision=self.precision),
            loss=LossConfig(kind=self.loss, lambda_rai=self.lambda_rai, lambda_mai=self.lambda_mai, kappa=self.kappa),
            validation=ValidationConfig(fraction=self.validation_fraction, seed=int(self.random_state)),
            seed=int(self.random_state),
            device=self.device,
        )
        self.model_ = res.model
        self.fit_result_ = res
        self.classes_ = classes
        self.modalities_ = {m: int(a.shape[1]) for m, a in Xd.items()}
        self.n_features_in_ = int(sum(self.modalities_.values()))
        self.heads_ = list(res.model.config.head_names)
        self.hard_labels_ = hard
        return self

    def predict_head_proba(self, X: Any) -> dict[str, np.ndarray]:
        """Distributions of every head: ``{head: (n, C)}``."""
        import torch

        self._check_fitted()
        Xd = self._inputs(X)
        xs = {m: torch.from_numpy(np.ascontiguousarray(a)) for m, a in Xd.items()}
        with torch.inference_mode():
            logits = self.model_(xs)
        return {h: torch.softmax(v.double(), dim=-1).numpy() for h, v in logits.items()}

    def predict_proba(self, X: Any) -> np.ndarray:
        """Predicted distribution ``(n, C)`` of the reported head (``head``, default the student)."""
        probs = self.predict_head_proba(X)
        head = self.head or self.model_.config.student
        if head not in probs:
            raise ValueError(f"head {head!r} is not one of the model's heads {list(probs)}")
        return probs[head]

    def predict(self, X: Any) -> np.ndarray:
        """Top class per item (ties to the first class), as a label of ``classes_``."""
        top = np.argmax(self.predict_proba(X), axis=1)  # first: a NotFittedError before classes_ is read
        return np.asarray(self.classes_)[top]

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Accuracy for hard labels; minus the mean JS distance (paper's "JS") for soft labels.

        Higher is better either way, as scikit-learn's model selection expects.
        """
        arr = np.asarray(y)
        if arr.ndim == 1:
            return super().score(X, y, sample_weight=sample_weight)
        from amber2.metrics import js_distance

        if sample_weight is not None:
            raise ValueError("sample_weight is not supported with soft labels")
        Y = arr.astype(np.float64)
        return -float(js_distance(Y / Y.sum(axis=1, keepdims=True), self.predict_proba(X)))

    def to_amber2(self, encoders: Mapping[str, Any] | None = None) -> Any:
        """The fitted model as an :class:`amber2.inference.AmbER2` (for predictions on audio and text).

        Args:
            encoders: ``{modality: Encoder or spec}`` that made the embeddings (needed for audio/text).
        """
        from amber2.inference.predictor import AmbER2

        self._check_fitted()
        return AmbER2(self.model_, classes=[str(c) for c in self.classes_], encoders=encoders or {},
                      metadata={"objective": self.fit_result_.info.get("objective"),
                                "metrics": {"validation": self.fit_result_.val_metrics},
                                "training_config": self.get_params()})

    def save(self, path: Any, *, encoders: Mapping[str, Any], label_policy: Any = None) -> Any:
        """Save the fitted model as a bundle (see :func:`amber2.save_bundle`)."""
        from amber2.inference.bundle import save_bundle

        self._check_fitted()
        params = {k: (dict(v) if isinstance(v, Mapping) else list(v) if isinstance(v, (list, tuple)) else v)
                  for k, v in self.get_params().items()}
        return save_bundle(path, self.model_, classes=[str(c) for c in self.classes_], encoders=encoders,
                           label_policy=label_policy, training_config={"estimator": params},
                           metrics={"validation": self.fit_result_.val_metrics},
                           objective=self.fit_result_.info.get("objective"))

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True  # soft labels are an (n, C) target
        tags.target_tags.single_output = True
        return tags


def js_scorer() -> Any:
    """A scikit-learn scorer: minus the mean JS distance between soft labels and ``predict_proba``.

    Use it as ``cross_val_score(est, X, Y, scoring=js_scorer())`` with soft labels Y ``(n, C)``.
    """
    from sklearn.metrics import make_scorer

    from amber2.metrics import js_distance

    def _js(y_true: Any, y_prob: Any) -> float:
        Y = np.asarray(y_true, dtype=np.float64)
        return float(js_distance(Y / Y.sum(axis=1, keepdims=True), y_prob))

    return make_scorer(_js, greater_is_better=False, response_method="predict_proba")
