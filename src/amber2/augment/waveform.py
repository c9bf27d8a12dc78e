r"""DiME-Aug on the audio itself: mixed clips, written with their provenance and embedded like the corpus.

The seed's authors mix waveforms: :math:`x = x_1 + \alpha (x_2 - x_1)` over the shorter length.
:class:`CorpusAudio` does that for a prepared corpus:

* parents are read with :func:`amber2.encoders.load_audio` at the audio encoder's sample rate and the
  mix is written as a float WAV (``<work>/clips/<id>.wav``, atomically) beside a JSON with its
  provenance (both parents, alpha, fold, seed, class, the parent whose transcript it keeps);
* the audio modalities are embedded by :func:`amber2.encoders.extract` with the encoders rebuilt from
  the embedding cache's recorded spec (their fingerprints must equal the cached ones), into a cache of
  their own (``<work>/embeddings``), so a re-run with the same clips embeds nothing again;
* a text modality keeps the chosen parent's transcript, whose vector is that parent's (the same text
  through the same deterministic encoder); precomputed modalities cannot be made for new clips and
  stop the run with their name.

The same class computes named neighbour-search features (``egemaps`` ...) over the corpus audio
(``<work>/features``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from amber2.augment.dime import DimeError
from amber2.utils.io import atomic_path, atomic_write_json, read_json

__all__ = ["CorpusAudio", "mix_waveforms"]

log = logging.getLogger(__name__)

_TEXT_KINDS = ("hf-text",)


def _workers(n: int) -> int | None:
    """Decode in this process for a few clips (no worker start-up), else the extraction's default."""
    return 0 if n < 64 else None


def mix_waveforms(x1: np.ndarray, x2: np.ndarray, alpha: float) -> np.ndarray:
    r""":math:`x_1 + \alpha (x_2 - x_1)` over the first ``min(len(x1), len(x2))`` samples (float32)."""
    n = min(len(x1), len(x2))
    a = np.asarray(x1[:n], dtype=np.float64)
    return (a + float(alpha) * (np.asarray(x2[:n], dtype=np.float64) - a)).astype(np.float32)


