"""End-to-end recipe of ``demo-midi``: corpus -> trained GPT-2 -> evaluation -> data sets -> card.

``build(work_dir, tiny=False)`` exports the corpus into ``work_dir`` (resumable: exported works
are reused), trains the model on random crops presented as the ``amt`` backend presents a
window (a finished training is reused by a rerun with the same settings), evaluates the
stored model through the very scorer ``load_model("demo-midi")`` returns, against n-gram
baselines and with the exact-repeat test, samples the ``generated`` set and writes the assets
folder (``work_dir/assets`` unless told otherwise; the shipped model is
``src/noiseloss/demo/assets/midi``). ``tiny`` is a smoke test under a minute. Everything is
written to a staging folder first and moved into
place at the end, so that a build stopped at any moment leaves the previous assets whole.
"""

from __future__ import annotations

import copy
import json
import os
import platform
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from noiseloss.demo import symbolic_corpus as corpus
from noiseloss.demo.build import _hash, _jsonable
from noiseloss.demo.corpus import rank
from noiseloss.demo.symbolic_data import DATASETS, MANIFEST
from noiseloss.demo.symbolic_train import MidiModelSize, MidiTrainConfig, compact_vocab, piece_codes
from noiseloss.store.io import write_json

#: Top-k of the generated set, one per clip in turn.
TOP_K = (4, 8, 16, 32, 64)
PRIOR_GRID = (1.0, 10.0, 100.0, 1000.0)


@dataclass(frozen=True)
class SymbolicSettings:
    """Sizes of one build (``FULL`` or ``TINY``).

    Attributes:
        per_collection: Works per collection (``symbolic_corpus.HELD_IN``/``HELD_OUT`` keys).
        max_seconds: Every work is cut to its first ``max_seconds``.
        workers: music21 processes exporting the corpus.
        time_bins: Time tokens of the compact vocabulary (a window spans less).
        dur_bins: Duration tokens (longer notes are capped, as the AMT caps at 10 s).
        model: GPT-2 shape and window (events).
        train: Optimisation.
        validation_crops: Validation pieces whose first window gives the training curve.
        eval_seconds: Evaluation reads the first ``eval_seconds`` of every validation and ood
            piece (at most ``time_bins`` / 100: every window then fits the time tokens).
        ngram_orders: Orders of the n-gram baselines.
        clips_per_set: Files per data set.
        clip_seconds: Length of the data sets' excerpts and samples.
        repeat_seeds: Melodies of the repeat test.
        copy: A second phase of training from the first one's weights (None: none): more
            repeated passages at a lower learning rate; its own checkpoint, keyed by both.
    """

    per_collection: dict[str, int]
    max_seconds: float
    workers: int
    time_bins: int
    dur_bins: int
    model: MidiModelSize
    train: MidiTrainConfig
    validation_crops: int
    eval_seconds: float
    ngram_orders: tuple[int, ...] = (2, 3)
    clips_per_set: int = 15
    clip_seconds: float = 15.0
    repeat_seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    top_k: tuple[int, ...] = field(default_factory=lambda: TOP_K)
    copy: MidiTrainConfig | None = None


FULL = SymbolicSettings(
    # dance tunes (O'Neill, Ryan) repeat their sections, which teaches reading the context
    per_collection={"essenFolksong": 2500, "oneills1850": 2009, "ryansMammoth": 1059, "bach": 413,
                    "mozart": 16, "haydn": 9, "beethoven": 26, "schumann_robert": 7,
                    "schumann_clara": 5, "joplin": 1, "chopin": 1, "schubert": 1},
    max_seconds=120.0, workers=2, time_bins=4000, dur_bins=1000, model=MidiModelSize(),
    # ~0.92 s a step (about 6,400 tokens/s measured on two idle cores): 50 min of training
    train=MidiTrainConfig(steps=3200, batch_tokens=6144, warmup_steps=200, eval_every=100,
                          dropout=0.0, transpose=5, repeat=0.25),
    validation_crops=128, eval_seconds=40.0,
    # then 1800 steps with a passage played twice in 75 % of the crops (~40 min): the first
    # phase alone left the repeat test at a ratio of about 1.0, 600 steps of this one at 0.595
    copy=MidiTrainConfig(steps=1800, batch_tokens=6144, learning_rate=5e-4, warmup_steps=50,
                         eval_every=100, dropout=0.0, transpose=5, repeat=0.75))
