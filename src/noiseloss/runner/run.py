"""The experiment runner: plan units, prepare their signals, score them, build store rows.

A *unit* is one (model, item, perturbation, prompt) score; its key is a content hash of every
input (source bytes, excerpt, perturbation spec and seed, model identity, scoring options), so a
rerun computes only what is missing. Units are executed per *group*: the clean excerpt of one
item and all its perturbations for one model and prompt, scored together and appended as one
atomic store part::

    plan_groups     config + model identities (no weights)   -> groups of keyed units
    prepare_group   source -> clean excerpt -> perturbations  -> codes (and audio) per unit
    score_group     codes                                     -> ScoreResult per unit
    build_rows      results + what was done                   -> rows of the results store

A model is loaded only when one of its units is missing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from noiseloss.config import ExperimentConfig, Prompt
from noiseloss.errors import NoiselossError
from noiseloss.models.base import ModelInfo
from noiseloss.scoring.options import ScoringOptions
from noiseloss.sources.datasets import Item, excerpt, load_source, resolve_items
from noiseloss.store.io import write_json, write_text
from noiseloss.store.results import ResultsStore

# Bump when a change to the scoring code changes numbers: it invalidates stored units.
SCORING_VERSION = 1


@dataclass
class RunSummary:
    """Counts of a run; ``failed`` maps an item or unit label to its reason."""

    run_dir: Path
    done: int = 0
    skipped: int = 0
    failed: dict[str, str] = field(default_factory=dict)


def unit_key(**fields) -> str:
    """Content hash of a unit's inputs (JSON with sorted keys)."""
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()


def item_seed(seed: int, content_hash: str) -> int:
    """Per-item perturbation seed: reproducible, and different noise for different clips."""
    return int(hashlib.sha256(f"{seed}:{content_hash}".encode()).hexdigest()[:12], 16)


def perturbation_label(spec: dict | None) -> str:
    """Readable label: ``clean`` or ``kind/param=value,.../seed=N``."""
    if spec is None:
        return "clean"
    params = ",".join(f"{k}={v}" for k, v in spec.items() if k not in ("kind", "seed"))
    return f"{spec['kind']}/{params}/seed={spec['seed']}"


@dataclass(frozen=True)
class Group:
    """The clean excerpt of one item and its perturbations for one model and prompt.

    ``units`` are ``(key, spec)`` pairs; the clean unit's spec is None.
    """

    model: str
    item: Item
    content_hash: str
    prompt: Prompt
    units: tuple[tuple[str, dict | None], ...]

    @property
    def label(self) -> str:
        """``dataset/item`` (failure messages)."""
        return f"{self.item.dataset}/{self.item.item_id}"


@dataclass(frozen=True)
class Prepared:
    """One unit ready to score: its codes, the audio heard (None for token edits), the record."""

    key: str
    spec: dict | None
    codes: np.ndarray
    audio: np.ndarray | None
    perturbed: object = None  # noiseloss.perturb.Perturbed, None for the clean unit
    melody: np.ndarray | None = None  # audio whose chroma conditions it (MusicGen-Melody)


def plan_groups(config: ExperimentConfig, items: list[Item], hashes: dict[Item, str],
                models: dict[str, tuple[ModelInfo, ScoringOptions]]) -> list[Group]:
    """Every group of the experiment, models outermost, then items, then prompts."""
    specs = config.perturbation_specs()
    groups = []
    for name, (info, options) in models.items():
        for item in items:
            for prompt in config.prompts:
                common = dict(item=hashes[item], excerpt=[config.excerpt.seconds,
                                                          config.excerpt.offset_seconds],
                              model=info.identity, text=prompt.text,
                              guidance_scale=prompt.guidance_scale, alignment=options.alignment,
                              window=[options.window_frames, options.stride_frames],
                              dtype=options.dtype, scoring_version=SCORING_VERSION,
                              **({"melody": prompt.melody} if prompt.melody != "none" else {}))
                units = tuple((unit_key(spec=spec, **common), spec) for spec in [None, *specs])
                groups.append(Group(name, item, hashes[item], prompt, units))
    return groups


