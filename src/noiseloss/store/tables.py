"""Tidy tables of per-token NLL."""

from __future__ import annotations

import numpy as np

from noiseloss.scoring.result import ScoreResult


def nll_table(results: list[tuple[str, ScoreResult]]):
    """Long ``pyarrow.Table`` with one row per token.

    Columns: ``item, codebook, frame, time_s, code, nll, entropy`` (nll and the predictive
    entropy in nats, NaN where unscored; ``codebook`` counts the scored rows, ``frame`` the token
    column (a frame, or an event of a symbolic model), ``time_s`` its start in seconds on the
    result's time axis, ``code`` is the code each scores).
    """
    import pyarrow as pa

    cols: dict[str, list] = {k: [] for k in ("item", "codebook", "frame", "time_s", "code", "nll",
                                              "entropy")}
    for item, res in results:
        k_books, frames = res.nll.shape
        cb, fr = np.meshgrid(np.arange(k_books), np.arange(frames), indexing="ij")
        cols["item"].append(np.full(k_books * frames, item, dtype=object))
        cols["codebook"].append(cb.ravel().astype(np.int16))
        cols["frame"].append(fr.ravel().astype(np.int32))
        cols["time_s"].append(res.axis.seconds[fr.ravel()])
        cols["code"].append(res.targets.ravel().astype(np.int32))
        cols["nll"].append(res.nll.ravel().astype(np.float32))
        entropy = res.entropy if res.entropy is not None else np.full(res.nll.shape, np.nan)
        cols["entropy"].append(entropy.ravel().astype(np.float32))
    schema = pa.schema([("item", pa.string()), ("codebook", pa.int16()), ("frame", pa.int32()),
                        ("time_s", pa.float64()), ("code", pa.int32()), ("nll", pa.float32()),
                        ("entropy", pa.float32())])
    arrays = [pa.array(np.concatenate(v) if v else [], type=schema.field(k).type)
              for k, v in cols.items()]
    return pa.Table.from_arrays(arrays, schema=schema)
