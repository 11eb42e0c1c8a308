"""End-to-end recipe of the demo: corpus -> tokenizer -> trained decoder -> data sets -> card.

``build(work_dir, tiny=False)`` renders the corpus into ``work_dir`` (resumable: rendered pieces
are reused), fits the tokenizer, trains the decoder, evaluates it against baselines on the
validation split, samples the ``generated`` set and writes the assets folder
(``work_dir/assets`` unless told otherwise: the shipped model is replaced only on purpose, with
``assets_dir=src/noiseloss/demo/assets``). ``tiny`` is a smoke test under two minutes.
"""

from __future__ import annotations

import json
import platform
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from noiseloss.demo import corpus
from noiseloss.demo.data import DATASETS, MANIFEST
from noiseloss.demo.train import ModelSize, TrainConfig, write_curve
from noiseloss.store.io import write_json

SAMPLE_RATE = 32000
TOP_K = (10, 50, 100, 250, 500)
BIGRAM_PRIOR_GRID = (1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0)
GATES = {"unigram": 1.0, "bigram": 0.25, "untrained": 1.5}


@dataclass(frozen=True)
class BuildSettings:
    """Sizes of one build (``FULL`` or ``TINY``)."""

    per_collection: dict[str, int]
    max_seconds: float
    codebook_size: int
    fit_frames: int
    kmeans_iterations: int
    model: ModelSize
    train: TrainConfig
    clips_per_set: int
    clip_seconds: float
    griffin_lim_iterations: int
    sample_batch: int = 15
    window: dict = field(default_factory=lambda: {"window_frames": 750, "stride_frames": 375})


FULL = BuildSettings(
    per_collection={"bach": 150, "palestrina": 50, "monteverdi": 30, "mozart": 16, "haydn": 9,
                    "beethoven": 4, "corelli": 1, "cpebach": 1, "handel": 1, "schubert": 1,
                    "weber": 1, "schumann_robert": 3, "schumann_clara": 2, "chopin": 1,
                    "joplin": 1, "verdi": 1, "beach": 1, "liliuokalani": 1, "ciconia": 1,
                    "luca": 1, "lusitano": 1, "trecento": 4},
    max_seconds=60.0, codebook_size=512, fit_frames=60000, kmeans_iterations=20,
    model=ModelSize(), train=TrainConfig(steps=1700, eval_every=50, checkpoint_every=250),
    clips_per_set=15, clip_seconds=15.0, griffin_lim_iterations=32)
TINY = BuildSettings(
    per_collection={"bach": 6, "corelli": 1, "cpebach": 1},
    max_seconds=12.0, codebook_size=32, fit_frames=5000, kmeans_iterations=5,
    model=ModelSize(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, ffn_dim=64,
                    max_position_embeddings=256),
    train=TrainConfig(steps=12, batch_size=2, crop_frames=100, warmup_steps=3, eval_every=3,
                      checkpoint_every=3),
    clips_per_set=2, clip_seconds=4.0, griffin_lim_iterations=4, sample_batch=2,
    window={"window_frames": 100, "stride_frames": 50})


