"""Order edits of audio: swap, block permutation, reversal, deletion, repetition, silence.

All cuts are hard (no cross-fade), as in the paper. Times are model frames (sample = frame *
hop_length, exact) or seconds (rounded to the nearest sample); ``L`` below is one block or span
length, ``o`` the onset, and spans are reported on the output's time axis (see
``noiseloss.perturb.base``)::

    input             [ a | A | B | b ]            (A = [o, o+L), B = [o+L, o+2L))
    swap              [ a | B | A | b ]            span (o, 2L)
    permute (n = 3)   [ a | A2 A0 A1 | b ]         span (o, nL), every block exactly once
    reverse           [ a | reversed A | B | b ]   span (o, L)
    delete            [ a | B | b ]                span (o, 0), output L shorter
    repeat            [ a' P | P | A | B | b ]     P = [o-L, o) played again at o; span (o, L)
    silence           [ a | 0...0 | A | B | b ]    span (o, L), output L longer
"""

from __future__ import annotations

import numpy as np

from noiseloss.errors import ParameterError
from noiseloss.perturb.base import (
    Perturbed,
    as_audio,
    audio_result,
    check_end,
    check_rates,
    make_rng,
    random_order,
    time_samples,
)


def _span(audio, onset_frames, onset_seconds, length_frames, length_seconds, sample_rate,
          hop_length, *, length_name: str = "length"):
    """Validated ``(audio, hop, onset, length, record, names)``; names are the given keys."""
    audio = as_audio(audio)
    sample_rate, hop_length = check_rates(sample_rate, hop_length)
    times = dict(sample_rate=sample_rate, hop_length=hop_length)
    onset, onset_rec = time_samples("onset", frames=onset_frames, seconds=onset_seconds, **times)
    length, length_rec = time_samples(length_name, frames=length_frames, seconds=length_seconds,
                                      minimum=1, **times)
    record = {**onset_rec, **length_rec, "onset_samples": onset,
              f"{length_name}_samples": length, **times}
    names = (next(iter(onset_rec)), next(iter(length_rec)))
    return audio, hop_length, onset, length, record, names


def swap_blocks(
    audio: np.ndarray,
    *,
    onset_frames: int | None = None,
    onset_seconds: float | None = None,
    block_frames: int | None = None,
    block_seconds: float | None = None,
    sample_rate: int,
    hop_length: int,
) -> Perturbed:
    """Swap the two adjacent blocks ``[o, o+L)`` and ``[o+L, o+2L)`` (the paper's shuffle).

    Args:
        audio: Mono float ``[samples]`` (not modified).
        onset_frames: Start of the first block in frames (or ``onset_seconds``).
        onset_seconds: Start of the first block in seconds.
        block_frames: Block length ``L`` in frames (or ``block_seconds``).
        block_seconds: Block length in seconds.
        sample_rate: Rate in Hz.
        hop_length: Samples per model frame.
    """
    audio, hop, onset, block, record, names = _span(
        audio, onset_frames, onset_seconds, block_frames, block_seconds, sample_rate, hop_length,
        length_name="block")
    check_end(f"{names[0]} + 2 * {names[1]}", onset + 2 * block, audio.shape[0], hop_length=hop)
    out = audio.copy()
    out[onset:onset + block] = audio[onset + block:onset + 2 * block]
    out[onset + block:onset + 2 * block] = audio[onset:onset + block]
    return audio_result(out, onset, 2 * block, hop_length=hop, params=record)


def permute_blocks(
    audio: np.ndarray,
    *,
    onset_frames: int | None = None,
    onset_seconds: float | None = None,
    length_frames: int | None = None,
    length_seconds: float | None = None,
    block_frames: int | None = None,
    block_seconds: float | None = None,
    sample_rate: int,
    hop_length: int,
    seed: int,
) -> Perturbed:
    """Randomly permute the ``n = length / L`` blocks of a window; each block appears once.

    The permutation is uniform over all orders except the identity. ``params["order"][i]`` is
    the input block placed at output position ``i``.

    Args:
        audio: Mono float ``[samples]`` (not modified).
        onset_frames: Window start in frames (or ``onset_seconds``).
        onset_seconds: Window start in seconds.
        length_frames: Window length in frames, a multiple of the block (or ``length_seconds``).
        length_seconds: Window length in seconds.
        block_frames: Block length ``L`` in frames (or ``block_seconds``).
        block_seconds: Block length in seconds.
        sample_rate: Rate in Hz.
        hop_length: Samples per model frame.
        seed: Seed of the permutation.
    """
    audio, hop, onset, length, record, names = _span(
        audio, onset_frames, onset_seconds, length_frames, length_seconds, sample_rate, hop_length)
    block, block_rec = time_samples("block", frames=block_frames, seconds=block_seconds,
                                    sample_rate=record["sample_rate"], hop_length=hop, minimum=1)
    check_end(" + ".join(names), onset + length, audio.shape[0], hop_length=hop)
    if length % block or length < 2 * block:
        raise ParameterError(
            f"the window ({length} samples) must hold a whole number >= 2 of blocks "
            f"({block} samples each), got length={length / hop:g} frames, "
            f"block={block / hop:g} frames")
    count = length // block
    order = random_order(count, make_rng(seed), derangement=False)
    out = audio.copy()
    window = audio[onset:onset + length].reshape(count, block)
    out[onset:onset + length] = window[order].reshape(-1)
    params = {**record, **block_rec, "block_samples": block, "seed": int(seed),
              "num_blocks": count, "order": order.tolist()}
    return audio_result(out, onset, length, hop_length=hop, params=params)


