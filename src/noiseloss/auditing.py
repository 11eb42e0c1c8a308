"""``noiseloss.audit``: does a metric notice damage whose order of severity is known?

The paper's noise injection audits one metric, the loss, against controlled damage; this does
the same for every profile metric and for scores computed by other tools::

    SOURCES + model                           DIR/
      -> battery: each clip's excerpt and       battery/        the run (resumable)
         F families x 3 severities of damage
         (``battery``; one run config)
      -> the files of every unit, manifest      files/          *.flac (audio models), *.mid
                                                manifest.csv    file, item, family, severity,
                                                                level, parameter
      -> ``noiseloss profile`` of every file    profile/        every clip and probe metric
      -> + external scores (``scores``)                         (a CSV over the same files)
      -> per metric x family: AUROC damaged     audit.parquet, audit.csv       metric x family
         vs clean, Spearman vs severity,        severity.parquet, severity.csv  x severity
         intervals, wrong-way flag, verdict     audit.png, audit.html, audit.json

Both runs go through the runner: a rerun scores only what is missing. Every metric, internal
or external, is a column over the same files, so all are audited alike
(``noiseloss.analysis.audit``). The files are what the model scored: an audio model's excerpts
as the run saved them; a symbolic model's scores are written here from the same excerpt,
perturbation and per-item seed (``runner.run.item_seed``) as the run used.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from noiseloss.analysis.audit import CLEAN
from noiseloss.analysis.stats import BOOTSTRAP_RESAMPLES
from noiseloss.errors import ParameterError, check_int, check_number

#: Severities of every family (1 mildest); 0 is the clean clip.
SEVERITIES = (1, 2, 3)


@dataclass(frozen=True)
class Family:
    """One damage family: a perturbation kind and one parameter that grows with severity.

    Attributes:
        name: Row label of the tables.
        kind: A registered perturbation (``noiseloss.perturb.PERTURBATIONS``).
        parameter: The parameter of the ladder.
        ladder: Its values at severities 1, 2, 3.
        fixed: The kind's other parameters.
    """

    name: str
    kind: str
    parameter: str
    ladder: tuple
    fixed: Mapping = field(default_factory=dict)

    def entry(self) -> dict:
        """The ``perturbations`` entry of a run config: the fixed values and a one-axis grid."""
        return {"kind": self.kind, **self.fixed, "grid": {self.parameter: list(self.ladder)}}


def battery(modality: str, *, excerpt_seconds: float) -> list[Family]:
    """The damage families for a model of ``modality``, fitted to excerpts of that length.

    Damage falls in the middle third of the excerpt: onset ``S = excerpt_seconds / 3`` (a clean
    context before it), fixed spans ``S`` long, growing spans ``S/4, S/2, S``::

        audio     noise      white noise added over the span at SNR 30, 20, 10 dB
                  shuffle    two adjacent blocks of S/8, S/4, S/2 swapped
                  reverse    a span of S/4, S/2, S played backwards
                  loop       the S/4, S/2, S before the onset played again (inserted)
                  dropout    S/4, S/2, S of silence inserted
                  lowpass    the span low-passed at 4, 2, 1 kHz
                  clipping   the span overdriven by 6, 12, 24 dB into clipping
        symbolic  note-noise random notes replace a span of S/4, S/2, S
                  shuffle    4 blocks of S/16, S/8, S/4 in a random order
                  tempo-warp 20, 50, 80 % of the piece time-stretched (x0.5 to x2)
                  loop       the S/4 before the onset repeated through S/4, S/2, S
                  transpose  a span of S/4, S/2, S moved by a tritone
                  note-delete 10, 25, 50 % of the notes deleted

    An audio model reads MIDI sources rendered and gets the audio families.
    """
    from noiseloss.timeaxis import MODALITIES

    if modality not in MODALITIES:
        raise ParameterError(f"modality must be one of {list(MODALITIES)}, got {modality!r}")
    span = round(check_number("excerpt_seconds", excerpt_seconds, low=0.0, low_open=True) / 3, 4)
    onset = {"onset_seconds": span}
    fixed = {**onset, "length_seconds": span}
    growing = (span / 4, span / 2, span)
    if modality == "audio":
        return [
            Family("noise", "noise", "level_db", (-30.0, -20.0, -10.0),
                   {**fixed, "mode": "add", "level_ref": "signal", "color": "white"}),
            Family("shuffle", "swap", "block_seconds", (span / 8, span / 4, span / 2), onset),
            Family("reverse", "reverse", "length_seconds", growing, onset),
            Family("loop", "repeat", "length_seconds", growing, onset),
            Family("dropout", "silence", "length_seconds", growing, onset),
            Family("lowpass", "lowpass", "cutoff_hz", (4000.0, 2000.0, 1000.0), fixed),
            Family("clipping", "hard-clip", "drive_db", (6.0, 12.0, 24.0), fixed),
        ]
    return [
        Family("note-noise", "note-noise", "length_seconds", growing, onset),
        Family("shuffle", "score-permute", "block_seconds", (span / 16, span / 8, span / 4),
               {**onset, "num_blocks": 4}),
        Family("tempo-warp", "tempo-warp", "ratio", (0.2, 0.5, 0.8)),
        Family("loop", "loop", "length_seconds", growing, {**onset, "bar_seconds": span / 4}),
        Family("transpose", "transpose-span", "length_seconds", growing,
               {**onset, "semitones": 6}),
        Family("note-delete", "note-delete", "ratio", (0.1, 0.25, 0.5)),
    ]


@dataclass(frozen=True)
class AuditOptions:
    """What an audit scores (the one home of its defaults).

    Attributes:
        excerpt_seconds: Seconds of each clip scored, from its start.
        clips: Clips per source (None: all).
        probes: Noise probes per file for the probe metrics (audio models; a symbolic model's
            files get none, and its probe metrics have no values).
        families: Names of the ``battery`` families to run (None: all of them).
        seed: Seeds the damage, the probes and the intervals.
        resamples: Bootstrap resamples of each interval.
    """

    excerpt_seconds: float = 15.0
    clips: int | None = None
    probes: int = 8
    families: tuple[str, ...] | None = None
    seed: int = 0
    resamples: int = BOOTSTRAP_RESAMPLES

    def __post_init__(self):
        check_number("excerpt_seconds", self.excerpt_seconds, low=0.0, low_open=True)
        if self.clips is not None:
            check_int("clips", self.clips, low=2)
        check_int("probes", self.probes, low=0)
        check_int("seed", self.seed, low=0, high=2 ** 63 - 1)
        check_int("resamples", self.resamples, low=1)
        if self.families is not None:
            object.__setattr__(self, "families", tuple(self.families))

    @classmethod
    def tiny(cls, **changes) -> AuditOptions:
        """The CI-sized audit: 2 clips per source, 3 s excerpts, 1 probe, 100 resamples."""
        return cls(**{"excerpt_seconds": 3.0, "clips": 2, "probes": 1, "resamples": 100,
                      **changes})

    def families_for(self, modality: str) -> list[Family]:
        """The ``battery`` of ``modality``, restricted to ``families`` (checked by name)."""
        families = battery(modality, excerpt_seconds=self.excerpt_seconds)
        if self.families is None:
            return families
        names = [f.name for f in families]
        unknown = [f for f in self.families if f not in names]
        if unknown or not self.families:
            article = "an" if modality == "audio" else "a"
            raise ParameterError(f"families must name damage families of {article} {modality} "
                                 f"model, {names}; got {list(self.families)}")
        return [f for f in families if f.name in self.families]

    def profile_options(self, modality: str):
        """The ``ProfileOptions`` that score every file.

        The probes keep ``ProfileOptions``' context and tail, at most a third of the excerpt
        each (short excerpts: the probes fall in the middle third, with the damage). An audio
        clip shorter than ``ProfileOptions``' shortest clip is refused by the battery, by its
        source's name; a symbolic file is profiled whatever its length (an excerpt of a score
        ends with its last note, before the excerpt's end).
        """
        from noiseloss.analysis.profile import ProfileOptions

        margin = min(ProfileOptions.context_seconds, ProfileOptions.tail_seconds,
                     self.excerpt_seconds / 3)
        audio = modality == "audio"
        return ProfileOptions(probes=self.probes, excerpt_seconds=self.excerpt_seconds,
                              seed=self.seed,
                              context_seconds=margin, tail_seconds=margin,
                              min_clip_seconds=None if audio else 0.0)


@dataclass
class AuditResult:
    """What ``audit`` wrote: the tables, one verdict line per metric, the page."""

    table: pd.DataFrame
    severity: pd.DataFrame
    manifest: pd.DataFrame
    verdicts: dict[str, str]
    out_dir: Path
    page: Path | None = None
    failed: dict = field(default_factory=dict)


def audit_config(sources: Sequence[str | Path], *, model: str, families: list[Family],
                 options: AuditOptions, backend: str | None = None,
                 model_options: dict | None = None, scoring=None, modality: str = "audio"):
    """The run config of the battery: every clip clean and damaged by every family.

    A clip shorter than the profile of the audit's files accepts is refused here, by its
    source's name (``AuditOptions.profile_options``).
    """
    from noiseloss.config import ModelSpec, parse_config
    from noiseloss.profiling import datasets_of
    from noiseloss.scoring.options import ScoringOptions
    from noiseloss.sources.datasets import resolve_items

    datasets = [dataclasses.replace(d, limit=options.clips) for d in datasets_of(sources)]
    return parse_config({
        "name": "audit",
        "description": "clean clips and graded damages (noiseloss audit)",
        "models": [ModelSpec(model, backend=backend, options=dict(model_options or {})).to_data()],
        "datasets": {d.name: d.to_dict() for d in datasets},
        "excerpt": {"seconds": options.excerpt_seconds,
                    "min_seconds": options.profile_options(modality).shortest_clip_seconds},
        "seeds": [options.seed],
        "perturbations": [f.entry() for f in families],
        "scoring": dataclasses.asdict(scoring or ScoringOptions()),
        # every unit's audio is saved: the damaged files
        "report": {"audio_examples": max(len(resolve_items(d)) for d in datasets)}},
        name="audit")


def manifest_of(results: pd.DataFrame, config, families: list[Family], *,
                out_dir: Path) -> pd.DataFrame:
    """Write the file of every scored unit under ``out_dir/files``; one manifest row each.

    An audio model's units: the excerpt the run saved, as FLAC (lossless and byte for byte
    reproducible, so a rerun keys the same files); a symbolic model's: the score, as MIDI
    (``_write_scores``).

    Returns:
        ``file`` (relative to ``out_dir``), ``item`` (``dataset/item``), ``family``, ``severity``,
        ``level`` and ``parameter``; clean clips are family ``clean``, severity 0, and the rows
        follow the items, then the order of ``families``.
    """
    specs = config.perturbation_specs()
    per_family = len(SEVERITIES) * len(config.seeds)
    where = {json.dumps(spec, sort_keys=True): (family, severity, spec[family.parameter])
             for i, family in enumerate(families)
             for j, spec in enumerate(specs[i * per_family:(i + 1) * per_family])
             for severity in [SEVERITIES[j // len(config.seeds)]]}
    (out_dir / "files").mkdir(parents=True, exist_ok=True)
    if (results["modality"] == "symbolic").any():
        files = _write_scores(results, config, out_dir)
    else:
        files = {row.key: _write_flac(out_dir / "battery" / row.audio, out_dir, row.key)
                 for row in results.itertuples()}
    rows = []
    for row in results.itertuples():
        family, severity, level = (None, 0, np.nan) if row.kind == "clean" else where[row.spec]
        rows.append({"file": files[row.key], "item": f"{row.dataset}/{row.item}",
                     "family": CLEAN if family is None else family.name, "severity": severity,
                     "level": level, "parameter": "" if family is None else family.parameter})
    order = {name: i for i, name in enumerate([CLEAN, *(f.name for f in families)])}
    return pd.DataFrame(rows).sort_values(["item", "family", "severity"], kind="stable",
                                          key=lambda c: c.map(order) if c.name == "family"
                                          else c, ignore_index=True)


def _write_flac(saved: Path, out_dir: Path, key: str) -> str:
    """The run's saved excerpt as ``files/<key>.flac``; its path relative to ``out_dir``."""
    import soundfile as sf

    from noiseloss.sources.audio import load_audio, write_audio

    rate = sf.info(str(saved)).samplerate
    name = f"files/{key[:20]}.flac"
    write_audio(out_dir / name, load_audio(saved, sample_rate=rate), sample_rate=rate)
    return name


