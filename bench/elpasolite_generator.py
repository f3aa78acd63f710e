"""Train one elpasolite generator with chosen settings and score it, outside the workflow.

For trying settings (the paper's, or a candidate default) without touching
results/elpasolite/models. Needs `snakemake elpasolite_space` to have run.

    .venv/bin/python bench/elpasolite_generator.py wgan '{"updates": 200000, "lr": 1e-5}'
    .venv/bin/python bench/elpasolite_generator.py dqn '{"target_class": 1, "hidden": 512, "layers": 5}'
    .venv/bin/python bench/elpasolite_generator.py wgan --model-file results/elpasolite/models/all/wgan_seed1.pt \
        --targets 5 --n-samples 25000000      # time and score a trained model's sampling
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path

import torch

from compgen.config import defaults
from compgen.elpasolite.generators import GENERATORS, load_generator
from compgen.elpasolite.metrics import generation_metrics
from compgen.elpasolite.space import count_valid
from compgen.elpasolite.study import read_class_table, training_rows
from compgen.elpasolite.training import generator_draw
from compgen.io import read_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", choices=sorted(GENERATORS))
    parser.add_argument("settings", nargs="?", default="{}", help="JSON of settings that differ from the config schema's defaults")
    parser.add_argument("--results", type=Path, default=Path("results"))
    parser.add_argument("--n-samples", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model-file", type=Path, help="score this trained model file instead of training one")
    parser.add_argument("--targets", type=int, nargs="+", help="classes to sample (default 1 and 5; an agent's own class)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)

    kind = GENERATORS[args.model]
    job = {"seed": 0, **({"target_class": 1} if args.model == "dqn" else {})}
    settings = kind.settings(**{**defaults(f"elpasolite.{args.model}"), **job, **json.loads(args.settings)})
    indices, classes = training_rows(read_table(args.results / "datasets" / "elpasolite_dft.parquet"))
    space = read_table(args.results / "elpasolite" / "space.parquet")
    lookup = read_class_table(args.results / "elpasolite" / "class_table.npy")
    if args.model_file:
        network = load_generator(args.model_file)
        print(f"{args.model} from {args.model_file}")
    else:
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            kind.train(settings, indices, classes, Path(tmp) / "model.pt")
            seconds = time.perf_counter() - start
            network = load_generator(Path(tmp) / "model.pt")
        print(f"{args.model} {settings}\ntrained in {seconds:.1f} s ({1000 * seconds / settings.updates:.2f} ms per update)")
    own_class = getattr(network, "target_class", None)
    for target in args.targets or ([own_class] if own_class else [1, 5]):
        start = time.perf_counter()
        samples = count_valid(args.n_samples, generator_draw(network, target, settings.seed, 100_000), f"{args.model} for class {target}")
        seconds = time.perf_counter() - start
        metrics = generation_metrics(samples, lookup, space, target)
        scores = ", ".join(f"{k} {v:.3f}" for k, v in metrics.items())
        print(f"class {target}: {args.n_samples} valid samples in {seconds:.0f} s, invalid {samples.n_invalid}, {scores}")


if __name__ == "__main__":
    main()
