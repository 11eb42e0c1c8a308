"""MIDI edits (deletion, velocity, tempo warp, pitch shifts, bar shuffle), keys and rendering."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import mido
import numpy as np
import pretty_midi
import pytest

from noiseloss.errors import AudioError, DependencyError, ParameterError
from noiseloss.perturb import perturb
from noiseloss.perturb.midi_edits import detect_key, parse_key
from noiseloss.sources import midi as midi_source

FIXTURES = Path(__file__).parent / "fixtures" / "midi"
BAR = 2.0  # seconds per 4/4 bar at 120 BPM

C_MELODY = [60, 62, 64, 65, 67, 69, 71, 72, 72, 71, 69, 67, 65, 64, 62, 60,
            64, 65, 67, 69, 67, 65, 64, 62, 60, 64, 67, 72, 71, 67, 62, 60]
C_BASS = [48, 53, 55, 48, 48, 53, 55, 48]  # I IV V I I IV V I
A_MELODY = [69, 71, 72, 74, 76, 74, 72, 71, 69, 72, 76, 72, 74, 77, 76, 74,
            71, 68, 71, 76, 72, 71, 69, 68, 69, 72, 71, 69, 68, 71, 69, 69]  # 68 = G#
A_BASS = [45, 50, 52, 45, 45, 50, 52, 45]  # i iv V i


def piece(melody, bass) -> pretty_midi.PrettyMIDI:
    """8 bars of 4/4 at 120 BPM: 32 quarter-note melody notes, 8 bass notes, 16 kick drums."""
    pm = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    pm.time_signature_changes.append(pretty_midi.TimeSignature(4, 4, 0.0))
    lead = pretty_midi.Instrument(program=0, name="melody")
    for i, pitch in enumerate(melody):
        lead.notes.append(pretty_midi.Note(velocity=80, pitch=pitch, start=0.5 * i,
                                           end=0.5 * i + 0.45))
    low = pretty_midi.Instrument(program=32, name="bass")
    for bar, pitch in enumerate(bass):
        low.notes.append(pretty_midi.Note(velocity=70, pitch=pitch, start=BAR * bar,
                                          end=BAR * bar + 1.9))
    drums = pretty_midi.Instrument(program=0, is_drum=True, name="drums")
    for beat in range(16):
        drums.notes.append(pretty_midi.Note(velocity=90, pitch=36, start=1.0 * beat,
                                            end=1.0 * beat + 0.1))
    pm.instruments.extend([lead, low, drums])
    return pm


def c_major():
    return piece(C_MELODY, C_BASS)


def a_minor():
    return piece(A_MELODY, A_BASS)


def chorale():
    return pretty_midi.PrettyMIDI(str(FIXTURES / "bwv66_6.mid"))


def note_table(pm, *, pitched_only=False):
    return [(i, n.start, n.end, n.pitch, n.velocity) for i, inst in enumerate(pm.instruments)
            if not (pitched_only and inst.is_drum) for n in inst.notes]


def round_trip(pm) -> pretty_midi.PrettyMIDI:
    """Write to a standard MIDI file in memory and read it back."""
    buf = io.BytesIO()
    pm.write(buf)
    buf.seek(0)
    return pretty_midi.PrettyMIDI(buf)


def assert_valid(pm):
    back = round_trip(pm)
    assert len(note_table(back)) == len(note_table(pm))
    tick = 1 / 440  # 220 ticks per beat at 120 BPM, pretty_midi's default resolution
    for (_, s0, e0, p0, v0), (_, s1, e1, p1, v1) in zip(sorted(note_table(pm), key=lambda r: r[1:]),
                                                          sorted(note_table(back), key=lambda r: r[1:]),
                                                          strict=True):
        assert (p0, v0) == (p1, v1) and abs(s0 - s1) <= tick and abs(e0 - e1) <= tick
        assert 0 <= p1 <= 127 and 1 <= v1 <= 127 and e1 > s1


# -- keys -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("make, expected", [(c_major, "C major"), (a_minor, "a minor"),
                                            (chorale, "f# minor")])
def test_detected_key(make, expected):
    found = detect_key(make())
    assert found["key"] == expected
    assert found["correlation"] > 0.7


def test_parse_key_gives_natural_scales():
    assert parse_key("C major")["scale_pitch_classes"] == [0, 2, 4, 5, 7, 9, 11]
    assert parse_key("a minor")["scale_pitch_classes"] == [0, 2, 4, 5, 7, 9, 11]
    assert parse_key("Bb major")["scale_pitch_classes"] == [0, 2, 3, 5, 7, 9, 10]
    assert parse_key("f#")["key"] == "f# minor"
    with pytest.raises(ParameterError, match=r"key must look like 'C major' or 'f# minor', got 'H dur'"):
        parse_key("H dur")


# -- edits ----------------------------------------------------------------------------------------
def test_note_delete_removes_the_requested_fraction():
    pm = c_major()
    before = note_table(pm)
    out = perturb(pm, {"kind": "note-delete", "ratio": 0.4}, seed=0)
    assert note_table(pm) == before  # input untouched
    after = note_table(out.data)
    assert len(before) - len(after) == out.params["changed_notes"] == 22  # round(0.4 * 56)
    assert abs((len(before) - len(after)) - 0.4 * len(before)) <= 1
    assert set(after) <= set(before)
    assert out.span_samples is None and out.span_frames is None and out.params["kind"] == "note-delete"
    assert_valid(out.data)


def test_velocity_changes_the_requested_fraction_within_range():
    pm = c_major()
    out = perturb(pm, {"kind": "velocity", "ratio": 0.5}, seed=1)
    old, new = note_table(pm), note_table(out.data)
    changed = [(a, b) for a, b in zip(old, new, strict=True) if a != b]
    assert len(changed) == 28 and all(a[:4] == b[:4] for a, b in changed)  # only velocities
    assert all(30 <= b[4] <= 120 for _, b in changed)
    assert_valid(out.data)


@pytest.mark.parametrize("step, sizes", [("semitone", {1}), ("octave", {12}), ("diatonic", {1, 2})])
def test_pitch_shift_moves_the_requested_fraction_of_pitched_notes(step, sizes):
    pm = a_minor()
    out = perturb(pm, {"kind": "pitch-shift", "ratio": 0.3, "step": step}, seed=2)
    old, new = note_table(pm), note_table(out.data)
    moved = [(a, b) for a, b in zip(old, new, strict=True) if a != b]
    assert len(moved) == out.params["changed_notes"] == 12  # round(0.3 * 40 pitched notes)
    assert all(a[0] != 2 for a, _ in moved)  # drums never move
    assert {abs(b[3] - a[3]) for a, b in moved} <= sizes
    assert {b[3] > a[3] for a, b in moved} == {True, False}  # random directions
    if step == "octave":
        assert all(a[3] % 12 == b[3] % 12 for a, b in moved)
    if step == "diatonic":
        scale = set(out.params["key_used"]["scale_pitch_classes"])
        assert out.params["key_used"]["key"] == "a minor"
        assert all(b[3] % 12 in scale for _, b in moved)
    assert_valid(out.data)


def test_diatonic_shift_stays_in_the_detected_key_of_a_chorale():
    pm = chorale()
    out = perturb(pm, {"kind": "pitch-shift", "ratio": 1.0, "step": "diatonic", "direction": "up"},
                  seed=0)
    scale = {1, 2, 4, 6, 8, 9, 11}  # F# natural minor
    assert set(out.params["key_used"]["scale_pitch_classes"]) == scale
    old, new = note_table(pm), note_table(out.data)
    assert all(b[3] % 12 in scale and 1 <= b[3] - a[3] <= 2 for a, b in zip(old, new, strict=True))
    assert out.params["changed_notes"] == 163


def test_diatonic_shift_with_a_given_key():
    out = perturb(c_major(), {"kind": "pitch-shift", "ratio": 1.0, "step": "diatonic",
                              "key": "G major", "direction": "down"}, seed=0)
    assert all(n.pitch % 12 in {7, 9, 11, 0, 2, 4, 6} for n in out.data.instruments[0].notes)
    assert out.params["key"] == "G major"


def test_tempo_warp_stretches_the_requested_fraction_of_the_duration():
    pm = c_major()
    out = perturb(pm, {"kind": "tempo-warp", "ratio": 0.5}, seed=3)
    p = out.params
    assert len(p["warped_segments"]) == 25 and p["warped_fraction"] == 0.5
    seg = p["original_seconds"] / 50
    assert p["original_seconds"] == 15.95  # the last melody note ends at 15.95 s
    assert p["warped_seconds"] == pytest.approx(15.95 + sum((f - 1) * seg for f in p["factors"]))
    assert out.data.get_end_time() == pytest.approx(p["warped_seconds"], abs=1e-6)
    old, new = note_table(pm), note_table(out.data)
    assert len(new) == len(old)
    first = p["warped_segments"][0] * seg
    assert [r for r in new if r[2] <= first] == [r for r in old if r[2] <= first]
    assert all(0.5 <= f <= 2.0 for f in p["factors"])
    assert_valid(out.data)


def test_bar_shuffle_moves_the_requested_fraction_of_bars_and_keeps_their_content():
    pm = c_major()
    out = perturb(pm, {"kind": "bar-shuffle", "ratio": 0.5}, seed=4)
    order = out.params["order"]
    assert sorted(order) == list(range(8))
    assert sum(i != s for i, s in enumerate(order)) == out.params["moved_segments"] == 4
    old, new = note_table(pm), note_table(out.data)
    assert len(new) == len(old)

    def bar(rows, index):  # notes starting in a bar, with times relative to the bar
        return sorted((i, round(s - index * BAR, 6), round(e - index * BAR, 6), p, v)
                      for i, s, e, p, v in rows if index * BAR <= s < (index + 1) * BAR)

    for position, source in enumerate(order):  # bar `position` now holds bar `source`
        assert bar(new, position) == bar(old, source)
    moved_notes = sum(len(bar(old, source)) for position, source in enumerate(order)
                      if position != source)
    assert moved_notes == 28  # 4 of 8 bars x 7 notes: half of the 56 notes
    assert_valid(out.data)


def test_bar_shuffle_with_two_bar_segments():
    out = perturb(c_major(), {"kind": "bar-shuffle", "segment_bars": 2}, seed=0)
    assert out.params["num_segments"] == 4 and sorted(out.params["order"]) == [0, 1, 2, 3]
    assert all(i != s for i, s in enumerate(out.params["order"]))  # ratio 1: every segment moves


@pytest.mark.parametrize("kind, extra", [("note-delete", {}), ("velocity", {}),
                                         ("tempo-warp", {}), ("pitch-shift", {}),
                                         ("bar-shuffle", {"ratio": 0.5})])
def test_midi_edits_are_seeded(kind, extra):
    spec = {"kind": kind, "ratio": 0.5, **extra}
    a, b, c = (perturb(c_major(), spec, seed=s).data for s in (7, 7, 8))
    assert note_table(a) == note_table(b) and note_table(a) != note_table(c)


@pytest.mark.parametrize("spec, pattern", [
    ({"kind": "note-delete", "ratio": 1.5}, r"ratio must be in \[0.0, 1.0\], got 1.5"),
    ({"kind": "velocity", "ratio": -0.1}, r"ratio must be in \[0.0, 1.0\], got -0.1"),
    ({"kind": "pitch-shift", "ratio": 0.5, "step": "fifth"},
     r"step must be one of \['diatonic', 'octave', 'semitone'\], got 'fifth'"),
    ({"kind": "pitch-shift", "ratio": 0.5, "key": "C major"}, r"key is only used with step='diatonic'"),
    ({"kind": "velocity", "ratio": 0.5, "min_velocity": 100, "max_velocity": 90},
     r"max_velocity must be in \[101, 127\], got 90"),
    ({"kind": "tempo-warp", "ratio": 0.5, "min_factor": 0}, r"min_factor must be in \(0.0, inf\), got 0"),
    ({"kind": "bar-shuffle", "segment_bars": 8}, r"needs at least 2 segments .* the piece has 1"),
])
def test_bad_midi_parameters(spec, pattern):
    with pytest.raises(ParameterError, match=pattern):
        perturb(c_major(), spec, seed=0)


def test_midi_kinds_need_pretty_midi_input():
    with pytest.raises(ParameterError, match="midi must be a pretty_midi.PrettyMIDI, got ndarray"):
        perturb(np.zeros(10), {"kind": "note-delete", "ratio": 0.5}, seed=0)


# -- rendering ------------------------------------------------------------------------------------
def test_rendering_a_warped_piece_gives_audio_of_its_new_duration():
    warped = perturb(c_major(), {"kind": "tempo-warp", "ratio": 0.8}, seed=0)
    audio = midi_source.render_midi(warped.data, sample_rate=32000)
    expected = warped.params["warped_seconds"]
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(audio.size / 32000 - expected) <= 0.05
    level = lambda x: 10 * np.log10(np.mean(x.astype(np.float64) ** 2))  # noqa: E731
    assert level(audio) > -40.0
    assert level(audio[:16000]) > -50.0 and level(audio[-16000:]) > -50.0  # sound to the end


def test_rendering_keeps_a_loud_chord_above_full_scale_instead_of_clipping():
    midi = pretty_midi.PrettyMIDI()
    piano = pretty_midi.Instrument(program=0)
    piano.notes = [pretty_midi.Note(velocity=127, pitch=p, start=0.0, end=1.0)
                   for p in range(48, 84, 2)]
    midi.instruments.append(piano)
    audio = midi_source.render_midi(midi, sample_rate=32000, gain=5.0)
    assert audio.size == 32000
    assert np.abs(audio).max() > 2.0  # a 16-bit render would stop at 1.0


def test_rendering_stops_at_the_end_even_when_a_note_is_never_switched_off(tmp_path):
    # A note cut to zero length at the end of the piece is written note-off first, then note-on:
    # the organ then sounds forever and FluidSynth alone would never stop rendering.
    code = f"""
