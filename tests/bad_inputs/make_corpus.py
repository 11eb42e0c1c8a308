"""Write the bad-input corpus: malformed configs, files and arguments, with what each must give.

    python tests/bad_inputs/make_corpus.py OUT      # files under OUT, cases in OUT/cases.json

Every case is a ``noiseloss`` command line (``{root}`` stands for OUT) with the exit code it
must end with, strings its output must contain (the file or key at fault), for runs and audits
the items that must be stored beside the bad ones and, for ``score``, the tokens it must
write. Nothing here is a binary blob: every file is made by this script
(``tests/test_bad_inputs.py`` runs the cases).
"""

from __future__ import annotations

import json
import os
import struct
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

RATE = 32000


@dataclass
class Case:
    """One bad input: ``argv`` of ``noiseloss``, expected exit code and output."""

    name: str
    argv: list[str]
    code: int
    mentions: list[str]
    stored: list[str] = field(default_factory=list)  # items that must be in `results`
    results: str = "results.parquet"  # the run's results, under --out
    rows: int | None = None  # score: tokens of nll.parquet, every one scored once
    windows: int | None = None  # score: the strided windows that scored them


def _tone(path: Path, *, seconds: float = 1.2, hz: float = 330.0) -> Path:
    t = np.arange(int(seconds * RATE)) / RATE
    sf.write(path, 0.3 * np.sin(2 * np.pi * hz * t).astype(np.float32), RATE)
    return path


def _midi(path: Path, notes: list[tuple[float, float]], *, pitches=(60,)) -> Path:
    import pretty_midi

    midi = pretty_midi.PrettyMIDI()
    piano = pretty_midi.Instrument(program=0)
    piano.notes = [pretty_midi.Note(velocity=80, pitch=pitches[i % len(pitches)], start=a, end=b)
                   for i, (a, b) in enumerate(notes)]
    midi.instruments.append(piano)
    midi.write(str(path))
    return path


def _symbolic_files(folder: Path) -> None:
    """MIDI files a symbolic model must refuse clearly or read as documented."""
    import mido

    def save(name, tracks, *, kind=1):
        mid = mido.MidiFile(type=kind, ticks_per_beat=480)
        for messages in tracks:
            mid.tracks.append(mido.MidiTrack(messages))
        mid.save(str(folder / name))

    def note(pitch, *, channel=0, length=240, gap=0):
        return [mido.Message("note_on", note=pitch, velocity=80, channel=channel, time=gap),
                mido.Message("note_off", note=pitch, channel=channel, time=length)]

    save("empty.mid", [[mido.MetaMessage("set_tempo", tempo=500000)]])
    save("drums-only.mid", [note(36, channel=9) + note(38, channel=9)])
    save("type2.mid", [note(60), note(62)], kind=2)
    save("many-tracks.mid", [note(40 + i, channel=i % 16, gap=120 * i) for i in range(20)])
    save("zero-and-overlapping.mid", [note(60, length=0) + [  # a note of no length
        mido.Message("note_on", note=64, velocity=80, time=0),
        mido.Message("note_on", note=64, velocity=70, time=120),  # the same pitch again
        mido.Message("note_off", note=64, time=120), mido.Message("note_off", note=64, time=0)]])
    save("one-note.mid", [note(67)])


def _wav_header(rate: int, samples: int) -> bytes:
    """A 16-bit mono WAV header declaring ``rate`` Hz (the data follows)."""
    data = samples * 2
    return (b"RIFF" + struct.pack("<I", 36 + data) + b"WAVEfmt " +
            struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16) + b"data" +
            struct.pack("<I", data))


def _config(root: Path, name: str, body: str) -> Path:
    path = root / "configs" / f"{name}.yaml"
    path.write_text(body, encoding="utf-8")
    return path


BASE = """name: bad
models: [demo]
datasets:
  good: {{path: "{root}/good"}}
excerpt: {{seconds: 1.0}}
perturbations:
  - {{kind: noise, color: white, onset_frames: 10, length_frames: 5, level_db: -10.0,
     level_ref: signal}}
"""

