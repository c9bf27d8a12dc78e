r"""Hugging Face speech SSL encoders (wav2vec2, HuBERT, WavLM, data2vec-audio) with exact batching.

The utterance embedding is the mean of one hidden layer over the clip's valid frames:

.. math:: h_A = \frac{1}{T} \sum_{t=1}^{T} H^{(\ell)}_t

where :math:`H^{(\ell)}` is hidden state :math:`\ell` (``layer="last"``: the model's output;
an integer: that index of ``hidden_states``, 0 being the transformer input; ``"mean"``: the average
over all returned hidden states) and :math:`T` is the number of frames the clip alone would give.

**Batching that gives each clip its alone result.** wav2vec2-base, HuBERT-base and WavLM-base
normalise the first convolution's output with a GroupNorm over *time*; zero padding in a batch changes
those statistics and so every frame of the shorter clips (up to 0.16 absolute on the pooled
embedding). data2vec-audio's stack of positional convolutions lets padded frames leak into the last
valid frames. This module therefore batches through the model with two guards:

1. every GroupNorm in the feature encoder is replaced by a *masked* GroupNorm: the native GroupNorm
   applied to each clip's valid frames only (padded frames are set to 0), so that its statistics are
   :math:`\mu_{b,g} = \frac{1}{|g| T_b} \sum_{c \in g} \sum_{t < T_b} x_{b,c,t}`,
   :math:`\sigma^2_{b,g} = \frac{1}{|g| T_b} \sum_{c \in g}\sum_{t<T_b} (x_{b,c,t}-\mu_{b,g})^2`,
   those of the clip alone (the convolutions have no padding, so the first :math:`T_b` output frames
   of every later layer only see valid input);
2. the outputs of stacked positional convolutions are zeroed on padded frames, as zero padding would
   be for the clip alone; the transformer gets the frame-level attention mask.

The result equals per-clip extraction up to float rounding (pinned by tests at 1e-5 on tiny models
and measured by ``benchmarks/extract.py`` on base-sized ones). Models whose structure is not
recognised fall back to batching only clips of identical length.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from amber2.encoders.audio import AudioError, resample, split_long, zero_mean_unit_var
from amber2.encoders.base import (
    AudioEncoder,
    EncoderError,
    checked_layer,
    load_frozen_model,
    plan_batches,
    resolve_device,
    resolve_dtype,
    resolve_model_dir,
    warn_identity,
)
from amber2.utils.logging import get_logger

__all__ = ["HFAudioEncoder"]

log = get_logger(__name__)

SUPPORTED_MODEL_TYPES = ("wav2vec2", "hubert", "wavlm", "data2vec-audio", "wav2vec2-conformer",
                         "unispeech", "unispeech-sat", "sew", "sew-d")
LONG_AUDIO_POLICIES = ("chunk", "truncate")


class _PaddingGuard:
    """Holds the valid sample lengths of the batch being encoded (None outside a padded batch)."""

    def __init__(self) -> None:
        self.lengths: Any = None  # torch.LongTensor (B,) on the model's device
        self.frame_mask: Any = None  # torch.BoolTensor (B, T_frames)

    @contextlib.contextmanager
    def active(self, lengths: Any, frame_mask: Any) -> Iterator[None]:
        self.lengths, self.frame_mask = lengths, frame_mask
        try:
            yield
        finally:
            self.lengths, self.frame_mask = None, None


def _masked_group_norm_module(gn: Any, guard: _PaddingGuard, convs: list[tuple[int, int]]) -> Any:
    """Wrap ``gn`` (an ``nn.GroupNorm`` after conv layers ``convs``) into a masked GroupNorm."""
    import torch
    from torch import nn

    class MaskedGroupNorm(nn.Module):
        """GroupNorm whose statistics ignore padded frames (see the module docstring)."""

        def __init__(self) -> None:
            super().__init__()
            self.inner = gn

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            lengths = guard.lengths
            if lengths is None:
                return self.inner(x)
            valid = lengths
            for k, s in convs:
                valid = torch.div(valid - k, s, rounding_mode="floor") + 1
            T = x.shape[-1]
            if bool((valid >= T).all()):
                return self.inner(x)
            # The native GroupNorm on each clip's valid frames: the statistics (and the values) of an
            # unpadded clip; padded frames are set to 0.
            out: torch.Tensor | None = None
            for b, v in enumerate(valid.tolist()):
                part = self.inner(x[b:b + 1, :, :v])
                if out is None:
                    out = x.new_zeros(x.shape, dtype=part.dtype)
                out[b:b + 1, :, :v] = part
            assert out is not None
            return out

    return MaskedGroupNorm()


class HFAudioEncoder(AudioEncoder):
    r"""A Hugging Face speech SSL model, mean-pooled over valid frames.

    Args:
        model: Hub id (e.g. ``facebook/wav2vec2-base``) or local model folder.
        layer: ``"last"``, ``"mean"`` (average of all hidden states) or an integer hidden-state index.
        pooling: ``"mean"`` (the only pooling; kept in the spec for the fingerprint).
        sample_rate: Model sample rate; default from ``preprocessor_config.json`` (else 16000).
        do_normalize: Zero-mean unit-variance normalise each clip (default from the preprocessor
            config, else True as in ``Wav2Vec2FeatureExtractor``).
        max_seconds: Longest segment given to the model; longer clips are chunked or truncated.
        long_audio: ``"chunk"``: split into nearly equal chunks and average their frames,
            :math:`h = \sum_c T_c \bar H_c / \sum_c T_c` (the mean over all chunk frames);
            ``"truncate"``: keep the first ``max_seconds``.
        dtype: ``"auto"`` (bfloat16 autocast on GPU, float32 on CPU), ``"float32"``, ``"bfloat16"``.
        device: Torch device (default: GPU if available).
        max_batch_seconds: Padded audio per forward pass (default 16 s on CPU, 320 s on GPU).
        batch_size: Most clips per forward pass (default 8 on CPU, 64 on GPU).
        max_padding: A clip joins a batch only if padding adds at most this fraction to it.
        revision: Hub revision the spec was made with (a warning if the model found differs).
        weights: Weights hash the spec was made with (a warning if the model found differs).

    Raises:
        EncoderError: unknown model type, bad layer, model not available.
    """

    kind = "hf-audio"

    def __init__(
        self,
        model: str = "facebook/wav2vec2-base",
        *,
        layer: int | str = "last",
        pooling: str = "mean",
        sample_rate: int | None = None,
        do_normalize: bool | None = None,
        max_seconds: float | None = 60.0,
        long_audio: str = "chunk",
        dtype: str | None = "auto",
        device: Any = None,
        max_batch_seconds: float | None = None,
        batch_size: int | None = None,
        max_padding: float = 0.1,
        revision: str | None = None,
        weights: str | None = None,
    ):
        import torch
        from transformers import AutoConfig

        if pooling != "mean":
            raise EncoderError(f"audio pooling must be 'mean', got {pooling!r}")
        if long_audio not in LONG_AUDIO_POLICIES:
            raise EncoderError(f"long_audio must be one of {LONG_AUDIO_POLICIES}, got {long_audio!r}")
        self.model_name = str(model)
        folder, self._identity = resolve_model_dir(self.model_name, what="audio model")
        if Path(self.model_name).expanduser().is_dir():
            self.model_name = str(folder)
        warn_identity(self.model_name, {"revision": revision, "weights": weights}, self._identity)
        self.folder = folder
        config = AutoConfig.from_pretrained(folder, local_files_only=True)
        if config.model_type not in SUPPORTED_MODEL_TYPES:
            raise EncoderError(
                f"audio model {self.model_name!r} has model_type {config.model_type!r}; supported speech SSL "
                f"types: {', '.join(SUPPORTED_MODEL_TYPES)}"
            )
        self.device = resolve_device(device)
        self.compute_dtype = resolve_dtype(dtype, self.device)
        self.model = load_frozen_model(folder, self.device)
        self.n_layers = int(config.num_hidden_layers)
        self.layer = checked_layer(layer, self.n_layers, self.model_name)
        pre = _read_json(folder / "preprocessor_config.json")
        self.sample_rate = int(sample_rate or pre.get("sampling_rate") or 16000)
        self.do_normalize = bool(pre.get("do_normalize", True) if do_normalize is None else do_normalize)
        self.max_seconds = None if not max_seconds else float(max_seconds)
        self.long_audio = long_audio
        self.feat_extract_norm = getattr(config, "feat_extract_norm", None)
        self._dim = int(config.hidden_size)
        self.min_samples = _receptive_field(config)
        on_gpu = self.device.startswith("cuda")
        self.max_batch_seconds = float(max_batch_seconds or (320.0 if on_gpu else 16.0))
        self.batch_size = int(batch_size or (64 if on_gpu else 8))
        self.max_padding = float(max_padding)
        self._guard = _PaddingGuard()
        self.exact_batching = self._install_guards()
        self._torch = torch

    # ------------------------------------------------------------------ public
    @property
    def spec(self) -> dict[str, Any]:
        """Resolved spec: model, its revision or weights hash, layer, pooling, rate, dtype, options."""
        return {
            "kind": self.kind, "model": self.model_name, **self._identity,
            "model_type": self.model.config.model_type, "layer": self.layer, "pooling": "mean",
            "sample_rate": self.sample_rate, "do_normalize": self.do_normalize,
            "max_seconds": self.max_seconds, "long_audio": self.long_audio, "dtype": self.compute_dtype,
        }

    @property
    def dim(self) -> int:
        """Hidden size of the model."""
        return self._dim

    def encode(self, waveforms: list[np.ndarray], sample_rate: int) -> np.ndarray:
        """Embed mono waveforms: resample, normalise, chunk, batch by length, mean-pool.

        Args:
            waveforms: 1-D float arrays (any lengths).
            sample_rate: Their sample rate in Hz (resampled to the model's if different).

        Returns:
            float32 ``(len(waveforms), dim)``.

        Raises:
            AudioError: a clip shorter than the model's receptive field (``too_short``) or empty.
        """
        waves = [resample(np.asarray(w, dtype=np.float32).reshape(-1), sample_rate, self.sample_rate)
                 for w in waveforms]
        return self.encode_prepared(waves)

    def encode_prepared(self, waves: list[np.ndarray]) -> np.ndarray:
        """Embed mono float32 waveforms already at :attr:`sample_rate`."""
        segments: list[np.ndarray] = []
        owner: list[int] = []
        for i, w in enumerate(waves):
            if w.size < self.min_samples:
                raise AudioError(
                    f"clip {i} has {w.size} samples ({w.size / self.sample_rate:.3f} s), shorter than "
                    f"the model's {self.min_samples}-sample receptive field", "too_short",
                )
            cap = round(self.max_seconds * self.sample_rate) if self.max_seconds is not None else None
            if cap is not None and w.size > cap and self.long_audio == "truncate":
                w = w[:cap]  # truncate, then normalise what is kept
            x = zero_mean_unit_var(w) if self.do_normalize else w
            if cap is not None and x.size > cap:  # chunk the clip normalised as a whole
                for a, b in split_long(x.size, cap):
                    segments.append(x[a:b])
                    owner.append(i)
                continue
            segments.append(x)
            owner.append(i)
        pooled, frames = self._encode_segments(segments)
        out = np.zeros((len(waves), self._dim), dtype=np.float64)
        weight = np.zeros(len(waves), dtype=np.float64)
        for s, i in enumerate(owner):
            out[i] += pooled[s].astype(np.float64) * frames[s]
            weight[i] += frames[s]
        return (out / weight[:, None]).astype(np.float32)

    # ------------------------------------------------------------------ internals
    def _encode_segments(self, segments: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        lengths = [s.size for s in segments]
        budget = int(self.max_batch_seconds * self.sample_rate)
        if self.exact_batching:
            batches = plan_batches(lengths, max_batch_samples=budget, batch_size=self.batch_size,
                                   max_padding=self.max_padding)
        else:  # only clips of identical length share a batch
            batches = []
            for n in sorted(set(lengths), reverse=True):
                same = [i for i, m in enumerate(lengths) if m == n]
                k = max(1, min(self.batch_size, budget // max(n, 1)))
                batches.extend(same[j:j + k] for j in range(0, len(same), k))
        pooled = np.zeros((len(segments), self._dim), dtype=np.float32)
        frames = np.zeros(len(segments), dtype=np.int64)
        for idx in batches:
            p, f = self._forward([segments[i] for i in idx])
            pooled[idx] = p
            frames[idx] = f
        return pooled, frames

    def _forward(self, segs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        torch = self._torch
        lengths = np.array([s.size for s in segs], dtype=np.int64)
        L = int(lengths.max())
        x = np.zeros((len(segs), L), dtype=np.float32)
        for b, s in enumerate(segs):
            x[b, : s.size] = s
        padded = bool((lengths != L).any())
        dev = torch.device(self.device)
        xt = torch.from_numpy(x)
        if dev.type == "cuda":
            xt = xt.pin_memory()
        xt = xt.to(dev, non_blocking=True)
        lt = torch.from_numpy(lengths).to(dev)
        model = self.model
        frame_len = self._encoder_frames(lt)
        T = int(self._encoder_frames(torch.tensor([L])).item())
        frame_mask = torch.arange(T, device=dev)[None, :] < frame_len[:, None]
        am = (torch.arange(L, device=dev)[None, :] < lt[:, None]).to(torch.long) if padded else None
        want_hidden = self.layer != "last"
        autocast = torch.autocast(device_type=dev.type, dtype=torch.bfloat16,
                                  enabled=self.compute_dtype == "bfloat16")
        guard = self._guard.active(lt, frame_mask) if padded else contextlib.nullcontext()

        def pool(h: Any) -> Any:
            if h.shape[1] == T:
                fm = frame_mask
            else:  # after an adapter that shortens the sequence
                fl = model._get_feat_extract_output_lengths(lt).to(torch.long)
                fm = torch.arange(h.shape[1], device=dev)[None, :] < fl[:, None]
            m = fm.to(torch.float32)[:, :, None]
            return (h.float() * m).sum(dim=1) / m.sum(dim=1)

        with torch.inference_mode(), autocast, guard:
            out = model(xt, attention_mask=am, output_hidden_states=want_hidden)
            if self.layer == "last":
                pooled = pool(out.last_hidden_state)
            elif self.layer == "mean":
                pooled = torch.stack([pool(h) for h in out.hidden_states]).mean(dim=0)
            else:
                pooled = pool(out.hidden_states[self.layer])
        return pooled.cpu().numpy().astype(np.float32), frame_len.cpu().numpy()

    def _encoder_frames(self, lengths: Any) -> Any:
        """Frames the transformer sees for ``lengths`` samples (before any adapter)."""
        fn = self.model._get_feat_extract_output_lengths
        try:
            out = fn(lengths, add_adapter=False)
        except TypeError:  # models without adapters take no such argument
            out = fn(lengths)
        return out.to(self._torch.long)

    def _install_guards(self) -> bool:
        """Install the masked GroupNorms and positional-conv zeroing; False if batching is unsafe."""
        from torch import nn

        fe = getattr(self.model, "feature_extractor", None)
        convs_mod = getattr(fe, "conv_layers", None)
        if convs_mod is None or not hasattr(self.model, "_get_feat_extract_output_lengths"):
            log.warning("%s: unknown feature-encoder layout; batching only equal-length clips", self.model_name)
            return False
        convs: list[tuple[int, int]] = []
        for layer in convs_mod:
            conv = getattr(layer, "conv", None)
            if not isinstance(conv, nn.Conv1d) or conv.padding not in ((0,), 0) or conv.dilation != (1,):
                log.warning("%s: unexpected conv layer; batching only equal-length clips", self.model_name)
                return False
            convs.append((int(conv.kernel_size[0]), int(conv.stride[0])))
            norm = getattr(layer, "layer_norm", None)
            if isinstance(norm, nn.GroupNorm):
                layer.layer_norm = _masked_group_norm_module(norm, self._guard, list(convs))
        # any GroupNorm left elsewhere in the feature encoder would see padding
        if any(isinstance(m, nn.GroupNorm) and not _wrapped(m, fe) for m in fe.modules()):
            log.warning("%s: GroupNorm outside the conv layers; batching only equal-length clips",
                        self.model_name)
            return False
        if getattr(self.model, "adapter", None) is not None:  # strided convolutions after the encoder
            log.warning("%s: has an adapter; batching only equal-length clips", self.model_name)
            return False
        enc = getattr(self.model, "encoder", None)
        pos = getattr(enc, "pos_conv_embed", None)
        stacked = getattr(pos, "layers", None)
        if stacked is not None and len(stacked) > 1:
            guard = self._guard

            def zero_padded(_module: Any, _inputs: Any, output: Any) -> Any:
                if guard.frame_mask is None:
                    return output
                return output * guard.frame_mask[:, None, : output.shape[-1]].to(output.dtype)

            for layer in stacked:
                layer.register_forward_hook(zero_padded)
        return True


def _wrapped(module: Any, fe: Any) -> bool:
    """True if ``module`` is the inner GroupNorm of one of our masked wrappers."""
    return any(getattr(m, "inner", None) is module for m in fe.modules())


def _receptive_field(config: Any) -> int:
    r"""Fewest samples that give one output frame: :math:`L \leftarrow (L-1)s + k` from the top layer down."""
    n = 1
    for k, s in reversed(list(zip(config.conv_kernel, config.conv_stride))):
        n = (n - 1) * int(s) + int(k)
    return n


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    with open(path, encoding="utf-8") as fh:
        return dict(json.load(fh))
