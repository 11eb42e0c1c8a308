"""``draw_all``: every figure the run's data supports, PNG + PDF, with ``figures/index.json``."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from noiseloss.figures.common import literal_text, save
from noiseloss.figures.curves import (
    draw_region_boxes,
    draw_region_curves,
    draw_token_losses,
    example_family,
)
from noiseloss.figures.lengths import draw_families, draw_lengths
from noiseloss.figures.profile import draw_model_comparison, draw_profile

TABLES = ("deltas", "sequence", "regions", "profile_clips", "profile_model")


def read_tables(run_dir: str | Path) -> dict[str, pd.DataFrame]:
    """The tables the figures need, from ``run_dir/tables/*.parquet``."""
    import pyarrow.parquet as pq

    folder = Path(run_dir) / "tables"
    return {name: pq.read_table(folder / f"{name}.parquet").to_pandas()
            for name in TABLES if (folder / f"{name}.parquet").is_file()}


@literal_text
def draw_all(run_dir: str | Path, tables: dict[str, pd.DataFrame] | None = None) -> dict[str, Path]:
    """Draw the figures of a run into ``run_dir/figures`` and index them.

    Figures are drawn only where the data supports them: delta-vs-length figures (Fig. 2 for
    noise, Fig. 5 for swap/permute) for families with two lengths or more, a per-colour
    comparison when noise families differ only in colour, Figs. 3-4 plus region box plots
    for an example family with a span, the profile-metric distributions per model and, with
    several models, their model-level metrics side by side.

    Args:
        run_dir: The run folder.
        tables: The output of ``analyze_run``; None reads ``run_dir/tables``.

    Returns:
        Figure name -> path of its PNG. ``figures/index.json`` maps each name to its PNG, PDF,
        source table and caption; the files of figures listed in an earlier ``index.json`` and
        not drawn again are removed.
    """
    from noiseloss.store.io import write_json

    tables = read_tables(run_dir) if tables is None else tables
    deltas, sequence, regions = (tables[name] for name in TABLES[:3])
    drawn = draw_lengths(sequence) + draw_families(sequence) if not sequence.empty else []
    family = example_family(deltas) if not deltas.empty else None
    if family is not None:
        drawn.append(draw_token_losses(deltas, family))
        if not regions.empty:
            drawn += [draw_region_curves(deltas, regions, family),
                      draw_region_boxes(regions, family)]
    if "profile_clips" in tables:  # absent from tables written before the profile metrics
        drawn += draw_profile(tables["profile_clips"])
        drawn += draw_model_comparison(tables["profile_model"])
    directory = Path(run_dir) / "figures"
    previous = _read_index(directory / "index.json")
    index = {d.name: save(d, directory) for d in drawn}
    write_json(index, directory / "index.json")
    kept = {entry[kind] for entry in index.values() for kind in ("png", "pdf")}
    for entry in previous.values():  # figures of an earlier analysis that are not redrawn
        for kind in ("png", "pdf"):
            if entry.get(kind) and entry[kind] not in kept:
                (directory / Path(entry[kind]).name).unlink(missing_ok=True)
    return {name: directory / entry["png"] for name, entry in index.items()}


def _read_index(path: Path) -> dict:
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return index if isinstance(index, dict) else {}
