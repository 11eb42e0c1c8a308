"""Scoring speed, measured against simple references in the same run (not a test).

    python benchmarks/scoring.py [--clips 1] [--batch 7] [--layers 24] [--device cpu|cuda]

Prints, from one run on this machine:
  (a) the paper grid (onset frame 250 of 750, six noise lengths + the clean clip) on a
      MusicGen-small-shaped random decoder: seconds with every sequence in full vs with the shared
      prefix, and the ratio of the shared run to the unique-work bound (positions it must compute,
      timed at the full run's rate); ``--batch 14`` and more pack the sequences of several
      clips into one forward pass, each clip's variants sharing their own prefix;
  (b) achieved GFLOP/s of the decoder against a same-process float32 matmul;
  (c) bfloat16 vs float32 (time and max |delta NLL|) where the CPU has native bf16, else why not;
  (d) encode time of an EnCodec-32 kHz-shaped random codec per 15 s of audio;
  (e) with --device cuda: MusicGen-large shape in bfloat16, 4 clips or more in batches of 4
      clips, tokens/s and model FLOPs utilisation;
  (f) ``--end-to-end`` runs only (f) and (g): ``noiseloss run`` of the paper grid (2 clips x 7
      sequences) with a random MusicGen-small-shaped model (24 layers, 1024 wide, the EnCodec
      32 kHz geometry) saved to a folder, against a naive script that loads the same model and,
      per sequence, encodes the whole signal and scores it in a batch of one; their ratio;
  (g) encode time per clip of those 7 sequences: each whole, and the clean excerpt once with
      its variants encoded from where they differ (``AudioTokenizer.tokenize_variants``);
  (h) symbolic models (``--symbolic`` runs only these): ``ppm`` notes/s on a 2000-note melody
      with a long-term model of 50,000 notes (the default model: three viewpoints and its
      linked ones; the median of three calls after a first, which pays for fresh memory; by
      the clock, and per second of this process's CPU time, which other jobs on the machine
      do not inflate), and ``amt`` notes/s with the music-small shape
      (a random 12-layer, 768-wide GPT-2 over the 55,028-id vocabulary) on 1000 events.
Nothing is downloaded: the models are random, built here.
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import time

import numpy as np
import torch


def matmul_gflops(device: str, dtype=torch.float32, n: int = 4096, repeats: int = 4) -> float:
    """GFLOP/s of an ``n x n`` matrix product in this process (the peak to compare with)."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    a @ b
    sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    sync(device)
    return 2 * n**3 * repeats / (time.perf_counter() - start) / 1e9


def sync(device: str) -> None:
    """Wait for queued GPU work (timings)."""
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def decoder(*, layers: int, hidden: int, heads: int, ffn: int, device: str, dtype):
    """A random MusicGen decoder of the given shape (4 x 2048 codes), eval mode."""
    from transformers import MusicgenDecoderConfig, MusicgenForCausalLM

    torch.manual_seed(0)
    cfg = MusicgenDecoderConfig(vocab_size=2048, hidden_size=hidden, num_hidden_layers=layers,
                                num_attention_heads=heads, ffn_dim=ffn, num_codebooks=4,
                                pad_token_id=2048, bos_token_id=2048, decoder_start_token_id=2048,
                                max_position_embeddings=2048)
    return MusicgenForCausalLM(cfg).to(device=device, dtype=dtype).eval()


class FixedTokenizer:
    """Codes given directly (the benchmark scores codes)."""

    name, sample_rate, hop_length, num_codebooks, codebook_size = "codes", 32000, 640, 4, 2048
    frame_rate, modality = 50.0, "audio"

    def describe(self):
        """Provenance of the stand-in."""
        return {"name": self.name}


def scorer_for(model, *, shared: bool, batch: int):
    """The noiseloss scorer of ``model``, with or without the shared prefix."""
    from noiseloss.models.musicgen import MusicgenScorer
    from noiseloss.scoring.options import ScoringOptions

    options = ScoringOptions(window_frames=1500, stride_frames=750, batch_size=batch,
                             alignment="delayed", shared_prefix=shared,
                             device=str(next(model.parameters()).device))
    return MusicgenScorer(model, FixedTokenizer(), name="bench", options=options)


def paper_grid(rng, clips: int) -> list[np.ndarray]:
    """Per clip: clean codes and six variants that differ from frame 250 on."""
    items = []
    for _ in range(clips):
        clean = rng.integers(0, 2048, size=(4, 750))
        items.append(clean)
        for length in (5, 10, 50, 100, 150, 200):
            noisy = clean.copy()
            noisy[:, 250:250 + length] = rng.integers(0, 2048, size=(4, length))
            items.append(noisy)
    return items


