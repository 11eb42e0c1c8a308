"""Model registry: named built-in models; any other name is a MusicGen id or directory."""

from __future__ import annotations

from typing import TYPE_CHECKING

from noiseloss.registry import Registry

if TYPE_CHECKING:  # the scorer imports torch; listing models must not
    from noiseloss.scoring.scorer import Scorer

MODELS: Registry = Registry("model")
MODELS.register("demo", "noiseloss.models.demo:load_demo",
                help="built-in demo music LM (MusicGen decoder architecture, spectral RVQ tokens)")


def load_model(name_or_path: str, *, device: str = "cpu", dtype: str = "float32",
               **options) -> Scorer:
    """Load a scorer by registered name (``demo``), Hugging Face id (local cache) or directory.

    Args:
        name_or_path: ``"demo"``, ``"facebook/musicgen-small"`` or a ``save_pretrained`` folder.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or ``"auto"``.
        dtype: Weights dtype (``float32``; ``float16``/``bfloat16`` on GPU). NLL is always
            computed in float32 from the logits.
        **options: ``window_frames`` and ``stride_frames`` for long audio.
    """
    if name_or_path in MODELS:
        return MODELS.get(name_or_path)(device=device, dtype=dtype, **options)
    from noiseloss.models.musicgen import load_musicgen

    return load_musicgen(name_or_path, device=device, dtype=dtype, **options)


__all__ = ["MODELS", "load_model"]
