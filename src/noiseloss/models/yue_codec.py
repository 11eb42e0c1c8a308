"""YuE's X-Codec as YuE distributes it (``xcodec_mini_infer``), read into ``transformers.XcodecModel``.

The folder ``-m codec=DIR`` names, as in YuE's checkout (``inference/xcodec_mini_infer``)::

    final_ckpt/config.yaml                   generator.config: D, ratios, sample_rate, bins,
                                             target_bandwidths (12 codebooks at 6 kbps)
    final_ckpt/ckpt_00360000.pth             torch.save of the training state; its
                                             'codec_model' holds every weight
    semantic_ckpts/hf_1_325000/config.json   YuE's HuBERT (its weights are in 'codec_model')

The checkpoint is read as tensors only (``torch.load(weights_only=True)``): the builtin
containers and the omegaconf settings a training state pickles are read as inert stand-ins, and a
file naming any other global is refused before anything in it is unpickled. Its weights are then
renamed to ``XcodecModel``'s and the weight norm of the DAC convolutions fused
(``weight = g v / |v|``, as YuE's own forward computes it), so that ``XcodecModel.encode`` gives
the codes of YuE's ``SoundStream.encode``. The Vocos decoders, the HuBERT ``.bin`` and the
discriminator and optimiser states in the checkpoint are never used.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from noiseloss.errors import DependencyError, ModelLoadError

CONFIG_YAML = Path("final_ckpt") / "config.yaml"
SEMANTIC_CONFIG = Path("semantic_ckpts") / "hf_1_325000" / "config.json"

#: Globals a training checkpoint pickles besides tensors that are safe to build: builtin
#: types and containers (``typing.Any`` is omegaconf's type annotation of a value).
INERT_GLOBALS = ("builtins.dict", "builtins.list", "builtins.tuple", "builtins.set", "builtins.int",
                 "builtins.float", "builtins.str", "builtins.bool", "collections.OrderedDict",
                 "collections.defaultdict", "typing.Any")

#: Globals of this package are read as empty stand-ins (the optimiser settings, never used).
STAND_IN_PACKAGE = "omegaconf"


def codec_files(directory: Path) -> dict[str, Path]:
    """The three files read from YuE's codec folder: ``config``, ``checkpoint``, ``semantic``.

    Raises:
        ModelLoadError: A file is missing (named), ``final_ckpt`` holds no ``.pth`` or several,
            or the checkpoint is a Git LFS pointer that was never pulled.
    """
    directory = Path(directory)
    for part in (CONFIG_YAML, SEMANTIC_CONFIG):
        if not (directory / part).is_file():
            raise ModelLoadError(f"codec {directory}: {directory / part} is missing; a YuE codec "
                                 f"folder (xcodec_mini_infer) holds {CONFIG_YAML}, a .pth next to "
                                 f"it and {SEMANTIC_CONFIG}")
    found = sorted((directory / CONFIG_YAML.parent).glob("*.pth"))
    if len(found) != 1:
        raise ModelLoadError(f"codec {directory}: {directory / CONFIG_YAML.parent} must hold one "
                             f".pth checkpoint (YuE's is ckpt_00360000.pth), found "
                             f"{[p.name for p in found]}")
    with open(found[0], "rb") as fh:
        if fh.read(24).startswith(b"version https://git-lfs"):
            raise ModelLoadError(f"codec {directory}: {found[0]} is a Git LFS pointer, not the "
                                 "weights: run `git lfs pull` in the codec folder")
    return {"config": directory / CONFIG_YAML, "checkpoint": found[0],
            "semantic": directory / SEMANTIC_CONFIG}


def is_yue_codec(path: Path) -> bool:
    """True for YuE's codec folder (``final_ckpt/config.yaml``), False for ``XcodecModel``'s.

    An ``XcodecModel`` folder is one with a ``config.json`` (``save_pretrained``).

    Raises:
        ModelLoadError: It is neither (or does not exist), named.
    """
    path = Path(path)
    if (path / CONFIG_YAML).is_file():
        return True
    if (path / "config.json").is_file():
        return False
    raise ModelLoadError(
        f"codec {path} " + ("does not exist" if not path.exists() else "is not a codec folder")
        + f": give YuE's codec folder (inference/xcodec_mini_infer in its checkout: {CONFIG_YAML}, "
        f"a .pth next to it, {SEMANTIC_CONFIG}) or a transformers XcodecModel folder")


def codec_sha256(path: Path) -> str:
    """SHA-256 of a codec: of the three ``codec_files`` of YuE's folder, else of the weights."""
    from noiseloss.models.hub import weights_sha256

    files = list(codec_files(path).values()) if is_yue_codec(path) else None
    return weights_sha256(path, files=files)


def load_codec(path: Path, *, device: str, name: str):
    """The ``XcodecModel`` of ``-m codec=DIR`` (either folder), on ``device``, in eval mode."""
    from transformers import XcodecModel

    from noiseloss.models.hub import load_pretrained, resolve_device
    from noiseloss.scoring.options import ScoringOptions

    if is_yue_codec(path):
        return load_yue_codec(path).to(resolve_device(device))
    return load_pretrained(XcodecModel, path, options=ScoringOptions(device=device), name=name)


