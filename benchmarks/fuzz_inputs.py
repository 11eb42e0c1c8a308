"""Seeded fuzzing of the input paths, beyond the test corpus (not a test; prints counts).

Three kinds of mutated input, each judged the same way: either it is accepted, or refused with
a ``NoiselossError`` (the CLI's one-line "error: ..."); any other exception is a traceback a user
would see, and is printed with the input that caused it.

- configs: every built-in config, mutated by replacing one value anywhere in it with a value of
  another type (number, string, list, mapping, null, bool, NaN, huge, negative), or deleting it;
  through ``parse_config``;
- audio: a valid WAV/FLAC/OGG clip cut at random byte offsets or with random bytes overwritten;
  through ``load_audio`` and the demo scorer;
- MIDI: a valid MIDI file cut or overwritten the same way; through ``load_midi`` and the
  renderer (first 2 s), and through ``load_score`` and the symbolic models (``ppm`` with that
  file as its corpus, and the Anticipatory Music Transformer's tokenizer, full vocabulary);
- tables: the CSVs users bring (an audit's outside scores, ratings, preferences), cut or
  overwritten; through ``read_scores`` (against a manifest), ``read_ratings`` and
  ``read_preferences``;
- scores: random but well-formed MIDI files (1-20 tracks, drums or not, notes of zero or
  negative length, overlapping same-pitch notes, onsets up to an hour, pitches and velocities
  at their limits, tempo changes) through the same symbolic path.

    python benchmarks/fuzz_inputs.py --cases 300 --seed 0
"""

from __future__ import annotations

import argparse
import copy
import io
import sys
import tempfile
import traceback
from pathlib import Path

import numpy as np

VALUES = (0, -1, 1.5, float("nan"), float("inf"), 1e308, 10 ** 20, "", "text", "/abs/path",
          [], [1, 2], ["a"], {}, {"k": 1}, None, True)


def _paths(node, prefix=()):
    """Every (path, value) of a nested mapping/list."""
    yield prefix, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, (*prefix, i))


def _set(node, path, value, *, delete: bool):
    for key in path[:-1]:
        node = node[key]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = value


def fuzz_configs(cases: int, rng: np.random.Generator) -> tuple[int, int, list]:
    """(accepted, refused, tracebacks) of mutated built-in configs."""
    import yaml

    from noiseloss.config import builtin_configs, load_config, parse_config
    from noiseloss.errors import NoiselossError

    bases = [yaml.safe_load(load_config(name).to_yaml()) for name in builtin_configs()]
    accepted = refused = 0
    crashes = []
    for _ in range(cases):
        raw = copy.deepcopy(bases[rng.integers(len(bases))])
        paths = [p for p, _ in _paths(raw) if p]
        path = paths[rng.integers(len(paths))]
        delete = rng.random() < 0.2
        value = VALUES[rng.integers(len(VALUES))]
        _set(raw, path, value, delete=delete)
        try:
            parse_config(raw)
            accepted += 1
        except NoiselossError:
            refused += 1
        except Exception:  # noqa: BLE001 (what is counted)
            crashes.append((f"{'del' if delete else 'set'} {path} = {value!r}",
                            traceback.format_exc(limit=3)))
    return accepted, refused, crashes


def _corrupt(data: bytes, rng: np.random.Generator) -> bytes:
    if rng.random() < 0.5:
        return data[: rng.integers(0, len(data))]
    out = bytearray(data)
    for _ in range(rng.integers(1, 20)):
        start = int(rng.integers(0, len(out)))
        out[start:start + 8] = rng.integers(0, 256, size=len(out[start:start + 8])).astype(
            np.uint8).tobytes()
    return bytes(out)


def fuzz_files(cases: int, rng: np.random.Generator, folder: Path) -> dict[str, tuple]:
    """Per kind (wav, flac, ogg, mid): (accepted, refused, tracebacks) of corrupted files."""
    import pretty_midi
    import soundfile as sf

    from noiseloss.models import load_model
    from noiseloss.sources.midi import load_midi, render_midi

    scorer = load_model("demo")
    t = np.arange(int(1.5 * 32000)) / 32000
    tone = (0.3 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)
    valid = {}
    for fmt in ("wav", "flac", "ogg"):
        buffer = io.BytesIO()
        sf.write(buffer, tone, 32000, format=fmt.upper())
        valid[fmt] = buffer.getvalue()
    midi = pretty_midi.PrettyMIDI()
    piano = pretty_midi.Instrument(program=0)
    piano.notes = [pretty_midi.Note(velocity=80, pitch=60 + i, start=0.2 * i, end=0.2 * i + 0.3)
                   for i in range(8)]
    midi.instruments.append(piano)
    path = folder / "valid.mid"
    midi.write(str(path))
    valid["mid"] = path.read_bytes()
    out = {}
    for kind, data in valid.items():
        def write(path, data=data):
            path.write_bytes(_corrupt(data, rng))

        def read(path, kind=kind):
            if kind == "mid":
                render_midi(load_midi(path), sample_rate=32000, max_seconds=2.0)
            else:
                scorer.score(path)

        out[kind] = _judge(kind, cases, folder, suffix=f".{kind}", write=write, read=read)
    return out


