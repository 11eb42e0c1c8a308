"""Atomic file writes: a crash never leaves a half-written table or JSON file behind."""

from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path

_umask_lock = threading.Lock()


def current_umask() -> int:
    """The process umask (read by setting it and setting it back, under a lock)."""
    with _umask_lock:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def respect_umask(path: str | Path, *, directory: bool = False) -> None:
    """Give ``path`` the mode a plain ``open``/``mkdir`` would (``mkstemp`` makes 0600/0700)."""
    os.chmod(path, (0o777 if directory else 0o666) & ~current_umask())


def _atomic(path: Path, write) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        respect_umask(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def write_parquet(table, path: str | Path) -> Path:
    """Write a ``pyarrow.Table`` to ``path`` atomically (temp file + rename)."""
    import pyarrow.parquet as pq

    return _atomic(Path(path), lambda tmp: pq.write_table(table, tmp))


def write_json(obj, path: str | Path) -> Path:
    """Write JSON (indented, UTF-8) to ``path`` atomically."""

    def write(tmp):
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(obj, fh, indent=2, ensure_ascii=False, default=str)
            fh.write("\n")

    return _atomic(Path(path), write)


def write_text(text: str, path: str | Path) -> Path:
    """Write UTF-8 text to ``path`` atomically."""
    return _atomic(Path(path), lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def write_csv(frame, path: str | Path) -> Path:
    """Write a ``pandas.DataFrame`` to ``path`` as CSV (no index) atomically."""
    return _atomic(Path(path), lambda tmp: frame.to_csv(tmp, index=False))
