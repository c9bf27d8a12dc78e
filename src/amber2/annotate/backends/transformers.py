"""A local Hugging Face audio-language model as annotator (Qwen2-Audio and models with its interface).

The model is loaded with :class:`transformers.AutoProcessor` and the class its ``config.json`` names
(``Qwen2AudioForConditionalGeneration`` for Qwen2-Audio; any class with the same processor / ``generate``
interface works). A batch holds the requests of one annotator (the runner groups them), so the whole
batch is sampled at that annotator's temperature (``do_sample``, ``top_k = 0``, ``top_p = 1``: plain
temperature sampling). The torch generator is seeded per batch from (seed, annotator index, first item)
so a batch gives the same replies on every run.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from amber2.annotate.audio import AnnotationAudioError, read_clip
from amber2.annotate.backends.base import BackendError, Reply, Request, ThreadedBackend
from amber2.utils.fingerprint import hash_strings
from amber2.utils.logging import get_logger

__all__ = ["TransformersBackend"]

log = get_logger(__name__)

_FALLBACK_CLASS = "Qwen2AudioForConditionalGeneration"


def _model_fingerprint(folder: Path) -> str:
    """Config files' content plus the weight files' names and sizes (hashing 15 GB of weights is too slow)."""
    parts: list[str] = []
    for f in sorted(p for p in folder.iterdir() if p.is_file()):
        if f.suffix in (".json", ".jinja", ".txt", ".model"):
            parts.append(f"{f.name}:{f.read_text(encoding='utf-8', errors='replace')}")
        else:
            parts.append(f"{f.name}:{f.stat().st_size}")
    return hash_strings(parts)


class TransformersBackend(ThreadedBackend):
    """Votes from a local Hugging Face ALM.

    Args:
        model_path: Model folder (or a hub id already in the local cache).
        name: Model name in the rater ids (default: the folder's name).
        device: ``cpu``, ``cuda``, ``cuda:1`` (default: a GPU when there is one).
        dtype: ``auto`` (bfloat16 on GPU, float32 on CPU), ``float32``, ``bfloat16`` or ``float16``.
        batch_size: Requests generated together (1-256).
        max_new_tokens: Longest answer (tokens, 1-256).
        max_audio_seconds: Longest audio given (Qwen2-Audio hears 30 s); longer clips are capped or
            skipped per ``long_audio``.
        long_audio: ``cap`` or ``skip``.
        seed: Seed of the sampling.
        local_files_only: Never reach the hub (default).
    """

    name: ClassVar[str] = "transformers"

    def __init__(self, model_path: str | os.PathLike[str], *, name: str | None = None, device: str | None = None,
                 dtype: str = "auto", batch_size: int = 8, max_new_tokens: int = 16,
                 max_audio_seconds: float | None = 30.0, long_audio: str = "cap", seed: int = 0,
                 local_files_only: bool = True):
        import torch
        import transformers
        from transformers import AutoConfig, AutoProcessor

        if not 1 <= int(batch_size) <= 256:
            raise ValueError(f"batch_size must be in 1..256, got {batch_size}")
        if not 1 <= int(max_new_tokens) <= 256:
            raise ValueError(f"max_new_tokens must be in 1..256, got {max_new_tokens}")
        if long_audio not in ("cap", "skip"):
            raise ValueError(f"long_audio must be 'cap' or 'skip', got {long_audio!r}")
        path = os.fspath(model_path)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        if dtype == "auto":
            dtype = "bfloat16" if self.device.startswith("cuda") else "float32"
        if dtype not in ("float32", "bfloat16", "float16"):
            raise ValueError(f"dtype must be auto, float32, bfloat16 or float16, got {dtype!r}")
        config = AutoConfig.from_pretrained(path, local_files_only=local_files_only)
        arch = (getattr(config, "architectures", None) or [_FALLBACK_CLASS])[0]
        cls = getattr(transformers, arch, None) or getattr(transformers, _FALLBACK_CLASS)
        self.processor = AutoProcessor.from_pretrained(path, local_files_only=local_files_only)
        tok = getattr(self.processor, "tokenizer", None)
        if tok is not None:
            tok.padding_side = "left"  # generation continues each row at its end
        self.net = cls.from_pretrained(path, local_files_only=local_files_only, dtype=getattr(torch, dtype))
        self.net = self.net.to(self.device).eval()
        self.sample_rate = int(getattr(getattr(self.processor, "feature_extractor", None), "sampling_rate", 16000))
        self.model = name or Path(path).resolve().name
        self.dtype = dtype
        self.batch_size = int(batch_size)
        self.max_new_tokens = int(max_new_tokens)
        self.max_audio_seconds = max_audio_seconds
        self.long_audio = long_audio
        self.seed = int(seed)
        self._fingerprint = _model_fingerprint(Path(path)) if Path(path).is_dir() else path

    def identity(self) -> dict[str, Any]:
        """Model name and fingerprint, dtype, answer length, audio handling, seed and batch size."""
        return {"model": self.model, "fingerprint": self._fingerprint, "dtype": self.dtype,
                "max_new_tokens": self.max_new_tokens, "max_audio_seconds": self.max_audio_seconds,
                "long_audio": self.long_audio, "seed": self.seed, "batch_size": self.batch_size}

    def _chat(self, request: Request) -> str:
        conv = [{"role": "system", "content": request.prompt.system},
                {"role": "user", "content": [{"type": "audio", "audio_url": request.item.audio_path or ""},
                                             {"type": "text", "text": request.prompt.user}]}]
        return str(self.processor.apply_chat_template(conv, add_generation_prompt=True, tokenize=False))

    def annotate_sync(self, requests: Sequence[Request]) -> list[Reply]:
        """Generate one answer per request; requests of different temperatures are generated apart."""
        out: list[Reply | None] = [None] * len(requests)
        groups: dict[float, list[int]] = {}
        for k, r in enumerate(requests):
            groups.setdefault(r.annotator.temperature, []).append(k)
        for temp, idx in groups.items():
            for k, rep in zip(idx, self._generate([requests[k] for k in idx], temp)):
                out[k] = rep
        return [r for r in out if r is not None]

    def _generate(self, requests: Sequence[Request], temperature: float) -> list[Reply]:
        import torch

        replies: list[Reply | None] = [None] * len(requests)
        waves, texts, notes, rows = [], [], {}, []
        for k, r in enumerate(requests):
            try:
                clip = read_clip(r.item.audio_path, self.sample_rate, item_id=r.item.id,
                                 max_seconds=self.max_audio_seconds, long_audio=self.long_audio)
            except AnnotationAudioError as exc:
                replies[k] = Reply(error=str(exc), reason=exc.reason)
                continue
            waves.append(clip.samples)
            texts.append(self._chat(r))
            notes[k] = clip.note
            rows.append(k)
        if rows:
            first = requests[rows[0]]
            torch.manual_seed(zlib.crc32(f"{self.seed}:{first.annotator.index}:{first.item.id}".encode()))
            try:
                inputs = self.processor(text=texts, audio=waves, sampling_rate=self.sample_rate, return_tensors="pt",
                                        padding=True).to(self.device)
                with torch.inference_mode():
                    gen = self.net.generate(**inputs, do_sample=True, temperature=float(temperature), top_k=0,
                                            top_p=1.0, max_new_tokens=self.max_new_tokens)
                answers = self.processor.batch_decode(gen[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
            except Exception as exc:  # out of memory, a processor that rejects the input ...
                raise BackendError(f"generation failed for {len(rows)} request(s): {type(exc).__name__}: {exc}",
                                   "backend_failed") from exc
            for k, text in zip(rows, answers):
                replies[k] = Reply(text=str(text).strip(), note=notes[k])
        return [r if r is not None else Reply(error="no reply", reason="backend_failed") for r in replies]