TINY = SymbolicSettings(
    per_collection={"essenFolksong": 8, "bach": 3, "joplin": 1},
    max_seconds=30.0, workers=1, time_bins=4000, dur_bins=1000,
    model=MidiModelSize(n_embd=32, n_layer=1, n_head=2, window_events=96),
    train=MidiTrainConfig(steps=6, batch_tokens=1024, warmup_steps=2, eval_every=3,
                          dropout=0.0, transpose=5, repeat=0.25),
    validation_crops=4, eval_seconds=20.0, clips_per_set=2, clip_seconds=6.0,
    repeat_seeds=(0,), top_k=(8,),
    copy=MidiTrainConfig(steps=3, batch_tokens=1024, warmup_steps=1, eval_every=3,
                         dropout=0.0, transpose=5, repeat=0.6))


def build(work_dir: str | Path, *, tiny: bool = False, seed: int = 0,
          assets_dir: str | Path | None = None, train_steps: int | None = None,
          log: Callable[[str], None] = print) -> dict:
    """Run the whole recipe; return the metrics written to ``metrics.json``.

    Args:
        work_dir: Scratch folder (exported corpus, trained checkpoint); reused across runs.
        tiny: Small everything (CI smoke test); assets go to ``work_dir/assets``.
        seed: Seeds selection, initialisation, training and sampling.
        assets_dir: Where to write the assets (default: ``work_dir/assets``).
        train_steps: Override the number of training steps of the chosen settings.
        log: Receives progress lines.
    """
    settings = TINY if tiny else FULL
    if train_steps is not None:
        settings = replace(settings, train=replace(settings.train, steps=int(train_steps)))
    work = Path(work_dir)
    out = Path(assets_dir) if assets_dir else work / "assets"
    started = time.monotonic()
    metrics: dict = {"mode": "tiny" if tiny else "full", "seed": seed,
                     "settings": _jsonable(asdict(settings)), "platform": platform.platform(),
                     "cpus": os.cpu_count()}

    t0 = time.monotonic()
    pieces, failed, timing = export(work, settings=settings, seed=seed, log=log)
    metrics["corpus_seconds"] = round(time.monotonic() - t0, 1)

    import torch

    from noiseloss.models.amt import ArrivalLayout
    from noiseloss.sources.midi import load_score

    metrics["torch_threads"] = torch.get_num_threads()
    vocab = compact_vocab(time_bins=settings.time_bins, dur_bins=settings.dur_bins)
    layout = ArrivalLayout(vocab)
    folder = _corpus_folder(work, settings)
    scores = {p.piece_id: load_score(folder / f"{p.file_stem}.mid") for p in pieces}
    codes = {i: piece_codes(s, vocab) for i, s in scores.items()}
    metrics["corpus"] = _corpus_summary(pieces, failed, codes, scores, timing=timing)
    metrics["vocabulary"] = asdict(vocab)
    log(f"corpus: {json.dumps(metrics['corpus']['pieces_per_split'])} in "
        f"{metrics['corpus_seconds']} s")

    model, curve, metrics["training"] = train_model(pieces, codes, vocab, layout,
                                                    settings=settings, seed=seed, work=work,
                                                    log=log)

    stage = out.with_name(out.name + ".partial")
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    # float16 on disk keeps the wheel small; every number below is of the stored weights
    from noiseloss.models.hub import quiet_transformers

    with quiet_transformers():
        copy.deepcopy(model).half().save_pretrained(str(stage / "model"),
                                                    safe_serialization=True)
    from noiseloss.models import load_model

    scorer = load_model("demo-midi", model_options={"assets": str(stage)})
    metrics["evaluation"] = evaluate(scorer, pieces, codes, scores, vocab, layout,
                                     settings=settings, seed=seed, log=log)
    write_datasets(stage / "data", scorer.model, vocab, pieces, scores, settings=settings,
                   seed=seed, log=log)
    metrics["total_seconds"] = round(time.monotonic() - started, 1)
    write_json(metrics, stage / "metrics.json")
    from noiseloss.demo.symbolic_train import write_curve

    write_curve(curve, stage / "training_curve.jsonl")
    from noiseloss.demo.symbolic_card import write_card

    write_card(stage, metrics, curve)
    _publish(stage, out)
    log(f"done in {metrics['total_seconds']} s -> {out}")
    return metrics


