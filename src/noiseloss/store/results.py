"""The resumable results store of a run: atomic Parquet parts, one per finished group of units.

``DIR/store/part-<hash>.parquet`` files are written with temp file + rename, so an interrupted
run never leaves a corrupt part; ``consolidate`` writes ``DIR/results.parquet`` (sorted by key,
deduplicated) from the parts. A part that cannot be read all the same (truncated, emptied or
overwritten by something else) is moved to ``DIR/store/quarantine/`` and its units count as
missing, so the next run computes them again.

Stores of version 1 named two columns differently (``RENAMED_COLUMNS``) and had no
``lead_frames`` (null: the analysis derives it from the alignment) and no ``entropy`` (null:
missing, never zero); stores written before the time axis had no ``modality``, ``time_s``,
``duration_seconds``, ``onset_seconds`` and ``length_seconds`` (audio frames: ``read_results``
derives them from ``frame_rate``); stores written before context memory had no ``kl`` (null).
They are read as the current version.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from noiseloss.errors import ParameterError
from noiseloss.store.io import write_parquet

#: Version-1 column -> current column.
RENAMED_COLUMNS = {"condition": "perturbation", "conditioning": "prompt"}

#: Columns every version has (the others may be missing in a file and are then null).
REQUIRED_COLUMNS = ("key", "model", "dataset", "item", "kind", "spec", "num_codebooks",
                    "num_frames", "frame_rate", "loss", "nll")


def results_schema():
    """Arrow schema of one row per unit (model x item x perturbation x prompt).

    The recorded parameters that perturbation kinds promote to columns
    (``noiseloss.perturb.RESULT_COLUMNS``) sit between the span and the seed.
    """
    import pyarrow as pa

    from noiseloss.perturb import RESULT_COLUMNS

    return pa.schema([
        ("key", pa.string()), ("model", pa.string()), ("dataset", pa.string()),
        ("item", pa.string()), ("perturbation", pa.string()), ("kind", pa.string()),
        ("spec", pa.string()), ("params", pa.string()),
        ("onset_frame", pa.int32()), ("length_frames", pa.int32()),
        ("onset_seconds", pa.float64()), ("length_seconds", pa.float64()),
        *((name, pa.type_for_alias(kind)) for name, (kind, _) in RESULT_COLUMNS.items()),
        ("seed", pa.int64()), ("prompt", pa.string()), ("alignment", pa.string()),
        ("lead_frames", pa.int16()),
        ("num_codebooks", pa.int16()), ("num_frames", pa.int32()), ("frame_rate", pa.float32()),
        ("modality", pa.string()), ("time_s", pa.list_(pa.float64())),
        ("duration_seconds", pa.float64()),
        ("loss", pa.float64()), ("nll", pa.list_(pa.float32())),
        ("entropy", pa.list_(pa.float32())), ("kl", pa.list_(pa.float32())),
        ("audio", pa.string()),
    ])


def read_results_table(path: str | Path):
    """A results Parquet file (a store part or ``results.parquet``) in the current schema.

    Version-1 columns are renamed; columns the file lacks are null.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    missing = [c for c in REQUIRED_COLUMNS if c not in table.column_names]
    if missing:
        raise ParameterError(f"{path} is not a noiseloss results table: it lacks {missing}")
    table = table.rename_columns([RENAMED_COLUMNS.get(n, n) for n in table.column_names])
    schema = results_schema()
    columns = [table.column(f.name).cast(f.type) if f.name in table.column_names
               else pa.nulls(len(table), f.type) for f in schema]
    return pa.Table.from_arrays(columns, schema=schema)


