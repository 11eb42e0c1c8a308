"""MusicGen through ``transformers``: EnCodec tokens, decoder logits, optional T5 text condition.

Weights are never downloaded: a model id must already be in the local Hugging Face cache, or the
argument must be a local directory written by ``save_pretrained``.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np

from noiseloss.errors import ModelLoadError, ParameterError
from noiseloss.models.base import Backend, ModelInfo
from noiseloss.models.hub import (
    load_pretrained,
    locate,
    quiet_transformers,
    weights_sha256,
)
from noiseloss.scoring.layouts import MUSICGEN_ALIGNMENTS, musicgen_layouts
from noiseloss.scoring.options import ScoringOptions
from noiseloss.scoring.pattern import musicgen_delays
from noiseloss.scoring.scorer import Scorer
from noiseloss.tokenizers.encodec import EncodecTokenizer


class MusicgenScorer(Scorer):
    """A ``MusicgenForCausalLM`` decoder plus a tokenizer (EnCodec for MusicGen, RVQ for demo).

    Args:
        decoder: ``transformers.MusicgenForCausalLM`` in eval mode.
        tokenizer: Audio tokenizer with the decoder's codebook count.
        full_model: ``MusicgenForConditionalGeneration`` for text conditioning (optional).
        text_tokenizer: Tokenizer of the text encoder (optional, loaded lazily from ``directory``).
        identity: Provenance fields (id, revision or weight hash, ...).
    """

    def __init__(self, decoder, tokenizer, *, options: ScoringOptions, full_model=None,
                 directory: Path | None = None, identity: dict | None = None, name: str):
        cfg = decoder.config
        if cfg.num_codebooks != tokenizer.num_codebooks:
            raise ModelLoadError(
                f"{name}: decoder has {cfg.num_codebooks} codebooks, tokenizer "
                f"{tokenizer.num_codebooks}")
        channels = int(getattr(cfg, "audio_channels", 1))
        self.channels = channels
        layouts = musicgen_layouts(special_id=int(cfg.pad_token_id),
                                   delays=musicgen_delays(cfg.num_codebooks, channels=channels))
        super().__init__(tokenizer, layouts=layouts, name=name, options=options)
        self.decoder = decoder.eval()
        self.full_model = full_model.eval() if full_model is not None else None
        self.directory = directory
        self.identity = identity or {}
        self._text_tokenizer = None

    @property
    def supports_text(self) -> bool:
        """True when the text encoder was loaded."""
        return self.full_model is not None

    @property
    def device(self):
        """Torch device of the decoder."""
        return next(self.decoder.parameters()).device

    def _text_inputs(self, text: str, batch: int) -> dict:
        if self._text_tokenizer is None:
            from transformers import AutoTokenizer

            try:
                self._text_tokenizer = AutoTokenizer.from_pretrained(
                    str(self.directory), local_files_only=True)
            except Exception as exc:
                raise ModelLoadError(f"{self.name}: no text tokenizer in {self.directory}") from exc
        enc = self._text_tokenizer([text] * batch, return_tensors="pt", padding=True)
        return {k: v.to(self.device) for k, v in enc.items() if k in ("input_ids", "attention_mask")}

    def _logits(self, inputs, *, text, conditions=None):
        batch, k_books, steps = inputs.shape
        ids = inputs.to(self.device).reshape(batch * k_books, steps)
        if text is None:
            # Unconditional = no cross-attention; equals the null text condition (zero states).
            logits = self.decoder(input_ids=ids).logits
        else:
            logits = self.full_model(decoder_input_ids=ids, **self._text_inputs(text, batch)).logits
        return logits.reshape(batch, k_books, steps, -1)

    def _cached_logits(self, inputs, cache):
        """The decoder alone (unconditional), continuing ``cache`` (batch dimension B)."""
        from noiseloss.scoring.cache import cached_forward

        batch, k_books, steps = inputs.shape
        out, cache = cached_forward(self.decoder, cache,
                                    input_ids=inputs.to(self.device).reshape(batch * k_books, steps))
        return out.logits.reshape(batch, k_books, steps, -1), cache

    def provenance(self) -> dict:
        """Model id, revision or weight hash, dtype, device, tokenizer."""
        param = next(self.decoder.parameters())
        return {
            **super().provenance(),
            **self.identity,
            "dtype": str(param.dtype).removeprefix("torch."),
            "device": str(param.device),
            "parameters": int(sum(p.numel() for p in self.decoder.parameters())),
            "window_frames": self.options.window_frames,
            "stride_frames": self.options.stride_frames,
        }


def melody_chroma(audio: np.ndarray, *, sample_rate: int, n_fft: int = 16384,
                  hop_length: int = 4096, max_seconds: float = 30.0) -> np.ndarray:
    """MusicGen-Melody's chroma condition of mono audio: one-hot float32 ``[frames, 12]``.

    As ``transformers``' ``MusicgenMelodyFeatureExtractor`` (which needs torchaudio): the first
    ``max_seconds`` of the audio, the power spectrogram (Hann window of ``n_fft`` samples, hop
    ``hop_length``, centred), librosa's chroma filter bank (C = bin 0), and per frame a 1 at the
    strongest pitch class. No Demucs stem separation: the chroma is that of the whole mix.
    """
    import torch
    from transformers.audio_utils import chroma_filter_bank

    wav = torch.from_numpy(np.ascontiguousarray(audio[: int(max_seconds * sample_rate)],
                                                dtype=np.float32))
    if wav.numel() < n_fft:
        pad = n_fft - wav.numel()
        wav = torch.nn.functional.pad(wav, (pad // 2, pad - pad // 2))
    spec = torch.stft(wav, n_fft=n_fft, hop_length=hop_length, window=torch.hann_window(n_fft),
                      center=True, pad_mode="reflect", return_complex=True).abs() ** 2
    filters = torch.from_numpy(chroma_filter_bank(sampling_rate=sample_rate,
                                                  num_frequency_bins=n_fft, tuning=0,
                                                  num_chroma=12)).float()
    chroma = (filters @ spec).T  # [frames, 12]
    return torch.nn.functional.one_hot(chroma.argmax(-1), 12).float().numpy()


class MelodyScorer(MusicgenScorer):
    """MusicGen-Melody: its text and chroma conditions are *prepended* to the decoder sequence.

    ::

        decoder positions   [ chroma (chroma_length) | text | codes ... ]
        logits kept                                          [ codes ... ]   (last S positions)

    Without text and chroma the decoder runs alone (the unconditional model). The chroma of an
    item is a condition passed per item (``audio_condition``); see ``noiseloss.config.Prompt``
    for the choices a run offers (none, reference, self).
    """

    #: It takes a ``melody`` condition (chroma).
    conditions = ("melody",)

    def audio_condition(self, name: str, audio: np.ndarray) -> np.ndarray:
        """The chroma (``name="melody"``) of mono audio at the model rate, ``[chroma_length, 12]``.

        Repeated or cut to the model's ``chroma_length`` exactly as the model does, so that items
        of any length batch together.
        """
        self.check_options(condition=name)
        chroma = melody_chroma(np.asarray(audio, np.float32), sample_rate=self.sample_rate,
                               **self._feature_options)
        length = int(self.full_model.config.chroma_length)
        return np.tile(chroma, (-(-length // len(chroma)), 1))[:length]

    @functools.cached_property
    def _feature_options(self) -> dict:
        path = self.directory / "preprocessor_config.json" if self.directory else None
        raw = json.loads(path.read_text()) if path is not None and path.is_file() else {}
        return {"n_fft": int(raw.get("n_fft", 16384)), "hop_length": int(raw.get("hop_length", 4096)),
                "max_seconds": float(raw.get("chunk_length", 30))}

    def _logits(self, inputs, *, text, conditions=None):
        import torch

        batch, k_books, steps = inputs.shape
        ids = inputs.to(self.device).reshape(batch * k_books, steps)
        if text is None and conditions is None:
            logits = self.decoder(input_ids=ids).logits
        else:
            extra = self._text_inputs(text, batch) if text is not None else {}
            if conditions is not None:
                if any(c is None for c in conditions):
                    raise ParameterError("a batch mixes items with and without a melody condition")
                extra["input_features"] = torch.from_numpy(np.stack(conditions)).to(self.device)
            with quiet_transformers():  # it warns whenever the chroma has its full length
                logits = self.full_model(decoder_input_ids=ids, **extra).logits[:, -steps:]
        return logits.reshape(batch, k_books, steps, -1)


#: model_type of a checkpoint -> (transformers class name, scorer class).
MODEL_TYPES = {"musicgen": ("MusicgenForConditionalGeneration", MusicgenScorer),
               "musicgen_melody": ("MusicgenMelodyForConditionalGeneration", MelodyScorer)}


def _model_type(directory: Path) -> str | None:
    return json.loads((directory / "config.json").read_text()).get("model_type")


def musicgen_info(model_id: str) -> ModelInfo:
    """Identity of a MusicGen or MusicGen-Melody checkpoint from its files, no weights.

    MusicGen was trained on 30 s (1500 frames): longer audio is scored in windows of that length.
    """
    directory, identity = locate(model_id)
    config_path = directory / "config.json"
    if not config_path.is_file():
        raise ModelLoadError(f"{directory}: no config.json; not a transformers model directory")
    model_type = _model_type(directory)
    if model_type not in MODEL_TYPES:
        raise ModelLoadError(
            f"{model_id}: model_type {model_type!r} is not a MusicGen checkpoint (supported: "
            f"{sorted(MODEL_TYPES)}); for YuE give the backend (yue-s1 or yue-s2)")
    if identity["source"] == "directory":
        identity["weights_sha256"] = weights_sha256(directory)
    return ModelInfo(str(model_id), {"model_id": str(model_id), **identity}, window_frames=1500,
                     stride_frames=750, batch_size=4,
                     conditions=MODEL_TYPES[model_type][1].conditions, text=True)


def load_musicgen(info: ModelInfo, options: ScoringOptions) -> MusicgenScorer:
    """Load the MusicGen(-Melody) checkpoint that ``musicgen_info`` found, with its text encoder."""
    import transformers

    directory, _ = locate(info.name)
    class_name, scorer = MODEL_TYPES[_model_type(directory)]
    model = load_pretrained(getattr(transformers, class_name), directory, options=options,
                            name=info.name)
    # EnCodec runs in float32: its LSTM and convolutions gain nothing from half precision here.
    tokenizer = EncodecTokenizer(model.audio_encoder.float(),
                                 channels=int(getattr(model.decoder.config, "audio_channels", 1)))
    return scorer(model.decoder, tokenizer, full_model=model, directory=directory,
                          identity=info.identity, name=info.name, options=options)


BACKEND = Backend(info=musicgen_info, load=load_musicgen, alignments=MUSICGEN_ALIGNMENTS)
