"""Shared fixtures: tiny, seeded, randomly initialised MusicGen models (never downloaded)."""

from __future__ import annotations

import numpy as np
import pytest

CODEBOOK_SIZE = 2048


@pytest.fixture(autouse=True, scope="session")
def _user_cache(tmp_path_factory):
    """The user cache folder (weight hashes) of the test session, never the real one."""
    import os

    previous = os.environ.get("NOISELOSS_CACHE_DIR")
    os.environ["NOISELOSS_CACHE_DIR"] = str(tmp_path_factory.mktemp("user-cache"))
    yield
    if previous is None:
        os.environ.pop("NOISELOSS_CACHE_DIR", None)
    else:
        os.environ["NOISELOSS_CACHE_DIR"] = previous


def tiny_musicgen(seed: int = 0, *, codebook_size: int = CODEBOOK_SIZE):
    """A composite MusicGen (tiny T5 + EnCodec with the 32 kHz geometry + tiny decoder), eval mode."""
    import torch
    from transformers import (
        EncodecConfig,
        MusicgenConfig,
        MusicgenDecoderConfig,
        MusicgenForConditionalGeneration,
        T5Config,
    )

    torch.manual_seed(seed)
    text = T5Config(vocab_size=64, d_model=24, d_kv=8, d_ff=32, num_layers=2, num_heads=3)
    codec = EncodecConfig(upsampling_ratios=[8, 5, 4, 4], target_bandwidths=[2.2],
                          sampling_rate=32000, codebook_size=codebook_size, num_filters=4,
                          hidden_size=16, codebook_dim=16, use_causal_conv=False)
    decoder = MusicgenDecoderConfig(vocab_size=codebook_size, hidden_size=16, num_hidden_layers=2,
                                    num_attention_heads=4, ffn_dim=32, num_codebooks=4,
                                    pad_token_id=codebook_size, bos_token_id=codebook_size,
                                    decoder_start_token_id=codebook_size,
                                    max_position_embeddings=256)
    # sub-configs as dicts: the form every supported transformers version takes
    config = MusicgenConfig(text_encoder=text.to_dict(), audio_encoder=codec.to_dict(),
                            decoder=decoder.to_dict())
    return MusicgenForConditionalGeneration(config).eval()


def save_text_tokenizer(directory):
    """A tiny word-level text tokenizer saved next to the model (loadable with AutoTokenizer)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = ["<pad>", "<unk>", "piano", "calm", "loud", "drums", "jazz", "rock", "a", "with"]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", unk_token="<unk>")
    fast.save_pretrained(str(directory))


def write_tones(folder, *, count: int, seconds: float, base_hz: float, step_hz: float,
                amplitude: float = 0.3, noise: float = 0.02, seed: int = 0, prefix: str = "c",
                sample_rate: int = 32000):
    """``count`` WAV files of seeded noisy sine tones (``{prefix}{i}.wav``); returns the folder."""
    import soundfile as sf

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    for i in range(count):
        tone = amplitude * np.sin(2 * np.pi * (base_hz + step_hz * i) * t)
        sf.write(folder / f"{prefix}{i}.wav",
                 (tone + noise * rng.standard_normal(t.size)).astype(np.float32), sample_rate)
    return folder


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A tiny MusicGen saved with ``save_pretrained`` plus a text tokenizer."""
    directory = tmp_path_factory.mktemp("tiny-musicgen")
    tiny_musicgen(seed=0).save_pretrained(str(directory))
    save_text_tokenizer(directory)
    return directory


@pytest.fixture(scope="session")
def tiny_scorer(tiny_model_dir):
    """The noiseloss scorer of the tiny saved model (loaded like any local MusicGen)."""
    from noiseloss import load_model

    return load_model(str(tiny_model_dir))


@pytest.fixture
def rng():
    """A seeded generator; tests that need randomness take it explicitly."""
    return np.random.default_rng(1234)
