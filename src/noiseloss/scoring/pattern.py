"""The MusicGen delay pattern and the logit/target alignment: the only place where indices shift.

Codes ``[K, T]`` are laid out on ``T + D + 1`` steps (``D`` = the largest delay); codebook ``k``
is delayed by ``d[k]`` steps and a leading all-special step acts as BOS (``S`` = special id,
``cKt`` = code of codebook K, frame t). Mono MusicGen, ``d = [0, 1, 2, 3]``::

    step s ->   0    1    2    3    4   ...  T    T+1   T+2   T+3      (K = 4)
    k = 0       S   c00  c01  c02  c03  ... c0T-1  S     S     S
    k = 1       S    S   c10  c11  c12  ...       c1T-1  S     S
    k = 2       S    S    S   c20  c21  ...             c2T-1  S
    k = 3       S    S    S    S   c30  ...                   c3T-1

    code (t, k) sits at step t + d[k] + 1.

Stereo MusicGen interleaves the channels' codebooks ``[L0, R0, L1, R1, ...]`` with
``d = [0, 0, 1, 1, 2, 2, 3, 3]``: both channels of codebook ``j`` share delay ``j``.

The model is fed steps ``0 .. T+D-1`` (the layout minus its last step); the logits at input step
``s`` predict step ``s + 1``, hence::

    nll[k, t] = -log_softmax(logits[k, t + d[k]])[code[k, t]]

Note: codebook k at frame t has seen codebook 0 up to frame ``t + d[k] - 1`` (a perturbation can
show up to ``D - 1`` frames early in frame curves that average over codebooks).

The legacy, *undelayed* alignment of the paper's research code feeds the raw codes ``[K, T-1]``
and reads logits at position ``t - 1`` for frame ``t`` (frame 0 has no prediction: NaN). It is not
MusicGen's likelihood and is offered only to compare with the published numbers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used: importing a backend module must not import torch
    import torch


def musicgen_delays(num_codebooks: int, *, channels: int = 1) -> tuple[int, ...]:
    """MusicGen's delay vector: ``[0, 1, .., K-1]`` mono, each delay twice (L, R) for stereo."""
    return tuple(k // channels for k in range(num_codebooks))


def _delays(codes: torch.Tensor, delays) -> tuple[int, ...]:
    return tuple(range(codes.shape[-2])) if delays is None else tuple(delays)


def delay_codes(codes: torch.Tensor, *, special_id: int, delays=None) -> torch.Tensor:
    """Interleave codes ``[..., K, T]`` into the full delayed layout ``[..., K, T + D + 1]``.

    ``delays``: one per codebook (default ``0 .. K-1``).
    """
    delays = _delays(codes, delays)
    *lead, k_books, frames = codes.shape
    out = codes.new_full((*lead, k_books, frames + max(delays) + 1), special_id)
    for k, d in enumerate(delays):
        out[..., k, d + 1 : d + 1 + frames] = codes[..., k, :]
    return out


def model_inputs(codes: torch.Tensor, *, special_id: int, alignment: str,
                 delays=None) -> torch.Tensor:
    """Decoder input ids ``[..., K, S]`` for codes ``[..., K, T]`` (S = T+D delayed, T-1 legacy)."""
    if alignment == "delayed":
        return delay_codes(codes, special_id=special_id, delays=delays)[..., :-1]
    return codes[..., :-1]


def token_scores(logits: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(nll, entropy)`` float32 of next-token distributions: the one place both are computed.

    Args:
        logits: ``[..., V]`` at the positions that predict ``targets`` (any float dtype).
        targets: ``[...]`` ids in ``[0, V)``.

    Returns:
        ``nll = -log p(target)`` and ``entropy = -sum_v p(v) log p(v)``, nats, shape ``[...]``.
    """
    import torch

    logp = torch.log_softmax(logits.float(), dim=-1)
    nll = -torch.gather(logp, -1, targets[..., None]).squeeze(-1)
    entropy = -(logp.exp() * logp).sum(dim=-1)
    return nll, entropy


def kl_divergence(log_p: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    """``KL(p || q) = sum_v p(v) (log p(v) - log q(v))``, nats, over the last axis (its one home).

    Terms where ``p(v) = 0`` count 0; float rounding below 0 is clamped to 0.
    """
    import torch

    p = log_p.exp()
    return torch.where(p > 0, p * (log_p - log_q), 0.0).sum(dim=-1).clamp(min=0.0)


def gather_logits(logits: torch.Tensor, codes: torch.Tensor, *, alignment: str,
                  delays=None) -> torch.Tensor:
    """The logits ``[K, T, V]`` that predict each code ``[K, T]``, from logits ``[K, S, V]``.

    ``S`` may exceed the item's own input length (right padding of a batch): the extra positions
    are never read. Legacy alignment reads frame 0 from position 0 (its scores are NaN).
    """
    import torch

    k_books, frames = codes.shape
    frame_idx = torch.arange(frames, device=codes.device)
    if alignment == "delayed":
        # position of (t, k) in the logits: s = t + d[k]
        shift = torch.tensor(_delays(codes, delays), device=codes.device)
        pos = frame_idx[None, :] + shift[:, None]
    else:
        pos = (frame_idx[None, :] - 1).clamp(min=0).expand(k_books, frames)
    return torch.gather(logits, 1, pos[..., None].expand(-1, -1, logits.shape[-1]))


def gather_scores(logits: torch.Tensor, codes: torch.Tensor, *, alignment: str,
                  delays=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token ``(nll, entropy)`` ``[K, T]`` (float32) from logits ``[K, S, V]`` of one item.

    The logits are ``gather_logits``'s; legacy alignment leaves frame 0 as NaN.
    """
    nll, entropy = token_scores(gather_logits(logits, codes, alignment=alignment, delays=delays),
                                codes)
    if alignment != "delayed":
        nll[:, 0] = entropy[:, 0] = float("nan")
    return nll, entropy


def gather_nll(logits: torch.Tensor, codes: torch.Tensor, *, alignment: str,
               delays=None) -> torch.Tensor:
    """The NLL of ``gather_scores`` (training and its tests need no entropy)."""
    return gather_scores(logits, codes, alignment=alignment, delays=delays)[0]
