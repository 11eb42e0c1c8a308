"""Experiment configuration: YAML -> validated dataclasses (unknown keys are errors).

A config crosses models x data sets x perturbation grids x conditionings::

    name: paper-noise
    models: [demo]
    datasets:
      train: {source: "demo:train"}          # built-in demo set
      mine:  {path: "my/folder", glob: "*.wav"}   # any folder of audio or MIDI
      bach:  {music21: ["bach/bwv66.6"], program: 0}  # scores from the music21 corpus
    excerpt: {seconds: 15.0, offset_seconds: 0.0}
    conditionings: [{text: null}]
    alignment: delayed
    seeds: [0]
    perturbations:
      - kind: noise
        onset_frames: 250
        color: white
        grid: {length_frames: [5, 10, 50, 100, 150, 200]}
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import yaml

from noiseloss.errors import ConfigError
from noiseloss.scoring.result import ALIGNMENTS

BUILTIN_PACKAGE = "noiseloss.configs"


@dataclass(frozen=True)
class DatasetSpec:
    """One data set: a built-in source (``demo:NAME``), a folder, or music21 corpus paths."""

    name: str
    source: str | None = None
    path: str | None = None
    glob: str = "*"
    music21: tuple[str, ...] = ()
    program: int = 0
    limit: int | None = None


@dataclass(frozen=True)
class Conditioning:
    """Text condition (None: unconditional) and optional classifier-free guidance scale."""

    text: str | None = None
    guidance_scale: float | None = None

    @property
    def label(self) -> str:
        """Short readable label."""
        if self.text is None:
            return "unconditional"
        return f"text={self.text!r}" + (f",cfg={self.guidance_scale}" if self.guidance_scale else "")


@dataclass(frozen=True)
class ExperimentConfig:
    """A validated experiment; ``perturbation_specs()`` expands the grids."""

    name: str
    models: tuple[str, ...]
    datasets: tuple[DatasetSpec, ...]
    perturbations: tuple[dict, ...] = ()
    excerpt_seconds: float | None = 15.0
    excerpt_offset_seconds: float = 0.0
    conditionings: tuple[Conditioning, ...] = (Conditioning(),)
    alignment: str = "delayed"
    seeds: tuple[int, ...] = (0,)
    batch_size: int = 8
    window_frames: int = 1500
    stride_frames: int = 750
    device: str = "cpu"
    dtype: str = "float32"
    audio_examples: int = 3
    description: str = ""
    version: int = 1
    extra: dict = field(default_factory=dict)

    def perturbation_specs(self) -> list[dict]:
        """Every perturbation spec of the grid, each with its ``seed`` (kind first, sorted keys)."""
        specs = []
        for entry in self.perturbations:
            fixed = {k: v for k, v in entry.items() if k != "grid"}
            grid = entry.get("grid", {})
            axes = sorted(grid)
            for values in itertools.product(*(grid[a] for a in axes)):
                for seed in self.seeds:
                    spec = {**fixed, **dict(zip(axes, values, strict=True)), "seed": seed}
                    specs.append({"kind": spec.pop("kind"), **dict(sorted(spec.items()))})
        return specs

    def to_dict(self) -> dict:
        """The resolved config as plain data (written to the run folder)."""
        return dataclasses.asdict(self)


def _require(mapping: dict, allowed: set, where: str) -> None:
    unknown = set(mapping) - allowed
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(allowed)}")


def _positive(value, name, *, integer=False, allow_zero=False):
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind) or value < 0 or (value == 0 and not allow_zero):
        raise ConfigError(f"{name} must be a {'positive integer' if integer else 'positive number'}, "
                          f"got {value!r}")
    return value


def _dataset(name: str, raw) -> DatasetSpec:
    if not isinstance(raw, dict):
        raise ConfigError(f"datasets.{name} must be a mapping, got {raw!r}")
    _require(raw, {"source", "path", "glob", "music21", "program", "limit"}, f"datasets.{name}")
    given = [k for k in ("source", "path", "music21") if raw.get(k)]
    if len(given) != 1:
        raise ConfigError(f"datasets.{name}: give exactly one of source/path/music21, got {given}")
    program = raw.get("program", 0)
    if not isinstance(program, int) or not 0 <= program <= 127:
        raise ConfigError(f"datasets.{name}.program must be a General MIDI program in [0, 127], "
                          f"got {program!r}")
    limit = raw.get("limit")
    if limit is not None:
        _positive(limit, f"datasets.{name}.limit", integer=True)
    return DatasetSpec(name=name, source=raw.get("source"), path=raw.get("path"),
                       glob=raw.get("glob", "*"), music21=tuple(raw.get("music21", ())),
                       program=program, limit=limit)


# Perturbation arguments that the runner fills in (never written in a config).
RUNNER_SUPPLIED = ("sample_rate", "hop_length", "seed", "codebook_size", "encode")


def _perturbation(i: int, raw) -> dict:
    from noiseloss.errors import ParameterError
    from noiseloss.perturb import PERTURBATIONS, check_spec_keys

    where = f"perturbations[{i}]"
    if not isinstance(raw, dict) or "kind" not in raw:
        raise ConfigError(f"{where} must be a mapping with a 'kind', got {raw!r}")
    if raw["kind"] not in PERTURBATIONS:
        raise ConfigError(f"{where}.kind {raw['kind']!r} is not a registered perturbation; "
                          f"registered: {PERTURBATIONS.keys()}")
    grid = raw.get("grid", {})
    if not isinstance(grid, dict) or any(not isinstance(v, list) or not v for v in grid.values()):
        raise ConfigError(f"{where}.grid must map parameter names to non-empty lists, got {grid!r}")
    clash = set(grid) & (set(raw) - {"grid"})
    if clash:
        raise ConfigError(f"{where}: {sorted(clash)} given both as fixed value and grid axis")
    if "seed" in raw or "seed" in grid:
        raise ConfigError(f"{where}: set seeds with the top-level 'seeds' list, not per perturbation")
    try:
        check_spec_keys(raw["kind"], (set(raw) | set(grid)) - {"kind", "grid"},
                        supplied=RUNNER_SUPPLIED)
    except ParameterError as exc:
        raise ConfigError(f"{where}: {exc}") from exc
    return dict(raw)


def parse_config(raw: dict, *, name: str = "config") -> ExperimentConfig:
    """Validate a config mapping; every problem is a ``ConfigError`` naming the key."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{name}: a config must be a mapping, got {type(raw).__name__}")
    _require(raw, {"name", "description", "version", "models", "datasets", "perturbations",
                   "excerpt", "conditionings", "alignment", "seeds", "scoring", "report"}, name)
    models = raw.get("models")
    if not models or not isinstance(models, list) or not all(isinstance(m, str) for m in models):
        raise ConfigError(f"models must be a non-empty list of model names/paths, got {models!r}")
    datasets = raw.get("datasets")
    if not datasets or not isinstance(datasets, dict):
        raise ConfigError(f"datasets must be a non-empty mapping name -> source, got {datasets!r}")
    excerpt = raw.get("excerpt", {}) or {}
    _require(excerpt, {"seconds", "offset_seconds"}, "excerpt")
    seconds = excerpt.get("seconds", 15.0)
    if seconds is not None:
        _positive(seconds, "excerpt.seconds")
    offset = _positive(excerpt.get("offset_seconds", 0.0), "excerpt.offset_seconds", allow_zero=True)
    conds = []
    for i, c in enumerate(raw.get("conditionings", [{"text": None}])):
        if not isinstance(c, dict):
            raise ConfigError(f"conditionings[{i}] must be a mapping, got {c!r}")
        _require(c, {"text", "guidance_scale"}, f"conditionings[{i}]")
        if c.get("guidance_scale") is not None and c.get("text") is None:
            raise ConfigError(f"conditionings[{i}]: guidance_scale requires text")
        conds.append(Conditioning(text=c.get("text"), guidance_scale=c.get("guidance_scale")))
    alignment = raw.get("alignment", "delayed")
    if alignment not in ALIGNMENTS:
        raise ConfigError(f"alignment must be one of {list(ALIGNMENTS)}, got {alignment!r}")
    seeds = raw.get("seeds", [0])
    if not isinstance(seeds, list) or not seeds or not all(
            isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds):
        raise ConfigError(f"seeds must be a non-empty list of non-negative integers, got {seeds!r}")
    scoring = raw.get("scoring", {}) or {}
    _require(scoring, {"batch_size", "device", "dtype", "window_frames", "stride_frames"}, "scoring")
    report = raw.get("report", {}) or {}
    _require(report, {"audio_examples"}, "report")
    return ExperimentConfig(
        name=str(raw.get("name", name)),
        description=str(raw.get("description", "")),
        version=int(raw.get("version", 1)),
        models=tuple(models),
        datasets=tuple(_dataset(k, v) for k, v in datasets.items()),
        perturbations=tuple(_perturbation(i, p) for i, p in enumerate(raw.get("perturbations", []))),
        excerpt_seconds=seconds,
        excerpt_offset_seconds=float(offset),
        conditionings=tuple(conds),
        alignment=alignment,
        seeds=tuple(seeds),
        batch_size=_positive(scoring.get("batch_size", 8), "scoring.batch_size", integer=True),
        window_frames=_positive(scoring.get("window_frames", 1500), "scoring.window_frames", integer=True),
        stride_frames=_positive(scoring.get("stride_frames", 750), "scoring.stride_frames", integer=True),
        device=str(scoring.get("device", "cpu")),
        dtype=str(scoring.get("dtype", "float32")),
        audio_examples=_positive(report.get("audio_examples", 3), "report.audio_examples",
                                 integer=True, allow_zero=True),
    )


def builtin_configs() -> list[str]:
    """Names of the configs shipped with the package."""
    return sorted(p.name[:-5] for p in resources.files(BUILTIN_PACKAGE).iterdir()
                  if p.name.endswith(".yaml"))


def load_config(name_or_path: str | Path) -> ExperimentConfig:
    """Load a built-in config by name (``paper-noise``) or a YAML file."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        text, label = path.read_text(encoding="utf-8"), str(path)
    elif str(name_or_path) in builtin_configs():
        text = resources.files(BUILTIN_PACKAGE).joinpath(f"{name_or_path}.yaml").read_text("utf-8")
        label = str(name_or_path)
    else:
        raise ConfigError(f"{name_or_path!r} is neither a YAML file nor a built-in config; "
                          f"built-in: {builtin_configs()}")
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{label}: invalid YAML ({exc})") from exc
    return parse_config(raw, name=label)
