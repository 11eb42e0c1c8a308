"""Experiment configuration: YAML <-> nested dataclasses, one per section (unknown keys are errors).

A config crosses models x data sets x perturbation grids x prompts; each section below is one
dataclass and ``ExperimentConfig.to_dict()`` writes exactly what ``parse_config`` reads::

    name: paper-noise
    models: [demo]                                # or {name: DIR, backend: yue-s2, codec: DIR}
    datasets:                                     # DatasetSpec, one per name
      train: {source: "demo:train"}               #   built-in demo set
      mine:  {path: "my/folder", glob: "*.wav"}   #   any folder of audio or MIDI
      bach:  {music21: ["bach/bwv66.6"], program: 0}  # scores from the music21 corpus
    excerpt: {seconds: 15.0, offset_seconds: 0.0}  # Excerpt
    prompts: [{text: null}]                        # Prompt: text conditions (null: none)
    seeds: [0]
    perturbations:                                 # perturbation specs, with optional grids
      - kind: noise
        onset_frames: 250
        color: white
        grid: {length_frames: [5, 10, 50, 100, 150, 200]}
    scoring: {alignment: delayed, batch_size: null, device: cpu, dtype: float32,
              window_frames: null, stride_frames: null}   # ScoringOptions; null: the model decides
    analysis: {detector: zero-crossing, smooth_frames: 5, run_frames: 5,
               peak_window_frames: 5, lead_frames: null}   # DetectorOptions
    report: {audio_examples: 3}                    # ReportOptions
    plugins: [my_package.noiseloss_plugin]         # modules that register extensions (optional)

Device and dtype are checked here, before any model is located.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import yaml

from noiseloss.analysis.regions import DetectorOptions
from noiseloss.errors import (
    ConfigError,
    NoiselossError,
    check_choice,
    check_int,
    check_keys,
    check_number,
    suggest,
)
from noiseloss.plugins import load_plugins
from noiseloss.scoring.options import ScoringOptions
from noiseloss.sources.datasets import DatasetSpec

BUILTIN_PACKAGE = "noiseloss.configs"

#: Keys of earlier versions that were renamed: old -> new.
RENAMED_KEYS = {"conditionings": "prompts"}


class FrozenDict(Mapping):
    """A read-only, hashable mapping (insertion order kept): the dicts of a frozen config.

    Equal to any mapping with the same items; the hash ignores the order, as equality does.
    """

    __slots__ = ("_data",)

    def __init__(self, data=()):
        self._data = dict(data)

    def __getitem__(self, key):
        return self._data[key]

    def __iter__(self):
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        return hash(frozenset(self._data.items()))

    def __repr__(self) -> str:
        return f"FrozenDict({self._data!r})"


def freeze(value):
    """``value`` with every mapping a ``FrozenDict`` and every list a tuple (hashable)."""
    if isinstance(value, Mapping):
        return FrozenDict((k, freeze(v)) for k, v in value.items())
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    return value


def thaw(value):
    """``freeze`` undone: plain dicts and lists, as YAML reads and writes them."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [thaw(v) for v in value]
    return value


@dataclass(frozen=True)
class ModelSpec:
    """A model: a registered name, a Hugging Face id in the local cache or a folder.

    ``backend`` None: the registered model's, else MusicGen; ``options``: the backend's own,
    read-only (``freeze``: lists become tuples; ``to_data`` gives them back as lists).
    """

    name: str
    backend: str | None = None
    options: Mapping = field(default_factory=FrozenDict)

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"name must be a model name, id or folder, got {self.name!r}")
        if not isinstance(self.options, Mapping):
            raise ConfigError(f"options must be a mapping, got {self.options!r}")
        object.__setattr__(self, "options", freeze(self.options))
        if self.backend is not None:
            from noiseloss.models import BACKENDS

            BACKENDS.check(self.backend)

    @property
    def label(self) -> str:
        """The results' model column: the name, ``backend:name`` when a backend is given."""
        return self.name if self.backend is None else f"{self.backend}:{self.name}"

    def to_data(self):
        """The YAML entry: the bare name, or a mapping when a backend or options are set."""
        if self.backend is None and not self.options:
            return self.name
        return {"name": self.name, "backend": self.backend, **thaw(self.options)}