def _corpus_folder(work: Path, settings: SymbolicSettings) -> Path:
    """Exported works are cached per music21 version and cut."""
    from importlib.metadata import version

    return work / "corpus" / f"music21-{version('music21')}-{int(settings.max_seconds)}s"


def export(work: Path, *, settings: SymbolicSettings, seed: int,
           log: Callable[[str], None]) -> tuple[list, dict, dict]:
    """Select the works and export the missing ones (``symbolic_corpus.export_corpus``).

    Returns:
        The exported pieces, the failures, and the cumulative export timing of the corpus folder
        (``works`` exported or failed, ``seconds``).
    """
    selected = corpus.select_pieces(seed=seed, per_collection=settings.per_collection)
    folder = _corpus_folder(work, settings)
    attempted = len(corpus.pending(selected, folder))
    t0 = time.monotonic()
    pieces, failed = corpus.export_corpus(selected, folder, max_seconds=settings.max_seconds,
                                          workers=min(settings.workers, os.cpu_count() or 1),
                                          log=log)
    timing_file = folder / "export_timing.json"
    timing = json.loads(timing_file.read_text()) if timing_file.is_file() else \
        {"works": 0, "seconds": 0.0}
    if attempted > 0:
        timing = {"works": timing["works"] + attempted,
                  "seconds": round(timing["seconds"] + time.monotonic() - t0, 1)}
        write_json(timing, timing_file)
    for piece_id, why in sorted(failed.items()):
        log(f"skipped {piece_id}: {why}")
    return pieces, failed, timing


def train_model(pieces, codes, vocab, layout, *, settings: SymbolicSettings, seed: int,
                work: Path, log):
    """Initialise and train the GPT-2; return it (eval mode), its curve and a summary.

    Each finished phase (``settings.train``, then ``settings.copy`` if set) is kept in
    ``work/checkpoints/<key>`` and reused by a rerun with the same settings, seed and training
    pieces.
    """
    from noiseloss.demo.symbolic_eval import repeat_melody
    from noiseloss.demo.symbolic_train import build_model, train

    train_ids = [p.piece_id for p in pieces if p.split == "train"]
    first = {k: v for k, v in _jsonable(asdict(settings)).items() if k != "copy"}
    key = _hash({"settings": first, "seed": seed, "train": train_ids})
    train_codes = [codes[i] for i in train_ids]
    validation = [p.piece_id for p in pieces if p.split == "validation"]
    validation.sort(key=lambda i: rank("curve:" + i, seed=seed))
    val_crops = [_first_window(codes[i], settings.model.window_events, vocab.time_bins)
                 for i in validation[: settings.validation_crops]]
    # melodies other than the repeat test's, watched during training
    watched = [piece_codes(repeat_melody(seed=1000 + s), vocab) for s in range(3)]

    def phase(model, config, phase_seed):
        return model, train(model, train_codes, val_crops, layout=layout, config=config,
                            seed=phase_seed, repeats=watched,
                            log=lambda r: log(f"train: {json.dumps(r)}"))

    model, curve, wall = _phase(
        work / "checkpoints" / key, log=log,
        run=lambda: phase(build_model(vocab, size=settings.model, seed=seed,
                                      dropout=settings.train.dropout), settings.train, seed))
    if settings.copy is not None:
        done = curve[-1]
        key = _hash({"after": key, "copy": _jsonable(asdict(settings.copy))})
        model, more, extra = _phase(work / "checkpoints" / key, log=log,
                                    run=lambda: phase(model, settings.copy, seed + 1))
        curve = curve + [{**r, "step": r["step"] + done["step"],
                          "tokens": r["tokens"] + done["tokens"],
                          "elapsed_s": round(r["elapsed_s"] + done["elapsed_s"], 1),
                          "phase": 2} for r in more]
        wall += extra
    summary = {"parameters": int(sum(p.numel() for p in model.parameters())),
               "train_pieces": len(train_codes),
               "train_tokens": int(sum(3 * c.shape[1] for c in train_codes)),
               "tokens_seen": int(curve[-1]["tokens"]), "wall_seconds": round(wall, 1),
               "tokens_per_second": round(curve[-1]["tokens"] / wall),
               "validation_crops": len(val_crops),
               "validation_crop_tokens": int(sum(3 * c.shape[1] for c in val_crops))}
    return model.eval(), curve, summary


