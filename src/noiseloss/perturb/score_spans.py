"""Edits of a span of a score, in seconds: the symbolic counterparts of the audio edits.

Each works on a deep copy of a ``pretty_midi.PrettyMIDI`` and reports the span it edited,
``span_seconds = (onset, length)``, on the output's time axis. A note belongs to the span when
it *starts* in ``[onset, onset + length)``; notes that start elsewhere are never changed (a note
sounding into the span keeps sounding). Drums are never edited. The ``order`` of notes that
stay (``sources.midi.load_score``) is kept; new and moved notes follow it::

    time      0 ........ onset [ span: onset .. onset + length ) ........... end
    note-noise            random notes at the span's density, pitches over the piece's range
    loop                  the bar before the span, repeated through it
    transpose-span        the span's notes, shifted by N semitones
    score-swap            [ block A | block B ] -> [ block B | block A ]  (span: 2 blocks)
    score-permute         N blocks in a random order (never the identity)
"""

from __future__ import annotations

import copy

import numpy as np

from noiseloss.errors import ParameterError, check_int, check_number
from noiseloss.perturb.base import Perturbed, make_rng, random_order


def _copy(score):
    import pretty_midi

    if not isinstance(score, pretty_midi.PrettyMIDI):
        raise ParameterError(f"score must be a pretty_midi.PrettyMIDI, got {type(score).__name__}")
    return copy.deepcopy(score)


def _span(onset_seconds, length_seconds, *, name: str = "length_seconds") -> tuple[float, float]:
    onset = check_number("onset_seconds", onset_seconds, low=0.0, high=86400.0)
    length = check_number(name, length_seconds, low=0.0, low_open=True, high=86400.0)
    return onset, length


def _pitched(score):
    return [inst for inst in score.instruments if not inst.is_drum]


def _inside(note, start: float, end: float) -> bool:
    return start <= note.start < end


def _next_order(score) -> float:
    orders = [getattr(n, "order", -1) for inst in score.instruments for n in inst.notes]
    return max(orders, default=-1) + 1


def _moved(note, dt: float):
    import pretty_midi

    out = pretty_midi.Note(velocity=note.velocity, pitch=note.pitch, start=note.start + dt,
                           end=note.end + dt)
    if hasattr(note, "order"):
        out.order = note.order
    return out


def _result(out, onset: float, length: float, params: dict) -> Perturbed:
    return Perturbed(out, None, None, params, span_seconds=(onset, length))


def note_noise(score, *, onset_seconds: float | None = None, length_seconds: float, seed: int,
               onset_fraction: float | None = None) -> Perturbed:
    """Replace the pitched notes starting in a span with random notes (symbolic white noise).

    As many notes as the span held (at least one; the piece's mean density when it held none),
    onsets uniform in the span, pitches uniform over the piece's pitched range, durations and
    velocities drawn from the piece's notes, each on an instrument drawn from the span's (else
    the piece's) pitched instruments.

    Args:
        score: ``pretty_midi.PrettyMIDI`` (not modified).
        onset_seconds: Start of the span, seconds; or give ``onset_fraction``.
        length_seconds: Length of the span, seconds (> 0).
        seed: Seed of the notes.
        onset_fraction: Start of the span as a fraction ``[0, 1)`` of the score's end (its last
            note off): the same place in scores of any length (``profile``'s probes).
    """
    import pretty_midi

    out = _copy(score)
    if (onset_seconds is None) == (onset_fraction is None):
        raise ParameterError("give one of onset_seconds or onset_fraction")
    if onset_fraction is not None:
        fraction = check_number("onset_fraction", onset_fraction, low=0.0, high=1.0,
                                high_open=True)
        onset_seconds = fraction * out.get_end_time()
    onset, length = _span(onset_seconds, length_seconds)
    end, rng = onset + length, make_rng(seed)
    pitched = _pitched(out)
    notes = [n for inst in pitched for n in inst.notes]
    if not notes:
        raise ParameterError("note-noise needs a score with pitched notes")
    hosts = [inst for inst in pitched for n in inst.notes if _inside(n, onset, end)]
    removed = len(hosts)
    if not removed:
        duration = max(out.get_end_time(), 1e-9)
        removed, hosts = 0, [inst for inst in pitched for _ in inst.notes]
        count = max(1, int(round(len(notes) * length / duration)))
    else:
        count = removed
    low, high = min(n.pitch for n in notes), max(n.pitch for n in notes)
    durations = np.array([n.end - n.start for n in notes])
    velocities = np.array([n.velocity for n in notes])
    for inst in pitched:
        inst.notes = [n for n in inst.notes if not _inside(n, onset, end)]
    order = _next_order(out)
    for i, start in enumerate(np.sort(rng.uniform(onset, end, size=count))):
        note = pretty_midi.Note(velocity=int(rng.choice(velocities)),
                                pitch=int(rng.integers(low, high + 1)), start=float(start),
                                end=float(start + rng.choice(durations)))
        note.order = order + i
        hosts[int(rng.integers(len(hosts)))].notes.append(note)
    for inst in pitched:
        inst.notes.sort(key=lambda n: n.start)
    params = {"onset_seconds": onset, "length_seconds": length, "seed": int(seed),
              "removed_notes": removed, "added_notes": count, "pitch_range": [low, high],
              **({} if onset_fraction is None else {"onset_fraction": onset_fraction})}
    return _result(out, onset, length, params)