def _model(i: int, raw) -> ModelSpec:
    where = f"models[{i}]"
    if isinstance(raw, str):
        return ModelSpec(raw)
    if not isinstance(raw, dict) or "name" not in raw:
        raise ConfigError(f"{where} must be a model name or a mapping with a 'name' (and "
                          f"'backend' and its options), got {raw!r}")
    options = {k: v for k, v in raw.items() if k not in ("name", "backend")}
    try:
        return ModelSpec(raw["name"], raw.get("backend"), options)
    except NoiselossError as exc:
        raise ConfigError(f"{where}: {exc}") from exc


@dataclass(frozen=True)
class Excerpt:
    """The part of each source that is scored: ``seconds`` (None: to the end) from the offset.

    Both are at most ``MAX_SECONDS`` (a day): larger values are mistakes, and would overflow
    sample indices. A source whose excerpt is shorter than ``min_seconds`` is refused (None:
    any length; a shorter excerpt than ``seconds`` is scored as it is, and the run says so).
    """

    seconds: float | None = 15.0
    offset_seconds: float = 0.0
    min_seconds: float | None = None
    MAX_SECONDS = 86400.0

    def __post_init__(self):
        if self.seconds is not None:
            check_number("seconds", self.seconds, low=0.0, low_open=True, high=self.MAX_SECONDS)
        check_number("offset_seconds", self.offset_seconds, low=0.0, high=self.MAX_SECONDS)
        if self.min_seconds is not None:
            check_number("min_seconds", self.min_seconds, low=0.0,
                         high=self.seconds or self.MAX_SECONDS)


#: Where an audio condition of a model (MusicGen-Melody's ``melody``: its chroma) is taken from:
#: none; the clean excerpt, for the clean and every perturbed version alike; each version's own
#: audio (leaks the target).
CONDITION_SOURCES = ("none", "reference", "self")


@dataclass(frozen=True)
class Prompt:
    """The conditions of a unit: text, classifier-free guidance, a model's audio condition.

    ``text`` None is unconditional. ``condition`` names an audio condition that the model
    declares (``ModelInfo.conditions``: ``melody`` for MusicGen-Melody), written in a config as
    ``{melody: reference}``; ``source`` is where its audio comes from (``CONDITION_SOURCES``).
    """

    text: str | None = None
    guidance_scale: float | None = None
    condition: str | None = None
    source: str = "none"

    @classmethod
    def from_data(cls, raw: dict) -> Prompt:
        """A prompt from its config mapping.

        ``text``, ``guidance_scale`` and at most one ``<condition>: <source>`` (a source of
        ``none`` is no condition).
        """
        fixed = {k: raw[k] for k in ("text", "guidance_scale") if k in raw}
        extra = {k: v for k, v in raw.items() if k not in fixed and v != "none"}
        if len(extra) > 1:
            raise ConfigError(f"a prompt takes at most one audio condition, got {sorted(extra)}")
        condition, source = next(iter(extra.items()), (None, "none"))
        return cls(**fixed, condition=condition, source=source)

    def to_data(self) -> dict:
        """The config mapping that ``from_data`` reads back."""
        return {"text": self.text, "guidance_scale": self.guidance_scale,
                **({self.condition: self.source} if self.condition else {})}

    def __post_init__(self):
        if self.condition is not None and not (isinstance(self.condition, str)
                                               and self.condition.isidentifier()):
            raise ConfigError(f"an audio condition is named like melody, got {self.condition!r}")
        check_choice(self.condition or "source", self.source, CONDITION_SOURCES)
        if (self.condition is None) != (self.source == "none"):
            raise ConfigError(f"give a condition and its source together, got condition="
                              f"{self.condition!r} and source={self.source!r}")
        if self.text is not None and not isinstance(self.text, str):
            raise ConfigError(f"text must be a string or null, got {self.text!r}")
        if self.guidance_scale is not None:
            if self.text is None:
                raise ConfigError("guidance_scale requires text")
            check_number("guidance_scale", self.guidance_scale)

    @property
    def label(self) -> str:
        """Short readable label (the ``prompt`` column of the results)."""
        label = "unconditional" if self.text is None else f"text={self.text!r}" + (
            f",cfg={self.guidance_scale}" if self.guidance_scale is not None else "")
        return label + {"none": "", "reference": f",{self.condition}=reference",
                        "self": f",{self.condition}=self (leaks the target)"}[self.source]


