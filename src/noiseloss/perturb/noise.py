"""Coloured noise: true power-law spectra, and the authors' Butterworth approximations (legacy).

Power-law noise has a power spectral density ``S(f) ~ f ** exponent`` from ``low_hz`` up to
Nyquist, i.e. a slope of ``exponent * 10 * log10(2) ~ 3.01 * exponent`` dB per octave:

    colour   exponent   slope (dB/octave)
    white        0          0
    pink        -1         -3
    brown       -2         -6
    blue        +1         +3
    violet      +2         +6

Below ``low_hz`` the spectrum is held flat (at its value at ``low_hz``) and DC is removed, so that
pink and brown noise do not put most of their power into inaudible drift. It is shaped in the
frequency domain from one white Gaussian draw, so the noise is periodic with its own length.
"""

from __future__ import annotations

from typing import Annotated

import numpy as np

from noiseloss.errors import ParameterError, check_choice, check_int, check_number
from noiseloss.perturb.base import Choices

# PSD exponent of each colour: S(f) ~ f ** exponent
NOISE_COLORS = {"white": 0, "pink": -1, "brown": -2, "blue": 1, "violet": 2}
NOISE_METHODS = ("powerlaw", "legacy-butterworth")
#: Parameter types of the noise kinds (``Annotated``: checked when a config is read).
NoiseColor = Annotated[str, Choices(tuple(NOISE_COLORS))]
NoiseMethod = Annotated[str, Choices(NOISE_METHODS)]

# The paper authors' published noise filters: scipy ``butter(order, Wn, btype)`` with Wn as
# a fraction of Nyquist, applied to white noise with ``lfilter``. White is unfiltered; it has no
# violet noise. At 32 kHz: pink = 1st-order low-pass at 3.2 kHz, brown = 2nd-order low-pass at
# 1.6 kHz, blue = 1st-order high-pass at 8 kHz.
LEGACY_BUTTERWORTH = {"pink": (1, 0.2, "lowpass"), "brown": (2, 0.1, "lowpass"),
                      "blue": (1, 0.5, "highpass")}


def legacy_filter(color: str) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients ``(b, a)`` of the research code's filter for ``color`` (white: identity)."""
    check_choice("color", color, ["white", *LEGACY_BUTTERWORTH])
    if color == "white":
        return np.ones(1), np.ones(1)
    from scipy.signal import butter

    order, cutoff, btype = LEGACY_BUTTERWORTH[color]
    return butter(order, cutoff, btype=btype)


def noise(
    num_samples: int,
    *,
    color: str,
    rng: np.random.Generator,
    method: str = "powerlaw",
    sample_rate: int = 32000,
    low_hz: float = 20.0,
) -> np.ndarray:
    """Coloured Gaussian noise with an RMS of exactly 1, float32 ``[num_samples]``.

    Args:
        num_samples: Length in samples (at least 2).
        color: One of ``NOISE_COLORS`` (``legacy-butterworth`` has no violet).
        rng: Source of randomness (one white draw of ``num_samples`` values is consumed).
        method: ``"powerlaw"`` (true ``1/f**alpha`` spectra) or ``"legacy-butterworth"`` (the
            paper's filtered white noise, see ``LEGACY_BUTTERWORTH``).
        sample_rate: Rate in Hz, used to place ``low_hz``.
        low_hz: Power-law spectra are flat below this frequency (Hz); DC is removed.
    """
    num_samples = check_int("num_samples", num_samples, low=2)
    check_choice("method", method, NOISE_METHODS)
    check_choice("color", color, NOISE_COLORS)
    sample_rate = check_int("sample_rate", sample_rate, low=1)
    low_hz = check_number("low_hz", low_hz, low=0.0, high=sample_rate / 2, low_open=True)
    if method == "legacy-butterworth" and color not in ("white", *LEGACY_BUTTERWORTH):
        raise ParameterError(
            f"color must be one of {sorted(['white', *LEGACY_BUTTERWORTH])} with method "
            f"'legacy-butterworth', got {color!r}")
    white = rng.standard_normal(num_samples)
    if method == "powerlaw":
        freqs = np.fft.rfftfreq(num_samples, d=1.0 / sample_rate)
        amplitude = np.maximum(freqs, low_hz) ** (NOISE_COLORS[color] / 2)
        amplitude[0] = 0.0
        shaped = np.fft.irfft(np.fft.rfft(white) * amplitude, n=num_samples)
    else:
        from scipy.signal import lfilter

        shaped = lfilter(*legacy_filter(color), white)
    rms = np.sqrt(np.mean(shaped**2))
    return (shaped / rms).astype(np.float32)
