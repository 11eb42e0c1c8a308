"""Audio input: formats, downmix, resampling, frame counts and clear errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import soundfile as sf

from noiseloss.errors import AudioError, ParameterError
from noiseloss.sources.audio import load_audio, resample


@pytest.mark.parametrize("samples", [1, 639, 640, 641, 31999, 32000, 32001])
def test_frame_count_is_ceil_samples_over_640(tiny_scorer, samples, rng):
    audio = (0.1 * rng.standard_normal(samples)).astype(np.float32)
    codes = tiny_scorer.encode(audio)
    assert codes.shape == (4, math.ceil(samples / 640))
    assert tiny_scorer.frame_rate == 50


def test_stereo_44k_is_downmixed_and_resampled(tmp_path, rng):
    n = 44100 * 2
    t = np.arange(n) / 44100
    left, right = np.sin(2 * np.pi * 440 * t), 0.5 * np.sin(2 * np.pi * 660 * t)
    path = tmp_path / "stereo.flac"
    sf.write(path, np.stack([left, right], axis=1), 44100, subtype="PCM_24")
    audio = load_audio(path, sample_rate=32000)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert audio.shape[0] == 64000
    expected = resample(((left + right) / 2).astype(np.float32), orig_sr=44100, target_sr=32000)
    np.testing.assert_allclose(audio, expected, atol=1e-5)  # 24-bit quantisation only
    # energy of each tone survives the resampling: RMS of 0.5*(sin + 0.5 sin) = sqrt(1.25)/2/sqrt(2)
    assert np.sqrt(np.mean(audio**2)) == pytest.approx(np.sqrt(1.25) / 2 / np.sqrt(2), rel=1e-3)


def test_arrays_are_samples_by_channels(tiny_scorer, rng):
    stereo = (0.1 * rng.standard_normal((44100, 2))).astype(np.float32)
    as_array = tiny_scorer.load(stereo, sample_rate=44100)
    expected = resample(stereo.mean(axis=1), orig_sr=44100, target_sr=32000)
    np.testing.assert_array_equal(as_array, expected)
    assert as_array.shape == (32000,)
    with pytest.raises(ParameterError, match=r"got shape \(2, 44100\) .*pass audio.T"):
        tiny_scorer.load(stereo.T, sample_rate=44100)


@pytest.mark.parametrize("fmt", ["wav", "flac", "ogg", "mp3"])
def test_formats_round_trip(tmp_path, fmt, rng):
    audio = 0.2 * np.sin(2 * np.pi * 220 * np.arange(32000) / 32000)
    path = tmp_path / f"clip.{fmt}"
    sf.write(path, audio, 32000)
    loaded = load_audio(path, sample_rate=32000)
    assert abs(loaded.shape[0] - 32000) <= 1152  # mp3 frames may pad the end
    assert np.sqrt(np.mean(loaded**2)) == pytest.approx(0.2 / np.sqrt(2), rel=0.05)


def test_errors_name_the_file_and_the_reason(tmp_path):
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"this is not audio" * 10)
    with pytest.raises(AudioError, match=r"garbage\.wav: cannot read audio"):
        load_audio(garbage, sample_rate=32000)
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0), 32000)
    with pytest.raises(AudioError, match=r"empty\.wav: audio is empty"):
        load_audio(empty, sample_rate=32000)
    nan = tmp_path / "nan.wav"
    sf.write(nan, np.array([0.0, np.nan, 0.1, np.inf]), 32000, subtype="FLOAT")
    with pytest.raises(AudioError, match=r"nan\.wav: audio has 2 non-finite samples"):
        load_audio(nan, sample_rate=32000)
    short = tmp_path / "short.wav"
    sf.write(short, np.zeros(100), 32000)
    with pytest.raises(AudioError, match=r"short\.wav: audio too short: 100 samples"):
        load_audio(short, sample_rate=32000, min_samples=640)
    with pytest.raises(AudioError, match="no such file"):
        load_audio(tmp_path / "missing.wav", sample_rate=32000)
