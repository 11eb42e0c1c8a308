"""The ``demo-midi`` data sets shipped in the package: ``train``, ``ood`` and ``generated`` MIDI.

The same three roles as the audio demo's sets: 15 s excerpts of pieces ``demo-midi`` was
trained on, of held-out composers, and of its own top-k samples decoded to notes. Each set is a
folder of MIDI files (one program-0 instrument: a piano roll) plus ``manifest.json``; configs
name them ``demo-midi:train``, ``demo-midi:ood``, ``demo-midi:generated``.
"""

from __future__ import annotations

import json
from pathlib import Path

from noiseloss.demo.data import DATASETS, MANIFEST, set_folder
from noiseloss.sources.datasets import BuiltinSource

#: The shipped build (``noiseloss demo-model build --symbolic``).
ASSETS = Path(__file__).parent / "assets" / "midi"
BUILD_HINT = ("regenerate them with `noiseloss demo-model build --symbolic` (see the demo-midi "
              "MODEL_CARD.md)")


def dataset_dir(name: str, *, assets: Path = ASSETS) -> Path:
    """Folder of the ``demo-midi`` data set ``name`` (one of ``DATASETS``)."""
    return set_folder(name, assets=assets, model="demo-midi", hint=BUILD_HINT)


def dataset_files(name: str, *, assets: Path = ASSETS) -> list[Path]:
    """Sorted MIDI files of the ``demo-midi`` data set ``name``."""
    folder = dataset_dir(name, assets=assets)
    return sorted(p for p in folder.iterdir() if p.suffix == ".mid")


def manifest(name: str, *, assets: Path = ASSETS) -> list[dict]:
    """One record per file (``file``, source work, collection/composer, excerpt, licence...)."""
    folder = dataset_dir(name, assets=assets)
    return json.loads((folder / MANIFEST).read_text(encoding="utf-8"))


#: The ``demo-midi:<set>`` sources of configs (``noiseloss.sources.datasets.SOURCES``).
SOURCE = BuiltinSource(DATASETS, "symbolic", dataset_files)
