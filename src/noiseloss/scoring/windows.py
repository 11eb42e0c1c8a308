"""Strided frame windows for sequences longer than the model's context.

Each window is scored on its own (re-interleaved with its own BOS step); only its new frames are
kept, so every frame is scored exactly once, with up to ``window - stride`` frames of context::

    frames   0 ............................................ T
    win 0    [ctx=score ===================== end)
    win 1                [ctx ......... score ========= end)
    win 2                              [ctx ...... score ==== end)
"""

from __future__ import annotations

from dataclasses import dataclass

from noiseloss.errors import ParameterError


@dataclass(frozen=True)
class Window:
    """Frames ``[context_start, end)`` are fed; NLL is kept for ``[score_start, end)``."""

    context_start: int
    score_start: int
    end: int


def plan_windows(num_frames: int, *, window_frames: int, stride_frames: int,
                 min_context_frames: int = 0) -> list[Window]:
    """Cover ``num_frames`` frames with windows of at most ``window_frames`` frames.

    Args:
        num_frames: Sequence length in frames (>= 1).
        window_frames: Longest window fed to the model, in frames.
        stride_frames: New frames scored by each window after the first (1 <= stride <= window).
        min_context_frames: Context frames every later window keeps even when
            ``stride == window`` (the window then grows by that much): the undelayed legacy
            alignment has no BOS step and needs 1 to score a window's first frame.
    """
    if window_frames < 1:
        raise ParameterError(f"window_frames must be >= 1, got {window_frames}")
    if not 1 <= stride_frames <= window_frames:
        raise ParameterError(
            f"stride_frames must be in [1, window_frames={window_frames}], got {stride_frames}"
        )
    if num_frames < 1:
        raise ParameterError(f"num_frames must be >= 1, got {num_frames}")
    end = min(num_frames, window_frames)
    windows = [Window(0, 0, end)]
    while end < num_frames:
        new_end = min(end + stride_frames, num_frames)
        context = min(new_end - window_frames, end - min_context_frames)
        windows.append(Window(max(0, context), end, new_end))
        end = new_end
    return windows
