"""Data set sources: built-in demo sets, folders of audio or MIDI, music21 corpus scores."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from noiseloss.errors import AudioError, ConfigError, NoiselossError, check_int
from noiseloss.registry import Registry
from noiseloss.sources.audio import AUDIO_EXTENSIONS, load_audio
from noiseloss.sources.midi import MIDI_EXTENSIONS


@dataclass(frozen=True)
class DatasetSpec:
    """One data set: a built-in source (``demo:NAME``), a folder or file, or music21 paths."""

    name: str
    source: str | None = None
    path: str | None = None
    glob: str = "*"
    music21: tuple[str, ...] = ()
    program: int = 0
    limit: int | None = None

    def __post_init__(self):
        if not isinstance(self.music21, list | tuple) or not all(
                isinstance(m, str) for m in self.music21):
            raise ConfigError(f"music21 must be a list of corpus paths, got {self.music21!r}")
        object.__setattr__(self, "music21", tuple(self.music21))
        for key in ("source", "path", "glob"):
            value = getattr(self, key)
            if (value is not None or key == "glob") and not isinstance(value, str):
                raise ConfigError(f"{key} must be a string, got {value!r}")
        if Path(self.glob).is_absolute() or ".." in Path(self.glob).parts or not self.glob:
            raise ConfigError(f"glob must be a pattern relative to the data set's path (no "
                              f"leading / and no ..), got {self.glob!r}")
        given = [k for k in ("source", "path", "music21") if getattr(self, k)]
        if len(given) != 1:
            raise ConfigError(f"give exactly one of source/path/music21, got {given}")
        if not 0 <= check_int("program", self.program) <= 127:
            raise ConfigError(f"program must be a General MIDI program in [0, 127], "
                              f"got {self.program!r}")
        if self.limit is not None:
            check_int("limit", self.limit, low=1)

    @property
    def modality(self) -> str | None:
        """``audio`` or ``symbolic`` (a built-in family's, music21 scores'); None for a folder.

        The items of a folder say it one by one (``Item.modality``).
        """
        if self.music21:
            return "symbolic"
        return builtin_source(self.source, name=self.name)[0].modality if self.source else None

    def to_dict(self) -> dict:
        """The YAML mapping of this data set (its name is the key above it)."""
        out = dataclasses.asdict(self)
        del out["name"]
        out["music21"] = list(self.music21)
        return out


@dataclass(frozen=True)
class Item:
    """One source clip: an audio file, a MIDI file or a music21 corpus score."""

    dataset: str
    item_id: str
    kind: str  # "audio" | "midi" | "music21"
    location: str
    program: int = 0

    @property
    def modality(self) -> str:
        """``audio`` for audio files, ``symbolic`` for scores (MIDI, music21)."""
        return "audio" if self.kind == "audio" else "symbolic"

    def content_hash(self) -> str:
        """SHA-256 of the file bytes, or of the corpus path, program and music21 version.

        MIDI and music21 items also hash ``renderer_identity()`` (FluidSynth, soundfont).
        """
        digest = hashlib.sha256()
        if self.kind != "audio":
            from noiseloss.sources.midi import renderer_identity

            digest.update(renderer_identity().encode())
        if self.kind == "music21":
            from importlib.metadata import version

            text = f"music21:{version('music21')}:{self.location}:program={self.program}"
            digest.update(text.encode())
            return digest.hexdigest()
        try:
            with open(self.location, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(block)
        except OSError:
            digest.update(f"unreadable:{self.location}".encode())
        return digest.hexdigest()


def resolve_items(spec: DatasetSpec) -> list[Item]:
    """List the items of a data set in a deterministic (sorted) order."""
    if spec.music21:
        items = [Item(spec.name, p, "music21", p, spec.program) for p in spec.music21]
    else:
        if spec.source:
            files = _builtin_files(spec.source, spec.name)
        else:
            root = Path(spec.path).expanduser()
            if root.is_file():  # one file: a data set of one item (the glob is not used)
                return [Item(spec.name, root.name, "midi" if root.suffix.lower() in
                             MIDI_EXTENSIONS else "audio", str(root), spec.program)]
            if not root.is_dir():
                raise ConfigError(f"datasets.{spec.name}.path {root} is neither a folder nor "
                                  "a file")
            # not only regular files: a dangling link, a link loop or a folder named x.wav is
            # kept, so that reading it fails and the run lists it instead of dropping it
            files = sorted(p for p in root.rglob(spec.glob)
                           if p.suffix.lower() in AUDIO_EXTENSIONS + MIDI_EXTENSIONS)
            if not files:
                raise ConfigError(f"datasets.{spec.name}: no audio or MIDI files match "
                                  f"{spec.glob!r} under {root}")
            files = [(str(p.relative_to(root)), p) for p in files]
        items = [Item(spec.name, rel, "midi" if p.suffix.lower() in MIDI_EXTENSIONS else "audio",
                      str(p), spec.program) for rel, p in files]
    return items[: spec.limit] if spec.limit else items


@dataclass(frozen=True)
class BuiltinSource:
    """A family of built-in data sets, named ``prefix:set`` in configs (``demo:train``).

    Attributes:
        sets: The set names it has.
        modality: ``audio`` or ``symbolic`` (what its files hold).
        files: ``set name -> sorted files`` of one set.
    """

    sets: tuple[str, ...]
    modality: str
    files: Callable[[str], list[Path]]


#: Built-in data set families by prefix; the packages that ship them register them.
SOURCES: Registry[BuiltinSource] = Registry("built-in source")
SOURCES.register("demo", "noiseloss.demo.data:SOURCE",
                 help="the demo model's data sets: train, ood, generated (audio)")
SOURCES.register("demo-midi", "noiseloss.demo.symbolic_data:SOURCE",
                 help="the demo-midi model's data sets: train, ood, generated (MIDI)")


def builtin_source(source: str, *, name: str) -> tuple[BuiltinSource, str]:
    """``(family, set)`` of a ``prefix:set`` source of data set ``name`` (``ConfigError``)."""
    prefix, _, which = source.partition(":")
    try:
        family = SOURCES.get(prefix)
    except NoiselossError as exc:
        raise ConfigError(f"datasets.{name}.source {source!r}: {exc}") from exc
    if which not in family.sets:
        raise ConfigError(f"datasets.{name}.source {source!r}: {prefix} sets are "
                          f"{list(family.sets)}")
    return family, which


def _builtin_files(source: str, name: str) -> list[tuple[str, Path]]:
    family, which = builtin_source(source, name=name)
    return [(p.name, p) for p in family.files(which)]


def load_midi(item: Item, *, modality: str = "audio"):
    """The item's score as ``pretty_midi.PrettyMIDI`` (music21 scores exported to MIDI).

    ``modality``: ``audio`` reads it with ``pretty_midi`` (what FluidSynth renders);
    ``symbolic`` as symbolic models read MIDI (``sources.midi.load_score``).

    Raises:
        AudioError: The file or score cannot be read (the runner lists the item as failed).
    """
    from noiseloss.sources.midi import load_midi as read_midi_file
    from noiseloss.sources.midi import load_score

    read_midi_file = load_score if modality == "symbolic" else read_midi_file
    if item.kind == "midi":
        return read_midi_file(item.location)
    import tempfile

    import music21

    with tempfile.TemporaryDirectory(prefix="noiseloss-m21-") as tmp:
        path = Path(tmp) / "score.mid"
        try:
            music21.corpus.parse(item.location).write("midi", fp=str(path))
        except Exception as exc:  # music21 raises many types; all mean "unusable score"
            raise AudioError(f"music21:{item.location}: cannot export the score ({exc})") from exc
        midi = read_midi_file(path)
    for inst in midi.instruments:
        inst.program, inst.is_drum = item.program, False
    return midi


def load_source(item: Item, *, sample_rate: int | None, max_seconds: float | None = None,
                modality: str = "audio", resampler: str = "soxr"):
    """Clean signal of an item for a model of ``modality``: ``(audio or None, midi or None)``.

    Audio models get audio (MIDI rendered at ``sample_rate``) and the score it came from;
    symbolic models get the score alone (``(None, midi)``): MIDI is rendered only for audio
    models. ``max_seconds``: only the first seconds that will be used are decoded or rendered
    (at least that much; None: all). ``resampler``: how an audio file at another rate is
    resampled (the model's, one of ``noiseloss.sources.audio.RESAMPLERS``).

    Raises:
        AudioError: The item is unreadable, or is audio and the model reads scores.
    """
    if modality == "symbolic":
        if item.kind == "audio":
            raise AudioError(f"{item.location}: a symbolic model reads scores (MIDI or music21), "
                             "not audio")
        return None, load_midi(item, modality="symbolic")
    if item.kind == "audio":
        return load_audio(item.location, sample_rate=sample_rate, max_seconds=max_seconds,
                          resampler=resampler), None
    from noiseloss.sources.midi import render_midi

    midi = load_midi(item)
    try:
        return render_midi(midi, sample_rate=sample_rate, max_seconds=max_seconds), midi
    except AudioError as exc:
        raise AudioError(f"{item.location}: {exc}") from exc


def excerpt(audio: np.ndarray, *, sample_rate: int, seconds: float | None, offset_seconds: float):
    """``audio[offset : offset + seconds]`` (whole signal from the offset when seconds is None)."""
    start = int(round(offset_seconds * sample_rate))
    stop = None if seconds is None else start + int(round(seconds * sample_rate))
    return audio[start:stop]
