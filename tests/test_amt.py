"""The Anticipatory Music Transformer backend against an independent tokenisation and loss.

The reference below follows the published description of the authors' preprocessing (mido
playback, 10 ms bins, FIFO note-offs, 250 ms for unclosed notes, durations capped at 999 bins,
drums as instrument 128, a rest every second of silence, times re-based to a window's first
event) and of their loss script (cross-entropy of ``logits[:-1]`` against ``tokens[1:]``).
"""

from __future__ import annotations

import math

import mido
import numpy as np
import pytest

AUTOREGRESS, REST, DUR_OFFSET, NOTE_OFFSET = 55026, 27512, 10000, 11000


def write_three_tracks(path) -> None:
    """Piano, bass and drums; chords across tracks, a tempo change, a note-on of velocity 0, an
    unclosed note, a 12 s note (capped), 2.5 s of silence (rests), a repeated pitch (FIFO)."""
    mid = mido.MidiFile(ticks_per_beat=480)
    piano, bass, drums = (mido.MidiTrack() for _ in range(3))
    mid.tracks += [piano, bass, drums]
    piano += [mido.MetaMessage("set_tempo", tempo=500000, time=0),
              mido.Message("program_change", channel=0, program=0, time=0),
              mido.Message("note_on", channel=0, note=60, velocity=80, time=0),
              mido.Message("note_on", channel=0, note=64, velocity=80, time=0),
              mido.Message("note_on", channel=0, note=60, velocity=0, time=480),   # off (vel 0)
              mido.Message("note_off", channel=0, note=64, time=0),
              mido.MetaMessage("set_tempo", tempo=250000, time=0),
              mido.Message("note_on", channel=0, note=67, velocity=90, time=240),
              mido.Message("note_on", channel=0, note=67, velocity=70, time=120),  # same pitch
              mido.Message("note_off", channel=0, note=67, time=120),              # closes 1st
              mido.Message("note_off", channel=0, note=67, time=120),              # closes 2nd
              mido.Message("note_on", channel=0, note=72, velocity=60, time=4800),  # after 2.5 s
              mido.Message("note_on", channel=0, note=48, velocity=60, time=0)]     # never off
    bass += [mido.Message("program_change", channel=1, program=33, time=0),
             mido.Message("note_on", channel=1, note=36, velocity=100, time=0),
             mido.Message("note_off", channel=1, note=36, time=24000)]             # 12+ s: capped
    drums += [mido.Message("note_on", channel=9, note=36, velocity=100, time=0),
              mido.Message("note_off", channel=9, note=36, time=60),
              mido.Message("note_on", channel=9, note=38, velocity=100, time=420),
              mido.Message("note_off", channel=9, note=38, time=60)]
    mid.save(str(path))


def reference_tokens(path) -> list[int]:
    """The authors' event tokens of a MIDI file, written out independently."""
    time, programs, compound, open_notes = 0.0, {}, [], {}
    for msg in mido.MidiFile(str(path)):
        time += msg.time
        if msg.type == "program_change":
            programs[msg.channel] = msg.program
        elif msg.type in ("note_on", "note_off"):
            instr = 128 if msg.channel == 9 else programs.get(msg.channel, 0)
            if msg.type == "note_on" and msg.velocity > 0:
                open_notes.setdefault((instr, msg.note, msg.channel), []).append(
                    (len(compound), time))
                compound.append([round(100 * time), -1, 128 * instr + msg.note])
            elif open_notes.get((instr, msg.note, msg.channel)):
                index, onset = open_notes[(instr, msg.note, msg.channel)].pop(0)
                compound[index][1] = round(100 * (time - onset))
    events, previous = [], 0
    for onset, dur, note in compound:
        while onset > previous + 100:
            previous += 100
            events.append((previous, DUR_OFFSET, REST))
        events.append((onset, DUR_OFFSET + (25 if dur == -1 else min(dur, 999)),
                       NOTE_OFFSET + note))
        previous = onset
    first = events[0][0]
    return [tok for onset, dur, note in events for tok in (onset - first, dur, note)]


@pytest.fixture(scope="module")
def amt_dir(tmp_path_factory):
    """A tiny random GPT-2 with the published 55,028-id vocabulary, saved as a folder."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    cfg = GPT2Config(vocab_size=55028, n_positions=1024, n_embd=32, n_layer=2, n_head=2)
    directory = tmp_path_factory.mktemp("amt")
    GPT2LMHeadModel(cfg).eval().save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def piece(tmp_path_factory):
    path = tmp_path_factory.mktemp("midi") / "three.mid"
    write_three_tracks(path)
    return path


def reference_nll(model, tokens: list[int]) -> np.ndarray:
    """``[3, E]``: the authors' per-token cross-entropy of ``AUTOREGRESS + tokens``."""
    import torch

    ids = torch.tensor([[AUTOREGRESS, *tokens]])
    with torch.no_grad():
        logits = model(ids).logits[0]
    ce = torch.nn.functional.cross_entropy(logits[:-1], ids[0, 1:], reduction="none")
    return ce.numpy().reshape(-1, 3).T


