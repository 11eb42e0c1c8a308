"""Model registries: named built-in models (``MODELS``) and model families (``BACKENDS``).

A name is a registered model (``demo``), or a Hugging Face id in the local cache or a folder,
scored by the backend given, else by MusicGen (MusicGen, MusicGen-Melody, stereo: the checkpoint
says which). ``model_info(name)`` answers a model's identity and defaults without loading
weights; ``load_model(name, **options)`` loads its scorer.
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
MODELS.register("demo-midi", "noiseloss.models.demo_midi:BACKEND",
                help="built-in symbolic demo LM (the Anticipatory Music Transformer's GPT-2 and "
                     "arrival-time events, compact vocabulary; scored like `amt`); option: assets")

MODELS.register("ppm", "noiseloss.models.idyom:BACKEND",
                help="IDyOM-style PPM model of expectation (pitch, IOI, duration; long-term model "
                     "trained on demo-midi:train or -m corpus=DIR, short-term model on the piece); "
                     "options: corpus, linked (linked viewpoints: ioi*duration by default, "
                     "pitch*ioi, pitch*duration, or none)")

BACKENDS: Registry = Registry("model backend")
BACKENDS.register("musicgen", "noiseloss.models.musicgen:BACKEND",
                  help="MusicGen, MusicGen-Melody, stereo MusicGen (transformers checkpoints: a "
                       "Hugging Face id in the local cache or a save_pretrained folder); the "
                       "default for unregistered names")
BACKENDS.register("amt", "noiseloss.models.amt:BACKEND",
                  help="Anticipatory Music Transformer (GPT2LMHeadModel folder or id in the local "
                       "cache, e.g. stanford-crfm/music-small-800k): arrival-time events of MIDI, "
                       "[3 (time, duration, note), events]")
BACKENDS.register("yue-s1", "noiseloss.models.yue:STAGE1",
                  help="YuE stage 1 (LlamaForCausalLM folder); options: codec (YuE's "
                       "xcodec_mini_infer folder or an XcodecModel folder; else .npy codes only), "
                       "text_tokenizer (YuE's tokenizer.model, for its prompt), genres, lyrics, "
                       "vocal (silence | mixture)")
BACKENDS.register("yue-s2", "noiseloss.models.yue:STAGE2",
                  help="YuE stage 2, the paper's 'YuE (1B)' (LlamaForCausalLM folder); options: "
                       "codec (YuE's xcodec_mini_infer folder or an XcodecModel folder; else .npy "
                       "codes only)")


def alignments() -> dict[str, str]:
    """Every alignment a registered backend or model declares: name -> what it is."""
    found = {}
    for registry in (BACKENDS, MODELS):
        for name in registry:
            found.update(registry.get(name).alignments)
    return found


def built_demo(path: str) -> str | None:
    """``demo`` or ``demo-midi`` when ``path`` is a folder ``noiseloss demo-model build`` wrote.

    The assets folder of a build holds ``model/`` (and ``tokenizer/`` for the audio demo);
    ``demo-midi``'s ``model/config.json`` declares its vocabulary as ``noiseloss_amt``.
    """
    from pathlib import Path

    config = Path(path) / "model" / "config.json"
    if not config.is_file():
        return None
    if (Path(path) / "tokenizer").is_dir():
        return "demo"
    return "demo-midi" if '"noiseloss_amt"' in config.read_text(encoding="utf-8") else None


def backend_of(name_or_path: str, *, backend: str | None = None) -> Backend:
    """The backend given, else the registered model's, else MusicGen (an id or a directory).

    A folder written by ``noiseloss demo-model build`` is its demo model (``built_demo``).
    """
    if backend is not None:
        return BACKENDS.get(backend)
    if name_or_path in MODELS:
        return MODELS.get(name_or_path)
    demo = built_demo(name_or_path)
    return MODELS.get(demo) if demo else BACKENDS.get("musicgen")


def model_info(name_or_path: str, *, backend: str | None = None, **model_options) -> ModelInfo:
    """Identity and defaults of a model, read from its files (no weights loaded).

    ``model_options`` are the backend's own (``noiseloss models`` lists them). A name that is
    found nowhere gets the registered names closest to it.
    """
    from pathlib import Path

    from noiseloss.errors import ModelLoadError, suggest

    if backend is None and name_or_path not in MODELS and built_demo(name_or_path):
        model_options = {"assets": name_or_path, **model_options}
    try:
        return backend_of(name_or_path, backend=backend).describe(name_or_path, **model_options)
    except ModelLoadError as exc:
        hint = "" if Path(name_or_path).exists() else suggest(name_or_path, [*MODELS, *BACKENDS])
        if not hint:
            raise
        raise ModelLoadError(f"{exc}{hint}") from exc


def load_model(name_or_path: str, *, backend: str | None = None,
               model_options: dict | None = None, info: ModelInfo | None = None,
               **options) -> Scorer:
    """Load a scorer by registered name (``demo``), Hugging Face id (local cache) or directory.

    Args:
        name_or_path: ``"demo"``, ``"facebook/musicgen-small"`` or a ``save_pretrained`` folder.
        backend: A ``BACKENDS`` name (``yue-s1``, ``yue-s2``); None: registered model or MusicGen.
        model_options: The backend's own options (YuE: ``codec``, ``text_tokenizer``, ...).
        info: Its ``model_info`` when the caller has it already (not read again).
        **options: Fields of ``noiseloss.scoring.options.ScoringOptions`` (``device``, ``dtype``,
            ``alignment``, ``batch_size``, ``window_frames``, ``stride_frames``); the ones left
            out take its defaults, and None means the model's own default.
    """
    from noiseloss.scoring.options import ScoringOptions

    info = info or model_info(name_or_path, backend=backend, **(model_options or {}))
    return backend_of(name_or_path, backend=backend).load(info,
                                                          info.resolve(ScoringOptions(**options)))


__all__ = ["BACKENDS", "MODELS", "alignments", "backend_of", "built_demo", "load_model",
           "model_info"]
