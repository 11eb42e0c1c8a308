"""noiseloss: likelihood-profile evaluation of music language models."""

from importlib.metadata import PackageNotFoundError, version

from noiseloss.errors import NoiselossError
from noiseloss.models import MODELS, load_model
from noiseloss.scoring.result import ScoreResult

try:
    __version__ = version("noiseloss")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0+unknown"

__all__ = ["MODELS", "NoiselossError", "ScoreResult", "load_model", "__version__"]