def loop(score, *, onset_seconds: float, length_seconds: float,
         bar_seconds: float | None = None) -> Perturbed:
    """Repeat the bar before a span through it, in place of the span's pitched notes.

    Args:
        score: ``pretty_midi.PrettyMIDI`` (not modified).
        onset_seconds: Start of the span, seconds (at least one bar in).
        length_seconds: Length of the span, seconds (> 0).
        bar_seconds: Length of the repeated stretch, seconds; None: the length of the score's
            bar (downbeat to downbeat) at the onset: 2 s for a score without a time signature
            or tempo (4/4 at 120 qpm), as the scores symbolic models read are.
    """
    out = _copy(score)
    onset, length = _span(onset_seconds, length_seconds)
    if bar_seconds is None:
        beats = np.asarray(out.get_downbeats(), dtype=np.float64)
        bars = np.diff(beats)
        i = int(np.searchsorted(beats, onset, side="right")) - 1
        bar = float(bars[min(max(i, 0), bars.size - 1)]) if bars.size else 2.0
    else:
        bar = check_number("bar_seconds", bar_seconds, low=0.0, low_open=True, high=86400.0)
    if bar > onset + 1e-9:
        raise ParameterError(f"onset_seconds must leave a bar ({bar:g} s) before it to loop, got "
                             f"{onset!r}")
    end = onset + length
    copies = 0
    for inst in _pitched(out):
        source = [n for n in inst.notes if _inside(n, onset - bar, onset)]
        kept = [n for n in inst.notes if not _inside(n, onset, end)]
        added = []
        repeat = 0
        while onset + repeat * bar < end:
            shift = bar * (repeat + 1)
            added += [_moved(n, shift) for n in source if n.start + shift < end]
            repeat += 1
        copies += len(added)
        inst.notes = sorted(kept + added, key=lambda n: n.start)
    params = {"onset_seconds": onset, "length_seconds": length, "bar_seconds": bar,
              "added_notes": copies}
    return _result(out, onset, length, params)


def transpose_span(score, *, onset_seconds: float, length_seconds: float,
                   semitones: int) -> Perturbed:
    """Shift the pitched notes starting in a span by ``semitones`` (kept within 0-127).

    Args:
        score: ``pretty_midi.PrettyMIDI`` (not modified).
        onset_seconds: Start of the span, seconds.
        length_seconds: Length of the span, seconds (> 0).
        semitones: Shift, semitones (non-zero, at most an octave and a half either way).
    """
    out = _copy(score)
    onset, length = _span(onset_seconds, length_seconds)
    shift = check_int("semitones", semitones, low=-18, high=18)
    if shift == 0:
        raise ParameterError("semitones must not be 0 (that would change nothing)")
    changed = 0
    for inst in _pitched(out):
        for n in inst.notes:
            if _inside(n, onset, onset + length):
                n.pitch = int(np.clip(n.pitch + shift, 0, 127))
                changed += 1
    params = {"onset_seconds": onset, "length_seconds": length, "semitones": shift,
              "changed_notes": changed}
    return _result(out, onset, length, params)


def _reorder(out, onset: float, block: float, order: np.ndarray) -> None:
    """Move block ``order[i]`` of ``[onset, onset + n * block)`` to position ``i``."""
    n = len(order)
    target = {int(src): i for i, src in enumerate(order)}
    for inst in _pitched(out):
        moved = []
        for note in inst.notes:
            if _inside(note, onset, onset + n * block):
                src = min(int((note.start - onset) // block), n - 1)
                moved.append(_moved(note, (target[src] - src) * block))
            else:
                moved.append(note)
        inst.notes = sorted(moved, key=lambda x: x.start)


def score_swap(score, *, onset_seconds: float, block_seconds: float) -> Perturbed:
    """Swap the two adjacent blocks ``[onset, onset + L)`` and ``[onset + L, onset + 2L)``.

    Args:
        score: ``pretty_midi.PrettyMIDI`` (not modified).
        onset_seconds: Start of the first block, seconds.
        block_seconds: Block length L, seconds (> 0).
    """
    out = _copy(score)
    onset, block = _span(onset_seconds, block_seconds, name="block_seconds")
    _reorder(out, onset, block, np.array([1, 0]))
    return _result(out, onset, 2 * block, {"onset_seconds": onset, "block_seconds": block})


def score_permute(score, *, onset_seconds: float, block_seconds: float, num_blocks: int = 4,
                  seed: int) -> Perturbed:
    """Play ``num_blocks`` blocks of ``block_seconds`` from the onset in a random order.

    Args:
        score: ``pretty_midi.PrettyMIDI`` (not modified).
        onset_seconds: Start of the first block, seconds.
        block_seconds: Block length, seconds (> 0).
        num_blocks: Blocks permuted (>= 2); the order is never the identity.
        seed: Seed of the order.
    """
    out = _copy(score)
    onset, block = _span(onset_seconds, block_seconds, name="block_seconds")
    n = check_int("num_blocks", num_blocks, low=2, high=1000)
    order = random_order(n, make_rng(seed), derangement=False)
    _reorder(out, onset, block, order)
    return _result(out, onset, n * block, {"onset_seconds": onset, "block_seconds": block,
                                           "num_blocks": n, "seed": int(seed),
                                           "order": order.tolist()})
