"""MIDI -> audio rendering with FluidSynth and a General MIDI soundfont."""

from __future__ import annotations

import functools
import math
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from noiseloss.errors import AudioError, DependencyError, ParameterError

MIDI_EXTENSIONS = (".mid", ".midi")

# Debian's General MIDI soundfonts, in order of preference (installed by the Makefile).
SOUNDFONT_CANDIDATES = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/TimGM6mb.sf2",
    "/usr/share/sounds/sf3/MuseScore_General.sf3",
)


# Bump when ``render_midi`` changes its output for the same score (2: float samples, no clipping).
RENDER_VERSION = 2


@functools.lru_cache(maxsize=1)
def renderer_identity() -> str:
    """What rendered audio depends on besides the score: this code, FluidSynth, the soundfont.

    Part of the content hash of MIDI and music21 items, so stored results of a run are not
    reused after any of them changes.
    """
    exe = shutil.which("fluidsynth")
    version = "fluidsynth missing"
    if exe is not None:
        proc = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False)
        version = (proc.stdout.strip().splitlines() or ["fluidsynth ?"])[0]
    try:
        font = find_soundfont()
        font_id = f"{font.name}:{font.stat().st_size}"
    except DependencyError:
        font_id = "soundfont missing"
    return f"render={RENDER_VERSION}; {version}; {font_id}"


def find_soundfont(soundfont: str | Path | None = None) -> Path:
    """Return a usable soundfont: the argument, else ``$NOISELOSS_SOUNDFONT``, else a Debian default.

    Raises:
        DependencyError: The given soundfont does not exist, or none is installed.
    """
    if soundfont is not None:
        if not Path(soundfont).is_file():
            raise DependencyError(f"soundfont {soundfont} does not exist")
        return Path(soundfont)
    for cand in (os.environ.get("NOISELOSS_SOUNDFONT"), *SOUNDFONT_CANDIDATES):
        if cand and Path(cand).is_file():
            return Path(cand)
    raise DependencyError(
        "no General MIDI soundfont found (looked in $NOISELOSS_SOUNDFONT and "
        f"{', '.join(SOUNDFONT_CANDIDATES)}); install one with "
        "`apt-get install fluid-soundfont-gm` or pass soundfont=PATH"
    )


def load_midi(path: str | Path):
    """Read a standard MIDI file as a ``pretty_midi.PrettyMIDI``.

    Raises:
        AudioError: The file is missing or is not a readable MIDI file.
    """
    import pretty_midi

    from noiseloss.sources.audio import not_a_file

    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: {not_a_file(path)}")
    try:
        return pretty_midi.PrettyMIDI(str(path))
    except Exception as exc:  # mido/pretty_midi raise several types; all mean "unreadable"
        raise AudioError(f"{path}: cannot read MIDI ({exc})") from exc


#: Length given to a note that is switched on and never off, seconds (the AMT authors' rule).
UNCLOSED_NOTE_SECONDS = 0.25

#: General MIDI channel of the drums (0-based); symbolic models call their instrument 128.
DRUM_CHANNEL = 9


def load_score(path: str | Path):
    """A MIDI file's notes as symbolic models read them: a ``pretty_midi.PrettyMIDI``.

    The file is played back with ``mido`` (tracks merged in time order, times in seconds,
    tempo changes applied), as the Anticipatory Music Transformer's authors read MIDI: a note-on
    with velocity > 0 starts a note on its channel's current program (channel 10 is drums,
    ``is_drum``), the first open note of the same (program, pitch, channel) that a note-off
    (or a note-on with velocity 0) finds is closed (first in, first out), and a note never
    closed lasts ``UNCLOSED_NOTE_SECONDS``. Each note's ``order`` attribute is its place in
    playback, so that notes starting together keep the file's order. Controllers, pitch bends
    and lyrics are not read. One instrument per (program, drums) in order of first note.

    Raises:
        AudioError: The file is missing or unreadable, or is a type-2 (asynchronous) MIDI file.
    """
    import mido
    import pretty_midi

    from noiseloss.sources.audio import not_a_file

    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: {not_a_file(path)}")
    try:
        messages = list(mido.MidiFile(str(path)))
    except Exception as exc:  # mido raises several types; all mean "unreadable"
        raise AudioError(f"{path}: cannot read MIDI ({exc})") from exc
    time, programs, notes, open_notes = 0.0, {}, [], {}
    for msg in messages:
        time += msg.time
        if msg.type == "program_change":
            programs[msg.channel] = msg.program
        elif msg.type in ("note_on", "note_off"):
            program = 128 if msg.channel == DRUM_CHANNEL else programs.get(msg.channel, 0)
            key = (program, msg.note, msg.channel)
            if msg.type == "note_on" and msg.velocity > 0:
                open_notes.setdefault(key, []).append(len(notes))
                notes.append([time, None, msg.note, msg.velocity, program])
            elif open_notes.get(key):
                notes[open_notes[key].pop(0)][1] = time
    score = pretty_midi.PrettyMIDI()
    instruments = {}
    for order, (start, end, pitch, velocity, program) in enumerate(notes):
        if program not in instruments:
            instruments[program] = pretty_midi.Instrument(program=program % 128,
                                                          is_drum=program == 128)
            score.instruments.append(instruments[program])
        note = pretty_midi.Note(velocity=velocity, pitch=pitch, start=start,
                                end=start + UNCLOSED_NOTE_SECONDS if end is None else end)
        note.order = order
        instruments[program].notes.append(note)
    return score


