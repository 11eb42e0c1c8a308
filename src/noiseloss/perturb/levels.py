"""Signal levels: RMS dBFS, loudness in LUFS, and the reference a noise level is relative to.

Conventions: ``rms_db`` is RMS relative to a full scale of 1.0, so a full-scale sine is -3.01
dBFS and unit-RMS noise is 0 dBFS (the research code's convention). Loudness is ITU-R BS.1770-4
integrated loudness (``pyloudnorm``), which needs at least one 400 ms block.

Level references (``level_ref``) for a noise at ``level_db``:

    dbfs     noise RMS = level_db dBFS                          (absolute; the paper's code)
    signal   noise RMS = RMS of the whole clip + level_db       ("matched to the original audio")
    local    noise RMS = RMS of the clip around the span + level_db (span +- local_context_ms)
    lufs     noise loudness = loudness of the whole clip + level_db (LU)
"""

from __future__ import annotations

import math
from typing import Annotated

import numpy as np

from noiseloss.errors import AudioError, ParameterError, check_choice
from noiseloss.perturb.base import Choices, Range

LEVEL_REFS = ("dbfs", "signal", "local", "lufs")
#: Noise levels beyond +-200 dB are mistakes (and overflow a gain): the range of ``level_db``.
LEVEL_DB = Range(-200.0, 200.0)
LevelRef = Annotated[str, Choices(LEVEL_REFS)]
LevelDb = Annotated[float, LEVEL_DB]
LOUDNESS_BLOCK_SECONDS = 0.4  # BS.1770 gating block


def rms_db(audio: np.ndarray) -> float:
    """RMS level of ``[samples]`` in dBFS (re full scale 1.0); ``-inf`` for digital silence."""
    mean_square = float(np.mean(np.square(np.asarray(audio, dtype=np.float64))))
    return 10.0 * math.log10(mean_square) if mean_square > 0 else -math.inf


def loudness_lufs(audio: np.ndarray, *, sample_rate: int) -> float:
    """Integrated loudness (BS.1770-4, ``pyloudnorm``) of ``[samples]`` in LUFS.

    Raises:
        ParameterError: The signal is shorter than one 400 ms block.
    """
    import pyloudnorm

    audio = np.asarray(audio, dtype=np.float64)
    min_samples = math.ceil(LOUDNESS_BLOCK_SECONDS * sample_rate)
    if audio.shape[-1] < min_samples:
        raise ParameterError(
            f"loudness needs at least {LOUDNESS_BLOCK_SECONDS} s ({min_samples} samples at "
            f"{sample_rate} Hz), got {audio.shape[-1]} samples")
    return float(pyloudnorm.Meter(sample_rate).integrated_loudness(audio))


def reference_level_db(
    audio: np.ndarray,
    *,
    level_ref: str,
    sample_rate: int,
    onset_samples: int,
    length_samples: int,
    local_context_ms: float,
) -> float:
    """The level a relative noise level is added to: dBFS (dbfs, signal, local) or LUFS (lufs).

    Args:
        audio: The clean clip ``[samples]``.
        level_ref: One of ``LEVEL_REFS`` (see the module docstring).
        sample_rate: Rate in Hz.
        onset_samples: Start of the span (used by ``local``).
        length_samples: Length of the span (used by ``local``).
        local_context_ms: Context on each side of the span for ``local``, in ms.

    Raises:
        AudioError: The reference is digital silence (no relative level can be defined).
    """
    check_choice("level_ref", level_ref, LEVEL_REFS)
    if level_ref == "dbfs":
        return 0.0
    if level_ref == "lufs":
        level = loudness_lufs(audio, sample_rate=sample_rate)
    elif level_ref == "local":
        context = round(local_context_ms * sample_rate / 1000)
        lo, hi = max(onset_samples - context, 0), onset_samples + length_samples + context
        level = rms_db(audio[lo:hi])
    else:
        level = rms_db(audio)
    if not math.isfinite(level):
        raise AudioError(f"level_ref={level_ref!r}: the reference audio is silent, so a level "
                         "relative to it is undefined; use level_ref='dbfs'")
    return level


def noise_level_db(noise: np.ndarray, *, level_ref: str, sample_rate: int) -> float:
    """Level of a noise segment in the unit of ``level_ref``: RMS dBFS, or LUFS for ``lufs``.

    For ``lufs`` a segment shorter than one 400 ms block is measured on its periodic extension
    (exact for power-law noise, which is periodic with its own length).
    """
    check_choice("level_ref", level_ref, LEVEL_REFS)
    if level_ref != "lufs":
        return rms_db(noise)
    reps = math.ceil(LOUDNESS_BLOCK_SECONDS * sample_rate / noise.shape[-1])
    return loudness_lufs(np.tile(noise, reps), sample_rate=sample_rate)
