"""Sequence-level losses of a clean / perturbed pair of frame curves, and the metrics tested.

``METRICS`` registers the per-unit columns of the sequence table that the statistics test
against the perturbation length and the figures plot; each carries its axis label, so a new
metric is one registration.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from noiseloss.registry import Registry


@dataclass(frozen=True)
class Metric:
    """A sequence-table column tested against the perturbation length.

    Attributes:
        name: Column of the sequence table (``sequence_stats`` or the whole-item losses).
        label: Axis label of its figures, with units.
        help: One line for the tables' column descriptions.
    """

    name: str
    label: str
    help: str


METRICS: Registry[Metric] = Registry("sequence metric")
for _metric in (
    Metric("loss_delta", "Δℓ, whole item (nats)",
           "loss_perturbed - loss_clean: the paper's delta-l, INCLUDES the perturbed span"),
    Metric("mean_outside_delta", "Δℓ, outside the span (nats)",
           "mean of delta outside the perturbed span (EXCLUDES the span)"),
):
    METRICS.register(_metric.name, _metric, help=_metric.help)


def span_mask(num_frames: int, *, onset_frame: int, length_frames: int) -> np.ndarray:
    """Boolean ``[T]``, true on the perturbed span ``[onset_frame, onset_frame + length_frames)``."""
    frames = np.arange(num_frames)
    return (frames >= onset_frame) & (frames < onset_frame + length_frames)


def sequence_stats(clean: np.ndarray, perturbed: np.ndarray, *, onset_frame: int | None,
                   length_frames: int | None) -> dict:
    """Sum and mean of the frame curves over all frames and over the frames outside the span.

    Pass curves aligned on the same frames (``align_to_perturbed``); they are cut to their
    common length and only frames where both are finite count, so every ``*_delta`` equals the
    same statistic of ``perturbed - clean``. "all" includes the
    perturbed span itself (the statistic of the paper's scripts); "outside" leaves out the span's
    frames ``[onset, onset + length)``, whose targets are the perturbation itself. Without a span
    (MIDI edits) the "outside" values are NaN; so is every statistic of an empty selection.

    Args:
        clean: ``[T1]`` per-frame loss of the clean item (nats).
        perturbed: ``[T2]`` per-frame loss of the perturbed item (nats).
        onset_frame: First perturbed frame, or None.
        length_frames: Span length in frames, or None.

    Returns:
        ``frames_all``, ``frames_outside`` and ``{mean,sum}_{all,outside}_{clean,perturbed,delta}``.
    """
    frames = min(len(clean), len(perturbed))
    c = np.asarray(clean[:frames], dtype=np.float64)
    p = np.asarray(perturbed[:frames], dtype=np.float64)
    both = np.isfinite(c) & np.isfinite(p)
    has_span = onset_frame is not None and length_frames is not None
    selections = {
        "all": both,
        "outside": both & ~span_mask(frames, onset_frame=onset_frame,
                                     length_frames=length_frames) if has_span else None,
    }
    out: dict = {}
    for where, mask in selections.items():
        count = int(mask.sum()) if mask is not None else 0
        out[f"frames_{where}"] = count if mask is not None else np.nan
        for label, curve in (("clean", c), ("perturbed", p), ("delta", p - c)):
            values = curve[mask] if count else None
            out[f"mean_{where}_{label}"] = float(values.mean()) if count else np.nan
            out[f"sum_{where}_{label}"] = float(values.sum()) if count else np.nan
    return out