@dataclass(frozen=True)
class ReportOptions:
    """What the report shows: ``audio_examples`` items per data set with audio players."""

    audio_examples: int = 3

    def __post_init__(self):
        check_int("audio_examples", self.audio_examples, low=0)


@dataclass(frozen=True)
class ExperimentConfig:
    """A validated experiment; ``perturbation_specs()`` expands the grids.

    Frozen and hashable: sequences are tuples and the perturbation entries ``FrozenDict``s
    (their lists tuples); ``to_dict`` and ``perturbation_specs`` give plain dicts and lists.
    """

    name: str
    models: tuple[ModelSpec, ...]
    datasets: tuple[DatasetSpec, ...]
    description: str = ""
    version: int = 1
    excerpt: Excerpt = field(default_factory=Excerpt)
    prompts: tuple[Prompt, ...] = (Prompt(),)
    seeds: tuple[int, ...] = (0,)
    perturbations: tuple[Mapping, ...] = ()
    scoring: ScoringOptions = field(default_factory=ScoringOptions)
    analysis: DetectorOptions = field(default_factory=DetectorOptions)
    report: ReportOptions = field(default_factory=ReportOptions)
    plugins: tuple[str, ...] = ()

    def __post_init__(self):
        for name in ("models", "datasets", "prompts", "seeds", "plugins"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(self, "perturbations", freeze(tuple(self.perturbations)))

    def perturbation_specs(self) -> list[dict]:
        """Every perturbation spec of the grid, each with its ``seed`` (kind first, sorted keys)."""
        specs = []
        for entry in self.perturbations:
            fixed = {k: thaw(v) for k, v in entry.items() if k != "grid"}
            grid = entry.get("grid", {})
            axes = sorted(grid)
            for values in itertools.product(*(grid[a] for a in axes)):
                for seed in self.seeds:
                    spec = {**fixed, **dict(zip(axes, thaw(values), strict=True)), "seed": seed}
                    specs.append({"kind": spec.pop("kind"), **dict(sorted(spec.items()))})
        return specs

    def to_dict(self) -> dict:
        """The config as the YAML mapping that ``parse_config`` reads back to an equal config."""
        return {
            "name": self.name, "description": self.description, "version": self.version,
            "models": [m.to_data() for m in self.models],
            "datasets": {d.name: d.to_dict() for d in self.datasets},
            "excerpt": dataclasses.asdict(self.excerpt),
            "prompts": [p.to_data() for p in self.prompts],
            "seeds": list(self.seeds),
            "perturbations": thaw(self.perturbations),
            "scoring": dataclasses.asdict(self.scoring),
            "analysis": self.analysis.to_dict(),
            "report": dataclasses.asdict(self.report),
            **({"plugins": list(self.plugins)} if self.plugins else {}),
        }

    def to_yaml(self) -> str:
        """``to_dict()`` as YAML text (never with aliases: ``load_config`` refuses them)."""
        return yaml.dump(self.to_dict(), Dumper=_NoAliasDumper, sort_keys=False,
                         allow_unicode=True)


class _NoAliasDumper(yaml.SafeDumper):
    """A safe dumper that writes a value shared twice in full, twice."""

    def ignore_aliases(self, data) -> bool:
        return True


def _section(cls, raw, where: str, **extra):
    """Build the dataclass ``cls`` from the mapping ``raw``; errors name ``where.key``."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a mapping, got {raw!r}")
    check_keys(raw, {f.name for f in dataclasses.fields(cls)} - set(extra), where=where)
    try:
        return cls(**raw, **extra)
    except NoiselossError as exc:
        raise ConfigError(f"{where}.{exc}" if str(exc).split()[0] in raw else f"{where}: {exc}") \
            from exc
    except TypeError as exc:  # a wrong type reaching a comparison inside a check
        raise ConfigError(f"{where}: {exc}") from exc


def _prompt(i: int, raw) -> Prompt:
    where = f"prompts[{i}]"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a mapping, got {raw!r}")
    try:
        return Prompt.from_data(raw)
    except NoiselossError as exc:
        raise ConfigError(f"{where}: {exc}") from exc
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def _list(raw, where: str, *, default: list) -> list:
    value = default if raw is None else raw
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{where} must be a non-empty list, got {raw!r}")
    return value


def _perturbation(i: int, raw) -> dict:
    from noiseloss.perturb import CONTEXT_KEYS, PERTURBATIONS, check_spec_keys, check_spec_values

    where = f"perturbations[{i}]"
    if not isinstance(raw, dict) or "kind" not in raw:
        raise ConfigError(f"{where} must be a mapping with a 'kind', got {raw!r}")
    grid = raw.get("grid", {})
    if not isinstance(grid, dict) or any(not isinstance(v, list) or not v for v in grid.values()):
        raise ConfigError(f"{where}.grid must map parameter names to non-empty lists, got {grid!r}")
    clash = set(grid) & (set(raw) - {"grid"})
    if clash:
        raise ConfigError(f"{where}: {sorted(clash)} given both as fixed value and grid axis")
    given = (set(raw) | set(grid)) - {"kind", "grid"}
    if given & set(CONTEXT_KEYS):
        raise ConfigError(f"{where}: {sorted(given & set(CONTEXT_KEYS))} come from the model "
                          "(seeds: the top-level 'seeds' list); leave them out")
    try:
        PERTURBATIONS.check(raw["kind"])
        check_spec_keys(raw["kind"], given, supplied=CONTEXT_KEYS)
        check_spec_values(raw["kind"], {k: v for k, v in raw.items() if k not in ("kind", "grid")},
                          grid=grid)
    except NoiselossError as exc:
        raise ConfigError(f"{where}: {exc}") from exc
    return dict(raw)


def _text(raw: dict, key: str, *, default: str) -> str:
    value = raw.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, str | int):  # "name: 2024" is fine
        raise ConfigError(f"{key} must be a text, got {value!r}")
    return str(value)


def parse_config(raw: dict, *, name: str = "config") -> ExperimentConfig:
    """Validate a config mapping; every problem is a ``ConfigError`` naming the key."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{name}: a config must be a mapping, got {type(raw).__name__}")
    for old, new in RENAMED_KEYS.items():
        if old in raw:
            raise ConfigError(f"{name}: the key {old!r} is now called {new!r}")
    check_keys(raw, {f.name for f in dataclasses.fields(ExperimentConfig)}, where=name)
    plugins = raw.get("plugins") or []
    if not isinstance(plugins, list):
        raise ConfigError(f"plugins must be a list of module names, got {plugins!r}")
    try:  # first: the rest of the config may name what they register
        load_plugins(plugins)
    except NoiselossError as exc:
        raise ConfigError(f"plugins: {exc}") from exc
    models = raw.get("models")
    if not models or not isinstance(models, list):
        raise ConfigError(f"models must be a non-empty list of model names/paths, got {models!r}")
    datasets = raw.get("datasets")
    if not datasets or not isinstance(datasets, dict):
        raise ConfigError(f"datasets must be a non-empty mapping name -> source, got {datasets!r}")
    seeds = _list(raw.get("seeds"), "seeds", default=[0])
    if not all(isinstance(s, int) and not isinstance(s, bool) and 0 <= s < 2**63 for s in seeds):
        raise ConfigError(f"seeds must be a non-empty list of integers in [0, 2**63), got {seeds!r}")
    perturbations = raw.get("perturbations") or []
    if not isinstance(perturbations, list):
        raise ConfigError(f"perturbations must be a list, got {perturbations!r}")
    version = raw.get("version", 1)
    if isinstance(version, bool) or not isinstance(version, int):
        raise ConfigError(f"version must be an integer, got {version!r}")
    config = ExperimentConfig(
        name=_text(raw, "name", default=name),
        description=_text(raw, "description", default=""),
        version=version,
        models=tuple(_model(i, m) for i, m in enumerate(models)),
        datasets=tuple(_section(DatasetSpec, spec, f"datasets.{key}", name=str(key))
                       for key, spec in datasets.items()),
        excerpt=_section(Excerpt, raw.get("excerpt"), "excerpt"),
        prompts=tuple(_prompt(i, p) for i, p in
                      enumerate(_list(raw.get("prompts"), "prompts", default=[{}]))),
        seeds=tuple(seeds),
        perturbations=tuple(_perturbation(i, p) for i, p in enumerate(perturbations)),
        scoring=_section(ScoringOptions, raw.get("scoring"), "scoring"),
        analysis=_section(DetectorOptions, raw.get("analysis"), "analysis"),
        report=_section(ReportOptions, raw.get("report"), "report"),
        plugins=tuple(plugins),
    )
    check_models(config)
    return config


