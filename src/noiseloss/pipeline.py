"""The one orchestration path: score -> analyse -> draw -> report, as ``noiseloss run`` does it.

Every stage takes its options from the config (``scoring``, ``analysis``, ``report``); the CLI
calls ``run_pipeline`` and only prints what it returns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from noiseloss.config import ExperimentConfig, load_config
from noiseloss.runner.run import RunSummary, run_experiment


@dataclass
class PipelineResult:
    """What a run produced: the scoring summary, the analysis tables, figures and report."""

    summary: RunSummary
    tables: dict = field(default_factory=dict)
    figures: dict[str, Path] = field(default_factory=dict)
    report: Path | None = None


def run_pipeline(config: ExperimentConfig | str | Path, run_dir: str | Path, *,
                 report: bool = True, executor=None,
                 on_progress: Callable[[str, int, int], None] | None = None) -> PipelineResult:
    """Run (or resume) an experiment into ``run_dir``, then analyse, draw and report it.

    Args:
        config: An ``ExperimentConfig``, a built-in config name or a YAML file.
        run_dir: Run folder; rerunning into it computes only the missing units.
        report: False: score only (no tables, figures or report).
        executor: Where the units run: None (this process) or a
            ``noiseloss.runner.ray_executor.RayExecutor``.
        on_progress: ``on_progress(description, done, total)`` after each group of units.
    """
    from noiseloss.analysis import analyze_run
    from noiseloss.figures import draw_all
    from noiseloss.report import write_report
    from noiseloss.store.lock import run_lock

    if not isinstance(config, ExperimentConfig):
        config = load_config(config)
    run_dir = Path(run_dir)
    with run_lock(run_dir):  # one writer from scoring to report
        result = PipelineResult(run_experiment(config, run_dir, executor=executor,
                                               on_progress=on_progress))
        if report:
            result.tables = analyze_run(run_dir, options=config.analysis)
            result.figures = draw_all(run_dir, result.tables)
            result.report = write_report(run_dir,
                                         examples_per_dataset=config.report.audio_examples)
    return result
