"""Model bundles: a trained model in one directory, loadable anywhere without pickle.

A bundle is a checkpoint directory (:mod:`amber2.training.checkpoint`) whose ``metadata`` describes
everything needed to use the model on new recordings::

    my-model/
      model.safetensors   the weights (float32 safetensors; never a pickle)
      model.json          {"format": "amber2.checkpoint", "format_version": 1, "amber2_version": "0.1.0",
                           "model": ModelConfig, "classes": [...],
                           "metadata": {"bundle_format": 1,
                                        "encoders": {modality: encoder spec},
                                        "label_policy": {...} | null,
                                        "training_config": {...}, "metrics": {...},
                                        "objective": {LossConfig} | "label",
                                        "objective_label": "amber2(lm=0.5,k=4)", ...}}

Compatibility rules when loading (:func:`load_bundle`):

* a missing directory, a missing ``model.json`` or ``model.safetensors``, a file whose SHA-256 differs
  from ``checksums.json`` (written at save, last), unreadable JSON, a ``bundle_format`` that is not a
  whole number, weights holding NaN or inf, or weights that do not fit the described architecture:
  :class:`BundleError` naming the file;
* a newer checkpoint or bundle format than this amber2 reads: :class:`BundleError` ("upgrade amber2");
* an amber2 version outside this one's compatible series (:func:`versions_compatible`, semantic
  versioning: before 1.0 the same ``major.minor``, e.g. ``0.1.x`` with ``0.1.y``; from 1.0 on the same
  ``major``): :class:`BundleError` naming the bundle, both versions and what to do, unless
  ``allow_version_mismatch=True`` (then it loads with a logged warning);
* another version of the same series (a patch release under 0.x): loads, with a logged warning.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from amber2._version import __version__
from amber2.training.checkpoint import (
    META,
    WEIGHTS,
    CheckpointError,
    load_checkpoint,
    save_checkpoint,
    verify_checkpoint,
)
from amber2.utils.logging import get_logger

__all__ = [
    "BUNDLE_FORMAT",
    "BundleError",
    "bundle_encoder_specs",
    "load_bundle",
    "read_bundle_info",
    "save_bundle",
    "versions_compatible",
]

log = get_logger(__name__)

#: Version of the bundle metadata layout (inside the checkpoint's ``metadata``).
BUNDLE_FORMAT = 1


class BundleError(CheckpointError):
    """A bundle is missing, malformed, or written by an incompatible amber2 (the message says which)."""


_VERSION = re.compile(r"^\s*v?(\d+)\.(\d+)(?:\.\d+)?(?:[-+._a-zA-Z0-9]*)\s*$")


def _major_minor(version: str) -> tuple[int, int] | None:
    """``(major, minor)`` of a version string such as ``0.1.0``, ``1.2.3rc1`` or ``0.1.0-dev``; None if unparsable."""
    m = _VERSION.match(str(version))
    return (int(m.group(1)), int(m.group(2))) if m else None


def _series(version: tuple[int, int]) -> str:
    """The compatible series of a version: ``0.1.x`` before 1.0, ``1.x`` from then on."""
    return f"{version[0]}.{version[1]}.x" if version[0] == 0 else f"{version[0]}.x"


def versions_compatible(saved: str, running: str = __version__) -> bool:
    """Whether a bundle saved by amber2 ``saved`` may be loaded by amber2 ``running`` (semantic versioning).

    Before 1.0 any minor release may change formats, so only the same ``major.minor`` is compatible
    (``0.1.0`` with ``0.1.7``, not with ``0.2.0``); from 1.0 on, the same ``major`` (``1.2`` with ``1.5``).

    Args:
        saved: The version that wrote the bundle (``amber2_version`` in ``model.json``).
        running: The version loading it (default: this amber2).

    Returns:
        True when compatible; False when not, or when either version cannot be parsed.
    """
    a, b = _major_minor(saved), _major_minor(running)
    if a is None or b is None or a[0] != b[0]:
        return False
    return a[0] != 0 or a[1] == b[1]


def _jsonable(obj: Any, what: str) -> Any:
    """A JSON-ready copy of a config-like object (pydantic model, dataclass with to_dict, mapping)."""
    if obj is None:
        return None
    if hasattr(obj, "model_dump"):
        return obj.model_dump(mode="json")
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    if isinstance(obj, Mapping):
        out = dict(obj)
    else:
        raise TypeError(f"save_bundle: {what} must be a dict (or an object with to_dict/model_dump), "
                        f"got {type(obj).__name__}")
    try:
        json.dumps(out, default=str)
    except (TypeError, ValueError) as exc:  # pragma: no cover - default=str makes nearly anything pass
        raise TypeError(f"save_bundle: {what} is not JSON-serialisable: {exc}") from None
    return out


def _objective(obj: Any) -> tuple[Any, str | None]:
    """``(JSON form, short label)`` of an objective given as a label, a LossConfig or its dict."""
    if obj is None or isinstance(obj, str):
        return obj, obj
    label = obj.label() if callable(getattr(obj, "label", None)) else None
    data = _jsonable(obj, "objective")
    if label is None and isinstance(data, dict) and data.get("kind"):
        try:
            from amber2.training.config import LossConfig

            label = LossConfig(**data).label()
        except Exception:  # a dict from another version: keep its kind
            label = str(data["kind"])
    return data, label


def bundle_encoder_specs(encoders: Mapping[str, Any], dims: Mapping[str, int]) -> dict[str, dict[str, Any]]:
    """Normalise the ``encoders`` argument of :func:`save_bundle` to ``{modality: spec dict}``.

    Args:
        encoders: ``{modality: Encoder | spec dict}`` (an :class:`amber2.encoders.Encoder` gives its
            ``.spec``; its ``.dim`` is checked against the model).
        dims: The model's input width per modality.

    Returns:
        Spec dicts for the modalities that have an encoder.

    Raises:
        ValueError: An encoder for a modality the model does not have, or whose width differs from the
            model's input width.
    """
    from amber2.encoders.base import Encoder

    out: dict[str, dict[str, Any]] = {}
    for m, enc in encoders.items():
        if m not in dims:
            raise ValueError(f"save_bundle: encoder given for modality {m!r}, but the model's modalities are "
                             f"{list(dims)}")
        if isinstance(enc, Encoder):
            if int(enc.dim) != int(dims[m]):
                raise ValueError(f"save_bundle: the {m!r} encoder gives {enc.dim}-d vectors but the model's "
                                 f"{m!r} head takes {dims[m]}-d inputs")
            out[m] = dict(enc.spec)
        elif isinstance(enc, Mapping):
            if "kind" not in enc:
                raise ValueError(f"save_bundle: encoder spec for {m!r} has no 'kind' (got {dict(enc)})")
            out[m] = dict(enc)
        else:
            raise TypeError(f"save_bundle: encoder for {m!r} must be an Encoder or a spec dict, "
                            f"got {type(enc).__name__}")
    missing = [m for m in dims if m not in out]
    if missing:
        log.warning("bundle: no encoder for modality %s; predictions will need those embeddings given directly",
                    missing)
    return out


def save_bundle(
    path: str | os.PathLike[str],
    model: Any,
    *,
    classes: list[str],
    encoders: Mapping[str, Any],
    label_policy: Any = None,
    training_config: Any = None,
    metrics: Mapping[str, Any] | None = None,
    objective: Any = None,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Save a trained model as a bundle directory (safetensors + JSON; never pickle).

    Args:
        path: Output directory (created; existing bundle files are replaced atomically, file by file).
        model: The :class:`amber2.model.AmbER2Model` (e.g. ``fit_model(...).model``).
        classes: Class names in the model's output order (length ``n_classes``).
        encoders: ``{modality: Encoder or encoder spec dict}`` that made the training embeddings (e.g.
            ``build_encoders("offline")`` or the ``spec`` of an embedding cache). Predictions on audio
            and text rebuild these encoders.
        label_policy: The :class:`amber2.labels.LabelPolicy` (or its dict) that made the targets.
        training_config: The training configuration (a pydantic config or a dict).
        metrics: Validation / test metrics to keep with the model (any JSON dict).
        objective: The training objective: a :class:`amber2.training.config.LossConfig`, its dict, or a
            label such as ``"amber2(lm=0.5,k=4)"``; stored as given plus its short label
            (``objective_label``).
        extra: Any further JSON-ready metadata (kept under ``metadata["extra"]``).

    Returns:
        The bundle directory.

    Raises:
        ValueError: Class names that do not match the model's outputs, encoders that do not match its
            modalities or widths.
        TypeError: Metadata that is not JSON-ready.
    """
    config = model.config
    if len(classes) != config.n_classes:
        raise ValueError(f"save_bundle: {len(classes)} class names for a model with {config.n_classes} outputs")
    if len(set(map(str, classes))) != len(classes):
        raise ValueError(f"save_bundle: duplicate class names in {list(classes)}")
    metadata = {
        "bundle_format": BUNDLE_FORMAT,
        "encoders": bundle_encoder_specs(encoders, config.dims),
        "label_policy": _jsonable(label_policy, "label_policy"),
        "training_config": _jsonable(training_config, "training_config") or {},
        "metrics": _jsonable(metrics, "metrics") or {},
        "objective": _objective(objective)[0],
        "objective_label": _objective(objective)[1],
        "seed": int(getattr(model, "seed", 0)),
    }
    if extra:
        metadata["extra"] = _jsonable(extra, "extra")
    out = save_checkpoint(path, model, classes=[str(c) for c in classes], metadata=metadata)
    log.info("saved bundle %s (%d classes, heads %s)", out, len(classes), list(config.head_names))
    return out