def _write_scores(results: pd.DataFrame, config, out_dir: Path) -> dict[str, str]:
    """Write the score of each unit of a symbolic model; key -> ``files/<key>.mid``.

    The run scored the excerpt of each item (``sources.midi.cut_score``) and its perturbations,
    each with the seed ``item_seed(seed, content hash)``; the same calls give the same scores,
    written on the MIDI file's tick grid (a tempo warp's off-grid times move by up to half a
    tick, which can move an IOI or duration bin of a symbolic tokenizer).
    """
    from noiseloss.perturb import PerturbContext, perturb_with
    from noiseloss.runner.run import item_seed, read_source, used_seconds
    from noiseloss.sources.datasets import resolve_items
    from noiseloss.sources.midi import cut_score

    context = PerturbContext(modality="symbolic")
    files = {}
    for item in (it for ds in config.datasets for it in resolve_items(ds)):
        units = results[(results["dataset"] == item.dataset) & (results["item"] == item.item_id)]
        if units.empty:
            continue
        _, midi = read_source(item, sample_rate=None, max_seconds=used_seconds(config),
                              modality="symbolic")
        clean = cut_score(midi, offset_seconds=config.excerpt.offset_seconds,
                          seconds=config.excerpt.seconds)
        content = item.content_hash()
        for unit in units.itertuples():
            spec = json.loads(unit.spec)
            score = clean if spec is None else perturb_with(
                clean, {k: v for k, v in spec.items() if k != "seed"}, context=context,
                seed=item_seed(spec["seed"], content)).data
            files[unit.key] = f"files/{unit.key[:20]}.mid"
            score.write(str(out_dir / files[unit.key]))
    return files


