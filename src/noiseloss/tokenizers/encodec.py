"""EnCodec (``transformers.EncodecModel``) as a tokenizer, e.g. the 32 kHz codec of MusicGen."""

from __future__ import annotations

import numpy as np

from noiseloss.tokenizers.base import AudioTokenizer


class EncodecTokenizer(AudioTokenizer):
    """Wrap a loaded ``EncodecModel``; encodes one item at a time (no padding effects).

    With ``channels=2`` (stereo MusicGen) the left and right channels of ``[2, samples]`` are
    encoded separately and their codebooks interleaved ``[L0, R0, L1, R1, ...]``; mono audio is
    used for both channels.

    Args:
        model: A ``transformers.EncodecModel`` (moved to the device it should run on).
        bandwidth_kbps: Target bandwidth; defaults to the model's first target bandwidth.
        channels: 1 (mono) or 2 (stereo).
    """

    def __init__(self, model, *, bandwidth_kbps: float | None = None, name: str = "encodec",
                 channels: int = 1):
        cfg = model.config
        self.model = model.eval()
        self.name = name
        self.sample_rate = int(cfg.sampling_rate)
        self.hop_length = int(np.prod(cfg.upsampling_ratios))
        self.bandwidth_kbps = float(bandwidth_kbps or cfg.target_bandwidths[0])
        frame_rate = int(np.ceil(self.sample_rate / self.hop_length))
        per_channel = int(1000 * self.bandwidth_kbps // (frame_rate * np.log2(cfg.codebook_size)))
        self.channels = int(channels)
        self.num_codebooks = per_channel * self.channels
        self.codebook_size = int(cfg.codebook_size)

    def _encode(self, audio: np.ndarray) -> np.ndarray:
        if self.channels == 1:
            return self._encode_channel(audio)
        left, right = (audio, audio) if audio.ndim == 1 else audio
        codes = np.stack([self._encode_channel(left), self._encode_channel(right)], axis=1)
        return codes.reshape(self.num_codebooks, -1)  # [K', 2, T] -> rows L0, R0, L1, R1, ...

    def _encode_channel(self, audio: np.ndarray) -> np.ndarray:
        import torch

        param = next(self.model.parameters())
        x = torch.from_numpy(np.ascontiguousarray(audio)).to(device=param.device,
                                                             dtype=param.dtype)[None, None]
        with torch.inference_mode():
            out = self.model.encode(x, bandwidth=self.bandwidth_kbps)
        codes = out.audio_codes  # [chunks=1, batch=1, K, T]
        return codes[0, 0].cpu().numpy()

    def describe(self) -> dict:
        """Parameters recorded in provenance."""
        return {**super().describe(), "bandwidth_kbps": self.bandwidth_kbps,
                "channels": self.channels}
