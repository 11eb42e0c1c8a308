"""What every model backend answers: its identity and defaults without weights, and a loader."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from noiseloss.scoring.options import ScoringOptions

if TYPE_CHECKING:  # the scorer imports torch lazily; listing models must not import it
    from noiseloss.scoring.scorer import Scorer


@dataclass(frozen=True)
class ModelInfo:
    """A model as known before any weight is loaded.

    Attributes:
        name: The model as the user named it (registered name, Hugging Face id or directory).
        identity: The fields that identify it in unit keys and provenance (id, revision or
            weight hash, tokenizer hash).
        window_frames: Longest window it was trained on, frames (the default window).
        stride_frames: Default stride of windows over longer audio, frames.
        batch_size: Default windows per forward pass.
        alignment: Its own factorisation (the default layout).
    """

    name: str
    identity: dict
    window_frames: int
    stride_frames: int
    batch_size: int
    alignment: str = "delayed"

    def resolve(self, options: ScoringOptions) -> ScoringOptions:
        """``options`` with every None (the model decides) replaced by this model's default."""
        return dataclasses.replace(options, **{
            name: getattr(self, name)
            for name in ("alignment", "window_frames", "stride_frames", "batch_size")
            if getattr(options, name) is None})


@dataclass(frozen=True)
class Backend:
    """A model family: ``info(name)`` reads no weights; ``load(info, options)`` builds its scorer."""

    info: Callable[[str], ModelInfo]
    load: Callable[[ModelInfo, ScoringOptions], Scorer]
