"""Write ``MODEL_CARD.md`` (and ``curves.png``) of ``demo-midi`` from the build metrics."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from noiseloss.demo.card import _plot_curves


def write_card(folder: Path, metrics: dict, curve: Sequence[dict]) -> Path:
    """Write ``folder/MODEL_CARD.md`` from ``metrics`` (``symbolic.build``) and the curve."""
    folder = Path(folder)
    _plot_curves(folder / "curves.png", curve)
    (folder / "MODEL_CARD.md").write_text(render_card(metrics, curve), encoding="utf-8")
    return folder / "MODEL_CARD.md"


def _nll(row: dict, *, bold: bool = False) -> str:
    mean = f"**{row['mean']:.3f}**" if bold else f"{row['mean']:.3f}"
    return f"{mean} ({row['time']:.3f} / {row['duration']:.3f} / {row['note']:.3f})"


def render_card(metrics: dict, curve: Sequence[dict]) -> str:
    """The model card as Markdown."""
    s, c, v = metrics["settings"], metrics["corpus"], metrics["vocabulary"]
    tr, ev = metrics["training"], metrics["evaluation"]
    model, opt = s["model"], s["train"]
    export = c["export"]
    speed = (f"{export['works']} works exported in {export['seconds']:.0f} s "
             f"({export['works_per_second']:g} works/s with {s['workers']} process(es))"
             if export["works_per_second"] else "exported in an earlier run")
    lines = [
        "# noiseloss symbolic demo model (`--model demo-midi`)",
        "",
        "A **demonstration** symbolic music language model that ships with noiseloss so that the",
        "symbolic scoring path, the score perturbations and their experiments run offline on a CPU.",
        "It has the architecture and tokenisation of the Anticipatory Music Transformer (a GPT-2",
        "over arrival-time events: time, duration, note), but it is *not* that model: it is small,",
        f"trained for {tr['wall_seconds'] / 60:.0f} min on CPU cores on folk tunes and chorales, "
        "and its numbers say nothing about the AMT or any published model.",
        "",
        f"Build mode: **{metrics['mode']}**, seed {metrics['seed']}, {metrics['torch_threads']} "
        f"torch threads, {metrics['cpus']} CPUs, {metrics['platform']}. Total build time "
        f"{metrics['total_seconds'] / 60:.1f} min (corpus step {metrics['corpus_seconds']:.0f} s "
        f"in this run). Regenerate everything with `noiseloss demo-model build --symbolic` "
        "(`--tiny` for a smoke test under a minute).",
        "",
        "## Data",
        "",
        "Works of the `music21` corpus: each ABC tune (by its number) or score file parsed by",
        "music21, exported to MIDI by music21 (repeats expanded; 120 quarter notes a minute where",
        "the score gives no tempo), read back as symbolic models read MIDI",
        "(`noiseloss.sources.midi.load_score`), every part on program 0 of one instrument (a piano",
        f"roll) and cut to its first {s['max_seconds']:.0f} s. Selection and split are SHA-256 "
        "ranks of the work ids salted with the seed. "
        f"Corpus step: {speed}; {c['failed']} works could not be exported and were skipped.",
        "",
        "| split | works | events | minutes | collections (works) |",
        "|---|---|---|---|---|",
    ]
    for split in ("train", "validation", "ood"):
        per = c["collections_per_split"].get(split, {})
        lines.append(
            f"| {split} | {c['pieces_per_split'].get(split, 0):,} | "
            f"{c['events_per_split'].get(split, 0):,} | "
            f"{c['minutes_per_split'].get(split, 0):.0f} | "
            f"{', '.join(f'{k} ({n})' for k, n in sorted(per.items()))} |")
    lines += [
        "",
        "Held-in collections (folk tunes in ABC and the Bach chorales) give `train` and",
        "`validation` (10 % of the chosen works of each collection, whole works training never",
        "saw; folk collections hold variants of one tune, so validation is not far from train).",
        "`ood` holds out whole composers: none of its collections is in train or validation.",
        "",
        "## Tokens",
        "",
        "Arrival-time events as the `amt` backend reads them (`noiseloss.tokenizers.amt`): per",
        "note, in order of onset, `time` (onset in 10 ms bins from the window's first event),",
        "`duration` (10 ms bins, capped), `note` (pitch; one instrument), a rest event every second",
        "of silence, and the `AUTOREGRESS` flag first. A compact vocabulary of the published",
        f"layout: {v['time_bins']:,} time ids ({v['time_bins'] / 100:.0f} s), "
        f"{v['dur_bins']:,} duration ids ({v['dur_bins'] / 100:.0f} s), "
        f"{v['instruments'] * v['pitches']} notes, REST = {v['vocab_size'] - 2}, AUTOREGRESS = "
        f"{v['autoregress']}: **{v['vocab_size']:,} ids**, declared in `model/config.json` as "
        "`noiseloss_amt` (read by `AmtVocab.from_config`). Drums are left out.",
        "",
        f"Limits that follow: a scored window ({model['window_events']} events by default) must "
        f"span less than {v['time_bins'] / 100:.0f} s, and the tokenizer takes pieces spanning "
        f"less than {v['vocab_size'] // 100} s: score excerpts (`excerpt.seconds` in a config).",
        "",
        "## Model",
        "",
        f"`transformers.GPT2LMHeadModel`: {model['n_layer']} layers, width {model['n_embd']}, "
        f"{model['n_head']} heads, {1 + 3 * model['window_events']} positions (the flag and "
        f"{model['window_events']} events), tied input/output embeddings, dropout "
        f"{opt['dropout']:g}: **{tr['parameters']:,} parameters**, stored in float16 (loaded as "
        "float32; every number in this card is of the stored weights). Scored by the `amt`",
        f"backend's scorer in windows of {ev['window_events']} events, stride "
        f"{ev['stride_events']}, each window's times counted from its first event.",
        "",
        "## Training",
        "",
        "Each example is a random crop of at most "
        f"{model['window_events']} consecutive events spanning less than "
        f"{v['time_bins'] / 100:.0f} s, presented exactly as `ArrivalLayout.inputs` presents a "
        "scored window (the flag, then the crop's tokens with times from its first event); the",
        "loss is the mean NLL per token, so a crop's loss is the mean of the NLL the scorer reports",
        "for that window. Pieces are drawn so that every event is seen about equally often; crops",
        f"of similar length share a batch of at most {opt['batch_tokens']:,} tokens"
        + (f"; each crop is transposed by a random shift of at most {opt['transpose']} semitones"
           if opt.get("transpose") else "") + ". "
        + (f"In {100 * opt['repeat']:.0f} % of the crops a passage (its first m events, m "
           "uniform from 8 to half the crop) is played twice in a row, the second time from "
           "where the crop's next event starts (`symbolic_train.repeat_crop`): music repeats, but "
           "an ABC tune's repeats are often not written out, and this is meant to teach the model "
           "to read its context. " if opt.get("repeat") else "")
        + ("The embeddings of time, duration and note ids (tied with the output layer) start as "
           "sinusoidal features of their value (`symbolic_train.value_embeddings`), the rest as "
           "GPT-2 initialises them. " if model.get("value_init") == "sinusoidal" else "")
        + f"{opt['steps']:,} steps of AdamW (lr {opt['learning_rate']:g}, betas 0.9/0.95, weight "
        f"decay {opt['weight_decay']:g}, {opt['warmup_steps']} warm-up steps then cosine to "
        f"10 %, gradient clip {opt['grad_clip']:g})"
        + (f", then a second phase from those weights: {s['copy']['steps']:,} steps at lr "
           f"{s['copy']['learning_rate']:g} ({s['copy']['warmup_steps']} warm-up steps, cosine "
           f"to 10 %) with a passage played twice in {100 * s['copy']['repeat']:.0f} % of the "
           "crops (rows marked 2 below)" if s.get("copy") else "")
        + f". Training tokens: {tr['train_tokens']:,} "
        f"from {tr['train_pieces']:,} works; tokens seen {tr['tokens_seen']:,} "
        f"({tr['tokens_seen'] / max(tr['train_tokens'], 1):.1f} passes). Wall time "
        f"**{tr['wall_seconds'] / 60:.1f} min** at {tr['tokens_per_second']:,} tokens/s; the "
        "step count was chosen from the speed measured on the build machine.",
        "",
        "![training and validation curves](curves.png)",
        "",
        f"| step | train loss | validation loss ({tr['validation_crops']} first windows) | "
        "repeat ratio (3 other melodies) | tokens seen | elapsed (s) |",
        "|---|---|---|---|---|---|",
    ]
    lines += [f"| {r['step']}{' (2)' if r.get('phase') == 2 else ''} | {r['train_loss']:.3f} | "
              f"{r['validation_loss']:.3f} | "
              + (f"{r['repeat_ratio']:.3f}" if r.get("repeat_ratio") is not None else "-")
              + f" | {r['tokens']:,} | {r['elapsed_s']:.0f} |" for r in curve]
    orders = s["ngram_orders"]
    lines += [
        "",
        "## Held-out NLL and n-gram baselines",
        "",
        f"Mean NLL per token (nats) over the first {ev['eval_seconds']:.0f} s of every validation",
        "and ood work, all tokens; in brackets per row: time / duration / note. The model is",
        "scored through `load_model(\"demo-midi\")`; the untrained model is the same architecture",
        "at its seeded initialisation. The n-gram baselines predict each row from the same row of",
        "the previous events (time as the onset interval), Dirichlet-smoothed and interpolated down",
        "to an add-one unigram (`noiseloss.demo.symbolic_eval`), fitted on the training works; their",
        f"prior weight is the best of {ev['ngram_prior_grid']} **on the evaluated split itself** "
        "(an optimistic baseline).",
        "",
        "| split | works | tokens | model | untrained | "
        + " | ".join(f"{o}-gram (beta)" for o in orders) + " | model gain over best n-gram |",
        "|---|---|---|---|---|" + "---|" * len(orders) + "---|",
    ]
    for split in ("validation", "ood"):
        r = ev[split]
        grams = " | ".join(f"{_nll(r[f'ngram{o}'])} ({r[f'ngram{o}']['prior_weight']:g})"
                           for o in orders)
        lines.append(f"| {split} | {r['pieces']:,} | {r['tokens']:,} | {_nll(r['model'], bold=True)} | "
                     f"{r['untrained']['mean']:.3f} | {grams} | {r['margin_nats']:+.3f} nats |")
    rep = ev["repeat"]
    lines += [
        "",
        "## Repeat test",
        "",
        "A seeded random-walk melody of 40 notes (steps of 1-4 semitones, eighths and quarters at",
        "120 quarters a minute) played twice in a row, scored in one window "
        "(`noiseloss.demo.symbolic_eval.repeat_test`). A model that reads its context predicts",
        f"the second occurrence far better; it passes at a ratio of at most "
        f"{rep['runs'][0]['required_ratio']:g}.",
        "",
        "| melody seed | first occurrence NLL | second occurrence NLL | ratio | passed |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {r['seed']} | {r['first_nll']:.3f} | {r['second_nll']:.3f} | "
              f"{r['ratio']:.3f} | {'yes' if r['passed'] else '**no**'} |" for r in rep["runs"]]
    lines += [
        "",
        f"Mean ratio {rep['ratio_mean']:.3f}, largest {rep['ratio_max']:.3f}: "
        f"**{'passed' if rep['passed'] else 'FAILED'}**.",
        "",
        "## Data sets (`demo-midi:train`, `demo-midi:ood`, `demo-midi:generated`)",
        "",
        f"Three sets of {s['clips_per_set']} MIDI files of {s['clip_seconds']:.0f} s, each with "
        "`manifest.json`: `train` (the first seconds of training works), `ood` (of held-out",
        "composers), `generated` (unconditional samples of this model, top-k "
        f"{', '.join(str(k) for k in sorted(set(s['top_k'])))} in turn at temperature 1, only",
        "the ids of the row due allowed and times never going back; events decoded to notes, rests",
        "dropped, notes at least 10 ms long).",
        "",
        "## Licences and limitations",
        "",
        "Compositions are public domain; encodings come from the music21 corpus (BSD-3-Clause);",
        "weights and generated files are produced by the recipe in this repository (MIT). One",
        "instrument, no dynamics, mostly monophonic folk tunes at a nominal tempo, a small model:",
        "use it to exercise the tools, not to draw conclusions about music models.",
        "",
    ]
    return "\n".join(lines)


__all__ = ["render_card", "write_card"]
