"""The resumable results store of a run: atomic Parquet parts, one per finished group of units.

``DIR/store/part-<hash>.parquet`` files are written with temp file + rename, so an interrupted
run never leaves a corrupt part; ``consolidate`` writes ``DIR/results.parquet`` (sorted by key,
deduplicated) from all parts.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from noiseloss.store.io import write_parquet


def results_schema():
    """Arrow schema of one row per unit (item x condition x model)."""
    import pyarrow as pa

    return pa.schema([
        ("key", pa.string()), ("model", pa.string()), ("dataset", pa.string()),
        ("item", pa.string()), ("condition", pa.string()), ("kind", pa.string()),
        ("spec", pa.string()), ("params", pa.string()),
        ("onset_frame", pa.int32()), ("length_frames", pa.int32()),
        ("color", pa.string()), ("level_db", pa.float64()), ("level_ref", pa.string()),
        ("seed", pa.int64()), ("conditioning", pa.string()), ("alignment", pa.string()),
        ("num_codebooks", pa.int16()), ("num_frames", pa.int32()), ("frame_rate", pa.float32()),
        ("loss", pa.float64()), ("nll", pa.list_(pa.float32())), ("audio", pa.string()),
    ])


class ResultsStore:
    """Append-only store of unit rows under ``run_dir``."""

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)
        self.parts_dir = self.run_dir / "store"

    def _parts(self) -> list[Path]:
        return sorted(self.parts_dir.glob("part-*.parquet")) if self.parts_dir.is_dir() else []

    def keys(self) -> set[str]:
        """Keys of every stored unit."""
        import pyarrow.parquet as pq

        keys: set[str] = set()
        for part in self._parts():
            keys.update(pq.read_table(part, columns=["key"]).column("key").to_pylist())
        return keys

    def append(self, rows: list[dict]) -> Path | None:
        """Write ``rows`` (dicts with the schema's columns) as one new part, atomically."""
        import pyarrow as pa

        if not rows:
            return None
        schema = results_schema()
        table = pa.Table.from_pylist(rows, schema=schema)
        digest = hashlib.sha256("\n".join(sorted(r["key"] for r in rows)).encode()).hexdigest()
        return write_parquet(table, self.parts_dir / f"part-{digest[:20]}.parquet")

    def read(self):
        """All rows as one ``pyarrow.Table``, sorted by key, one row per key."""
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        parts = [pq.read_table(p, schema=results_schema()) for p in self._parts()]
        table = pa.concat_tables(parts) if parts else results_schema().empty_table()
        table = table.take(pc.sort_indices(table, [("key", "ascending")]))
        keys = table.column("key").to_pylist()
        first = [i for i, k in enumerate(keys) if i == 0 or keys[i - 1] != k]
        return table.take(pa.array(first, type=pa.int64())) if len(first) != len(keys) else table

    def consolidate(self) -> Path:
        """Write ``DIR/results.parquet`` from all parts (atomic)."""
        return write_parquet(self.read(), self.run_dir / "results.parquet")
