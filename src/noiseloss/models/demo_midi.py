"""The built-in symbolic demo model ``demo-midi``: a small GPT-2 on arrival-time events.

It is a demonstration model trained by ``noiseloss demo-model build --symbolic`` on scores of
the ``music21`` corpus; it is not the Anticipatory Music Transformer and its numbers say nothing
about it. It has the AMT's architecture (``GPT2LMHeadModel``) and tokenisation in a compact
vocabulary of the same layout (declared in its ``config.json`` as ``noiseloss_amt``), so the
``amt`` backend's scorer scores it (as ``demo`` shares MusicGen's).
"""

from __future__ import annotations

import json
from pathlib import Path

from noiseloss.demo.symbolic_data import ASSETS
from noiseloss.errors import ModelLoadError, ParameterError
from noiseloss.models.amt import ALIGNMENTS, ArrivalLayout
from noiseloss.models.base import Backend, ModelInfo
from noiseloss.models.hub import CausalLMScorer, load_pretrained, weights_sha256
from noiseloss.scoring.options import ScoringOptions
from noiseloss.tokenizers.amt import AmtTokenizer, AmtVocab


def demo_midi_info(name: str = "demo-midi", *, assets: str | Path = ASSETS) -> ModelInfo:
    """Identity and windows of ``demo-midi`` from its asset files (no weights loaded).

    ``assets`` (model option ``-m assets=DIR``) is another folder of the same layout (a
    rebuilt model, or the ``--tiny`` build). Windows: the events its positions hold (128 for
    the shipped model), stride half of that; a piece of any length is scored in such windows,
    and one whose events span its time tokens (40 s) or more is refused
    (``models.amt.ArrivalLayout``). Its vocabulary has no drums: they are left out.

    Raises:
        ModelLoadError: The assets are missing (build them with ``noiseloss demo-model build
            --symbolic``).
    """
    model_dir = Path(assets) / "model"
    try:
        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(
            f"the demo-midi model assets are missing in {assets} ({exc}); build them with "
            "`noiseloss demo-model build --symbolic` (about two hours on a CPU)") from exc
    shipped = Path(assets).resolve() == ASSETS.resolve()
    identity = {"model_id": "demo-midi", "source": "package-assets" if shipped else "folder",
                "weights_sha256": weights_sha256(model_dir)}
    events = (int(config["n_positions"]) - 1) // 3
    return ModelInfo(name, identity, window_frames=events, stride_frames=max(events // 2, 1),
                     batch_size=8, alignment="arrival", details={"assets": str(assets)},
                     modality="symbolic")


def load_demo_midi(info: ModelInfo | None = None, options: ScoringOptions | None = None, *,
                   assets: str | Path = ASSETS) -> CausalLMScorer:
    """Load the ``demo-midi`` scorer (the ``amt`` backend's) from its assets (no network).

    Args:
        info: ``demo_midi_info(assets=assets)`` when None; else its assets are loaded.
        options: Scoring options (None: the defaults, windows of the model's positions).
        assets: Folder holding ``model/`` (default: the package assets).

    Raises:
        ModelLoadError: The assets are missing or not an arrival-time GPT-2.
    """
    from transformers import GPT2LMHeadModel

    info = info or demo_midi_info(assets=assets)
    options = info.resolve(options or ScoringOptions())
    model_dir = Path(info.details["assets"]) / "model"
    model = load_pretrained(GPT2LMHeadModel, model_dir, options=options, name="demo-midi")
    try:
        vocab = AmtVocab.from_config(model.config)
    except ParameterError as exc:
        raise ModelLoadError(f"demo-midi ({model_dir}): {exc}") from exc
    return CausalLMScorer(model, AmtTokenizer(vocab), layouts={"arrival": ArrivalLayout(vocab)},
                          name="demo-midi", identity=info.identity, options=options)


BACKEND = Backend(info=demo_midi_info, load=load_demo_midi, options=("assets",),
                  modality="symbolic", alignments=ALIGNMENTS)
