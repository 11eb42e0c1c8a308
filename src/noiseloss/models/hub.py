"""Loading models the Hugging Face way, offline: shared by every backend.

Weights are never downloaded: a model id must already be in the local Hugging Face cache, or the
argument must be a local directory written by ``save_pretrained``. Identities hash the weight
files.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path

from noiseloss.errors import ModelLoadError, ParameterError
from noiseloss.scoring.layouts import Layout
from noiseloss.scoring.options import ScoringOptions, check_device
from noiseloss.scoring.scorer import Scorer
from noiseloss.tokenizers.base import Tokenizer


def resolve_device(device: str) -> str:
    """``"auto"`` -> ``"cuda"`` when available, else ``"cpu"``; CUDA/MPS must be available."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ParameterError(f"device {device!r} was asked for, but this torch has no CUDA device "
                             "(use device 'cpu' or 'auto')")
    if device == "mps" and not torch.backends.mps.is_available():
        raise ParameterError("device 'mps' was asked for, but MPS is not available here")
    return device


def cache_dir() -> Path:
    """The user cache folder.

    ``$NOISELOSS_CACHE_DIR``, else ``$XDG_CACHE_HOME/noiseloss``, else ``~/.cache/noiseloss``.
    """
    explicit = os.environ.get("NOISELOSS_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "noiseloss"


#: Weight files hashed in this process (the cache's misses).
files_hashed = 0


def weights_sha256(directory: Path, *, files: list[Path] | None = None) -> str:
    """SHA-256 over the weight files of a model directory (sorted by name), or over ``files``.

    A checkpoint of many gigabytes is hashed once per machine: the digest is kept in the user
    cache (``cache_dir() / "weights-sha256.json"``) under the files' paths, sizes, modification
    times and inodes, so that any change to a file (or a new file) hashes again. A cache that
    cannot be read or written is ignored.
    """
    files = sorted(files if files is not None else (
        p for p in Path(directory).rglob("*") if p.suffix in (".safetensors", ".bin", ".pt")))
    stats = [(str(p.resolve()), p.stat()) for p in files]
    key = hashlib.sha256(json.dumps([(path, st.st_size, st.st_mtime_ns, st.st_ino)
                                     for path, st in stats]).encode()).hexdigest()
    store = cache_dir() / "weights-sha256.json"
    try:
        known = json.loads(store.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        known = {}
    if isinstance(known, dict) and isinstance(known.get(key), str):
        return known[key]
    digest = _hash_files(tuple(str(p) for p in files))
    try:
        from noiseloss.store.io import write_json

        write_json({**(known if isinstance(known, dict) else {}), key: digest}, store)
    except OSError:
        pass
    return digest


def _hash_files(files: tuple[str, ...]) -> str:
    global files_hashed
    digest = hashlib.sha256()
    for path in files:
        digest.update(Path(path).name.encode())
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        files_hashed += 1
    return digest.hexdigest()


def locate(model_id: str) -> tuple[Path, dict]:
    """Find a model locally: a directory, or a snapshot in the Hugging Face cache (offline).

    Returns the directory and identity fields (``revision`` for cache snapshots).
    """
    path = Path(model_id).expanduser()
    if path.is_dir():
        return path, {"source": "directory"}
    try:
        from huggingface_hub import snapshot_download

        snap = Path(snapshot_download(model_id, local_files_only=True))
    except Exception as exc:
        raise ModelLoadError(
            f"model {model_id!r} is neither a local directory nor in the local Hugging Face cache, "
            "and noiseloss never downloads weights. Download it once on a machine with network "
            f"(`huggingface-cli download {model_id}`, then copy ~/.cache/huggingface/hub), or pass "
            "the directory of a model saved with `save_pretrained`. The built-in model is `demo`."
        ) from exc
    return snap, {"source": "hf-cache", "revision": snap.name}


@contextlib.contextmanager
def quiet_transformers():
    """Silence transformers while loading.

    MusicGen configs put pad = bos = vocab size on purpose (the special token has an embedding
    row but no output class), which transformers flags as "unexpected"; its weight-loading
    progress bars would clutter ours.
    """
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


def load_pretrained(cls, directory: Path, *, options: ScoringOptions, name: str):
    """``cls.from_pretrained(directory)`` offline and quietly, moved to the device, in eval mode.

    Args:
        cls: A transformers model class.
        directory: A ``save_pretrained`` folder.
        options: Device and dtype; half precision only on GPU (checked before anything loads).
        name: The model as the user named it (for error messages).

    Raises:
        ParameterError: A device that is not available, or half precision on CPU.
        ModelLoadError: The weights cannot be read.
    """
    device, dtype = resolve_device(options.device), options.dtype
    check_device(device, dtype)
    import torch

    try:
        with quiet_transformers():
            model = cls.from_pretrained(str(directory), local_files_only=True,
                                        dtype=getattr(torch, dtype))
    except Exception as exc:
        raise ModelLoadError(f"{name}: cannot load the weights in {directory} ({exc})") from exc
    return model.to(device).eval()


class CausalLMScorer(Scorer):
    """A ``transformers`` causal LM over one flat token stream (``C = 1``) and its layouts.

    YuE (``LlamaForCausalLM``) and the Anticipatory Music Transformer (``GPT2LMHeadModel``)
    score this way: their layouts build the stream and read each target's logit.
    """

    def __init__(self, model, tokenizer: Tokenizer, *, layouts: dict[str, Layout], name: str,
                 identity: dict, options: ScoringOptions):
        super().__init__(tokenizer, layouts=layouts, name=name, options=options)
        self.model, self.identity = model.eval(), identity

    def _logits(self, inputs, *, text, conditions=None):
        device = next(self.model.parameters()).device
        return self.model(input_ids=inputs[:, 0].to(device)).logits[:, None]

    def _cached_logits(self, inputs, cache):
        """The flat stream continuing ``cache``."""
        from noiseloss.scoring.cache import cached_forward

        device = next(self.model.parameters()).device
        out, cache = cached_forward(self.model, cache, input_ids=inputs[:, 0].to(device))
        return out.logits[:, None], cache

    def provenance(self) -> dict:
        """Model identity, dtype, device, windows."""
        param = next(self.model.parameters())
        return {**super().provenance(), **self.identity,
                "dtype": str(param.dtype).removeprefix("torch."), "device": str(param.device),
                "parameters": int(sum(p.numel() for p in self.model.parameters())),
                "window_frames": self.options.window_frames,
                "stride_frames": self.options.stride_frames}
