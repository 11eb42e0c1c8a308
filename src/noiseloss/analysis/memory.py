"""Context memory: how long a model keeps predicting differently after an intervention ends.

For each intervention (a span of the context replaced), ``Scorer.divergence`` gives the KL
divergence between the model's next-token distributions after the true and after the
intervened context, at every token. Aligned on the first token after the span::

    K(d)  ^
    peak  |  *
          | *  *
    half  |- - - * - - - - - - - - - - - - -
          |*       *
          |           *    *
    1 %   |- - - - - - - - - - - * - * - - -      (and below it from tau_mem on)
          +------|--------------------|-------->  d: time after the span
              tau_half             tau_mem

``K(d)``, the median over interventions of the mean KL over rows at column ``end + d``; ``tau_half``
is the time from the end of the span until ``K`` first falls to half its peak (after the peak),
``tau_mem`` the time after which it stays below ``floor`` times its peak. A model that sees only
its last ``W`` frames forgets at once after ``W`` frames: ``tau_mem = W / frame_rate`` (tested).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from noiseloss.errors import ParameterError, check_number


def context_memory(kl: Sequence[np.ndarray], ends: Sequence[int], *, frame_rate: float,
                   floor: float = 0.01) -> dict:
    """``tau_half`` and ``tau_mem`` (seconds) of KL curves after interventions.

    Args:
        kl: One KL array ``[R, T]`` (nats) per intervention (``Scorer.divergence``).
        ends: The first column after each intervention's span.
        frame_rate: Columns per second.
        floor: ``tau_mem`` is the time after which the median KL stays below ``floor`` times its
            peak.

    Returns:
        ``{"tau_half_s", "tau_mem_s", "peak_nats", "curve", "interventions", "note"}``: the
        times are NaN (and ``note`` says why) when the curve is flat or does not fall within
        the columns every intervention has after its end; ``curve`` is ``K(d)``.
    """
    if len(kl) == 0 or len(kl) != len(ends):
        raise ParameterError(f"give one end per KL curve and at least one, got {len(kl)} curves "
                             f"and {len(ends)} ends")
    return memory_after([np.nanmean(np.asarray(k, dtype=np.float64), axis=0)[int(e):]
                         for k, e in zip(kl, ends, strict=True)], frame_rate=frame_rate,
                        floor=floor)


def memory_after(after: Sequence[np.ndarray], *, frame_rate: float, floor: float = 0.01) -> dict:
    """``context_memory`` of curves ``[T_i]`` that start at their intervention's end.

    Each is the mean over rows of one intervention's KL from the first column after its span
    (``context_memory`` cuts them so; the ``profile_model`` table keeps them cut per unit).
    """
    check_number("frame_rate", frame_rate, low=0.0, low_open=True)
    check_number("floor", floor, low=0.0, high=1.0, low_open=True, high_open=True)
    if len(after) == 0:
        raise ParameterError("give at least one KL curve")
    span = min(np.size(a) for a in after)
    if span < 1:
        raise ParameterError("every intervention must end before its sequence does")
    curve = np.median(np.stack([np.asarray(a, dtype=np.float64)[:span] for a in after]), axis=0)
    peak_at = int(np.argmax(curve))
    peak = float(curve[peak_at])
    result = {"tau_half_s": np.nan, "tau_mem_s": np.nan, "peak_nats": peak, "curve": curve,
              "interventions": len(after), "note": ""}
    if not peak > 0:
        result["note"] = "the model predicts the same after every intervention (KL 0)"
        return result
    halved = np.flatnonzero(curve[peak_at:] <= peak / 2)
    above = np.flatnonzero(curve >= floor * peak)
    seconds = span / frame_rate
    if halved.size:
        result["tau_half_s"] = (peak_at + int(halved[0])) / frame_rate
    if above[-1] < span - 1:
        result["tau_mem_s"] = (int(above[-1]) + 1) / frame_rate
    else:
        result["note"] = f"still above {floor:g} of the peak {seconds:g} s after the span"
    return result


__all__ = ["context_memory", "memory_after"]
