"""PPM speed, measured against the literal reference in the same run (not a test).

    python benchmarks/ppm_speed.py [--alphabet 60] [--train 50000] [--test 5000] [--order-bound 5]

Random-walk melodies (steps of -4..4 semitones, mostly small, over ``--alphabet`` pitches, 100
notes each) stand in for a corpus. Prints, from one run on this machine: symbols/s of ``fit``
on the ``--train`` symbols and of ``predict(update=True)`` on the ``--test`` symbols that
follow, for ``PPM`` and for ``_ReferencePPM`` (n-gram tuples, loops over orders and symbols),
their ratio and the largest difference between their distributions; then ``PPM`` alone with
IDyOM's short-term settings (escape AX, update exclusion) and unbounded (PPM*).
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np

from noiseloss.models.ppm import PPM, STM_DEFAULTS, _ReferencePPM

STEPS = np.arange(-4, 5)
STEP_P = np.array([0.03, 0.07, 0.15, 0.2, 0.1, 0.2, 0.15, 0.07, 0.03])


def melodies(rng: np.random.Generator, total: int, *, alphabet: int, length: int = 100) -> list:
    """``total`` symbols of random-walk melodies of ``length`` notes in ``[0, alphabet)``."""
    out = []
    for start in range(0, total, length):
        n = min(length, total - start)
        steps = rng.choice(STEPS, size=n, p=STEP_P)
        pitch = int(rng.integers(alphabet // 4, 3 * alphabet // 4))
        notes = np.empty(n, dtype=np.int64)
        for i, step in enumerate(steps):
            pitch = min(alphabet - 1, max(0, pitch + int(step)))
            notes[i] = pitch
        out.append(notes)
    return out


def run(model, train: list, test: list) -> tuple[float, float, list]:
    """``(fit symbols/s, predict symbols/s, distributions)`` of ``model`` on the corpus."""
    start = time.perf_counter()
    model.fit(train)
    fit_rate = sum(map(len, train)) / (time.perf_counter() - start)
    start = time.perf_counter()
    dists = [model.predict(piece, update=True) for piece in test]
    predict_rate = sum(map(len, test)) / (time.perf_counter() - start)
    return fit_rate, predict_rate, dists


def main() -> None:
    """Time PPM and the reference on one corpus; print the rates and their ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alphabet", type=int, default=60)
    parser.add_argument("--train", type=int, default=50_000, help="training symbols")
    parser.add_argument("--test", type=int, default=5_000, help="symbols predicted with update")
    parser.add_argument("--order-bound", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    train = melodies(rng, args.train, alphabet=args.alphabet)
    test = melodies(rng, args.test, alphabet=args.alphabet)
    print(f"{platform.processor() or platform.machine()}, Python {platform.python_version()}, "
          f"numpy {np.__version__}; alphabet {args.alphabet}, {args.train} training symbols, "
          f"{args.test} predicted with update, order bound {args.order_bound}, escape C")

    fast = run(PPM(args.alphabet, order_bound=args.order_bound), train, test)
    slow = run(_ReferencePPM(args.alphabet, order_bound=args.order_bound), train, test)
    diff = max(float(np.abs(a - b).max()) for a, b in zip(fast[2], slow[2], strict=True))
    print(f"  PPM           fit {fast[0]:>10,.0f} symbols/s   predict {fast[1]:>8,.0f} symbols/s")
    print(f"  reference     fit {slow[0]:>10,.0f} symbols/s   predict {slow[1]:>8,.0f} symbols/s")
    print(f"  ratio         fit {fast[0] / slow[0]:>10.1f}x           predict {fast[1] / slow[1]:>8.1f}x"
          f"   (max |difference| {diff:.1e})")
    for label, options in (("STM (AX, update exclusion)", dict(STM_DEFAULTS, order_bound=args.order_bound)),
                           ("PPM* (unbounded, escape C)", dict(order_bound=None))):
        fit_rate, predict_rate, _ = run(PPM(args.alphabet, **options), train, test)
        print(f"  {label}: fit {fit_rate:,.0f} symbols/s, predict {predict_rate:,.0f} symbols/s")


if __name__ == "__main__":
    main()
