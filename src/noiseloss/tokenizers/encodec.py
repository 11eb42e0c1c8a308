"""EnCodec (``transformers.EncodecModel``) as a tokenizer, e.g. the 32 kHz codec of MusicGen."""

from __future__ import annotations

import numpy as np

from noiseloss.tokenizers.base import Tokenizer


class EncodecTokenizer(Tokenizer):
    """Wrap a loaded ``EncodecModel``; encodes one item at a time (no padding effects).

    Args:
        model: A ``transformers.EncodecModel`` (moved to the device it should run on).
        bandwidth_kbps: Target bandwidth; defaults to the model's first target bandwidth.
    """

    def __init__(self, model, *, bandwidth_kbps: float | None = None, name: str = "encodec"):
        cfg = model.config
        self.model = model.eval()
        self.name = name
        self.sample_rate = int(cfg.sampling_rate)
        self.hop_length = int(np.prod(cfg.upsampling_ratios))
        self.bandwidth_kbps = float(bandwidth_kbps or cfg.target_bandwidths[0])
        frame_rate = int(np.ceil(self.sample_rate / self.hop_length))
        self.num_codebooks = int(1000 * self.bandwidth_kbps // (frame_rate * np.log2(cfg.codebook_size)))
        self.codebook_size = int(cfg.codebook_size)

    def _encode(self, audio: np.ndarray) -> np.ndarray:
        import torch

        param = next(self.model.parameters())
        x = torch.from_numpy(audio).to(device=param.device, dtype=param.dtype)[None, None]
        with torch.inference_mode():
            out = self.model.encode(x, bandwidth=self.bandwidth_kbps)
        codes = out.audio_codes  # [chunks=1, batch=1, K, T]
        return codes[0, 0].cpu().numpy()

    def describe(self) -> dict:
        """Parameters recorded in provenance."""
        return {**super().describe(), "bandwidth_kbps": self.bandwidth_kbps}
