"""``noiseloss perturb`` end to end (in-process): files, sidecars, specs, exit codes."""

from __future__ import annotations

import json

import numpy as np
import pretty_midi
import pytest
import soundfile as sf

from noiseloss.cli.main import main
from noiseloss.perturb import perturb

SR, HOP = 32000, 640


@pytest.fixture
def clip(tmp_path):
    audio = (0.1 * np.random.default_rng(0).standard_normal(15 * SR)).astype(np.float32)
    path = tmp_path / "in.wav"
    sf.write(path, audio, SR, subtype="FLOAT")
    return path, audio


def test_noise_example_from_the_issue(clip, tmp_path):
    path, audio = clip
    out = tmp_path / "out.wav"
    rc = main(["perturb", str(path), "--kind", "noise", "--color", "pink", "--onset-frames", "250",
               "--length-frames", "100", "--level-db", "-20", "--level-ref", "signal", "--seed", "0",
               "--out", str(out)])
    assert rc == 0
    written, sr = sf.read(out, dtype="float32")
    expected = perturb(audio, {"kind": "noise", "color": "pink", "onset_frames": 250,
                               "length_frames": 100, "level_db": -20, "level_ref": "signal"},
                       sample_rate=SR, hop_length=HOP, seed=0)
    assert sr == SR and written.tobytes() == expected.data.tobytes()
    meta = json.loads((tmp_path / "out.wav.json").read_text())
    assert meta["span_samples"] == [160000, 64000] and meta["span_frames"] == [250, 100]
    assert meta["params"]["kind"] == "noise" and meta["params"]["seed"] == 0
    assert meta["params"]["reached_level_db"] == pytest.approx(-20.0)


@pytest.mark.parametrize("args, message", [
    (["--kind", "noise", "--color", "purple", "--onset-frames", "250", "--length-frames", "100"],
     "color must be one of ['blue', 'brown', 'pink', 'violet', 'white'], got 'purple'"),
    (["--kind", "noise", "--onset-frames", "700", "--length-frames", "100"],
     "onset_frames + length_frames must end within the signal"),
    (["--kind", "noise", "--onset-frames", "250", "--length-frames", "-3"],
     "length_frames must be in [1, inf), got -3"),
    (["--kind", "nosie"], "unknown perturbation 'nosie'; registered: ['bar-shuffle'"),
    (["--kind", "noise", "--onset-frames", "10", "--length-frames", "50", "--level-db", "1000",
      "--level-ref", "dbfs", "--mode", "add", "-p", "on_clip=report"],
     "level_db must be in [-200.0, 200.0], got 1000.0"),
    (["--kind", "note-delete", "--ratio", "0.5"], "MIDI kinds read a .mid/.midi file"),
    (["--kind", "swap", "--onset-frames", "1", "--block-frames", "1", "-p", "nonsense"],
     "--param must look like key=value, got 'nonsense'"),
])
def test_bad_parameters_exit_non_zero_with_a_clear_message(clip, tmp_path, capsys, args, message):
    path, _ = clip
    rc = main(["perturb", str(path), *args, "--out", str(tmp_path / "o.wav")])
    assert rc == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o.wav").exists()


def test_spec_file_with_flag_and_param_overrides(clip, tmp_path):
    path, audio = clip
    spec = tmp_path / "spec.yaml"
    spec.write_text("kind: permute\nonset_frames: 100\nlength_frames: 300\nblock_frames: 10\n"
                    "seed: 1\n")
    out = tmp_path / "perm.flac"
    assert main(["perturb", str(path), "--spec", str(spec), "--block-frames", "50",
                 "-p", "seed=9", "--out", str(out)]) == 0
    meta = json.loads((tmp_path / "perm.flac.json").read_text())
    assert meta["params"]["block_frames"] == 50 and meta["params"]["seed"] == 9
    assert len(meta["params"]["order"]) == 6
    expected = perturb(audio, {"kind": "permute", "onset_frames": 100, "length_frames": 300,
                               "block_frames": 50}, sample_rate=SR, hop_length=HOP, seed=9)
    assert meta["params"]["order"] == expected.params["order"]
    written, _ = sf.read(out, dtype="float32")  # 16-bit FLAC: equal within one quantisation step
    assert np.max(np.abs(written - expected.data)) <= 2.0**-15
    assert main(["perturb", str(path), "--spec", str(spec), "--out", str(out)]) == 0
    assert json.loads((tmp_path / "perm.flac.json").read_text())["params"]["seed"] == 1


