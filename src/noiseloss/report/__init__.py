"""The static HTML report of a run folder: ``write_report(run_dir) -> run_dir/report/index.html``."""

from noiseloss.report.html import write_report

__all__ = ["write_report"]