def timed(scorer, items, device):
    """``(seconds, positions computed, results)`` of scoring ``items``."""
    sync(device)
    start = time.perf_counter()
    before = scorer.positions_computed
    results = scorer.score_codes(items)
    sync(device)
    return time.perf_counter() - start, scorer.positions_computed - before, results


def symbolic_speed() -> None:
    """(h): notes per second of the ``ppm`` and ``amt`` scorers (random models, built here)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    from noiseloss.models.amt import ArrivalLayout
    from noiseloss.models.hub import CausalLMScorer
    from noiseloss.models.idyom import DEFAULT_LINKED, PpmScorer
    from noiseloss.scoring.options import ScoringOptions
    from noiseloss.timeaxis import TimeAxis
    from noiseloss.tokenizers.amt import AmtTokenizer, AmtVocab

    rng = np.random.default_rng(0)

    def melody(notes: int) -> np.ndarray:
        pitch = np.clip(60 + np.cumsum(rng.choice([-2, -1, 1, 2], size=notes)), 30, 100)
        return np.stack([pitch, rng.choice([12, 25, 50], size=notes),
                         rng.choice([10, 20, 45], size=notes)]).astype(np.int64)

    corpus = [melody(500) for _ in range(100)]
    options = ScoringOptions(window_frames=1_000_000, stride_frames=1_000_000, batch_size=1,
                             alignment="rows")
    ppm = PpmScorer.trained(corpus, linked=DEFAULT_LINKED, name="ppm", identity={},
                            options=options)

    def axis_of(ids: np.ndarray) -> TimeAxis:
        return TimeAxis.events(np.cumsum(ids[1]) / 100.0, end_seconds=float(ids[1].sum()) / 100 + 1)

    ids = melody(2000)
    axis = axis_of(ids)
    walls, cpus = [], []
    for _ in range(4):  # the first call pays for fresh memory and first uses; then steady
        start, cpu = time.perf_counter(), time.process_time()
        ppm.score_codes([ids], axes=[axis])
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    first_rate = ids.shape[1] / walls[0]
    ppm_rate = ids.shape[1] / float(np.median(walls[1:]))
    ppm_cpu_rate = ids.shape[1] / float(np.median(cpus[1:]))

    torch.manual_seed(0)
    vocab = AmtVocab()
    model = GPT2LMHeadModel(GPT2Config(vocab_size=vocab.vocab_size, n_positions=1024,
                                       n_embd=768, n_layer=12, n_head=12)).eval()
    events = 1000
    onsets = np.cumsum(rng.choice([0, 10, 25], size=events))
    codes = np.stack([onsets - onsets[0], vocab.dur_offset + rng.integers(5, 100, size=events),
                      vocab.note_offset + rng.integers(40, 90, size=events)]).astype(np.int64)
    amt = CausalLMScorer(model, AmtTokenizer(vocab), layouts={"arrival": ArrivalLayout(vocab)},
                         name="amt", identity={}, options=ScoringOptions(
                             window_frames=341, stride_frames=170, batch_size=4,
                             alignment="arrival"))
    start = time.perf_counter()
    amt.score_codes([codes], axes=[TimeAxis.events(onsets / 100.0, end_seconds=onsets[-1] / 100)])
    amt_rate = events / (time.perf_counter() - start)
    viewpoints = "3 viewpoints" + "".join(f" + {link}" for link in DEFAULT_LINKED)
    print(f"(h) symbolic: ppm {ppm_rate:.0f} notes/s, {ppm_cpu_rate:.0f} per CPU second (median "
          f"of 3 calls after a first at {first_rate:.0f}; {viewpoints}, LTM + STM each); amt "
          f"{amt_rate:.0f} notes/s (music-small shape, windows of 341 events, stride 170)")


def end_to_end(clips: int = 2) -> None:
    """(f) and (g): ``noiseloss run`` against a naive per-sequence script, and encode times."""
    import tempfile
    from pathlib import Path

    import soundfile as sf
    from transformers import (
        EncodecConfig,
        MusicgenConfig,
        MusicgenDecoderConfig,
        MusicgenForConditionalGeneration,
        T5Config,
    )

    from noiseloss import load_model
    from noiseloss.config import load_config, parse_config
    from noiseloss.perturb import perturb
    from noiseloss.runner.run import run_experiment
    torch.manual_seed(0)
    codec = EncodecConfig(sampling_rate=32000, upsampling_ratios=[8, 5, 4, 4],
                          target_bandwidths=[2.2], codebook_size=2048, num_filters=64,
                          hidden_size=128, use_causal_conv=False)
    dec = MusicgenDecoderConfig(vocab_size=2048, hidden_size=1024, num_hidden_layers=24,
                                num_attention_heads=16, ffn_dim=4096, num_codebooks=4,
                                pad_token_id=2048, bos_token_id=2048,
                                decoder_start_token_id=2048, max_position_embeddings=2048)
    text = T5Config(vocab_size=64, d_model=24, d_kv=8, d_ff=32, num_layers=2, num_heads=3)
    model = MusicgenForConditionalGeneration(MusicgenConfig(
        text_encoder=text.to_dict(), audio_encoder=codec.to_dict(), decoder=dec.to_dict()))
    rng = np.random.default_rng(0)
    t = np.arange(15 * 32000) / 32000
    with tempfile.TemporaryDirectory() as tmp:
        folder, clips_dir = Path(tmp) / "model", Path(tmp) / "clips"
        model.save_pretrained(str(folder))
        del model
        clips_dir.mkdir()
        for c in range(clips):
            tone = np.sin(2 * np.pi * (220 + 55 * c) * t) * (1 + 0.3 * np.sin(2 * np.pi * t))
            sf.write(clips_dir / f"clip{c}.wav", (0.2 * tone + 0.01 * rng.standard_normal(
                t.size)).astype(np.float32), 32000)
        grid = load_config("paper-noise").to_dict()
        raw = {**grid, "models": [str(folder)], "datasets": {"clips": {"path": str(clips_dir)}},
               "report": {"audio_examples": 0}}
        config = parse_config(raw)
        load_model(str(folder))  # the weights' hash is cached once per machine (not timed)

        start = time.perf_counter()
        run_experiment(config, Path(tmp) / "run")
        run_s = time.perf_counter() - start

        start = time.perf_counter()
        scorer = load_model(str(folder), shared_prefix=False, batch_size=1)
        specs = [None, *config.perturbation_specs()]
        audios = []
        for path in sorted(clips_dir.glob("*.wav")):
            clean = sf.read(path, dtype="float32")[0]
            variants = [clean if spec is None else perturb(
                clean, {**{k: v for k, v in spec.items() if k != "seed"}, "seed": 0,
                        "sample_rate": 32000, "hop_length": 640}).data for spec in specs]
            audios.append(variants)
            for audio in variants:
                scorer.score(audio, sample_rate=32000)
        naive_s = time.perf_counter() - start
        print(f"(f) paper grid end to end, {clips} clips x {len(specs)} sequences: noiseloss run "
              f"{run_s:.1f} s, naive per-sequence script {naive_s:.1f} s: ratio "
              f"{run_s / naive_s:.2f}")

        tokenizer = scorer.tokenizer
        start = time.perf_counter()
        for variants in audios:
            for audio in variants:
                tokenizer.encode(audio)
        whole_s = (time.perf_counter() - start) / clips
        start = time.perf_counter()
        for variants in audios:
            tokenizer.tokenize_variants(variants[1:], reference=tokenizer.reference(variants[0]))
        reuse_s = (time.perf_counter() - start) / clips
        print(f"(g) encode per clip ({len(specs)} sequences): whole {whole_s:.2f} s, prefix "
              f"reuse {reuse_s:.2f} s: ratio {reuse_s / whole_s:.2f}")


def flops_per_position(model) -> float:
    """2 x (parameters touched per position): embeddings and heads of 4 codebooks, the layers."""
    return 2.0 * sum(p.numel() for p in model.parameters())


def main() -> None:
    """Run (a) to (e) and print one line each."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=1)
    parser.add_argument("--batch", type=int, default=7, help="sequences per forward pass")
    parser.add_argument("--layers", type=int, default=24)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--symbolic", action="store_true", help="only (h): symbolic models")
    parser.add_argument("--end-to-end", action="store_true",
                        help="only (f) and (g): noiseloss run against a naive script")
    args = parser.parse_args()
    device = args.device
    if args.symbolic:
        symbolic_speed()
        return
    if args.end_to_end:
        end_to_end()
        return
    from noiseloss.scoring.options import NATIVE_BF16_FLAGS, cpu_flags

    flags = cpu_flags()
    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} "
          f"torch threads, torch {torch.__version__}, device {device}")
    rng = np.random.default_rng(0)

    # (a) naive vs shared prefix on the paper grid
    model = decoder(layers=args.layers, hidden=1024, heads=16, ffn=4096, device=device,
                    dtype=torch.float32)
    items = paper_grid(rng, args.clips)
    batch = args.batch
    naive_s, naive_pos, naive = timed(scorer_for(model, shared=False, batch=batch), items, device)
    shared_s, shared_pos, shared = timed(scorer_for(model, shared=True, batch=batch), items,
                                         device)
    bound_s = naive_s * shared_pos / naive_pos
    diff = max(float(np.nanmax(np.abs(a.nll - b.nll))) for a, b in zip(naive, shared, strict=True))
    print(f"(a) paper grid, {args.clips} clip(s) x 7 sequences x 750 frames in batches of "
          f"{batch}, "
          f"{sum(p.numel() for p in model.parameters()) / 1e6:.0f} M parameters: "
          f"full {naive_s:.1f} s ({naive_pos} positions), shared prefix {shared_s:.1f} s "
          f"({shared_pos} positions); speed-up {naive_s / shared_s:.2f}x "
          f"(unique-work bound {naive_pos / shared_pos:.2f}x); shared / bound = "
          f"{shared_s / bound_s:.2f}; max |delta NLL| {diff:.1e}")

    # (b) achieved throughput
    peak = matmul_gflops(device)
    achieved = flops_per_position(model) * naive_pos / naive_s / 1e9
    print(f"(b) decoder {achieved:.0f} GFLOP/s at batch {batch} vs float32 matmul peak {peak:.0f} "
          f"GFLOP/s: {100 * achieved / peak:.0f} %")

    # (c) bfloat16 on CPU where native
    if device == "cpu" and not set(NATIVE_BF16_FLAGS) & flags:
        print(f"(c) bfloat16: skipped, this CPU has no native bf16 (none of {NATIVE_BF16_FLAGS} "
              "in /proc/cpuinfo)")
    else:
        scorer = scorer_for(model.to(torch.bfloat16), shared=True, batch=batch)
        scorer.options = dataclasses.replace(scorer.options, dtype="bfloat16")
        bf_s, _, bf = timed(scorer, items, device)
        delta = [float(np.nanmean(np.abs(a.nll - b.nll))) for a, b in zip(shared, bf, strict=True)]
        print(f"(c) bfloat16 {bf_s:.1f} s vs float32 {shared_s:.1f} s: {shared_s / bf_s:.2f}x; "
              f"mean |delta NLL| {np.mean(delta):.3f}")
        model = model.float()

    # (d) EnCodec-32k-shaped encode
    from transformers import EncodecConfig, EncodecModel

    from noiseloss.tokenizers.encodec import EncodecTokenizer

    codec = EncodecModel(EncodecConfig(sampling_rate=32000, upsampling_ratios=[8, 5, 4, 4],
                                       target_bandwidths=[2.2], codebook_size=2048,
                                       num_filters=64, hidden_size=128,
                                       use_causal_conv=False)).eval()
    tok = EncodecTokenizer(codec)
    audio = (0.1 * rng.standard_normal(15 * 32000)).astype(np.float32)
    tok.encode(audio)
    start = time.perf_counter()
    tok.encode(audio)
    print(f"(d) EnCodec-32k-shaped encode: {time.perf_counter() - start:.2f} s per 15 s of audio")

    # (e) GPU: MusicGen-large shape in bf16
    if device.startswith("cuda"):
        large = decoder(layers=48, hidden=2048, heads=32, ffn=8192, device=device,
                        dtype=torch.bfloat16)
        scorer = scorer_for(large, shared=True, batch=28)
        scorer.options = dataclasses.replace(scorer.options, dtype="bfloat16")
        grid = paper_grid(rng, max(args.clips, 4))
        timed(scorer, grid[:7], device)  # warm-up
        seconds, positions, _ = timed(scorer, grid, device)
        tokens = 4 * positions
        mfu = flops_per_position(large) * positions / seconds / (
            matmul_gflops(device, torch.bfloat16, n=8192) * 1e9)
        print(f"(e) MusicGen-large shape, bf16: {tokens / seconds:.0f} tokens/s, model FLOPs "
              f"utilisation {100 * mfu:.0f} % of this GPU's bf16 matmul")
    else:
        print("(e) GPU: skipped (--device cuda)")


if __name__ == "__main__":
    main()
