import math

import numpy as np
import pytest

from noiseloss.errors import ModelLoadError, ParameterError
from noiseloss.tokenizers.spectral import SpectralTokenizer

SR = 32000
# random-frame initialisation on these few, repetitive signals leaves some clusters empty
pytestmark = pytest.mark.filterwarnings("ignore:One of the clusters is empty")


def _signals():
    rng = np.random.default_rng(1)
    t = np.arange(SR * 2) / SR
    chord = sum(0.1 * np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6))
    sweep = 0.2 * np.sin(2 * np.pi * (200 + 400 * t) * t)
    noise = 0.05 * rng.standard_normal(t.size)
    return [x.astype(np.float32) for x in (chord, sweep, noise)]


@pytest.fixture(scope="module")
def tokenizer():
    return SpectralTokenizer.fit(_signals(), seed=3, codebook_size=16, max_frames=500,
                                 iterations=5)


def test_fit_is_deterministic_in_the_seed(tokenizer):
    again = SpectralTokenizer.fit(_signals(), seed=3, codebook_size=16, max_frames=500,
                                  iterations=5)
    other = SpectralTokenizer.fit(_signals(), seed=4, codebook_size=16, max_frames=500,
                                  iterations=5)
    np.testing.assert_array_equal(again.codebooks, tokenizer.codebooks)
    assert again.sha256() == tokenizer.sha256()
    assert other.sha256() != tokenizer.sha256()
    assert tokenizer.codebooks.shape == (4, 16, 80)


def test_encode_is_deterministic_and_pure(tokenizer):
    x = _signals()[0]
    copy = x.copy()
    a, b = tokenizer.encode(x), tokenizer.encode(x)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(x, copy)
    assert a.dtype == np.int64 and a.min() >= 0 and a.max() < 16


@pytest.mark.parametrize("samples", [1, 639, 640, 641, 1280, 32000, 32001, 48123])
def test_frame_count_is_ceil_samples_over_hop(tokenizer, samples):
    x = _signals()[2][:samples]
    codes = tokenizer.encode(x)
    assert codes.shape == (4, math.ceil(samples / 640))


@pytest.mark.parametrize("samples", [640, 12345, 32001])
def test_decode_length_equals_input_length(tokenizer, samples):
    x = _signals()[1][:samples]
    codes = tokenizer.encode(x)
    y = tokenizer.decode(codes, num_samples=samples, iterations=2)
    assert y.shape == (samples,) and y.dtype == np.float32 and np.all(np.isfinite(y))
    assert tokenizer.decode(codes, iterations=1).shape == (codes.shape[1] * 640,)


def test_decode_rejects_a_length_with_another_frame_count(tokenizer):
    codes = tokenizer.encode(_signals()[0][:6400])  # 10 frames
    with pytest.raises(ParameterError, match="num_samples=7000"):
        tokenizer.decode(codes, num_samples=7000)


def test_residual_stages_reduce_the_quantisation_error(tokenizer):
    features = tokenizer.log_mel(_signals()[1])
    codes = tokenizer.quantize(features)
    errors = []
    for stages in range(1, 5):
        approx = sum(tokenizer.codebooks[k][codes[k]] for k in range(stages))
        errors.append(float(np.mean((features - approx) ** 2)))
    assert all(b < a for a, b in zip(errors[:-1], errors[1:], strict=True))
    np.testing.assert_allclose(tokenizer.dequantize(codes), approx, rtol=1e-6)


def test_log_mel_scales_with_power():
    # doubling the amplitude multiplies the power by 4: +ln 4 where the power dwarfs the floor
    tok = SpectralTokenizer(np.zeros((4, 1, 80), np.float32))
    t = np.arange(SR) / SR
    x = (0.1 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    a, b = tok.log_mel(x), tok.log_mel(2 * x)
    band = int(np.argmax(a[25]))
    np.testing.assert_allclose(b[5:-5, band] - a[5:-5, band], math.log(4), atol=1e-3)


def test_griffin_lim_recovers_a_sine_pitch():
    tok = SpectralTokenizer(np.zeros((4, 1, 80), np.float32))
    t = np.arange(SR) / SR
    x = (0.3 * np.sin(2 * np.pi * 880 * t)).astype(np.float32)
    features = tok.log_mel(x)
    tok_exact = SpectralTokenizer(np.stack([features] + [np.zeros_like(features)] * 3))
    codes = np.stack([np.arange(features.shape[0])] + [np.zeros(features.shape[0], int)] * 3)
    y = tok_exact.decode(codes, num_samples=x.size, iterations=32)
    spectrum = np.abs(np.fft.rfft(y[4000:-4000] * np.hanning(y.size - 8000)))
    peak_hz = np.argmax(spectrum) * SR / (y.size - 8000)
    assert abs(peak_hz - 880) < 30
    # the re-analysed log-mel is close to the input's in the loud bands
    loud = features[10:-10] > features.max() - 5
    assert np.abs(tok.log_mel(y)[10:-10][loud] - features[10:-10][loud]).mean() < 1.0


def test_save_load_round_trip(tokenizer, tmp_path):
    tokenizer.save(tmp_path / "tok")
    loaded = SpectralTokenizer.load(tmp_path / "tok")
    assert loaded.sha256() == tokenizer.sha256()
    assert loaded.describe() == tokenizer.describe()
    x = _signals()[0]
    np.testing.assert_array_equal(loaded.encode(x), tokenizer.encode(x))


def test_load_missing_folder_raises(tmp_path):
    with pytest.raises(ModelLoadError, match="cannot read a spectral tokenizer"):
        SpectralTokenizer.load(tmp_path / "nothing")


def test_fit_needs_enough_frames():
    with pytest.raises(ParameterError, match="codebook_size=512"):
        SpectralTokenizer.fit([_signals()[0]], seed=0, codebook_size=512)


def test_batched_stft_gives_shorttimefft_features_and_the_golden_codes():
    """The one-call STFT changes nothing: log-mel bit for bit as ShortTimeFFT's, and the codes
    of a shipped clip as before (sha256 recorded with the ShortTimeFFT implementation)."""
    import hashlib

    from noiseloss.demo.data import dataset_files
    from noiseloss.models.demo import ASSETS
    from noiseloss.sources.audio import load_audio

    tok = SpectralTokenizer.load(ASSETS / "tokenizer")
    clip = load_audio(dataset_files("train")[0], sample_rate=32000)
    codes = tok.encode(clip)
    assert hashlib.sha256(codes.astype("<i8").tobytes()).hexdigest() == (
        "4d438f5d081b10558dfcaf265434badfc5099644c982544dfe90c89f6fcf8bc8")
    rng = np.random.default_rng(3)
    for signal in (clip[:777], clip + 0.05 * rng.standard_normal(clip.size), rng.standard_normal(900)):
        x = np.asarray(signal, np.float64)
        frames = tok.num_frames(x.size)
        padded = np.pad(x, (0, max(0, tok.n_fft - x.size)))
        power = np.abs(tok._stft.stft(padded, p0=0, p1=frames)) ** 2
        reference = np.log(tok._mel @ power + tok.floor_power).T.astype(np.float32)
        np.testing.assert_array_equal(tok.log_mel(signal), reference)
