"""The encoder interface, fingerprints, devices and model resolution shared by every encoder.

An encoder turns in-memory inputs into one float32 vector per item:

* audio encoders: ``encode(waveforms: list[np.ndarray], sample_rate: int) -> (n, d)``;
* text encoders: ``encode(texts: list[str]) -> (n, d)``.

Its ``spec`` is a JSON dict that rebuilds it (:func:`amber2.encoders.build_encoder`) and its
``fingerprint`` is the SHA-256 of the *resolved* spec: model id or path, the weights' revision or
content hash, layer, pooling, sample rate, compute dtype and every option that changes the output,
plus :data:`ALGORITHM_VERSION`. The embedding cache is keyed by it, so changing any of these gives a
new cache folder and never mixes embeddings.
"""

from __future__ import annotations

import contextlib
import copy
import os
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from amber2.utils.fingerprint import hash_file, hash_json
from amber2.utils.logging import get_logger

__all__ = [
    "ALGORITHM_VERSION",
    "AudioEncoder",
    "Encoder",
    "EncoderError",
    "TextEncoder",
    "encode_isolating_failures",
    "parse_layer",
    "plan_batches",
    "quiet_hf_loading",
    "resolve_device",
    "resolve_dtype",
    "resolve_model_dir",
    "warn_identity",
]

log = get_logger(__name__)

#: Bumped whenever a change in amber2 changes the embeddings an encoder produces.
ALGORITHM_VERSION = 1

_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".h5", ".msgpack")
_SNAPSHOT_RE = re.compile(r"^[0-9a-f]{40}$")


class EncoderError(RuntimeError):
    """An encoder cannot be built or run (bad spec, model not available offline, ...)."""


