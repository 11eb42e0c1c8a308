"""The time axis of a token sequence: conversions between samples, frames, seconds, columns.

This module is their one home. Every scored sequence is token ids ``[K, T]`` on a clock:
column ``t`` starts at ``seconds[t]``. An audio model's columns are frames at a fixed rate; a
symbolic model's are events at the onsets of the notes they encode::

    audio (frames)     |  f0  |  f1  |  f2  |  f3  |        seconds[t] = t / frame_rate
                       0     1/r    2/r    3/r    4/r = end

    symbolic (events)  e0 e1    e2        e3   e4  |        seconds[t] = onset of event t
                       0  .1    .45       .9   1.0  1.5 = end (last note off)

A span in seconds ``[onset, onset + length)`` covers the frames it overlaps, and the events
whose onsets it contains (``TimeAxis.columns``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from noiseloss.errors import ParameterError

#: What a model reads: audio (a codec's frames) or a score (a symbolic tokenizer's events).
MODALITIES = ("audio", "symbolic")


def covering_frames(onset_samples: int, length_samples: int, hop_length: int) -> tuple[int, int]:
    """Smallest frame range ``(onset, length)`` covering a span given in samples."""
    first = onset_samples // hop_length
    end = -(-(onset_samples + length_samples) // hop_length)
    return first, max(end - first, 0)


@dataclass(frozen=True, eq=False)
class TimeAxis:
    """Start time in seconds of each of ``T`` token columns.

    Attributes:
        seconds: float64 ``[T]``, non-decreasing.
        end_seconds: End of the last column (the signal's or the score's end).
        frame_rate: Columns per second when they are frames; None for events.
    """

    seconds: np.ndarray
    end_seconds: float
    frame_rate: float | None = None

    @classmethod
    def frames(cls, num_frames: int, *, frame_rate: float) -> TimeAxis:
        """``num_frames`` frames at ``frame_rate`` frames per second, from 0 s."""
        if not frame_rate > 0:
            raise ParameterError(f"frame_rate must be > 0, got {frame_rate!r}")
        return cls(np.arange(num_frames, dtype=np.float64) / frame_rate,
                   num_frames / frame_rate, float(frame_rate))

    @classmethod
    def events(cls, onsets_seconds, *, end_seconds: float) -> TimeAxis:
        """Events at ``onsets_seconds`` (non-decreasing), the last ending at ``end_seconds``."""
        onsets = np.asarray(onsets_seconds, dtype=np.float64).reshape(-1)
        if not np.all(np.isfinite(onsets)) or np.any(np.diff(onsets) < 0) or (
                onsets.size and (onsets[0] < 0 or end_seconds < onsets[-1])):
            raise ParameterError("event onsets must be finite, non-negative, non-decreasing "
                                 "and end at or before end_seconds")
        return cls(onsets, float(end_seconds))

    def __len__(self) -> int:
        return int(self.seconds.size)

    def columns(self, onset_seconds: float, length_seconds: float) -> tuple[int, int]:
        """``(first, count)`` of the columns a span in seconds covers.

        Frames: the frames it overlaps (``covering_frames`` in seconds). Events: the events
        whose onsets lie in ``[onset, onset + length)``.
        """
        end = onset_seconds + length_seconds
        if self.frame_rate is not None:
            first = math.floor(onset_seconds * self.frame_rate + 1e-9)
            last = math.ceil(end * self.frame_rate - 1e-9)
            first = min(max(first, 0), len(self))
            return first, max(min(last, len(self)) - first, 0)
        first = int(np.searchsorted(self.seconds, onset_seconds, side="left"))
        return first, int(np.searchsorted(self.seconds, end, side="left")) - first

    def span_seconds(self, first: int, count: int) -> tuple[float, float]:
        """``(onset, length)`` in seconds of the columns ``[first, first + count)``."""
        if not 0 <= first <= first + count <= len(self):
            raise ParameterError(f"columns [{first}, {first + count}) are not within the "
                                 f"{len(self)} columns of the sequence")
        onset = self.seconds[first] if first < len(self) else self.end_seconds
        end = self.seconds[first + count] if first + count < len(self) else self.end_seconds
        return float(onset), float(end - onset)