def test_amt_equals_the_authors_tokens_and_loss(amt_dir, piece):
    from noiseloss import load_model

    scorer = load_model(str(amt_dir), backend="amt")
    tokens = reference_tokens(piece)
    assert REST in tokens[2::3] and 10000 + 999 in tokens[1::3] and 10000 + 25 in tokens[1::3]
    assert NOTE_OFFSET + 128 * 128 + 36 in tokens[2::3]  # the kick: instrument 128
    result = scorer.score(piece)
    assert result.modality == "symbolic" and result.codes.shape == (3, len(tokens) // 3)
    np.testing.assert_array_equal(result.codes.T.reshape(-1), tokens)
    # the piece starts at 0 s: its times are the time tokens, in 10 ms bins
    np.testing.assert_array_equal(result.axis.seconds, np.array(tokens[0::3]) / 100)
    expected = reference_nll(scorer.model, tokens)
    np.testing.assert_allclose(result.nll, expected, atol=1e-4)
    assert np.isfinite(result.entropy).all() and (result.entropy <= math.log(55028) + 1e-4).all()


def test_windows_present_times_as_in_training(amt_dir, piece):
    """Windows of 4 events with a stride of 2: each event scored once, each window its own
    training sequence with times from its first event."""
    from noiseloss import load_model

    scorer = load_model(str(amt_dir), backend="amt", window_frames=4, stride_frames=2)
    tokens = reference_tokens(piece)
    events = len(tokens) // 3
    result = scorer.score(piece)
    assert [w[1:] for w in result.windows][:3] == [(0, 4), (4, 6), (6, 8)]
    expected = np.full((3, events), np.nan)
    for context, start, end in result.windows:
        window = np.array(tokens[3 * context: 3 * end]).reshape(-1, 3)
        window[:, 0] -= window[0, 0]
        expected[:, start:end] = reference_nll(scorer.model, window.ravel().tolist())[
            :, start - context:]
    np.testing.assert_allclose(result.nll, expected, atol=1e-4)


def test_score_writes_one_row_per_token(amt_dir, piece, tmp_path):
    import pandas as pd
    from click.testing import CliRunner

    from noiseloss.cli.main import cli

    out = CliRunner().invoke(cli, ["score", str(piece), "--model", str(amt_dir), "--backend",
                                   "amt", "--out", str(tmp_path / "s")])
    assert out.exit_code == 0, out.output
    rows = pd.read_parquet(tmp_path / "s" / "nll.parquet")
    tokens = reference_tokens(piece)
    events = len(tokens) // 3
    assert len(rows) == 3 * events
    first = rows[rows["codebook"] == 0].sort_values("frame")
    assert first["frame"].tolist() == list(range(events))
    np.testing.assert_array_equal(rows.sort_values(["frame", "codebook"])["code"], tokens)
    np.testing.assert_allclose(first["time_s"], np.array(tokens[0::3]) / 100)


def test_amt_refuses_what_it_cannot_score(amt_dir, tmp_path):
    import pretty_midi

    from noiseloss import load_model
    from noiseloss.errors import ModelLoadError, NoiselossError

    scorer = load_model(str(amt_dir), backend="amt")
    empty = pretty_midi.PrettyMIDI()
    with pytest.raises(NoiselossError, match="no notes"):
        scorer.tokenize(empty)
    with pytest.raises(NoiselossError, match="reads a score"):
        scorer.tokenize(np.zeros(100, np.float32))
    long = pretty_midi.PrettyMIDI()
    inst = pretty_midi.Instrument(program=0)
    inst.notes = [pretty_midi.Note(velocity=80, pitch=60, start=t, end=t + 0.5)
                  for t in (0.0, 600.0)]
    long.instruments.append(inst)
    # longer than the time tokens (100 s): tokenized whole; windows of 341 events here span
    # 340 s (a rest every second), beyond the time tokens: refused, saying what to change
    tokens = scorer.tokenize(long)  # 2 notes and a rest every second between them
    assert tokens.ids.shape[1] == 601 and tokens.ids[0, -1] - tokens.ids[0, 0] == 60000
    with pytest.raises(NoiselossError, match="spans 340.0 s.*smaller window_frames"):
        scorer.score_codes([tokens.ids], axes=[tokens.axis])
    # a dense 10-minute piece: every window spans < 100 s, each scored with rebased times
    inst.notes = [pretty_midi.Note(velocity=80, pitch=60 + i % 12, start=0.25 * i,
                                   end=0.25 * i + 0.25) for i in range(2401)]
    tokens = scorer.tokenize(long)
    assert tokens.ids.shape[1] == 2401 and tokens.ids[0, -1] - tokens.ids[0, 0] == 60000
    result = scorer.score_codes([tokens.ids], axes=[tokens.axis])[0]
    assert result.nll.shape == (3, 2401) and np.isfinite(result.nll).all()
    np.testing.assert_allclose(result.axis.seconds[[0, -1]], [0.0, 600.0])
    sparse = pretty_midi.PrettyMIDI()  # events 30 s apart: 341 events span far beyond 100 s
    inst = pretty_midi.Instrument(program=0)
    inst.notes = [pretty_midi.Note(velocity=80, pitch=60, start=30.0 * i, end=30.0 * i + 1)
                  for i in range(4)]
    sparse.instruments.append(inst)
    tokens = scorer.tokenize(sparse)  # rests every second: 91 events
    assert tokens.ids.shape[1] == 91 and (tokens.ids[2] == REST).sum() == 87
    (tmp_path / "config.json").write_text('{"model_type": "llama"}')
    with pytest.raises(ModelLoadError, match="gpt2"):
        load_model(str(tmp_path), backend="amt")
