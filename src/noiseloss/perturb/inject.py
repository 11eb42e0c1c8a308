"""Noise injection into a span of audio (paper Eq. 2: the span's samples are replaced)."""

from __future__ import annotations

import math
from typing import Annotated

import numpy as np

from noiseloss.errors import ParameterError, check_choice, check_number
from noiseloss.perturb.base import (
    Choices,
    Perturbed,
    as_audio,
    audio_result,
    check_end,
    check_rates,
    make_rng,
    time_samples,
)
from noiseloss.perturb.levels import (
    LEVEL_DB,
    LEVEL_REFS,
    LevelDb,
    LevelRef,
    noise_level_db,
    reference_level_db,
)
from noiseloss.perturb.noise import NOISE_COLORS, NOISE_METHODS, NoiseColor, NoiseMethod, noise

MODES = ("replace", "add")
CLIP_RULES = ("report", "scale-noise", "error")


def fade_weights(length_samples: int, fade_samples: int) -> np.ndarray:
    """Noise weight ``w`` over a span, float64 ``[length_samples]``: raised-cosine ramps.

    ``w`` rises over the first ``fade_samples`` samples and falls over the last ones, strictly
    between 0 and 1 on the ramps, so even the span's first and last samples are changed::

        w:  0 < ramp up < 1 | 1 1 1 ... 1 | 1 > ramp down > 0
            <- fade ->                      <- fade ->
    """
    w = np.ones(length_samples)
    if fade_samples:
        ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(fade_samples) + 0.5) / fade_samples)
        w[:fade_samples] = ramp
        w[length_samples - fade_samples:] = ramp[::-1]
    return w


def _max_gain(base: np.ndarray, shape: np.ndarray) -> float:
    """Largest ``g >= 0`` with ``|base + g * shape| <= 1`` everywhere (-1 if ``|base| > 1``)."""
    if np.any(np.abs(base) > 1.0):
        return -1.0
    moving = shape != 0
    bounds = (1.0 - np.sign(shape[moving]) * base[moving]) / np.abs(shape[moving])
    return float(bounds.min()) if bounds.size else math.inf