def read_bundle_info(path: str | os.PathLike[str], *, allow_version_mismatch: bool = False) -> dict[str, Any]:
    """Read and check a bundle's ``model.json`` (no weights are loaded).

    Args:
        path: The bundle directory.
        allow_version_mismatch: Load a bundle written by an incompatible amber2 version
            (:func:`versions_compatible`) anyway, with a logged warning. Newer formats are still refused.

    Returns:
        The description dict (``format_version``, ``amber2_version``, ``model``, ``classes``,
        ``metadata``).

    Raises:
        BundleError: The directory or a file is missing, the JSON is malformed, or the bundle comes from
            an incompatible amber2 (newer format; another version series unless ``allow_version_mismatch``).
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise BundleError(f"model bundle {p} does not exist")
    if not p.is_dir():
        raise BundleError(f"model bundle {p} is a file; a bundle is a directory holding {META} and {WEIGHTS}")
    missing = [f for f in (META, WEIGHTS) if not (p / f).is_file()]
    if missing:
        raise BundleError(f"model bundle {p} is incomplete: missing {', '.join(missing)} "
                          f"(a bundle holds {META} and {WEIGHTS}; was it copied whole?)")
    try:
        if not verify_checkpoint(p):
            log.warning("bundle %s has no checksums.json (saved before amber2 checked bundle integrity); "
                        "its files cannot be verified", p)
    except CheckpointError as exc:
        raise BundleError(str(exc)) from None
    try:
        meta = json.loads((p / META).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleError(f"{p / META} is not valid JSON: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != "amber2.checkpoint":
        raise BundleError(f"{p / META} is not an amber2 model description (no format 'amber2.checkpoint')")
    written_by = str(meta.get("amber2_version", "unknown"))
    from amber2.training.checkpoint import CHECKPOINT_FORMAT

    try:
        fmt = int(meta.get("format_version", 0))
    except (TypeError, ValueError):
        raise BundleError(f"{p / META}: format_version {meta.get('format_version')!r} is not a number") from None
    if fmt > CHECKPOINT_FORMAT:
        raise BundleError(f"bundle {p} has checkpoint format {fmt} (written by amber2 {written_by}); this amber2 "
                          f"{__version__} reads format <= {CHECKPOINT_FORMAT}: upgrade amber2")
    md = meta.get("metadata") or {}
    if not isinstance(md, dict):
        raise BundleError(f"{p / META}: 'metadata' must be a JSON object")
    raw_bfmt = md.get("bundle_format", BUNDLE_FORMAT)
    if isinstance(raw_bfmt, bool) or not isinstance(raw_bfmt, int) or raw_bfmt < 1:
        raise BundleError(f"{p / META}: metadata.bundle_format must be a whole number >= 1, got {raw_bfmt!r}")
    bfmt = raw_bfmt
    if bfmt > BUNDLE_FORMAT:
        raise BundleError(f"bundle {p} has bundle format {bfmt} (written by amber2 {written_by}); this amber2 "
                          f"{__version__} reads bundle format <= {BUNDLE_FORMAT}: upgrade amber2")
    _check_version(p, written_by, allow_version_mismatch)
    if "model" not in meta or "classes" not in meta:
        raise BundleError(f"{p / META} lacks the model config or the class names")
    classes = meta["classes"]
    if not isinstance(classes, list) or not all(isinstance(c, str) and c for c in classes) \
            or len(set(classes)) != len(classes):
        raise BundleError(f"{p / META}: 'classes' must be a list of distinct non-empty names, got {classes!r}")
    n_out = (meta.get("model") or {}).get("n_classes") if isinstance(meta.get("model"), dict) else None
    if n_out is not None and n_out != len(classes):
        raise BundleError(f"{p / META}: {len(classes)} class name(s) {classes} for a model with {n_out} outputs")
    return meta


def _check_version(p: Path, written_by: str, allow_version_mismatch: bool) -> None:
    """Refuse (or, when allowed, warn about) a bundle from an incompatible amber2 version."""
    if written_by == __version__:
        return
    if versions_compatible(written_by, __version__):
        log.warning("bundle %s was saved by amber2 %s; this is amber2 %s (compatible versions: loading it)",
                    p, written_by, __version__)
        return
    ours, theirs = _major_minor(__version__), _major_minor(written_by)
    rule = ("before 1.0 only bundles of the same major.minor series are compatible" if ours is None or ours[0] == 0
            else "from 1.0 on only bundles of the same major version are compatible")
    saved = f"amber2 {written_by}" if theirs is not None else f"an unknown amber2 (amber2_version {written_by!r})"
    if allow_version_mismatch:
        log.warning("bundle %s was saved by %s; this is amber2 %s (%s): loading it anyway because "
                    "allow_version_mismatch=True; check its predictions", p, saved, __version__, rule)
        return
    matching = f"amber2 {_series(ours)}" if ours is not None else f"amber2 {__version__}"
    original = f"amber2 {_series(theirs)}" if theirs is not None else "the amber2 that saved it"
    raise BundleError(
        f"bundle {p} was saved by {saved}, but this is amber2 {__version__} ({rule}). To proceed, re-export "
        f"the model with {matching} (re-train it), use it with {original}, or pass allow_version_mismatch=True "
        "(CLI: --allow-version-mismatch) to load it anyway"
    )


def load_bundle(
    path: str | os.PathLike[str], *, device: str = "cpu", allow_version_mismatch: bool = False
) -> tuple[Any, dict[str, Any]]:
    """Load a bundle's model and description.

    Args:
        path: The bundle directory.
        device: Torch device for the model (``cpu``, ``cuda``, ``cuda:1``).
        allow_version_mismatch: Load a bundle from an incompatible amber2 version anyway (see
            :func:`read_bundle_info`).

    Returns:
        ``(AmbER2Model in eval mode on device, description dict)``.

    Raises:
        BundleError: See :func:`read_bundle_info`; also weights that cannot be read or do not fit.
    """
    meta = read_bundle_info(path, allow_version_mismatch=allow_version_mismatch)
    try:
        model, _ = load_checkpoint(path, map_location="cpu")
    except BundleError:
        raise
    except CheckpointError as exc:
        raise BundleError(str(exc)) from None
    except (ValueError, TypeError, KeyError) as exc:  # ModelConfig rejected the stored config
        raise BundleError(f"{Path(path) / META}: bad model description: {exc}") from None
    except Exception as exc:  # safetensors raises its own error types for corrupt files
        raise BundleError(f"{Path(path) / WEIGHTS}: cannot read the weights ({type(exc).__name__}: {exc})") from None
    return model.to(device).eval(), meta
