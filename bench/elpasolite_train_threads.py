"""Two elpasolite jobs on a 2-core machine: one after the other on 2 threads each, or side by side on 1.

The default study trains 21 small networks and samples 25 million class-5
compositions per generator and seed; whether those jobs should declare one
thread (two jobs at once on two cores) or two (one job at a time) is this
measurement. Each side runs two seeds of the same generator in fresh processes
(start-up included, as in the workflow): training for `--updates` updates, or
with `--samples N` sampling N valid class-5 compositions from the workflow's
trained models (`results/elpasolite/models/all`). Sides are interleaved over
`--rounds` rounds and the medians printed. Needs
`results/datasets/elpasolite_dft.parquet`.

    .venv/bin/python bench/elpasolite_train_threads.py --updates 3000 --rounds 3
    .venv/bin/python bench/elpasolite_train_threads.py --samples 5000000 --kinds cvae wgan dqn_class5 --rounds 2
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def worker(kind: str, threads: int, updates: int, seed: int, results: Path, samples: int) -> None:
    from compgen.config import defaults
    from compgen.elpasolite.generators import GENERATORS, load_generator
    from compgen.elpasolite.space import count_valid
    from compgen.elpasolite.study import training_rows
    from compgen.elpasolite.training import generator_draw
    from compgen.io import read_table
    from compgen.training import use_threads

    use_threads(threads)
    if samples:
        network = load_generator(results / "elpasolite" / "models" / "all" / f"{kind}_seed{seed}.pt")
        count_valid(samples, generator_draw(network, 5, seed, 100_000), kind)
        return
    job = {"seed": seed, "updates": updates, **({"target_class": 5} if kind == "dqn" else {})}
    settings = GENERATORS[kind].settings(**{**defaults(f"elpasolite.{kind}"), **job})
    indices, classes = training_rows(read_table(results / "datasets" / "elpasolite_dft.parquet"))
    with tempfile.TemporaryDirectory() as tmp:
        GENERATORS[kind].train(settings, indices, classes, Path(tmp) / "model.pt")


def two_jobs(kind: str, threads: int, updates: int, results: Path, together: bool, samples: int) -> float:
    """Wall seconds of seeds 0 and 1 in two processes, at once or one after the other."""
    options = ["--samples", str(samples), "--results", str(results)]
    commands = [[sys.executable, __file__, "--worker", kind, str(threads), str(updates), str(seed), *options] for seed in (0, 1)]
    start = time.perf_counter()
    if together:
        for process in [subprocess.Popen(command) for command in commands]:
            if process.wait():
                raise RuntimeError(f"worker failed: {process.args}")
    else:
        for command in commands:
            subprocess.run(command, check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--kinds", nargs="+", default=["cvae", "wgan", "dqn"])
    parser.add_argument("--results", type=Path, default=Path("results"))
    parser.add_argument("--samples", type=int, default=0, help="time sampling this many class-5 compositions instead of training")
    parser.add_argument("--worker", nargs=4, metavar=("KIND", "THREADS", "UPDATES", "SEED"))
    args = parser.parse_args()
    if args.worker:
        kind, threads, updates, seed = args.worker
        worker(kind, int(threads), int(updates), int(seed), args.results, args.samples)
        return
    sides = {"one after the other, 2 threads": (2, False), "side by side, 1 thread each": (1, True)}
    seconds = {(kind, side): [] for kind in args.kinds for side in sides}
    for _ in range(args.rounds):
        for kind in args.kinds:
            for side, (threads, together) in sides.items():
                seconds[kind, side].append(two_jobs(kind, threads, args.updates, args.results, together, args.samples))
    work = f"{args.samples} class-5 samples" if args.samples else f"{args.updates} updates"
    print(f"two jobs of {work} each, wall seconds, median of {args.rounds} interleaved rounds")
    print("| generator | " + " | ".join(sides) + " | speed-up |\n|---|---|---|---|")
    for kind in args.kinds:
        alone, together = (statistics.median(seconds[kind, side]) for side in sides)
        print(f"| {kind} | {alone:.1f} | {together:.1f} | {alone / together:.2f}x |")


if __name__ == "__main__":
    main()
