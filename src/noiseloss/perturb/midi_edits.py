"""MIDI edits of a ``pretty_midi.PrettyMIDI``: notes, velocities, tempo, pitch and bar order.

Every edit works on a deep copy of its input. ``ratio`` is the fraction of items changed (notes,
duration segments or bar segments): ``round(ratio * N)`` of them, halves rounded up, chosen
uniformly at random with the given seed. Each result reports its span in seconds: from the first
onset to the last offset of the notes that differ between input and output (``span_seconds``;
None when nothing changed); ``perturb.context.apply`` turns it into token columns. Render them
with ``noiseloss.sources.midi.render_midi``.
"""

from __future__ import annotations

import copy
import math
from typing import Annotated

import numpy as np

from noiseloss.errors import ParameterError, check_choice, check_int, check_number, check_ratio
from noiseloss.perturb.base import (
    Choices,
    Perturbed,
    make_rng,
    random_order,
)

PITCH_STEPS = ("semitone", "octave", "diatonic")
DIRECTIONS = ("random", "up", "down")


def _copy(midi):
    import pretty_midi

    if not isinstance(midi, pretty_midi.PrettyMIDI):
        raise ParameterError(f"midi must be a pretty_midi.PrettyMIDI, got {type(midi).__name__}")
    return copy.deepcopy(midi)


def _note_set(midi) -> dict[tuple, int]:
    """Every note as ``(start, end, pitch, velocity, program, is_drum)`` (times to 1 us) -> count."""
    from collections import Counter

    return Counter((round(n.start, 6), round(n.end, 6), n.pitch, n.velocity, inst.program,
                    inst.is_drum) for inst in midi.instruments for n in inst.notes)


def _edited(midi, out, params: dict) -> Perturbed:
    """The ``Perturbed`` of a score edit, its span the notes that differ (see the module doc)."""
    before, after = _note_set(midi), _note_set(out)
    changed = list((before - after) + (after - before))
    span = None
    if changed:
        onset, end = min(n[0] for n in changed), max(n[1] for n in changed)
        span = (onset, end - onset)
    return Perturbed(out, None, None, params, span_seconds=span)


def _count(ratio: float, total: int) -> int:
    """``round(ratio * total)`` with halves rounded up."""
    return int(math.floor(ratio * total + 0.5))


def _notes(midi, *, pitched: bool = False) -> list:
    """All notes of all instruments (drums excluded when ``pitched``), as live references."""
    return [n for inst in midi.instruments if not (pitched and inst.is_drum) for n in inst.notes]


def _pick(items: list, ratio: float, rng: np.random.Generator) -> list:
    """``round(ratio * len(items))`` distinct items, chosen uniformly."""
    chosen = rng.choice(len(items), size=_count(ratio, len(items)), replace=False)
    return [items[i] for i in sorted(chosen)]


def delete_notes(midi, *, ratio: float, seed: int) -> Perturbed:
    """Delete a fraction of all notes (the demo page's "rhythm deletion").

    Args:
        midi: ``pretty_midi.PrettyMIDI`` (not modified).
        ratio: Fraction of notes deleted, in [0, 1].
        seed: Seed of the choice.
    """
    out, ratio = _copy(midi), check_ratio("ratio", ratio)
    notes = _notes(out)
    doomed = {id(n) for n in _pick(notes, ratio, make_rng(seed))}
    for inst in out.instruments:
        inst.notes = [n for n in inst.notes if id(n) not in doomed]
    params = {"ratio": ratio, "seed": int(seed), "num_notes": len(notes),
              "changed_notes": len(doomed)}
    return _edited(midi, out, params)