class Encoder(ABC):
    """Base class of all encoders.

    Attributes:
        modality: ``"audio"``, ``"text"`` or a user feature name.
        kind: The encoder family (``hf-audio``, ``hf-text``, ``opensmile``, ``precomputed``).
        device: The torch device it runs on (``"cpu"`` for encoders that do not use torch).
        thread_safe: True when several threads may call it at once (openSMILE, which releases the
            GIL); others (Hugging Face models, whose fast tokenizers must not be shared between
            threads) run under a per-encoder lock when predictions are made from several threads.
        batch_size: Most items per call during extraction.
    """

    modality: str = ""
    kind: str = ""
    device: str = "cpu"
    thread_safe: bool = False
    batch_size: int = 32

    @property
    @abstractmethod
    def spec(self) -> dict[str, Any]:
        """JSON dict sufficient to rebuild this encoder (see :func:`amber2.encoders.build_encoder`)."""

    @property
    @abstractmethod
    def dim(self) -> int:
        """Length of the vectors this encoder produces."""

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the resolved spec (what the embedding cache is keyed by).

        Where the spec carries a content hash of the weights or data (``weights``, ``sha256``), the
        location (``model`` folder, ``path``) is left out, so that moving a folder keeps the cache.
        """
        spec = dict(self.spec)
        if "weights" in spec:
            spec.pop("model", None)
        if "sha256" in spec:
            spec.pop("path", None)
        return hash_json({"spec": spec, "algorithm": ALGORITHM_VERSION})

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec!r})"


class AudioEncoder(Encoder):
    """An encoder of waveforms.

    Attributes:
        sample_rate: The rate (Hz) the encoder works at; inputs at other rates are resampled.
        min_samples: Shortest clip (at ``sample_rate``) it can encode.
        encode_in_workers: True when the encoder is cheap to build and runs per clip on the CPU
            (openSMILE): extraction then runs it inside the data-loader worker processes.
        batch_size: Most clips per forward pass during extraction.
        max_batch_seconds: Padded audio per forward pass during extraction (seconds).
        max_seconds: Longest segment the model is given (None: any length).
        long_audio: What happens to a clip over ``max_seconds``: ``"chunk"`` (encoded in chunks) or
            ``"truncate"`` (only its first ``max_seconds`` count; extraction then reads no more).
    """

    modality = "audio"
    sample_rate: int = 16000
    min_samples: int = 1
    encode_in_workers: bool = False
    batch_size: int = 8
    max_batch_seconds: float = 16.0
    max_seconds: float | None = None
    long_audio: str = "chunk"

    @abstractmethod
    def encode(self, waveforms: list[np.ndarray], sample_rate: int) -> np.ndarray:
        """Encode mono waveforms (any length, any rate) into a float32 array ``(n, dim)``."""

    def encode_prepared(self, waveforms: list[np.ndarray]) -> np.ndarray:
        """Encode mono float32 waveforms already at :attr:`sample_rate` (extraction's path).

        Encoders that resample inside :meth:`encode` override it to skip that step.
        """
        return self.encode(waveforms, self.sample_rate)


class TextEncoder(Encoder):
    """An encoder of strings."""

    modality = "text"

    @abstractmethod
    def encode(self, texts: list[str]) -> np.ndarray:
        """Encode strings into a float32 array ``(n, dim)``."""

    def encode_with_notes(self, texts: list[str]) -> tuple[np.ndarray, list[str | None]]:
        """Like :meth:`encode`, plus one note per text (e.g. that it was truncated) or None."""
        return self.encode(texts), [None] * len(texts)


# ---------------------------------------------------------------------- helpers
_In = TypeVar("_In")
_Out = TypeVar("_Out")


def encode_isolating_failures(encode: Callable[[list[_In]], Sequence[_Out]],
                              inputs: list[_In]) -> list[_Out | Exception]:
    """Encode a batch in one call; if that call fails, encode each input alone.

    A batch can fail because of one bad input (or run out of memory); encoding the inputs one by one
    then isolates the culprit, so one bad clip or text fails alone and the rest of the batch is kept.

    Args:
        encode: Maps a list of inputs to one result per input (e.g. rows of an ``(n, d)`` array).
        inputs: The batch.

    Returns:
        Per input, its result or the exception its single-input call raised.
    """
    try:
        out = encode(inputs)
        return [out[j] for j in range(len(inputs))]
    except Exception as exc:
        log.debug("a batch of %d inputs failed (%s: %s); encoding them one by one", len(inputs),
                  type(exc).__name__, exc)
    results: list[_Out | Exception] = []
    for x in inputs:
        try:
            results.append(encode([x])[0])
        except Exception as exc1:
            results.append(exc1)
    return results


def parse_layer(layer: Any) -> int | str:
    """Normalise a layer choice: ``"last"``, ``"mean"`` or an integer hidden-state index.

    Index 0 is the transformer's input (embeddings), ``L`` the last layer's output; negative
    indices count from the end (-1 is the last layer).
    """
    if layer is None:
        return "last"
    if isinstance(layer, (int, np.integer)) and not isinstance(layer, bool):
        return int(layer)
    s = str(layer).strip().lower()
    if s in ("last", "mean"):
        return s
    try:
        return int(s)
    except ValueError:
        raise EncoderError(f"layer must be 'last', 'mean' or an integer, got {layer!r}") from None


def resolve_device(device: Any = None) -> str:
    """The torch device to use: ``device`` if given, else ``cuda:<LOCAL_RANK>`` when a GPU exists, else cpu."""
    import torch

    if device is not None:
        return str(device)
    if torch.cuda.is_available():
        return f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    return "cpu"


def resolve_dtype(dtype: str | None, device: str) -> str:
    """Compute dtype: ``auto`` means bfloat16 autocast on a GPU and float32 elsewhere.

    Args:
        dtype: ``auto``/None, ``float32`` or ``bfloat16``.
        device: The torch device string.

    Returns:
        ``"float32"`` or ``"bfloat16"``.
    """
    d = (dtype or "auto").lower()
    aliases = {"fp32": "float32", "float": "float32", "bf16": "bfloat16"}
    d = aliases.get(d, d)
    if d == "auto":
        return "bfloat16" if str(device).startswith("cuda") else "float32"
    if d not in ("float32", "bfloat16"):
        raise EncoderError(f"dtype must be 'auto', 'float32' or 'bfloat16', got {dtype!r}")
    return d


_WEIGHTS_MEMO: dict[tuple[str, int, int], str] = {}


def _hash_weights(folder: Path) -> str:
    """SHA-256 over the weight files of a model folder (memoised on path, size and mtime)."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in _WEIGHT_SUFFIXES)
    if not files:
        files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix == ".json")
    parts = []
    for f in files:
        st = f.stat()
        key = (str(f.resolve()), st.st_size, st.st_mtime_ns)
        if key not in _WEIGHTS_MEMO:
            _WEIGHTS_MEMO[key] = hash_file(f)
        parts.append(f"{f.name}:{_WEIGHTS_MEMO[key]}")
    return hash_json(parts)


