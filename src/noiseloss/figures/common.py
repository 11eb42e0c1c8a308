"""Shared figure plumbing: panels, colours, slugs and saving (PNG + PDF, no pyplot state)."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REGION_COLORS = {"peak": "tab:red", "assimilation": "tab:blue", "recovery": "tab:green"}


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


def literal_text(function):
    """Run ``function`` with every matplotlib text drawn literally, never parsed as mathtext.

    Names that reach a figure come from users (data sets, items, models, perturbations); one
    with ``$...$`` in it must be drawn as typed, not crash the TeX parser after a whole run.
    """

    @functools.wraps(function)
    def literal(*args, **kwargs):
        import matplotlib

        with matplotlib.rc_context({"text.parse_math": False}):
            return function(*args, **kwargs)

    return literal


def panels(rows: int, cols: int, *, width_inches: float = 3.6, height_inches: float = 2.8):
    """A constrained-layout figure with a ``[rows, cols]`` array of axes."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_inches * cols, height_inches * rows), layout="constrained")
    return fig, np.atleast_2d(fig.subplots(rows, cols, squeeze=False))


def grouped_boxes(ax, groups: list[str], series: dict[str, list[np.ndarray]]) -> dict:
    """Box plots of ``series`` (legend label -> one array per group) side by side per group.

    Each series gets one colour and one box per group; empty arrays draw nothing and are
    counted as 0 in the legend (``label (n=a/b/...)``), never plotted as 0.

    Returns:
        Legend label -> ``{group: median line}`` of the boxes drawn.
    """
    medians = {}
    width = 0.8 / max(len(series), 1)
    for i, (label, values) in enumerate(series.items()):
        positions = [j - 0.4 + width * (i + 0.5) for j in range(len(groups))]
        keep = [k for k, v in enumerate(values) if v.size]
        if keep:
            box = ax.boxplot([values[k] for k in keep], positions=[positions[k] for k in keep],
                             widths=width * 0.9, patch_artist=True, manage_ticks=False,
                             medianprops={"color": "k"})
            for patch in box["boxes"]:
                patch.set_facecolor(f"C{i}")
                patch.set_alpha(0.6)
            medians[label] = {groups[k]: line for k, line in zip(keep, box["medians"], strict=True)}
        counts = "/".join(str(v.size) for v in values)
        ax.plot([], [], color=f"C{i}", linewidth=6, alpha=0.6, label=f"{label} (n={counts})")
    ax.axhline(0.0, color="0.5", linewidth=0.6, linestyle="--")
    ax.set_xticks(range(len(groups)), groups)
    ax.legend(fontsize="small")
    return medians


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
