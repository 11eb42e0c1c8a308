"""The MusicGen delay pattern and the logit/target alignment: the only place where indices shift.

Codes ``[K, T]`` are laid out on ``T + K`` steps; codebook ``k`` is delayed by ``k`` steps and a
leading all-special step acts as BOS (``S`` = special id, ``cKt`` = code of codebook K, frame t)::

    step s ->   0    1    2    3    4   ...  T    T+1   T+2   T+3      (K = 4)
    k = 0       S   c00  c01  c02  c03  ... c0T-1  S     S     S
    k = 1       S    S   c10  c11  c12  ...       c1T-1  S     S
    k = 2       S    S    S   c20  c21  ...             c2T-1  S
    k = 3       S    S    S    S   c30  ...                   c3T-1

    code (t, k) sits at step t + k + 1.

The model is fed steps ``0 .. T+K-2`` (the layout minus its last step); the logits at input step
``s`` predict step ``s + 1``, hence::

    nll[k, t] = -log_softmax(logits[k, t + k])[code[k, t]]

Note: codebook k at frame t has seen codebook 0 up to frame ``t + k - 1`` (a perturbation can show
up to ``K - 2`` frames early in frame curves that average over codebooks).

The legacy, *undelayed* alignment of the paper's research code feeds the raw codes ``[K, T-1]``
and reads logits at position ``t - 1`` for frame ``t`` (frame 0 has no prediction: NaN). It is not
MusicGen's likelihood and is offered only to compare with the published numbers.
"""

from __future__ import annotations

import torch


def delay_codes(codes: torch.Tensor, *, special_id: int) -> torch.Tensor:
    """Interleave codes ``[..., K, T]`` into the full delayed layout ``[..., K, T + K]``."""
    *lead, k_books, frames = codes.shape
    out = codes.new_full((*lead, k_books, frames + k_books), special_id)
    for k in range(k_books):
        out[..., k, k + 1 : k + 1 + frames] = codes[..., k, :]
    return out


def model_inputs(codes: torch.Tensor, *, special_id: int, alignment: str) -> torch.Tensor:
    """Decoder input ids ``[..., K, S]`` for codes ``[..., K, T]`` (S = T+K-1 delayed, T-1 legacy)."""
    if alignment == "delayed":
        return delay_codes(codes, special_id=special_id)[..., :-1]
    return codes[..., :-1]


def gather_nll(logits: torch.Tensor, codes: torch.Tensor, *, alignment: str) -> torch.Tensor:
    """Per-token NLL ``[K, T]`` (float32) from logits ``[K, S, V]`` of one item and its codes.

    ``S`` may exceed the item's own input length (right padding of a batch): the extra positions
    are never read. Legacy alignment leaves frame 0 as NaN.
    """
    k_books, frames = codes.shape
    frame_idx = torch.arange(frames, device=codes.device)
    if alignment == "delayed":
        # position of (t, k) in the logits: s = t + k
        pos = frame_idx[None, :] + torch.arange(k_books, device=codes.device)[:, None]
        targets = codes
    else:
        pos = (frame_idx[None, :] - 1).clamp(min=0).expand(k_books, frames)
        targets = codes
    picked = torch.gather(logits, 1, pos[..., None].expand(-1, -1, logits.shape[-1]))
    logp = torch.log_softmax(picked.float(), dim=-1)
    nll = -torch.gather(logp, 2, targets[..., None]).squeeze(-1)
    if alignment != "delayed":
        nll[:, 0] = float("nan")
    return nll
