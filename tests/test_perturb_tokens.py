"""Token-domain edits of codes [K, T]."""

from __future__ import annotations

import math

import numpy as np
import pytest

from noiseloss.errors import ParameterError
from noiseloss.perturb import perturb

K, T, SIZE, HOP, SR = 4, 750, 2048, 640, 32000


def codes(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, SIZE, size=(K, T), dtype=np.int64)


def check_only_span_changed(before, after, onset, length):
    assert after.shape == before.shape and after.dtype == before.dtype
    assert np.array_equal(after[:, :onset], before[:, :onset])
    assert np.array_equal(after[:, onset + length:], before[:, onset + length:])


def test_token_random_replaces_the_span_with_seeded_uniform_codes():
    c = codes()
    keep = c.copy()
    out = perturb(c, {"kind": "token-random", "onset_frames": 250, "length_frames": 100,
                      "codebook_size": SIZE}, seed=3, hop_length=HOP)
    assert np.array_equal(c, keep)
    check_only_span_changed(c, out.data, 250, 100)
    span = out.data[:, 250:350]
    assert span.min() >= 0 and span.max() < SIZE
    # 400 fresh codes: nearly all differ from the originals (expected equal: 400 / 2048)
    assert out.params["changed_codes"] == int(np.count_nonzero(span != c[:, 250:350])) >= 395
    assert out.span_frames == (250, 100) and out.span_samples == (250 * HOP, 100 * HOP)
    again = perturb(c, {"kind": "token-random", "onset_frames": 250, "length_frames": 100,
                        "codebook_size": SIZE}, seed=3)
    other = perturb(c, {"kind": "token-random", "onset_frames": 250, "length_frames": 100,
                        "codebook_size": SIZE}, seed=4)
    assert np.array_equal(again.data, out.data) and not np.array_equal(other.data, out.data)
    assert again.span_samples is None  # no hop_length given


def test_token_random_small_codebook_stays_in_range():
    out = perturb(codes() % 4, {"kind": "token-random", "onset_frames": 0, "length_frames": T,
                                "codebook_size": 4}, seed=0)
    counts = np.bincount(out.data.ravel(), minlength=4)
    assert counts.size == 4 and np.all(np.abs(counts / counts.sum() - 0.25) < 0.03)


class FrameEnergyEncoder:
    """A toy tokenizer: code = quantised log RMS of each hop-sized frame, for all K codebooks."""

    def __init__(self):
        self.calls = []

    def encode(self, audio: np.ndarray) -> np.ndarray:
        self.calls.append(audio.copy())
        frames = math.ceil(audio.size / HOP)
        padded = np.pad(audio, (0, frames * HOP - audio.size)).reshape(frames, HOP)
        level = 10 * np.log10(np.mean(padded.astype(np.float64) ** 2, axis=1))
        return np.tile(np.clip(np.round(level + 100), 0, SIZE - 1).astype(np.int64), (K, 1))


def test_token_noise_encodes_a_noise_at_the_requested_level():
    enc = FrameEnergyEncoder()
    c = codes()
    out = perturb(c, {"kind": "token-noise", "onset_frames": 250, "length_frames": 50,
                      "encode": enc.encode, "color": "white", "level_db": -30.0},
                  sample_rate=SR, hop_length=HOP, seed=0)
    check_only_span_changed(c, out.data, 250, 50)
    (signal,) = enc.calls
    assert signal.dtype == np.float32 and signal.shape == (50 * HOP,)
    assert 10 * np.log10(np.mean(signal.astype(np.float64) ** 2)) == pytest.approx(-30.0, abs=1e-4)
    # frame RMS of white noise at -30 dBFS is -30 +- ~0.3 dB -> code 70
    assert np.all(np.abs(out.data[:, 250:300] - 70) <= 1)
    assert out.params["level_ref"] == "dbfs" and out.params["encode"].endswith("encode")
    assert out.span_samples == (250 * HOP, 50 * HOP)


def test_token_noise_rejects_an_encoder_with_the_wrong_shape():
    with pytest.raises(ParameterError, match=r"encode returned codes of shape \(2, 50\)"):
        perturb(codes(), {"kind": "token-noise", "onset_frames": 0, "length_frames": 50,
                          "encode": lambda a: np.zeros((2, 50), np.int64)},
                sample_rate=SR, hop_length=HOP, seed=0)


def test_token_repeat_freezes_the_previous_frame_or_writes_one_code():
    c = codes()
    frozen = perturb(c, {"kind": "token-repeat", "onset_frames": 250, "length_frames": 20})
    check_only_span_changed(c, frozen.data, 250, 20)
    assert np.array_equal(frozen.data[:, 250:270], np.repeat(c[:, 249:250], 20, axis=1))
    assert frozen.params["repeated_codes"] == c[:, 249].tolist()
    fixed = perturb(c, {"kind": "token-repeat", "onset_frames": 0, "length_frames": 5,
                        "code": 7})
    assert np.all(fixed.data[:, :5] == 7) and np.array_equal(fixed.data[:, 5:], c[:, 5:])


@pytest.mark.parametrize("spec, pattern", [
    ({"kind": "token-random", "onset_frames": 700, "length_frames": 100, "codebook_size": SIZE},
     r"onset_frames \+ length_frames must end within the 750 frames of the codes, got an end at "
     r"frame 800"),
    ({"kind": "token-random", "onset_frames": 0, "length_frames": -1, "codebook_size": SIZE},
     r"length_frames must be in \[1, inf\), got -1"),
    ({"kind": "token-repeat", "onset_frames": 0, "length_frames": 5},
     r"onset_frames must be >= 1, got 0"),
    ({"kind": "token-repeat", "onset_frames": 0, "length_frames": 5, "code": SIZE,
      "codebook_size": SIZE}, rf"code must be in \[0, {SIZE - 1}\], got {SIZE}"),
])
def test_token_errors(spec, pattern):
    with pytest.raises(ParameterError, match=pattern):
        perturb(codes(), spec, seed=0)


def test_codes_must_be_integer_k_by_t():
    with pytest.raises(ParameterError, match=r"codes must be a non-empty integer array \[K, T\]"):
        perturb(np.zeros((4, 10), np.float32), {"kind": "token-repeat", "onset_frames": 1,
                                                 "length_frames": 2})
