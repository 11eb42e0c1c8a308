"""The experiment runner: plan units, skip finished ones, score the rest, append to the store.

A *unit* is one (model, item, condition, conditioning) score; its key is a content hash of every
input (source bytes, excerpt, perturbation spec and seed, model identity, scoring options), so a
rerun computes only what is missing. Units are executed per *group*: the clean excerpt of one item
and all its perturbations, scored in one batch and appended as one atomic store part.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from noiseloss.errors import NoiselossError
from noiseloss.runner.config import Conditioning, ExperimentConfig
from noiseloss.runner.datasets import Item, excerpt, load_source, resolve_items
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


def condition_label(spec: dict | None) -> str:
    """Readable label: ``clean`` or ``kind/param=value,.../seed=N``."""
    if spec is None:
        return "clean"
    params = ",".join(f"{k}={v}" for k, v in spec.items() if k not in ("kind", "seed"))
    return f"{spec['kind']}/{params}/seed={spec['seed']}"


IDENTITY_FIELDS = ("model_id", "revision", "weights_sha256", "tokenizer_sha256")


def model_identity(name: str, *, config: ExperimentConfig):
    """``(identity, scorer or None)``: the fields of a model that enter unit keys.

    Registered (built-in, small) models are loaded to ask them; MusicGen directories and cache
    snapshots are identified from their files without loading any weights.
    """
    from noiseloss.models import MODELS, load_model

    if name in MODELS:
        scorer = load_model(name, **_load_options(config))
        prov = scorer.provenance()
        return {k: prov.get(k) for k in IDENTITY_FIELDS}, scorer
    from noiseloss.models.musicgen import locate, weights_sha256

    directory, identity = locate(name)
    if identity["source"] == "directory":
        identity["weights_sha256"] = weights_sha256(directory)
    return {"model_id": name, **identity}, None


def _load_options(config: ExperimentConfig) -> dict:
    return {"device": config.device, "dtype": config.dtype,
            "window_frames": config.window_frames, "stride_frames": config.stride_frames}


class _Group:
    """The clean excerpt of one item and its perturbations for one model and conditioning."""

    def __init__(self, config: ExperimentConfig, item: Item, content_hash: str, identity: dict,
                 conditioning: Conditioning, specs: list[dict]):
        self.item, self.content_hash, self.conditioning = item, content_hash, conditioning
        common = dict(item=content_hash, excerpt=[config.excerpt_seconds,
                                                  config.excerpt_offset_seconds],
                      model=identity, text=conditioning.text,
                      guidance_scale=conditioning.guidance_scale, alignment=config.alignment,
                      window=[config.window_frames, config.stride_frames],
                      dtype=config.dtype, scoring_version=SCORING_VERSION)
        self.units = [(unit_key(spec=spec, **common), spec) for spec in [None, *specs]]


def run_experiment(config: ExperimentConfig, run_dir: str | Path, *,
                   on_progress: Callable[[str, int, int], None] | None = None) -> RunSummary:
    """Run (or resume) ``config`` into ``run_dir``; see the module docstring.

    Args:
        config: A validated experiment.
        run_dir: Output folder; existing results there are reused.
        on_progress: Called as ``on_progress(description, done, total)`` after each group.
    """
    import yaml

    from noiseloss import provenance
    from noiseloss.models import load_model

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_text(yaml.safe_dump(config.to_dict(), sort_keys=False), run_dir / "config.yaml")
    store = ResultsStore(run_dir)
    done_keys = store.keys()
    summary = RunSummary(run_dir)
    specs = config.perturbation_specs()
    items = [it for ds in config.datasets for it in resolve_items(ds)]
    hashes = {it: it.content_hash() for it in items}
    examples = _example_items(items, config.audio_examples)
    model_records = {}
    total = len(config.models) * len(items) * len(config.conditionings)
    finished = 0
    for model_name in config.models:
        identity, scorer = model_identity(model_name, config=config)
        for item in items:
            for cond in config.conditionings:
                group = _Group(config, item, hashes[item], identity, cond, specs)
                todo = [(k, s) for k, s in group.units if k not in done_keys]
                summary.skipped += len(group.units) - len(todo)
                if todo:
                    if scorer is None:
                        scorer = load_model(model_name, **_load_options(config))
                    model_records[model_name] = scorer.provenance()
                    rows = _run_group(scorer, model_name, config, group, todo, summary,
                                      save_audio=item in examples)
                    store.append(rows)
                    done_keys.update(r["key"] for r in rows)
                    summary.done += len(rows)
                finished += 1
                if on_progress is not None:
                    on_progress(f"{model_name} {item.dataset}/{item.item_id}", finished, total)
    store.consolidate()
    write_json(provenance.collect(
        None, command="run", config=config.name, models=model_records, seeds=list(config.seeds),
        device=config.device, dtype=config.dtype,
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


def _run_group(scorer, model_name, config, group: _Group, todo, summary, *, save_audio) -> list[dict]:
    """Build the signals of the missing units of a group, score them in one batch, return rows."""
    from noiseloss.perturb import PERTURBATIONS, perturb

    item = group.item
    label = f"{item.dataset}/{item.item_id}"
    try:
        full, midi = load_source(item, sample_rate=scorer.sample_rate)
        clean = excerpt(full, sample_rate=scorer.sample_rate, seconds=config.excerpt_seconds,
                        offset_seconds=config.excerpt_offset_seconds)
        if clean.size == 0:
            raise NoiselossError(f"excerpt at {config.excerpt_offset_seconds} s is empty "
                                 f"(source is {full.size / scorer.sample_rate:.2f} s long)")
        clean_codes = scorer.encode(clean)
    except NoiselossError as exc:
        summary.failed[label] = str(exc)
        return []
    hop = scorer.tokenizer.hop_length
    prepared = []  # (key, spec, codes, audio or None, Perturbed or None)
    for key, spec in todo:
        if spec is None:
            prepared.append((key, None, clean_codes, clean, None))
            continue
        args = {k: v for k, v in spec.items() if k != "seed"}
        seed = item_seed(spec["seed"], group.content_hash)
        domain = PERTURBATIONS.get(spec["kind"]).domain
        try:
            if domain == "midi":
                if midi is None:
                    raise NoiselossError(f"{spec['kind']} needs a MIDI source; {label} is audio")
                from noiseloss.sources.midi import render_midi

                out = perturb(midi, args, sample_rate=scorer.sample_rate, hop_length=hop, seed=seed)
                audio = excerpt(render_midi(out.data, sample_rate=scorer.sample_rate),
                                sample_rate=scorer.sample_rate, seconds=config.excerpt_seconds,
                                offset_seconds=config.excerpt_offset_seconds)
                codes = scorer.encode(audio)
            elif domain == "tokens":
                # the model's tokenizer fills what a token edit needs (never stored in the spec)
                context = {"codebook_size": scorer.tokenizer.codebook_size, "encode": scorer.encode}
                accepted = PERTURBATIONS.get(spec["kind"]).parameters()
                args.update({k: v for k, v in context.items() if k in accepted and k not in args})
                out = perturb(clean_codes, args, sample_rate=scorer.sample_rate, hop_length=hop,
                              seed=seed)
                audio, codes = None, out.data
            else:
                out = perturb(clean, args, sample_rate=scorer.sample_rate, hop_length=hop, seed=seed)
                audio, codes = out.data, scorer.encode(out.data)
        except NoiselossError as exc:
            summary.failed[f"{label} [{condition_label(spec)}]"] = str(exc)
            continue
        prepared.append((key, spec, codes, audio, out))
    try:
        results = scorer.score_codes([p[2] for p in prepared], text=group.conditioning.text,
                                     guidance_scale=group.conditioning.guidance_scale,
                                     alignment=config.alignment, batch_size=config.batch_size)
    except NoiselossError as exc:
        for _key, spec, *_ in prepared:
            summary.failed[f"{label} [{condition_label(spec)}]"] = str(exc)
        return []
    rows = []
    for (key, spec, _codes, audio, out), res in zip(prepared, results, strict=True):
        audio_rel = None
        if save_audio and audio is not None:
            from noiseloss.sources.audio import write_audio

            audio_rel = f"audio/{key[:20]}.ogg"
            write_audio(summary.run_dir / audio_rel, audio, sample_rate=scorer.sample_rate)
        span = out.span_frames if out is not None else None
        spec = spec or {}
        rows.append({
            "key": key, "model": model_name, "dataset": item.dataset, "item": item.item_id,
            "condition": condition_label(spec or None), "kind": spec.get("kind", "clean"),
            "spec": json.dumps(spec or None, sort_keys=True),
            "params": json.dumps(out.params if out is not None else {}, sort_keys=True, default=str),
            "onset_frame": span[0] if span else None, "length_frames": span[1] if span else None,
            "color": spec.get("color"), "level_db": spec.get("level_db"),
            "level_ref": spec.get("level_ref"), "seed": spec.get("seed"),
            "conditioning": group.conditioning.label, "alignment": config.alignment,
            "num_codebooks": res.num_codebooks, "num_frames": res.num_frames,
            "frame_rate": res.frame_rate, "loss": res.loss(),
            "nll": np.asarray(res.nll, dtype=np.float32).ravel(), "audio": audio_rel,
        })
    return rows
