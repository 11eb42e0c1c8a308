"""``noiseloss demo-model``: rebuild the built-in demo model, tokenizer and data sets."""

from __future__ import annotations

from pathlib import Path

import click

from noiseloss.cli.progress import console


@click.group(name="demo-model")
def demo_model():
    """The built-in demo models: `demo` (audio) and `demo-midi` (symbolic).

    `demo`: MusicGen decoder architecture on spectral RVQ tokens; `demo-midi`: the Anticipatory
    Music Transformer's GPT-2 on arrival-time events.
    """


@demo_model.command()
@click.option("--symbolic", is_flag=True,
              help="Build `demo-midi` (music21 corpus -> GPT-2 on arrival-time events) instead of "
                   "the audio `demo`.")
@click.option("--tiny", is_flag=True,
              help="Smoke test (< 2 min): tiny corpus and model.")
@click.option("--work", "work_dir", type=click.Path(path_type=Path), default=None,
              help="Scratch folder (rendered or exported corpus is reused across runs; default: "
                   "build/demo, or build/demo-midi with --symbolic).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seeds selection, tokenizer, initialisation, training and sampling.")
@click.option("--assets", "assets_dir", type=click.Path(path_type=Path), default=None,
              help="Where to write the assets (default: WORK/assets). The shipped models are "
                   "src/noiseloss/demo/assets and src/noiseloss/demo/assets/midi of a checkout.")
@click.option("--steps", "train_steps", type=int, default=None,
              help="Override the number of training steps (default: 1700 full, 12 tiny; "
                   "--symbolic: 3200 full, 6 tiny).")
@click.option("--checkpoint-every", type=int, default=None,
              help="Keep the weights every N steps in WORK/checkpoints/*/steps/ (a multiple of "
                   "the evaluation interval; default: 250 full, 3 tiny; audio demo only).")
def build(symbolic, tiny, work_dir, seed, assets_dir, train_steps, checkpoint_every):
    """Regenerate corpus, tokenizer, weights, data sets and MODEL_CARD.md end to end.

    Examples: noiseloss demo-model build --tiny --work build/demo-tiny;
    noiseloss demo-model build --symbolic
    """
    if symbolic:
        if checkpoint_every is not None:
            raise click.UsageError("--checkpoint-every applies to the audio demo only")
        from noiseloss.demo.symbolic import build as run_symbolic

        metrics = run_symbolic(work_dir or Path("build/demo-midi"), tiny=tiny, seed=seed,
                               assets_dir=assets_dir, train_steps=train_steps,
                               log=lambda line: console.print(line, markup=False,
                                                              highlight=False))
        ev = metrics["evaluation"]
        repeat = ev["repeat"]
        console.print(
            f"validation NLL {ev['validation']['model']['mean']:.3f} nats/token, "
            f"{ev['validation']['margin_nats']:+.3f} against the best n-gram; repeat test "
            f"{'pass' if repeat['passed'] else 'FAIL'} (ratio {repeat['ratio_mean']:.3f}, at "
            f"most {repeat['runs'][0]['required_ratio']:g})", markup=False)
        return
    work_dir = work_dir or Path("build/demo")
    from noiseloss.demo.build import build as run_build

    metrics = run_build(work_dir, tiny=tiny, seed=seed, assets_dir=assets_dir,
                        train_steps=train_steps, checkpoint_every=checkpoint_every,
                        log=lambda line: console.print(line, markup=False, highlight=False))
    gates = metrics["evaluation"]["gates"]
    summary = ", ".join(f"{name} {'pass' if g['passed'] else 'FAIL'} ({g['margin_nats']:+.3f})"
                        for name, g in gates.items())
    console.print(f"quality gates on validation: {summary}", markup=False)