import pretty_midi
from noiseloss.sources.midi import render_midi
midi = pretty_midi.PrettyMIDI()
organ = pretty_midi.Instrument(program=19)
organ.notes = [pretty_midi.Note(velocity=90, pitch=60, start=0.0, end=1.0),
               pretty_midi.Note(velocity=90, pitch=64, start=0.999999, end=1.0)]
midi.instruments.append(organ)
midi.write({str(tmp_path / "stuck.mid")!r})
print(render_midi(midi, sample_rate=32000).size)
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["32000"]
    dangling = mido.MidiFile(tmp_path / "stuck.mid").tracks[-1]
    last = list(dangling)[-2]  # the trap is real: the track ends on a note switched on
    assert last.type == "note_on" and last.velocity > 0 and last.note == 64


def test_rendering_a_midi_file_path():
    audio = midi_source.render_midi(FIXTURES / "bwv66_6.mid", sample_rate=32000)
    assert abs(audio.size / 32000 - 22.5) <= 0.05
    assert 10 * np.log10(np.mean(audio.astype(np.float64) ** 2)) > -40.0


def test_rendering_errors_are_clear(monkeypatch, tmp_path):
    with pytest.raises(DependencyError, match="soundfont /nonexistent.sf2 does not exist"):
        midi_source.render_midi(c_major(), soundfont="/nonexistent.sf2")
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"not a midi file")
    with pytest.raises(AudioError, match="bad.mid: cannot read MIDI"):
        midi_source.load_midi(bad)
    monkeypatch.setattr(midi_source.shutil, "which", lambda name: None)
    with pytest.raises(DependencyError, match="`fluidsynth` program is not installed.*apt-get"):
        midi_source.render_midi(c_major())


def test_a_render_of_nothing_says_why(tmp_path, monkeypatch):
    """FluidSynth that ends without writing audio and without a word: the error says the
    score rendered silence and names what was rendered, never an empty reason."""
    fake = tmp_path / "bin" / "fluidsynth"
    fake.parent.mkdir()
    fake.write_text('#!/bin/sh\n[ "$1" = --version ] && echo "FluidSynth runtime version 0"\n'
                    "exit 0\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:{__import__('os').environ['PATH']}")
    path = tmp_path / "quiet.mid"
    piece(C_MELODY, C_BASS).write(str(path))
    with pytest.raises(AudioError, match=r"quiet.mid: rendered silence: FluidSynth wrote no "
                                         r"audio"):
        midi_source.render_midi(path, sample_rate=16000)