def read_scores(path: str | Path, manifest: pd.DataFrame, *,
                higher_is_worse: Sequence[str] = ()) -> tuple[pd.DataFrame, dict[str, str]]:
    """External scores of the audit's files, from a CSV: ``file`` and one column per metric.

    A row's ``file`` names a file of the manifest by its path relative to the audit folder or
    by its base name (the names are unique: they are unit keys); rows for only some of the
    files are fine (the others have no value).

    Args:
        path: The CSV.
        manifest: ``manifest.csv`` of the audit.
        higher_is_worse: Metrics where a higher score is worse (the others: higher is better).

    Returns:
        ``(values, degraded)``: one row per file and metric (``file``, ``metric``, ``value``);
        metric -> ``higher`` or ``lower``, the direction a damaged file should move it.

    Raises:
        ParameterError: Unreadable file, no ``file`` column or no metric column, a name of a
            profile metric, a value that is not a number, a file named twice or not in the
            manifest, or a ``higher_is_worse`` name that is not a column.
    """
    path = Path(path)
    table, numbers = _score_table(path, higher_is_worse=higher_is_worse)
    metrics = list(numbers.columns)
    by_name = dict(zip(manifest["file"].map(lambda f: Path(f).name), manifest["file"],
                       strict=True))
    known = set(manifest["file"])
    files = [f if f in known else by_name.get(Path(f).name) for f in table["file"].astype(str)]
    missing = [str(f) for f, hit in zip(table["file"], files, strict=True) if hit is None]
    if missing:
        raise ParameterError(f"{path}: {len(missing)} file(s) are not in the audit's manifest, "
                             f"e.g. {missing[:3]}")
    twice = sorted({f for f in files if files.count(f) > 1})
    if twice:
        raise ParameterError(f"{path}: file(s) scored twice: {twice[:3]}")
    values = numbers.assign(file=files).melt(id_vars="file", var_name="metric",
                                             value_name="value")
    return values, {m: "higher" if m in higher_is_worse else "lower" for m in metrics}


