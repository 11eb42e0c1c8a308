"""Shared figure plumbing: panels, colours, slugs and saving (PNG + PDF, no pyplot state)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REGION_COLORS = {"peak": "tab:red", "assimilation": "tab:blue", "recovery": "tab:green"}
METRIC_LABELS = {
    "loss_delta": "Δℓ, whole item (nats)",
    "mean_outside_delta": "Δℓ, outside the span (nats)",
}


@dataclass
class Drawn:
    """One figure ready to save.

    Attributes:
        name: File stem under ``figures/``.
        figure: A ``matplotlib.figure.Figure`` (never registered with pyplot).
        table: The table of ``tables/`` it is drawn from.
        caption: What it shows, with the choices made (examples picked, lines omitted).
    """

    name: str
    figure: object
    table: str
    caption: str


def panels(rows: int, cols: int, *, width_inches: float = 3.6, height_inches: float = 2.8):
    """A constrained-layout figure with a ``[rows, cols]`` array of axes."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_inches * cols, height_inches * rows), layout="constrained")
    return fig, np.atleast_2d(fig.subplots(rows, cols, squeeze=False))


def slug(text: str) -> str:
    """File-name-safe lower-case form of ``text`` (runs of other characters become ``-``)."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def save(drawn: Drawn, directory: Path) -> dict:
    """Write ``name.png`` (150 dpi) and ``name.pdf``; return their index entry."""
    directory.mkdir(parents=True, exist_ok=True)
    png, pdf = directory / f"{drawn.name}.png", directory / f"{drawn.name}.pdf"
    drawn.figure.savefig(png, dpi=150)
    drawn.figure.savefig(pdf, metadata={"CreationDate": None, "ModDate": None})
    return {"png": png.name, "pdf": pdf.name, "table": drawn.table, "caption": drawn.caption}
