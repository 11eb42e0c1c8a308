"""Analysis of a run: loss differences, sequence losses, regions and the paper's statistics."""

from noiseloss.analysis.curves import (
    align_to_perturbed,
    delay_lead_frames,
    frame_curve,
    moving_average,
)
from noiseloss.analysis.regions import (
    DETECTORS,
    REGION_NAMES,
    DetectorOptions,
    Regions,
    detect_regions,
    fixed_anchor,
    region_stats,
    zero_crossing,
)
from noiseloss.analysis.run import (
    analyze_results,
    analyze_run,
    family_of,
    perturbation_frames,
    read_options,
    read_results,
    refresh_command,
)
from noiseloss.analysis.sequence import METRICS, Metric, sequence_stats, span_mask
from noiseloss.analysis.stats import length_points, length_trend, trend_tables

__all__ = [
    "DETECTORS", "METRICS", "REGION_NAMES", "DetectorOptions", "Metric", "Regions",
    "align_to_perturbed", "analyze_results", "read_options", "refresh_command",
    "analyze_run", "delay_lead_frames", "detect_regions", "family_of", "fixed_anchor",
    "frame_curve", "length_points", "length_trend", "moving_average", "perturbation_frames",
    "read_results", "region_stats", "sequence_stats", "span_mask", "trend_tables", "zero_crossing",
]
