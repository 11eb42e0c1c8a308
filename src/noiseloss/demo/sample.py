"""Unconditional top-k sampling from a MusicGen decoder under the delay pattern (KV cache).

Step ``s`` of the delayed layout (see ``noiseloss.scoring.pattern``) holds code ``(t, k)`` with
``t = s - k - 1``; the logits read at input step ``s`` therefore give, for codebook ``k``, the
code of frame ``t = s - k``. Cells outside ``0 <= t < T`` stay special::

    input step s     0     1     2     3    ...
    k = 0 samples   t=0   t=1   t=2   t=3
    k = 1 samples    -    t=0   t=1   t=2
    k = 3 samples    -     -     -    t=0         (T + K - 1 input steps in all)
"""

from __future__ import annotations

import numpy as np

from noiseloss.errors import check_range


def sample_codes(decoder, *, num_frames: int, top_k: int, batch_size: int,
                 rng: np.random.Generator, temperature: float = 1.0) -> np.ndarray:
    """Sample ``batch_size`` code matrices int64 ``[B, K, num_frames]`` with top-k sampling.

    Args:
        decoder: ``MusicgenForCausalLM`` (put in eval mode here).
        num_frames: Frames T per item.
        top_k: Keep the ``top_k`` most likely codes at each step (all codes if larger than C).
        batch_size: Items sampled together.
        rng: Source of the uniform draws (the sampling is reproducible for a given generator).
        temperature: Logit temperature.
    """
    import torch

    from noiseloss.scoring.cache import cached_forward

    check_range("top_k", top_k, low=1)
    check_range("num_frames", num_frames, low=1)
    check_range("temperature", temperature, low=0, low_open=True)
    decoder.eval()
    cfg = decoder.config
    k_books, special = cfg.num_codebooks, int(cfg.pad_token_id)
    codes = np.zeros((batch_size, k_books, num_frames), dtype=np.int64)
    column = torch.full((batch_size * k_books, 1), special, dtype=torch.long)
    cache = None
    with torch.inference_mode():
        for step in range(num_frames + k_books - 1):
            out, cache = cached_forward(decoder, cache, input_ids=column)
            logits = out.logits[:, -1, :].double().reshape(batch_size, k_books, -1) / temperature
            drawn = _top_k_draw(logits.numpy(), top_k=top_k, rng=rng)  # [B, K]
            column = torch.full((batch_size, k_books), special, dtype=torch.long)
            for k in range(k_books):
                frame = step - k
                if 0 <= frame < num_frames:
                    codes[:, k, frame] = drawn[:, k]
                    column[:, k] = torch.from_numpy(drawn[:, k])
            column = column.reshape(batch_size * k_books, 1)
    return codes


def _top_k_draw(logits: np.ndarray, *, top_k: int, rng: np.random.Generator) -> np.ndarray:
    """One draw per row of ``logits`` ``[..., V]`` from the renormalised top-k softmax."""
    kept = min(top_k, logits.shape[-1])
    threshold = np.sort(logits, axis=-1)[..., -kept][..., None]
    masked = np.where(logits >= threshold, logits, -np.inf)
    probs = np.exp(masked - masked.max(axis=-1, keepdims=True))
    cdf = np.cumsum(probs / probs.sum(axis=-1, keepdims=True), axis=-1)
    u = rng.random(cdf.shape[:-1] + (1,))
    return np.minimum((cdf < u).sum(axis=-1), logits.shape[-1] - 1)