def reverse_span(
    audio: np.ndarray,
    *,
    onset_frames: int | None = None,
    onset_seconds: float | None = None,
    length_frames: int | None = None,
    length_seconds: float | None = None,
    sample_rate: int,
    hop_length: int,
) -> Perturbed:
    """Play the span ``[o, o+L)`` backwards (time reversal of its samples).

    Args:
        audio: Mono float ``[samples]`` (not modified).
        onset_frames: Span start in frames (or ``onset_seconds``).
        onset_seconds: Span start in seconds.
        length_frames: Span length in frames (or ``length_seconds``).
        length_seconds: Span length in seconds.
        sample_rate: Rate in Hz.
        hop_length: Samples per model frame.
    """
    audio, hop, onset, length, record, names = _span(
        audio, onset_frames, onset_seconds, length_frames, length_seconds, sample_rate, hop_length)
    check_end(" + ".join(names), onset + length, audio.shape[0], hop_length=hop)
    out = audio.copy()
    out[onset:onset + length] = audio[onset:onset + length][::-1]
    return audio_result(out, onset, length, hop_length=hop, params=record)


def delete_span(
    audio: np.ndarray,
    *,
    onset_frames: int | None = None,
    onset_seconds: float | None = None,
    length_frames: int | None = None,
    length_seconds: float | None = None,
    sample_rate: int,
    hop_length: int,
) -> Perturbed:
    """Cut ``[o, o+L)`` out and close the gap; the output is ``L`` samples shorter.

    The reported span is ``(o, 0)``: the junction where the output first differs.

    Args:
        audio: Mono float ``[samples]`` (not modified).
        onset_frames: Span start in frames (or ``onset_seconds``).
        onset_seconds: Span start in seconds.
        length_frames: Span length in frames (or ``length_seconds``).
        length_seconds: Span length in seconds.
        sample_rate: Rate in Hz.
        hop_length: Samples per model frame.
    """
    audio, hop, onset, length, record, names = _span(
        audio, onset_frames, onset_seconds, length_frames, length_seconds, sample_rate, hop_length)
    check_end(" + ".join(names), onset + length, audio.shape[0], hop_length=hop)
    if length == audio.shape[0]:
        raise ParameterError("delete would remove the whole signal; shorten length_frames")
    out = np.concatenate([audio[:onset], audio[onset + length:]])
    return audio_result(out, onset, 0, hop_length=hop, params=record)


def repeat_span(
    audio: np.ndarray,
    *,
    onset_frames: int | None = None,
    onset_seconds: float | None = None,
    length_frames: int | None = None,
    length_seconds: float | None = None,
    sample_rate: int,
    hop_length: int,
) -> Perturbed:
    """Play the ``L`` samples that end at the onset again, starting at the onset.

    ``[o-L, o)`` is inserted at ``o``, so the output first differs from the input at the onset
    (like every other edit) and is ``L`` samples longer; the span is the copy ``(o, L)``.

    Args:
        audio: Mono float ``[samples]`` (not modified).
        onset_frames: Where the copy starts, in frames (at least the length; or
            ``onset_seconds``).
        onset_seconds: Where the copy starts, in seconds.
        length_frames: Length of the repeated part in frames (or ``length_seconds``).
        length_seconds: Length of the repeated part in seconds.
        sample_rate: Rate in Hz.
        hop_length: Samples per model frame.
    """
    audio, hop, onset, length, record, names = _span(
        audio, onset_frames, onset_seconds, length_frames, length_seconds, sample_rate, hop_length)
    check_end(names[0], onset, audio.shape[0], hop_length=hop)
    if onset < length:
        raise ParameterError(
            f"repeat plays [onset - length, onset) again, so onset must be >= length; got onset "
            f"{onset / hop:g} frames and length {length / hop:g} frames")
    out = np.concatenate([audio[:onset], audio[onset - length:]])
    return audio_result(out, onset, length, hop_length=hop, params=record)


def insert_silence(
    audio: np.ndarray,
    *,
    onset_frames: int | None = None,
    onset_seconds: float | None = None,
    length_frames: int | None = None,
    length_seconds: float | None = None,
    sample_rate: int,
    hop_length: int,
) -> Perturbed:
    """Insert ``L`` samples of digital silence at the onset; the output is ``L`` longer.

    Args:
        audio: Mono float ``[samples]`` (not modified).
        onset_frames: Insertion point in frames (or ``onset_seconds``).
        onset_seconds: Insertion point in seconds.
        length_frames: Silence length in frames (or ``length_seconds``).
        length_seconds: Silence length in seconds.
        sample_rate: Rate in Hz.
        hop_length: Samples per model frame.
    """
    audio, hop, onset, length, record, names = _span(
        audio, onset_frames, onset_seconds, length_frames, length_seconds, sample_rate, hop_length)
    check_end(names[0], onset, audio.shape[0], hop_length=hop)
    out = np.concatenate([audio[:onset], np.zeros(length, np.float32), audio[onset:]])
    return audio_result(out, onset, length, hop_length=hop, params=record)
