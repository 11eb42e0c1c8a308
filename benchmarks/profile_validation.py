"""Validation of the profile metrics on data they were not designed on (not a test).

Design data (what the metric definitions and their degraded directions were chosen on): the
demo ``train`` set with the paper's fixed-onset white-noise injections. Measured here:

clip level -- clean clips of other sets (default: demo ood + generated, first 15 s, as WAV)
against degradations never used in the design:

    noise-span          one noise span (white / pink / brown, random), 5-50 frames, random onset
    mixture-snrN        noise added to the whole clip at N dB SNR (N = 20, 10, 0)
    block-shuffle       the clip's 25-frame blocks in random order
    reverse             the clip played backwards
    token-corruption    a random 50-frame span of codes replaced by random codes, then decoded
                        (negatives: the clean clips decoded from their own codes, same vocoder)
    garbage             samples of the demo model at temperature 1.5 with no top-k (negatives:
                        decoded clean clips)
    note-delete, bar-shuffle  MIDI edits of held-out scores (negatives: the same scores
                        rendered clean)

Every metric gets AUROC (degraded vs clean, oriented by its *declared* direction, never by
the data) with a seeded 95 % bootstrap interval, per degradation and overall.

model level -- a series of checkpoints of one training (``--checkpoints DIR`` holding
``step-*`` folders as kept by ``noiseloss demo-model build``, or ``--tiny``: the tiny recipe is
built first): the paper's injection grid on one data set per checkpoint, every model metric
against training step and validation loss (Spearman), and whether it orders them correctly.

    python benchmarks/profile_validation.py --out runs/profile-validation
    python benchmarks/profile_validation.py --tiny --out runs/pv-tiny      # CI-sized
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

SAMPLE_RATE, HOP = 32000, 640
AUDIO_DEGRADATIONS = ("noise-span", "mixture-snr20", "mixture-snr10", "mixture-snr0",
                      "block-shuffle", "reverse")
MIDI_SCORES = ("mozart/k155/movement1", "mozart/k155/movement2", "mozart/k155/movement3",
               "mozart/k156/movement1", "mozart/k156/movement2", "haydn/opus1no1/movement1",
               "haydn/opus1no1/movement2", "haydn/opus1no1/movement3")


def degrade(audio: np.ndarray, name: str, *, seed: int) -> np.ndarray:
    """One audio degradation of a clean clip (see the module docstring)."""
    from noiseloss.perturb import perturb

    rng = np.random.default_rng(seed)
    frames = len(audio) // HOP
    common = {"sample_rate": SAMPLE_RATE, "hop_length": HOP, "seed": seed}
    if name == "noise-span":
        length = int(rng.integers(5, 51))
        spec = {"kind": "noise", "color": str(rng.choice(["white", "pink", "brown"])),
                "mode": "replace", "level_db": -12.0, "level_ref": "signal",
                "onset_frames": int(rng.integers(frames // 8, frames - length - frames // 8)),
                "length_frames": length}
    elif name.startswith("mixture-snr"):
        spec = {"kind": "noise", "color": "white", "mode": "add", "level_ref": "signal",
                "level_db": -float(name.removeprefix("mixture-snr")), "onset_frames": 0,
                "length_frames": frames}
    elif name == "block-shuffle":
        spec = {"kind": "permute", "onset_frames": 0, "block_frames": 25,
                "length_frames": frames // 25 * 25}
    elif name == "reverse":
        spec = {"kind": "reverse", "onset_frames": 0, "length_frames": frames}
    else:
        raise ValueError(name)
    return perturb(audio[:frames * HOP], spec, **common).data


def write_clip_sets(out: Path, sources: list[str], *, seed: int, tiny: bool,
                    per_set: int | None) -> dict[str, str]:
    """Write every clean and degraded clip as WAV; return folder -> its negatives folder."""
    from noiseloss.demo.sample import sample_codes
    from noiseloss.models.demo import ASSETS
    from noiseloss.perturb import perturb
    from noiseloss.sources.audio import load_audio, write_audio
    from noiseloss.sources.datasets import DatasetSpec, load_midi, resolve_items
    from noiseloss.sources.midi import render_midi
    from noiseloss.tokenizers.spectral import SpectralTokenizer

    seconds = 4.0 if tiny else 15.0
    tokenizer = SpectralTokenizer.load(ASSETS / "tokenizer")
    clean = {}
    for source in sources:
        items = resolve_items(DatasetSpec(name=source.split(":")[-1], source=source))
        for item in items[:per_set]:
            audio = load_audio(item.location, sample_rate=SAMPLE_RATE)[:int(seconds * SAMPLE_RATE)]
            clean[f"{item.dataset}_{Path(item.item_id).stem}"] = audio
    pairs = {"clean": "clean"}
    sets: dict[str, dict[str, np.ndarray]] = {"clean": clean}
    for n, name in enumerate(AUDIO_DEGRADATIONS):
        sets[name] = {k: degrade(a, name, seed=seed + 7919 * n + i)
                      for i, (k, a) in enumerate(clean.items())}
        pairs[name] = "clean"
    rng = np.random.default_rng(seed)
    decoded, corrupted = {}, {}
    for k, a in clean.items():
        codes = tokenizer.encode(a)
        decoded[k] = tokenizer.decode(codes, num_samples=len(a), seed=seed)
        span = min(50, codes.shape[1] // 3)
        start = int(rng.integers(codes.shape[1] // 4, codes.shape[1] - span))
        codes = codes.copy()
        codes[:, start:start + span] = rng.integers(0, tokenizer.codebook_size,
                                                    size=(codes.shape[0], span))
        corrupted[k] = tokenizer.decode(codes, num_samples=len(a), seed=seed)
    sets.update({"clean-decoded": decoded, "token-corruption": corrupted})
    pairs.update({"clean-decoded": "clean-decoded", "token-corruption": "clean-decoded"})

    from noiseloss.models import load_model

    scorer = load_model("demo")
    samples = sample_codes(scorer.decoder, num_frames=int(seconds * SAMPLE_RATE) // HOP,
                           top_k=tokenizer.codebook_size, batch_size=min(len(clean), 8),
                           rng=np.random.default_rng(seed), temperature=1.5)
    sets["garbage"] = {f"garbage_{i:02d}": tokenizer.decode(c, seed=seed)
                       for i, c in enumerate(samples)}
    pairs["garbage"] = "clean-decoded"

    scores = MIDI_SCORES[:2] if tiny else MIDI_SCORES
    midi_clean, deleted, shuffled = {}, {}, {}
    for i, item in enumerate(resolve_items(DatasetSpec(name="midi", music21=scores))):
        midi = load_midi(item)
        key = item.item_id.replace("/", "_")
        midi_clean[key] = render_midi(midi, sample_rate=SAMPLE_RATE, duration_seconds=seconds)
        for target, spec in ((deleted, {"kind": "note-delete", "ratio": 0.4}),
                             (shuffled, {"kind": "bar-shuffle"})):
            target[key] = render_midi(perturb(midi, spec, seed=seed + i).data,
                                      sample_rate=SAMPLE_RATE, duration_seconds=seconds)
    sets.update({"clean-midi": midi_clean, "note-delete": deleted, "bar-shuffle": shuffled})
    pairs.update({"clean-midi": "clean-midi", "note-delete": "clean-midi",
                  "bar-shuffle": "clean-midi"})
    for folder, clips in sets.items():
        for key, audio in clips.items():
            write_audio(out / "clips" / folder / f"{key}.wav", audio, sample_rate=SAMPLE_RATE)
    return pairs


def clip_level(out: Path, sources: list[str], *, seed: int, probes: int, tiny: bool,
               resamples: int, per_set: int | None) -> pd.DataFrame:
    """Profile every clip set; AUROC of each metric per degradation and overall."""
    from noiseloss.analysis.profile import PROFILE_METRICS, metrics_of
    from noiseloss.analysis.stats import auroc, bootstrap_interval
    from noiseloss.profiling import ProfileOptions, profile

    pairs_file = out / "clips" / "pairs.json"
    if not pairs_file.is_file():
        pairs = write_clip_sets(out, sources, seed=seed, tiny=tiny, per_set=per_set)
        pairs_file.write_text(json.dumps(pairs))
    pairs = json.loads(pairs_file.read_text())
    options = ProfileOptions(probes=probes, seed=seed, **(
        {"excerpt_seconds": 4.0, "context_seconds": 1.0, "tail_seconds": 1.5,
         "after_frames": 20} if tiny else {}))
    folders = [out / "clips" / name for name in pairs]
    result = profile(folders, model="demo", out_dir=out / "profile", options=options,
                     page=False)
    clips = result.clips
    rows = []
    names = [*metrics_of("clip"), *metrics_of("probe")]
    groups = {name: (name, negatives) for name, negatives in pairs.items() if name != negatives}
    groups["overall"] = ("overall", None)
    for label, (positives, negatives) in groups.items():
        for metric in names:
            sign = 1.0 if PROFILE_METRICS.get(metric).degraded == "higher" else -1.0
            if positives == "overall":  # every degraded clip against every clean one, once
                pos = clips.loc[clips["dataset"].isin([p for p, n in pairs.items() if p != n]),
                                metric]
                neg = clips.loc[clips["dataset"].isin([n for p, n in pairs.items() if p == n]),
                                metric]
            else:
                pos = clips.loc[clips["dataset"] == positives, metric]
                neg = clips.loc[clips["dataset"] == negatives, metric]
            pos, neg = sign * pos.to_numpy(float), sign * neg.to_numpy(float)
            low, high = bootstrap_interval((pos, neg), auroc, seed=seed, paired=False,
                                           n_resamples=resamples)
            rows.append({"degradation": label, "metric": metric, "auroc": auroc(pos, neg),
                         "ci_low": low, "ci_high": high, "n_pos": int(np.isfinite(pos).sum()),
                         "n_neg": int(np.isfinite(neg).sum())})
    return pd.DataFrame(rows)


def checkpoint_folders(args, out: Path) -> list[Path]:
    """The ``step-*`` checkpoints in training order (built first with ``--tiny``)."""
    if args.tiny:
        from noiseloss.demo.build import build

        build(out / "tiny-build", tiny=True, seed=args.seed, log=lambda line: None)
        roots = sorted((out / "tiny-build" / "checkpoints").glob("*/steps"))
        if not roots:
            sys.exit(f"the tiny build in {out / 'tiny-build'} kept no checkpoints")
        root = roots[-1]
    else:
        root = Path(args.checkpoints)
    folders = sorted(root.glob("step-*"))
    if len(folders) < 2:
        sys.exit(f"{root} holds {len(folders)} step-* checkpoint(s); 2 or more are needed")
    return folders


def model_level(args, out: Path) -> pd.DataFrame:
    """The injection grid on every checkpoint; one row per checkpoint x model metric."""
    from noiseloss.analysis.profile import MODEL_KEYS, model_metrics
    from noiseloss.analysis.run import analyze_results, read_results
    from noiseloss.config import parse_config
    from noiseloss.runner.run import run_experiment

    tiny = args.tiny
    onset, lengths = (50, [5, 10, 20, 40]) if tiny else (250, [5, 10, 50, 100, 150, 200])
    dataset = ({"path": str(out / "tiny-build" / "assets" / "data" / "ood")} if tiny
               else {"source": args.model_set})
    rows = []
    for folder in checkpoint_folders(args, out):
        record = json.loads((folder / "metrics.json").read_text())["training"]
        config = parse_config({
            "name": "checkpoint", "models": [{"name": "demo", "assets": str(folder)}],
            "datasets": {"set": dataset}, "excerpt": {"seconds": 4.0 if tiny else 15.0},
            "perturbations": [{"kind": "noise", "color": "white", "mode": "replace",
                               "onset_frames": onset, "level_db": -12.0, "level_ref": "signal",
                               "grid": {"length_frames": lengths}}],
            "report": {"audio_examples": 0}})
        run_dir = out / "models" / folder.name
        run_experiment(config, run_dir)
        results = read_results(run_dir)
        tables = analyze_results(results)
        metrics = model_metrics(tables["sequence"], tables["regions"], short_frames=10,
                                seed=args.seed, kl=results.set_index("key")["kl"])
        for _, m in metrics.iterrows():
            rows.append({"step": record["step"], "validation_loss": record["validation_loss"],
                         **{k: m[k] for k in (*MODEL_KEYS[1:2], "metric", "value", "ci_low",
                                              "ci_high", "n_clips")}})
    return pd.DataFrame(rows)


def print_model_level(table: pd.DataFrame) -> None:
    """Metric per checkpoint, then Spearman against step and validation loss."""
    from scipy import stats

    from noiseloss.analysis.profile import PROFILE_METRICS

    print("\nmodel level: metric per checkpoint [95 % bootstrap interval over clips]")
    steps = sorted(table["step"].unique())
    print("  step  val.loss  " + "  ".join(f"{m:>26}" for m in table["metric"].unique()))
    for step in steps:
        part = table[table["step"] == step]
        cells = [f"{r.value:+8.3f} [{r.ci_low:+.2f},{r.ci_high:+.2f}]" for r in
                 part.itertuples()]
        print(f"  {step:>4}  {part['validation_loss'].iloc[0]:8.4f}  " + "  ".join(
            f"{c:>26}" for c in cells))
    print("\n  metric                 rho(step)  rho(val.loss)  expected(step)  ordered")
    for metric, part in table.groupby("metric", sort=False):
        part = part.sort_values("step")
        # a better model (later step) moves the metric against its degraded direction
        expected = 1 if PROFILE_METRICS.get(metric).degraded == "lower" else -1
        rho_step = stats.spearmanr(part["step"], part["value"]).statistic
        rho_loss = stats.spearmanr(part["validation_loss"], part["value"]).statistic
        print(f"  {metric:<22} {rho_step:+9.3f}  {rho_loss:+13.3f}  {expected:+14d}  "
              f"{'yes' if np.isclose(rho_step, expected) else 'no'} ({len(part)} checkpoints)")


def main(argv=None) -> int:
    """Command line: see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/profile-validation"))
    parser.add_argument("--sets", nargs="+", default=["demo:ood", "demo:generated"],
                        help="Clean clips of the clip-level part (built-in sets).")
    parser.add_argument("--checkpoints", default=None,
                        help="Folder of step-* checkpoints (noiseloss demo-model build keeps "
                             "them in WORK/checkpoints/*/steps).")
    parser.add_argument("--model-set", default="demo:ood",
                        help="Data set of the model-level injections.")
    parser.add_argument("--tiny", action="store_true", help="CI-sized: tiny recipe, 4 s clips.")
    parser.add_argument("--probes", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--clips", type=int, default=None,
                        help="Clean clips per set (default: all; --tiny: 3).")
    parser.add_argument("--skip-clips", action="store_true")
    args = parser.parse_args(argv)
    pd.set_option("display.width", 200)
    if not args.skip_clips:
        table = clip_level(args.out, args.sets, seed=args.seed, probes=args.probes,
                           tiny=args.tiny, resamples=args.resamples,
                           per_set=args.clips or (3 if args.tiny else None))
        table.to_csv(args.out / "clip_auroc.csv", index=False)
        wide = table.assign(cell=[f"{a:.2f} [{lo:.2f},{hi:.2f}]" for a, lo, hi in
                                  zip(table["auroc"], table["ci_low"], table["ci_high"],
                                      strict=True)])
        print("clip level: AUROC degraded vs clean (declared direction) [95 % bootstrap]")
        print(wide.pivot(index="metric", columns="degradation", values="cell").to_string())
    if args.checkpoints or args.tiny:
        table = model_level(args, args.out)
        table.to_csv(args.out / "model_metrics.csv", index=False)
        print_model_level(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
