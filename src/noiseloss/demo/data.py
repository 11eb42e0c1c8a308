"""The demo data sets shipped in the package: ``train``, ``ood`` and ``generated`` excerpts.

They mirror the paper's three roles: excerpts of pieces the demo model was trained on, excerpts
of held-out composers (and a held-out timbre), and clips sampled from the demo model with top-k
sampling and decoded with the tokenizer's approximate decoder. Each set is a folder of 15 s,
32 kHz mono Ogg Vorbis files plus ``manifest.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

from noiseloss.errors import DependencyError, check_choice
from noiseloss.sources.datasets import BuiltinSource

DATASETS = ("train", "ood", "generated")
ASSETS = Path(__file__).parent / "assets"
AUDIO_SUFFIXES = (".ogg", ".flac")
MANIFEST = "manifest.json"
BUILD_HINT = "regenerate them with `noiseloss demo-model build` (see the demo MODEL_CARD.md)"


def set_folder(name: str, *, assets: Path, model: str, hint: str) -> Path:
    """Folder ``assets/data/name`` of a built-in data set of ``model`` (one of ``DATASETS``).

    Raises:
        DependencyError: It has no manifest (``hint`` says how to build it).
    """
    check_choice("dataset", name, DATASETS)
    folder = Path(assets) / "data" / name
    if not (folder / MANIFEST).is_file():
        raise DependencyError(f"{model} data set {name!r} is missing ({folder}); {hint}")
    return folder


def dataset_dir(name: str, *, assets: Path = ASSETS) -> Path:
    """Folder of the demo data set ``name`` (one of ``DATASETS``)."""
    return set_folder(name, assets=assets, model="demo", hint=BUILD_HINT)


def dataset_files(name: str, *, assets: Path = ASSETS) -> list[Path]:
    """Sorted audio files of the demo data set ``name``."""
    folder = dataset_dir(name, assets=assets)
    return sorted(p for p in folder.iterdir() if p.suffix in AUDIO_SUFFIXES)


def manifest(name: str, *, assets: Path = ASSETS) -> list[dict]:
    """One record per file (``file``, source work, composer/collection, instrument, licence...)."""
    folder = dataset_dir(name, assets=assets)
    return json.loads((folder / MANIFEST).read_text(encoding="utf-8"))


#: The ``demo:<set>`` sources of configs (``noiseloss.sources.datasets.SOURCES``).
SOURCE = BuiltinSource(DATASETS, "audio", dataset_files)