def _score_table(path: Path, *, higher_is_worse: Sequence[str] = ()):
    """The CSV of ``read_scores`` and its metric columns as numbers, checked without a manifest.

    ``audit`` checks a scores file so before any work.

    Raises:
        ParameterError: As ``read_scores``, but for the files it names.
    """
    from noiseloss.analysis.profile import PROFILE_METRICS

    try:
        table = pd.read_csv(path)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise ParameterError(f"cannot read the scores file {path}: {exc}") from exc
    metrics = [c for c in table.columns if c != "file"]
    if "file" not in table.columns or not metrics:
        raise ParameterError(f"{path} must have a 'file' column and one column per metric, got "
                             f"{list(table.columns)}")
    clash = [m for m in metrics if m in PROFILE_METRICS]
    if clash:
        raise ParameterError(f"{path}: {clash} are names of profile metrics; rename the "
                             "column(s)")
    unknown = sorted(set(higher_is_worse) - set(metrics))
    if unknown:
        raise ParameterError(f"higher-is-worse names {unknown}, which are not columns of {path} "
                             f"({metrics})")
    numbers = table[metrics].apply(pd.to_numeric, errors="coerce")
    bad = [m for m in metrics if (numbers[m].isna() & table[m].notna()).any()]
    if bad:
        raise ParameterError(f"{path}: column(s) {bad} hold values that are not numbers")
    return table, numbers