def inject_noise(
    audio: np.ndarray,
    *,
    onset_frames: int | None = None,
    onset_seconds: float | None = None,
    onset_fraction: float | None = None,
    length_frames: int | None = None,
    length_seconds: float | None = None,
    color: NoiseColor = "white",
    level_db: LevelDb = -20.0,
    level_ref: LevelRef = "signal",
    mode: Annotated[str, Choices(MODES)] = "replace",
    crossfade_ms: float = 0.0,
    method: NoiseMethod = "powerlaw",
    local_context_ms: float = 1000.0,
    on_clip: Annotated[str, Choices(CLIP_RULES)] = "report",
    sample_rate: int,
    hop_length: int,
    seed: int,
) -> Perturbed:
    """Inject coloured noise into one span of mono audio.

    Inside the span ``[onset, onset + length)`` (output = ``y``, input = ``x``, noise = ``n``
    with RMS 1, fade weight ``w`` = 1 unless ``crossfade_ms`` > 0)::

        replace:  y = (1 - w) * x + w * g * n      (paper Eq. 2 when w = 1)
        add:      y = x + w * g * n

    with the gain ``g`` that puts ``g * n`` at ``level_db`` relative to ``level_ref`` (see
    ``noiseloss.perturb.levels``). Outside the span ``y`` is bit-identical to ``x``; a cross-fade
    only changes samples inside the span.

    Clipping is never silent. ``params`` always holds ``peak`` (max ``|y|`` in the span) and
    ``clipped_samples`` (span samples with ``|y| > 1``). ``on_clip`` decides what happens when
    the span would exceed full scale: ``"report"`` keeps the requested level and the float
    samples above 1.0; ``"scale-noise"`` lowers the noise gain (never the music) until the peak
    is at most 1 and records the level actually reached; ``"error"`` raises.

    Args:
        audio: Mono float ``[samples]`` at ``sample_rate`` Hz (not modified).
        onset_frames: Span start in model frames (sample = frame * hop_length), or use
            ``onset_seconds`` (rounded to the nearest sample).
        onset_seconds: Span start in seconds.
        onset_fraction: Span start as a fraction ``[0, 1)`` of the audio's duration (rounded
            to the nearest sample): the same place in clips of any length.
        length_frames: Span length in model frames, or use ``length_seconds``.
        length_seconds: Span length in seconds.
        color: One of white, pink, brown, blue, violet.
        level_db: Noise level in dB relative to ``level_ref`` (LU for ``lufs``).
        level_ref: ``dbfs``, ``signal``, ``local`` or ``lufs``.
        mode: ``replace`` or ``add``.
        crossfade_ms: Raised-cosine ramp at each end of the span, inside the span, in ms.
        method: ``powerlaw`` or ``legacy-butterworth`` (the paper's filtered noise).
        local_context_ms: Context on each side of the span for ``level_ref="local"``, in ms.
        on_clip: ``report``, ``scale-noise`` or ``error``.
        sample_rate: Rate in Hz.
        hop_length: Samples per model frame.
        seed: Seed of the noise draw (the same seed gives the same noise for every colour).

    Returns:
        ``Perturbed`` with float32 audio of the input's length and the span in samples/frames.
    """
    audio = as_audio(audio)
    sample_rate, hop_length = check_rates(sample_rate, hop_length)
    check_choice("color", color, NOISE_COLORS)
    check_choice("level_ref", level_ref, LEVEL_REFS)
    check_choice("mode", mode, MODES)
    check_choice("method", method, NOISE_METHODS)
    check_choice("on_clip", on_clip, CLIP_RULES)
    level_db = check_number("level_db", level_db, low=LEVEL_DB.low, high=LEVEL_DB.high)
    crossfade_ms = check_number("crossfade_ms", crossfade_ms, low=0.0)
    local_context_ms = check_number("local_context_ms", local_context_ms, low=0.0)
    times = dict(sample_rate=sample_rate, hop_length=hop_length)
    if onset_fraction is None:
        onset, onset_rec = time_samples("onset", frames=onset_frames, seconds=onset_seconds,
                                        **times)
    elif onset_frames is None and onset_seconds is None:
        fraction = check_number("onset_fraction", onset_fraction, low=0.0, high=1.0,
                                high_open=True)
        onset, onset_rec = round(fraction * audio.shape[0]), {"onset_fraction": fraction}
    else:
        raise ParameterError("give one of onset_frames, onset_seconds or onset_fraction")
    length, length_rec = time_samples("length", frames=length_frames, seconds=length_seconds,
                                      minimum=2, **times)
    check_end(f"{next(iter(onset_rec))} + {next(iter(length_rec))}", onset + length,
              audio.shape[0], hop_length=hop_length)
    fade = round(crossfade_ms * sample_rate / 1000)
    if 2 * fade > length:
        raise ParameterError(
            f"crossfade_ms must be at most half the span ({1000 * length / sample_rate / 2:g} "
            f"ms), got {crossfade_ms:g} ms")

    shape = noise(length, color=color, rng=make_rng(seed), method=method,
                  sample_rate=sample_rate).astype(np.float64)
    reference_db = reference_level_db(audio, level_ref=level_ref, sample_rate=sample_rate,
                                      onset_samples=onset, length_samples=length,
                                      local_context_ms=local_context_ms)
    unit_db = noise_level_db(shape, level_ref=level_ref, sample_rate=sample_rate)
    gain = 10.0 ** ((reference_db + level_db - unit_db) / 20.0)

    music = audio[onset:onset + length].astype(np.float64)
    w = fade_weights(length, fade)
    base = music * (1.0 - w) if mode == "replace" else music
    span = base + gain * w * shape
    peak = float(np.max(np.abs(span)))
    if peak > 1.0 and on_clip != "report":
        if on_clip == "error":
            raise ParameterError(
                f"level_db={level_db:g} ({level_ref}) drives the span to peak {peak:.3f} > 1.0 "
                f"(full scale); lower level_db or use on_clip='scale-noise' or 'report'")
        max_gain = _max_gain(base, w * shape)
        if max_gain <= 0:
            raise ParameterError(
                "on_clip='scale-noise' cannot help: the input itself reaches full scale inside "
                "the span; use on_clip='report'")
        gain = min(gain, max_gain * (1.0 - 1e-6))
        span = base + gain * w * shape
    out = audio.copy()
    out[onset:onset + length] = span.astype(np.float32)
    written = out[onset:onset + length]
    reached_db = unit_db + 20.0 * math.log10(gain) - reference_db
    params = {
        **onset_rec, **length_rec, "onset_samples": onset, "length_samples": length,
        "color": color, "method": method, "level_db": level_db, "level_ref": level_ref,
        "mode": mode, "crossfade_ms": crossfade_ms, "on_clip": on_clip,
        "sample_rate": sample_rate, "hop_length": hop_length, "seed": int(seed),
        "reference_level_db": reference_db, "noise_gain": gain, "reached_level_db": reached_db,
        "peak": float(np.max(np.abs(written))),
        "clipped_samples": int(np.count_nonzero(np.abs(written) > 1.0)),
    }
    if level_ref == "local":
        params["local_context_ms"] = local_context_ms
    return audio_result(out, onset, length, hop_length=hop_length, params=params)