def check_models(config: ExperimentConfig) -> None:
    """``ConfigError`` for a model paired with what it cannot read or score.

    An audio model reads audio and scores (rendered); a symbolic model reads scores only, and
    takes perturbations of scores and tokens (``perturb.context.MODEL_DOMAINS``). Data sets of
    folders are checked file by file when they are listed (``runner.run``). The scoring
    alignment must be one of each model's (``Backend.alignments``, where declared).
    """
    from noiseloss.models import backend_of
    from noiseloss.perturb import PERTURBATIONS
    from noiseloss.perturb.context import MODEL_DOMAINS

    for i, model in enumerate(config.models):
        backend = backend_of(model.name, backend=model.backend)
        modality, alignment = backend.modality, config.scoring.alignment
        if alignment is not None and backend.alignments and alignment not in backend.alignments:
            raise ConfigError(f"scoring.alignment {alignment!r} is not a layout of models[{i}] "
                              f"{model.label!r}; it has {list(backend.alignments)}")
        for j, entry in enumerate(config.perturbations):
            domain = PERTURBATIONS.get(entry["kind"]).domain
            if domain not in MODEL_DOMAINS[modality]:
                raise ConfigError(
                    f"models[{i}] {model.label!r} reads {modality} data and cannot score "
                    f"perturbations[{j}] {entry['kind']!r}, an edit of {domain}; a {modality} "
                    f"model takes edits of {' or '.join(MODEL_DOMAINS[modality])}")
        for dataset in config.datasets:
            if modality == "symbolic" and dataset.modality == "audio":
                raise ConfigError(
                    f"models[{i}] {model.label!r} reads scores and cannot score "
                    f"datasets.{dataset.name} ({dataset.source or dataset.path}), which is audio")