# name -> (replacement of a line of BASE or an extra top-level block, what the message names)
CONFIG_CASES = {
    "excerpt-scalar": (("excerpt: {seconds: 1.0}", "excerpt: 5"), ["excerpt"]),
    "perturbations-scalar": (("perturbations:", "perturbations: 3\nunused:"), ["perturbations"]),
    "path-number": (('good: {path: "{root}/good"}', "good: {path: 5}"), ["path"]),
    "version-word": (("name: bad", "name: bad\nversion: one"), ["version"]),
    "seconds-nan": (("excerpt: {seconds: 1.0}", "excerpt: {seconds: .nan}"), ["seconds"]),
    "seconds-inf": (("excerpt: {seconds: 1.0}", "excerpt: {seconds: .inf}"), ["seconds"]),
    "level-string": (("level_db: -10.0", "level_db: 1.0e308"), ["level_db", "number"]),
    "level-nan": (("level_db: -10.0", "level_db: .nan"), ["level_db", "finite"]),
    "seed-1e20": (("name: bad", "name: bad\nseeds: [100000000000000000000]"), ["seeds"]),
    "glob-absolute": (('good: {path: "{root}/good"}',
                       'good: {path: "{root}/good", glob: "/etc/*"}'), ["glob"]),
    "music21-string": (('good: {path: "{root}/good"}', 'good: {music21: "bach/bwv1.6"}'),
                       ["music21"]),
    "duplicate-key": (("excerpt: {seconds: 1.0}", "excerpt: {seconds: 1.0}\nexcerpt: {}"),
                      ["duplicate", "excerpt"]),
    "unknown-key": (("models: [demo]", "modles: [demo]\nmodels: [demo]"), ["modles"]),
    "unknown-kind": (("kind: noise", "kind: nosie"), ["nosie"]),
    "negative-length": (("length_frames: 5", "length_frames: -5"), ["length_frames"]),
    "no-models": (("models: [demo]", "models: []"), ["models"]),
    "missing-folder": (('good: {path: "{root}/good"}', 'good: {path: "{root}/nope"}'),
                       ["nope"]),
    "unknown-model": (("models: [demo]", "models: [demo-nope]"), ["demo-nope"]),
    "color-number": (("color: white", "color: 1.5"), ["color", "string"]),
    "onset-fraction": (("onset_frames: 10", "onset_frames: 10.5"), ["onset_frames", "integer"]),
    "offset-huge": (("excerpt: {seconds: 1.0}", "excerpt: {seconds: 1.0, offset_seconds: 1.0e+308}"),
                    ["offset_seconds"]),
    "kind-list": (("kind: noise", "kind: [noise]"), ["perturbation", "noise"]),
    "name-mapping": (("name: bad", "name: {a: 1}"), ["name"]),
    "color-unknown": (("color: white", "color: purple"), ["color", "purple", "pink"]),
    "color-grid-unknown": (("color: white", "grid: {color: [white, purple]}"),
                           ["color", "purple"]),
    "level-ref-unknown": (("level_ref: signal", "level_ref: rms"), ["level_ref", "rms", "dbfs"]),
    "level-1e308": (("level_db: -10.0", "level_db: 1.0e+308"), ["level_db", "[-200, 200]"]),
    "grid-key-typo": (("length_frames: 5", "grid: {lenght_frames: [5]}"),
                      ["lenght_frames", "Did you mean 'length_frames'"]),
    "model-typo": (("models: [demo]", "models: [dmeo]"), ["dmeo", "Did you mean 'demo'"]),
    "text-on-demo": (("name: bad", "name: bad\nprompts: [{text: calm piano}]"),
                     ["prompts[0].text", "no text conditioning"]),
}

def _symlink_loop(path: Path) -> None:
    os.symlink("loop-b.wav", path)
    os.symlink("loop-a.wav", path.with_name("loop-b.wav"))


