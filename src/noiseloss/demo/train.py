"""Train the demo decoder (``MusicgenForCausalLM``) and compare it with n-gram baselines.

The loss is MusicGen's (README, "Correct MusicGen likelihood"): the codes ``[B, K, T]`` are
laid out with the delay pattern and the BOS step by ``noiseloss.scoring.pattern.model_inputs``,
the per-token NLL is read by ``gather_nll`` (the very functions the scorer uses), and the loss
is the mean over codebooks of each codebook's mean NLL.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from noiseloss.errors import ParameterError
from noiseloss.scoring.pattern import gather_nll, model_inputs


@dataclass(frozen=True)
class ModelSize:
    """Decoder shape; the vocabulary is the tokenizer's codebook size."""

    hidden_size: int = 256
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    ffn_dim: int = 1024
    max_position_embeddings: int = 2048


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings (AdamW, linear warm-up then cosine decay to 10 %)."""

    steps: int = 1500
    batch_size: int = 8
    crop_frames: int = 750
    learning_rate: float = 1e-3
    warmup_steps: int = 100
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    eval_every: int = 100
    #: Keep a copy of the weights every this many steps (a multiple of ``eval_every``; 0: none).
    checkpoint_every: int = 0


def build_decoder(*, codebook_size: int, num_codebooks: int, size: ModelSize, seed: int):
    """A freshly initialised ``MusicgenForCausalLM`` (training mode) with pad = bos = C."""
    import torch
    from transformers import MusicgenDecoderConfig, MusicgenForCausalLM

    config = MusicgenDecoderConfig(
        vocab_size=codebook_size, num_codebooks=num_codebooks, audio_channels=1,
        pad_token_id=codebook_size, bos_token_id=codebook_size, **asdict(size))
    torch.manual_seed(seed)
    return MusicgenForCausalLM(config)


def sequence_nll(decoder, codes, *, special_id: int):
    """Per-token NLL float32 ``[B, K, T]`` of codes int64 ``[B, K, T]`` (differentiable)."""
    import torch

    batch, k_books, _ = codes.shape
    inputs = model_inputs(codes, special_id=special_id, alignment="delayed")  # [B, K, T+K-1]
    logits = decoder(input_ids=inputs.reshape(batch * k_books, -1), use_cache=False).logits
    logits = logits.reshape(batch, k_books, inputs.shape[-1], -1)
    return torch.stack([gather_nll(logits[b], codes[b], alignment="delayed")
                        for b in range(batch)])


def musicgen_loss(nll):
    """MusicGen's loss from NLL ``[B, K, T]``: mean over codebooks of per-codebook means."""
    return nll.mean(dim=(0, 2)).mean()


def crop_sampler(pieces: Sequence[np.ndarray], *, crop_frames: int, rng: np.random.Generator):
    """Return ``draw(batch_size) -> int64 [B, K, crop_frames]``: crops uniform over all starts.

    Pieces shorter than ``crop_frames`` are not used.
    """
    usable = [p for p in pieces if p.shape[1] >= crop_frames]
    if not usable:
        raise ParameterError(f"no training piece has crop_frames={crop_frames} frames")
    starts = np.array([p.shape[1] - crop_frames + 1 for p in usable])
    cumulative = np.cumsum(starts)

    def draw(batch_size: int) -> np.ndarray:
        flat = rng.integers(0, cumulative[-1], size=batch_size)
        which = np.searchsorted(cumulative, flat, side="right")
        offset = flat - np.concatenate([[0], cumulative])[which]
        return np.stack([usable[w][:, o : o + crop_frames] for w, o in zip(which, offset,
                                                                           strict=True)])

    return draw


def learning_rate(step: int, *, config: TrainConfig) -> float:
    """Linear warm-up for ``warmup_steps`` then cosine decay to 10 % at ``steps``."""
    if step < config.warmup_steps:
        return config.learning_rate * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    return config.learning_rate * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def train(decoder, train_codes: Sequence[np.ndarray], validation_crops: np.ndarray, *,
          config: TrainConfig, seed: int, log: Callable[[dict], None] = print,
          keep: Callable[[object, dict], None] | None = None) -> list[dict]:
    """Train ``decoder`` in place on random crops; return the logged curve (one dict per eval).

    Args:
        decoder: ``MusicgenForCausalLM``.
        train_codes: int ``[K, T_i]`` per training piece.
        validation_crops: int ``[N, K, crop_frames]`` held-out crops evaluated every
            ``config.eval_every`` steps.
        config: Optimisation settings.
        seed: Seeds the crop sampler and dropout.
        log: Receives each curve record (step, train_loss, validation_loss, lr, elapsed_s).
        keep: Called as ``keep(decoder, record)`` every ``config.checkpoint_every`` steps (the
            intermediate checkpoints of the model-level validation).
    """
    import torch

    if config.checkpoint_every and config.checkpoint_every % config.eval_every:
        raise ParameterError(f"checkpoint_every ({config.checkpoint_every}) must be a multiple "
                             f"of eval_every ({config.eval_every})")

    torch.manual_seed(seed)
    special_id = int(decoder.config.pad_token_id)
    draw = crop_sampler(train_codes, crop_frames=config.crop_frames,
                        rng=np.random.default_rng(seed))
    optimiser = torch.optim.AdamW(decoder.parameters(), lr=config.learning_rate,
                                  weight_decay=config.weight_decay, betas=(0.9, 0.95))
    curve, running, start = [], [], time.monotonic()
    for step in range(config.steps):
        decoder.train()
        for group in optimiser.param_groups:
            group["lr"] = learning_rate(step, config=config)
        batch = torch.from_numpy(draw(config.batch_size))
        loss = musicgen_loss(sequence_nll(decoder, batch, special_id=special_id))
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(decoder.parameters(), config.grad_clip)
        optimiser.step()
        running.append(loss.item())
        if (step + 1) % config.eval_every == 0 or step + 1 == config.steps:
            record = {"step": step + 1, "train_loss": float(np.mean(running)),
                      "validation_loss": crop_loss(decoder, validation_crops),
                      "lr": learning_rate(step, config=config),
                      "elapsed_s": round(time.monotonic() - start, 1)}
            running = []
            curve.append(record)
            log(record)
            if keep is not None and config.checkpoint_every and (
                    (step + 1) % config.checkpoint_every == 0):
                keep(decoder, record)
    decoder.eval()
    return curve