def audit(sources: Sequence[str | Path], *, model: str = "demo", out_dir: str | Path,
          backend: str | None = None, model_options: dict | None = None,
          options: AuditOptions | None = None, scores: str | Path | None = None,
          higher_is_worse: Sequence[str] = (), scoring=None, page: bool = True,
          on_progress: Callable[[str, int, int], None] | None = None) -> AuditResult:
    """Damage clips in graded steps, score every file, and audit every metric against it.

    Args:
        sources: Folders, files or built-in sets (``demo:NAME``, ``demo-midi:NAME``; each one
            data set).
        model: Registered name, Hugging Face id in the local cache or folder.
        out_dir: The audit folder (see the module docstring); a rerun scores only what is
            missing, so scores computed outside can be brought in by running again with
            ``scores``.
        backend: Model backend when the folder does not say.
        model_options: The backend's own options.
        options: What is scored (None: ``AuditOptions()``; ``AuditOptions.tiny()`` for CI).
        scores: A CSV of external scores of the manifest's files (``read_scores``).
        higher_is_worse: External metrics where higher is worse (the others: higher is better).
        scoring: ``ScoringOptions`` (None: the defaults).
        page: Also draw the figure and write ``audit.html``.
        on_progress: ``on_progress(description, done, total)`` after each scored group.

    Returns:
        The tables (``noiseloss.analysis.audit.audit_tables``), the manifest, the verdicts.
    """
    import pyarrow as pa

    from noiseloss.analysis.audit import audit_tables, metric_verdicts
    from noiseloss.analysis.profile import PROFILE_METRICS, metrics_of
    from noiseloss.analysis.run import read_results
    from noiseloss.models import model_info
    from noiseloss.profiling import profile
    from noiseloss.runner.run import run_experiment
    from noiseloss.store.io import write_csv, write_json, write_parquet

    options = options or AuditOptions()
    out = Path(out_dir)
    if out.exists() and not out.is_dir():  # checked before any work
        raise ParameterError(f"out_dir {out} exists and is not a folder")
    if scores is not None:  # all but the files it names, before any work
        _score_table(Path(scores), higher_is_worse=higher_is_worse)
    elif higher_is_worse:
        raise ParameterError(f"higher_is_worse names columns of a scores file, and no scores "
                             f"are given: got {list(higher_is_worse)}")
    modality = model_info(model, backend=backend, **(model_options or {})).modality
    families = options.families_for(modality)
    config = audit_config(sources, model=model, families=families, options=options,
                          backend=backend, model_options=model_options, scoring=scoring,
                          modality=modality)
    summary = run_experiment(config, out / "battery", on_progress=on_progress)
    results = read_results(out / "battery")
    if results.empty:  # every clip failed (each is listed): nothing to audit
        nothing = pd.DataFrame()
        return AuditResult(nothing, nothing, nothing, {}, out, failed=dict(summary.failed))
    manifest = manifest_of(results, config, families, out_dir=out)
    write_csv(manifest, out / "manifest.csv")
    external, outside = (pd.DataFrame(columns=["file", "metric", "value"]), {}) \
        if scores is None else read_scores(scores, manifest, higher_is_worse=higher_is_worse)
    profiled = profile([str(out / f) for f in manifest["file"]], model=model,
                       out_dir=out / "profile", backend=backend, model_options=model_options,
                       options=options.profile_options(modality), scoring=scoring, page=False,
                       on_progress=on_progress)
    internal = [*metrics_of("clip"), *metrics_of("probe")]
    clips = profiled.clips.assign(file=profiled.clips["item"].map(
        dict(zip(manifest["file"].map(lambda f: Path(f).name), manifest["file"], strict=True))))
    values = pd.concat([clips.melt(id_vars="file", value_vars=internal, var_name="metric",
                                   value_name="value"), external], ignore_index=True)
    values = manifest.merge(values, on="file", how="inner")
    degraded = {**{m: PROFILE_METRICS.get(m).degraded for m in internal}, **outside}
    table, severity = audit_tables(values, degraded, seed=options.seed,
                                   n_resamples=options.resamples)
    for name, frame in (("audit", table), ("severity", severity)):
        write_parquet(pa.Table.from_pandas(frame, preserve_index=False), out / f"{name}.parquet")
        write_csv(frame, out / f"{name}.csv")
    write_json({"options": dataclasses.asdict(options), "model": model, "modality": modality,
                "families": [dataclasses.asdict(f) for f in families], "degraded": degraded,
                "scores": None if scores is None else str(scores)}, out / "audit.json")
    result = AuditResult(table, severity, manifest, metric_verdicts(table), out,
                         failed={**summary.failed, **profiled.failed})
    if page:
        from noiseloss.report.audit import write_audit_page

        result.page = write_audit_page(out, result, families=families, options=options)
    return result
