"""Audio input: read any soundfile-supported file, downmix to mono (or keep stereo), resample."""

from __future__ import annotations

import errno
import functools
import math
from pathlib import Path

import numpy as np

from noiseloss.errors import AudioError, ParameterError, check_choice

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


#: Resamplers by name: how audio at another rate is brought to a model's rate. A tokenizer names
#: the one its model's own pipeline uses (``AudioTokenizer.resampler``), so that a file not at
#: the model's rate reaches the codec as it does there.
#:
#: ``soxr``: libsoxr, very high quality (the default).
#: ``torchaudio``: what ``torchaudio.transforms.Resample(orig, new)`` gives with its defaults
#: (``sinc_resample``: written here, torchaudio is not needed; torch is).
RESAMPLERS = ("soxr", "torchaudio")

#: ``torchaudio.transforms.Resample``'s defaults: the filter reaches 6 zero crossings of its sinc
#: on each side (``lowpass_filter_width``), its cutoff is 0.99 of the lower Nyquist frequency.
SINC_ZERO_CROSSINGS = 6
SINC_ROLLOFF = 0.99


def resample(audio: np.ndarray, *, orig_sr: int, target_sr: int,
             resampler: str = "soxr") -> np.ndarray:
    """Resample float32 ``[samples]`` or ``[channels, samples]`` with one of ``RESAMPLERS``."""
    check_choice("resampler", resampler, RESAMPLERS)
    if orig_sr == target_sr:
        return audio
    if resampler == "torchaudio":
        return sinc_resample(audio, orig_sr=orig_sr, target_sr=target_sr)
    import soxr

    if audio.ndim == 2:
        return np.stack([resample(c, orig_sr=orig_sr, target_sr=target_sr) for c in audio])
    return soxr.resample(audio, orig_sr, target_sr, quality="VHQ").astype(np.float32)


@functools.lru_cache(maxsize=8)
def polyphase_kernel(down: int, up: int, *, zero_crossings: int = SINC_ZERO_CROSSINGS,
                     rolloff: float = SINC_ROLLOFF):
    """``(kernel, half)``: the float32 filters ``[up, 1, 2 half + down]`` of ``sinc_resample``.

    ``down`` and ``up`` are the input and output rates divided by their gcd. Time is counted in
    units of ``1 / gcd`` seconds, in which an input sample lasts ``1 / down`` and an output
    sample ``1 / up``. Tap ``m`` of phase ``p`` weighs the input sample at ``m - half`` from the
    start of a block for the block's output ``p``, a distance ``tau = (m - half) / down - p / up``
    away; with the cutoff ``f = rolloff * min(down, up)`` and ``x = f * tau`` clipped to
    ``[-W, W]`` (``W = zero_crossings``)::

        kernel[p, 0, m] = sin(pi x) / (pi x) * cos(pi x / 2W) ** 2 * f / down    (sinc(0) = 1)

    a sinc low-pass under a Hann window that ends at its ``W``-th zero crossing, scaled to unit
    gain; ``half = ceil(W * down / f)`` input samples reach that far. As torchaudio builds it, the
    phase ``p / up`` is rounded to float32 (its default dtype), the rest is float64 and the
    kernel is rounded to float32 at the end.
    """
    import torch

    cutoff = min(down, up) * rolloff
    half = math.ceil(zero_crossings * down / cutoff)
    phase = torch.arange(up, dtype=torch.float32) / up
    offset = torch.arange(-half, half + down, dtype=torch.float64) / down
    x = ((offset[None, :] - phase[:, None]) * cutoff).clamp(-zero_crossings, zero_crossings)
    window = torch.cos(x * math.pi / zero_crossings / 2) ** 2
    arg = x * math.pi
    sinc = torch.where(arg == 0, torch.ones_like(arg), torch.sin(arg) / arg)
    return (sinc * (window * (cutoff / down))).to(torch.float32)[:, None, :], half


def sinc_resample(audio: np.ndarray, *, orig_sr: int, target_sr: int) -> np.ndarray:
    """Windowed-sinc resampling as ``torchaudio.transforms.Resample(orig_sr, target_sr)`` does.

    Its defaults: a Hann-windowed sinc (``sinc_interp_hann``) of 6 zero crossings each side,
    cutoff at 0.99 of the lower Nyquist frequency (``polyphase_kernel``). With both rates
    divided by their gcd, ``down`` input samples last as long as ``up`` output samples, and each
    block of ``up`` outputs reads the same ``up`` filters, one per phase, from its block of
    ``down`` inputs: a convolution of stride ``down``. The output has
    ``ceil(up * samples / down)`` samples, the ratio rounded to float32 before the ceiling as
    torchaudio does (past a few million output samples that can be one short of the exact
    ceiling).

    Args:
        audio: float32 ``[samples]`` or ``[channels, samples]``; channels are resampled apart.
        orig_sr: Its rate in Hz.
        target_sr: The rate in Hz to resample to.

    Returns:
        float32 of the same leading shape: torchaudio's output to float32 rounding
        (``tests/test_resample.py`` measures it against torchaudio's own).
    """
    import torch
    import torch.nn.functional as F

    audio = np.asarray(audio, dtype=np.float32)
    gcd = math.gcd(int(orig_sr), int(target_sr))
    down, up = int(orig_sr) // gcd, int(target_sr) // gcd
    kernel, half = polyphase_kernel(down, up)
    signal = torch.from_numpy(np.require(audio.reshape(-1, audio.shape[-1]), requirements="CW"))
    # Block n is the inputs x[n*down] .. x[n*down + down - 1]; its taps reach `half` samples
    # further on each side. Padded with `half` zeros in front, x[i] moves to padded[i + half], so
    # block n's taps start at padded[n*down] and a convolution of stride `down` reads them:
    #
    #   padded    | half zeros | x[0] x[1] ........ x[S-1] | half + down zeros |
    #   block n   taps padded[n*down .. n*down + 2 half + down - 1]
    #             = x[n*down - half .. n*down + down - 1 + half]
    #   output n*up + p  = sum_m kernel[p, 0, m] * padded[n*down + m]          (p = 0 .. up - 1)
    #
    # The zeros at the end hold one block more than the taps need, so that the last, partial
    # block has outputs too; outputs past the length are cut.
    padded = F.pad(signal, (half, half + down))
    with torch.inference_mode():
        out = F.conv1d(padded[:, None], kernel, stride=down)  # [channels, up, blocks]
    out = out.transpose(1, 2).reshape(signal.shape[0], -1)  # block by block, phases in order
    length = math.ceil(np.float32(up * audio.shape[-1] / down))
    return out[:, :length].numpy().reshape(*audio.shape[:-1], -1)


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
#: whole file on every kept sample (the filters of ``RESAMPLERS`` span milliseconds).
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
    max_seconds: float | None = None, resampler: str = "soxr",
) -> np.ndarray:
    """Read an audio file as mono float32 ``[samples]`` (or ``[2, samples]``) at ``sample_rate``.

    Args:
        path: wav/flac/ogg/mp3 (anything libsndfile reads).
        sample_rate: Target rate in Hz; the file is resampled when it differs.
        min_samples: Minimum length after resampling, in samples.
        channels: 1: downmix to mono; 2: stereo (a mono file is duplicated).
        max_seconds: Read only the first seconds that are used (plus ``READ_MARGIN_SECONDS``);
            the rest of a long file is never decoded or resampled. None: the whole file.
        resampler: One of ``RESAMPLERS``, after the downmix (the model's: its tokenizer's
            ``resampler``).

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
    audio = resample(audio, orig_sr=int(orig_sr), target_sr=sample_rate, resampler=resampler)
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
