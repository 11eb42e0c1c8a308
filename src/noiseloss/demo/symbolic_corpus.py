"""The corpus of ``demo-midi``: scores of the ``music21`` corpus exported to MIDI, as piano rolls.

Selection and split are pure functions of the corpus file names, the tune numbers of its ABC
files and a seed (SHA-256 ranks, ``noiseloss.demo.corpus.rank``), so the same music21 version
always gives the same pieces:

- held-in collections (the folk-tune collections in ABC, one work per tune, and the Bach
  chorales): per collection the pieces of lowest rank are chosen, and of those the 10 % (at
  least one) of lowest split rank are ``validation``, the rest ``train``;
- held-out composers (Mozart, Haydn, Beethoven, the Schumanns, Joplin, ...): every chosen piece
  is ``ood``.

Each work is parsed by music21 (an ABC tune by its number), exported to MIDI by music21
(repeats expanded, or played once through where music21 cannot expand them; 120 quarter notes
a minute where the score has no tempo), read back as
symbolic models read MIDI (``noiseloss.sources.midi.load_score``), every part put on program 0
of one instrument (a piano roll), cut to ``max_seconds`` and cached as a MIDI file.
"""

from __future__ import annotations

import copy
import math
import re
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from noiseloss.demo.corpus import corpus_root, rank

SPLITS = ("train", "validation", "ood")
SCORE_SUFFIXES = (".mxl", ".krn", ".xml", ".musicxml")
HELD_IN = {"essenFolksong": "Essen folksong collection (ABC)",
           "oneills1850": "O'Neill's Music of Ireland, 1850 (ABC)",
           "ryansMammoth": "Ryan's Mammoth Collection, 1883 (ABC)",
           "bach": "Johann Sebastian Bach (chorales)"}
HELD_OUT = {"mozart": "Wolfgang Amadeus Mozart", "haydn": "Joseph Haydn",
            "beethoven": "Ludwig van Beethoven", "schumann_robert": "Robert Schumann",
            "schumann_clara": "Clara Schumann", "joplin": "Scott Joplin",
            "chopin": "Frederic Chopin", "schubert": "Franz Schubert"}
VALIDATION_FRACTION = 0.1
LICENCE = ("public-domain composition; score encoding from the music21 corpus (distributed with "
           "music21, BSD-3-Clause); exported to MIDI by music21")


@dataclass(frozen=True)
class Piece:
    """One work of the corpus.

    Attributes:
        piece_id: ``collection/file`` without suffix, ``#number`` for a tune of an ABC file
            (``essenFolksong/han1#12``); unique.
        source: Path of the file inside the music21 corpus folder.
        number: The tune's number (``X:``) in an ABC file; None for a one-work file.
        collection: music21 collection or composer key.
        composer: Human-readable collection or composer.
        split: ``train``, ``validation`` or ``ood``.
    """

    piece_id: str
    source: str
    number: int | None
    collection: str
    composer: str
    split: str

    @property
    def file_stem(self) -> str:
        """The id as one file name (``essenFolksong__han1_12``)."""
        return self.piece_id.replace("/", "__").replace("#", "_")

    def record(self) -> dict:
        """Manifest fields (plus the licence)."""
        return {**asdict(self), "licence": LICENCE}


def works(collection: str) -> list[tuple[str, int | None]]:
    """``(source, number)`` of every work of a collection, sorted.

    An ABC file holds one tune per ``X:`` number (each number once); other files are one work.
    """
    from music21 import corpus

    root = corpus_root()
    found = []
    for path in corpus.getComposer(collection):
        source = str(Path(path).relative_to(root))
        if path.suffix == ".abc":
            text = Path(path).read_text(encoding="latin-1")
            numbers = sorted({int(n) for n in re.findall(r"^X:\s*(\d+)", text, re.M)})
            found += [(source, n) for n in numbers]
        elif path.suffix in SCORE_SUFFIXES:
            found.append((source, None))
    return sorted(found, key=lambda w: (w[0], -1 if w[1] is None else w[1]))


def select_pieces(*, seed: int, per_collection: dict[str, int]) -> list[Piece]:
    """Choose works and split them (deterministic in ``seed`` and the corpus).

    Args:
        seed: Salt of every hash-based choice.
        per_collection: Maximum works per collection (keys of ``HELD_IN`` or ``HELD_OUT``).

    Returns:
        Pieces sorted by id.
    """
    pieces = []
    for collection, count in sorted(per_collection.items()):
        held_in = collection in HELD_IN
        composer = HELD_IN.get(collection) or HELD_OUT[collection]
        ids = {}
        for source, number in works(collection):
            stem = str(Path(source).with_suffix(""))
            ids[stem if number is None else f"{stem}#{number}"] = (source, number)
        chosen = sorted(ids, key=lambda i: rank(i, seed=seed))[:count]
        by_split_rank = sorted(chosen, key=lambda i: rank("split:" + i, seed=seed))
        validation = set(by_split_rank[: math.ceil(VALIDATION_FRACTION * len(chosen))])
        for piece_id in chosen:
            split = ("validation" if piece_id in validation else "train") if held_in else "ood"
            pieces.append(Piece(piece_id=piece_id, source=ids[piece_id][0],
                                number=ids[piece_id][1], collection=collection,
                                composer=composer, split=split))
    return sorted(pieces, key=lambda p: p.piece_id)


def piano_roll(score):
    """One program-0 instrument holding every note of ``score`` (a ``pretty_midi.PrettyMIDI``).

    Notes keep their playback ``order`` (``load_score``); drum parts become pitched notes.
    """
    import pretty_midi

    out = pretty_midi.PrettyMIDI()
    inst = pretty_midi.Instrument(program=0, is_drum=False, name="piano roll")
    notes = [n for i in score.instruments for n in i.notes]
    inst.notes = sorted(notes, key=lambda n: (n.start, getattr(n, "order", 0)))
    if inst.notes:
        out.instruments.append(inst)
    return out


