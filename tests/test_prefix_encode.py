"""Variants encoded from where they differ from the clean excerpt equal whole-signal encodes.

``AudioTokenizer.tokenize_variants`` resumes EnCodec from its state and the spectral tokenizer
from the first frame a change reaches (``noiseloss.tokenizers.encodec``); the codes must be the
ones ``encode`` gives the whole variant, for every perturbation family of the built-in configs,
the audit battery and the profile probes.
"""

from __future__ import annotations

import numpy as np

from noiseloss.perturb import Clean, PerturbContext, apply_all
from noiseloss.tokenizers.base import first_difference

RATE = 32000


def _music(seconds: float, *, seed: int) -> np.ndarray:
    """Two tones with a slow tremolo and a little noise: every frame differs from the next."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    tone = np.sin(2 * np.pi * 220 * t) + 0.5 * np.sin(2 * np.pi * 331 * t + 1.0)
    return (0.2 * tone * (1 + 0.3 * np.sin(2 * np.pi * 0.7 * t))
            + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


def _specs(seconds: float) -> list[dict]:
    """The audio specs of the built-in noise and shuffle configs, the audit and the probes."""
    from noiseloss.auditing import AuditOptions, audit_config, battery
    from noiseloss.config import load_config
    from noiseloss.profiling import ProfileOptions, profile_config

    configs = [load_config(name) for name in ("paper-noise", "paper-colors", "paper-shuffle")]
    configs.append(audit_config(["demo:ood"], model="demo",
                                families=battery("audio", excerpt_seconds=seconds),
                                options=AuditOptions(excerpt_seconds=seconds)))
    configs.append(profile_config(["demo:ood"], model="demo", options=ProfileOptions()))
    specs = [{k: v for k, v in spec.items() if k != "seed"}
             for config in configs for spec in config.perturbation_specs()]
    return list({repr(sorted(s.items())): s for s in specs}.values())


def _check(tokenizer, clean: np.ndarray, specs: list[dict]) -> int:
    """Assert every variant's codes equal its whole encode; the number of resumed variants."""
    reference = tokenizer.reference(clean)
    np.testing.assert_array_equal(reference.tokens.ids, tokenizer.encode(clean))
    context = PerturbContext(sample_rate=tokenizer.sample_rate, hop_length=tokenizer.hop_length,
                             codebook_size=tokenizer.codebook_size, encode=tokenizer.encode,
                             tokenize=tokenizer.tokenize,
                             tokenize_all=lambda signals: tokenizer.tokenize_variants(
                                 signals, reference=reference))
    variants = apply_all(Clean(clean), specs, context=context, seeds=list(range(len(specs))))
    resumed = 0
    for spec, variant in zip(specs, variants, strict=True):
        assert not isinstance(variant, Exception), (spec, variant)
        np.testing.assert_array_equal(variant.codes, tokenizer.encode(variant.audio),
                                      err_msg=str(spec))
        resumed += bool(first_difference(variant.audio, clean))
    return resumed


def test_encodec_32k_geometry_every_family_and_probe():
    """The EnCodec 32 kHz geometry (64 filters, ratios 8 5 4 4, 2-layer LSTM), random weights."""
    import torch
    from transformers import EncodecConfig, EncodecModel

    from noiseloss.tokenizers.encodec import EncodecTokenizer

    torch.manual_seed(0)
    codec = EncodecModel(EncodecConfig(sampling_rate=RATE, upsampling_ratios=[8, 5, 4, 4],
                                       target_bandwidths=[2.2], codebook_size=2048,
                                       num_filters=64, hidden_size=128,
                                       use_causal_conv=False)).eval()
    tokenizer = EncodecTokenizer(codec)
    assert tokenizer._parts is not None
    assert (tokenizer._parts.head_left, tokenizer._parts.head_right) == (482, 1105)
    seconds = 4.0
    specs = [
        *({"kind": "noise", "onset_seconds": 1.0, "length_seconds": length, "level_db": -10.0,
           "level_ref": "signal", "color": color}
          for length in (0.02, 0.5) for color in ("white", "pink")),
        {"kind": "noise", "onset_frames": 0, "length_frames": 10},  # differs from sample 0
        {"kind": "noise", "onset_seconds": 3.9, "length_seconds": 0.1},  # the last frames
        {"kind": "swap", "onset_seconds": 1.3, "block_seconds": 0.4},
        {"kind": "reverse", "onset_seconds": 2.0, "length_seconds": 0.3},
        {"kind": "lowpass", "onset_seconds": 1.7, "length_seconds": 1.0, "cutoff_hz": 1000.0},
    ]
    assert _check(tokenizer, _music(seconds, seed=1), specs) == len(specs) - 1


def test_tiny_encodec_every_builtin_family(tiny_scorer):
    """All audio specs of the paper configs, the audit battery and the profile probes."""
    from noiseloss.tokenizers.encodec import EncodecTokenizer

    tokenizer = tiny_scorer.tokenizer
    assert isinstance(tokenizer, EncodecTokenizer) and tokenizer._parts is not None
    specs = _specs(15.0)
    assert len(specs) >= 40
    assert _check(tokenizer, _music(15.0, seed=2), specs) >= 30


def test_stereo_channels_resume_separately(tiny_model_dir):
    """A stereo codec: a change in one channel leaves the other channel's rows untouched."""
    from noiseloss.models import load_model
    from noiseloss.tokenizers.encodec import EncodecTokenizer

    codec = load_model(tiny_model_dir).tokenizer.model
    tokenizer = EncodecTokenizer(codec, channels=2)
    clean = np.stack([_music(3.0, seed=3), _music(3.0, seed=4)])
    reference = tokenizer.reference(clean)
    left, both = clean.copy(), clean.copy()
    left[0, 40000:41000] = 0.0
    both[:, 50000:] *= 0.5
    out = tokenizer.tokenize_variants([left, both, clean], reference=reference)
    for variant, tokens in zip([left, both, clean], out, strict=True):
        np.testing.assert_array_equal(tokens.ids, tokenizer.encode(variant))
    np.testing.assert_array_equal(out[0].ids[1::2], reference.tokens.ids[1::2])  # right rows
    assert out[2].ids is reference.tokens.ids


def test_spectral_tokenizer_every_builtin_family():
    """The demo model's log-mel tokenizer: frames from the first one a change reaches."""
    from noiseloss.models import load_model

    tokenizer = load_model("demo").tokenizer
    assert _check(tokenizer, _music(15.0, seed=5), _specs(15.0)) >= 30


def test_codecs_that_cannot_resume_encode_whole():
    """A codec normalising by the whole signal's loudness keeps no state: variants go whole."""
    import torch
    from transformers import EncodecConfig, EncodecModel

    from noiseloss.tokenizers.encodec import EncodecTokenizer

    torch.manual_seed(0)
    codec = EncodecModel(EncodecConfig(sampling_rate=RATE, upsampling_ratios=[8, 5, 4, 4],
                                       target_bandwidths=[2.2], num_filters=4, hidden_size=16,
                                       codebook_dim=16, normalize=True)).eval()
    tokenizer = EncodecTokenizer(codec)
    clean = _music(2.0, seed=6)
    reference = tokenizer.reference(clean)
    assert reference.state is None
    variant = clean.copy()
    variant[40000:] *= 0.1  # louder or quieter changes every frame's scale
    (tokens,) = tokenizer.tokenize_variants([variant], reference=reference)
    np.testing.assert_array_equal(tokens.ids, tokenizer.encode(variant))
