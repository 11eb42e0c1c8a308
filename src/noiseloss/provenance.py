"""Provenance recorded with every output: versions, git commit, date, host, model identity."""

from __future__ import annotations

import datetime as _dt
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

LIBRARIES = ("noiseloss", "torch", "transformers", "numpy", "scipy", "soundfile", "soxr",
             "pyarrow", "pyloudnorm", "pretty_midi", "matplotlib")


def library_versions() -> dict[str, str | None]:
    """Installed version of each library that influences results (None if absent)."""
    out = {}
    for lib in LIBRARIES:
        try:
            out[lib] = version(lib)
        except PackageNotFoundError:
            out[lib] = None
    return out


def git_commit() -> str | None:
    """Commit of the noiseloss source tree when it is a git checkout (editable installs)."""
    try:
        proc = subprocess.run(["git", "-C", str(Path(__file__).parent), "rev-parse", "HEAD"],
                              capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout.strip() or None


def collect(scorer=None, **extra) -> dict:
    """A JSON-serialisable provenance record; ``scorer.provenance()`` goes under ``model``."""
    record = {
        "date_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": library_versions(),
        "git_commit": git_commit(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    if scorer is not None:
        record["model"] = scorer.provenance()
    record.update(extra)
    return record