def make_midi(path):
    pm = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    inst = pretty_midi.Instrument(program=0)
    for i in range(20):
        inst.notes.append(pretty_midi.Note(velocity=80, pitch=60 + i % 12, start=0.25 * i,
                                           end=0.25 * i + 0.2))
    pm.instruments.append(inst)
    pm.write(str(path))
    return pm


def test_midi_edit_writes_midi_or_rendered_audio(tmp_path):
    src = tmp_path / "in.mid"
    make_midi(src)
    assert main(["perturb", str(src), "--kind", "note-delete", "--ratio", "0.4", "--seed", "1",
                 "--out", str(tmp_path / "out.mid")]) == 0
    edited = pretty_midi.PrettyMIDI(str(tmp_path / "out.mid"))
    assert sum(len(i.notes) for i in edited.instruments) == 12  # 20 - round(0.4 * 20)
    meta = json.loads((tmp_path / "out.mid.json").read_text())
    assert meta["span_samples"] is None and meta["rendered_midi"] is False
    assert main(["perturb", str(src), "--kind", "note-delete", "--ratio", "0.4", "--seed", "1",
                 "--out", str(tmp_path / "out.wav")]) == 0
    audio, sr = sf.read(tmp_path / "out.wav")
    assert sr == SR and abs(audio.size / SR - edited.get_end_time()) <= 0.05
    assert json.loads((tmp_path / "out.wav.json").read_text())["rendered_midi"] is True


def test_token_kinds_read_and_write_npy(tmp_path, capsys):
    codes = np.random.default_rng(0).integers(0, 2048, size=(4, 100))
    np.save(tmp_path / "codes.npy", codes)
    assert main(["perturb", str(tmp_path / "codes.npy"), "--kind", "token-repeat",
                 "--onset-frames", "10", "--length-frames", "5", "--out",
                 str(tmp_path / "out.npy")]) == 0
    out = np.load(tmp_path / "out.npy")
    assert np.array_equal(out[:, 10:15], np.repeat(codes[:, 9:10], 5, axis=1))
    assert np.array_equal(np.delete(out, range(10, 15), axis=1), np.delete(codes, range(10, 15), axis=1))
    assert main(["perturb", str(tmp_path / "codes.npy"), "--kind", "token-noise",
                 "--onset-frames", "10", "--length-frames", "5", "--out",
                 str(tmp_path / "n.npy")]) == 2
    assert "token-noise needs the model's encode; give a model (--model" in capsys.readouterr().err


def test_list_shows_every_kind_with_its_parameters(capsys):
    assert main(["perturb", "--list"]) == 0
    text = capsys.readouterr().out
    for kind in ("noise", "swap", "permute", "reverse", "delete", "repeat", "silence",
                 "token-random", "token-noise", "token-repeat", "note-delete", "velocity",
                 "tempo-warp", "pitch-shift", "bar-shuffle"):
        assert f"\n{kind}\t" in f"\n{text}"
    assert "level_ref='signal'" in text


def test_clipping_is_reported_on_the_console(clip, tmp_path, capsys):
    path, _ = clip
    assert main(["perturb", str(path), "--kind", "noise", "--onset-frames", "10",
                 "--length-frames", "50", "--level-db", "0", "--level-ref", "dbfs", "--mode", "add",
                 "--out", str(tmp_path / "loud.wav")]) == 0
    assert "samples exceed full scale" in capsys.readouterr().err
