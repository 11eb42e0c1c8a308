"""The built-in demo model: a small ``MusicgenForCausalLM`` on spectral RVQ tokens.

It is a demonstration model trained by ``noiseloss demo-model build`` on a few hours of rendered
public-domain scores; it is not MusicGen and its numbers say nothing about MusicGen. It exists
so that the scoring path (the very ``MusicgenScorer`` used for MusicGen) runs offline on a CPU.
"""

from __future__ import annotations

import json
from pathlib import Path

from noiseloss.errors import ModelLoadError
from noiseloss.models.base import Backend, ModelInfo
from noiseloss.models.hub import load_pretrained, weights_sha256
from noiseloss.models.musicgen import MusicgenScorer
from noiseloss.scoring.layouts import MUSICGEN_ALIGNMENTS
from noiseloss.scoring.options import ScoringOptions
from noiseloss.tokenizers.spectral import SpectralTokenizer

ASSETS = Path(__file__).resolve().parent.parent / "demo" / "assets"


def demo_info(name: str = "demo", *, assets: str | Path = ASSETS) -> ModelInfo:
    """Identity of the demo model from its asset files (no weights loaded).

    ``assets`` (model option ``-m assets=DIR``) is another folder of the same layout: a rebuilt
    model or an intermediate checkpoint of ``noiseloss demo-model build``.

    Windows are the ones its build evaluated with (``metrics.json``: the training crop length,
    750 frames for the shipped model), so that positions stay within the trained range.

    Raises:
        ModelLoadError: The assets are missing (build them with ``noiseloss demo-model build``).
    """
    model_dir, tok_dir = Path(assets) / "model", Path(assets) / "tokenizer"
    metrics = Path(assets) / "metrics.json"
    if not (model_dir / "config.json").is_file() or not tok_dir.is_dir() or not metrics.is_file():
        raise ModelLoadError(
            f"the demo model assets are missing in {assets}; build them with "
            "`noiseloss demo-model build` (about an hour on a CPU)")
    shipped = Path(assets).resolve() == ASSETS
    identity = {"model_id": "demo", "source": "package-assets" if shipped else "folder",
                "weights_sha256": weights_sha256(model_dir),
                "tokenizer_sha256": SpectralTokenizer.load(tok_dir).sha256()}
    window = json.loads(metrics.read_text(encoding="utf-8"))["settings"]["window"]
    return ModelInfo(name, identity, window_frames=int(window["window_frames"]),
                     stride_frames=int(window["stride_frames"]), batch_size=8,
                     details={"assets": str(assets)})


def load_demo(info: ModelInfo | None = None, options: ScoringOptions | None = None, *,
              assets: str | Path = ASSETS) -> MusicgenScorer:
    """Load the demo scorer from the package assets (no network).

    Args:
        info: ``demo_info(assets=assets)`` when None; else its assets are loaded.
        options: Scoring options (None: the defaults, windows of 750 frames).
        assets: Folder holding ``model/`` and ``tokenizer/`` (default: the package assets).

    Raises:
        ModelLoadError: The assets are missing.
    """
    info = info or demo_info(assets=assets)
    assets = Path(info.details["assets"])
    options = info.resolve(options or ScoringOptions())
    from transformers import MusicgenForCausalLM

    decoder = load_pretrained(MusicgenForCausalLM, Path(assets) / "model", options=options,
                              name="demo")
    tokenizer = SpectralTokenizer.load(Path(assets) / "tokenizer")
    return MusicgenScorer(decoder, tokenizer, name="demo", identity=info.identity,
                          options=options)


BACKEND = Backend(info=demo_info, load=load_demo, options=("assets",),
                  alignments=MUSICGEN_ALIGNMENTS)
