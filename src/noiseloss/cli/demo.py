"""``noiseloss demo-model``: rebuild the built-in demo model, tokenizer and data sets."""

from __future__ import annotations

from pathlib import Path

import click

from noiseloss.cli.progress import console


@click.group(name="demo-model")
def demo_model():
    """The built-in demo model (MusicGen decoder architecture on spectral RVQ tokens)."""


@demo_model.command()
@click.option("--tiny", is_flag=True,
              help="Smoke test (< 2 min): tiny corpus and model, assets in WORK/assets only.")
@click.option("--work", "work_dir", type=click.Path(path_type=Path), default=Path("build/demo"),
              show_default=True, help="Scratch folder (rendered corpus is reused across runs).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seeds selection, tokenizer, initialisation, training and sampling.")
@click.option("--assets", "assets_dir", type=click.Path(path_type=Path), default=None,
              help="Write the assets here instead (default: package assets; WORK/assets if --tiny).")
@click.option("--steps", "train_steps", type=int, default=None,
              help="Override the number of training steps (default: 1700 full, 12 tiny).")
@click.option("--checkpoint-every", type=int, default=None,
              help="Keep the weights every N steps in WORK/checkpoints/*/steps/ (a multiple of "
                   "the evaluation interval; default: 250 full, 3 tiny).")
def build(tiny, work_dir, seed, assets_dir, train_steps, checkpoint_every):
    """Regenerate corpus, tokenizer, weights, data sets and MODEL_CARD.md end to end.

    Example: noiseloss demo-model build --tiny --work build/demo-tiny
    """
    from noiseloss.demo.build import build as run_build

    metrics = run_build(work_dir, tiny=tiny, seed=seed, assets_dir=assets_dir,
                        train_steps=train_steps, checkpoint_every=checkpoint_every,
                        log=lambda line: console.print(line, markup=False, highlight=False))
    gates = metrics["evaluation"]["gates"]
    summary = ", ".join(f"{name} {'pass' if g['passed'] else 'FAIL'} ({g['margin_nats']:+.3f})"
                        for name, g in gates.items())
    console.print(f"quality gates on validation: {summary}", markup=False)
