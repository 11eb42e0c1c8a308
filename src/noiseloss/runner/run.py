"""The experiment runner: plan units, prepare their signals, score them, build store rows.

A *unit* is one (model, item, perturbation, prompt) score; its key is a content hash of every
input (source bytes, excerpt, perturbation spec and seed, model identity, scoring options), so a
rerun computes only what is missing. Units are executed per *group*: the clean excerpt of one
item and all its perturbations for one model and prompt, scored together and appended as one
atomic store part::

    plan_groups     config + model identities (no weights)   -> groups of keyed units
    prepare_group   source -> clean excerpt -> perturbations  -> codes (and audio) per unit
    score_pack      codes of a pack of groups                 -> ScoreResult per unit
    build_rows      results + what was done                   -> rows of the results store

``execute_pack`` (prepare, score, build rows) is the unit of work an executor runs on a *pack*
of groups that fill a batch together (``packs``): here (``LocalExecutor``) or on a Ray cluster
(``noiseloss.runner.ray_executor``); this process alone writes the store. A model is loaded
only when one of its units is missing.
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
from noiseloss.errors import ConfigError, NoiselossError
from noiseloss.models.base import ModelInfo
from noiseloss.scoring.options import ScoringOptions
from noiseloss.scoring.result import codebook_mean
from noiseloss.sources.datasets import Item, excerpt, load_source, resolve_items
from noiseloss.store.io import write_json, write_text
from noiseloss.store.lock import run_lock
from noiseloss.store.results import ResultsStore
from noiseloss.timeaxis import TimeAxis

# Bump when a change to the scoring code changes numbers: it invalidates stored units.
SCORING_VERSION = 1


@dataclass
class RunSummary:
    """Counts of a run; ``failed`` maps an item or unit label to its reason.

    ``quarantined`` maps an unreadable store part to where it was set aside (relative to the
    run folder); its units were scored again. ``short`` maps a clip (``model dataset/item``)
    scored by an audio model to its seconds when it is shorter than ``excerpt.seconds``.
    """

    run_dir: Path
    done: int = 0
    skipped: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    quarantined: dict[str, str] = field(default_factory=dict)
    short: dict[str, float] = field(default_factory=dict)


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
        """``dataset/item`` and the prompt unless unconditional (failure messages)."""
        prompt = self.prompt.label
        return f"{self.item.dataset}/{self.item.item_id}" + (
            "" if prompt == "unconditional" else f" ({prompt})")


@dataclass(frozen=True)
class Prepared:
    """One unit ready to score: its codes, the audio heard (None for token edits), the record."""

    key: str
    spec: dict | None
    codes: np.ndarray
    audio: np.ndarray | None
    perturbed: object = None  # noiseloss.perturb.Perturbed, None for the clean unit
    condition: np.ndarray | None = None  # audio of the prompt's condition (Melody: chroma)
    axis: TimeAxis | None = None  # the time of each column of codes


def plan_groups(config: ExperimentConfig, items: list[Item], hashes: dict[Item, str],
                models: dict[str, tuple[ModelInfo, ScoringOptions]]) -> list[Group]:
    """Every group of the experiment, models outermost, then items, then prompts."""
    specs = config.perturbation_specs()
    groups = []
    for name, (info, options) in models.items():
        for item in items:
            for prompt in config.prompts:
                # the data set and the item's path are part of what identifies a unit: two
                # data sets of one folder, or two identical files, stay two results
                common = dict(item=hashes[item], dataset=item.dataset, item_id=item.item_id,
                              excerpt=[config.excerpt.seconds, config.excerpt.offset_seconds],
                              model=info.identity, text=prompt.text,
                              guidance_scale=prompt.guidance_scale, alignment=options.alignment,
                              window=[options.window_frames, options.stride_frames],
                              dtype=options.dtype, scoring_version=SCORING_VERSION,
                              **({prompt.condition: prompt.source} if prompt.condition else {}))
                units = tuple((unit_key(spec=spec, **common), spec) for spec in [None, *specs])
                groups.append(Group(name, item, hashes[item], prompt, units))
    return groups


def used_seconds(config: ExperimentConfig) -> float | None:
    """Seconds of each source an experiment uses (offset + excerpt; None: all of it)."""
    seconds = config.excerpt.seconds
    return None if seconds is None else config.excerpt.offset_seconds + seconds


def read_source(item: Item, *, sample_rate: int | None, max_seconds: float | None = None,
                modality: str = "audio", resampler: str = "soxr"):
    """``(audio, midi)`` of an item for a model of ``modality``, or the reason it is unreadable.

    Decoding, resampling (with the model's ``resampler``) and MIDI rendering (of the first
    ``max_seconds`` only, see ``used_seconds``; a symbolic model's score is not rendered,
    ``(None, midi)``): the preparation an executor may run anywhere.
    """
    try:
        return load_source(item, sample_rate=sample_rate, max_seconds=max_seconds,
                           modality=modality, resampler=resampler)
    except NoiselossError as exc:
        return str(exc)


def clean_excerpt(group: Group, source, scorer, config: ExperimentConfig):
    """The ``Clean`` excerpt of a group's item from its ``read_source`` result.

    Audio models: the excerpt of the audio (and the whole score, for score edits, which are
    rendered and then cut); symbolic models: the notes of the excerpt (``cut_score``).

    Raises:
        NoiselossError: The excerpt is empty.
    """
    from noiseloss.perturb import Clean
    from noiseloss.sources.midi import cut_score

    full, midi = source
    seconds, offset = config.excerpt.seconds, config.excerpt.offset_seconds
    if scorer.modality == "symbolic":
        score = cut_score(midi, offset_seconds=offset, seconds=seconds)
        if not score.instruments:
            raise NoiselossError(f"excerpt at {offset} s has no notes (the score ends at "
                                 f"{midi.get_end_time():.2f} s)")
        _check_length(score.get_end_time(), config)
        tokens = scorer.tokenize(score)
        return Clean(None, tokens.ids, score, label=group.label, axis=tokens.axis)
    rate = scorer.sample_rate
    audio = excerpt(full, sample_rate=rate, seconds=seconds, offset_seconds=offset)
    if audio.size == 0:
        raise NoiselossError(f"excerpt at {offset} s is empty (source is "
                             f"{full.size / rate:.2f} s long)")
    _check_length(audio.size / rate, config)
    reference = scorer.reference(audio)
    return Clean(audio, reference.tokens.ids, midi, label=group.label,
                 axis=reference.tokens.axis, offset_seconds=offset, reference=reference)


def _check_length(seconds: float, config: ExperimentConfig) -> None:
    shortest = config.excerpt.min_seconds
    if shortest is not None and seconds < shortest - 1e-9:
        raise NoiselossError(f"the clip is {seconds:.2f} s long from "
                             f"{config.excerpt.offset_seconds:g} s, shorter than the "
                             f"{shortest:g} s this run needs (excerpt.min_seconds)")


def prepare_group(group: Group, todo, scorer, config: ExperimentConfig,
                  failed: dict[str, str], *, source=None) -> list[Prepared]:
    """Codes (and audio) of the missing units ``todo`` of ``group``; failures go to ``failed``.

    ``source``: the item's ``read_source`` result when it was read elsewhere (None: read here).
    """
    from noiseloss.perturb import apply_all
    from noiseloss.sources.midi import render_midi

    rate = scorer.sample_rate
    until = used_seconds(config)
    if source is None:
        source = read_source(group.item, sample_rate=rate, max_seconds=until,
                             modality=scorer.modality, resampler=scorer.resampler)
    if isinstance(source, str):
        failed[group.label] = source
        return []
    try:
        clean = clean_excerpt(group, source, scorer, config)
    except NoiselossError as exc:
        failed[group.label] = str(exc)
        return []
    context = scorer.perturb_context(render=None if rate is None else lambda score: excerpt(
        render_midi(score, sample_rate=rate, max_seconds=until), sample_rate=rate,
        seconds=config.excerpt.seconds, offset_seconds=config.excerpt.offset_seconds),
        reference=clean.reference)
    source = group.prompt.source
    specs = [spec for _, spec in todo if spec is not None]
    variants = iter(apply_all(clean, [{k: v for k, v in spec.items() if k != "seed"}
                                      for spec in specs], context=context,
                              seeds=[item_seed(spec["seed"], group.content_hash)
                                     for spec in specs]))
    prepared = []
    for key, spec in todo:
        if spec is None:
            prepared.append(Prepared(key, None, clean.codes, clean.audio, axis=clean.axis,
                                     condition=None if source == "none" else clean.audio))
            continue
        variant = next(variants)
        if isinstance(variant, NoiselossError):
            failed[f"{group.label} [{perturbation_label(spec)}]"] = str(variant)
            continue
        if source == "self" and variant.audio is None:
            failed[f"{group.label} [{perturbation_label(spec)}]"] = (
                f"{group.prompt.condition}=self needs the unit's audio; a token edit has none")
            continue
        prepared.append(Prepared(key, spec, variant.codes, variant.audio, variant.perturbed,
                                 axis=variant.axis,
                                 condition={"none": None, "reference": clean.audio,
                                            "self": variant.audio}[source]))
    return prepared


def score_pack(groups: list[Group], prepared: list[list[Prepared]], scorer,
               failed: list[dict[str, str]]) -> list[list]:
    """``ScoreResult`` lists, one per group, of the prepared units of groups of one prompt.

    The units of all groups go to one ``score_codes`` call, so their sequences fill batches
    together (each group's variants still share their prefix). A variant of its clean unit's
    shape, scored with it, is given the KL from the clean unit's next-token distributions to
    its own (``ScoreResult.kl``: context memory). A scoring error fails the units of its group
    only: a pack of several groups is then scored group by group.
    """
    prompt = groups[0].prompt
    units = [p for part in prepared for p in part]
    if not units:
        return [[] for _ in groups]
    try:
        conditions = None if prompt.condition is None else [
            scorer.audio_condition(prompt.condition, p.condition) for p in units]
        results = scorer.score_codes([p.codes for p in units], text=prompt.text,
                                     guidance_scale=prompt.guidance_scale, conditions=conditions,
                                     axes=[p.axis for p in units],
                                     references=references(prepared))
    except NoiselossError as exc:
        if len(groups) > 1:
            return [score_pack([g], [part], scorer, [f])[0]
                    for g, part, f in zip(groups, prepared, failed, strict=True)]
        for p in units:
            failed[0][f"{groups[0].label} [{perturbation_label(p.spec)}]"] = str(exc)
        return [[]]
    ends = np.cumsum([len(part) for part in prepared]).tolist()
    return [results[end - len(part) : end] for part, end in zip(prepared, ends, strict=True)]


def references(prepared: list[list[Prepared]]) -> list[int | None]:
    """The ``score_codes(references=)`` of the groups' units, in order.

    A variant of its group's clean unit's shape refers to that unit; the others to nothing.
    """
    out: list[int | None] = []
    for part in prepared:
        at = next((n for n, p in enumerate(part) if p.spec is None), None)
        shape = None if at is None else np.shape(part[at].codes)
        index = None if at is None else len(out) + at
        out.extend(index if p.spec is not None and np.shape(p.codes) == shape else None
                   for p in part)
    return out


def build_rows(group: Group, prepared: list[Prepared], results: list, *,
               save_audio: bool) -> tuple[list[dict], dict[str, np.ndarray]]:
    """Store rows (``noiseloss.store.results.results_schema``) and the audio they name.

    Returns:
        ``(rows, audio)``: ``audio`` maps a path relative to the run folder to the excerpt to
        write there (items chosen as report examples only).
    """
    from noiseloss.perturb import PERTURBATIONS

    rows, audio = [], {}
    for p, res in zip(prepared, results, strict=True):
        audio_rel = None
        if save_audio and p.audio is not None:
            audio_rel = f"audio/{p.key[:20]}.ogg"
            audio[audio_rel] = p.audio
        spec, out = p.spec or {}, p.perturbed
        span = out.span_frames if out is not None else None
        seconds = out.span_seconds if out is not None else None
        recorded = out.params if out is not None else {}
        columns = PERTURBATIONS.get(spec["kind"]).columns if spec else ()
        rows.append({
            "key": p.key, "model": group.model, "dataset": group.item.dataset,
            "item": group.item.item_id, "perturbation": perturbation_label(p.spec),
            "kind": spec.get("kind", "clean"), "spec": json.dumps(p.spec, sort_keys=True),
            "params": json.dumps(recorded, sort_keys=True, default=str),
            "onset_frame": span[0] if span else None, "length_frames": span[1] if span else None,
            "onset_seconds": seconds[0] if seconds else None,
            "length_seconds": seconds[1] if seconds else None,
            **{c: recorded.get(c) for c in columns}, "seed": spec.get("seed"),
            "prompt": group.prompt.label, "alignment": res.alignment,
            "lead_frames": res.lead_frames,
            "num_codebooks": res.num_codebooks, "num_frames": res.num_frames,
            "frame_rate": res.frame_rate, "modality": res.modality,
            "time_s": res.axis.seconds, "duration_seconds": res.axis.end_seconds,
            "loss": res.loss(),
            "nll": np.asarray(res.nll, dtype=np.float32).ravel(),
            "entropy": np.asarray(res.entropy, dtype=np.float32).ravel(),
            "kl": None if res.kl is None else codebook_mean(res.kl), "audio": audio_rel,
        })
    return rows, audio


@dataclass
class GroupResult:
    """What the unit of work of one group produced: rows, their audio, failures by label."""

    group: Group
    rows: list[dict]
    audio: dict[str, np.ndarray]
    failed: dict[str, str]
    sample_rate: int


@dataclass(frozen=True)
class Work:
    """A group with missing units, as handed to an executor."""

    group: Group
    todo: tuple[tuple[str, dict | None], ...]
    save_audio: bool


def packs(work: list[Work], *, capacity: dict[str, int]) -> list[list[Work]]:
    """``work`` in packs scored together, in the order they fill.

    A pack holds groups of one model and prompt, as many as hold at most ``capacity[model]``
    units in all (a larger group goes alone).
    """
    done, open_packs = [], {}
    for item in work:
        key = (item.group.model, item.group.prompt)
        pack = open_packs.setdefault(key, [])
        if pack and sum(len(w.todo) for w in pack) + len(item.todo) > capacity[key[0]]:
            done.append(pack)
            pack = open_packs[key] = []
        pack.append(item)
    return done + list(open_packs.values())


def batch_sizes(models: dict) -> dict[str, int]:
    """Model label -> its resolved ``batch_size`` (``models``: label -> (spec, info, options))."""
    return {label: options.batch_size for label, (_, _, options) in models.items()}


def execute_pack(pack: list[Work], scorer, config: ExperimentConfig, *,
                 sources=None) -> list[GroupResult]:
    """The unit of work: prepare, score and build the rows of the missing units of a pack.

    A pure function of its inputs (no files written), so that any executor can run it;
    ``sources``: each item's ``read_source`` result when it was read elsewhere.
    """
    return finish_pack(pack, start_pack(pack, scorer, config, sources=sources), scorer)


def start_pack(pack: list[Work], scorer, config: ExperimentConfig, *,
               sources=None) -> list[tuple[list[Prepared], dict[str, str]]]:
    """``(prepared units, failures)`` per group: the first half of ``execute_pack``."""
    started = []
    for item, source in zip(pack, sources or [None] * len(pack), strict=True):
        failed: dict[str, str] = {}
        started.append((prepare_group(item.group, list(item.todo), scorer, config, failed,
                                      source=source), failed))
    return started


def finish_pack(pack: list[Work], started, scorer) -> list[GroupResult]:
    """Score the prepared units and build their rows (the second half of ``execute_pack``)."""
    results = score_pack([w.group for w in pack], [p for p, _ in started], scorer,
                         [f for _, f in started])
    out = []
    for item, (prepared, failed), scored in zip(pack, started, results, strict=True):
        rows, audio = build_rows(item.group, prepared, scored, save_audio=item.save_audio) \
            if scored else ([], {})
        out.append(GroupResult(item.group, rows, audio, failed, scorer.sample_rate))
    return out


class LocalExecutor:
    """Runs the packs of groups in this process, preparing the next pack while one scores.

    ::

        preparation thread   prepare p1 | prepare p2 | prepare p3 | ...
        this thread                     | score p1   | score p2   | score p3

    A pack (``packs``) holds as many groups of one model and prompt as fill one batch of the
    model (``batch_size`` units). Preparation (read, resample, render, perturb, encode) of pack
    ``i + 1`` runs in one background thread while pack ``i`` scores, so a GPU does not wait
    on the CPU. On a CPU the two compete for the same cores (paper-noise on 2 cores: 55 s in
    turn, 69 s overlapped), so by default the overlap is on only when the model runs on an
    accelerator. Each model is loaded on first use.

    Args:
        prefetch: Overlap preparation and scoring; None: when the model is not on the CPU.
    """

    def __init__(self, *, prefetch: bool | None = None):
        self.records: dict[str, dict] = {}
        self.prefetch = prefetch

    def run(self, work: list[Work], *, config: ExperimentConfig, models: dict):
        """Yield a ``GroupResult`` per work item (``models``: label -> (spec, info, options))."""
        from concurrent.futures import ThreadPoolExecutor

        from noiseloss.models import load_model

        scorers = {}

        def scorer_of(pack: list[Work]):
            label = pack[0].group.model
            if label not in scorers:
                spec, info, options = models[label]
                scorers[label] = load_model(spec.name, backend=spec.backend, info=info,
                                            **dataclasses.asdict(options))
                self.records[label] = scorers[label].provenance()
            return scorers[label]

        def prepare(pack: list[Work], scorer):
            return start_pack(pack, scorer, config)

        queue = packs(work, capacity=batch_sizes(models))
        if not queue:
            return
        first = scorer_of(queue[0])
        overlap = self.prefetch if self.prefetch is not None else \
            str(self.records[queue[0][0].group.model].get("device", "cpu")) != "cpu"
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="noiseloss-prepare") as pool:
            ahead = pool.submit(prepare, queue[0], first) if overlap else None
            for i, pack in enumerate(queue):
                started = ahead.result() if overlap else prepare(pack, scorer_of(pack))
                if overlap and i + 1 < len(queue):
                    ahead = pool.submit(prepare, queue[i + 1], scorer_of(queue[i + 1]))
                yield from finish_pack(pack, started, scorer_of(pack))


def run_experiment(config: ExperimentConfig, run_dir: str | Path, *, executor=None,
                   on_progress: Callable[[str, int, int], None] | None = None) -> RunSummary:
    """Score (or resume) ``config`` into ``run_dir``; see the module docstring.

    Writes ``config.yaml`` (which reruns the experiment), the store, ``results.parquet``,
    ``provenance.json`` and ``failed.json``. Only this process writes them, whatever the
    executor: a killed worker loses at most the groups it was scoring.

    Args:
        config: A validated experiment.
        run_dir: Output folder; existing results there are reused.
        executor: ``LocalExecutor()`` (default) or ``ray_executor.RayExecutor``: it runs
            ``execute_pack`` on packs of the groups with missing units and yields the
            results group by group.
        on_progress: Called as ``on_progress(description, done, total)`` after each group.

    Raises:
        ParameterError: Another process is writing ``run_dir`` (``store.lock.run_lock``).
    """
    with run_lock(run_dir):
        return _run_locked(config, Path(run_dir), executor=executor or LocalExecutor(),
                           on_progress=on_progress)


def _run_locked(config: ExperimentConfig, run_dir: Path, *, executor,
                on_progress) -> RunSummary:
    from noiseloss import provenance
    from noiseloss.models import model_info
    from noiseloss.sources.audio import write_audio

    items = [it for ds in config.datasets for it in resolve_items(ds)]
    models = {}
    for spec in config.models:
        info = model_info(spec.name, backend=spec.backend, **spec.options)
        models[spec.label] = (spec, info, info.resolve(config.scoring))
        for i, prompt in enumerate(config.prompts):
            if prompt.text is not None and not info.text:
                raise ConfigError(f"prompts[{i}].text: model {spec.label!r} has no text "
                                  f"conditioning; leave text out (null) for it")
            if prompt.condition is not None and prompt.condition not in info.conditions:
                raise ConfigError(f"prompts[{i}].{prompt.condition}: model {spec.label!r} takes "
                                  f"no {prompt.condition} condition (it takes: "
                                  f"{list(info.conditions) or 'none'})")
        audio = [it for it in items if it.modality == "audio"]
        if info.modality == "symbolic" and audio:
            raise ConfigError(f"model {spec.label!r} reads scores and cannot score the audio of "
                              f"datasets.{audio[0].dataset} ({audio[0].location}, and "
                              f"{len(audio) - 1} more audio file(s))")
    write_text(config.to_yaml(), run_dir / "config.yaml")
    store = ResultsStore(run_dir)
    done_keys = store.keys()
    summary = RunSummary(run_dir)
    hashes = {it: it.content_hash() for it in items}
    examples = _example_items(items, config.report.audio_examples)
    groups = plan_groups(config, items, hashes,
                         {label: (info, options) for label, (_, info, options) in models.items()})
    work = []
    for group in groups:
        todo = tuple((k, s) for k, s in group.units if k not in done_keys)
        summary.skipped += len(group.units) - len(todo)
        if todo:
            work.append(Work(group, todo, save_audio=group.item in examples))
    finished = len(groups) - len(work)
    for result in executor.run(work, config=config, models=models):
        for rel, audio in result.audio.items():
            write_audio(run_dir / rel, audio, sample_rate=result.sample_rate)
        store.append(result.rows)
        summary.done += len(result.rows)
        summary.failed.update(result.failed)
        finished += 1
        if on_progress is not None:
            on_progress(f"{result.group.model} {result.group.label}", finished, len(groups))
    store.consolidate({key for group in groups for key, _ in group.units})
    summary.quarantined = {name: target.relative_to(run_dir).as_posix()
                           for name, target in store.quarantined.items()}
    summary.short = short_clips(run_dir, seconds=config.excerpt.seconds)
    records = {label: executor.records.get(label, info.identity)
               for label, (_, info, _) in models.items()}
    write_json(provenance.collect(
        None, command="run", config=config.name, models=records, seeds=list(config.seeds),
        device=config.scoring.device, dtype=config.scoring.dtype,
        counts={"done": summary.done, "skipped": summary.skipped, "failed": len(summary.failed)},
        failed=summary.failed, shorter_than_excerpt=summary.short), run_dir / "provenance.json")
    write_json(summary.failed, run_dir / "failed.json")
    return summary


def short_clips(run_dir: Path, *, seconds: float | None) -> dict[str, float]:
    """Clean units of audio models shorter than ``seconds`` by more than a frame: label -> s.

    (A symbolic excerpt ends with its last note, so its length says nothing of its source.)
    """
    import pyarrow.parquet as pq

    path = run_dir / "results.parquet"
    if seconds is None or not path.is_file():
        return {}
    columns = ["model", "dataset", "item", "kind", "modality", "frame_rate", "duration_seconds"]
    table = pq.read_table(path, columns=[c for c in columns
                                         if c in pq.read_schema(path).names]).to_pandas()
    if "duration_seconds" not in table:
        return {}
    clean = table[(table["kind"] == "clean") & (table.get("modality", "audio") == "audio")]
    short = clean[clean["duration_seconds"] < seconds - 1.0 / clean["frame_rate"]]
    return {f"{r.model} {r.dataset}/{r.item}": round(float(r.duration_seconds), 3)
            for r in short.drop_duplicates(["model", "dataset", "item"]).itertuples()}


def _example_items(items: list[Item], per_dataset: int) -> set[Item]:
    chosen: dict[str, list[Item]] = {}
    for it in items:
        if len(chosen.setdefault(it.dataset, [])) < per_dataset:
            chosen[it.dataset].append(it)
    return {it for group in chosen.values() for it in group}
