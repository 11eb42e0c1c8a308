"""Audio input: read any soundfile-supported file, downmix to mono (or keep stereo), resample."""

from __future__ import annotations

import errno
from pathlib import Path

import numpy as np

from noiseloss.errors import AudioError, ParameterError

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif")


def to_mono(audio: np.ndarray) -> np.ndarray:
    """Average channels: ``[samples]`` or ``[samples, channels]`` -> float32 ``[samples]``."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 2:
        if audio.shape[1] > max(audio.shape[0], 2):
            raise ParameterError(
                f"audio must be [samples, channels], got shape {audio.shape} (more channels than "
                f"samples: pass audio.T if it is [channels, samples])")
        audio = audio.mean(axis=1, dtype=np.float32)
    elif audio.ndim != 1:
        raise ParameterError(f"audio must be [samples] or [samples, channels], got shape {audio.shape}")
    return audio


def to_stereo(audio: np.ndarray) -> np.ndarray:
    """float32 ``[2, samples]`` from ``[2, samples]``, ``[samples, 2]`` or mono (duplicated)."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 2 and audio.shape[1] == 1:
        audio = audio[:, 0]
    if audio.ndim == 1:
        return np.stack([audio, audio])
    if audio.ndim == 2 and audio.shape[0] == 2:
        return audio
    if audio.ndim == 2 and audio.shape[1] == 2:
        return np.ascontiguousarray(audio.T)
    raise ParameterError(f"stereo audio must be [2, samples] or [samples, 2], got {audio.shape}")


def resample(audio: np.ndarray, *, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample float32 ``[samples]`` or ``[channels, samples]`` (soxr, very high quality)."""
    if orig_sr == target_sr:
        return audio
    import soxr

    if audio.ndim == 2:
        return np.stack([resample(c, orig_sr=orig_sr, target_sr=target_sr) for c in audio])
    return soxr.resample(audio, orig_sr, target_sr, quality="VHQ").astype(np.float32)


def validate_audio(audio: np.ndarray, *, sample_rate: int, min_samples: int = 1, name: str = "audio"):
    """Check a mono float signal; raise ``AudioError`` naming ``name`` and the reason."""
    if audio.size == 0:
        raise AudioError(f"{name}: audio is empty (0 samples)")
    if not np.all(np.isfinite(audio)):
        bad = int(np.count_nonzero(~np.isfinite(audio)))
        raise AudioError(f"{name}: audio has {bad} non-finite samples (NaN or inf)")
    if audio.shape[-1] < min_samples:
        raise AudioError(
            f"{name}: audio too short: {audio.shape[-1]} samples at {sample_rate} Hz, "
            f"need at least {min_samples} samples ({min_samples / sample_rate:.3f} s)"
        )


#: Lowest sample rate a file may declare: below it a file is not audio (a 4 kB file declaring
#: 1 Hz would be hours of signal once resampled).
MIN_SAMPLE_RATE = 1000

#: Extra seconds read past ``max_seconds``, so that resampling the cut equals resampling the
#: whole file on every kept sample (soxr's filter spans milliseconds).
READ_MARGIN_SECONDS = 1.0


def not_a_file(path: Path) -> str:
    """Why ``path`` cannot be read as a file: missing, a folder, a dangling link or a link loop."""
    try:
        path.stat()
    except OSError as exc:
        if path.is_symlink():
            return "symbolic link loop" if exc.errno == errno.ELOOP else "dangling symbolic link"
        return "no such file"
    return "a folder, not a file" if path.is_dir() else "not a regular file"


def load_audio(
    path: str | Path, *, sample_rate: int, min_samples: int = 1, channels: int = 1,
    max_seconds: float | None = None,
) -> np.ndarray:
    """Read an audio file as mono float32 ``[samples]`` (or ``[2, samples]``) at ``sample_rate``.

    Args:
        path: wav/flac/ogg/mp3 (anything libsndfile reads).
        sample_rate: Target rate in Hz; the file is resampled with soxr when it differs.
        min_samples: Minimum length after resampling, in samples.
        channels: 1: downmix to mono; 2: stereo (a mono file is duplicated).
        max_seconds: Read only the first seconds that are used (plus ``READ_MARGIN_SECONDS``);
            the rest of a long file is never decoded or resampled. None: the whole file.

    Raises:
        AudioError: The file is missing, unreadable, empty, non-finite, too short or declares
            a sample rate below ``MIN_SAMPLE_RATE``.
    """
    import soundfile as sf

    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: {not_a_file(path)}")
    try:
        declared = sf.info(str(path)).samplerate
        if declared < MIN_SAMPLE_RATE:
            raise AudioError(f"{path}: declares a sample rate of {declared} Hz, below "
                             f"{MIN_SAMPLE_RATE} Hz: not audio")
        frames = -1 if max_seconds is None else int(
            np.ceil((max_seconds + READ_MARGIN_SECONDS) * declared))
        data, orig_sr = sf.read(str(path), frames=frames, dtype="float32", always_2d=True)
    except AudioError:
        raise
    except Exception as exc:  # libsndfile raises several types; all mean "unreadable"
        raise AudioError(f"{path}: cannot read audio ({exc})") from exc
    if channels == 2 and data.shape[1] > 2:
        raise AudioError(f"{path}: {data.shape[1]} channels; a stereo model takes 1 or 2")
    audio = to_stereo(data) if channels == 2 else to_mono(data)
    validate_audio(audio, sample_rate=orig_sr, name=str(path))
    audio = resample(audio, orig_sr=int(orig_sr), target_sr=sample_rate)
    validate_audio(audio, sample_rate=sample_rate, min_samples=min_samples, name=str(path))
    return audio


def write_audio(path: str | Path, audio: np.ndarray, *, sample_rate: int) -> Path:
    """Write mono float32 audio; the format follows the suffix (wav: float32, flac/ogg: 16-bit)."""
    import soundfile as sf

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    subtype = "FLOAT" if path.suffix.lower() == ".wav" else None
    sf.write(str(path), np.asarray(audio, dtype=np.float32), sample_rate, subtype=subtype)
    return path
