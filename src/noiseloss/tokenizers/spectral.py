"""Spectral residual vector quantiser: log-mel frames at 50 frames/s, K residual k-means codebooks.

The built-in demo model's tokenizer (``noiseloss.models.demo``). Frame ``t`` is the Hann-windowed STFT
(``n_fft`` samples) centred on sample ``t * hop_length``; a signal of ``n`` samples gives
``T = ceil(n / hop_length)`` frames (the signal is zero-padded at both ends)::

    samples  |----hop----|----hop----|----hop--|      n = 2.6 hops
    centres  ^ t=0       ^ t=1       ^ t=2             T = ceil(2.6) = 3

Each frame's log-mel vector ``f`` is quantised in ``K`` residual stages: stage ``k`` picks the
nearest centroid of codebook ``k`` to the residual left by stages ``0 .. k-1``; the code of
stage ``k`` is codebook ``k`` of the MusicGen layout. ``decode`` sums the centroids, inverts the
mel filterbank by least squares and recovers a phase with fast Griffin-Lim; it is approximate and
meant for listening only.

k-means is ``scipy.cluster.vq.kmeans2``; the mel filterbank is ``transformers.audio_utils``;
the STFT frames and its inverse are ``scipy.signal.ShortTimeFFT``'s. Griffin-Lim (with Perraudin's
momentum) is written out here because no kept dependency of the package provides it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from noiseloss.errors import ModelLoadError, ParameterError, check_range
from noiseloss.tokenizers.base import AudioTokenizer

PARAMS_FILE = "spectral_tokenizer.json"
CODEBOOKS_FILE = "codebooks.npy"
FORMAT_VERSION = 1
PARAM_KEYS = ("sample_rate", "hop_length", "n_fft", "f_min_hz", "f_max_hz", "floor_power")


class SpectralTokenizer(AudioTokenizer):
    """Log-mel residual VQ tokenizer (32 kHz, hop 640 -> 50 frames/s by default).

    Args:
        codebooks: float32 ``[K, C, n_mels]`` centroids of the K residual stages (C = codebook size).
        sample_rate: Audio rate in Hz.
        hop_length: Samples between frame centres.
        n_fft: STFT window and FFT length in samples.
        f_min_hz: Lowest mel band edge in Hz.
        f_max_hz: Highest mel band edge in Hz.
        floor_power: Added to the mel power before the log (sets the silence level).
    """

    name = "spectral-rvq"

    def __init__(self, codebooks: np.ndarray, *, sample_rate: int = 32000, hop_length: int = 640,
                 n_fft: int = 2048, f_min_hz: float = 20.0, f_max_hz: float = 16000.0,
                 floor_power: float = 1e-8):
        codebooks = np.asarray(codebooks, dtype=np.float32)
        if codebooks.ndim != 3 or min(codebooks.shape) < 1:
            raise ParameterError(f"codebooks must be [K, C, n_mels], got shape {codebooks.shape}")
        check_range("f_max_hz", f_max_hz, low=f_min_hz, high=sample_rate / 2, low_open=True)
        check_range("n_fft", n_fft, low=hop_length)
        self.codebooks = codebooks
        self.sample_rate = int(sample_rate)
        self.hop_length = int(hop_length)
        self.n_fft = int(n_fft)
        self.f_min_hz = float(f_min_hz)
        self.f_max_hz = float(f_max_hz)
        self.floor_power = float(floor_power)
        self.num_codebooks, self.codebook_size, self.n_mels = map(int, codebooks.shape)
        self._stft = _make_stft(self.n_fft, self.hop_length, self.sample_rate)
        self._mel = _mel_filterbank(self.n_fft, self.n_mels, self.f_min_hz, self.f_max_hz,
                                    self.sample_rate)

    # -- analysis -------------------------------------------------------------------------------
    def log_mel(self, audio: np.ndarray, *, first_frame: int = 0) -> np.ndarray:
        """Log-mel features float32 ``[T, n_mels]`` (natural log of power) of mono ``[samples]``.

        The frames of ``ShortTimeFFT`` (window centred on ``t * hop_length``, zeros outside the
        signal) in one strided view and one batched real FFT: the same power spectrum, bit for
        bit, without ShortTimeFFT's per-slice overhead. ``first_frame``: only frames from it on.
        """
        import scipy.fft
        from numpy.lib.stride_tricks import sliding_window_view

        audio = np.asarray(audio, dtype=np.float64)
        frames = self.num_frames(audio.shape[-1])
        padded = np.pad(audio, (self._stft.m_num_mid, self.n_fft))
        windows = sliding_window_view(padded, self.n_fft)[:: self.hop_length][first_frame:frames]
        power = np.abs(scipy.fft.rfft(windows * self._stft.win, axis=-1)) ** 2  # [T, F]
        return np.log(power @ self._mel.T + self.floor_power).astype(np.float32)

    def quantize(self, features: np.ndarray) -> np.ndarray:
        """Residual codes int64 ``[K, T]`` of log-mel features ``[T, n_mels]``."""
        from scipy.cluster.vq import vq

        residual = np.array(features, dtype=np.float32)
        codes = np.empty((self.num_codebooks, residual.shape[0]), dtype=np.int64)
        for k, book in enumerate(self.codebooks):
            codes[k] = vq(residual, book, check_finite=False)[0]
            residual -= book[codes[k]]
        return codes

    def dequantize(self, codes: np.ndarray) -> np.ndarray:
        """Log-mel features float32 ``[T, n_mels]``: the sum of the chosen centroids."""
        codes = np.asarray(codes)
        if codes.ndim != 2 or codes.shape[0] != self.num_codebooks:
            raise ParameterError(f"codes must be [K={self.num_codebooks}, T], got {codes.shape}")
        if codes.size and (codes.min() < 0 or codes.max() >= self.codebook_size):
            raise ParameterError(
                f"codes must be in [0, {self.codebook_size}), got [{codes.min()}, {codes.max()}]")
        return sum(book[row] for book, row in zip(self.codebooks, codes, strict=True))

    def _encode(self, audio: np.ndarray) -> np.ndarray:
        return self.quantize(self.log_mel(audio))

    def _encode_reference(self, audio: np.ndarray) -> tuple[np.ndarray, object]:
        return self._encode(audio), "frames"  # each frame reads its own window only

    def _encode_variants(self, audios, *, firsts, reference) -> list[np.ndarray]:
        out = []
        for audio, first in zip(audios, firsts, strict=True):
            # frame t reads samples [t hop - n_fft / 2, t hop + n_fft / 2)
            frame = max(0, (first + self._stft.m_num_mid - self.n_fft) // self.hop_length + 1)
            out.append(np.concatenate([reference.tokens.ids[:, :frame], self.quantize(
                self.log_mel(audio, first_frame=frame))], axis=1))
        return out

    # -- synthesis ------------------------------------------------------------------------------
    def decode(self, codes: np.ndarray, *, num_samples: int | None = None, iterations: int = 32,
               seed: int = 0) -> np.ndarray:
        """Approximate audio float32 ``[num_samples]`` from codes ``[K, T]`` (for listening).

        Args:
            codes: Integer codes ``[K, T]``.
            num_samples: Output length in samples; default ``T * hop_length``. Must give the same
                frame count ``T`` (so ``decode(encode(x), num_samples=len(x))`` has x's length).
            iterations: Griffin-Lim iterations.
            seed: Seed of the initial random phase.
        """
        features = self.dequantize(codes)
        frames = features.shape[0]
        num_samples = frames * self.hop_length if num_samples is None else int(num_samples)
        if self.num_frames(num_samples) != frames:
            raise ParameterError(
                f"num_samples={num_samples} gives {self.num_frames(num_samples)} frames, "
                f"codes have T={frames}")
        mel_power = np.maximum(np.exp(features.astype(np.float64)) - self.floor_power, 0.0).T
        magnitude = np.sqrt(np.maximum(np.linalg.pinv(self._mel) @ mel_power, 0.0))  # [F, T]
        return griffin_lim(magnitude, stft=self._stft, num_samples=num_samples,
                           iterations=iterations, seed=seed).astype(np.float32)

    # -- fitting and persistence ----------------------------------------------------------------
    @classmethod
    def fit(cls, signals: Iterable[np.ndarray], *, seed: int, codebook_size: int = 512,
            num_codebooks: int = 4, n_mels: int = 80, max_frames: int = 60000,
            iterations: int = 20, **options) -> SpectralTokenizer:
        """Fit the residual codebooks by k-means on log-mel frames of training signals.

        Args:
            signals: Mono float32 signals at ``sample_rate`` (``options``, default 32 kHz).
            seed: Seeds the frame subsample and the k-means initialisation (random frames; scipy's
                k-means++ costs O(C^2) distance passes, minutes at C = 512).
            codebook_size: Centroids per stage (C).
            num_codebooks: Residual stages (K).
            n_mels: Mel bands per frame.
            max_frames: Frames drawn at random (without replacement) for k-means.
            iterations: k-means iterations per stage.
            **options: ``sample_rate``, ``hop_length``, ``n_fft``, ``f_min_hz``, ``f_max_hz``,
                ``floor_power`` (see the class).
        """
        from scipy.cluster.vq import kmeans2

        rng = np.random.default_rng(seed)
        empty = np.zeros((num_codebooks, 1, n_mels), dtype=np.float32)
        analyser = cls(empty, **options)
        features = np.concatenate([analyser.log_mel(s) for s in signals])
        if features.shape[0] < codebook_size:
            raise ParameterError(
                f"need at least codebook_size={codebook_size} frames to fit, got {features.shape[0]}")
        if features.shape[0] > max_frames:
            features = features[np.sort(rng.choice(features.shape[0], max_frames, replace=False))]
        residual = features.astype(np.float64)
        books = []
        for _ in range(num_codebooks):
            centroids, labels = kmeans2(residual, codebook_size, iter=iterations, minit="points",
                                        missing="warn", seed=rng)
            books.append(centroids)
            residual = residual - centroids[labels]
        return cls(np.stack(books).astype(np.float32), **options)

    def params(self) -> dict:
        """The scalar parameters that, with the codebooks, define the tokenizer."""
        return {key: getattr(self, key) for key in PARAM_KEYS}

    def save(self, directory: str | Path) -> Path:
        """Write ``spectral_tokenizer.json`` and ``codebooks.npy`` into ``directory``."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        meta = {"format_version": FORMAT_VERSION, "name": self.name, **self.params(),
                "num_codebooks": self.num_codebooks, "codebook_size": self.codebook_size,
                "n_mels": self.n_mels}
        (directory / PARAMS_FILE).write_text(json.dumps(meta, indent=2) + "\n")
        np.save(directory / CODEBOOKS_FILE, self.codebooks)
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> SpectralTokenizer:
        """Read a tokenizer written by ``save``."""
        directory = Path(directory)
        try:
            meta = json.loads((directory / PARAMS_FILE).read_text())
            codebooks = np.load(directory / CODEBOOKS_FILE)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"{directory}: cannot read a spectral tokenizer ({exc})") from exc
        if meta.get("format_version") != FORMAT_VERSION:
            raise ModelLoadError(
                f"{directory}: tokenizer format_version must be {FORMAT_VERSION}, "
                f"got {meta.get('format_version')!r}")
        return cls(codebooks, **{key: meta[key] for key in PARAM_KEYS})

    def sha256(self) -> str:
        """Hash of the parameters and codebooks (identifies the tokenizer in provenance)."""
        digest = hashlib.sha256(json.dumps(self.params(), sort_keys=True).encode())
        digest.update(np.ascontiguousarray(self.codebooks, dtype="<f4").tobytes())
        return digest.hexdigest()

    def describe(self) -> dict:
        """Parameters recorded in provenance."""
        return {**super().describe(), **self.params(), "n_mels": self.n_mels,
                "sha256": self.sha256()}