def crop_loss(decoder, crops: np.ndarray, *, batch_size: int = 8) -> float:
    """MusicGen loss of ``crops`` ``[N, K, T]`` in eval mode (mean over crops)."""
    import torch

    decoder.eval()
    special_id = int(decoder.config.pad_token_id)
    with torch.inference_mode():
        losses = [musicgen_loss(sequence_nll(decoder, torch.from_numpy(crops[i : i + batch_size]),
                                             special_id=special_id)).item() * len(
            crops[i : i + batch_size]) for i in range(0, len(crops), batch_size)]
    return float(np.sum(losses) / len(crops))


# -- n-gram baselines ---------------------------------------------------------------------------
def unigram_logprobs(train_codes: Sequence[np.ndarray], *, codebook_size: int) -> np.ndarray:
    """Per-codebook add-one unigram ``log p_k(c)``, float64 ``[K, C]``."""
    counts = _unigram_counts(train_codes, codebook_size=codebook_size) + 1.0
    return np.log(counts / counts.sum(axis=1, keepdims=True))


def bigram_logprobs(train_codes: Sequence[np.ndarray], *, codebook_size: int,
                    prior_weight: float | None) -> np.ndarray:
    """Per-codebook first-order Markov ``log p_k(b | a)``, float64 ``[K, C(a), C(b)]``.

    Smoothing: ``prior_weight=None`` is add-one; a number ``beta`` is a Dirichlet prior centred
    on the add-one unigram: ``p(b|a) = (n(a,b) + beta p(b)) / (n(a) + beta)``.
    """
    k_books = train_codes[0].shape[0]
    counts = np.zeros((k_books, codebook_size, codebook_size))
    for codes in train_codes:
        for k in range(k_books):
            np.add.at(counts[k], (codes[k, :-1], codes[k, 1:]), 1.0)
    if prior_weight is None:
        prior = np.ones((k_books, 1, codebook_size))
    else:
        unigram = np.exp(unigram_logprobs(train_codes, codebook_size=codebook_size))
        prior = prior_weight * unigram[:, None, :]
    smoothed = counts + prior
    return np.log(smoothed / smoothed.sum(axis=2, keepdims=True))


def unigram_nll(codes: np.ndarray, logprobs: np.ndarray) -> np.ndarray:
    """NLL ``[K, T]`` of one item under a per-codebook unigram ``[K, C]``."""
    return -np.take_along_axis(logprobs, codes, axis=1)


def bigram_nll(codes: np.ndarray, logprobs: np.ndarray, unigram: np.ndarray) -> np.ndarray:
    """NLL ``[K, T]`` under a per-codebook bigram ``[K, C, C]``; frame 0 uses the unigram."""
    k_idx = np.arange(codes.shape[0])[:, None]
    nll = unigram_nll(codes, unigram)
    nll[:, 1:] = -logprobs[k_idx, codes[:, :-1], codes[:, 1:]]
    return nll


def mean_token_nll(nlls: Sequence[np.ndarray]) -> float:
    """Mean NLL per token over all tokens of all items (each ``[K, T_i]``)."""
    total = sum(float(np.sum(n, dtype=np.float64)) for n in nlls)
    return total / sum(n.size for n in nlls)


def _unigram_counts(train_codes: Sequence[np.ndarray], *, codebook_size: int) -> np.ndarray:
    k_books = train_codes[0].shape[0]
    counts = np.zeros((k_books, codebook_size))
    for codes in train_codes:
        for k in range(k_books):
            counts[k] += np.bincount(codes[k], minlength=codebook_size)
    return counts


def write_curve(curve: Sequence[dict], path) -> None:
    """Write the training curve as JSON lines."""
    with open(path, "w", encoding="utf-8") as fh:
        for record in curve:
            fh.write(json.dumps(record) + "\n")
