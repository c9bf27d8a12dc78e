"""A loaded AmbER² model: encoders + heads, predictions on files, arrays, folders, manifests or embeddings.

    >>> import amber2
    >>> model = amber2.load("runs/my-model")                                  # doctest: +SKIP
    >>> p = model.predict("clip.wav", text="I can't believe you did that.")[0] # doctest: +SKIP
    >>> p.label, p.distribution, p.entropy, p.conflict, p.heads["audio"]      # doctest: +SKIP

The encoders named in the bundle are built on first use (predictions from embeddings never build them).
Every method is safe to call from several threads at once (the web service does): each encoder runs
under its own lock unless it is known to be thread-safe (openSMILE), the heads run in
``torch.inference_mode``.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import softmax

from amber2.encoders.base import AudioEncoder, Encoder, EncoderError, TextEncoder, encode_isolating_failures
from amber2.inference.bundle import BundleError, load_bundle, save_bundle
from amber2.inference.inputs import InputItem, attach_transcripts, collect_inputs, read_transcripts
from amber2.inference.prediction import Prediction, modality_conflict
from amber2.metrics import row_entropy
from amber2.utils.logging import get_logger
from amber2.utils.progress import progress_bar

__all__ = ["AmbER2", "load"]

log = get_logger(__name__)

FUSION = "fusion"

class AmbER2:
    """A trained AmbER² model ready for predictions.

    Build it with :meth:`from_pretrained` (or :func:`amber2.load`), or wrap an in-memory model.

    Args:
        model: The :class:`amber2.model.AmbER2Model`.
        classes: Class names in output order.
        encoders: ``{modality: encoder spec dict or Encoder}`` used on audio and text.
        metadata: The bundle's metadata (label policy, training config, metrics, objective).
        device: Torch device of the heads and of encoders built from specs.
        path: Where the bundle was loaded from (informational).
        encoder_options: Runtime options for building encoders (``batch_size``, ``max_batch_seconds``).
    """

    def __init__(
        self,
        model: Any,
        *,
        classes: Sequence[str],
        encoders: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
        device: str = "cpu",
        path: str | os.PathLike[str] | None = None,
        encoder_options: Mapping[str, Any] | None = None,
        amber2_version: str | None = None,
    ):
        self.model = model.eval()
        self.classes = [str(c) for c in classes]
        if len(self.classes) != self.config.n_classes:
            raise ValueError(f"{len(self.classes)} class names for a model with {self.config.n_classes} outputs")
        self.metadata = dict(metadata or {})
        self.device = str(device)
        self.path = None if path is None else Path(path)
        self.amber2_version = amber2_version
        self._encoder_options = dict(encoder_options or {})
        self._specs: dict[str, Any] = {}
        self._encoders: dict[str, Encoder] = {}
        for m, e in (encoders or {}).items():
            if m not in self.config.dims:
                raise ValueError(f"encoder for modality {m!r}, but the model's modalities are {self.modalities}")
            if isinstance(e, Encoder):
                self._check_dim(m, e)
                self._encoders[m] = e
                self._specs[m] = dict(e.spec)
            else:
                self._specs[m] = dict(e)
        self._build_lock = threading.Lock()
        self._locks = {m: threading.Lock() for m in self.config.dims}
        self._asr: dict[str, Any] = {}

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_pretrained(
        cls,
        path: str | os.PathLike[str],
        *,
        device: str | None = None,
        encoders: Mapping[str, Any] | None = None,
        encoder_options: Mapping[str, Any] | None = None,
        allow_version_mismatch: bool = False,
    ) -> AmbER2:
        """Load a bundle directory written by :func:`amber2.save_bundle` (or :meth:`save_pretrained`).

        Args:
            path: The bundle directory.
            device: ``cpu``, ``cuda``, ``cuda:1``... (default: a GPU when available, else CPU).
            encoders: Replace some of the bundle's encoders (``{modality: Encoder or spec}``), e.g. to
                point a hub id at a local folder. Widths must match the model.
            encoder_options: Runtime options for the encoders (``batch_size``, ``max_batch_seconds``).
            allow_version_mismatch: Load a bundle saved by an incompatible amber2 version (another
                ``major.minor`` before 1.0, another ``major`` from 1.0 on) anyway, with a logged warning.

        Returns:
            The model, with encoders built lazily on the first prediction from audio or text.

        Raises:
            amber2.inference.BundleError: A missing or incompatible bundle (the message says which and
                what to do).
        """
        from amber2.encoders.base import resolve_device

        dev = resolve_device(device)
        net, meta = load_bundle(path, device=dev, allow_version_mismatch=allow_version_mismatch)
        md = meta.get("metadata") or {}
        specs: dict[str, Any] = dict(md.get("encoders") or {})
        specs.update(encoders or {})
        try:
            return cls(net, classes=meta["classes"], encoders=specs, metadata=md, device=dev, path=path,
                       encoder_options=encoder_options, amber2_version=meta.get("amber2_version"))
        except (ValueError, TypeError) as exc:  # classes that do not fit the outputs, bad encoder specs
            raise BundleError(f"bundle {path}: {exc}") from None

    def save_pretrained(self, path: str | os.PathLike[str]) -> Path:
        """Save this model (weights, classes, encoder specs and metadata) as a bundle directory."""
        bundle_meta = self.metadata
        extra = {k: v for k, v in bundle_meta.items() if k not in
                 ("bundle_format", "encoders", "label_policy", "training_config", "metrics", "objective",
                  "objective_label", "seed", "extra")}
        extra.update(bundle_meta.get("extra") or {})
        return save_bundle(path, self.model.cpu() if self.device != "cpu" else self.model, classes=self.classes,
                           encoders=self._specs, label_policy=bundle_meta.get("label_policy"),
                           training_config=bundle_meta.get("training_config"), metrics=bundle_meta.get("metrics"),
                           objective=bundle_meta.get("objective"), extra=extra or None)

    # ------------------------------------------------------------------ description
    @property
    def config(self) -> Any:
        """The :class:`amber2.model.ModelConfig`."""
        return self.model.config

    @property
    def modalities(self) -> list[str]:
        """Input modalities, in order."""
        return list(self.config.dims)

    @property
    def heads(self) -> list[str]:
        """All heads: the modalities, then ``fusion`` (with >= 2 modalities)."""
        return list(self.config.head_names)

    @property
    def student(self) -> str:
        """The head whose distribution is the prediction."""
        return str(self.config.student)

    @property
    def encoder_specs(self) -> dict[str, Any]:
        """``{modality: encoder spec}`` from the bundle."""
        return {m: dict(s) for m, s in self._specs.items()}

    @property
    def label_policy(self) -> dict[str, Any] | None:
        """The label policy that made the training targets (a dict), if recorded."""
        return self.metadata.get("label_policy")

    @property
    def training_config(self) -> dict[str, Any]:
        """The training configuration, if recorded."""
        return dict(self.metadata.get("training_config") or {})

    @property
    def metrics(self) -> dict[str, Any]:
        """Metrics stored with the model."""
        return dict(self.metadata.get("metrics") or {})

    @property
    def objective(self) -> str | None:
        """The training objective's short label, e.g. ``amber2(lm=0.5,k=4)`` (None if not recorded)."""
        label = self.metadata.get("objective_label")
        obj = self.metadata.get("objective")
        if label is None and obj is not None:
            return obj if isinstance(obj, str) else str(obj.get("kind", obj)) if isinstance(obj, dict) else str(obj)
        return label

    @property
    def objective_config(self) -> Any:
        """The training objective as recorded (a LossConfig dict, or a label)."""
        return self.metadata.get("objective")

    def describe(self) -> dict[str, Any]:
        """A JSON-ready summary (what the web service's /health and the page show)."""
        return {
            "classes": list(self.classes), "heads": self.heads, "student": self.student,
            "modalities": self.modalities, "dims": dict(self.config.dims), "objective": self.objective,
            "encoders": {m: {k: v for k, v in s.items() if k in ("kind", "model", "feature_set", "layer")}
                         for m, s in self._specs.items()},
            "metrics": self.metrics, "amber2_version": self.amber2_version,
            "path": None if self.path is None else os.fspath(self.path),
        }

    def __repr__(self) -> str:
        return (f"AmbER2(classes={self.classes}, heads={self.heads}, student={self.student!r}, "
                f"device={self.device!r}{'' if self.path is None else f', path={os.fspath(self.path)!r}'})")

    # ------------------------------------------------------------------ encoders
    def _check_dim(self, m: str, enc: Any) -> None:
        if int(enc.dim) != int(self.config.dims[m]):
            raise ValueError(f"the {m!r} encoder ({enc.kind}) gives {enc.dim}-d vectors but the model's {m!r} head "
                             f"takes {self.config.dims[m]}-d inputs: it is not the encoder the model was trained with")

    def encoder(self, modality: str) -> Encoder:
        """The encoder of ``modality``, built from the bundle's spec on first use.

        Raises:
            KeyError: The bundle has no encoder for this modality.
            amber2.encoders.EncoderError: It cannot be built (e.g. a hub model not available offline).
        """
        if modality in self._encoders:
            return self._encoders[modality]
        if modality not in self._specs:
            raise KeyError(f"the model has no encoder for modality {modality!r} (encoders: {sorted(self._specs)}); "
                           "give its embeddings with predict_embeddings()")
        with self._build_lock:
            if modality not in self._encoders:
                from amber2.encoders import build_encoder

                enc = build_encoder(self._specs[modality], modality=modality, device=self.device,
                                    **self._encoder_options)
                self._check_dim(modality, enc)
                self._encoders[modality] = enc
                log.debug("built the %s encoder: %r", modality, enc)
        return self._encoders[modality]

    def _audio_encoder(self) -> AudioEncoder:
        enc = self.encoder("audio")
        if not isinstance(enc, AudioEncoder):
            raise EncoderError(f"the model's audio encoder {enc!r} is not an audio encoder")
        return enc

    def _text_encoder(self) -> TextEncoder:
        enc = self.encoder("text")
        if not isinstance(enc, TextEncoder):
            raise EncoderError(f"the model's text encoder {enc!r} is not a text encoder")
        return enc

    def _guard(self, modality: str, enc: Encoder) -> Any:
        """The lock to hold while ``enc`` runs (a no-op context for thread-safe encoders)."""
        if enc.thread_safe:
            return contextlib.nullcontext()
        return self._locks[modality]

    def warm_up(self) -> AmbER2:
        """Build the audio and text encoders now (and run each once), so the first prediction is not slow."""
        if "audio" in self._specs or "audio" in self._encoders:
            enc = self._audio_encoder()
            sr = enc.sample_rate
            t = np.arange(sr // 2) / sr
            with self._guard("audio", enc):
                enc.encode([(0.1 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)], sr)
        if "text" in self._specs or "text" in self._encoders:
            enc = self._text_encoder()
            with self._guard("text", enc):
                enc.encode(["warm up"])
        return self

    def _asr_model(self, asr: Any) -> Any:
        from amber2.inference.asr import Transcriber

        if asr is None or isinstance(asr, Transcriber) or hasattr(asr, "transcribe"):
            return asr
        key = str(asr)
        with self._build_lock:
            if key not in self._asr:
                self._asr[key] = Transcriber(key, device=self.device)
        return self._asr[key]

    # ------------------------------------------------------------------ heads
    def predict_embeddings(
        self, X: Mapping[str, Any], *, heads: Sequence[str] | None = None
    ) -> dict[str, np.ndarray]:
        r"""Per-head distributions of embeddings.

        .. math:: p_h = \mathrm{softmax}(g_h(x_h)), \quad h \in \{\text{modalities}, \text{fusion}\}

        Args:
            X: ``{modality: (n, d_m) array}``; a modality may be left out (its head and the fusion head
                do not run).
            heads: Which heads to run (default: all whose inputs are given).

        Returns:
            ``{head: (n, C) float64 probabilities}``.

        Raises:
            ValueError: An unknown modality, a wrong width, NaN/inf, or row counts that differ.
        """
        import torch

        xs: dict[str, Any] = {}
        n = None
        for m, a in X.items():
            if m not in self.config.dims:
                raise ValueError(f"unknown modality {m!r}; the model takes {self.modalities}")
            arr = np.asarray(a.detach().cpu().numpy() if hasattr(a, "detach") else a, dtype=np.float32)
            if arr.ndim == 1:
                arr = arr[None, :]
            if arr.ndim != 2 or arr.shape[1] != self.config.dims[m]:
                raise ValueError(f"modality {m!r}: expected (n, {self.config.dims[m]}) embeddings, got {arr.shape}")
            if n is not None and arr.shape[0] != n:
                raise ValueError(f"modality {m!r} has {arr.shape[0]} rows, others have {n}")
            n = arr.shape[0]
            bad = ~np.isfinite(arr).all(axis=1)
            if bad.any():
                raise ValueError(f"modality {m!r}: NaN or inf in rows {np.flatnonzero(bad)[:8].tolist()}")
            xs[m] = torch.from_numpy(np.ascontiguousarray(arr)).to(self.device)
        if not xs:
            raise ValueError("no embeddings given")
        with torch.inference_mode():
            logits = self.model(xs, heads=heads)
        return {h: softmax(v.float().cpu().numpy().astype(np.float64), axis=-1) for h, v in logits.items()}

    def predict_proba(self, X: Mapping[str, Any]) -> np.ndarray:
        """The prediction's distribution ``(n, C)`` from embeddings (the student, else the fallback)."""
        probs = self.predict_embeddings(X)
        return self._choose(probs)[1]

    def _choose(self, probs: Mapping[str, np.ndarray]) -> tuple[str, np.ndarray]:
        """The student's distribution if it ran, else the one head that ran, else the mean of modality heads."""
        if self.student in probs:
            return self.student, probs[self.student]
        if len(probs) == 1:
            (h, p), = probs.items()
            return h, p
        mods = [h for h in probs if h != FUSION]
        if FUSION in probs:
            return FUSION, probs[FUSION]
        return f"mean({','.join(mods)})", np.mean([probs[h] for h in mods], axis=0)

    def _summaries(
        self, ids: Sequence[str], probs: Mapping[str, np.ndarray], missing: Sequence[str]
    ) -> list[Prediction]:
        """One prediction per row; a row whose output holds NaN or inf becomes a per-item failure."""
        bad = np.zeros(len(ids), dtype=bool)
        for v in probs.values():
            bad |= ~np.isfinite(v).all(axis=1)
        if bad.any():
            good = np.flatnonzero(~bad)
            kept = iter(self._summaries([ids[i] for i in good], {h: v[good] for h, v in probs.items()}, missing)
                        if len(good) else [])
            where = "" if self.path is None else f" (bundle {self.path})"
            return [
                Prediction(id=str(item_id), classes=list(self.classes), error_reason="non_finite_output",
                           error=f"item {str(item_id)!r}: the model's output holds NaN or inf{where}; the "
                                 "weights or this item's embedding are not usable")
                if bad[i] else next(kept)
                for i, item_id in enumerate(ids)
            ]
        head, p = self._choose(probs)
        ent = row_entropy(p)
        top = np.argmax(p, axis=1)
        mod_heads = {h: v for h, v in probs.items() if h != FUSION}
        conflict = modality_conflict(mod_heads) if len(mod_heads) >= 2 else None
        partial = self.student not in probs
        out = []
        for i, item_id in enumerate(ids):
            out.append(Prediction(
                id=str(item_id), classes=list(self.classes), probs=p[i].tolist(), head=head,
                label=self.classes[int(top[i])], confidence=float(p[i, top[i]]), entropy=float(ent[i]),
                heads={h: v[i].tolist() for h, v in probs.items()},
                conflict=None if conflict is None else float(conflict[i]), partial=partial, missing=list(missing),
            ))
        return out

    def predict_from_embeddings(self, X: Mapping[str, Any], ids: Sequence[str] | None = None) -> list[Prediction]:
        """Predictions (with entropy, per-head distributions and conflict) from embeddings.

        Args:
            X: ``{modality: (n, d_m)}``. A row of NaN in one modality marks that item's input as missing
                (the item is then predicted from the other heads and flagged ``partial``); a modality
                left out is missing for every item.
            ids: Item ids (default ``item0..``).

        Returns:
            One :class:`Prediction` per row.
        """
        arrays = {m: np.asarray(a.detach().cpu().numpy() if hasattr(a, "detach") else a, dtype=np.float32)
                  for m, a in X.items()}
        n = {a.shape[0] for a in arrays.values()}
        if len(n) != 1:
            raise ValueError(f"modalities have different row counts: { {m: a.shape for m, a in arrays.items()} }")
        (n_items,) = n
        ids = [f"item{i}" for i in range(n_items)] if ids is None else [str(i) for i in ids]
        if len(ids) != n_items:
            raise ValueError(f"{len(ids)} ids for {n_items} rows")
        present = {m: ~np.isnan(a).all(axis=1) if a.ndim == 2 else np.ones(len(a), bool) for m, a in arrays.items()}
        results: list[Prediction | None] = [None] * n_items
        keys = [tuple(m for m in arrays if present[m][i]) for i in range(n_items)]
        for key in dict.fromkeys(keys):
            idx = [i for i in range(n_items) if keys[i] == key]
            if not key:
                for i in idx:
                    results[i] = Prediction(id=ids[i], classes=list(self.classes), source="embeddings",
                                            error="no embeddings for any modality", error_reason="no_input",
                                            missing=list(self.modalities))
                continue
            probs = self.predict_embeddings({m: arrays[m][idx] for m in key})
            missing = [m for m in self.modalities if m not in key]
            for i, pred in zip(idx, self._summaries([ids[i] for i in idx], probs, missing)):
                pred.source = "embeddings"
                results[i] = pred
        return [r for r in results if r is not None]

    # ------------------------------------------------------------------ audio + text
    def predict(
        self,
        inputs: Any,
        *,
        text: str | Sequence[str | None] | None = None,
        transcripts: Mapping[str, str | None] | str | os.PathLike[str] | None = None,
        sample_rate: int | None = None,
        ids: Sequence[str] | None = None,
        asr: Any = None,
        batch_size: int = 16,
        max_seconds: float | None = None,
        progress: bool = False,
        on_error: str = "record",
    ) -> list[Prediction]:
        """Predict the emotion distribution of audio clips, with or without transcripts.

        Args:
            inputs: An audio file, a folder (of audio files, a ``manifest.*`` or a prepared corpus), a
                manifest file, a 1-D waveform array, or a list of these (see :mod:`amber2.inference.inputs`).
            text: Transcript(s) given directly: one string for one input, or a list aligned with the
                items (None for an item without transcript).
            transcripts: ``{id | file name | stem | path: transcript}`` or a transcripts file (CSV/TSV/
                JSONL/JSON/TXT, see :func:`amber2.inference.read_transcripts`); overrides a manifest's.
            sample_rate: Rate of array inputs (Hz).
            ids: Ids of the items (default: stems, manifest ids, ``item<k>``).
            asr: An ASR model (local folder, cached hub id, or a :class:`~amber2.inference.Transcriber`)
                to transcribe the clips that have no transcript.
            batch_size: Items encoded together.
            max_seconds: Reject clips longer than this (error ``too_long``); None accepts any length.
            progress: Show a progress bar.
            on_error: ``record`` (the item's :class:`Prediction` carries ``error``; the batch goes on) or
                ``raise`` (the first error raises :class:`ValueError`).

        Returns:
            One :class:`Prediction` per item, in input order. Items without a transcript are predicted by
            the heads that can run (the audio expert), flagged ``partial``.
        """
        return list(self.iter_predict(inputs, text=text, transcripts=transcripts, sample_rate=sample_rate, ids=ids,
                                      asr=asr, batch_size=batch_size, max_seconds=max_seconds, progress=progress,
                                      on_error=on_error))

    def prepare_items(
        self,
        inputs: Any,
        *,
        text: str | Sequence[str | None] | None = None,
        transcripts: Mapping[str, str | None] | str | os.PathLike[str] | None = None,
        sample_rate: int | None = None,
        ids: Sequence[str] | None = None,
    ) -> list[InputItem]:
        """Resolve inputs and transcripts into items (what :meth:`iter_predict` runs on)."""
        items = collect_inputs(inputs, sample_rate=sample_rate, ids=ids)
        if text is not None:
            texts = [text] if isinstance(text, str) else list(text)
            if len(texts) != len(items):
                raise ValueError(f"{len(texts)} transcript(s) in text= for {len(items)} input item(s)")
            for it, t in zip(items, texts):
                t = None if t is None else str(t).strip() or None
                it.transcript, it.transcript_source = t, ("given" if t else None)
        if transcripts is not None:
            mapping = transcripts if isinstance(transcripts, Mapping) else read_transcripts(transcripts)
            n = attach_transcripts(items, mapping)
            log.info("transcripts: %d of %d items matched", n, len(items))
        return items

    def iter_predict(self, inputs: Any, *, text: Any = None, transcripts: Any = None, sample_rate: int | None = None,
                     ids: Sequence[str] | None = None, asr: Any = None, batch_size: int = 16,
                     max_seconds: float | None = None, progress: bool = False,
                     on_error: str = "record") -> Iterator[Prediction]:
        """Like :meth:`predict`, yielding predictions batch by batch (for streaming writers)."""
        if on_error not in ("record", "raise"):
            raise ValueError(f"on_error must be 'record' or 'raise', got {on_error!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        items = self.prepare_items(inputs, text=text, transcripts=transcripts, sample_rate=sample_rate, ids=ids)
        transcriber = self._asr_model(asr)
        with progress_bar(progress) as bar:
            task = bar.add_task("predict", total=len(items))
            for start in range(0, len(items), batch_size):
                chunk = items[start:start + batch_size]
                for pred in self.predict_items(chunk, asr=transcriber, max_seconds=max_seconds):
                    if on_error == "raise" and not pred.ok:
                        raise ValueError(pred.error)
                    yield pred
                bar.advance(task, len(chunk))

    def predict_waveform(self, waveform: np.ndarray, sample_rate: int, *, transcript: str | None = None,
                         item_id: str = "clip", asr: Any = None) -> Prediction:
        """One prediction for one mono waveform (the web service's path)."""
        t = None if transcript is None else str(transcript).strip() or None
        item = InputItem(id=item_id, waveform=np.asarray(waveform), sample_rate=int(sample_rate), transcript=t,
                         transcript_source="given" if t else None)
        return self.predict_items([item], asr=self._asr_model(asr))[0]

    # ------------------------------------------------------------------ the batch engine
    def _load(self, item: InputItem, sr: int, max_seconds: float | None) -> tuple[np.ndarray, float]:
        """Decode / validate / resample one item's audio to ``sr``; raises AudioError."""
        from amber2.encoders.audio import (
            AudioError,
            audio_duration,
            check_sample_rate,
            load_audio,
            resample,
            validate_waveform,
        )

        if item.path is not None:
            if max_seconds is not None:
                dur = audio_duration(item.path)
                if dur > max_seconds:
                    raise AudioError(f"item {item.id!r}: {item.path}: {dur:.1f} s of audio is over the limit of "
                                     f"{max_seconds:g} s", "too_long")
            x = load_audio(item.path, sr, item_id=item.id)
        else:
            assert item.waveform is not None and item.sample_rate
            w = np.asarray(item.waveform)
            if w.ndim != 1:
                raise AudioError(f"item {item.id!r}: expected mono samples, got shape {w.shape}", "unreadable")
            x = validate_waveform(w, item_id=item.id, silence_threshold=0.0)
            check_sample_rate(int(item.sample_rate), item_id=item.id)
            x = validate_waveform(resample(x, int(item.sample_rate), sr), item_id=item.id)
        dur = x.size / sr
        if max_seconds is not None and dur > max_seconds + 1e-9:
            raise AudioError(f"item {item.id!r}: {dur:.1f} s of audio is over the limit of {max_seconds:g} s",
                             "too_long")
        return x, dur

    def _no_input_message(self, item: InputItem) -> str:
        """Why an item yields no embedding: no input at all, or inputs whose modality has no encoder."""
        given = {"audio": item.has_audio, "text": bool(item.transcript)}
        no_encoder = [m for m in self.modalities if m not in self._specs and m not in self._encoders]
        unusable = [m for m in no_encoder if given.get(m)]
        if unusable or (no_encoder and not any(given.get(m) for m in self.modalities if m not in no_encoder)):
            names = " and ".join(f"{m} ({'audio' if m == 'audio' else 'a transcript'} given)" if given.get(m) else m
                                 for m in no_encoder)
            return (f"item {item.id!r}: the model has no encoder for {names}, so its input cannot be embedded (a "
                    "model trained from arrays (--arrays) has no encoders). Attach encoders when loading, e.g. "
                    "amber2.load(MODEL, encoders={'audio': 'egemaps', 'text': 'minilm'}) with specs that give the "
                    "model's input widths, or save the bundle with save_bundle(..., encoders=build_encoders(...)); "
                    "or predict from embeddings (predict_embeddings)")
        wanted = "audio or a transcript" if {"audio", "text"} <= set(self.modalities) else " or ".join(self.modalities)
        return f"item {item.id!r}: nothing to predict from (needs {wanted})"

    def _audio_embeddings(self, items: Sequence[InputItem], errors: dict[int, tuple[str, str]],
                          durations: dict[int, float], waves_out: dict[int, np.ndarray],
                          max_seconds: float | None) -> dict[int, np.ndarray]:
        from amber2.encoders.audio import AudioError

        enc = self._audio_encoder()
        sr, min_samples = enc.sample_rate, enc.min_samples
        waves: dict[int, np.ndarray] = {}
        for i, it in enumerate(items):
            if i in errors or not it.has_audio:
                continue
            try:
                x, dur = self._load(it, sr, max_seconds)
            except AudioError as exc:
                errors[i] = (str(exc), exc.reason)
                continue
            if x.size < min_samples:
                errors[i] = (f"item {it.id!r}: {it.source}: {x.size / sr:.3f} s of audio is too short for the "
                             f"{enc.kind} encoder (needs at least {min_samples / sr:.3f} s)", "too_short")
                continue
            waves[i] = x
            durations[i] = dur
        waves_out.update({i: w for i, w in waves.items()})
        if not waves:
            return {}
        order = list(waves)
        return self._embed("audio", enc, lambda ws: enc.encode(ws, sr), order, [waves[i] for i in order],
                           items, errors)

    def _text_embeddings(self, items: Sequence[InputItem], errors: dict[int, tuple[str, str]]) -> dict[int, np.ndarray]:
        enc = self._text_encoder()
        order = [i for i, it in enumerate(items) if i not in errors and it.transcript]
        if not order:
            return {}
        return self._embed("text", enc, enc.encode, order, [str(items[i].transcript) for i in order], items, errors)

    def _embed(self, modality: str, enc: Encoder, encode: Any, order: list[int], inputs: list[Any],
               items: Sequence[InputItem], errors: dict[int, tuple[str, str]]) -> dict[int, np.ndarray]:
        """Encode ``inputs`` (of items ``order``) under the encoder's lock; failures go to ``errors``."""
        with self._guard(modality, enc):
            results = encode_isolating_failures(encode, inputs)
        out: dict[int, np.ndarray] = {}
        for i, r in zip(order, results):
            if isinstance(r, Exception):
                errors[i] = (f"item {items[i].id!r}: the {modality} encoder failed: {type(r).__name__}: {r}",
                             "encoder_failed")
            elif not np.isfinite(r).all():
                errors[i] = (f"item {items[i].id!r}: the {modality} encoder returned NaN/inf", "encoder_failed")
            else:
                out[i] = r
        return out

    def predict_items(self, items: Sequence[InputItem], *, asr: Any = None,
                      max_seconds: float | None = None) -> list[Prediction]:
        """Encode and predict a batch of resolved items (errors recorded per item, never raised).

        Args:
            items: The items.
            asr: A transcriber for items without transcript (or None).
            max_seconds: Longest clip accepted (None: any).

        Returns:
            One :class:`Prediction` per item, in order.
        """
        errors: dict[int, tuple[str, str]] = {i: (str(it.error), str(it.error_reason or "bad_input"))
                                              for i, it in enumerate(items) if it.error}
        durations: dict[int, float] = {}
        waves: dict[int, np.ndarray] = {}
        feats: dict[str, dict[int, np.ndarray]] = {}
        has_audio_enc = "audio" in self.config.dims and ("audio" in self._specs or "audio" in self._encoders)
        if has_audio_enc:
            feats["audio"] = self._audio_embeddings(items, errors, durations, waves, max_seconds)
        else:
            for i, it in enumerate(items):
                if it.has_audio and i not in errors:
                    log.debug("item %s: the model has no audio encoder; its audio is ignored", it.id)
        if asr is not None:
            need = [i for i in waves if i not in errors and not items[i].transcript]
            if need:
                sr = self._audio_encoder().sample_rate
                try:
                    texts = asr.transcribe([waves[i] for i in need], sr)
                except Exception as exc:
                    log.warning("ASR failed on %d clip(s): %s", len(need), exc)
                    texts = [""] * len(need)
                for i, t in zip(need, texts):
                    if t:
                        items[i].transcript, items[i].transcript_source = t, "asr"
        if "text" in self.config.dims and ("text" in self._specs or "text" in self._encoders):
            feats["text"] = self._text_embeddings(items, errors)
        results: list[Prediction | None] = [None] * len(items)
        groups: dict[tuple[str, ...], list[int]] = {}
        for i, it in enumerate(items):
            if i in errors:
                continue
            key = tuple(m for m in self.modalities if i in feats.get(m, {}))
            if not key:
                errors[i] = (self._no_input_message(it), "no_input")
                continue
            groups.setdefault(key, []).append(i)
        for key, idx in groups.items():
            probs = self.predict_embeddings({m: np.stack([feats[m][i] for i in idx]) for m in key})
            missing = [m for m in self.modalities if m not in key]
            for i, pred in zip(idx, self._summaries([items[i].id for i in idx], probs, missing)):
                results[i] = pred
        for i, (msg, reason) in errors.items():
            results[i] = Prediction(id=items[i].id, classes=list(self.classes), error=msg, error_reason=reason)
        out: list[Prediction] = []
        for i, (it, pred) in enumerate(zip(items, results)):
            assert pred is not None
            pred.source = it.source
            pred.transcript = it.transcript
            pred.transcript_source = it.transcript_source if it.transcript else None
            pred.duration = None if i not in durations else round(durations[i], 4)
            if not pred.ok:
                log.debug("%s", pred.error)
            out.append(pred)
        return out


def load(path: str | os.PathLike[str], *, device: str | None = None, allow_version_mismatch: bool = False,
         **kwargs: Any) -> AmbER2:
    """Load a model bundle: ``amber2.load("runs/my-model")`` (see :meth:`AmbER2.from_pretrained`).

    ``allow_version_mismatch=True`` loads a bundle saved by an incompatible amber2 version anyway.
    """
    return AmbER2.from_pretrained(path, device=device, allow_version_mismatch=allow_version_mismatch, **kwargs)

