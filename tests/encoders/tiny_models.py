"""Builders of tiny random-weight Hugging Face models and synthetic audio for tests (no hub access).

Plain functions so that other test folders (inference, serving) can reuse them. The test folders
have no ``__init__.py`` (pytest puts each on ``sys.path``), so from another folder::

    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "encoders"))
    from tiny_models import make_tiny_audio_model, make_tiny_text_model, synth_clip, write_wav
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = [
    "AUDIO_KINDS",
    "TINY_WORDS",
    "make_corpus",
    "make_tiny_audio_model",
    "make_tiny_text_model",
    "synth_clip",
    "tiny_audio_config",
    "write_wav",
]

AUDIO_KINDS = ("wav2vec2", "hubert", "wavlm", "data2vec-audio")

TINY_WORDS = (
    "i", "am", "so", "happy", "today", "this", "is", "great", "the", "weather", "was", "bad",
    "and", "i", "feel", "sad", "angry", "what", "are", "you", "doing", "why", "did", "you", "do",
    "that", "it", "is", "fine", "okay", "yes", "no", "maybe", "really", "hello", "there", "how",
    "was", "your", "day", "tell", "me", "more", "about", "it",
)


def tiny_audio_config(kind: str = "wav2vec2", norm: str = "group"):
    """A tiny config of a speech SSL family with the real wav2vec2 conv strides (320x, 400-sample field).

    Args:
        kind: ``wav2vec2``, ``hubert``, ``wavlm`` or ``data2vec-audio``.
        norm: ``group`` (GroupNorm feature encoder, base models) or ``layer`` (LayerNorm, large-lv60 style).
    """
    import transformers as tf

    common = dict(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37,
        conv_dim=(16,) * 7, conv_kernel=(10, 3, 3, 3, 3, 2, 2), conv_stride=(5, 2, 2, 2, 2, 2, 2),
        num_conv_pos_embedding_groups=2, vocab_size=32,
        hidden_dropout=0.0, attention_dropout=0.0, activation_dropout=0.0, feat_proj_dropout=0.0,
        layerdrop=0.0, mask_time_prob=0.0,
    )
    if kind == "data2vec-audio":  # always LayerNorm conv layers; a stack of positional convolutions
        return tf.Data2VecAudioConfig(**common, num_conv_pos_embeddings=3, conv_pos_kernel_size=5)
    stable = norm == "layer"
    cls = {"wav2vec2": tf.Wav2Vec2Config, "hubert": tf.HubertConfig, "wavlm": tf.WavLMConfig}[kind]
    extra = {"num_buckets": 16, "max_bucket_distance": 64} if kind == "wavlm" else {}
    return cls(**common, num_conv_pos_embeddings=16, feat_extract_norm=norm, do_stable_layer_norm=stable, **extra)


def make_tiny_audio_model(
    folder: str | Path, kind: str = "wav2vec2", norm: str = "group", *, seed: int = 0,
    do_normalize: bool = True, sampling_rate: int = 16000,
) -> Path:
    """Save a tiny random speech model + preprocessor config into ``folder`` and return it."""
    import torch
    import transformers as tf

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    config = tiny_audio_config(kind, norm)
    model = tf.AutoModel.from_config(config).eval()
    with torch.no_grad():  # make GroupNorm / LayerNorm affine terms non-trivial
        for m in model.modules():
            if isinstance(m, (torch.nn.GroupNorm, torch.nn.LayerNorm)) and m.weight is not None:
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    model.save_pretrained(folder)
    tf.Wav2Vec2FeatureExtractor(
        feature_size=1, sampling_rate=sampling_rate, padding_value=0.0, do_normalize=do_normalize,
        return_attention_mask=norm == "layer",
    ).save_pretrained(folder)
    return folder


def make_tiny_text_model(folder: str | Path, *, seed: int = 0, max_position_embeddings: int = 64) -> Path:
    """Save a tiny random BERT (+ WordPiece tokenizer over :data:`TINY_WORDS`) into ``folder``."""
    import torch
    import transformers as tf

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *sorted(set(TINY_WORDS)), *letters,
             *[f"##{c}" for c in letters], ".", ",", "?", "!", "'"]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tok = tf.BertTokenizerFast.from_pretrained(str(folder))
    tok.save_pretrained(folder)
    torch.manual_seed(seed)
    config = tf.BertConfig(
        vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37,
        max_position_embeddings=max_position_embeddings, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
    )
    tf.BertModel(config).eval().save_pretrained(folder)
    return folder


def synth_clip(seconds: float, sr: int = 16000, *, seed: int = 0, amplitude: float = 0.3) -> np.ndarray:
    """A speech-like float32 clip: a gliding harmonic tone with a syllable envelope plus noise."""
    rng = np.random.default_rng(seed)
    n = max(1, int(round(seconds * sr)))
    t = np.arange(n) / sr
    f0 = 120 + 40 * np.sin(2 * np.pi * 0.7 * t + rng.uniform(0, 6))
    phase = 2 * np.pi * np.cumsum(f0) / sr
    voiced = sum(np.sin(k * phase) / k for k in range(1, 6))
    env = 0.6 + 0.4 * np.sin(2 * np.pi * 3.0 * t + rng.uniform(0, 6)) ** 2
    x = amplitude * (0.7 * voiced * env / 2.3 + 0.05 * rng.standard_normal(n))
    return np.clip(x, -1, 1).astype(np.float32)


def write_wav(path: str | Path, x: np.ndarray, sr: int = 16000, subtype: str = "PCM_16") -> Path:
    """Write samples ``(n,)`` or ``(n, channels)`` to a WAV file and return its path."""
    import soundfile as sf

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), x, sr, subtype=subtype)
    return path


def make_corpus(folder: Path, n: int = 6, *, seconds: float = 0.4, step: float = 0.15, sr: int = 16000):
    """A CorpusBuilder with ``n`` synthetic clips ``u0..u{n-1}`` and transcripts (audio under ``folder``)."""
    from amber2.corpora.table import CorpusBuilder

    b = CorpusBuilder("toy", folder, "tests.encoders")
    words = ["i am so happy today", "why did you do that", "the weather was bad", "tell me more about it",
             "okay", "hello there how was your day"]
    for i in range(n):
        p = write_wav(folder / f"u{i}.wav", synth_clip(seconds + step * i, sr, seed=i), sr)
        b.add_item(f"u{i}", audio_path=str(p), transcript=words[i % len(words)] + f" {i}", audio_status="ok",
                   duration=seconds + step * i)
    return b