def change_velocity(midi, *, ratio: float, min_velocity: int = 30, max_velocity: int = 120,
                    seed: int) -> Perturbed:
    """Give a fraction of the notes a new random velocity (the demo page's "velocity change").

    Each chosen note gets a velocity drawn uniformly from ``[min_velocity, max_velocity]``
    without its current value, so every chosen note really changes (the research code's
    defaults are 30 and 120).

    Args:
        midi: ``pretty_midi.PrettyMIDI`` (not modified).
        ratio: Fraction of notes changed, in [0, 1].
        min_velocity: Lowest new velocity (MIDI units, 1-127).
        max_velocity: Highest new velocity (MIDI units, above ``min_velocity``).
        seed: Seed of the choice and of the new velocities.
    """
    out, ratio = _copy(midi), check_ratio("ratio", ratio)
    low = check_int("min_velocity", min_velocity, low=1, high=126)
    high = check_int("max_velocity", max_velocity, low=low + 1, high=127)
    rng = make_rng(seed)
    notes = _notes(out)
    chosen = _pick(notes, ratio, rng)
    values = np.arange(low, high + 1)
    for n in chosen:
        n.velocity = int(rng.choice(values[values != n.velocity]))
    params = {"ratio": ratio, "min_velocity": low, "max_velocity": high, "seed": int(seed),
              "num_notes": len(notes), "changed_notes": len(chosen)}
    return _edited(midi, out, params)


def warp_tempo(midi, *, ratio: float, num_segments: int = 50, min_factor: float = 0.5,
               max_factor: float = 2.0, seed: int) -> Perturbed:
    """Time-stretch a fraction of the duration, segment by segment (the demo's "structure").

    The piece ``[0, end)`` is cut into ``num_segments`` equal segments; ``round(ratio *
    num_segments)`` of them are stretched by a factor drawn log-uniformly from
    ``[min_factor, max_factor]`` (> 1 slows down). Notes, controllers, tempo and meter events
    follow the piecewise-linear time map (``PrettyMIDI.adjust_times``)::

        original  |--s0--|--s1--|--s2--|--s3--|
        warped    |--s0--|----s1 x 2----|-s2-|--s3--|     (s1 slowed 2x, s2 sped up)

    The research code drew factors from U(0.1, 8.0) on 2-4 % segments; pass ``min_factor=0.1,
    max_factor=8.0`` for that range (drawn log-uniformly here).

    Args:
        midi: ``pretty_midi.PrettyMIDI`` (not modified).
        ratio: Fraction of the segments (of the duration) that is warped, in [0, 1].
        num_segments: Number of equal segments of the original duration.
        min_factor: Smallest stretch factor (> 0).
        max_factor: Largest stretch factor (>= ``min_factor``).
        seed: Seed of the choice and of the factors.
    """
    out, ratio = _copy(midi), check_ratio("ratio", ratio)
    num_segments = check_int("num_segments", num_segments, low=1)
    low = check_number("min_factor", min_factor, low=0.0, low_open=True)
    high = check_number("max_factor", max_factor, low=low)
    end = out.get_end_time()
    if end <= 0:
        raise ParameterError("warp_tempo needs a MIDI with events after time 0, got an empty one")
    rng = make_rng(seed)
    chosen = np.sort(rng.choice(num_segments, size=_count(ratio, num_segments), replace=False))
    factors = np.ones(num_segments)
    factors[chosen] = np.exp(rng.uniform(math.log(low), math.log(high), size=chosen.size))
    original = np.linspace(0.0, end, num_segments + 1)
    warped = np.concatenate([[0.0], np.cumsum(np.diff(original) * factors)])
    out.adjust_times(original, warped)
    params = {"ratio": ratio, "num_segments": num_segments, "min_factor": low,
              "max_factor": high, "seed": int(seed), "warped_segments": chosen.tolist(),
              "factors": factors[chosen].tolist(), "warped_fraction": chosen.size / num_segments,
              "original_seconds": float(end), "warped_seconds": float(warped[-1])}
    return _edited(midi, out, params)


