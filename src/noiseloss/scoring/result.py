"""The per-item scoring result."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from noiseloss.timeaxis import TimeAxis


def codebook_mean(nll: np.ndarray) -> np.ndarray:
    """Per-frame curve of a ``[K, T]`` NLL matrix: mean over the finite codebooks of each frame.

    Returns:
        float32 ``[T]`` (accumulated in float64); NaN where no codebook of the frame is scored.
    """
    values = np.asarray(nll)
    valid = np.isfinite(values)
    count = valid.sum(axis=0)
    total = np.where(valid, values, 0.0).sum(axis=0, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (total / count).astype(np.float32)


@dataclass
class ScoreResult:
    """Per-token negative log-likelihood of one item.

    Attributes:
        nll: float32 ``[K codebooks, T frames]`` in nats; NaN where a token has no prediction
            (frame 0 under the legacy alignment).
        codes: int64 ``[K, T]``, the tokens that were scored.
        entropy: float32 ``[K, T]``, nats: the entropy of each predictive distribution, from the
            same logits at the same positions as ``nll``; None when not computed (results
            stored by earlier versions).
        frame_rate: Frames per second (None: a symbolic model's columns are events).
        conditioning: ``"unconditional"``, ``"text"`` or ``"cfg-guided"`` (the latter is *not* a
            likelihood: it scores a guided distribution).
        text: The text condition, if any.
        guidance_scale: Classifier-free guidance scale when ``conditioning == "cfg-guided"``.
        alignment: The layout that produced it (its backend's ``Backend.alignments``).
        lead_frames: Frames a change can show before its onset in ``frame_nll()`` (the layout's).
        channels: Audio channels; with 2 (stereo MusicGen) rows alternate L, R.
        scored_rows: The rows of ``codes`` that the rows of ``nll`` score (None: all; YuE stage
            2 scores codebooks 1-7 of 8).
        windows: ``(context_start, score_start, end)`` frame windows that produced the NLL.
        num_samples: Length of the scored audio in samples at the model rate (None for codes).
        times: float64 ``[T]``, the start of each column in seconds (None: frames at
            ``frame_rate`` from 0 s).
        end_seconds: End of the scored sequence (None: ``T / frame_rate``).
        modality: ``audio`` or ``symbolic`` (``noiseloss.timeaxis.MODALITIES``).
        kl: float32 ``[R, T]``, nats: KL divergence from a reference item's next-token
            distributions to this item's (``Scorer.score_codes(references=)``); None when not
            computed.
    """

    nll: np.ndarray
    codes: np.ndarray
    frame_rate: float | None
    entropy: np.ndarray | None = None
    conditioning: str = "unconditional"
    text: str | None = None
    guidance_scale: float | None = None
    alignment: str = "delayed"
    lead_frames: int = 0
    channels: int = 1
    scored_rows: tuple[int, ...] | None = None
    windows: list[tuple[int, int, int]] = field(default_factory=list)
    num_samples: int | None = None
    times: np.ndarray | None = None
    end_seconds: float | None = None
    modality: str = "audio"
    kl: np.ndarray | None = None

    @property
    def axis(self) -> TimeAxis:
        """The time axis of the columns (``noiseloss.timeaxis.TimeAxis``)."""
        if self.times is None:
            return TimeAxis.frames(self.num_frames, frame_rate=self.frame_rate)
        end = self.end_seconds if self.end_seconds is not None else (
            float(self.times[-1]) if len(self.times) else 0.0)
        return TimeAxis(np.asarray(self.times, dtype=np.float64), end, self.frame_rate)

    @property
    def num_codebooks(self) -> int:
        """K."""
        return int(self.nll.shape[0])

    @property
    def num_frames(self) -> int:
        """T."""
        return int(self.nll.shape[1])

    @property
    def targets(self) -> np.ndarray:
        """The codes that the NLL rows score, ``[R, T]``."""
        return self.codes if self.scored_rows is None else self.codes[list(self.scored_rows)]

    def frame_nll(self, *, channel: int | None = None) -> np.ndarray:
        """Per-frame curve ``[T]``: mean over codebooks (NaN where no codebook is scored).

        ``channel``: 0 or 1 for the codebooks of one channel of a stereo model (None: all).
        """
        if channel is None:
            return codebook_mean(self.nll)
        if not 0 <= channel < self.channels:
            raise ValueError(f"channel must be in [0, {self.channels}), got {channel!r}")
        return codebook_mean(self.nll[channel::self.channels])

    def loss(self) -> float:
        """MusicGen's ``loss``: mean over codebooks of each codebook's mean NLL (nats)."""
        return float(np.mean([np.nanmean(row.astype(np.float64)) for row in self.nll]))

    def metadata(self) -> dict:
        """Everything but the arrays."""
        return {
            "modality": self.modality,
            "frame_rate": self.frame_rate,
            "num_codebooks": self.num_codebooks,
            "num_frames": self.num_frames,
            "num_samples": self.num_samples,
            "conditioning": self.conditioning,
            "text": self.text,
            "guidance_scale": self.guidance_scale,
            "alignment": self.alignment,
            "lead_frames": self.lead_frames,
            "channels": self.channels,
            "windows": [list(w) for w in self.windows],
        }
