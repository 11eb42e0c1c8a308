"""Write ``MODEL_CARD.md`` (and ``curves.png``) of the demo model from the build metrics."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


def write_card(folder: Path, metrics: dict, curve: Sequence[dict]) -> Path:
    """Write ``folder/MODEL_CARD.md`` from ``metrics`` (see ``build.build``) and the curve."""
    folder = Path(folder)
    _plot_curves(folder / "curves.png", curve)
    (folder / "MODEL_CARD.md").write_text(render_card(metrics, curve), encoding="utf-8")
    return folder / "MODEL_CARD.md"


def render_card(metrics: dict, curve: Sequence[dict]) -> str:
    """The model card as Markdown."""
    s, c, tok = metrics["settings"], metrics["corpus"], metrics["tokenizer"]
    tr, ev = metrics["training"], metrics["evaluation"]
    model, opt = s["model"], s["train"]
    lines = [
        "# noiseloss demo model (`--model demo`)",
        "",
        "A **demonstration** music language model that ships with noiseloss so that the scoring",
        "path, the perturbation experiments and the tests run offline on a CPU. It is *not*",
        "MusicGen, it is tiny and trained on a few hours of synthesised scores: its numbers say",
        "nothing about MusicGen or any published model.",
        "",
        f"Build mode: **{metrics['mode']}**, seed {metrics['seed']}, "
        f"{metrics['torch_threads']} torch threads, {metrics['platform']}. "
        f"Total build time {metrics['total_seconds']:.0f} s. Regenerate everything with "
        "`noiseloss demo-model build` (`--tiny` for a two-minute smoke test).",
        "",
        "## Data",
        "",
        "Public-domain scores of the `music21` corpus, exported to MIDI, every part set to one",
        "General MIDI program per piece, rendered with FluidSynth and the FluidR3_GM soundfont at",
        f"32 kHz mono, cut to {s['max_seconds']:.0f} s and normalised to -20 dBFS RMS.",
        "Selection and split are SHA-256 ranks of the corpus paths salted with the seed.",
        "",
        "| split | pieces | audio (min) | collections | instruments |",
        "|---|---|---|---|---|",
    ]
    for split in ("train", "validation", "ood"):
        lines.append(
            f"| {split} | {c['pieces_per_split'].get(split, 0)} | "
            f"{c['seconds_per_split'].get(split, 0) / 60:.1f} | "
            f"{', '.join(c['collections_per_split'].get(split, []))} | "
            f"{', '.join(c['instruments_per_split'].get(split, []))} |")
    lines += [
        "",
        "The `ood` split holds out whole composers (none of its collections is in train or",
        "validation) and one timbre (Vibraphone, used only there). Validation pieces are whole",
        "pieces of the held-in collections that training never saw.",
        "",
        "## Tokenizer (spectral residual VQ)",
        "",
        f"{tok['sample_rate']} Hz, hop {tok['hop_length']} ({tok['sample_rate'] / tok['hop_length']:g}"
        f" frames/s), Hann STFT of {tok['n_fft']} samples, {tok['n_mels']} Slaney mel bands "
        f"{tok['f_min_hz']:g}-{tok['f_max_hz']:g} Hz, natural log of power + {tok['floor_power']:g};",
        f"{tok['num_codebooks']} residual codebooks x {tok['codebook_size']} centroids fitted by",
        "k-means (`scipy.cluster.vq.kmeans2`, initialised at random training frames) on",
        f"{s['fit_frames']} training frames ({tok['fit_seconds']:.0f} s). "
        f"Special/BOS/pad id = {tok['codebook_size']}.",
        f"Tokenizer SHA-256: `{tok['sha256']}`.",
        "",
        f"Mean absolute log-mel distance (nats per mel bin) on {tok['logmel_distance_items']} "
        f"validation excerpts of {s['clip_seconds']:.0f} s: quantised features vs input "
        f"**{tok['logmel_l1_quantised']:.3f}**; `decode(encode(x))` (mel pseudo-inverse + "
        f"{s['griffin_lim_iterations']} fast Griffin-Lim iterations) re-analysed vs input "
        f"**{tok['logmel_l1_decoded']:.3f}**. The decoder is for listening only.",
        "",
        "## Model",
        "",
        f"`transformers.MusicgenForCausalLM`: hidden {model['hidden_size']}, "
        f"{model['num_hidden_layers']} layers, {model['num_attention_heads']} heads, FFN "
        f"{model['ffn_dim']}, 4 codebooks, vocabulary {s['codebook_size']}, "
        f"**{tr['parameters']:,} parameters**; MusicGen's delay pattern [0, 1, 2, 3] with a BOS "
        "step, scored by the same `MusicgenScorer` as MusicGen, unconditional. Long audio is "
        f"scored in windows of {s['window']['window_frames']} frames, stride "
        f"{s['window']['stride_frames']} (the training crop length).",
        "",
        "## Training",
        "",
        f"MusicGen's training loss (mean over codebooks of per-codebook mean NLL, delay pattern "
        f"on inputs and targets via `noiseloss.scoring.pattern`). {opt['steps']} steps of AdamW "
        f"(lr {opt['learning_rate']:g}, betas 0.9/0.95, weight decay {opt['weight_decay']:g}, "
        f"{opt['warmup_steps']} warm-up steps then cosine to 10 %, gradient clip "
        f"{opt['grad_clip']:g}), batches of {opt['batch_size']} random crops of "
        f"{opt['crop_frames']} frames, dropout 0.1. Training tokens: {tr['train_frames']:,} "
        f"frames x 4 codebooks from {tr['train_pieces_used']} pieces; frames seen "
        f"{tr['frames_seen']:,}. Wall time **{tr['wall_seconds'] / 60:.1f} min** on CPU.",
        "",
        "![training and validation curves](curves.png)",
        "",
        "| step | train loss | validation loss (first crop of each validation piece) | elapsed (s) |",
        "|---|---|---|---|",
    ]
    lines += [f"| {r['step']} | {r['train_loss']:.3f} | {r['validation_loss']:.3f} | "
              f"{r['elapsed_s']:.0f} |" for r in curve]
    lines += [
        "",
        "## Held-out NLL and baselines",
        "",
        "Mean NLL per token (nats, all codebooks and frames of the whole pieces). Baselines are",
        "fitted on the same training tokens, per codebook: unigram with add-one smoothing;",
        "first-order Markov (bigram) with add-one smoothing, and with a Dirichlet prior centred",
        "on the unigram, `p(b|a) = (n(a,b) + beta p(b)) / (n(a) + beta)`, where beta is picked",
        f"from {list(metrics.get('bigram_prior_grid', [])) or 'a grid'} **on the evaluated split**"
        " itself (an optimistic baseline). Untrained = the same architecture at its seeded",
        "initialisation.",
        "",
        "| split | tokens | model | untrained | unigram (add-one) | bigram (add-one) | "
        "bigram (Dirichlet, beta) |",
        "|---|---|---|---|---|---|---|",
    ]
    for split in ("validation", "ood"):
        r = ev[split]
        lines.append(
            f"| {split} | {r['tokens']:,} | **{r['model']:.3f}** | {r['untrained']:.3f} | "
            f"{r['unigram_add_one']:.3f} | {r['bigram_add_one']:.3f} | "
            f"{r['bigram_dirichlet']:.3f} ({r['bigram_dirichlet_prior_weight']:g}) |")
    per_book = ", ".join(f"{x:.3f}" for x in ev["validation"]["model_per_codebook"])
    lines += [
        "",
        f"Model NLL per codebook on validation (k = 0..3): {per_book}.",
        "",
        "Quality gate (validation split; margin = baseline minus model):",
        "",
        "| baseline | margin (nats) | required | passed |",
        "|---|---|---|---|",
    ]
    for name, gate in ev["gates"].items():
        label = {"bigram": "best bigram"}.get(name, name)
        lines.append(f"| {label} | {gate['margin_nats']:.3f} | {gate['required_nats']:g} | "
                     f"{'yes' if gate['passed'] else '**no**'} |")
    lines += [
        "",
        "## Demo data sets (`noiseloss.demo.data`)",
        "",
        f"Three sets of {s['clips_per_set']} excerpts of {s['clip_seconds']:.0f} s (32 kHz mono "
        "Ogg Vorbis), each with `manifest.json`: `train` (first seconds of training pieces),",
        "`ood` (held-out composers; about half with the held-out timbre), `generated`",
        "(unconditional samples of this model with top-k in {10, 50, 100, 250, 500} at",
        f"temperature 1, decoded by the tokenizer's Griffin-Lim decoder; with {s['codebook_size']}",
        "codes per codebook, top-k 500 is nearly plain sampling).",
        "",
        "## Licences and limitations",
        "",
        "Compositions are public domain; encodings come from the music21 corpus (BSD-3-Clause),",
        "the soundfont FluidR3_GM is MIT-licensed; weights, tokenizer and audio are produced by",
        "the recipe in this repository (MIT). Synthetic timbres, one program per piece, no",
        "dynamics beyond the score's MIDI velocities, a small model: use it to exercise the",
        "tools, not to draw conclusions about music models.",
        "",
    ]
    return "\n".join(lines)


def _plot_curves(path: Path, curve: Sequence[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3), dpi=100)
    steps = [r["step"] for r in curve]
    ax.plot(steps, [r["train_loss"] for r in curve], label="train (running mean)")
    ax.plot(steps, [r["validation_loss"] for r in curve], label="validation crops")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (nats per token)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