def _phase(checkpoint: Path, *, run, log) -> tuple:
    """``(model, curve, wall seconds)`` of one training phase, kept in ``checkpoint``.

    ``run()`` returns the model it trained and its curve; a checkpoint holding
    ``summary.json`` is loaded instead.
    """
    from transformers import GPT2LMHeadModel

    from noiseloss.models.hub import quiet_transformers

    saved = checkpoint / "summary.json"
    if saved.is_file():
        log(f"reusing the trained model in {checkpoint}")
        with quiet_transformers():
            model = GPT2LMHeadModel.from_pretrained(str(checkpoint), local_files_only=True)
        record = json.loads(saved.read_text())
        return model.eval(), record["curve"], record["summary"]["wall_seconds"]
    t0 = time.monotonic()
    model, curve = run()
    wall = time.monotonic() - t0
    with quiet_transformers():
        model.save_pretrained(str(checkpoint), safe_serialization=True)
    write_json({"curve": curve, "summary": {"wall_seconds": round(wall, 1)}}, saved)
    return model.eval(), curve, wall


def _first_window(piece_codes: np.ndarray, window: int, time_bins: int) -> np.ndarray:
    from noiseloss.demo.symbolic_train import crop_end

    return piece_codes[:, : crop_end(piece_codes[0], 0, window_events=window,
                                     time_bins=time_bins)]


def evaluate(scorer, pieces, codes, scores, vocab, layout, *, settings: SymbolicSettings,
             seed: int, log) -> dict:
    """Model, untrained model and n-gram baselines on the validation and ood splits; repeats.

    Every validation and ood piece is read for its first ``eval_seconds``, tokenized and scored
    by ``scorer`` (the model as ``load_model("demo-midi")`` loads it: windows of its positions,
    stride half); the baselines and the untrained model see the same tokens. The n-grams'
    prior weight is the best of ``PRIOR_GRID`` on the evaluated split itself (an optimistic
    baseline).
    """
    from noiseloss.demo.symbolic_eval import EventNgram, mean_nll, repeat_test
    from noiseloss.demo.symbolic_train import build_model
    from noiseloss.models.hub import CausalLMScorer
    from noiseloss.sources.midi import cut_score

    train_codes = [codes[p.piece_id] for p in pieces if p.split == "train"]
    untrained_model = build_model(vocab, size=settings.model, seed=seed).eval()
    untrained = CausalLMScorer(untrained_model, scorer.tokenizer, layouts=scorer.layouts,
                               name="untrained", identity={}, options=scorer.options)
    ngrams = {(order, beta): EventNgram(train_codes, vocab, order=order, prior_weight=beta)
              for order in settings.ngram_orders for beta in PRIOR_GRID}
    result: dict = {"eval_seconds": settings.eval_seconds,
                    "window_events": scorer.options.window_frames,
                    "stride_events": scorer.options.stride_frames,
                    "ngram_prior_grid": list(PRIOR_GRID)}
    for split in ("validation", "ood"):
        excerpts = [cut_score(scores[p.piece_id], offset_seconds=0.0,
                              seconds=settings.eval_seconds) for p in pieces if p.split == split]
        tokens = [scorer.tokenize(e) for e in excerpts if e.instruments]
        ids = [t.ids for t in tokens]
        axes = [t.axis for t in tokens]
        row = {"pieces": len(ids), "tokens": int(sum(a.size for a in ids))}
        row["model"] = mean_nll([r.nll.astype(np.float64)
                                 for r in scorer.score_codes(ids, axes=axes)])
        row["untrained"] = mean_nll([r.nll.astype(np.float64)
                                     for r in untrained.score_codes(ids, axes=axes)])
        for order in settings.ngram_orders:
            by_beta = {beta: mean_nll([ngrams[(order, beta)].nll(a) for a in ids])
                       for beta in PRIOR_GRID}
            best = min(by_beta, key=lambda b: by_beta[b]["mean"])
            row[f"ngram{order}"] = {**by_beta[best], "prior_weight": best}
        best_order = min(settings.ngram_orders, key=lambda o: row[f"ngram{o}"]["mean"])
        row["best_ngram"] = f"ngram{best_order}"
        row["margin_nats"] = row[f"ngram{best_order}"]["mean"] - row["model"]["mean"]
        result[split] = row
        log(f"evaluation {split}: {json.dumps(row)}")
    repeats = [repeat_test(scorer, seed=s) for s in settings.repeat_seeds]
    result["repeat"] = {"runs": repeats, "ratio_mean": float(np.mean([r["ratio"] for r in repeats])),
                        "ratio_max": float(np.max([r["ratio"] for r in repeats])),
                        "passed": all(r["passed"] for r in repeats)}
    log(f"repeat test: {json.dumps(result['repeat'])}")
    return result


