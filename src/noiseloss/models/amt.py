"""The Anticipatory Music Transformer (``stanford-crfm/music-*-800k``), a GPT-2 over events.

Its tokens are the arrival-time events of a score (``noiseloss.tokenizers.amt``). A window
of events is one autoregressive training sequence: the ``AUTOREGRESS`` flag, then the events'
tokens with times counted from the window's first event (as the authors re-based their
training windows), and each token scored from the logits one position before it, as the
authors' loss script computes its cross-entropy::

    stream    AUTOREGRESS  t0   d0   n0   t1   d1   n1  ...  n(W-1)
    position  0            1    2    3    4    5    6        3W
    nll[k, e] = -log_softmax(logits[3e + k])[stream[3e + k + 1]]   k: 0 time, 1 duration, 2 note

Longer pieces are scored in strided windows of events (``ScoringOptions``: 341 events, the
model's 1024-token context), each event once.
"""

from __future__ import annotations

import json

import numpy as np

from noiseloss.errors import ModelLoadError, ParameterError
from noiseloss.models.base import Backend, ModelInfo
from noiseloss.models.hub import CausalLMScorer, load_pretrained, locate, weights_sha256
from noiseloss.scoring.layouts import Layout
from noiseloss.scoring.options import ScoringOptions
from noiseloss.scoring.pattern import token_scores
from noiseloss.tokenizers.amt import TIME_RESOLUTION, AmtTokenizer, AmtVocab

#: Events in one window of the published models: 1024 tokens = the flag + 3 x 341.
CONTEXT_EVENTS = 341


class ArrivalLayout(Layout):
    """One window of events as the authors' training sequence (see the module docstring)."""

    alignment = "arrival"

    def __init__(self, vocab: AmtVocab):
        self.vocab = vocab
        self.pad_id = vocab.rest

    def _rebased(self, codes):
        """Codes ``[3, W]`` with times counted from the window's first event."""
        out = codes.clone()
        out[0] -= codes[0, 0] - self.vocab.time_offset
        if int(out[0, -1]) - self.vocab.time_offset >= self.vocab.time_bins:
            # a tokenized score has an event (a note or a rest) at least every second
            fits = max(self.vocab.time_bins // TIME_RESOLUTION, 1)
            raise ParameterError(
                f"a window of {codes.shape[1]} events spans {(int(out[0, -1]) / 100):.1f} s, "
                f"beyond the model's {self.vocab.time_bins / 100:.0f} s of time tokens; give "
                f"smaller window_frames (events per window: {fits} or fewer always fit a "
                "score)")
        return out

    def out_of_range(self, codes, *, size: int):
        """Durations and notes are ids; times are any non-decreasing count from a time id.

        A piece may outlast the time tokens: each window is rebased to its first event (and
        refused there if it spans more than the time tokens, ``_rebased``).
        """
        bad = super().out_of_range(codes, size=size)
        times = codes[0]
        bad[0] = (times < self.vocab.time_offset) | (np.diff(times, prepend=times[:1]) < 0)
        return bad

    def inputs(self, codes):
        """``AUTOREGRESS`` and the window's tokens, minus the last: ``[1, 3W]``."""
        import torch

        stream = self._rebased(codes).T.reshape(-1)
        return torch.cat([torch.tensor([self.vocab.autoregress], dtype=torch.long),
                          stream])[None, :-1]

    def scores(self, logits, codes):
        """``[3, W]`` from the logits at ``3e + k``."""
        targets = self._rebased(codes).T.reshape(-1)
        nll, entropy = token_scores(logits[0, : targets.numel()], targets)
        return nll.reshape(-1, 3).T, entropy.reshape(-1, 3).T

    def log_probs(self, logits, codes):
        """``log p[k, e, :]`` from the logits at ``3e + k``."""
        out = logits[0, : 3 * codes.shape[1]].float().log_softmax(dim=-1)
        return out.reshape(codes.shape[1], 3, -1).transpose(0, 1)


ALIGNMENTS = {"arrival": "the Anticipatory Music Transformer's autoregressive arrival-time "
                         "stream (AUTOREGRESS, then time, duration, note per event)"}


def amt_info(name: str) -> ModelInfo:
    """Identity and windows of an AMT checkpoint (a GPT-2 folder or cache id), no weights.

    Raises:
        ModelLoadError: Not found locally, or not a GPT-2 checkpoint.
    """
    directory, identity = locate(name)
    try:
        config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{directory}: no readable config.json ({exc})") from exc
    if config.get("model_type") != "gpt2":
        raise ModelLoadError(f"{name}: model_type {config.get('model_type')!r} is not the "
                             "Anticipatory Music Transformer's gpt2")
    if identity["source"] == "directory":
        identity["weights_sha256"] = weights_sha256(directory)
    events = (int(config.get("n_positions", 1024)) - 1) // 3
    return ModelInfo(name, {"model_id": name, **identity}, window_frames=events,
                     stride_frames=max(events // 2, 1), batch_size=8, alignment="arrival")


def load_amt(info: ModelInfo, options: ScoringOptions) -> CausalLMScorer:
    """Load the GPT-2 and its arrival-time tokenizer (the vocabulary read from its config)."""
    from transformers import GPT2LMHeadModel

    directory, _ = locate(info.name)
    model = load_pretrained(GPT2LMHeadModel, directory, options=options, name=info.name)
    try:
        vocab = AmtVocab.from_config(model.config)
    except ParameterError as exc:
        raise ModelLoadError(f"{info.name}: {exc}") from exc
    return CausalLMScorer(model, AmtTokenizer(vocab), layouts={"arrival": ArrivalLayout(vocab)},
                          name=info.name, identity=info.identity, options=options)


BACKEND = Backend(info=amt_info, load=load_amt, modality="symbolic", alignments=ALIGNMENTS)
