"""The built-in demo model: a small ``MusicgenForCausalLM`` on spectral RVQ tokens.

It is a demonstration model trained by ``noiseloss demo-model build`` on a few hours of rendered
public-domain scores; it is not MusicGen and its numbers say nothing about MusicGen. It exists
so that the scoring path (the very ``MusicgenScorer`` used for MusicGen) runs offline on a CPU.
"""

from __future__ import annotations

from pathlib import Path

from noiseloss.errors import ModelLoadError
from noiseloss.models.musicgen import MusicgenScorer, load_pretrained, weights_sha256
from noiseloss.tokenizers.spectral import SpectralTokenizer

ASSETS = Path(__file__).resolve().parent.parent / "demo" / "assets"
# The decoder was trained on 15 s crops (750 frames): longer audio is scored in windows of that
# length so that positions stay within the trained range.
DEFAULT_WINDOW = {"window_frames": 750, "stride_frames": 375}


def load_demo(*, device: str = "cpu", dtype: str = "float32", assets: str | Path = ASSETS,
              **window_options) -> MusicgenScorer:
    """Load the demo scorer from the package assets (no network).

    Args:
        device: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"``.
        dtype: Weights dtype; ``float32`` on CPU.
        assets: Folder holding ``model/`` and ``tokenizer/`` (default: the package assets).
        **window_options: ``window_frames``/``stride_frames`` (default 750/375 frames).

    Raises:
        ModelLoadError: The assets are missing (build them with ``noiseloss demo-model build``).
    """
    model_dir, tok_dir = Path(assets) / "model", Path(assets) / "tokenizer"
    if not (model_dir / "config.json").is_file() or not tok_dir.is_dir():
        raise ModelLoadError(
            f"the demo model assets are missing in {assets}; build them with "
            "`noiseloss demo-model build` (about an hour on a CPU)")
    from transformers import MusicgenForCausalLM

    decoder = load_pretrained(MusicgenForCausalLM, model_dir, device=device, dtype=dtype,
                              name="demo")
    tokenizer = SpectralTokenizer.load(tok_dir)
    identity = {"model_id": "demo", "source": "package-assets",
                "weights_sha256": weights_sha256(model_dir),
                "tokenizer_sha256": tokenizer.sha256()}
    return MusicgenScorer(decoder, tokenizer, name="demo", identity=identity,
                          **{**DEFAULT_WINDOW, **window_options})
