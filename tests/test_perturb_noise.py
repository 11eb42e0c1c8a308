"""Coloured noise: spectral slopes, the legacy Butterworth filters, RMS, seeds, errors."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import freqz, welch

from noiseloss.errors import ParameterError
from noiseloss.perturb import NOISE_COLORS, legacy_filter, noise

SR = 32000
TARGET_DB_PER_OCTAVE = {"white": 0.0, "pink": -3.0, "brown": -6.0, "blue": 3.0, "violet": 6.0}
# audit section 1.2: gains (dB) of the research code's filters at fs = 32 kHz
TABLE_HZ = [50, 200, 800, 1600, 3200, 6400, 12800]
LEGACY_TABLE_DB = {
    "pink": [0, 0, -0.2, -0.9, -3.0, -7.8, -19.6],
    "brown": [0, 0, -0.3, -3.0, -12.7, -26.5, -51.5],
    "blue": [-46.2, -34.1, -22.1, -16.1, -10.2, -4.6, -0.4],
}


def slope_db_per_octave(x: np.ndarray) -> float:
    freqs, psd = welch(x, fs=SR, nperseg=8192)
    band = (freqs >= 50) & (freqs <= 12000)
    return float(np.polyfit(np.log2(freqs[band]), 10 * np.log10(psd[band]), 1)[0])


@pytest.mark.parametrize("color", sorted(NOISE_COLORS))
def test_powerlaw_slope_is_within_half_a_db_per_octave(color):
    x = noise(15 * SR, color=color, rng=np.random.default_rng(7), sample_rate=SR)
    assert x.dtype == np.float32 and x.shape == (15 * SR,)
    assert slope_db_per_octave(x) == pytest.approx(TARGET_DB_PER_OCTAVE[color], abs=0.5)


def test_powerlaw_slopes_golden_values():
    # seed 7, 15 s: the fitted slopes sit within 0.05 dB/octave of 3.01 * exponent
    for color, exponent in NOISE_COLORS.items():
        x = noise(15 * SR, color=color, rng=np.random.default_rng(7), sample_rate=SR)
        assert slope_db_per_octave(x) == pytest.approx(3.0103 * exponent, abs=0.05)


@pytest.mark.parametrize("method", ["powerlaw", "legacy-butterworth"])
def test_noise_has_unit_rms_and_depends_only_on_the_seed(method):
    a = noise(10000, color="pink", rng=np.random.default_rng(1), method=method)
    b = noise(10000, color="pink", rng=np.random.default_rng(1), method=method)
    c = noise(10000, color="pink", rng=np.random.default_rng(2), method=method)
    assert np.sqrt(np.mean(a.astype(np.float64) ** 2)) == pytest.approx(1.0, abs=1e-6)
    assert np.array_equal(a, b)
    assert np.mean(np.abs(a - c)) > 0.5


def test_powerlaw_noise_has_no_dc_and_is_flat_below_low_hz():
    x = noise(15 * SR, color="brown", rng=np.random.default_rng(3), sample_rate=SR, low_hz=100.0)
    assert abs(float(np.mean(x))) < 1e-6
    freqs, psd = welch(x, fs=SR, nperseg=32768)
    level = 10 * np.log10(psd)
    below = (freqs >= 20) & (freqs <= 90)
    above = (freqs >= 200) & (freqs <= 3200)
    slope_below = np.polyfit(np.log2(freqs[below]), level[below], 1)[0]
    slope_above = np.polyfit(np.log2(freqs[above]), level[above], 1)[0]
    assert slope_below == pytest.approx(0.0, abs=1.5)  # flat below 100 Hz
    assert slope_above == pytest.approx(-6.0, abs=0.5)


def test_legacy_filter_coefficients_golden():
    b, a = legacy_filter("pink")
    assert np.allclose(b, [0.24523728, 0.24523728], atol=1e-8)
    assert np.allclose(a, [1.0, -0.50952545], atol=1e-8)
    b, a = legacy_filter("white")
    assert np.array_equal(b, [1.0]) and np.array_equal(a, [1.0])


@pytest.mark.parametrize("color", sorted(LEGACY_TABLE_DB))
def test_legacy_filters_match_the_documented_gains(color):
    _, response = freqz(*legacy_filter(color), worN=TABLE_HZ, fs=SR)
    gains = 20 * np.log10(np.abs(response))
    assert np.allclose(gains, LEGACY_TABLE_DB[color], atol=0.5)


@pytest.mark.parametrize("color", sorted(LEGACY_TABLE_DB))
def test_legacy_noise_is_the_filtered_white_draw(color):
    # same seed -> same white draw; the measured PSD ratio follows the documented gains
    white = noise(15 * SR, color="white", rng=np.random.default_rng(3), method="legacy-butterworth")
    shaped = noise(15 * SR, color=color, rng=np.random.default_rng(3), method="legacy-butterworth")
    freqs, p_white = welch(white, fs=SR, nperseg=4096)
    _, p_shaped = welch(shaped, fs=SR, nperseg=4096)
    idx = [int(np.argmin(np.abs(freqs - f))) for f in TABLE_HZ]
    measured = 10 * np.log10(p_shaped[idx] / p_white[idx])
    offset = measured - np.array(LEGACY_TABLE_DB[color])  # constant: the RMS normalisation
    assert np.ptp(offset) < 1.0
    assert np.allclose(offset, np.median(offset), atol=0.5)


def test_noise_errors_name_parameter_allowed_values_and_value():
    rng = np.random.default_rng(0)
    with pytest.raises(ParameterError, match=r"color must be one of .*'pink'.*got 'purple'"):
        noise(100, color="purple", rng=rng)
    with pytest.raises(ParameterError, match=r"method must be one of .*got 'fft'"):
        noise(100, color="pink", rng=rng, method="fft")
    with pytest.raises(ParameterError, match=r"legacy-butterworth', got 'violet'"):
        noise(100, color="violet", rng=rng, method="legacy-butterworth")
    with pytest.raises(ParameterError, match=r"num_samples must be in \[2, inf\), got 1"):
        noise(1, color="white", rng=rng)