def prepare_group(group: Group, todo, scorer, config: ExperimentConfig,
                  summary: RunSummary) -> list[Prepared]:
    """Codes (and audio) of the missing units ``todo`` of ``group``; failures go to ``summary``."""
    from noiseloss.perturb import Clean, apply
    from noiseloss.sources.midi import render_midi

    rate = scorer.sample_rate

    def cut(audio):
        return excerpt(audio, sample_rate=rate, seconds=config.excerpt.seconds,
                       offset_seconds=config.excerpt.offset_seconds)

    try:
        full, midi = load_source(group.item, sample_rate=rate)
        audio = cut(full)
        if audio.size == 0:
            raise NoiselossError(f"excerpt at {config.excerpt.offset_seconds} s is empty "
                                 f"(source is {full.size / rate:.2f} s long)")
        clean = Clean(audio, scorer.encode(audio), midi, label=group.label)
    except NoiselossError as exc:
        summary.failed[group.label] = str(exc)
        return []
    context = scorer.perturb_context(render=lambda score: cut(render_midi(score, sample_rate=rate)))
    melody = group.prompt.melody
    prepared = []
    for key, spec in todo:
        if spec is None:
            prepared.append(Prepared(key, None, clean.codes, clean.audio,
                                     melody=None if melody == "none" else clean.audio))
            continue
        try:
            variant = apply(clean, {k: v for k, v in spec.items() if k != "seed"},
                            context=context, seed=item_seed(spec["seed"], group.content_hash))
        except NoiselossError as exc:
            summary.failed[f"{group.label} [{perturbation_label(spec)}]"] = str(exc)
            continue
        if melody == "self" and variant.audio is None:
            summary.failed[f"{group.label} [{perturbation_label(spec)}]"] = (
                "melody=self needs the unit's audio; a token edit has none")
            continue
        prepared.append(Prepared(key, spec, variant.codes, variant.audio, variant.perturbed,
                                 melody={"none": None, "reference": clean.audio,
                                         "self": variant.audio}[melody]))
    return prepared


def score_group(group: Group, prepared: list[Prepared], scorer, summary: RunSummary) -> list:
    """``ScoreResult`` per prepared unit (empty, with the failures recorded, on a scoring error)."""
    try:
        conditions = None if group.prompt.melody == "none" else [
            scorer.audio_condition("melody", p.melody) for p in prepared]
        return scorer.score_codes([p.codes for p in prepared], text=group.prompt.text,
                                  guidance_scale=group.prompt.guidance_scale,
                                  conditions=conditions)
    except NoiselossError as exc:
        for p in prepared:
            summary.failed[f"{group.label} [{perturbation_label(p.spec)}]"] = str(exc)
        return []


def build_rows(group: Group, prepared: list[Prepared], results: list, scorer, *,
               audio_dir: Path | None) -> list[dict]:
    """Store rows (``noiseloss.store.results.results_schema``); audio saved under ``audio_dir``."""
    from noiseloss.perturb import PERTURBATIONS
    from noiseloss.sources.audio import write_audio

    rows = []
    for p, res in zip(prepared, results, strict=True):
        audio_rel = None
        if audio_dir is not None and p.audio is not None:
            audio_rel = f"{audio_dir.name}/{p.key[:20]}.ogg"
            write_audio(audio_dir.parent / audio_rel, p.audio, sample_rate=scorer.sample_rate)
        spec, out = p.spec or {}, p.perturbed
        span = out.span_frames if out is not None else None
        recorded = out.params if out is not None else {}
        columns = PERTURBATIONS.get(spec["kind"]).columns if spec else ()
        rows.append({
            "key": p.key, "model": group.model, "dataset": group.item.dataset,
            "item": group.item.item_id, "perturbation": perturbation_label(p.spec),
            "kind": spec.get("kind", "clean"), "spec": json.dumps(p.spec, sort_keys=True),
            "params": json.dumps(recorded, sort_keys=True, default=str),
            "onset_frame": span[0] if span else None, "length_frames": span[1] if span else None,
            **{c: recorded.get(c) for c in columns}, "seed": spec.get("seed"),
            "prompt": group.prompt.label, "alignment": res.alignment,
            "lead_frames": res.lead_frames,
            "num_codebooks": res.num_codebooks, "num_frames": res.num_frames,
            "frame_rate": res.frame_rate, "loss": res.loss(),
            "nll": np.asarray(res.nll, dtype=np.float32).ravel(), "audio": audio_rel,
        })
    return rows