def write_datasets(folder: Path, model, vocab, pieces, scores, *, settings: SymbolicSettings,
                   seed: int, log) -> None:
    """Write the ``train``, ``ood`` and ``generated`` MIDI sets with their manifests."""
    from noiseloss.demo.symbolic_sample import events_to_midi, sample_events
    from noiseloss.sources.midi import cut_score

    clip = settings.clip_seconds
    for name in DATASETS:
        shutil.rmtree(folder / name, ignore_errors=True)
        (folder / name).mkdir(parents=True)
    for name, split in (("train", "train"), ("ood", "ood")):
        candidates = [p for p in pieces if p.split == split
                      and scores[p.piece_id].get_end_time() >= clip]
        candidates.sort(key=lambda p: rank("excerpt:" + p.piece_id, seed=seed))
        records = []
        for n, piece in enumerate(sorted(candidates[: settings.clips_per_set],
                                         key=lambda p: p.piece_id)):
            excerpt = cut_score(scores[piece.piece_id], offset_seconds=0.0, seconds=clip)
            file = f"{name}_{n:02d}_{piece.file_stem}.mid"
            excerpt.write(str(folder / name / file))
            records.append({"file": file, **piece.record(), "start_seconds": 0.0,
                            "duration_seconds": clip,
                            "notes": sum(len(i.notes) for i in excerpt.instruments)})
        write_json(records, folder / name / MANIFEST)
    rng = np.random.default_rng(seed)
    records = []
    for n in range(settings.clips_per_set):
        top_k = settings.top_k[n % len(settings.top_k)]
        events = sample_events(model, vocab, seconds=clip, top_k=top_k, rng=rng)
        score = events_to_midi(events, vocab)
        file = f"generated_{n:02d}_topk{top_k}.mid"
        score.write(str(folder / "generated" / file))
        records.append({
            "file": file, "source": "sampled from demo-midi (unconditional)",
            "composer": "demo-midi model", "top_k": top_k, "temperature": 1.0, "seed": seed,
            "events": int(len(events)), "notes": sum(len(i.notes) for i in score.instruments),
            "duration_seconds": clip, "licence": "generated by noiseloss (MIT licence)"})
    log(f"generated {len(records)} samples (top-k {sorted(set(settings.top_k))})")
    write_json(records, folder / "generated" / MANIFEST)


def _publish(stage: Path, out: Path) -> None:
    """Replace ``out`` by ``stage`` (the previous assets stay whole until this moment)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    old = out.with_name(out.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if out.exists():
        out.rename(old)
    stage.rename(out)
    shutil.rmtree(old, ignore_errors=True)


def _corpus_summary(pieces, failed, codes, scores, *, timing: dict) -> dict:
    count: dict[str, int] = {}
    events: dict[str, int] = {}
    minutes: dict[str, float] = {}
    collections: dict[str, dict[str, int]] = {}
    for p in pieces:
        count[p.split] = count.get(p.split, 0) + 1
        events[p.split] = events.get(p.split, 0) + int(codes[p.piece_id].shape[1])
        minutes[p.split] = minutes.get(p.split, 0.0) + scores[p.piece_id].get_end_time() / 60
        per = collections.setdefault(p.split, {})
        per[p.collection] = per.get(p.collection, 0) + 1
    return {"pieces_per_split": count, "events_per_split": events,
            "minutes_per_split": {k: round(v, 1) for k, v in minutes.items()},
            "collections_per_split": collections, "failed": len(failed),
            "failed_examples": dict(sorted(failed.items())[:10]),
            "export": {**timing, "works_per_second": round(timing["works"] / timing["seconds"], 2)
                       if timing["seconds"] else None}}


__all__ = ["FULL", "TINY", "SymbolicSettings", "build"]