def build(work_dir: str | Path, *, tiny: bool = False, seed: int = 0,
          assets_dir: str | Path | None = None, train_steps: int | None = None,
          checkpoint_every: int | None = None, log: Callable[[str], None] = print) -> dict:
    """Run the whole recipe; return the metrics written to ``metrics.json``.

    Args:
        work_dir: Scratch folder (rendered corpus, codes, checkpoints); reused across runs.
        tiny: Small everything (CI smoke test); assets go to ``work_dir/assets``.
        seed: Seeds selection, tokenizer fit, initialisation, training and sampling.
        assets_dir: Where to write the assets (default: ``work_dir/assets``).
        train_steps: Override the number of training steps of the chosen settings.
        checkpoint_every: Override the interval of the kept intermediate checkpoints (steps).
        log: Receives progress lines.
    """
    import torch

    settings = TINY if tiny else FULL
    for key, value in (("steps", train_steps), ("checkpoint_every", checkpoint_every)):
        if value is not None:
            settings = replace(settings, train=replace(settings.train, **{key: int(value)}))
    work = Path(work_dir)
    out = Path(assets_dir) if assets_dir else work / "assets"
    started = time.monotonic()
    metrics: dict = {"mode": "tiny" if tiny else "full", "seed": seed,
                     "settings": _jsonable(asdict(settings)), "torch_threads":
                     torch.get_num_threads(), "platform": platform.platform(),
                     "bigram_prior_grid": list(BIGRAM_PRIOR_GRID)}

    from noiseloss.sources.midi import renderer_identity

    # rendered audio is cached per renderer (render code, FluidSynth, soundfont)
    render_key = _hash({"renderer": renderer_identity()})
    metrics["renderer"] = renderer_identity()
    pieces, audio = render_corpus(work / "corpus" / render_key, settings=settings, seed=seed,
                                  log=log)
    metrics["corpus"] = _corpus_summary(pieces, audio)
    log(f"corpus: {json.dumps(metrics['corpus']['seconds_per_split'])}")

    from noiseloss.tokenizers.spectral import SpectralTokenizer

    t0 = time.monotonic()
    train_ids = [p.piece_id for p in pieces if p.split == "train"]
    key = _hash({"ids": train_ids, "render": render_key, "seed": seed,
                 "size": settings.codebook_size,
                 "fit_frames": settings.fit_frames, "iterations": settings.kmeans_iterations,
                 "max_seconds": settings.max_seconds})
    cached = work / "tokenizers" / key
    if (cached / "codebooks.npy").is_file():
        log(f"reusing the fitted tokenizer in {cached}")
        tokenizer = SpectralTokenizer.load(cached)
    else:
        tokenizer = SpectralTokenizer.fit(
            (audio[i] for i in train_ids), seed=seed, codebook_size=settings.codebook_size,
            max_frames=settings.fit_frames, iterations=settings.kmeans_iterations,
            sample_rate=SAMPLE_RATE)
        tokenizer.save(cached)
        write_json({"fit_seconds": round(time.monotonic() - t0, 1)}, cached / "fit.json")
    codes = {p.piece_id: tokenizer.encode(audio[p.piece_id]) for p in pieces}
    metrics["tokenizer"] = {**json.loads((cached / "fit.json").read_text()),
                            **tokenizer.describe(),
                            **_tokenizer_distance(tokenizer, pieces, audio, settings)}
    log(f"tokenizer: {json.dumps(metrics['tokenizer'])}")

    decoder, curve, metrics["training"] = train_decoder(
        pieces, codes, tokenizer, settings=settings, seed=seed, log=log,
        checkpoint=work / "checkpoints" / _checkpoint_key(settings, seed, tokenizer))
    metrics["evaluation"] = evaluate(decoder, tokenizer, pieces, codes, settings=settings,
                                     seed=seed)
    log(f"evaluation: {json.dumps(metrics['evaluation'])}")

    # Everything is written to a staging folder first and moved into place at the end, so that a
    # build killed at any moment leaves the previous assets whole.
    stage = out.with_name(out.name + ".partial")
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    decoder.save_pretrained(str(stage / "model"), safe_serialization=True)
    tokenizer.save(stage / "tokenizer")
    write_datasets(stage / "data", decoder, tokenizer, pieces, audio, settings=settings,
                   seed=seed, log=log)
    metrics["total_seconds"] = round(time.monotonic() - started, 1)
    write_json(metrics, stage / "metrics.json")
    write_curve(curve, stage / "training_curve.jsonl")
    from noiseloss.demo.card import write_card

    write_card(stage, metrics, curve)
    _publish(stage, out)
    log(f"done in {metrics['total_seconds']} s -> {_display(out)}")
    return metrics


def _publish(stage: Path, out: Path) -> None:
    """Move every entry of ``stage`` into ``out``, replacing what was there, then drop ``stage``."""
    out.mkdir(parents=True, exist_ok=True)
    for entry in sorted(stage.iterdir()):
        target = out / entry.name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
        entry.rename(target)
    stage.rmdir()


