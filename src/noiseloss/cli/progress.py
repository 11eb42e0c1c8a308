"""Progress bars shared by the commands (rich, written to stderr)."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

# soft_wrap: never break file paths across lines (tests and users grep for them)
console = Console(stderr=True, soft_wrap=True)


def progress_bar() -> Progress:
    """A progress bar with a description, count and remaining time."""
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeRemainingColumn(), console=console, transient=False)


def report_skip(item, reason) -> None:
    """One line on stderr for an item that was skipped (user text is escaped, never markup)."""
    console.print(f"[red]skipped[/red] {escape(str(item))}: {escape(str(reason))}")
