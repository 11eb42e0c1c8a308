"""What every model backend answers: its identity and defaults without weights, and a loader."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from noiseloss.errors import ParameterError, check_choice
from noiseloss.scoring.options import ScoringOptions
from noiseloss.timeaxis import MODALITIES

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
        details: What its loader needs beyond the name (not part of the identity).
        modality: What it reads: ``audio`` (frames of a codec) or ``symbolic`` (events of a
            score); ``noiseloss.timeaxis.MODALITIES``.
        conditions: The audio conditions a prompt may give it (``melody``: MusicGen-Melody's
            chroma; ``config.Prompt``).
        text: Whether a prompt may give it text (a text encoder ships with it).
    """

    name: str
    identity: dict
    window_frames: int
    stride_frames: int
    batch_size: int
    alignment: str = "delayed"
    details: dict = field(default_factory=dict)
    modality: str = "audio"
    conditions: tuple[str, ...] = ()
    text: bool = False

    def resolve(self, options: ScoringOptions) -> ScoringOptions:
        """``options`` with every None (the model decides) replaced by this model's default.

        A stride left to the model that is longer than the window given (a window below the
        model's stride, given alone) is half that window.
        """
        resolved = dataclasses.replace(options, **{
            name: getattr(self, name)
            for name in ("alignment", "window_frames", "stride_frames", "batch_size")
            if getattr(options, name) is None})
        if options.stride_frames is None and resolved.stride_frames > resolved.window_frames:
            resolved = dataclasses.replace(resolved,
                                           stride_frames=max(resolved.window_frames // 2, 1))
        return resolved


@dataclass(frozen=True)
class Backend:
    """A model family: ``info`` reads no weights, ``load`` builds its scorer.

    ``info(name, **model_options)`` takes the backend's own ``options`` (YuE: codec, ...);
    ``load(info, scoring_options)`` returns the scorer. ``modality`` is what its models read
    (``audio`` or ``symbolic``) and ``alignments`` the token layouts its scorers offer (name ->
    what it is; empty: not declared, checked when a model loads): a config is checked against
    both before any file is read.
    """

    info: Callable[..., ModelInfo]
    load: Callable[[ModelInfo, ScoringOptions], Scorer]
    options: tuple[str, ...] = ()
    modality: str = "audio"
    alignments: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self):
        check_choice("modality", self.modality, MODALITIES)

    def describe(self, name: str, **model_options) -> ModelInfo:
        """``info(name, **model_options)``; an option it does not take is a ``ParameterError``."""
        unknown = sorted(set(model_options) - set(self.options))
        if unknown:
            raise ParameterError(f"unknown model option(s) {unknown}; this backend takes "
                                 f"{list(self.options) or 'none'}")
        return dataclasses.replace(self.info(name, **model_options), modality=self.modality)
