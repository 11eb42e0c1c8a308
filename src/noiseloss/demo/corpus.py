"""The demo corpus: public-domain scores from the ``music21`` corpus rendered with FluidSynth.

Selection and split are pure functions of the corpus file names and a seed (SHA-256 ranks), so
the same music21 version always gives the same pieces:

- held-in collections (Bach chorales, Palestrina, Monteverdi madrigals): per collection, the
  10 % of pieces (at least one) with the lowest hash rank are ``validation``, the rest ``train``;
- held-out collections (Mozart, Haydn, Beethoven, ...): every piece is ``ood``;
- one General MIDI timbre (vibraphone) is held out: it is used only for ``ood`` pieces.

Each piece is rendered with a single GM program (every part is set to it), cut to
``max_seconds`` and normalised to ``TARGET_RMS_DB`` dBFS RMS (peak at most ``PEAK_LIMIT``).
"""

from __future__ import annotations

import hashlib
import math
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from noiseloss.errors import DependencyError

SPLITS = ("train", "validation", "ood")
SUFFIXES = (".mxl", ".krn", ".xml", ".musicxml")
HELD_IN = {"bach": "Johann Sebastian Bach (chorales)",
           "palestrina": "Giovanni Pierluigi da Palestrina",
           "monteverdi": "Claudio Monteverdi (madrigals)"}
HELD_OUT = {"mozart": "Wolfgang Amadeus Mozart", "haydn": "Joseph Haydn",
            "beethoven": "Ludwig van Beethoven", "corelli": "Arcangelo Corelli",
            "cpebach": "Carl Philipp Emanuel Bach", "handel": "George Frideric Handel",
            "schubert": "Franz Schubert", "weber": "Carl Maria von Weber",
            "schumann_robert": "Robert Schumann", "schumann_clara": "Clara Schumann",
            "chopin": "Frederic Chopin", "joplin": "Scott Joplin", "verdi": "Giuseppe Verdi",
            "beach": "Amy Beach", "liliuokalani": "Liliuokalani",
            "ciconia": "Johannes Ciconia", "luca": "Luca (Ars nova)",
            "lusitano": "Vicente Lusitano", "trecento": "Italian trecento (14th century)"}
# General MIDI programs (0-based). The held-out timbre never appears in train or validation.
PROGRAMS = {0: "Acoustic Grand Piano", 6: "Harpsichord", 19: "Church Organ",
            24: "Acoustic Guitar (nylon)", 48: "String Ensemble 1", 71: "Clarinet"}
HELD_OUT_PROGRAMS = {11: "Vibraphone"}
VALIDATION_FRACTION = 0.1
TARGET_RMS_DB = -20.0
PEAK_LIMIT = 0.95
LICENCE = ("public-domain composition; score encoding from the music21 corpus (distributed with "
           "music21, BSD-3-Clause); rendered with FluidR3_GM (MIT licence)")


@dataclass(frozen=True)
class Piece:
    """One score of the corpus and how it is rendered.

    Attributes:
        piece_id: Corpus path without suffix (``bach/bwv1.6``), unique.
        source: Path of the score inside the music21 corpus folder.
        collection: music21 composer/collection key (``bach``).
        composer: Human-readable composer or collection.
        split: ``train``, ``validation`` or ``ood``.
        program: General MIDI program (0-based) of every part.
        instrument: Name of the program.
    """

    piece_id: str
    source: str
    collection: str
    composer: str
    split: str
    program: int
    instrument: str

    def record(self) -> dict:
        """Manifest fields (plus the licence)."""
        return {**asdict(self), "licence": LICENCE}


def rank(key: str, *, seed: int) -> float:
    """Deterministic pseudo-random number in [0, 1) for ``key`` (SHA-256 of seed and key)."""
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def corpus_root() -> Path:
    """The folder of music21's bundled corpus."""
    try:
        import music21.corpus
    except ImportError as exc:
        raise DependencyError("the demo corpus needs music21: pip install 'noiseloss[perturb]'") \
            from exc
    return Path(music21.corpus.__file__).parent


def select_pieces(*, seed: int, per_collection: dict[str, int]) -> list[Piece]:
    """Choose pieces and split them (deterministic in ``seed`` and the corpus file list).

    Args:
        seed: Salt of every hash-based choice.
        per_collection: Maximum pieces per music21 collection key (keys from ``HELD_IN`` or
            ``HELD_OUT``).

    Returns:
        Pieces sorted by id.
    """
    from music21 import corpus

    root = corpus_root()
    train_programs = sorted(PROGRAMS)
    # ood: half of the pieces get the held-out timbre, the rest one of the training timbres
    ood_programs = sorted(PROGRAMS) + sorted(HELD_OUT_PROGRAMS) * len(PROGRAMS)
    pieces = []
    for collection, count in sorted(per_collection.items()):
        held_in = collection in HELD_IN
        composer = HELD_IN.get(collection) or HELD_OUT[collection]
        paths = [p for p in corpus.getComposer(collection) if p.suffix in SUFFIXES]
        paths.sort(key=lambda p: rank(str(p.relative_to(root)), seed=seed))
        chosen = [str(p.relative_to(root)) for p in paths[:count]]
        # held-in: the ceil(10 %) pieces of lowest split rank are validation (at least one)
        by_split_rank = sorted(chosen, key=lambda s: rank("split:" + s, seed=seed))
        validation = set(by_split_rank[: math.ceil(VALIDATION_FRACTION * len(chosen))])
        for source in chosen:
            if held_in:
                split = "validation" if source in validation else "train"
                choices = train_programs
            else:
                split, choices = "ood", ood_programs
            program = choices[int(rank("program:" + source, seed=seed) * len(choices))]
            pieces.append(Piece(
                piece_id=str(Path(source).with_suffix("")), source=source, collection=collection,
                composer=composer, split=split, program=program,
                instrument={**PROGRAMS, **HELD_OUT_PROGRAMS}[program]))
    return sorted(pieces, key=lambda p: p.piece_id)


def render_piece(piece: Piece, *, sample_rate: int, max_seconds: float) -> np.ndarray:
    """Render a piece to mono float32 ``[samples]`` at ``sample_rate``, cut and normalised.

    Raises:
        Exception: Whatever music21 raises for a score it cannot export (callers skip those).
    """
    import pretty_midi
    from music21 import converter

    from noiseloss.sources.midi import render_midi

    score = converter.parse(corpus_root() / piece.source)
    with tempfile.TemporaryDirectory(prefix="noiseloss-corpus-") as tmp:
        midi_path = score.write("midi", fp=Path(tmp) / "score.mid")
        midi = pretty_midi.PrettyMIDI(str(midi_path))
    for inst in midi.instruments:
        inst.program, inst.is_drum = piece.program, False
        inst.notes = [n for n in inst.notes if n.start < max_seconds]
        for note in inst.notes:
            note.end = min(note.end, max_seconds)
        inst.control_changes = [c for c in inst.control_changes if c.time < max_seconds]
    audio = render_midi(midi, sample_rate=sample_rate)[: int(max_seconds * sample_rate)]
    return normalise(audio)


def normalise(audio: np.ndarray) -> np.ndarray:
    """Scale to ``TARGET_RMS_DB`` dBFS RMS, or less if the peak would exceed ``PEAK_LIMIT``."""
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))
    peak = float(np.max(np.abs(audio)))
    if rms == 0.0:
        return audio.astype(np.float32)
    gain = min(10 ** (TARGET_RMS_DB / 20) / rms, PEAK_LIMIT / peak)
    return (audio * gain).astype(np.float32)
