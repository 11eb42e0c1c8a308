"""The time axis: frames and events in seconds, spans in seconds <-> token columns."""

from __future__ import annotations

import numpy as np
import pretty_midi
import pytest

from noiseloss.errors import ParameterError
from noiseloss.timeaxis import TimeAxis, covering_frames


def test_frames_are_seconds_at_the_frame_rate():
    axis = TimeAxis.frames(750, frame_rate=50.0)
    np.testing.assert_array_equal(axis.seconds, np.arange(750) / 50.0)
    assert (len(axis), axis.end_seconds, axis.frame_rate) == (750, 15.0, 50.0)
    assert axis.columns(5.0, 2.0) == (250, 100)  # the paper's span: frames 250-349
    assert axis.span_seconds(250, 100) == (5.0, 2.0)
    assert axis.columns(0.1, 0.05) == (5, 3)  # [5, 7.5) frames overlaps frames 5, 6, 7
    assert axis.columns(14.0, 5.0) == (700, 50)  # cut at the end of the sequence


def test_frame_spans_in_seconds_are_the_covering_frames_of_samples():
    """Any span given in samples covers the same frames whether counted in samples or in
    seconds (32 kHz, hop 640)."""
    rng = np.random.default_rng(0)
    axis = TimeAxis.frames(1000, frame_rate=32000 / 640)
    for onset, length in rng.integers(0, 300_000, size=(500, 2)):
        assert axis.columns(onset / 32000, length / 32000) == covering_frames(onset, length, 640)


def test_events_cover_the_onsets_inside_a_span():
    axis = TimeAxis.events([0.0, 0.1, 0.45, 0.9, 1.0], end_seconds=1.5)
    assert axis.frame_rate is None and len(axis) == 5
    assert axis.columns(0.1, 0.8) == (1, 2)  # onsets 0.1 and 0.45; 0.9 is the end
    assert axis.columns(0.95, 10.0) == (4, 1)
    assert axis.columns(1.2, 0.1) == (5, 0)  # after the last onset: nothing
    assert axis.span_seconds(1, 2) == pytest.approx((0.1, 0.8))
    assert axis.span_seconds(3, 2) == pytest.approx((0.9, 0.6))  # to the end of the score
    with pytest.raises(ParameterError, match="columns"):
        axis.span_seconds(4, 2)
    for onsets, end in (([0.0, 0.5, 0.2], 1.0), ([-0.1, 0.2], 1.0), ([0.0, 2.0], 1.0),
                        ([0.0, float("nan")], 1.0)):
        with pytest.raises(ParameterError, match="onsets"):
            TimeAxis.events(onsets, end_seconds=end)


def _score() -> pretty_midi.PrettyMIDI:
    pm = pretty_midi.PrettyMIDI()
    inst = pretty_midi.Instrument(program=0)
    inst.notes = [pretty_midi.Note(velocity=80, pitch=60 + i % 12, start=0.5 * i,
                                   end=0.5 * i + 0.4) for i in range(40)]
    pm.instruments.append(inst)
    return pm


def test_score_edits_report_the_span_of_the_notes_they_change():
    from noiseloss.perturb import perturb

    score = _score()
    out = perturb(score, {"kind": "note-delete", "ratio": 0.2}, seed=3)
    kept = {(n.start, n.pitch) for n in out.data.instruments[0].notes}
    gone = [n for n in score.instruments[0].notes if (n.start, n.pitch) not in kept]
    assert len(gone) == 8
    onset, length = out.span_seconds
    assert onset == pytest.approx(min(n.start for n in gone))
    assert onset + length == pytest.approx(max(n.end for n in gone))
    assert out.span_frames is None and out.span_samples is None  # the model's columns: apply
    assert perturb(score, {"kind": "note-delete", "ratio": 0.0}, seed=3).span_seconds is None


def test_apply_puts_a_score_edit_on_each_models_time_axis():
    """A score edit of an audio model (rendered, cut after the excerpt's offset) and of a
    symbolic model: the same span in seconds of the excerpt, in frames and in events."""
    from noiseloss.perturb import Clean, PerturbContext, apply
    from noiseloss.sources.midi import cut_score
    from noiseloss.tokenizers.base import Tokens

    score = _score()
    spec = {"kind": "note-delete", "ratio": 0.05}  # 2 notes, with seed 1 at 9.0 s and 10.0 s
    gone = apply(Clean(None, midi=score), spec, context=PerturbContext(
        modality="symbolic", tokenize=lambda s: Tokens(
            np.zeros((1, 1), np.int64), TimeAxis.events([0.0], end_seconds=s.get_end_time()))),
        seed=1).perturbed.span_seconds  # seconds of the whole score
    assert gone == pytest.approx((9.0, 1.4))

    def frames(audio):
        return Tokens(np.zeros((1, audio.size // 640), np.int64),
                      TimeAxis.frames(audio.size // 640, frame_rate=50.0))

    offset = 2.0  # the audio model's excerpt starts 2 s into the score
    audio_ctx = PerturbContext(sample_rate=32000, hop_length=640, tokenize=frames,
                               render=lambda s: np.zeros(32000 * 15, np.float32))
    audio = apply(Clean(np.zeros(32000 * 15, np.float32), midi=score, offset_seconds=offset),
                  spec, context=audio_ctx, seed=1)
    # the notes that differ, in seconds of the excerpt [0, 15)
    start, end = max(gone[0] - offset, 0.0), min(gone[0] + gone[1] - offset, 15.0)
    assert audio.perturbed.span_seconds == pytest.approx((start, end - start))
    assert audio.perturbed.span_frames == (350, 70)  # 7.0 s .. 8.4 s at 50 frames/s

    excerpt = cut_score(score, offset_seconds=0.0, seconds=None)
    onsets = sorted(n.start for n in excerpt.instruments[0].notes)

    def events(s):
        times = sorted(n.start for inst in s.instruments for n in inst.notes)
        return Tokens(np.zeros((1, len(times)), np.int64),
                      TimeAxis.events(times, end_seconds=s.get_end_time()))

    symbolic = apply(Clean(None, midi=excerpt), spec, context=PerturbContext(
        modality="symbolic", tokenize=events), seed=1)
    first, count = symbolic.perturbed.span_frames
    seconds = symbolic.perturbed.span_seconds
    assert seconds == pytest.approx(gone)
    after = sorted(n.start for n in symbolic.perturbed.data.instruments[0].notes)
    assert after[first] >= seconds[0] > (after[first - 1] if first else -1)
    assert all(seconds[0] <= t < sum(seconds) for t in after[first:first + count])
    assert len(after) == len(onsets) - 2 and symbolic.audio is None
    assert (first, count) == (18, 1)  # 9.0 s is event 18 after the deletion; 9.5 s is in it
