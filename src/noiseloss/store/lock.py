"""One writer per run folder: an advisory lock held while a process writes into it.

The lock is ``flock`` on ``DIR/.noiseloss.lock``: the kernel releases it when the process
exits, however it exits, so a killed run never leaves a stale lock. It is reentrant within a
process (the pipeline takes it, then the runner and the report take it again).

A lock file, and a folder, that the lock created are removed again when the block raises and
leaves nothing but the run's ``config.yaml``: a refused run leaves no debris.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from pathlib import Path

from noiseloss.errors import ParameterError

LOCK_NAME = ".noiseloss.lock"
_held: dict[Path, list] = {}  # folder -> [file object, depth]
_guard = threading.Lock()


@contextlib.contextmanager
def run_lock(run_dir: str | Path):
    """Hold the write lock of ``run_dir`` (created if missing) for the ``with`` block.

    Raises:
        ParameterError: ``run_dir`` is a file, or another process holds the lock (the message
            names the folder and the holder's pid).
    """
    folder = Path(run_dir).resolve()
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    if not existing.is_dir():
        raise ParameterError(f"run_dir {run_dir}: {existing} exists and is not a folder")
    created = [p for p in (folder / LOCK_NAME, folder, *folder.parents) if not p.exists()]
    with _guard:
        entry = _held.get(folder)
        if entry is None:
            folder.mkdir(parents=True, exist_ok=True)
            handle = open(folder / LOCK_NAME, "a+", encoding="utf-8")  # noqa: SIM115 (held)
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                owner = handle.read().strip() or "unknown"
                handle.close()
                raise ParameterError(
                    f"another noiseloss process (pid {owner}) is writing {run_dir}; wait for it "
                    "to finish or choose another run_dir") from None
            handle.seek(0)
            handle.truncate()
            handle.write(str(os.getpid()))
            handle.flush()
            entry = _held[folder] = [handle, 0, created]
        entry[1] += 1
    failed = True
    try:
        yield
        failed = False
    finally:
        with _guard:
            entry[1] -= 1
            if entry[1] == 0:
                fcntl.flock(entry[0], fcntl.LOCK_UN)
                entry[0].close()
                del _held[folder]
                if failed and entry[2]:
                    _remove_debris(folder, entry[2])


def _remove_debris(folder: Path, created: list[Path]) -> None:
    """Remove what the lock created where a refused run left nothing but its config.

    ``created``: the lock file, then the folders, deepest first.
    """
    if created[0].name == LOCK_NAME:
        created[0].unlink(missing_ok=True)
    if folder in created and {p.name for p in folder.iterdir()} <= {"config.yaml"}:
        (folder / "config.yaml").unlink(missing_ok=True)
        for path in created[1:]:
            try:
                path.rmdir()
            except OSError:
                break
