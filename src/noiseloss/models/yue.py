"""YuE stage 1 and stage 2: ``LlamaForCausalLM`` on X-Codec tokens, inside YuE's own prompts.

The ids and prompts are those of YuE's own inference code.

X-Codec: 16 kHz, hop 320 (50 frames/s), codebooks of 1024; the id of code ``c`` of codebook ``k``
is ``45334 + 1024 k + c``. Stage 1 models codebook 0 of the vocal and the instrumental stem,
interleaved per frame; stage 2 predicts codebooks 1-7 of one stem given its codebook 0::

    stage 1   [text prompt] <SOA> <xcodec>  v0 i0  v1 i1  v2 i2 ...        (2 ids a frame)
              scored:                       ^  ^   ^  ^   ...  nll [2 stems, T]

    stage 2   <SOA> <stage_1> c0_0 c0_1 ... c0_T-1 <stage_2>  c0_0 c1_0 .. c7_0  c0_1 c1_1 ..
              scored:                                               ^ ... ^          ^ ...
              nll [7 codebooks, T]  (codebook 0 is given, never scored)

Each window gets its own prompt. Stage 2's prompt holds codebook 0 of its whole window, so a
change of codebook 0 can move every frame of that window; changes of codebooks 1-7 are causal.
No classifier-free guidance and no logit restriction (YuE's generation settings) unless asked:
``prompted-codec-range`` renormalises each prediction over the ids of its own codebook;
``legacy-flat`` (stage 2) is the paper's research script: flattened ids, no prompt.

Inputs: audio, through X-Codec (``-m codec=DIR``: YuE's own codec folder ``xcodec_mini_infer``,
read by ``noiseloss.models.yue_codec``, or a ``transformers`` ``XcodecModel`` folder), or codes
as ``.npy``. Audio is one mixture: stage 1 treats it as the instrumental stem, and its vocal stem is
the codes of digital silence by default (``vocal: mixture`` uses the mixture's codes for both);
two separated stems give stage-1 codes ``[2, T]`` with ``XcodecTokenizer.encode_stems`` (or as
a ``.npy`` of codes). Stage 1's text prompt is tokenised as YuE does (``PromptTokenizer`` on
YuE's SentencePiece ``tokenizer.model``).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from noiseloss.errors import DependencyError, ModelLoadError, ParameterError, check_choice
from noiseloss.models.base import Backend, ModelInfo
from noiseloss.models.hub import CausalLMScorer
from noiseloss.scoring.layouts import Layout
from noiseloss.scoring.options import ScoringOptions
from noiseloss.scoring.pattern import token_scores
from noiseloss.tokenizers.base import AudioTokenizer

#: YuE's special ids (its ``mmtokenizer``) and the X-Codec id layout.
IDS = {"soa": 32001, "eoa": 32002, "stage_1": 32013, "xcodec": 32016, "stage_2": 32017}
CODEC_OFFSET, CODEBOOK_SIZE = 45334, 1024
STAGE1_INSTRUCTION = "Generate music from the given lyrics segment by segment.\n[Genre] {genres}\n"
VOCAL_CHOICES = ("silence", "mixture")


def codec_ids(codes, codebook):
    """Ids of X-Codec codes of ``codebook`` (an int or a ``[K, 1]`` column of codebook indices)."""
    return codes + CODEC_OFFSET + CODEBOOK_SIZE * codebook


def _scores_at(logits, positions, targets, *, codec_range: bool, codebooks):
    """``(nll, entropy)`` (float32) from the logits at ``positions``.

    Args:
        logits: ``[S', V]`` of one item.
        positions: Logit position of each target, any shape.
        targets: Ids, same shape.
        codec_range: Renormalise over the 1024 ids of the target's codebook.
        codebooks: Codebook of each target, same shape.
    """
    import torch

    picked = logits[positions]  # [..., V]
    if codec_range:
        low = CODEC_OFFSET + CODEBOOK_SIZE * codebooks
        window = low[..., None] + torch.arange(CODEBOOK_SIZE, device=logits.device)
        picked = torch.gather(picked, -1, window)
        targets = targets - low
    return token_scores(picked, targets)


class Stage1Layout(Layout):
    """Stage 1: ``prompt + interleave(vocal, instrumental)``; token ``(t, s)`` at ``P + 2t + s``."""

    lead_frames = 0

    def __init__(self, prompt_ids: list[int], *, codec_range: bool = False):
        self.prompt = list(prompt_ids) + [IDS["soa"], IDS["xcodec"]]
        self.codec_range = codec_range
        self.alignment = "prompted-codec-range" if codec_range else "prompted"
        self.pad_id = IDS["eoa"]

    def inputs(self, codes):
        """Prompt and the interleaved codebook-0 ids of both stems, minus the last id: ``[1, S]``."""
        import torch

        audio = codec_ids(codes, 0).T.reshape(-1)  # v0 i0 v1 i1 ...
        return torch.cat([torch.tensor(self.prompt, dtype=torch.long), audio])[None, :-1]

    def scores(self, logits, codes):
        """``[s, t]`` from the logits at ``P + 2t + s - 1``."""
        import torch

        stems, frames = codes.shape
        pos = len(self.prompt) - 1 + 2 * torch.arange(frames, device=codes.device)[None, :] + \
            torch.arange(stems, device=codes.device)[:, None]
        return _scores_at(logits[0], pos, codec_ids(codes, 0), codec_range=self.codec_range,
                          codebooks=torch.zeros_like(codes))


class Stage2Layout(Layout):
    """Stage 2: codebook 0 in the prompt, then 8 ids a frame; codebooks 1-7 scored."""

    lead_frames = 0
    scored_rows = tuple(range(1, 8))

    def __init__(self, *, codec_range: bool = False):
        self.codec_range = codec_range
        self.alignment = "prompted-codec-range" if codec_range else "prompted"
        self.pad_id = IDS["eoa"]

    def inputs(self, codes):
        """``<SOA> <stage_1> cb0 ids <stage_2>`` then frame by frame all 8 ids, minus the last."""
        import torch

        books = torch.arange(codes.shape[0], device=codes.device)[:, None]
        ids = codec_ids(codes, books)
        head = torch.tensor([IDS["soa"], IDS["stage_1"]], dtype=torch.long)
        return torch.cat([head, ids[0], torch.tensor([IDS["stage_2"]]), ids.T.reshape(-1)])[None, :-1]

    def scores(self, logits, codes):
        """``[k - 1, t]`` for codebooks ``k = 1 .. 7`` from the logits at ``P + 8t + k - 1``."""
        import torch

        books, frames = codes.shape
        start = frames + 3  # <SOA> <stage_1> T ids <stage_2>
        k = torch.arange(1, books, device=codes.device)[:, None]
        pos = start + books * torch.arange(frames, device=codes.device)[None, :] + k - 1
        return _scores_at(logits[0], pos, codec_ids(codes[1:], k), codec_range=self.codec_range,
                          codebooks=k.expand(-1, frames))


class LegacyFlatLayout(Layout):
    """The paper's research script for stage 2: flattened ids, no prompt (not a likelihood).

    The 8 codebook ids of each frame in a row, every id predicted from the ids before it (the
    very first one unscored: NaN). Offered to compare with the published numbers.
    """

    alignment = "legacy-flat"
    lead_frames = 0
    pad_id = IDS["eoa"]

    def inputs(self, codes):
        """``c0_0 c1_0 .. c7_0 c0_1 ..`` minus the last id: ``[1, 8T - 1]``."""
        import torch

        books = torch.arange(codes.shape[0], device=codes.device)[:, None]
        return codec_ids(codes, books).T.reshape(-1)[None, :-1]

    def scores(self, logits, codes):
        """``[k, t]`` from the logits at ``8t + k - 1``; ``[0, 0]`` NaN."""
        import torch

        books, frames = codes.shape
        k = torch.arange(books, device=codes.device)[:, None]
        pos = (books * torch.arange(frames, device=codes.device)[None, :] + k - 1).clamp(min=0)
        nll, entropy = _scores_at(logits[0], pos, codec_ids(codes, k), codec_range=False,
                                  codebooks=None)
        nll[0, 0] = entropy[0, 0] = float("nan")
        return nll, entropy


class XcodecTokenizer(AudioTokenizer):
    """X-Codec (``transformers.XcodecModel``) codes for YuE.

    Args:
        model: An ``XcodecModel`` (16 kHz).
        stage: 1: codebook 0 of (vocal, instrumental) ``[2, T]``; 2: codebooks 0-7 ``[8, T]``.
        vocal: Stage 1's vocal stem for a mixture: ``silence`` (codes of digital silence) or
            ``mixture`` (the mixture's own codes).
    """

    codebook_size = CODEBOOK_SIZE
    #: YuE's ``infer.py`` (``load_audio_mono``) averages a file's channels, then resamples it
    #: with ``torchaudio.transforms.Resample(orig_freq=sr, new_freq=16000)``.
    resampler = "torchaudio"

    def __init__(self, model, *, stage: int, vocal: str = "silence"):
        check_choice("vocal", vocal, VOCAL_CHOICES)
        self.model, self.stage, self.vocal = model.eval(), stage, vocal
        self.name = "xcodec"
        self.sample_rate = int(model.config.sample_rate)
        self.hop_length = int(model.config.hop_length)
        self.num_codebooks = 2 if stage == 1 else 8

    def num_frames(self, num_samples: int) -> int:
        """X-Codec's frame count: its HuBERT's, over the signal padded by half a hop each side.

        For YuE's codec (hop 320, a 400-sample receptive field) ``floor((samples + 240) / 320)``:
        ``ceil(samples / 320)`` except for ``samples % 320`` in [1, 79], one frame fewer.
        """
        length = num_samples + 2 * (self.hop_length // 2)
        semantic = self.model.config.semantic_model_config
        for kernel, stride in zip(semantic.conv_kernel, semantic.conv_stride, strict=True):
            length = (length - kernel) // stride + 1
        return max(length, 0)

    def _codes(self, audio: np.ndarray, bandwidth: float) -> np.ndarray:
        import torch

        device = next(self.model.parameters()).device
        x = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))[None, None]
        with torch.inference_mode():
            return self.model.encode(x.to(device), bandwidth=bandwidth).audio_codes[0].cpu().numpy()

    def _encode(self, audio: np.ndarray) -> np.ndarray:
        if self.stage == 2:
            return self._codes(audio, 4.0)
        mix = self._codes(audio, 0.5)[0]
        vocal = mix if self.vocal == "mixture" else self._codes(np.zeros_like(audio), 0.5)[0]
        return np.stack([vocal, mix])

    def encode_stems(self, vocal: np.ndarray, instrumental: np.ndarray) -> np.ndarray:
        """Stage-1 codes ``[2, T]`` of two separated stems (mono float32 at 16 kHz, equal length)."""
        if self.stage != 1 or np.shape(vocal) != np.shape(instrumental):
            raise ParameterError(f"encode_stems takes two stems of one length for stage 1, got "
                                 f"{np.shape(vocal)} and {np.shape(instrumental)} (stage "
                                 f"{self.stage})")
        return np.stack([self.encode(vocal)[1], self.encode(instrumental)[1]])

    def describe(self) -> dict:
        """Parameters recorded in provenance."""
        return {**super().describe(), "stage": self.stage, "vocal": self.vocal}


#: The special tokens of YuE's ``mmtokenizer``, in the order it registers them; the model's
#: pad, BOS and EOS pieces follow. Text is cut at their strings (the earliest, then the first
#: registered); ``<xcodec>`` is not one of them (its id is YuE's constant ``IDS['xcodec']``).
MM_SPECIALS = ("<CLS>", "<SEP>", "<EOD>", "<MASK>", "<SOA>", "<EOA>", "<SOV>", "<EOV>", "<SOI>",
               "<EOI>", "<s_local>", "<e_local>", "<s_global>", "<e_global>", "<stage_1>",
               "<stage_2>")
#: Specials whose ids the scored streams use: token -> key of ``IDS``.
CHECKED_SPECIALS = {"<SOA>": "soa", "<EOA>": "eoa", "<stage_1>": "stage_1", "<stage_2>": "stage_2"}


class PromptTokenizer:
    """YuE's prompt tokenizer (its ``mmtokenizer``): ``sentencepiece`` on YuE's ``tokenizer.model``.

    Text is cut at special-token strings; each stretch between them is encoded on its own
    (``encode_as_ids``: a dummy prefix each, no BOS) and each special is its id. A special the
    model lacks gets the next id after its pieces, as YuE registers it.

    Args:
        path: The SentencePiece model (YuE's ``inference/mm_tokenizer_v0.2_hf/tokenizer.model``).

    Raises:
        DependencyError: ``sentencepiece`` is not installed.
        ModelLoadError: The file is not a SentencePiece model.
    """

    def __init__(self, path: Path):
        try:
            import sentencepiece
        except ImportError as exc:
            raise DependencyError("YuE's prompt tokenizer needs sentencepiece: pip install "
                                  "sentencepiece (in noiseloss[models])") from exc
        try:
            self.processor = sentencepiece.SentencePieceProcessor(model_file=str(path))
        except Exception as exc:
            raise ModelLoadError(f"text_tokenizer {path}: not a SentencePiece model ({exc})") from exc
        pieces = {self.processor.id_to_piece(i): i for i in range(self.processor.get_piece_size())}
        names = [*MM_SPECIALS, self._piece(self.processor.pad_id(), "<PAD>"),
                 self._piece(self.processor.bos_id(), "<BOS>"),
                 self._piece(self.processor.eos_id(), "<EOS>")]
        self.special_ids = {}
        for name in names:
            self.special_ids[name] = pieces.setdefault(name, len(pieces))
        self.path = Path(path)

    def _piece(self, index: int, default: str | None) -> str | None:
        try:
            return self.processor.id_to_piece(index)
        except IndexError:  # e.g. pad id -1
            return default

    def encode(self, text: str) -> list[int]:
        """The ids of ``text``, as ``mmtokenizer.tokenize`` gives them."""
        ids, start = [], 0
        while True:
            found = [(index, order, name) for order, name in enumerate(self.special_ids)
                     if (index := text.find(name, start)) >= 0]
            if not found:
                return ids + self.processor.encode_as_ids(text[start:])
            index, _, name = min(found)
            ids += self.processor.encode_as_ids(text[start:index]) + [self.special_ids[name]]
            start = index + len(name)

    def check_yue(self) -> None:
        """``ModelLoadError`` unless the ids YuE's streams use are this model's."""
        xcodec = self.processor.piece_to_id("<xcodec>")
        found = {**{key: self.special_ids[name] for name, key in CHECKED_SPECIALS.items()},
                 "xcodec": xcodec if self._piece(xcodec, None) == "<xcodec>" else None}
        wrong = {key: found[key] for key in found if found[key] != IDS[key]}
        if wrong:
            raise ModelLoadError(f"text_tokenizer {self.path} is not YuE's prompt tokenizer: ids "
                                 f"{wrong} where YuE's LM has {({k: IDS[k] for k in wrong})}")


def _text_ids(tokenizer_path: str | None, *texts: str) -> list[int]:
    """YuE's text tokenisation of ``texts``, each on its own (no special tokens), concatenated.

    ``tokenizer_path``: YuE's SentencePiece ``tokenizer.model`` or its folder (exact, with
    ``PromptTokenizer``), else a ``transformers`` tokenizer folder (it can differ from YuE's
    where a text has runs of spaces).
    """
    if tokenizer_path is None:
        raise ModelLoadError("YuE stage 1 needs its text tokenizer to build the prompt: give "
                             "text_tokenizer (YuE's inference/mm_tokenizer_v0.2_hf/tokenizer.model)")
    path = Path(tokenizer_path).expanduser()
    model_file = path / "tokenizer.model" if path.is_dir() else path
    if model_file.is_file():
        tok = PromptTokenizer(model_file)
        tok.check_yue()
        return [i for text in texts for i in tok.encode(text)]
    if not path.is_dir():
        raise ModelLoadError(f"text_tokenizer {path} does not exist (YuE's is "
                             "inference/mm_tokenizer_v0.2_hf/tokenizer.model in its checkout)")
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    except Exception as exc:
        raise ModelLoadError(f"text_tokenizer {path}: cannot load ({exc})") from exc
    return [i for text in texts for i in tok.encode(text, add_special_tokens=False)]


def stage1_prompt(*, genres: str, lyrics: str) -> tuple[str, str]:
    """``(head, section)``: the instruction with genres and all lyrics, and the first section.

    The ``[start_of_segment]`` marker and the section text follow as in YuE's inference; with no
    lyrics the section is empty (the documented choice for scoring arbitrary music). Genres are
    stripped, as YuE strips its ``genre.txt``.
    """
    import re

    segments = [f"[{tag}]\n{text.strip()}\n\n"
                for tag, text in re.findall(r"\[(\w+)\](.*?)(?=\[|\Z)", lyrics, re.S)]
    return (STAGE1_INSTRUCTION.format(genres=genres.strip()) + "\n".join(segments),
            segments[0] if segments else "")


def yue_info(name: str, *, stage: int, codec: str | None = None, text_tokenizer: str | None = None,
             genres: str = "", lyrics: str = "", vocal: str = "silence") -> ModelInfo:
    """Identity of a YuE checkpoint and its prompt (no weights loaded)."""
    from noiseloss.models.hub import locate, weights_sha256
    from noiseloss.models.yue_codec import codec_sha256

    check_choice("vocal", vocal, VOCAL_CHOICES)
    directory, identity = locate(name)
    config = json.loads((directory / "config.json").read_text()) \
        if (directory / "config.json").is_file() else {}
    if config.get("model_type") != "llama":
        raise ModelLoadError(f"{name}: a YuE stage-{stage} checkpoint is a LlamaForCausalLM "
                             f"(model_type 'llama'), got {config.get('model_type')!r}")
    if identity["source"] == "directory":
        identity["weights_sha256"] = weights_sha256(directory)
    prompt = []
    if stage == 1:
        head, section = stage1_prompt(genres=genres, lyrics=lyrics)
        prompt = _text_ids(text_tokenizer, head, "[start_of_segment]", section)
    codec_hash = codec_sha256(Path(codec).expanduser()) if codec else None
    identity = {"model_id": name, **identity, "backend": f"yue-s{stage}",
                "prompt_sha256": hashlib.sha256(json.dumps(prompt).encode()).hexdigest(),
                "codec_sha256": codec_hash,
                # audio at another rate reaches the codec resampled as YuE does it
                "resampler": XcodecTokenizer.resampler if codec else None,
                "vocal": vocal if stage == 1 else None}
    positions = int(config.get("max_position_embeddings", 16384))
    window = (positions - len(prompt) - 3) // 2 if stage == 1 else 300
    return ModelInfo(name, identity, window_frames=window,
                     stride_frames=window // 2 if stage == 1 else window, batch_size=2,
                     alignment="prompted",
                     details={"stage": stage, "prompt": prompt, "codec": codec, "vocal": vocal})


def load_yue(info: ModelInfo, options: ScoringOptions) -> CausalLMScorer:
    """Load a YuE checkpoint (and its X-Codec model, when given) for scoring."""
    from transformers import LlamaForCausalLM

    from noiseloss.models.hub import load_pretrained, locate

    stage = info.details["stage"]
    directory, _ = locate(info.name)
    model = load_pretrained(LlamaForCausalLM, directory, options=options, name=info.name)
    codec = info.details["codec"]
    if codec is not None:
        from noiseloss.models.yue_codec import load_codec

        tokenizer = XcodecTokenizer(load_codec(Path(codec).expanduser(), device=options.device,
                                               name=f"{info.name} codec"),
                                    stage=stage, vocal=info.details["vocal"])
    else:
        tokenizer = CodesOnly(stage=stage)
    layouts = {("prompted-codec-range" if r else "prompted"): (
        Stage1Layout(info.details["prompt"], codec_range=r) if stage == 1 else
        Stage2Layout(codec_range=r)) for r in (False, True)}
    if stage == 2:
        layouts["legacy-flat"] = LegacyFlatLayout()
    return CausalLMScorer(model, tokenizer, layouts=layouts, name=info.name,
                          identity=info.identity, options=options)


class CodesOnly(AudioTokenizer):
    """Stand-in tokenizer of a YuE model loaded without a codec: it scores ``.npy`` codes only."""

    codebook_size = CODEBOOK_SIZE
    name = "none (codes only)"
    sample_rate, hop_length = 16000, 320

    def __init__(self, *, stage: int):
        self.num_codebooks = 2 if stage == 1 else 8

    def _encode(self, audio):
        raise ParameterError("this YuE model was loaded without a codec: give codes (.npy) or "
                             "the codec (-m codec=DIR: YuE's xcodec_mini_infer folder)")


#: YuE's alignments: name -> what it is (stage 2 adds ``legacy-flat``).
PROMPTED_ALIGNMENTS = {
    "prompted": "YuE's prompted token stream (its own factorisation)",
    "prompted-codec-range": "the prompted stream, each distribution renormalised over the codec "
                            "ids of the scored codebook",
}
STAGE1 = Backend(info=lambda name, **o: yue_info(name, stage=1, **o), load=load_yue,
                 options=("codec", "text_tokenizer", "genres", "lyrics", "vocal"),
                 alignments=PROMPTED_ALIGNMENTS)
STAGE2 = Backend(info=lambda name, **o: yue_info(name, stage=2, **o), load=load_yue,
                 options=("codec",),
                 alignments={**PROMPTED_ALIGNMENTS, "legacy-flat": "the paper's research code "
                             "for YuE stage 2: flattened ids, no prompt (not a likelihood)"})
