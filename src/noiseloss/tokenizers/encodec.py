"""EnCodec (``transformers.EncodecModel``) as a tokenizer, e.g. the 32 kHz codec of MusicGen.

A variant of a clean excerpt is encoded from where it can differ (``tokenize_variants``). The
SEANet encoder is convolutions (``head``), a unidirectional LSTM, and a last convolution
(``tail``). For a variant that first differs from the clean audio at sample ``s``, frames (of
``hop`` samples)::

    audio    | equal to the clean excerpt ...... s | differs ...............|
    head     | clean's   | a0: re-run on the variant, kept from fr on ........|
    LSTM     | clean's .......... | fr: from the clean pass's state ........|
    codes    | clean's ..................... | fo: new codes ...............|

    fd = the first frame whose receptive field reaches s
    fr = the last frame <= fd where the clean pass kept its LSTM state
    a0 = fr - ceil(head's left reach / hop);  fo = fd - tail's right reach

The clean pass keeps the LSTM state every ``STATE_EVERY`` frames. Each re-run starts far
enough left that the padding at its own start never reaches a kept output, and at a multiple of
the hop, so every stride keeps its phase. The codes equal a whole-signal encode bit for bit
(tested on the 32 kHz geometry); codecs that normalise by the whole signal's loudness, encode
in chunks or normalise over time are always encoded whole.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from noiseloss.tokenizers.base import AudioTokenizer, Reference

#: Frames between the LSTM states a reference pass keeps (a variant resumes from the last one
#: before its first different frame).
STATE_EVERY = 25


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

        self._parts = _split_encoder(model)

    def _channels(self, audio: np.ndarray) -> list[np.ndarray]:
        if self.channels == 1:
            return [audio]
        return [audio, audio] if audio.ndim == 1 else list(audio)

    def _rows(self, per_channel: list[np.ndarray]) -> np.ndarray:
        if self.channels == 1:
            return per_channel[0]
        codes = np.stack(per_channel, axis=1)
        return codes.reshape(self.num_codebooks, -1)  # [K', 2, T] -> rows L0, R0, L1, R1, ...

    def _encode(self, audio: np.ndarray) -> np.ndarray:
        return self._rows([self._encode_channel(a) for a in self._channels(audio)])

    def _encode_reference(self, audio: np.ndarray) -> tuple[np.ndarray, object]:
        if self._parts is None:
            return self._encode(audio), None
        states = [self._parts.reference(self._tensor(a), bandwidth=self.bandwidth_kbps)
                  for a in self._channels(audio)]
        return self._rows([s.codes for s in states]), states

    def _encode_variants(self, audios, *, firsts, reference: Reference) -> list[np.ndarray]:
        import torch

        per_channel = [self._channels(a) for a in audios]
        out = [[None] * len(reference.state) for _ in audios]
        for c, state in enumerate(reference.state):
            ref = self._channels(reference.audio)[c]
            groups: dict[int, list[int]] = {}
            for i, channels in enumerate(per_channel):
                differs = np.flatnonzero(channels[c] != ref)
                if differs.size == 0:
                    out[i][c] = state.codes
                else:
                    groups.setdefault(self._parts.first_frame(int(differs[0])), []).append(i)
            for first, members in groups.items():
                batch = torch.cat([self._tensor(per_channel[i][c]) for i in members])
                for i, codes in zip(members, self._parts.resume(
                        batch, state, first_frame=first, bandwidth=self.bandwidth_kbps),
                                    strict=True):
                    out[i][c] = codes
        return [self._rows(channels) for channels in out]

    def _tensor(self, audio: np.ndarray):
        import torch

        param = next(self.model.parameters())
        return torch.from_numpy(np.ascontiguousarray(audio)).to(device=param.device,
                                                                dtype=param.dtype)[None, None]

    def _encode_channel(self, audio: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            out = self.model.encode(self._tensor(audio), bandwidth=self.bandwidth_kbps)
        codes = out.audio_codes  # [chunks=1, batch=1, K, T]
        return codes[0, 0].cpu().numpy()

    def describe(self) -> dict:
        """Parameters recorded in provenance."""
        return {**super().describe(), "bandwidth_kbps": self.bandwidth_kbps,
                "channels": self.channels}


@dataclass
class _ChannelState:
    """One channel of a reference.

    Codes ``[K, T]``, LSTM outputs ``[1, D, T]``, and the LSTM state ``(h, c)`` before every
    ``STATE_EVERY``-th frame (None before the first).
    """

    codes: np.ndarray
    lstm_out: object
    states: list


@dataclass
class _EncoderParts:
    """The SEANet encoder split at its LSTM, with the reaches of both sides in samples/frames."""

    model: object
    head: list
    lstm: object
    tail: list
    hop: int
    head_left: int  # samples before a frame's hop position its features read
    head_right: int  # samples after it
    tail_left: int  # frames
    tail_right: int

    def first_frame(self, sample: int) -> int:
        """The first frame whose codes may change when the signal changes at ``sample``."""
        return max(0, (sample - self.head_right - 1) // self.hop + 1)

    def reference(self, audio, *, bandwidth: float) -> _ChannelState:
        """Encode ``[1, 1, samples]`` whole, keeping the LSTM's outputs and states."""
        import torch

        with torch.inference_mode():
            features = _run(self.head, audio)
            steps = features.permute(2, 0, 1)
            outs, states, state = [], [], None
            for start in range(0, steps.shape[0], STATE_EVERY):
                states.append(state)
                out, state = self.lstm.lstm(steps[start : start + STATE_EVERY], state)
                outs.append(out)
            lstm_out = (torch.cat(outs) + steps).permute(1, 2, 0)
            codes = self._codes(_run(self.tail, lstm_out), bandwidth)
        return _ChannelState(codes[0], lstm_out, states)

    def resume(self, audio, ref: _ChannelState, *, first_frame: int,
               bandwidth: float) -> list[np.ndarray]:
        """Codes of a batch ``[B, 1, samples]`` equal to the reference before ``first_frame``."""
        import torch

        frames = ref.codes.shape[1]
        block = min(first_frame // STATE_EVERY, len(ref.states) - 1)
        resume = block * STATE_EVERY
        start = max(0, resume - -(-self.head_left // self.hop))  # frames of left context
        batch = audio.shape[0]
        with torch.inference_mode():
            features = _run(self.head, audio[:, :, start * self.hop :])[:, :, resume - start :]
            state = ref.states[block]
            if state is not None:
                state = tuple(s.expand(-1, batch, -1).contiguous() for s in state)
            steps = features.permute(2, 0, 1)
            lstm_out = (self.lstm.lstm(steps, state)[0] + steps).permute(1, 2, 0)
            first_code = max(0, min(first_frame, frames) - self.tail_right)
            begin = max(0, first_code - self.tail_left)
            tail_in = torch.cat([ref.lstm_out[:, :, begin:resume].expand(batch, -1, -1),
                                 lstm_out[:, :, max(begin, resume) - resume :]], dim=2)
            codes = self._codes(_run(self.tail, tail_in)[:, :, first_code - begin :], bandwidth)
        return [np.concatenate([ref.codes[:, :first_code], c], axis=1) for c in codes]

    def _codes(self, embeddings, bandwidth: float) -> np.ndarray:
        """Codes ``[B, K, T]`` of encoder outputs ``[B, D, T]``."""
        return self.model.quantizer.encode(embeddings, bandwidth).transpose(0, 1).cpu().numpy()


def _run(layers, x):
    for layer in layers:
        x = layer(x)
    return x


def _reach(layers, *, stride: int = 1) -> tuple[int, int, int]:
    """``(stride, left, right)`` of a stack of layers, in units of its input.

    Output column ``j`` reads the inputs ``[j * stride - left, j * stride + right]``; ``stride``
    (the keyword) is the stride of the layers before the stack, in units of the first input.
    """
    from transformers.models.encodec.modeling_encodec import EncodecConv1d, EncodecResnetBlock

    left = right = 0
    for layer in layers:
        if isinstance(layer, EncodecConv1d):
            kernel, step, total = (int(layer.kernel_size), int(layer.stride),
                                   int(layer.padding_total))
            pad_left = total if layer.causal else total - total // 2
            left, right = left + pad_left * stride, right + (kernel - 1 - pad_left) * stride
            stride *= step
        elif isinstance(layer, EncodecResnetBlock):
            branches = [_reach(layer.block, stride=stride), _reach([layer.shortcut], stride=stride)]
            left += max(b[1] for b in branches)
            right += max(b[2] for b in branches)
    return stride, left, right


def _split_encoder(model) -> _EncoderParts | None:
    """The parts of ``model``'s encoder, or None where a variant cannot resume.

    None: the codec normalises by the whole signal's loudness, encodes in chunks, normalises a
    convolution over time (``time_group_norm``), or has no single LSTM between convolutions.
    """
    from transformers.models.encodec.modeling_encodec import EncodecLSTM

    cfg = model.config
    if cfg.normalize or cfg.chunk_length_s is not None or cfg.norm_type != "weight_norm":
        return None
    layers = list(model.encoder.layers)
    at = [i for i, layer in enumerate(layers) if isinstance(layer, EncodecLSTM)]
    if len(at) != 1:
        return None
    head, tail = layers[: at[0]], layers[at[0] + 1 :]
    hop, head_left, head_right = _reach(head)
    tail_stride, tail_left, tail_right = _reach(tail)
    if hop != int(np.prod(cfg.upsampling_ratios)) or tail_stride != 1:
        return None
    return _EncoderParts(model, head, layers[at[0]], tail, hop, head_left, head_right,
                         tail_left, tail_right)