def detect_key(midi) -> dict:
    """Key of the pitched notes with music21's ``analyze('key')`` (duration-weighted profiles).

    Returns:
        ``{"key": "f# minor", "tonic_pitch_class": 6, "mode": "minor",
        "scale_pitch_classes": [...7 values...], "correlation": r}``; minor is natural minor.
    """
    from music21 import note, stream

    seconds: dict[int, float] = {}
    for n in _notes(midi, pitched=True):
        seconds[n.pitch] = seconds.get(n.pitch, 0.0) + max(n.end - n.start, 0.0)
    weighted = {p: s for p, s in seconds.items() if s > 0}
    if not weighted:
        raise ParameterError("cannot detect a key: the MIDI has no pitched notes")
    piece = stream.Stream()
    for pitch, total in sorted(weighted.items()):
        m21 = note.Note(pitch)
        m21.quarterLength = total
        piece.append(m21)
    return _key_record(piece.analyze("key"))


def _key_record(found) -> dict:
    return {"key": str(found), "tonic_pitch_class": found.tonic.pitchClass, "mode": found.mode,
            "scale_pitch_classes": sorted({p.pitchClass for p in found.getPitches()}),
            "correlation": getattr(found, "correlationCoefficient", None)}


def parse_key(name: str) -> dict:
    """A key given by name (``"C major"``, ``"f# minor"``, ``"Bb major"``) as ``detect_key``."""
    from music21 import key

    parts = str(name).split()
    if len(parts) not in (1, 2) or (len(parts) == 2 and parts[1] not in ("major", "minor")):
        raise ParameterError(f"key must look like 'C major' or 'f# minor', got {name!r}")
    tonic = parts[0][:1] + parts[0][1:].replace("b", "-")
    mode = parts[1] if len(parts) == 2 else ("minor" if tonic[:1].islower() else "major")
    try:
        return _key_record(key.Key(tonic, mode))
    except Exception as exc:  # music21 raises several types for a bad tonic
        raise ParameterError(f"key must look like 'C major' or 'f# minor', got {name!r}") from exc


def _shifted(pitch: int, up: bool, *, step: str, scale: set[int]) -> int:
    """``pitch`` moved one ``step`` up or down (diatonic: to the next pitch class in ``scale``)."""
    if step == "diatonic":
        target = pitch + (1 if up else -1)
        while target % 12 not in scale:
            target += 1 if up else -1
        return target
    return pitch + (1 if step == "semitone" else 12) * (1 if up else -1)


def shift_pitch(midi, *, ratio: float, step: Annotated[str, Choices(PITCH_STEPS)] = "semitone",
                direction: Annotated[str, Choices(DIRECTIONS)] = "random",
                key: str | None = None, seed: int) -> Perturbed:
    """Shift a fraction of the pitched notes (drums are never shifted).

    ``semitone`` moves by +-1 (chromatic: usually leaves the key), ``octave`` by +-12 (keeps the
    pitch class), ``diatonic`` to the neighbouring degree of the key's scale (natural minor for
    minor keys), so the shifted note is always in the key. A shift that would leave the MIDI
    range 0-127 goes the other way.

    Args:
        midi: ``pretty_midi.PrettyMIDI`` (not modified).
        ratio: Fraction of pitched notes shifted, in [0, 1].
        step: ``semitone``, ``octave`` or ``diatonic``.
        direction: ``up``, ``down`` or ``random`` (independently per note).
        key: For ``diatonic``: the key by name (``"A minor"``); None detects it with music21.
        seed: Seed of the choice and of the directions.
    """
    out, ratio = _copy(midi), check_ratio("ratio", ratio)
    check_choice("step", step, PITCH_STEPS)
    check_choice("direction", direction, DIRECTIONS)
    if key is not None and step != "diatonic":
        raise ParameterError(f"key is only used with step='diatonic', got step={step!r}")
    rng = make_rng(seed)
    notes = _notes(out, pitched=True)
    chosen = _pick(notes, ratio, rng)
    if direction == "random":
        ups = rng.random(len(chosen)) < 0.5
    else:
        ups = np.full(len(chosen), direction == "up")
    params = {"ratio": ratio, "step": step, "direction": direction, "key": key,
              "seed": int(seed), "num_notes": len(notes), "changed_notes": len(chosen)}
    scale: set[int] = set()
    if step == "diatonic":
        found = parse_key(key) if key is not None else detect_key(midi)
        scale = set(found["scale_pitch_classes"])
        params["key_used"] = found
    for n, up in zip(chosen, ups.tolist(), strict=True):
        target = _shifted(n.pitch, up, step=step, scale=scale)
        n.pitch = target if 0 <= target <= 127 else _shifted(n.pitch, not up, step=step,
                                                              scale=scale)
    return _edited(midi, out, params)