def _stand_in(name: str) -> type:
    """An empty class pickled as ``name``: built from any arguments, its state ignored."""

    def ignore(self, *args, **kwargs):
        pass

    module, _, qualname = name.rpartition(".")
    return type(qualname, (), {"__module__": module, "__init__": ignore, "__setstate__": ignore})


def read_codec_state(path: Path) -> dict:
    """The ``codec_model`` tensors of YuE's training checkpoint, read without running its code.

    The pickle's globals are listed first (a static scan: nothing is built); a file naming
    anything besides ``INERT_GLOBALS`` and ``omegaconf`` classes is refused. The rest is read
    with ``torch.load(weights_only=True)``, omegaconf objects as empty stand-ins.

    Raises:
        ModelLoadError: Not a ``torch.save`` zip file, a global outside those, or no
            ``codec_model`` dict of tensors.
        DependencyError: torch older than 2.6.
    """
    import builtins
    import collections
    import typing

    import torch

    if tuple(int(p) for p in re.findall(r"\d+", torch.__version__)[:2]) < (2, 6):
        raise DependencyError(f"reading YuE's codec checkpoint safely needs torch >= 2.6, this "
                              f"is {torch.__version__}")
    try:
        names = set(torch.serialization.get_unsafe_globals_in_checkpoint(str(path)))
    except Exception as exc:
        raise ModelLoadError(f"{path}: not a checkpoint written by torch.save in its zip format, "
                             f"so it cannot be checked before it is read ({exc})") from exc
    stand_ins = sorted(n for n in names if n.split(".")[0] == STAND_IN_PACKAGE)
    refused = sorted(names - set(INERT_GLOBALS) - set(stand_ins))
    if refused:
        raise ModelLoadError(f"{path}: refused, nothing in it was run: its pickle names "
                             f"{refused}, which could run code when read; YuE's codec "
                             f"checkpoint holds only tensors, builtin containers and omegaconf "
                             f"settings")
    modules = {"builtins": builtins, "collections": collections, "typing": typing}
    allowed = [(getattr(modules[n.rpartition(".")[0]], n.rpartition(".")[2]), n)
               for n in INERT_GLOBALS if n in names]
    allowed += [(_stand_in(n), n) for n in stand_ins]
    try:
        with torch.serialization.safe_globals(allowed):
            saved = torch.load(str(path), map_location="cpu", weights_only=True, mmap=True)
    except Exception as exc:
        raise ModelLoadError(f"{path}: cannot read the checkpoint as tensors ({exc})") from exc
    state = saved.get("codec_model") if isinstance(saved, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelLoadError(f"{path}: holds no 'codec_model' dict of tensors (keys: "
                             f"{sorted(saved)[:10] if isinstance(saved, dict) else type(saved)})")
    return state


#: Parts of YuE's ``SoundStream`` -> ``XcodecModel``, the key's prefix renamed.
PARTS = {"fc_prior.": "fc.", "fc_post1.": "fc1.", "fc_post2.": "fc2.",
         "semantic_model.": "semantic_model."}

#: Inside a DAC block, its ``Sequential`` index -> ``XcodecModel``'s name; a residual unit is
#: itself Snake, conv, Snake, conv (``RES_UNIT``).
ENCODER_BLOCK = {0: "res_unit1", 1: "res_unit2", 2: "res_unit3", 3: "snake1", 4: "conv1"}
DECODER_BLOCK = {0: "snake1", 1: "conv_t1", 2: "res_unit1", 3: "res_unit2", 4: "res_unit3"}
RES_UNIT = ("snake1", "conv1", "snake2", "conv2")


def _dac_key(key: str, *, blocks: int, decoder: bool) -> str:
    """A key inside DAC's ``Sequential`` (a conv, ``blocks`` blocks, a Snake, a conv), renamed."""
    prefix = "acoustic_decoder." if decoder else "acoustic_encoder."
    top, _, rest = key.partition(".")
    top = int(top)
    if not 1 <= top <= blocks:
        return f"{prefix}{ {0: 'conv1', blocks + 1: 'snake1', blocks + 2: 'conv2'}[top] }.{rest}"
    index, _, rest = rest.removeprefix("block.").partition(".")
    part = (DECODER_BLOCK if decoder else ENCODER_BLOCK)[int(index)]
    if part.startswith("res_unit"):
        unit, _, rest = rest.removeprefix("block.").partition(".")
        part += "." + RES_UNIT[int(unit)]
    return f"{prefix}block.{top - 1}.{part}.{rest}"


def xcodec_key(key: str, *, blocks: int) -> str:
    """The ``XcodecModel`` name of a key of YuE's ``SoundStream`` state (``blocks``: len(ratios)).

    Weight-norm halves keep their ``weight_g`` / ``weight_v`` suffix (``xcodec_state`` resolves
    them); a key of no known part is returned unchanged (the strict load names it).
    """
    for old, decoder in (("encoder.block.", False), ("decoder_2.model.", True)):
        if key.startswith(old):
            try:
                return _dac_key(key[len(old):], blocks=blocks, decoder=decoder)
            except (KeyError, IndexError, ValueError):
                return key
    if key.startswith(("encoder_semantic.", "decoder_semantic.")):
        return re.sub(r"(?<=\.)(conv\d?)\.conv\.", r"\1.", key)  # RepCodec's Conv1d wrappers
    if key.startswith("quantizer.vq.layers."):
        return key.replace("quantizer.vq.layers.", "quantizer.quantizers.").replace(
            "._codebook.", ".codebook.")
    for old, new in PARTS.items():
        if key.startswith(old):
            return new + key[len(old):]
    return key


def xcodec_state(state: dict, *, blocks: int, target: set[str]) -> dict:
    """YuE's ``codec_model`` tensors under ``XcodecModel``'s names (``target``: its state keys).

    A weight-normed convolution is saved as ``weight_g`` and ``weight_v``. Where the target
    keeps the parametrisation (HuBERT's positional conv) the halves are renamed to it; where it
    has a plain ``weight`` they are fused with ``torch._weight_norm``, the function YuE's
    forward computes them with, so that the fused weight is bit-identical.
    """
    import torch

    renamed = {xcodec_key(k, blocks=blocks): v for k, v in state.items()}
    out = {}
    for key, value in renamed.items():
        if key.endswith("weight_v") and key[:-1] + "g" in renamed:
            continue  # with its weight_g
        if not (key.endswith("weight_g") and key[:-1] + "v" in renamed):
            out[key] = value
            continue
        base, g, v = key[: -len("weight_g")], value, renamed[key[:-1] + "v"]
        if base + "parametrizations.weight.original0" in target:
            out[base + "parametrizations.weight.original0"] = g
            out[base + "parametrizations.weight.original1"] = v
        elif base + "weight" in target:
            dims = [d for d in range(g.ndim) if g.shape[d] != 1]
            out[base + "weight"] = torch._weight_norm(v, g, dims[0] if dims else 0)
        else:
            out[key], out[key[:-1] + "v"] = g, v
    return out


def xcodec_config(generator: dict, semantic, state: dict):
    """``XcodecConfig`` of YuE's ``generator.config``, its HuBERT config and its weights.

    The DAC widths are not in the YAML (YuE's class fixes them): they are read off the first
    encoder and decoder convolutions.
    """
    from transformers import XcodecConfig

    ratios = list(generator["ratios"])
    return XcodecConfig(
        target_bandwidths=list(generator["target_bandwidths"]),
        sample_rate=int(generator["sample_rate"]), codebook_size=int(generator["bins"]),
        acoustic_model_config={
            "encoder_hidden_size": int(state["encoder.block.0.weight_v"].shape[0]),
            "decoder_hidden_size": int(state["decoder_2.model.0.weight_v"].shape[0]),
            "downsampling_ratios": ratios, "upsampling_ratios": ratios,
            "hidden_size": int(generator["D"]), "sampling_rate": int(generator["sample_rate"])},
        semantic_model_config=semantic)


def load_yue_codec(directory: Path):
    """An ``XcodecModel`` (CPU, eval mode) with the weights of YuE's codec folder.

    Raises:
        ModelLoadError: A file is missing or unreadable, or the weights are not those of
            YuE's ``SoundStream`` (the keys that do not match are named).
    """
    import yaml
    from transformers import AutoConfig, XcodecModel

    from noiseloss.models.hub import quiet_transformers

    files = codec_files(directory)
    try:
        generator = yaml.safe_load(files["config"].read_text(encoding="utf-8"))["generator"]["config"]
        semantic = AutoConfig.for_model(**json.loads(files["semantic"].read_text(encoding="utf-8")))
    except Exception as exc:
        raise ModelLoadError(f"codec {directory}: cannot read {files['config']} (generator.config) "
                             f"or {files['semantic']} ({exc})") from exc
    state = read_codec_state(files["checkpoint"])
    try:
        config = xcodec_config(generator, semantic, state)
        with quiet_transformers():
            model = XcodecModel(config)
    except Exception as exc:
        raise ModelLoadError(f"codec {directory}: {files['config']} and {files['semantic']} do not "
                             f"describe an X-Codec ({exc})") from exc
    target = set(model.state_dict())
    weights = xcodec_state(state, blocks=len(generator["ratios"]), target=target)
    missing, unexpected = sorted(target - set(weights)), sorted(set(weights) - target)
    if missing or unexpected:
        raise ModelLoadError(f"{files['checkpoint']}: 'codec_model' is not YuE's X-Codec for "
                             f"{files['config']}: {len(missing)} weights missing {missing[:4]}, "
                             f"{len(unexpected)} unknown {unexpected[:4]}")
    try:
        model.load_state_dict(weights, strict=True)
    except RuntimeError as exc:
        raise ModelLoadError(f"{files['checkpoint']}: weights do not fit {files['config']} "
                             f"({exc})") from exc
    return model.eval()