def export_piece(piece: Piece, path: Path, *, max_seconds: float) -> Path:
    """Parse, export and cut one work; write it as a one-instrument MIDI file at ``path``.

    Raises:
        Exception: Whatever music21 raises for a score it cannot parse or export, or
            ``ValueError`` for a work without notes (callers skip those).
    """
    from music21 import converter, repeat

    from noiseloss.sources.midi import cut_score, load_score

    score = converter.parse(corpus_root() / piece.source, number=piece.number) \
        if piece.number is not None else converter.parse(corpus_root() / piece.source)
    _unshare_signatures(score)
    with tempfile.TemporaryDirectory(prefix="noiseloss-m21-") as tmp:
        try:
            written = score.write("midi", fp=Path(tmp) / "score.mid")
        except repeat.ExpanderException:  # repeats music21 cannot expand: played once through
            _strip_repeats(score)
            written = score.write("midi", fp=Path(tmp) / "score.mid")
        midi = load_score(written)
    roll = piano_roll(cut_score(midi, offset_seconds=0.0, seconds=max_seconds))
    if not roll.instruments:
        raise ValueError("no notes")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    roll.write(str(partial))
    partial.rename(path)
    return path


def _unshare_signatures(score) -> None:
    """Copy time/key signatures and tempo marks that music21's ABC reader put in two measures.

    (One object in two places makes music21's MIDI export fail: "already found in this Stream".)
    """
    from music21 import key, meter, tempo

    seen = set()
    for stream in list(score.recurse(includeSelf=True).getElementsByClass("Stream")):
        for element in list(stream.getElementsByClass(
                (meter.TimeSignature, key.KeySignature, tempo.TempoIndication))):
            if id(element) in seen:
                stream.replace(element, copy.deepcopy(element))
            seen.add(id(element))


def _strip_repeats(score) -> None:
    """Make repeat barlines plain and drop repeat expressions and brackets (in place)."""
    from music21 import bar, repeat, spanner

    for measure in score.recurse().getElementsByClass("Measure"):
        for side in ("leftBarline", "rightBarline"):
            if isinstance(getattr(measure, side), bar.Repeat):
                setattr(measure, side, bar.Barline("regular"))
        for element in list(measure.getElementsByClass(repeat.RepeatExpression)):
            measure.remove(element)
    for stream in [score, *score.parts]:
        for bracket in list(stream.spannerBundle.getByClass(spanner.RepeatBracket)):
            stream.remove(bracket, recurse=True)


def _export_job(job: tuple[Piece, str, float]) -> tuple[str, str | None]:
    piece, path, max_seconds = job
    try:
        export_piece(piece, Path(path), max_seconds=max_seconds)
        return piece.piece_id, None
    except Exception as exc:  # music21 raises many types for scores it cannot export
        return piece.piece_id, f"{type(exc).__name__}: {str(exc)[:120]}"


def export_corpus(pieces: list[Piece], folder: Path, *, max_seconds: float, workers: int = 1,
                  log: Callable[[str], None] = print) -> tuple[list[Piece], dict[str, str]]:
    """Export every piece not yet in ``folder`` (``<file_stem>.mid``); skip those that fail.

    Failures are remembered in ``folder/failed.txt`` and not tried again.

    Returns:
        The pieces whose MIDI file exists and the failures (id -> reason).
    """
    folder.mkdir(parents=True, exist_ok=True)
    failed_file = folder / "failed.txt"
    failed = _failures(folder)
    todo = [(p, str(folder / f"{p.file_stem}.mid"), max_seconds) for p in pending(pieces, folder)]
    if todo:
        log(f"exporting {len(todo)} of {len(pieces)} works with music21 ({workers} process(es))")
    if workers > 1 and len(todo) > 1:
        import multiprocessing

        # fork: the workers need no re-import of the caller's main module (music21 only)
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        with multiprocessing.get_context(method).Pool(workers) as pool:
            results = pool.imap_unordered(_export_job, todo, chunksize=8)
            _collect(results, failed, failed_file, total=len(todo), log=log)
    else:
        _collect(map(_export_job, todo), failed, failed_file, total=len(todo), log=log)
    kept = [p for p in pieces if (folder / f"{p.file_stem}.mid").is_file()]
    return kept, {p.piece_id: failed[p.piece_id] for p in pieces if p.piece_id in failed}


def pending(pieces: list[Piece], folder: Path) -> list[Piece]:
    """The pieces ``export_corpus`` would try: neither exported nor failed before."""
    failed = _failures(folder)
    return [p for p in pieces
            if p.piece_id not in failed and not (folder / f"{p.file_stem}.mid").is_file()]


def _failures(folder: Path) -> dict[str, str]:
    path, failed = folder / "failed.txt", {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            piece_id, _, why = line.partition("\t")
            failed[piece_id] = why
    return failed


def _collect(results, failed: dict, failed_file: Path, *, total: int, log) -> None:
    with open(failed_file, "a", encoding="utf-8") as fh:
        for n, (piece_id, why) in enumerate(results):
            if why is not None:
                failed[piece_id] = why
                fh.write(f"{piece_id}\t{why}\n")
                fh.flush()
            if (n + 1) % 500 == 0:
                log(f"exported {n + 1}/{total}")


__all__ = ["HELD_IN", "HELD_OUT", "SPLITS", "Piece", "export_corpus", "export_piece", "pending",
           "select_pieces", "works"]
