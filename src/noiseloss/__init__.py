"""noiseloss: likelihood-profile evaluation of music language models."""

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version

from noiseloss.errors import NoiselossError

try:
    __version__ = version("noiseloss")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0+unknown"

# Resolved on first access, so that importing any submodule (errors, perturb, the CLI) does not
# import torch.
_LAZY = {"MODELS": "noiseloss.models", "load_model": "noiseloss.models",
         "model_info": "noiseloss.models", "ScoreResult": "noiseloss.scoring.result",
         "load_config": "noiseloss.config", "run_pipeline": "noiseloss.pipeline",
         "profile": "noiseloss.profiling", "correlate": "noiseloss.profiling",
         "audit": "noiseloss.auditing"}


def __getattr__(name):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'noiseloss' has no attribute {name!r}")


__all__ = ["MODELS", "NoiselossError", "ScoreResult", "__version__", "audit", "correlate",
           "load_config", "load_model", "model_info", "profile", "run_pipeline"]
