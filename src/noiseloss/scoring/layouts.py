"""Token layouts: how a window of codes becomes decoder inputs, and where each target is read.

A backend chooses its layouts (one per ``alignment`` it offers); the scorer batches, windows and
conditions, and asks the layout for the two index-shifting steps::

    codes [K, T] --inputs--> decoder ids [C, S] --model--> logits [C, S', V] --scores--> [R, T]

``C`` parallel input streams (K for MusicGen, 1 for a flat stream), ``S' >= S`` when a batch is
right-padded (positions past an item's own inputs are never read), ``R`` scored rows (the
codebooks a model predicts). NLL and predictive entropy are always computed in float32 from the
logits, at the same positions (``pattern.token_scores``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

from noiseloss.scoring.pattern import gather_logits, gather_scores, model_inputs

if TYPE_CHECKING:  # importing a backend module must not import torch
    import torch


class Layout(ABC):
    """One alignment of codes and logits.

    Attributes:
        alignment: Its name, recorded with every result.
        lead_frames: Frames a change can show before its onset in the codebook-mean frame curve.
        context_frames: Context frames every later window keeps (``plan_windows``).
        min_frames: Shortest sequence it can score.
        pad_id: Id that right-pads a batch (never read).
        scored_rows: The code rows the NLL rows score (None: all, in order).
    """

    alignment: str
    scored_rows: tuple[int, ...] | None = None
    lead_frames: int = 0
    context_frames: int = 0
    min_frames: int = 1
    pad_id: int = 0

    def out_of_range(self, codes, *, size: int):
        """Where the codes ``[K, T]`` of a whole sequence are not ids ``[0, size)``: a bool mask."""
        return (codes < 0) | (codes >= size)

    @abstractmethod
    def inputs(self, codes: torch.Tensor) -> torch.Tensor:
        """Decoder input ids int64 ``[C, S]`` for the codes int64 ``[K, T]`` of one window."""

    @abstractmethod
    def scores(self, logits: torch.Tensor, codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-token ``(nll, entropy)`` float32 ``[R, T]`` from logits ``[C, S', V]`` of a window."""

    def log_probs(self, logits: torch.Tensor, codes: torch.Tensor) -> torch.Tensor | None:
        """The next-token log-probabilities float32 ``[R, T, V]`` behind ``scores``.

        None: this layout does not give them (``Scorer.divergence`` then refuses).
        """
        return None


class DelayLayout(Layout):
    """MusicGen's delay pattern with any delay vector (``noiseloss.scoring.pattern``).

    Args:
        special_id: The special/BOS/pad id (the codebook size).
        delays: One delay per codebook: mono ``(0, 1, 2, 3)``, stereo ``(0, 0, 1, 1, 2, 2, 3, 3)``.
    """

    alignment = "delayed"

    def __init__(self, *, special_id: int, delays: tuple[int, ...]):
        self.pad_id, self.delays = special_id, tuple(delays)
        self.lead_frames = max(max(self.delays) - 1, 0)

    def inputs(self, codes):
        """The delayed layout minus its last step: ``[K, T + D]``."""
        return model_inputs(codes, special_id=self.pad_id, alignment="delayed", delays=self.delays)

    def scores(self, logits, codes):
        """``nll[k, t]`` and ``entropy[k, t]`` from the logits at step ``t + d[k]``."""
        return gather_scores(logits, codes, alignment="delayed", delays=self.delays)

    def log_probs(self, logits, codes):
        """``log p[k, t, :]`` from the logits at step ``t + d[k]``."""
        return gather_logits(logits, codes, alignment="delayed",
                             delays=self.delays).float().log_softmax(dim=-1)


class LegacyUndelayedLayout(Layout):
    """The paper's research code: raw codes shifted by one, frame 0 unscored (not a likelihood)."""

    alignment = "legacy-undelayed"
    context_frames = 1
    min_frames = 2

    def __init__(self, *, special_id: int):
        self.pad_id = special_id

    def inputs(self, codes):
        """``codes[:, :-1]``."""
        return model_inputs(codes, special_id=self.pad_id, alignment="legacy-undelayed")

    def scores(self, logits, codes):
        """From the logits at position ``t - 1``; frame 0 NaN."""
        return gather_scores(logits, codes, alignment="legacy-undelayed")

    def log_probs(self, logits, codes):
        """``log p[k, t, :]`` from the logits at position ``t - 1``; frame 0 NaN."""
        out = gather_logits(logits, codes, alignment="legacy-undelayed").float()
        out = out.log_softmax(dim=-1)
        out[:, 0] = float("nan")
        return out


#: The alignments of ``musicgen_layouts``: name -> what it is.
MUSICGEN_ALIGNMENTS = {
    "delayed": "MusicGen's factorisation (the delay pattern)",
    "legacy-undelayed": "the paper's research code for MusicGen: codes shifted by one, no delay "
                        "pattern (not a likelihood)",
}


def musicgen_layouts(*, special_id: int, delays: tuple[int, ...]) -> dict[str, Layout]:
    """The alignments of a MusicGen-family decoder, the default (its own factorisation) first."""
    return {"delayed": DelayLayout(special_id=special_id, delays=delays),
            "legacy-undelayed": LegacyUndelayedLayout(special_id=special_id)}
