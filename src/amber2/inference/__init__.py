"""Using a trained model: bundles, predictions on files / arrays / folders / manifests, an estimator, ONNX.

    >>> import amber2
    >>> model = amber2.load("runs/my-model")                      # a bundle directory  # doctest: +SKIP
    >>> preds = model.predict(["a.wav", "b.wav"], text=["I'm fine.", None])             # doctest: +SKIP
    >>> preds[0].label, preds[0].entropy, preds[0].conflict, preds[1].partial           # doctest: +SKIP

See ``docs/inference.md``.
"""

from __future__ import annotations

from amber2.inference.asr import Transcriber
from amber2.inference.bundle import (
    BUNDLE_FORMAT,
    BundleError,
    load_bundle,
    read_bundle_info,
    save_bundle,
    versions_compatible,
)
from amber2.inference.estimator import AmbER2Estimator, js_scorer
from amber2.inference.inputs import AUDIO_SUFFIXES, InputError, InputItem, collect_inputs, read_transcripts
from amber2.inference.onnx_export import OnnxExportError, export_onnx, onnx_metadata, verify_onnx
from amber2.inference.prediction import (
    Prediction,
    PredictionWriter,
    modality_conflict,
    predictions_to_frame,
    predictions_to_records,
    write_predictions,
)
from amber2.inference.predictor import AmbER2, load

__all__ = [
    "AUDIO_SUFFIXES",
    "BUNDLE_FORMAT",
    "AmbER2",
    "AmbER2Estimator",
    "BundleError",
    "InputError",
    "InputItem",
    "OnnxExportError",
    "Prediction",
    "PredictionWriter",
    "Transcriber",
    "collect_inputs",
    "export_onnx",
    "js_scorer",
    "load",
    "load_bundle",
    "modality_conflict",
    "onnx_metadata",
    "predictions_to_frame",
    "predictions_to_records",
    "read_bundle_info",
    "read_transcripts",
    "save_bundle",
    "verify_onnx",
    "versions_compatible",
    "write_predictions",
]
