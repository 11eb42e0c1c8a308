"""Files of the report folder: copies under content-hash names, so identical files are stored once.

Every asset lives under ``report/<folder>/`` and is referenced by a relative link, so the report
works from ``file://`` and can be moved or zipped as a whole.
"""

from __future__ import annotations

import hashlib
import io
import re
from pathlib import Path

import numpy as np

from noiseloss.errors import check_range

#: Audio the browser plays as it is; anything else is re-encoded to Ogg Vorbis.
PLAYABLE_SUFFIXES = (".ogg", ".oga", ".opus")


def inside(root: Path, relative: str | None) -> Path | None:
    """``root / relative`` if it names an existing file inside ``root``, else None.

    Paths stored in tables are relative to the run folder; one that is absolute or climbs out
    of it (``../``) is refused, so a report never copies files from elsewhere.
    """
    if relative is None or not isinstance(relative, str) or not relative:
        return None
    root = root.resolve()
    path = (root / relative).resolve()
    return path if path.is_file() and path.is_relative_to(root) else None


def safe_stem(name: str, *, max_chars: int = 40) -> str:
    """``name`` reduced to ``[A-Za-z0-9_-]`` (for readable asset names; never used as text)."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-")[:max_chars] or "file"


def encode_ogg(audio: np.ndarray, *, sample_rate: int, compression_level: float) -> bytes:
    """Mono float ``[samples]`` at ``sample_rate`` Hz -> Ogg Vorbis bytes.

    Args:
        audio: Mono signal in [-1, 1].
        sample_rate: Hz.
        compression_level: libsndfile's Vorbis setting, 0 (best quality) .. 1 (smallest file).
    """
    import soundfile as sf

    check_range("compression_level", compression_level, low=0.0, high=1.0)
    buffer = io.BytesIO()
    sf.write(buffer, np.asarray(audio, dtype=np.float32), sample_rate, format="OGG",
             subtype="VORBIS", compression_level=compression_level)
    return buffer.getvalue()


class AssetFolder:
    """Writes files under ``root/<folder>/<stem>-<content hash>.<suffix>``.

    Args:
        root: The report folder being built.
    """

    def __init__(self, root: Path):
        self.root = Path(root)
        self.bytes_written = 0
        self._seen: set[str] = set()

    def put(self, data: bytes, *, folder: str, stem: str, suffix: str) -> str:
        """Store ``data``; return its path relative to ``root`` (POSIX separators)."""
        digest = hashlib.sha256(data).hexdigest()[:16]
        relative = f"{folder}/{safe_stem(stem)}-{digest}{suffix.lower()}"
        if relative not in self._seen:
            path = self.root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            self._seen.add(relative)
            self.bytes_written += len(data)
        return relative

    def copy(self, source: Path, *, folder: str) -> str:
        """Copy the file ``source`` byte for byte; return its relative path."""
        return self.put(source.read_bytes(), folder=folder, stem=source.stem, suffix=source.suffix)


def playable_clip(source: Path, *, compression_level: float) -> tuple[bytes, str]:
    """A clip the browser can play: Ogg files as they are, anything else re-encoded to Vorbis.

    Args:
        source: Any file libsndfile reads (wav, flac, ogg, ...).
        compression_level: Vorbis setting for re-encoded clips (see ``encode_ogg``).

    Returns:
        ``(bytes, suffix)``.
    """
    if source.suffix.lower() in PLAYABLE_SUFFIXES:
        return source.read_bytes(), source.suffix.lower()
    import soundfile as sf

    from noiseloss.sources.audio import load_audio

    rate = int(sf.info(str(source)).samplerate)
    return encode_ogg(load_audio(source, sample_rate=rate), sample_rate=rate,
                      compression_level=compression_level), ".ogg"