def _judge(kind: str, cases: int, folder: Path, *, suffix: str, write, read) -> tuple:
    """``(accepted, refused, tracebacks)`` of ``cases`` files made by ``write``, read by ``read``."""
    from noiseloss.errors import NoiselossError

    accepted = refused = 0
    crashes = []
    for n in range(cases):
        path = folder / f"{kind}-{n}{suffix}"
        write(path)
        try:
            read(path)
            accepted += 1
        except NoiselossError:
            refused += 1
        except Exception:  # noqa: BLE001 (what is counted)
            crashes.append((f"{kind} case {n}", traceback.format_exc(limit=3)))
    return accepted, refused, crashes


def _symbolic(folder: Path):
    """A function that reads a MIDI file as the symbolic models do and scores it."""
    import pretty_midi

    from noiseloss.models import load_model
    from noiseloss.sources.midi import load_score
    from noiseloss.tokenizers.amt import AmtTokenizer, AmtVocab

    corpus = folder / "corpus"
    corpus.mkdir()
    tune = pretty_midi.PrettyMIDI()
    tune.instruments.append(pretty_midi.Instrument(program=0))
    tune.instruments[0].notes = [pretty_midi.Note(velocity=80, pitch=60 + (i * 5) % 12,
                                                  start=0.25 * i, end=0.25 * i + 0.25)
                                 for i in range(32)]
    tune.write(str(corpus / "tune.mid"))
    ppm = load_model("ppm", model_options={"corpus": str(corpus)})
    amt = AmtTokenizer(AmtVocab())

    def read(path: Path) -> None:
        ppm.score(path)
        amt.tokenize(load_score(path))

    return read


def _random_score(rng: np.random.Generator, path: Path) -> None:
    import pretty_midi

    midi = pretty_midi.PrettyMIDI(initial_tempo=float(rng.choice([20.0, 120.0, 900.0])))
    for _ in range(int(rng.integers(1, 21))):
        track = pretty_midi.Instrument(program=int(rng.integers(0, 128)),
                                       is_drum=bool(rng.random() < 0.2))
        horizon = float(rng.choice([2.0, 60.0, 3600.0]))
        for _ in range(int(rng.integers(0, 40))):
            start = float(rng.uniform(0, horizon))
            length = float(rng.choice([0.0, -0.1, 0.001, 0.5, 30.0]))
            note = pretty_midi.Note(velocity=int(rng.choice([0, 1, 64, 127])),
                                    pitch=int(rng.choice([0, 60, 127])), start=start,
                                    end=start + 1.0)
            note.end = max(start + length, 0.0)  # zero and negative lengths, past the check
            track.notes.append(note)
        midi.instruments.append(track)
    midi.write(str(path))


def fuzz_scores(cases: int, rng: np.random.Generator, folder: Path) -> dict[str, tuple]:
    """Corrupted and random MIDI through the symbolic path: (accepted, refused, tracebacks)."""
    read = _symbolic(folder)
    valid = (folder / "corpus" / "tune.mid").read_bytes()
    return {"mid-symbolic": _judge("mid-symbolic", cases, folder, suffix=".mid", read=read,
                                   write=lambda path: path.write_bytes(_corrupt(valid, rng))),
            "score": _judge("score", cases, folder, suffix=".mid", read=read,
                            write=lambda path: _random_score(rng, path))}


def fuzz_tables(cases: int, rng: np.random.Generator, folder: Path) -> dict[str, tuple]:
    """Corrupted CSVs through the readers of outside scores, ratings and preferences."""
    import pandas as pd

    from noiseloss.analysis.ratings import read_preferences
    from noiseloss.auditing import read_scores
    from noiseloss.profiling import read_ratings

    manifest = pd.DataFrame({"file": [f"files/{k}.flac" for k in "abcd"]})
    valid = {
        "scores": b"file,fad,aesthetics\nfiles/a.flac,1.5,7\nb.flac,2.5,6\nfiles/c.flac,,5\n",
        "ratings": b"file,rating,system\nsysA/a.wav,4.5,A\nsysB/a.wav,2,B\n",
        "preferences": b"file_a,file_b,winner\na.wav,b.wav,a\nc.wav,d.wav,d.wav\n"}
    readers = {"scores": lambda path: read_scores(path, manifest, higher_is_worse=["fad"]),
               "ratings": read_ratings, "preferences": read_preferences}
    return {f"{kind}-csv": _judge(kind, cases, folder, suffix=".csv", read=readers[kind],
                                  write=lambda path, data=data: path.write_bytes(
                                      _corrupt(data, rng)))
            for kind, data in valid.items()}


def main(argv=None) -> int:
    """Command line: see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=300, help="Cases per kind of input.")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    results = {"config": fuzz_configs(args.cases, rng)}
    with tempfile.TemporaryDirectory() as tmp:
        results.update(fuzz_files(args.cases // 3, rng, Path(tmp)))
        results.update(fuzz_scores(args.cases // 3, rng, Path(tmp)))
        results.update(fuzz_tables(args.cases // 3, rng, Path(tmp)))
    total = 0
    for kind, (accepted, refused, crashes) in results.items():
        print(f"{kind:<12} accepted {accepted:4d}  refused {refused:4d}  tracebacks {len(crashes)}")
        total += len(crashes)
        for label, text in crashes[:3]:
            print(f"  {label}\n    " + text.strip().replace("\n", "\n    "))
    print(f"tracebacks in all: {total}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
