"""Spectral and amplitude damage to a span of audio: a low-pass filter and hard clipping.

The length is kept and only the span changes (hard edges, as the order edits)::

    input      [ a | A               | b ]      A = [o, o + L)
    lowpass    [ a | A, low-passed   | b ]      zero-phase Butterworth over the whole signal,
                                                 only the span kept: no delay at its edges
    hard-clip  [ a | clip(g A, ±p)   | b ]      g = 10^(drive_db / 20), p = A's own peak: the
                                                 span keeps its peak and loses its dynamics
"""

from __future__ import annotations

from typing import Annotated

import numpy as np

from noiseloss.errors import check_int, check_number
from noiseloss.perturb.base import Perturbed, Range, audio_result, check_end
from noiseloss.perturb.order import _span


def lowpass(
    audio: np.ndarray,
    *,
    onset_frames: int | None = None,
    onset_seconds: float | None = None,
    length_frames: int | None = None,
    length_seconds: float | None = None,
    cutoff_hz: float,
    order: Annotated[int, Range(1, 16)] = 8,
    sample_rate: int,
    hop_length: int,
) -> Perturbed:
    """Low-pass a span: a zero-phase Butterworth filter of ``order`` at ``cutoff_hz``.

    The whole signal is filtered forwards and backwards (``scipy.signal.sosfiltfilt``: no
    phase delay, an effective order of twice ``order``) and only the span is taken from it,
    so the span's first sample is already filtered and the rest of the signal is untouched.

    Args:
        audio: Mono float ``[samples]`` (not modified).
        onset_frames: Span start in frames (or ``onset_seconds``).
        onset_seconds: Span start in seconds.
        length_frames: Span length in frames (or ``length_seconds``).
        length_seconds: Span length in seconds.
        cutoff_hz: -3 dB frequency of each pass, Hz, in (0, sample_rate / 2).
        order: Butterworth order of each pass.
        sample_rate: Rate in Hz.
        hop_length: Samples per model frame.
    """
    from scipy import signal

    audio, hop, onset, length, record, names = _span(
        audio, onset_frames, onset_seconds, length_frames, length_seconds, sample_rate, hop_length)
    check_end(" + ".join(names), onset + length, audio.shape[0], hop_length=hop)
    nyquist = record["sample_rate"] / 2
    cutoff = check_number("cutoff_hz", cutoff_hz, low=0.0, low_open=True, high=nyquist,
                          high_open=True)
    order = check_int("order", order, low=1, high=16)
    sos = signal.butter(order, cutoff, btype="lowpass", fs=record["sample_rate"], output="sos")
    filtered = signal.sosfiltfilt(sos, audio.astype(np.float64))
    out = audio.copy()
    out[onset:onset + length] = filtered[onset:onset + length]
    return audio_result(out, onset, length, hop_length=hop,
                        params={**record, "cutoff_hz": cutoff, "order": order})


def hard_clip(
    audio: np.ndarray,
    *,
    onset_frames: int | None = None,
    onset_seconds: float | None = None,
    length_frames: int | None = None,
    length_seconds: float | None = None,
    drive_db: Annotated[float, Range(0.0, 60.0)],
    sample_rate: int,
    hop_length: int,
) -> Perturbed:
    """Overdrive a span into hard clipping at its own peak: ``clip(g x, -p, p)``.

    ``g = 10^(drive_db / 20)`` and ``p`` is the largest ``|x|`` of the span, so the span keeps
    its peak level while every sample that the gain pushes above it is flattened (0 dB: no
    change). A silent span stays silent.

    Args:
        audio: Mono float ``[samples]`` (not modified).
        onset_frames: Span start in frames (or ``onset_seconds``).
        onset_seconds: Span start in seconds.
        length_frames: Span length in frames (or ``length_seconds``).
        length_seconds: Span length in seconds.
        drive_db: Gain before the clipper, dB in [0, 60].
        sample_rate: Rate in Hz.
        hop_length: Samples per model frame.

    Returns:
        The result; its ``params`` hold ``clipped_fraction``, the share of the span's samples
        that were flattened.
    """
    audio, hop, onset, length, record, names = _span(
        audio, onset_frames, onset_seconds, length_frames, length_seconds, sample_rate, hop_length)
    check_end(" + ".join(names), onset + length, audio.shape[0], hop_length=hop)
    drive = check_number("drive_db", drive_db, low=0.0, high=60.0)
    span = audio[onset:onset + length].astype(np.float64)
    peak = float(np.max(np.abs(span)))
    driven = span * 10.0 ** (drive / 20.0)
    clipped = np.abs(driven) > peak
    out = audio.copy()
    out[onset:onset + length] = np.clip(driven, -peak, peak)
    return audio_result(out, onset, length, hop_length=hop,
                        params={**record, "drive_db": drive,
                                "clipped_fraction": float(clipped.mean())})