def griffin_lim(magnitude: np.ndarray, *, stft, num_samples: int, iterations: int,
                seed: int, momentum: float = 0.99) -> np.ndarray:
    """Fast Griffin-Lim: a signal ``[num_samples]`` whose STFT magnitude approximates ``magnitude``.

    ``magnitude`` ``[F, T]`` holds the frames centred on ``t * hop`` for ``t = 0 .. T-1``; the
    inverse STFT also needs the border frames ``stft.p_min .. -1`` and ``T .. p_max - 1``, which
    repeat the nearest known frame.

    Args:
        magnitude: Non-negative float ``[F, T]``.
        stft: The ``scipy.signal.ShortTimeFFT`` that defines the frames.
        num_samples: Output length.
        iterations: Projection iterations.
        seed: Seed of the initial uniform random phase.
        momentum: Perraudin et al. (2013) acceleration; 0 gives the original algorithm.
    """
    length = max(num_samples, stft.m_num)  # ShortTimeFFT needs m_num / 2 samples at least
    p0, p1 = stft.p_min, stft.p_max(length)
    target = magnitude[:, np.clip(np.arange(p0, p1), 0, magnitude.shape[1] - 1)]
    phase = np.exp(2j * np.pi * np.random.default_rng(seed).random(target.shape))
    previous = np.zeros_like(phase)
    for _ in range(iterations):
        spec = stft.stft(stft.istft(target * phase, k1=length), p0=p0, p1=p1)
        accelerated = spec + momentum * (spec - previous)
        previous = spec
        phase = np.exp(1j * np.angle(accelerated))
    return stft.istft(target * phase, k1=length)[:num_samples]


def _make_stft(n_fft: int, hop_length: int, sample_rate: int):
    from scipy.signal import ShortTimeFFT
    from scipy.signal.windows import hann

    return ShortTimeFFT(hann(n_fft, sym=False), hop=hop_length, fs=sample_rate,
                        scale_to="magnitude")


def _mel_filterbank(n_fft: int, n_mels: int, f_min_hz: float, f_max_hz: float,
                    sample_rate: int) -> np.ndarray:
    """Slaney-style mel filterbank ``[n_mels, n_fft // 2 + 1]``."""
    from transformers.audio_utils import mel_filter_bank

    return mel_filter_bank(num_frequency_bins=n_fft // 2 + 1, num_mel_filters=n_mels,
                           min_frequency=f_min_hz, max_frequency=f_max_hz,
                           sampling_rate=sample_rate, norm="slaney", mel_scale="slaney").T
