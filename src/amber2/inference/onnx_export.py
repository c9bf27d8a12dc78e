r"""ONNX export of the heads: embeddings in, one distribution per head out.

The exported graph takes one float32 input per modality, named after it (``audio``: ``(batch, d_A)``,
``text``: ``(batch, d_T)``), with a dynamic batch axis, and returns ``probs_<head>`` for every head
(``probs_audio``, ``probs_text``, ``probs_fusion``): ``(batch, C)`` float32 rows
:math:`p_h = \mathrm{softmax}(g_h(x))` summing to 1. The encoders are not part of the graph: compute the
embeddings with the bundle's encoders (``AmbER2.encoder(m).encode(...)``) or your own pipeline.

The graph always takes every modality. A modality head reads only its own input, so for a clip without
a transcript feed any finite vector (zeros) as ``text`` and read ``probs_audio`` only; ``probs_fusion``
is then meaningless.

Exporter: PyTorch's TorchScript-based exporter (``torch.onnx.export(..., dynamo=False)``), opset 17 by
default. The newer ``dynamo=True`` exporter needs the ``onnxscript`` package, which amber2 does not
require; the heads (Linear, ReLU, tanh, sigmoid, softmax) export identically with either. The model's
classes, heads, student, input widths and the amber2 version are stored in the ONNX metadata
(``metadata_props``: ``amber2.classes`` etc., JSON values).
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from amber2._version import __version__
from amber2.utils.io import atomic_path
from amber2.utils.logging import get_logger

__all__ = ["DEFAULT_OPSET", "OnnxExportError", "export_onnx", "onnx_metadata", "verify_onnx"]

log = get_logger(__name__)

DEFAULT_OPSET = 17


class OnnxExportError(RuntimeError):
    """The export or its check against PyTorch failed."""


def _resolve(model: Any) -> tuple[Any, list[str]]:
    """``(AmbER2Model on CPU, classes)`` from an AmbER2, an AmbER2Model (+ no classes) or a bundle path."""
    from amber2.inference.predictor import AmbER2

    if isinstance(model, (str, os.PathLike)):
        model = AmbER2.from_pretrained(model, device="cpu")
    if isinstance(model, AmbER2):
        return model.model.to("cpu").eval(), list(model.classes)
    if hasattr(model, "config") and hasattr(model, "heads"):
        return model.to("cpu").eval(), [f"class{i}" for i in range(model.config.n_classes)]
    raise TypeError(f"export_onnx needs an AmbER2, an AmbER2Model or a bundle path, got {type(model).__name__}")


def _wrapper(net: Any) -> Any:
    import torch

    modalities = list(net.config.modalities)
    heads = list(net.config.head_names)

    class _Heads(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, *xs: torch.Tensor) -> tuple[torch.Tensor, ...]:
            logits = self.net(dict(zip(modalities, xs)), heads=heads)
            return tuple(torch.softmax(logits[h], dim=-1) for h in heads)

    return _Heads().eval()


def export_onnx(
    model: Any,
    out: str | os.PathLike[str],
    *,
    opset: int = DEFAULT_OPSET,
    verify: bool = True,
    atol: float = 1e-5,
) -> Path:
    """Export the heads of a model to an ONNX file (written atomically).

    Args:
        model: An :class:`~amber2.inference.AmbER2`, an :class:`~amber2.model.AmbER2Model` or a bundle path.
        out: Output ``.onnx`` file.
        opset: ONNX opset version (default 17).
        verify: Run the file with onnxruntime (when installed) on random inputs of two batch sizes and
            compare with PyTorch.
        atol: Largest absolute difference allowed by the check.

    Returns:
        The path written.

    Raises:
        OnnxExportError: The exporter failed, or the check found a difference over ``atol``.
    """
    import torch

    net, classes = _resolve(model)
    wrapper = _wrapper(net)
    modalities = list(net.config.modalities)
    heads = list(net.config.head_names)
    outputs = [f"probs_{h}" for h in heads]
    example = tuple(torch.zeros(2, int(d)) for d in net.config.dims.values())
    dynamic = {name: {0: "batch"} for name in [*modalities, *outputs]}
    out = Path(out)
    with atomic_path(out, suffix=".onnx") as tmp:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
                torch.onnx.export(wrapper, example, str(tmp), dynamo=False, input_names=modalities,
                                  output_names=outputs, dynamic_axes=dynamic, opset_version=int(opset),
                                  do_constant_folding=True)
        except Exception as exc:
            raise OnnxExportError(f"ONNX export failed: {type(exc).__name__}: {exc}") from exc
        try:
            import onnx
        except ImportError:  # pragma: no cover - onnx is a dependency of the exporter
            log.warning("onnx is not installed: the file has no amber2 metadata")
        else:
            proto = onnx.load(str(tmp))
            meta = {
                "amber2.version": __version__, "amber2.classes": json.dumps(classes),
                "amber2.heads": json.dumps(heads), "amber2.student": json.dumps(net.config.student),
                "amber2.inputs": json.dumps(dict(net.config.dims)), "amber2.outputs": json.dumps(outputs),
            }
            for k, v in meta.items():
                entry = proto.metadata_props.add()
                entry.key, entry.value = k, v
            proto.producer_name = "amber2"
            proto.producer_version = __version__
            onnx.checker.check_model(proto)
            onnx.save(proto, str(tmp))
        if verify:
            try:
                err = verify_onnx(tmp, net)
            except ImportError:
                log.warning("onnxruntime is not installed: the exported file was not checked against PyTorch")
            else:
                if err > atol:
                    raise OnnxExportError(f"ONNX output differs from PyTorch by {err:.2e} (> {atol:g})")
                log.info("ONNX check: max |onnxruntime - torch| = %.2e over every head", err)
    log.info("exported %s (inputs %s, outputs %s, opset %d)", out, modalities, outputs, opset)
    return out


def verify_onnx(
    path: str | os.PathLike[str], model: Any, *, batch_sizes: tuple[int, ...] = (1, 7), seed: int = 0
) -> float:
    """Largest absolute difference between onnxruntime and PyTorch over every head and batch size.

    Args:
        path: The ``.onnx`` file.
        model: The :class:`~amber2.model.AmbER2Model` (or AmbER2) it was exported from.
        batch_sizes: Batch sizes to try (the export used 2, so these exercise the dynamic axis).
        seed: Seed of the random inputs.

    Returns:
        ``max |p_onnx - p_torch|``.
    """
    import onnxruntime as ort
    import torch

    net = model.model if hasattr(model, "predict_embeddings") else model
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    heads = [n.removeprefix("probs_") for n in names]
    rng = np.random.default_rng(seed)
    worst = 0.0
    for n in batch_sizes:
        feeds = {m: rng.standard_normal((n, int(d))).astype(np.float32) for m, d in net.config.dims.items()}
        got = dict(zip(heads, sess.run(names, feeds)))
        with torch.inference_mode():
            ref = net({m: torch.from_numpy(a) for m, a in feeds.items()}, heads=heads)
        for h in heads:
            worst = max(worst, float(np.abs(got[h] - torch.softmax(ref[h], dim=-1).numpy()).max()))
    return worst


def onnx_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The amber2 metadata of an exported file (classes, heads, student, inputs, outputs, version)."""
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    out: dict[str, Any] = {}
    for p in proto.metadata_props:
        if p.key.startswith("amber2."):
            key = p.key.removeprefix("amber2.")
            out[key] = p.value if key == "version" else json.loads(p.value)
    return out