#: Bad data files, each placed beside one good clip: name -> (writer, what its message says).
BAD_FILES = {
    "garbage.wav": (lambda p: p.write_bytes(b"RIFF this is not a wave file" * 10),
                    "cannot read audio"),
    "empty.wav": (lambda p: p.write_bytes(b""), "cannot read audio"),
    "nan.wav": (lambda p: sf.write(p, np.array([0.1, np.nan, 0.2] * 2000, dtype=np.float32),
                                   RATE, subtype="FLOAT"), "non-finite"),
    "onehz.wav": (lambda p: p.write_bytes(_wav_header(1, 2000) + b"\x00\x01" * 2000), "1 Hz"),
    "text.flac": (lambda p: p.write_text("not audio\n"), "cannot read audio"),
    "folder.wav": (lambda p: p.mkdir(), "a folder, not a file"),
    "dangling.wav": (lambda p: os.symlink("does-not-exist.wav", p), "dangling symbolic link"),
    "loop-a.wav": (_symlink_loop, "symbolic link loop"),
    "nonotes.mid": (lambda p: _midi(p, []), "no notes"),
    "garbage.mid": (lambda p: p.write_bytes(b"MThd garbage"), "cannot read MIDI"),
}


def _demo_midi_cases(root: Path, sym: Path) -> list[Case]:
    """The symbolic files, long and sparse pieces through ``demo-midi`` (the ``amt`` scorer).

    Its windows hold 128 events (stride 64) and its time tokens 40 s: a longer piece is scored
    in strided windows, each event once, with times counted from each window's first event; a
    window whose events span 40 s or more (sparse music) is refused, naming the window size to
    lower. Durations stop at its longest duration token (10 s).
    """
    scale = (60, 62, 64, 65, 67, 69, 71, 72)
    _midi(sym / "one-hour-note.mid", [(0.0, 3600.0)])
    _midi(sym / "one-hour-notes.mid", [(0.25 * k, 0.25 * k + 0.2) for k in range(14400)],
          pitches=scale)
    _midi(sym / "long.mid", [(0.25 * k, 0.25 * k + 0.2) for k in range(1000)], pitches=scale)
    _midi(sym / "sparse.mid", [(0.9 * k, 0.9 * k + 0.5) for k in range(200)], pitches=scale)
    cases = []
    for name, extra, code, mentions, rows, windows in (
            ("empty.mid", [], 1, ["empty.mid", "no notes to score"], None, None),
            ("drums-only.mid", [], 1, ["drums-only.mid", "no notes to score",
                                       "2 drum note(s) are left out"], None, None),
            ("type2.mid", [], 1, ["type2.mid", "type 2"], None, None),
            # 20 notes, one of them on the drum channel (left out)
            ("many-tracks.mid", [], 0, ["scored 1 file(s)"], 3 * 19, 1),
            ("zero-and-overlapping.mid", [], 0, ["scored 1 file(s)"], 3 * 3, 1),
            ("one-note.mid", [], 0, ["scored 1 file(s)"], 3, 1),
            # one event: an hour-long note costs one token of each kind
            ("one-hour-note.mid", [], 0, ["scored 1 file(s)"], 3, 1),
            # 14,400 events over an hour, 1000 over 250 s: far beyond 128 events and 40 s
            ("one-hour-notes.mid", [], 0, ["scored 1 file(s)"], 3 * 14400, 1 + 14272 // 64),
            ("long.mid", [], 0, ["scored 1 file(s)"], 3 * 1000, 1 + -(-872 // 64)),
            # 128 events 0.9 s apart span 114 s; windows of 40 events (stride 20) fit
            ("sparse.mid", [], 1, ["sparse.mid", "spans 114.3 s", "40 s of time tokens",
                                   "smaller window_frames", "40 or fewer"], None, None),
            ("sparse.mid/window-40", ["--window-frames", "40"], 0, ["scored 1 file(s)"],
             3 * 200, 1 + 160 // 20)):
        file = name.split("/")[0]
        cases.append(Case(f"demo-midi/{name}", ["score", str(sym / file), "--model", "demo-midi",
                                                *extra, "--out", str(root / "o-dm" / name)],
                          code, mentions, rows=rows, windows=windows))
    return cases


def _audit_cases(root: Path, sym: Path, ppm: list[str]) -> list[Case]:
    """``noiseloss audit`` (CI size: ``--tiny``, one family) given bad sources and options."""
    audio, allbad, mixed, midi = (root / "audit" / n
                                  for n in ("audio", "all-bad", "mixed", "midi"))
    for folder in (audio, allbad, mixed, midi):
        folder.mkdir(parents=True)
    for folder in (audio, mixed):  # long enough for the 3 s excerpts
        _tone(folder / "a.wav", seconds=3.2, hz=330)
        _tone(folder / "b.wav", seconds=3.2, hz=440)
    (mixed / "corrupt.wav").write_bytes(b"RIFF this is not a wave file" * 10)
    _tone(mixed / "short.wav", seconds=1.2)
    (allbad / "corrupt.wav").write_bytes(b"RIFF this is not a wave file" * 10)
    for i in range(2):
        _midi(midi / f"g{i}.mid", [(0.25 * k, 0.25 * k + 0.2) for k in range(16 + i)],
              pitches=(60, 64, 67, 72))
    for name in ("empty.mid", "drums-only.mid"):
        (midi / name).write_bytes((sym / name).read_bytes())
    files = root / "files"
    csvs = {"scores-ragged.csv": "file,quality\na.flac,1\nb.flac,1,2,3\n",
            "scores-empty.csv": "",
            "scores-no-file.csv": "name,quality\na.flac,1.0\n",
            "scores-words.csv": "file,quality\na.flac,good\n",
            "scores-clash.csv": "file,mean_loss\na.flac,1.0\n",
            "scores-unknown-files.csv": "file,quality\nnowhere.flac,1.0\n"}
    for name, text in csvs.items():
        (files / name).write_text(text, encoding="utf-8")
    (files / "scores-latin1.csv").write_bytes("file,quality\ncaf\xe9.flac,1.0\n".encode("latin-1"))
    out = root / "o-audit"

    def audit(name, source, *args):
        return ["audit", str(source), *args, "--tiny", "--out", str(out / name)]

    noise = ["--model", "demo", "--family", "noise"]
    cases = [
        Case("audit/missing-source", audit("missing", root / "nope", *noise), 2,
             ["nope", "source not found"]),
        Case("audit/out-is-a-file", ["audit", str(audio), "--tiny", "--out",
                                     str(files / "a-file")], 2, ["--out", "a-file"]),
        # bad files beside good ones: the good ones audited, each bad one named
        Case("audit/bad-files-beside-good", audit("mixed", mixed, *noise, "--clips", "5"), 1,
             ["corrupt.wav", "cannot read audio", "short.wav", "1.20 s long",
              "10 row(s) (metric x family), 8 file(s), 2 failed"],
             stored=["a.wav", "b.wav"], results="battery/results.parquet"),
        Case("audit/all-files-bad", audit("all-bad", allbad, *noise), 1,
             ["corrupt.wav", "cannot read audio", "nothing to audit"]),
        Case("audit/bad-midi-ppm", audit("ppm", midi, *ppm, "--clips", "4",
                                         "--family", "note-delete"), 1,
             ["empty.mid", "no notes", "drums-only.mid", "no pitched notes", "8 file(s)"],
             stored=["g0.mid", "g1.mid"], results="battery/results.parquet"),
        Case("audit/bad-midi-demo-midi", audit("demo-midi", midi, "--model",
                                               "demo-midi", "--clips", "4", "--family",
                                               "note-delete"), 1,
             ["empty.mid", "no notes", "drums-only.mid", "drum note(s) are left out",
              "8 file(s)"], stored=["g0.mid", "g1.mid"], results="battery/results.parquet"),
        Case("audit/ppm-given-audio", audit("ppm-audio", audio, *ppm), 2,
             ["ppm", "audio", "a.wav"]),
        Case("audit/family-unknown", audit("wah", audio, *noise, "--family", "wah"), 2,
             ["families", "wah", "an audio model", "lowpass"]),
        Case("audit/symbolic-family-on-audio", audit("nd", audio, "--family", "note-delete"), 2,
             ["families", "note-delete"]),
        Case("audit/clips-one", audit("c1", audio, *noise, "--clips", "1"), 2, ["clips"]),
        Case("audit/excerpt-nan", audit("nan", audio, *noise, "--excerpt-seconds", "nan"), 2,
             ["excerpt_seconds", "finite"]),
        Case("audit/model-typo", audit("typo", audio, "--model", "dmeo"), 2,
             ["dmeo", "Did you mean 'demo'"]),
        Case("audit/unknown-model-option", audit("opt", audio, *noise, "-m", "nope=1"), 2,
             ["nope"]),
        Case("audit/scores-missing", audit("s-missing", audio, *noise, "--scores",
                                           str(files / "nope.csv")), 2,
             ["--scores", "nope.csv", "does not exist"]),
        Case("audit/higher-is-worse-alone", audit("hiw", audio, *noise, "--higher-is-worse",
                                                  "fad"), 2, ["higher_is_worse", "no scores", "fad"]),
        Case("audit/higher-is-worse-unknown", audit(
            "hiw2", audio, *noise, "--scores", str(files / "scores-unknown-files.csv"),
            "--higher-is-worse", "fad"), 2, ["fad", "not columns"]),
    ]
    for name, mentions in (("scores-ragged.csv", ["cannot read"]),
                           ("scores-empty.csv", ["cannot read"]),
                           ("scores-latin1.csv", ["cannot read", "utf-8"]),
                           ("scores-no-file.csv", ["'file' column"]),
                           ("scores-words.csv", ["quality", "not numbers"]),
                           ("scores-clash.csv", ["mean_loss", "profile metrics"]),
                           # only this one needs the manifest: after the battery
                           ("scores-unknown-files.csv", ["nowhere.flac", "not in the audit's"])):
        cases.append(Case(f"audit/{name}", audit(name, audio, *noise, "--scores",
                                                 str(files / name)), 2, [name, *mentions]))
    return cases


def build(root: str | Path) -> list[Case]:
    """Write the corpus under ``root``; return its cases (also in ``root/cases.json``)."""
    root = Path(root)
    for sub in ("good", "configs", "files"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    _tone(root / "good" / "a.wav", hz=330)
    _tone(root / "good" / "b.wav", hz=440)
    cases = []
    base = BASE.replace("{root}", str(root)).replace("{{", "{").replace("}}", "}")
    for name, ((old, new), mentions) in CONFIG_CASES.items():
        old, new = old.replace("{root}", str(root)), new.replace("{root}", str(root))
        assert old in base, name
        path = _config(root, name, base.replace(old, new, 1))
        cases.append(Case(f"config/{name}", ["run", str(path), "--out",
                                             str(root / "runs" / name)], 2, mentions))
    latin = _config(root, "not-utf8", "")
    latin.write_bytes("name: caf\xe9\n".encode("latin-1"))
    cases.append(Case("config/not-utf8", ["run", str(latin), "--out", str(root / "runs" / "x")],
                      2, ["not-utf8.yaml", "UTF-8"]))
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True))
    cases.append(Case("config/alias-bomb", ["run", str(_config(root, "bomb", bomb)), "--out",
                                            str(root / "runs" / "bomb")], 2, ["alias"]))
    good_line = f'  good: {{path: "{root}/good"}}'
    tex = _config(root, "tex-name", base.replace(good_line, good_line.replace(
        "good:", "'$\\undefinedcommand$':")))
    cases.append(Case("config/tex-in-a-name", ["run", str(tex), "--out",
                                               str(root / "runs" / "tex")], 0, ["report"],
                      stored=["a.wav", "b.wav"]))
    cases.append(Case("config/unknown-builtin", ["run", "paper-nosie", "--out",
                                                 str(root / "runs" / "u")], 2,
                      ["paper-nosie", "Did you mean 'paper-noise'"]))

    # one bad file beside one good clip per case: listed, and the good clip stored
    for file, (write, message) in BAD_FILES.items():
        folder = root / "data" / Path(file).stem
        folder.mkdir(parents=True, exist_ok=True)
        _tone(folder / "good.wav")
        write(folder / file)
        config = _config(root, f"data-{Path(file).stem}", base.replace(
            f'good: {{path: "{root}/good"}}', f'good: {{path: "{folder}"}}'))
        cases.append(Case(f"data/{file}", ["run", str(config), "--out",
                                           str(root / "runs" / f"data-{Path(file).stem}")],
                          1, [file, message], stored=["good.wav"]))
    # bounded work: a note held for an hour costs the excerpt's second only; a 10-hour one and
    # a 1 ms one (0 ticks once written) are refused by name
    midi = root / "data" / "midi-extremes"
    midi.mkdir(parents=True)
    _midi(midi / "one-hour.mid", [(0.0, 3600.0)])
    _midi(midi / "ten-hours.mid", [(0.0, 36000.0)])
    _midi(midi / "one-ms.mid", [(0.0, 0.001)])
    config = _config(root, "midi-extremes", base.replace(
        f'good: {{path: "{root}/good"}}', f'good: {{path: "{midi}"}}'))
    cases.append(Case("data/midi-extremes", ["run", str(config), "--out",
                                             str(root / "runs" / "midi")], 1,
                      ["ten-hours.mid", "likely corrupt", "one-ms.mid", "ends at 0 s"],
                      stored=["one-hour.mid"]))

    # symbolic inputs, scored by the ppm model (a corpus of two good melodies)
    sym = root / "symbolic"
    (sym / "corpus").mkdir(parents=True)
    for i in range(2):
        _midi(sym / "corpus" / f"m{i}.mid", [(0.5 * k, 0.5 * k + 0.4) for k in range(8 + i)])
    _symbolic_files(sym)
    ppm = ["--model", "ppm", "-m", f"corpus={sym / 'corpus'}"]
    for name, code, mentions in (
            ("empty.mid", 1, ["empty.mid", "no pitched notes"]),
            ("drums-only.mid", 1, ["drums-only.mid", "no pitched notes"]),
            ("type2.mid", 1, ["type2.mid", "type 2"]),
            ("many-tracks.mid", 0, ["scored 1 file(s)"]),
            ("zero-and-overlapping.mid", 0, ["scored 1 file(s)"]),
            ("one-note.mid", 0, ["scored 1 file(s)"])):
        cases.append(Case(f"symbolic/{name}", ["score", str(sym / name), *ppm, "--out",
                                               str(root / "o-sym" / name)], code, mentions))
    cases += _demo_midi_cases(root, sym)
    cases += _audit_cases(root, sym, ppm)

    # command-line arguments
    good = str(root / "good" / "a.wav")
    a_file = root / "files" / "a-file"
    a_file.write_text("x")
    np.save(root / "files" / "object.npy", np.array([{"a": 1}], dtype=object))
    np.save(root / "files" / "text.npy", np.array([["a", "b"]]))
    np.save(root / "files" / "negative.npy", -np.ones((4, 20), dtype=np.int64))
    (root / "files" / "spec.yaml").write_text("kind: noise\nonset_frames: [1\n")
    np.save(root / "files" / "codes.npy", np.zeros((4, 20), dtype=np.int64))
    (root / "files" / "latin1.yaml").write_bytes("kind: noise # caf\xe9\n".encode("latin-1"))
    cli = [
        ("score/out-is-a-file", ["score", good, "--model", "demo", "--out", str(a_file)], 2,
         ["--out", "a-file"]),
        ("score/device-cuda", ["score", good, "--model", "demo", "--out",
                               str(root / "o-cuda"), "--device", "cuda"], 2, ["cuda"]),
        ("score/object-npy", ["score", str(root / "files" / "object.npy"), "--model", "demo",
                              "--out", str(root / "o-npy1")], 1, ["object.npy"]),
        ("score/text-npy", ["score", str(root / "files" / "text.npy"), "--model", "demo",
                            "--out", str(root / "o-npy2")], 1, ["text.npy"]),
        ("score/negative-codes", ["score", str(root / "files" / "negative.npy"), "--model",
                                  "demo", "--out", str(root / "o-npy3")], 1, ["negative.npy"]),
        ("score/missing-file", ["score", str(root / "nope.wav"), "--model", "demo", "--out",
                                str(root / "o-missing")], 1, ["nope.wav", "no such file"]),
        ("run/out-is-a-file", ["run", "paper-noise", "--out", str(a_file)], 2,
         ["--out", "a-file"]),
        ("perturb/out-is-a-folder", ["perturb", good, "--kind", "reverse", "-p",
                                     "onset_frames=1", "-p", "length_frames=5", "--out",
                                     str(root / "files")], 2, ["--out", "folder"]),
        ("perturb/bad-param-yaml", ["perturb", good, "--kind", "noise", "-p", "onset_frames=[1",
                                    "--out", str(root / "p.wav")], 2, ["onset_frames"]),
        ("perturb/bad-spec-yaml", ["perturb", good, "--spec", str(root / "files" / "spec.yaml"),
                                   "--out", str(root / "p.wav")], 2, ["spec.yaml"]),
        ("perturb/codebook-size-param", ["perturb", str(root / "files" / "codes.npy"), "--kind",
                                         "token-random", "-p", "onset_frames=1", "-p",
                                         "length_frames=2", "-p", "codebook_size=512", "--out",
                                         str(root / "p.npy")], 2,
         ["codebook_size", "--model"]),
        ("perturb/spec-not-utf8", ["perturb", good, "--spec", str(root / "files" / "latin1.yaml"),
                                   "--out", str(root / "p.wav")], 2, ["latin1.yaml", "UTF-8"]),
        ("perturb/level-1e308", ["perturb", good, "--kind", "noise", "-p", "onset_frames=1",
                                 "-p", "length_frames=5", "-p", "level_db=1e308", "--out",
                                 str(root / "p.wav")], 2, ["level_db", "[-200.0, 200.0]"]),
        ("perturb/level-overflow", ["perturb", good, "--kind", "noise", "-p", "onset_frames=1",
                                    "-p", "length_frames=5", "-p", "level_db=1000", "-p",
                                    "level_ref=dbfs", "--out", str(root / "p.wav")], 2,
         ["level_db", "[-200.0, 200.0]"]),
        ("perturb/unknown-kind", ["perturb", good, "--kind", "nosie", "--out",
                                  str(root / "p.wav")], 2, ["nosie"]),
        ("analyze/not-a-run", ["analyze", str(root / "good")], 2, ["results.parquet"]),
        ("analyze/bad-option", ["analyze", str(root / "good"), "--smooth-frames", "0"], 2,
         ["smooth_frames"]),
        ("report/missing-folder", ["report", str(root / "nope")], 2, ["nope"]),
        ("report/not-a-run", ["report", str(root / "good")], 2, ["results.parquet"]),
        ("profile/out-is-a-file", ["profile", "demo:train", "--out", str(a_file)], 2,
         ["--out", "a-file"]),
        ("profile/missing-source", ["profile", str(root / "nope"), "--out",
                                    str(root / "o-prof")], 2, ["nope"]),
        ("profile/no-room-for-probes", ["profile", "demo:train", "--excerpt-seconds", "2",
                                        "--out", str(root / "o-prof2")], 2, ["probes"]),
        ("correlate/bad-ratings", ["correlate", str(root / "good"), str(root / "good" / "a.wav")],
         2, ["clips.parquet"]),
        ("score/folder", ["score", str(root / "good"), "--model", "demo", "--out",
                          str(root / "o-folder")], 0, ["scored 2 file(s)"]),
        ("score/model-typo", ["score", good, "--model", "dmeo", "--out", str(root / "o-typo")],
         2, ["dmeo", "Did you mean 'demo'"]),
        ("models/unknown-option", ["score", good, "--model", "demo", "-m", "nope=1", "--out",
                                   str(root / "o-opt")], 2, ["nope"]),
    ]
    cases += [Case(n, argv, code, mentions) for n, argv, code, mentions in cli]
    (root / "cases.json").write_text(json.dumps([asdict(c) for c in cases], indent=1))
    return cases


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    print(f"{len(build(sys.argv[1]))} cases -> {sys.argv[1]}/cases.json")