def cut_score(midi, *, offset_seconds: float, seconds: float | None):
    """The notes of ``midi`` with onsets in ``[offset, offset + seconds)``, moved to start at 0.

    A symbolic model's excerpt: notes that start before the offset are left out, notes that
    sound past the end are cut there; controllers, pitch bends and tempo changes are not kept
    (note times are already in seconds); notes keep their playback ``order`` (``load_score``).
    ``seconds`` None: to the end.

    Returns:
        A new ``pretty_midi.PrettyMIDI``; instruments without a note in the excerpt are dropped.
    """
    import pretty_midi

    end = math.inf if seconds is None else offset_seconds + seconds
    out = pretty_midi.PrettyMIDI()
    for inst in midi.instruments:
        kept = pretty_midi.Instrument(program=inst.program, is_drum=inst.is_drum, name=inst.name)
        for n in inst.notes:
            if offset_seconds <= n.start < end:
                note = pretty_midi.Note(velocity=n.velocity, pitch=n.pitch,
                                        start=n.start - offset_seconds,
                                        end=min(n.end, end) - offset_seconds)
                if hasattr(n, "order"):
                    note.order = n.order
                kept.notes.append(note)
        if kept.notes:
            out.instruments.append(kept)
    return out


def render_midi(
    midi,
    *,
    sample_rate: int = 32000,
    soundfont: str | Path | None = None,
    gain: float = 0.5,
    duration_seconds: float | None = None,
    max_seconds: float | None = None,
) -> np.ndarray:
    """Render MIDI to mono float32 ``[samples]`` at ``sample_rate`` Hz with the FluidSynth program.

    FluidSynth streams raw float samples (never clipped) and is stopped once it has produced
    exactly ``round(duration_seconds * sample_rate)`` samples, by default the MIDI's end time,
    so the audio lines up with the score; a shorter render is zero-padded. Stopping it matters:
    a note that is switched on and never off (a sustained timbre) would make FluidSynth render
    forever.

    Args:
        midi: A path to a ``.mid`` file or a ``pretty_midi.PrettyMIDI`` object.
        sample_rate: Output rate in Hz, 8000-96000 (FluidSynth renders at this rate directly).
        soundfont: A ``.sf2``/``.sf3`` file; see ``find_soundfont`` for the default.
        gain: FluidSynth master gain (0-10); 0.5 leaves headroom for dense chords.
        duration_seconds: Output length in seconds; None: the MIDI's end time.
        max_seconds: With ``duration_seconds`` None, render at most this much (what an excerpt
            uses): a score holding one note for hours costs only the seconds needed.

    Raises:
        DependencyError: ``fluidsynth`` or a soundfont is missing, or FluidSynth fails.
        AudioError: The MIDI file cannot be read or has no events.
    """
    exe = shutil.which("fluidsynth")
    if exe is None:
        raise DependencyError(
            "the `fluidsynth` program is not installed; install it with `apt-get install "
            "fluidsynth fluid-soundfont-gm` (Debian/Ubuntu) or `make system`"
        )
    if not 8000 <= sample_rate <= 96000:
        raise ParameterError(f"sample_rate must be in [8000, 96000] Hz, got {sample_rate!r}")
    if not 0 < gain <= 10:
        raise ParameterError(f"gain must be in (0, 10], got {gain!r}")
    if duration_seconds is not None and not duration_seconds > 0:
        raise ParameterError(f"duration_seconds must be > 0 or None, got {duration_seconds!r}")
    sf2 = find_soundfont(soundfont)
    score = load_midi(midi) if isinstance(midi, (str, Path)) else midi
    if duration_seconds is None:
        duration_seconds = score.get_end_time()
        if duration_seconds <= 0:
            where = f"{midi}: " if isinstance(midi, (str, Path)) else ""
            raise AudioError(f"{where}no notes or events to render (the score ends at 0 s)")
        if max_seconds is not None:
            duration_seconds = min(duration_seconds, max_seconds)
    num_samples = round(duration_seconds * sample_rate)
    with tempfile.TemporaryDirectory(prefix="noiseloss-render-") as tmp:
        if isinstance(midi, (str, Path)):
            mid_path = Path(midi)  # render the file itself, not a pretty_midi rewrite of it
        else:
            mid_path = Path(tmp) / "in.mid"
            midi.write(str(mid_path))
        cmd = [exe, "-ni", "-q", "-g", str(gain), "-r", str(sample_rate), "-T", "raw",
               "-O", "float", "-E", "little", "-F", "-", str(sf2), str(mid_path)]
        with open(Path(tmp) / "stderr.txt", "w+b") as err:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err)
            wanted = num_samples * 2 * 4  # stereo float32
            raw = proc.stdout.read(wanted)
            if len(raw) < wanted:  # end of output: FluidSynth stopped by itself
                try:
                    code = proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                    raise DependencyError("fluidsynth closed its output but did not exit "
                                          "within 60 s") from None
            else:  # enough: stop it (a note never switched off would render forever)
                proc.kill()
                proc.wait()
                code = 0
            proc.stdout.close()
            err.seek(0)
            message = err.read().decode(errors="replace").strip()
    if code != 0 or not raw:
        what = midi if isinstance(midi, (str, Path)) else "the MIDI"
        if code == 0 and not message:
            raise AudioError(f"{what}: rendered silence: FluidSynth wrote no audio (the file "
                             "has no notes that sound, or its tempo puts them beyond the end)")
        why = f"exit code {code}" if code != 0 else "no audio written"
        raise DependencyError(f"fluidsynth failed on {what} ({why}): {message[:500]}")
    audio = np.frombuffer(raw[: len(raw) - len(raw) % 8], dtype="<f4").reshape(-1, 2)
    audio = audio.mean(axis=1, dtype=np.float32)
    if audio.shape[0] < num_samples:
        audio = np.concatenate([audio, np.zeros(num_samples - audio.shape[0], np.float32)])
    return audio