def run_experiment(config: ExperimentConfig, run_dir: str | Path, *,
                   on_progress: Callable[[str, int, int], None] | None = None) -> RunSummary:
    """Score (or resume) ``config`` into ``run_dir``; see the module docstring.

    Writes ``config.yaml`` (which reruns the experiment), the store, ``results.parquet``,
    ``provenance.json`` and ``failed.json``.

    Args:
        config: A validated experiment.
        run_dir: Output folder; existing results there are reused.
        on_progress: Called as ``on_progress(description, done, total)`` after each group.
    """
    from noiseloss import provenance
    from noiseloss.models import load_model, model_info

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_text(config.to_yaml(), run_dir / "config.yaml")
    store = ResultsStore(run_dir)
    done_keys = store.keys()
    summary = RunSummary(run_dir)
    items = [it for ds in config.datasets for it in resolve_items(ds)]
    hashes = {it: it.content_hash() for it in items}
    examples = _example_items(items, config.report.audio_examples)
    models, specs = {}, {spec.label: spec for spec in config.models}
    for spec in config.models:
        info = model_info(spec.name, backend=spec.backend, **spec.options)
        models[spec.label] = (info, info.resolve(config.scoring))
    records = {name: info.identity for name, (info, _) in models.items()}
    scorers = {}
    groups = plan_groups(config, items, hashes, models)
    for finished, group in enumerate(groups, start=1):
        todo = [(k, s) for k, s in group.units if k not in done_keys]
        summary.skipped += len(group.units) - len(todo)
        if todo:
            if group.model not in scorers:
                spec = specs[group.model]
                scorers[group.model] = load_model(spec.name, backend=spec.backend,
                                                  model_options=spec.options,
                                                  **dataclasses.asdict(models[group.model][1]))
                records[group.model] = scorers[group.model].provenance()
            scorer = scorers[group.model]
            prepared = prepare_group(group, todo, scorer, config, summary)
            results = score_group(group, prepared, scorer, summary) if prepared else []
            rows = build_rows(group, prepared, results, scorer,
                              audio_dir=run_dir / "audio" if group.item in examples else None
                              ) if results else []
            store.append(rows)
            done_keys.update(r["key"] for r in rows)
            summary.done += len(rows)
        if on_progress is not None:
            on_progress(f"{group.model} {group.label}", finished, len(groups))
    store.consolidate()
    write_json(provenance.collect(
        None, command="run", config=config.name, models=records, seeds=list(config.seeds),
        device=config.scoring.device, dtype=config.scoring.dtype,
        counts={"done": summary.done, "skipped": summary.skipped, "failed": len(summary.failed)},
        failed=summary.failed), run_dir / "provenance.json")
    write_json(summary.failed, run_dir / "failed.json")
    return summary


def _example_items(items: list[Item], per_dataset: int) -> set[Item]:
    chosen: dict[str, list[Item]] = {}
    for it in items:
        if len(chosen.setdefault(it.dataset, [])) < per_dataset:
            chosen[it.dataset].append(it)
    return {it for group in chosen.values() for it in group}