def _bar_bounds(midi) -> np.ndarray:
    """Bar boundaries in seconds: the downbeats plus the end of the last bar."""
    downbeats = midi.get_downbeats()
    if downbeats.size >= 2:
        last = downbeats[-1] + (downbeats[-1] - downbeats[-2])
    else:
        last = max(midi.get_end_time(), 0.0)
    return np.append(downbeats, max(last, midi.get_end_time()))


def shuffle_bars(midi, *, ratio: float = 1.0, segment_bars: int = 1, seed: int) -> Perturbed:
    """Reorder segments of ``segment_bars`` bars: a fraction of them changes places.

    Full segments are cut at the downbeats; ``round(ratio * num_segments)`` of them (at least
    2 when ``ratio > 0``) are permuted among their own positions so that every one moves.
    Notes (by onset), controllers and pitch bends move with their segment; tempo and meter stay.
    ``params["order"][i]`` is the source segment now at position ``i``::

        bars      | 0 | 1 | 2 | 3 | 4 |        chosen {1, 3, 4}
        shuffled  | 0 | 4 | 2 | 1 | 3 |        order = [0, 4, 2, 1, 3]

    Args:
        midi: ``pretty_midi.PrettyMIDI`` (not modified).
        ratio: Fraction of the segments that move, in [0, 1].
        segment_bars: Bars per segment.
        seed: Seed of the choice and of the permutation.
    """
    out, ratio = _copy(midi), check_ratio("ratio", ratio)
    segment_bars = check_int("segment_bars", segment_bars, low=1)
    bounds = _bar_bounds(out)[::segment_bars]
    count = bounds.size - 1
    moving = _count(ratio, count)
    if ratio > 0:
        moving = max(moving, 2)
    if moving > count:
        raise ParameterError(
            f"shuffle_bars needs at least 2 segments of segment_bars={segment_bars} bars, the "
            f"piece has {count}")
    rng = make_rng(seed)
    order = np.arange(count)
    if moving:
        chosen = np.sort(rng.choice(count, size=moving, replace=False))
        order[chosen] = chosen[random_order(moving, rng, derangement=True)]
    source_at = {int(src): pos for pos, src in enumerate(order)}

    def remap(t: float) -> float:
        seg = int(np.searchsorted(bounds, t, side="right")) - 1
        if not 0 <= seg < count:
            return t
        dst = source_at[seg]
        scale = (bounds[dst + 1] - bounds[dst]) / (bounds[seg + 1] - bounds[seg])
        return bounds[dst] + (t - bounds[seg]) * scale

    for inst in out.instruments:
        for n in inst.notes:
            start = remap(n.start)
            n.start, n.end = start, start + (n.end - n.start)
        for event in (*inst.control_changes, *inst.pitch_bends):
            event.time = remap(event.time)
        inst.notes.sort(key=lambda n: (n.start, n.pitch))
        inst.control_changes.sort(key=lambda e: e.time)
        inst.pitch_bends.sort(key=lambda e: e.time)
    params = {"ratio": ratio, "segment_bars": segment_bars, "seed": int(seed),
              "num_segments": count, "moved_segments": moving, "order": order.tolist()}
    return _edited(midi, out, params)
