"""Token-domain edits of codes ``[K codebooks, T frames]``.

The span ``[onset, onset + L)`` of every codebook is replaced; all other codes are kept::

    frame t ->   0 ... onset-1 | onset ... onset+L-1 | onset+L ... T-1
    codes        kept          | replaced            | kept
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from noiseloss.errors import ParameterError, check_choice, check_int, check_number
from noiseloss.perturb.base import (
    Perturbed,
    check_end,
    check_rates,
    make_rng,
)
from noiseloss.perturb.levels import LEVEL_DB, LevelDb
from noiseloss.perturb.noise import NOISE_COLORS, NOISE_METHODS, NoiseColor, NoiseMethod, noise


def _codes_span(codes, onset_frames, length_frames):
    """Validated ``(codes, onset, length, record)`` for an integer ``[K, T]`` array."""
    codes = np.asarray(codes)
    if codes.ndim != 2 or not np.issubdtype(codes.dtype, np.integer) or codes.shape[1] == 0:
        raise ParameterError(
            f"codes must be a non-empty integer array [K, T], got {codes.dtype} {codes.shape}")
    onset = check_int("onset_frames", onset_frames, low=0)
    length = check_int("length_frames", length_frames, low=1)
    check_end("onset_frames + length_frames", onset + length, codes.shape[1], hop_length=None)
    return codes, onset, length, {"onset_frames": onset, "length_frames": length}


def _result(out, onset, length, hop_length, params) -> Perturbed:
    span_samples = None if hop_length is None else (onset * hop_length, length * hop_length)
    return Perturbed(out, span_samples, (onset, length), params)


def random_tokens(
    codes: np.ndarray,
    *,
    onset_frames: int,
    length_frames: int,
    codebook_size: int,
    seed: int,
    hop_length: int | None = None,
) -> Perturbed:
    """Replace the span with codes drawn uniformly from ``[0, codebook_size)``.

    Args:
        codes: Integer codes ``[K, T]`` (not modified).
        onset_frames: First replaced frame.
        length_frames: Number of replaced frames.
        codebook_size: Codes per codebook (2048 for MusicGen).
        seed: Seed of the draw.
        hop_length: Samples per frame, only to report ``span_samples`` (None: not reported).
    """
    codes, onset, length, record = _codes_span(codes, onset_frames, length_frames)
    codebook_size = check_int("codebook_size", codebook_size, low=1)
    if hop_length is not None:
        hop_length = check_int("hop_length", hop_length, low=1)
    drawn = make_rng(seed).integers(0, codebook_size, size=(codes.shape[0], length))
    out = codes.copy()
    out[:, onset:onset + length] = drawn
    changed = int(np.count_nonzero(out != codes))
    params = {**record, "codebook_size": codebook_size, "seed": int(seed),
              "hop_length": hop_length, "changed_codes": changed}
    return _result(out, onset, length, hop_length, params)


def noise_tokens(
    codes: np.ndarray,
    *,
    onset_frames: int,
    length_frames: int,
    encode: Callable[[np.ndarray], np.ndarray],
    color: NoiseColor = "white",
    level_db: LevelDb = -20.0,
    method: NoiseMethod = "powerlaw",
    sample_rate: int,
    hop_length: int,
    seed: int,
) -> Perturbed:
    """Replace the span with the codes of a noise signal, encoded on its own.

    A noise of ``length_frames * hop_length`` samples at ``level_db`` RMS dBFS is encoded with
    ``encode`` (any tokenizer's ``encode(audio) -> codes [K, length_frames]``).

    Args:
        codes: Integer codes ``[K, T]`` (not modified).
        onset_frames: First replaced frame.
        length_frames: Number of replaced frames.
        encode: Mono float32 audio ``[samples]`` -> integer codes ``[K, frames]``.
        color: Noise colour (see ``noiseloss.perturb.noise``).
        level_db: Noise RMS in dBFS (absolute: there is no audio to be relative to).
        method: ``powerlaw`` or ``legacy-butterworth``.
        sample_rate: Rate of the tokenizer in Hz.
        hop_length: Samples per frame of the tokenizer.
        seed: Seed of the noise draw.
    """
    codes, onset, length, record = _codes_span(codes, onset_frames, length_frames)
    sample_rate, hop_length = check_rates(sample_rate, hop_length)
    check_choice("color", color, NOISE_COLORS)
    check_choice("method", method, NOISE_METHODS)
    level_db = check_number("level_db", level_db, low=LEVEL_DB.low, high=LEVEL_DB.high)
    if not callable(encode):
        raise ParameterError(f"encode must be a callable audio -> codes, got {encode!r}")
    signal = noise(length * hop_length, color=color, rng=make_rng(seed), method=method,
                   sample_rate=sample_rate) * np.float32(10.0 ** (level_db / 20.0))
    encoded = np.asarray(encode(signal))
    if encoded.shape != (codes.shape[0], length):
        raise ParameterError(
            f"encode returned codes of shape {encoded.shape} for {length} frames of noise, "
            f"expected {(codes.shape[0], length)}")
    out = codes.copy()
    out[:, onset:onset + length] = encoded
    params = {**record, "color": color, "level_db": level_db, "level_ref": "dbfs",
              "method": method, "sample_rate": sample_rate, "hop_length": hop_length,
              "seed": int(seed), "encode": getattr(encode, "__qualname__", repr(encode))}
    return _result(out, onset, length, hop_length, params)


def repeat_token(
    codes: np.ndarray,
    *,
    onset_frames: int,
    length_frames: int,
    code: int | None = None,
    codebook_size: int | None = None,
    hop_length: int | None = None,
) -> Perturbed:
    """Replace the span with one repeated code (a frozen token).

    Args:
        codes: Integer codes ``[K, T]`` (not modified).
        onset_frames: First replaced frame.
        length_frames: Number of replaced frames.
        code: The code written in every codebook; None repeats the frame before the onset
            (each codebook keeps its own last code, so ``onset_frames`` must be >= 1).
        codebook_size: Codes per codebook; when given, ``code`` must be below it.
        hop_length: Samples per frame, only to report ``span_samples`` (None: not reported).
    """
    codes, onset, length, record = _codes_span(codes, onset_frames, length_frames)
    if hop_length is not None:
        hop_length = check_int("hop_length", hop_length, low=1)
    if code is None:
        if onset == 0:
            raise ParameterError("code=None repeats the frame before the onset, so onset_frames "
                                 "must be >= 1, got 0")
        column = codes[:, onset - 1]
    else:
        high = None if codebook_size is None else check_int("codebook_size", codebook_size, low=1) - 1
        column = np.full(codes.shape[0], check_int("code", code, low=0, high=high),
                         dtype=codes.dtype)
    out = codes.copy()
    out[:, onset:onset + length] = column[:, None]
    params = {**record, "code": code, "repeated_codes": column.tolist(), "hop_length": hop_length}
    return _result(out, onset, length, hop_length, params)