class ResultsStore:
    """Append-only store of unit rows under ``run_dir``."""

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)
        self.parts_dir = self.run_dir / "store"
        self.quarantine_dir = self.parts_dir / "quarantine"
        #: Parts set aside by this store object: original name -> path in the quarantine.
        self.quarantined: dict[str, Path] = {}

    def _parts(self) -> list[Path]:
        return sorted(self.parts_dir.glob("part-*.parquet")) if self.parts_dir.is_dir() else []

    def _quarantine(self, part: Path) -> None:
        self.quarantine_dir.mkdir(parents=True, exist_ok=True)
        target = self.quarantine_dir / part.name
        n = 1
        while target.exists():
            n += 1
            target = self.quarantine_dir / f"{part.stem}.{n}{part.suffix}"
        part.replace(target)
        self.quarantined[part.name] = target

    def _tables(self, *, keys_only: bool = False):
        """The table of every readable part (only its keys: ``keys_only``).

        Unreadable parts are quarantined.
        """
        import pyarrow as pa
        import pyarrow.parquet as pq

        for part in self._parts():
            try:
                yield (pq.read_table(part, columns=["key"]) if keys_only
                       else read_results_table(part))
            except (OSError, pa.ArrowException, ParameterError):
                self._quarantine(part)

    def keys(self) -> set[str]:
        """Keys of every stored unit (unreadable parts are quarantined first)."""
        return {k for table in self._tables(keys_only=True)
                for k in table.column("key").to_pylist()}

    def append(self, rows: list[dict]) -> Path | None:
        """Write ``rows`` (dicts with the schema's columns) as one new part, atomically."""
        import pyarrow as pa

        if not rows:
            return None
        schema = results_schema()
        table = pa.Table.from_pylist(rows, schema=schema)
        digest = hashlib.sha256("\n".join(sorted(r["key"] for r in rows)).encode()).hexdigest()
        return write_parquet(table, self.parts_dir / f"part-{digest[:20]}.parquet")

    def read(self, keys: set[str] | None = None):
        """The rows as one ``pyarrow.Table``, sorted by key, one row per key.

        Args:
            keys: Only these units (None: every stored unit).
        """
        import pyarrow as pa
        import pyarrow.compute as pc

        parts = list(self._tables())
        table = pa.concat_tables(parts) if parts else results_schema().empty_table()
        if keys is not None:
            table = table.filter(pc.is_in(table.column("key"), pa.array(sorted(keys),
                                                                         type=pa.string())))
        table = table.take(pc.sort_indices(table, [("key", "ascending")]))
        keys = table.column("key").to_pylist()
        first = [i for i, k in enumerate(keys) if i == 0 or keys[i - 1] != k]
        return table.take(pa.array(first, type=pa.int64())) if len(first) != len(keys) else table

    def consolidate(self, keys: set[str] | None = None) -> Path:
        """Write ``DIR/results.parquet`` from the parts (atomic).

        Args:
            keys: The units of the current experiment: units of an earlier, larger config in
                the same folder stay in the store but not in ``results.parquet``.
        """
        return write_parquet(self.read(keys), self.run_dir / "results.parquet")


def with_times(results):
    """A results ``pandas.DataFrame`` with the time columns of older rows filled in (a copy).

    Rows stored before the time axis are audio frames: ``time_s`` and ``duration_seconds``
    from ``frame_rate``, spans in seconds from spans in frames; ``modality`` audio.
    """
    import numpy as np
    import pandas as pd

    from noiseloss.timeaxis import TimeAxis

    results = results.reset_index(drop=True)  # a copy
    for column in ("modality", "time_s", "duration_seconds", "onset_seconds", "length_seconds"):
        if column not in results:
            results[column] = None
    results["modality"] = results["modality"].fillna("audio")
    axes = [None if times is not None and not (np.isscalar(times) and pd.isna(times)) else
            TimeAxis.frames(int(frames), frame_rate=float(rate))
            for times, frames, rate in zip(results["time_s"], results["num_frames"],
                                           results["frame_rate"], strict=True)]
    results["time_s"] = [t if a is None else a.seconds for t, a in zip(results["time_s"], axes,
                                                                      strict=True)]
    results["duration_seconds"] = [d if a is None else a.end_seconds for d, a in zip(
        results["duration_seconds"], axes, strict=True)]
    for frames, seconds in (("onset_frame", "onset_seconds"), ("length_frames", "length_seconds")):
        fill = results[seconds].isna() & results[frames].notna()
        results.loc[fill, seconds] = (results.loc[fill, frames].astype("float64")
                                      / results.loc[fill, "frame_rate"].astype("float64"))
    return results