def resolve_model_dir(model: str, *, what: str = "model") -> tuple[Path, dict[str, str]]:
    """Find a model's local folder and its identity (revision or weights hash).

    ``model`` is a local folder or a Hugging Face hub id. A hub id is looked up in the local
    Hugging Face cache first; if it is not there it is downloaded (which needs the network).

    Args:
        model: Local directory or hub id.
        what: Word used in error messages.

    Returns:
        ``(folder, identity)`` where identity has ``revision`` (a hub commit) or ``weights``
        (SHA-256 of the weight files of a local folder).

    Raises:
        EncoderError: the folder has no config.json, or the hub id is neither cached nor reachable.
    """
    p = Path(model).expanduser()
    if p.is_dir():
        if not (p / "config.json").is_file():
            raise EncoderError(f"{what} folder {p} has no config.json (not a Hugging Face model folder)")
        p = p.resolve()
        m = _SNAPSHOT_RE.match(p.name)
        if m and p.parent.name == "snapshots":
            return p, {"revision": p.name}
        return p, {"weights": _hash_weights(p)}
    if p.exists():
        raise EncoderError(f"{what} {model!r} is a file; pass a model folder or a Hugging Face hub id")
    try:
        from huggingface_hub import snapshot_download
    except ImportError as exc:  # pragma: no cover - transformers depends on it
        raise EncoderError(f"cannot resolve hub id {model!r}: huggingface_hub is not installed") from exc
    patterns = ["*.json", "*.txt", "*.model", "*.safetensors"]
    try:
        folder = Path(snapshot_download(model, local_files_only=True, allow_patterns=patterns))
        if not any(folder.glob("*.safetensors")) and not any(folder.glob("*.bin")):
            raise FileNotFoundError("no weights in the cached snapshot")
    except Exception:
        try:
            folder = Path(snapshot_download(model, allow_patterns=patterns))
            if not any(folder.glob("*.safetensors")):
                folder = Path(snapshot_download(model, allow_patterns=[*patterns, "pytorch_model.bin"]))
        except Exception as exc:
            raise EncoderError(
                f"cannot load {what} {model!r}: it is not in the local Hugging Face cache and the hub "
                f"could not be reached ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}). "
                f"Download it once where there is a network (`hf download {model}`) or pass a "
                f"local model folder; the `offline` preset needs no download."
            ) from exc
    return folder.resolve(), {"revision": folder.name}


def spec_copy(spec: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of a spec (specs are small JSON dicts)."""
    return copy.deepcopy(spec)


def plan_batches(
    lengths: list[int] | np.ndarray, *, max_batch_samples: int, batch_size: int, max_padding: float = 0.1
) -> list[list[int]]:
    """Group item indices into length-bucketed batches.

    Items are sorted by length (longest first) and packed greedily while the padded size
    ``n_items * longest`` stays within ``max_batch_samples``, ``n_items <= batch_size``, and each item
    is at least ``(1 - max_padding) * longest`` long (so padding wastes at most ``max_padding`` of
    any item's compute; on a large corpus neighbours in length are nearly equal and batches fill up).
    An item longer than the budget gets a batch of its own.

    Args:
        lengths: Length of each item (samples, tokens, ...).
        max_batch_samples: Budget of padded elements per batch (> 0).
        batch_size: Most items per batch (>= 1).
        max_padding: Largest fraction of padding allowed for an item, in [0, 1] (1: no limit).

    Returns:
        Lists of indices into ``lengths``; every index appears exactly once.
    """
    order = np.argsort(-np.asarray(lengths, dtype=np.int64), kind="stable")
    batches: list[list[int]] = []
    cur: list[int] = []
    longest = 0
    for i in order.tolist():
        n = int(lengths[i])
        if cur and ((len(cur) + 1) * max(longest, n) > max_batch_samples or len(cur) >= batch_size
                    or n < (1.0 - max_padding) * longest):
            batches.append(cur)
            cur, longest = [], 0
        cur.append(i)
        longest = max(longest, n)
    if cur:
        batches.append(cur)
    return batches


def checked_layer(layer: Any, n_layers: int, model: str) -> int | str:
    """:func:`parse_layer`, then check an integer index against a model with ``n_layers`` layers.

    Raises:
        EncoderError: the index is outside ``-(n_layers + 1) .. n_layers``.
    """
    parsed = parse_layer(layer)
    if isinstance(parsed, int) and not -(n_layers + 1) <= parsed <= n_layers:
        raise EncoderError(f"layer {parsed} out of range for {model!r}: hidden states are 0..{n_layers}")
    return parsed


def load_frozen_model(folder: Path, device: str) -> Any:
    """A Hugging Face ``AutoModel`` from a local folder, in eval mode on ``device``, gradients off."""
    from transformers import AutoModel

    with quiet_hf_loading():
        model = AutoModel.from_pretrained(folder, local_files_only=True).eval().to(device)
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def warn_identity(model: str, wanted: dict[str, Any], found: dict[str, str]) -> None:
    """Warn when a spec names a revision / weights hash that differs from the model found."""
    for key in ("revision", "weights"):
        if wanted.get(key) and found.get(key) and wanted[key] != found[key]:
            log.warning(
                "%s: the spec was made with %s %s but the model found has %s; embeddings may differ",
                model, key, str(wanted[key])[:12], str(found[key])[:12],
            )



@contextlib.contextmanager
def quiet_hf_loading() -> Iterator[None]:
    """Silence transformers' per-tensor "Loading weights" progress bars while a model loads."""
    from transformers.utils import logging as hf_logging

    was = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was:
            hf_logging.enable_progress_bar()
