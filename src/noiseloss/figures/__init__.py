"""Paper-style figures of an analysed run (matplotlib, PNG and PDF, never shown on screen)."""

from noiseloss.figures.draw import draw_all, read_tables

__all__ = ["draw_all", "read_tables"]