def _display(path: Path) -> str:
    """``path`` relative to the working directory when it lies below it (keeps logs portable)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def render_corpus(folder: Path, *, settings: BuildSettings, seed: int,
                  log: Callable[[str], None]) -> tuple[list, dict[str, np.ndarray]]:
    """Select and render the pieces (cached as FLAC in ``folder``); drop those that fail."""
    from noiseloss.sources.audio import load_audio, write_audio

    selected = corpus.select_pieces(seed=seed, per_collection=settings.per_collection)
    pieces, audio, failed = [], {}, {}
    for n, piece in enumerate(selected):
        path = folder / f"{piece.piece_id}.{piece.program}.{int(settings.max_seconds)}s.flac"
        try:
            if not path.is_file():
                write_audio(path, corpus.render_piece(piece, sample_rate=SAMPLE_RATE,
                                                      max_seconds=settings.max_seconds),
                            sample_rate=SAMPLE_RATE)
            audio[piece.piece_id] = load_audio(path, sample_rate=SAMPLE_RATE)
            pieces.append(piece)
        except Exception as exc:  # music21 raises many types for scores it cannot export
            failed[piece.piece_id] = f"{type(exc).__name__}: {str(exc)[:120]}"
            log(f"skipped {piece.piece_id}: {failed[piece.piece_id]}")
        if (n + 1) % 25 == 0:
            log(f"rendered {n + 1}/{len(selected)}")
    write_json({"pieces": [p.record() for p in pieces], "failed": failed},
               folder / "corpus.json")
    return pieces, audio


def train_decoder(pieces, codes, tokenizer, *, settings: BuildSettings, seed: int, log,
                  checkpoint: Path):
    """Initialise and train the decoder; return it (eval mode), its curve and a summary.

    A finished training is saved in ``checkpoint`` and reused by a rerun with the same settings,
    seed and tokenizer. Every ``checkpoint_every`` steps the weights are also kept in
    ``checkpoint/steps/step-NNNNN/``, a folder the demo backend loads (``-m assets=DIR``).
    """
    from transformers import MusicgenForCausalLM

    from noiseloss.demo.train import build_decoder, train

    if (checkpoint / "summary.json").is_file():
        log(f"reusing the trained decoder in {checkpoint}")
        saved = json.loads((checkpoint / "summary.json").read_text())
        decoder = MusicgenForCausalLM.from_pretrained(str(checkpoint), local_files_only=True)
        return decoder.eval(), saved["curve"], saved["summary"]
    decoder = build_decoder(codebook_size=settings.codebook_size, num_codebooks=4,
                            size=settings.model, seed=seed)
    crop = settings.train.crop_frames
    train_codes = [codes[p.piece_id] for p in pieces if p.split == "train"]
    val_crops = np.stack([codes[p.piece_id][:, :crop] for p in pieces
                          if p.split == "validation" and codes[p.piece_id].shape[1] >= crop])
    t0 = time.monotonic()

    def keep(model, record: dict) -> None:
        folder = checkpoint / "steps" / f"step-{record['step']:05d}"
        model.save_pretrained(str(folder / "model"), safe_serialization=True)
        tokenizer.save(folder / "tokenizer")
        write_json({"settings": {"window": settings.window}, "training": record},
                   folder / "metrics.json")

    curve = train(decoder, train_codes, val_crops, config=settings.train, seed=seed,
                  log=lambda r: log(f"train: {json.dumps(r)}"), keep=keep)
    summary = {
        "parameters": int(sum(p.numel() for p in decoder.parameters())),
        "train_frames": int(sum(c.shape[1] for c in train_codes)),
        "train_pieces_used": int(sum(c.shape[1] >= crop for c in train_codes)),
        "frames_seen": settings.train.steps * settings.train.batch_size * crop,
        "wall_seconds": round(time.monotonic() - t0, 1),
        "validation_crops": len(val_crops),
    }
    decoder.save_pretrained(str(checkpoint), safe_serialization=True)
    write_json({"curve": curve, "summary": summary}, checkpoint / "summary.json")
    return decoder, curve, summary


def evaluate(decoder, tokenizer, pieces, codes, *, settings: BuildSettings, seed: int) -> dict:
    """Mean NLL per token on the validation and ood splits: model, untrained model, n-grams.

    The models are scored with ``MusicgenScorer.score_codes`` (the scoring path of every run).
    """
    from noiseloss.demo.train import (
        bigram_logprobs,
        bigram_nll,
        build_decoder,
        mean_token_nll,
        unigram_logprobs,
        unigram_nll,
    )
    from noiseloss.models.musicgen import MusicgenScorer
    from noiseloss.scoring.options import ScoringOptions

    size = settings.codebook_size
    train_codes = [codes[p.piece_id] for p in pieces if p.split == "train"]
    untrained = build_decoder(codebook_size=size, num_codebooks=4, size=settings.model,
                              seed=seed).eval()
    unigram = unigram_logprobs(train_codes, codebook_size=size)
    add_one = bigram_logprobs(train_codes, codebook_size=size, prior_weight=None)
    priors = {beta: bigram_logprobs(train_codes, codebook_size=size, prior_weight=beta)
              for beta in BIGRAM_PRIOR_GRID}
    result = {}
    for split in ("validation", "ood"):
        items = [codes[p.piece_id] for p in pieces if p.split == split]
        row = {"tokens": int(sum(c.size for c in items))}
        options = ScoringOptions(batch_size=8, alignment="delayed", **settings.window)
        nll = {name: [r.nll for r in MusicgenScorer(net, tokenizer, name=name, options=options)
                      .score_codes(items)]
               for name, net in (("model", decoder), ("untrained", untrained))}
        row["model"] = mean_token_nll(nll["model"])
        row["untrained"] = mean_token_nll(nll["untrained"])
        row["model_per_codebook"] = [mean_token_nll([n[k] for n in nll["model"]])
                                     for k in range(4)]
        row["unigram_add_one"] = mean_token_nll([unigram_nll(c, unigram) for c in items])
        row["bigram_add_one"] = mean_token_nll([bigram_nll(c, add_one, unigram) for c in items])
        by_beta = {beta: mean_token_nll([bigram_nll(c, lp, unigram) for c in items])
                   for beta, lp in priors.items()}
        best = min(by_beta, key=by_beta.get)
        row["bigram_dirichlet"] = by_beta[best]
        row["bigram_dirichlet_prior_weight"] = best
        result[split] = row
    val = result["validation"]
    best_bigram = min(val["bigram_add_one"], val["bigram_dirichlet"])
    margins = {"unigram": val["unigram_add_one"] - val["model"],
               "bigram": best_bigram - val["model"],
               "untrained": val["untrained"] - val["model"]}
    result["gates"] = {name: {"margin_nats": round(m, 4), "required_nats": GATES[name],
                              "passed": bool(m >= GATES[name])} for name, m in margins.items()}
    return result


def write_datasets(folder: Path, decoder, tokenizer, pieces, audio, *, settings: BuildSettings,
                   seed: int, log) -> None:
    """Write the ``train``, ``ood`` and ``generated`` excerpt sets with their manifests."""
    from noiseloss.demo.sample import sample_codes
    from noiseloss.sources.audio import write_audio

    clip = int(settings.clip_seconds * SAMPLE_RATE)
    for name in DATASETS:
        shutil.rmtree(folder / name, ignore_errors=True)
    for name, split in (("train", "train"), ("ood", "ood")):
        candidates = [p for p in pieces if p.split == split and audio[p.piece_id].size >= clip]
        candidates.sort(key=lambda p: corpus.rank("excerpt:" + p.piece_id, seed=seed))
        records = []
        for n, piece in enumerate(sorted(candidates[: settings.clips_per_set],
                                         key=lambda p: p.piece_id)):
            file = f"{name}_{n:02d}_{piece.piece_id.replace('/', '_')}.ogg"
            write_audio(folder / name / file, audio[piece.piece_id][:clip],
                        sample_rate=SAMPLE_RATE)
            records.append({"file": file, **piece.record(), "start_seconds": 0.0,
                            "duration_seconds": settings.clip_seconds})
        write_json(records, folder / name / MANIFEST)
    frames = tokenizer.num_frames(clip)
    top_ks = [TOP_K[n % len(TOP_K)] for n in range(settings.clips_per_set)]
    rng = np.random.default_rng(seed)
    records = []
    for top_k in sorted(set(top_ks)):
        count = top_ks.count(top_k)
        sampled = sample_codes(decoder, num_frames=frames, top_k=top_k, batch_size=count, rng=rng)
        for codes in sampled:
            n = len(records)
            wave = corpus.normalise(tokenizer.decode(
                codes, num_samples=clip, iterations=settings.griffin_lim_iterations, seed=seed + n))
            file = f"generated_{n:02d}_topk{top_k}.ogg"
            write_audio(folder / "generated" / file, wave, sample_rate=SAMPLE_RATE)
            records.append({
                "file": file, "source": "sampled from the demo model (unconditional)",
                "composer": "demo model", "instrument": "spectral RVQ decoded by Griffin-Lim",
                "top_k": top_k, "temperature": 1.0, "seed": seed, "duration_seconds":
                settings.clip_seconds, "licence": "generated by noiseloss (MIT licence)"})
        log(f"generated {count} clip(s) with top_k={top_k}")
    write_json(records, folder / "generated" / MANIFEST)


def _tokenizer_distance(tokenizer, pieces, audio, settings: BuildSettings) -> dict:
    """Mean |log-mel| distance (nats) on validation excerpts: quantised and decoded vs input."""
    clip = int(settings.clip_seconds * SAMPLE_RATE)
    quantised, decoded = [], []
    for piece in (p for p in pieces if p.split == "validation"):
        x = audio[piece.piece_id][:clip]
        features = tokenizer.log_mel(x)
        codes = tokenizer.encode(x)
        quantised.append(np.abs(tokenizer.dequantize(codes) - features).mean())
        y = tokenizer.decode(codes, num_samples=x.size,
                             iterations=settings.griffin_lim_iterations)
        decoded.append(np.abs(tokenizer.log_mel(y) - features).mean())
    return {"logmel_l1_quantised": round(float(np.mean(quantised)), 4),
            "logmel_l1_decoded": round(float(np.mean(decoded)), 4),
            "logmel_distance_items": len(decoded)}


def _checkpoint_key(settings: BuildSettings, seed: int, tokenizer) -> str:
    """Hash of everything that determines the trained weights."""
    return _hash({"settings": _jsonable(asdict(settings)), "seed": seed,
                  "tokenizer": tokenizer.sha256()})


def _hash(obj) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]


def _corpus_summary(pieces, audio) -> dict:
    seconds: dict[str, float] = {}
    count: dict[str, int] = {}
    timbres: dict[str, list[str]] = {}
    collections: dict[str, list[str]] = {}
    for p in pieces:
        seconds[p.split] = round(seconds.get(p.split, 0.0) + audio[p.piece_id].size / SAMPLE_RATE,
                                 1)
        count[p.split] = count.get(p.split, 0) + 1
        timbres.setdefault(p.split, [])
        if p.instrument not in timbres[p.split]:
            timbres[p.split].append(p.instrument)
        collections.setdefault(p.split, [])
        if p.collection not in collections[p.split]:
            collections[p.split].append(p.collection)
    return {"pieces_per_split": count, "seconds_per_split": seconds,
            "instruments_per_split": {k: sorted(v) for k, v in timbres.items()},
            "collections_per_split": {k: sorted(v) for k, v in collections.items()}}


def _jsonable(obj):
    return json.loads(json.dumps(obj, default=str))


__all__ = ["FULL", "TINY", "BuildSettings", "build"]
