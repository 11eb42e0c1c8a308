"""Span edits of a score in seconds: note-noise, loop, transpose-span, score-swap, score-permute."""

from __future__ import annotations

import numpy as np
import pretty_midi
import pytest

from noiseloss.errors import ParameterError
from noiseloss.perturb import perturb


def melody(count: int = 40, *, step: float = 0.5, drums: bool = True) -> pretty_midi.PrettyMIDI:
    """``count`` notes, one every ``step`` s, pitches 60 + (i mod 12); a kick every second."""
    pm = pretty_midi.PrettyMIDI()
    lead = pretty_midi.Instrument(program=0)
    for i in range(count):
        note = pretty_midi.Note(velocity=60 + i % 7, pitch=60 + i % 12, start=step * i,
                                end=step * i + 0.4)
        note.order = i
        lead.notes.append(note)
    pm.instruments.append(lead)
    if drums:
        kit = pretty_midi.Instrument(program=0, is_drum=True)
        kit.notes = [pretty_midi.Note(velocity=100, pitch=36, start=float(t), end=t + 0.1)
                     for t in range(int(count * step))]
        pm.instruments.append(kit)
    return pm


def notes(score, *, drums: bool = False) -> list[tuple[float, int]]:
    return sorted((round(n.start, 6), n.pitch) for inst in score.instruments
                  if inst.is_drum == drums for n in inst.notes)


def test_note_noise_replaces_the_span_at_its_density_within_the_range():
    score = melody()
    out = perturb(score, {"kind": "note-noise", "onset_seconds": 5.0, "length_seconds": 2.0},
                  seed=7)
    assert out.span_seconds == (5.0, 2.0) and out.params["removed_notes"] == 4
    before, after = notes(score), notes(out.data)
    assert [n for n in after if not 5.0 <= n[0] < 7.0] == \
        [n for n in before if not 5.0 <= n[0] < 7.0]
    new = [n for n in after if 5.0 <= n[0] < 7.0]
    assert len(new) == 4 and all(60 <= p <= 71 for _, p in new)
    assert new != [n for n in before if 5.0 <= n[0] < 7.0]
    assert notes(out.data, drums=True) == notes(score, drums=True)  # drums untouched
    assert notes(score) == before  # the input is not modified
    again = perturb(score, {"kind": "note-noise", "onset_seconds": 5.0, "length_seconds": 2.0},
                    seed=7)
    assert notes(again.data) == after
    # a span without notes gets the piece's mean density: 40 notes in 19.9 s -> 4 in 2 s
    sparse = melody(10, step=2.0, drums=False)
    gap = perturb(sparse, {"kind": "note-noise", "onset_seconds": 4.5, "length_seconds": 1.0},
                  seed=1)
    assert gap.params["removed_notes"] == 0
    assert gap.params["added_notes"] == round(10 * 1.0 / sparse.get_end_time())


def test_loop_repeats_the_bar_before_the_span():
    score = melody(drums=False)
    out = perturb(score, {"kind": "loop", "onset_seconds": 6.0, "length_seconds": 4.0})
    assert out.params["bar_seconds"] == 2.0 and out.span_seconds == (6.0, 4.0)
    bar = [p for t, p in notes(score) if 4.0 <= t < 6.0]
    looped = [(t, p) for t, p in notes(out.data) if 6.0 <= t < 10.0]
    assert [p for _, p in looped] == bar + bar
    assert [t for t, _ in looped] == [6.0, 6.5, 7.0, 7.5, 8.0, 8.5, 9.0, 9.5]
    with pytest.raises(ParameterError, match="leave a bar"):
        perturb(score, {"kind": "loop", "onset_seconds": 1.0, "length_seconds": 1.0})


def test_transpose_span_shifts_only_the_span():
    score = melody()
    out = perturb(score, {"kind": "transpose-span", "onset_seconds": 2.0, "length_seconds": 1.0,
                          "semitones": -5})
    shifted = dict(notes(out.data))
    for t, p in notes(score):
        assert shifted[t] == (p - 5 if 2.0 <= t < 3.0 else p)
    with pytest.raises(ParameterError, match="semitones must not be 0"):
        perturb(score, {"kind": "transpose-span", "onset_seconds": 2.0, "length_seconds": 1.0,
                        "semitones": 0})


def test_swap_and_permute_move_whole_blocks():
    score = melody(drums=False)
    out = perturb(score, {"kind": "score-swap", "onset_seconds": 4.0, "block_seconds": 1.0})
    assert out.span_seconds == (4.0, 2.0)
    before, after = dict(notes(score)), dict(notes(out.data))
    assert [after[t] for t in (4.0, 4.5, 5.0, 5.5)] == [before[t] for t in (5.0, 5.5, 4.0, 4.5)]
    assert {t: p for t, p in after.items() if not 4 <= t < 6} == \
        {t: p for t, p in before.items() if not 4 <= t < 6}
    perm = perturb(score, {"kind": "score-permute", "onset_seconds": 2.0, "block_seconds": 1.0,
                           "num_blocks": 4}, seed=3)
    order = perm.params["order"]
    assert sorted(order) == [0, 1, 2, 3] and order != [0, 1, 2, 3]
    moved = dict(notes(perm.data))
    for i, src in enumerate(order):
        assert moved[2.0 + i] == before[2.0 + src]


def test_a_symbolic_model_gets_the_span_as_events():
    from noiseloss.perturb import Clean, PerturbContext, apply
    from noiseloss.timeaxis import TimeAxis
    from noiseloss.tokenizers.base import Tokens

    def events(s):
        times = sorted(n.start for inst in s.instruments if not inst.is_drum for n in inst.notes)
        return Tokens(np.zeros((1, len(times)), np.int64),
                      TimeAxis.events(times, end_seconds=s.get_end_time()))

    score = melody(drums=False)
    variant = apply(Clean(None, midi=score), {"kind": "note-noise", "onset_seconds": 5.0,
                                              "length_seconds": 2.0},
                    context=PerturbContext(modality="symbolic", tokenize=events), seed=0)
    assert variant.perturbed.span_frames == (10, 4)  # events 10-13 start in [5, 7)
    assert variant.perturbed.span_seconds == (5.0, 2.0) and variant.audio is None