def builtin_configs() -> dict[str, str]:
    """Name -> description of the configs shipped with the package."""
    return {name: load_config(name).description for name in _builtin_names()}


def _builtin_names() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files(BUILTIN_PACKAGE).iterdir()
                  if p.name.endswith(".yaml"))


class _ConfigLoader(yaml.SafeLoader):
    """Safe YAML without duplicate keys or aliases.

    A duplicate key would silently win over the first; an alias bomb expands a few hundred
    bytes into hundreds of millions of nodes.
    """

    def compose_node(self, parent, index):
        if self.check_event(yaml.events.AliasEvent):
            event = self.peek_event()
            raise ConfigError(f"line {event.start_mark.line + 1}: YAML aliases (*{event.anchor}) "
                              "are not allowed in a config; write the value out")
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise ConfigError(f"line {key_node.start_mark.line + 1}: duplicate key {key!r}")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_config(name_or_path: str | Path) -> ExperimentConfig:
    """Load a built-in config by name (``paper-noise``) or a YAML file (``DIR/config.yaml``)."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        try:
            text, label = path.read_text(encoding="utf-8"), str(path)
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read the config as UTF-8 text ({exc})") from exc
    elif str(name_or_path) in _builtin_names():
        text = resources.files(BUILTIN_PACKAGE).joinpath(f"{name_or_path}.yaml").read_text("utf-8")
        label = str(name_or_path)
    else:
        raise ConfigError(f"{name_or_path!r} is neither a YAML file nor a built-in config; "
                          f"built-in: {_builtin_names()}."
                          f"{suggest(name_or_path, _builtin_names())}".rstrip("."))
    try:
        raw = yaml.load(text, Loader=_ConfigLoader)  # noqa: S506 (a SafeLoader subclass)
    except ConfigError as exc:
        raise ConfigError(f"{label}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{label}: invalid YAML ({exc})") from exc
    return parse_config(raw, name=label)


def run_config(run_dir: str | Path) -> ExperimentConfig | None:
    """A run folder's ``config.yaml``, or None when it has none (folders of older versions).

    Raises:
        ConfigError: It has one that does not load (a name registered by a module that is not
            loaded: its ``plugins:`` or ``--plugin``), named with the reason.
    """
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        return None
    try:
        return load_config(path)
    except NoiselossError as exc:
        raise ConfigError(f"{path} does not load, so its settings are unknown: {exc}. Load "
                          "the module that registers what it names (--plugin MODULE), or give "
                          "every option explicitly") from exc