@dataclass
class CorpusAudio:
    """A prepared corpus's audio and embedding cache, and where DiME-Aug may write.

    Attributes:
        audio: ``{item id: audio path}`` (absolute).
        transcripts: ``{item id: transcript or None}``.
        encoders: The embedding cache's recorded spec ``{modality: {"fingerprint", "dim", "spec"}}``
            (``extract.json``), or empty when no cache is given.
        work_dir: Folder for the clips (``clips/``) and the caches (``embeddings/``, ``features/``).
    """

    audio: dict[str, str]
    transcripts: dict[str, str | None]
    encoders: dict[str, dict[str, Any]]
    work_dir: Path

    @classmethod
    def from_paths(cls, corpus: str | os.PathLike[str], embeddings: str | os.PathLike[str] | None = None,
                   work_dir: str | os.PathLike[str] | None = None) -> CorpusAudio:
        """Read the corpus table (``amber2 prepare``) and the cache's recorded encoders (``amber2 extract``).

        Args:
            corpus: Prepared corpus folder (``corpus.parquet``) or manifest.
            embeddings: The embedding cache the training data came from (for the waveform space).
            work_dir: Output folder (default ``<corpus folder>/dime``).
        """
        from amber2.encoders import read_table

        table, folder = read_table(corpus)
        items = table.items
        audio = {str(i): str(p) for i, p in zip(items["id"], items["audio_path"]) if isinstance(p, str) and p}
        text = {str(i): (t if isinstance(t, str) else None) for i, t in zip(items["id"], items["transcript"])}
        enc: dict[str, dict[str, Any]] = {}
        if embeddings is not None:
            meta = Path(embeddings) / "extract.json"
            if not meta.is_file():
                raise DimeError(f"no extraction record {meta}: run `amber2 extract` into {embeddings} first")
            enc = dict(read_json(meta).get("spec", {}))
        base = Path(work_dir) if work_dir else (folder or Path(".")) / "dime"
        return cls(audio, text, enc, base)

    # ------------------------------------------------------------------ features
    def features(self, ids: Sequence[str], name: str) -> np.ndarray:
        """A named audio feature set of every item (``egemaps``, ``compare``, ``opensmile:<set>``, ...).

        Raises:
            DimeError: the name is not an audio encoder, or some items have no features (named).
        """
        from amber2.corpora.table import CorpusTable
        from amber2.encoders import EncoderError, build_encoder, extract, load_embeddings
        from amber2.encoders.base import AudioEncoder
        from amber2.encoders.presets import encoder_spec

        try:
            enc = build_encoder(encoder_spec(name, "audio"), modality="audio")
        except EncoderError as exc:
            raise DimeError(f"augment.dime.features={name!r}: {exc}") from exc
        if not isinstance(enc, AudioEncoder):
            raise DimeError(f"augment.dime.features={name!r} is not an audio feature set")
        ids = [str(i) for i in ids]
        table = CorpusTable.from_frames(
            pd.DataFrame({"id": ids, "audio_path": [self.audio.get(i) for i in ids],
                          "transcript": [self.transcripts.get(i) for i in ids], "audio_status": "unchecked"}),
            pd.DataFrame({"id": [], "rater": [], "kind": [], "labels": []}), {"corpus": "dime-features"})
        cache = self.work_dir / "features"
        extract(table, encoders={"features": enc}, cache_dir=cache, save_report=False, num_workers=_workers(len(ids)))
        emb = load_embeddings(cache, ids, modalities=["features"])
        if emb.failed:
            shown = "; ".join(f"{i}: {r}" for i, r in list(emb.failed.items())[:5])
            raise DimeError(f"augment.dime.features={name!r}: {len(emb.failed)} item(s) have no features ({shown})")
        return emb.features["features"]

    # ------------------------------------------------------------------ mixes
    def embed_mixes(
        self, X: Mapping[str, np.ndarray], ids: Sequence[str], provenance: pd.DataFrame, parent1: np.ndarray,
        parent2: np.ndarray, alpha: np.ndarray, text_from: np.ndarray,
    ) -> tuple[dict[str, np.ndarray], dict[str, str], list[str | None]]:
        """Write every mixed clip and embed it (see the module docstring).

        Returns:
            ``(X_new, failed, clips)``: embeddings of every new item per modality (rows of failed items
            are zeros: the caller drops them), ``{new id: reason}``, and each new item's clip path.

        Raises:
            DimeError: no embedding cache, a modality that cannot be made for a new clip, or an encoder
                whose rebuilt fingerprint differs from the cached one.
        """
        audio_mods, text_mods = self._modalities(X)
        encoders = self._audio_encoders(audio_mods)
        sr = max((e.sample_rate for e in encoders.values()), default=16000)
        new_ids = provenance["id"].tolist()
        clips_dir = self.work_dir / "clips"
        clips_dir.mkdir(parents=True, exist_ok=True)
        failed: dict[str, str] = {}
        clips: list[str | None] = []
        ids = [str(i) for i in ids]
        for j, nid in enumerate(new_ids):
            a, b = ids[int(parent1[j])], ids[int(parent2[j])]
            try:
                path = self._write_clip(clips_dir, nid, a, b, float(alpha[j]), sr, provenance.iloc[j].to_dict())
                clips.append(str(path))
            except Exception as exc:  # one bad parent must not stop the others
                failed[nid] = f"{type(exc).__name__}: {exc}"
                clips.append(None)
        n = len(new_ids)
        out: dict[str, np.ndarray] = {m: np.asarray(X[m])[np.asarray(text_from, dtype=np.int64)].astype(np.float32)
                                      for m in text_mods}
        if encoders and n:
            out.update(self._embed_clips(encoders, new_ids, clips, [ids[int(t)] for t in text_from], failed))
        for m in audio_mods:
            out.setdefault(m, np.zeros((n, np.asarray(X[m]).shape[1]), dtype=np.float32))
        return {m: out[m] for m in X}, failed, clips

    def _modalities(self, X: Mapping[str, np.ndarray]) -> tuple[list[str], list[str]]:
        if not self.encoders:
            raise DimeError("augment.dime.space=waveform needs the embedding cache (data.embeddings) to know which "
                            "encoders made the training embeddings")
        audio, text = [], []
        for m in X:
            rec = self.encoders.get(m)
            if rec is None:
                raise DimeError(f"modality {m!r} is not in the embedding cache's record ({sorted(self.encoders)})")
            kind = (rec.get("spec") or {}).get("kind")
            if kind in _TEXT_KINDS:
                text.append(m)
            elif kind == "precomputed":
                raise DimeError(f"modality {m!r} holds precomputed features, which cannot be computed for new "
                                "clips; use augment.dime.space=embedding or leave the modality out")
            else:
                audio.append(m)
        return audio, text

    def _audio_encoders(self, modalities: list[str]) -> dict[str, Any]:
        from amber2.encoders import build_encoder
        from amber2.encoders.base import AudioEncoder

        out = {}
        for m in modalities:
            rec = self.encoders[m]
            enc = build_encoder(rec["spec"], modality=m)
            if not isinstance(enc, AudioEncoder):
                raise DimeError(f"modality {m!r}: encoder {rec['spec'].get('kind')} is not an audio encoder")
            if rec.get("fingerprint") and enc.fingerprint != rec["fingerprint"]:
                raise DimeError(f"modality {m!r}: the encoder rebuilt from the cache's spec has fingerprint "
                                f"{enc.fingerprint[:16]}, the cached embeddings were made by "
                                f"{rec['fingerprint'][:16]}; new clips would not be comparable")
            out[m] = enc
        return out

    def _write_clip(self, clips_dir: Path, nid: str, a: str, b: str, alpha: float, sr: int,
                    prov: dict[str, Any]) -> Path:
        import soundfile as sf

        from amber2.encoders import load_audio

        x1 = load_audio(self.audio.get(a), sr, item_id=a)
        x2 = load_audio(self.audio.get(b), sr, item_id=b)
        y = mix_waveforms(x1, x2, alpha)
        path = clips_dir / f"{nid}.wav"
        with atomic_path(path, suffix=".wav") as tmp:
            sf.write(tmp, y, sr, subtype="FLOAT", format="WAV")
        record = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in prov.items()}
        record.update({"sample_rate": sr, "samples": int(len(y)), "parent1_audio": self.audio.get(a),
                       "parent2_audio": self.audio.get(b)})
        atomic_write_json(clips_dir / f"{nid}.json", record)
        return path

    def _embed_clips(self, encoders: dict[str, Any], new_ids: list[str], clips: list[str | None],
                     transcripts_from: list[str], failed: dict[str, str]) -> dict[str, np.ndarray]:
        from amber2.corpora.table import CorpusTable
        from amber2.encoders import extract, load_embeddings

        ok = [k for k, c in enumerate(clips) if c is not None]
        out = {m: np.zeros((len(new_ids), e.dim), dtype=np.float32) for m, e in encoders.items()}
        if not ok:
            return out
        table = CorpusTable.from_frames(
            pd.DataFrame({"id": [new_ids[k] for k in ok], "audio_path": [clips[k] for k in ok],
                          "transcript": [self.transcripts.get(transcripts_from[k]) for k in ok],
                          "audio_status": "unchecked"}),
            pd.DataFrame({"id": [], "rater": [], "kind": [], "labels": []}), {"corpus": "dime-clips"})
        cache = self.work_dir / "embeddings"
        extract(table, encoders=encoders, cache_dir=cache, save_report=False, num_workers=_workers(len(ok)))
        emb = load_embeddings(cache, [new_ids[k] for k in ok], modalities=list(encoders))
        failed.update(emb.failed)
        row = {i: r for r, i in enumerate(emb.ids)}
        for k in ok:
            r = row.get(new_ids[k])
            if r is not None:
                for m in encoders:
                    out[m][k] = emb.features[m][r]
        return out
