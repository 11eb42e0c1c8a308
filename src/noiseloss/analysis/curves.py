"""Per-frame loss curves from the stored ``[K, T]`` NLL matrices, and their smoothing."""

from __future__ import annotations

import numpy as np

from noiseloss.errors import ParameterError, check_range
from noiseloss.scoring.result import codebook_mean


def frame_curve(nll, *, num_codebooks: int, num_frames: int) -> np.ndarray:
    """Per-frame loss: mean over the K codebooks of each frame (NaN-aware).

    Args:
        nll: ``[K, T]`` NLL in nats, or the same matrix flattened row-major (codebook-major), as
            stored in ``results.parquet``.
        num_codebooks: K.
        num_frames: T.

    Returns:
        float32 ``[T]`` (``ScoreResult.frame_nll``'s curve); NaN where no codebook was scored.
    """
    values = np.asarray(nll, dtype=np.float32)
    if values.size != num_codebooks * num_frames:
        raise ParameterError(
            f"nll must hold num_codebooks * num_frames = {num_codebooks} * {num_frames} values, "
            f"got {values.size}")
    return codebook_mean(values.reshape(num_codebooks, num_frames))


def delay_lead_frames(*, num_codebooks: int, alignment: str) -> int:
    """How many frames early a perturbation can show in a codebook-averaged frame curve.

    For results stored without ``lead_frames`` (version 1 stores: mono MusicGen layouts); newer
    results carry the lead of the layout that produced them.

    Under MusicGen's delay pattern (``noiseloss.scoring.pattern``), the prediction of codebook
    ``k`` at frame ``t`` has seen codebook 0 up to frame ``t + k - 1``; the last codebook
    therefore reacts to a change of codebook 0 at frame ``onset`` from frame
    ``onset - (K - 2)`` on::

        frame          onset-2  onset-1  onset          (K = 4)
        codebook 0        .        .       X   <- first perturbed code
        codebook 3 sees  cb0 up to onset   -> its NLL at onset-2 may change

    The legacy undelayed alignment predicts frame ``t`` from frames ``< t`` only: no lead.

    Returns:
        ``max(K - 2, 0)`` for ``"delayed"``, 0 otherwise.
    """
    check_range("num_codebooks", num_codebooks, low=1)
    return max(num_codebooks - 2, 0) if alignment == "delayed" else 0


def moving_average(curve: np.ndarray, *, window_frames: int) -> np.ndarray:
    """Centred moving average over ``window_frames`` frames, ignoring NaN, partial at the edges.

    Frame ``t`` averages the finite values of frames
    ``[t - window_frames // 2, t + (window_frames - 1) // 2]``; ``window_frames = 1`` returns a
    copy of the curve.

    Args:
        curve: ``[T]`` values.
        window_frames: Window length in frames (>= 1).

    Returns:
        float64 ``[T]``; NaN only where the whole window is NaN.
    """
    check_range("window_frames", window_frames, low=1)
    values = np.asarray(curve, dtype=np.float64)
    before, after = window_frames // 2, (window_frames - 1) // 2
    windows = np.lib.stride_tricks.sliding_window_view(
        np.pad(values, (before, after), constant_values=np.nan), window_frames)  # [T, window]
    valid = np.isfinite(windows)
    count = valid.sum(axis=1)
    total = np.where(valid, windows, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def align_to_perturbed(clean: np.ndarray, *, num_frames: int, onset_frame: int | None,
                       length_frames: int | None) -> np.ndarray:
    """The clean curve on the perturbed item's frames, for edits that change the length.

    The span is given on the perturbed item's frames; frames after it are shifted by
    ``shift = num_frames - len(clean)`` (a deletion shortens, an insertion lengthens)::

        perturbed  [0 ........ onset) [onset .. onset+length) [onset+length ........ T_p)
        clean      [0 ........ onset) [onset .. onset+length) [onset+length-shift .. T_c)

    Inside the span the clean frame at the same index is used (what was there before). Without a
    span (MIDI edits) frames are compared index by index.

    Args:
        clean: ``[T_c]`` per-frame loss of the clean item.
        num_frames: ``T_p``, frames of the perturbed item.
        onset_frame: First frame of the span, or None.
        length_frames: Span length in frames (0 for a deletion), or None.

    Returns:
        float32 ``[T_p]``; NaN where no clean frame corresponds.
    """
    values = np.asarray(clean, dtype=np.float32)
    source = np.arange(num_frames)
    if onset_frame is not None and length_frames is not None:
        after = source >= onset_frame + length_frames
        source[after] -= num_frames - values.size
    valid = (source >= 0) & (source < values.size)
    return np.where(valid, values[np.clip(source, 0, max(values.size - 1, 0))], np.nan).astype(
        np.float32)
