"""Model registry: named built-in models; any other name is a MusicGen id or directory.

``model_info(name)`` answers a model's identity and defaults without loading weights;
``load_model(name, **options)`` loads its scorer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from noiseloss.registry import Registry

if TYPE_CHECKING:  # the scorer imports torch; listing models must not
    from noiseloss.models.base import Backend, ModelInfo
    from noiseloss.scoring.scorer import Scorer

MODELS: Registry = Registry("model")
MODELS.register("demo", "noiseloss.models.demo:BACKEND",
                help="built-in demo music LM (MusicGen decoder architecture, spectral RVQ tokens)")


def backend(name_or_path: str) -> Backend:
    """The backend of a registered name, else MusicGen (a Hugging Face id or a directory)."""
    if name_or_path in MODELS:
        return MODELS.get(name_or_path)
    from noiseloss.models.musicgen import BACKEND

    return BACKEND


def model_info(name_or_path: str) -> ModelInfo:
    """Identity and defaults of a model, read from its files (no weights loaded)."""
    return backend(name_or_path).info(name_or_path)


def load_model(name_or_path: str, **options) -> Scorer:
    """Load a scorer by registered name (``demo``), Hugging Face id (local cache) or directory.

    Args:
        name_or_path: ``"demo"``, ``"facebook/musicgen-small"`` or a ``save_pretrained`` folder.
        **options: Fields of ``noiseloss.scoring.options.ScoringOptions`` (``device``, ``dtype``,
            ``alignment``, ``batch_size``, ``window_frames``, ``stride_frames``); the ones left
            out take its defaults, and None means the model's own default.
    """
    from noiseloss.scoring.options import ScoringOptions

    entry = backend(name_or_path)
    info = entry.info(name_or_path)
    return entry.load(info, info.resolve(ScoringOptions(**options)))


__all__ = ["MODELS", "backend", "load_model", "model_info"]
