"""Models x training steps per second of the atmo Augmented CycleGAN: M models as one stack against M one at a time.

    .venv/bin/python bench/atmo_stack.py [--threads 2] [--steps 10] [--rounds 3] [--device cpu|cuda]
        [--default-models 1 3 9 18] [--paper-models 1 3]

Builds the default pair's pools from the mirror (COMPGEN_DATA_MIRROR or ../shared/data);
model k trains on fold k mod 3, as the workflow's stacks do. Sizes: the laptop default
network and the paper's (20 blocks, width 2 x 66). Each round times every size both ways,
one after the other, so both sides of a speed-up share the machine's load of that moment.
Prints the median over rounds and writes every round to results/bench/atmo_stack.csv.

`measure(candidates, ...)` takes further candidates (a name and a function that makes one
`steps`-step closure), which is how an outside trainer is timed in the same run.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import torch

from compgen.atmo.data import build_pools
from compgen.atmo.train import StackTrainer, TrainSettings
from compgen.config import defaults, paper_settings
from compgen.datasets import build_atmo

ROOT = Path(__file__).resolve().parents[1]


@dataclasses.dataclass
class Candidate:
    network: str  # 'default' or 'paper'
    models: int
    way: str  # 'stacked', 'one at a time', or an outside trainer's name
    make: Callable[[], Callable[[], None]]  # builds the models; returns one round's work (`steps` steps of every model)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def stack_candidates(network: str, base: TrainSettings, pools, counts: list[int], steps: int, device) -> list[Candidate]:
    folds = [pools.fold(k) for k in range(3)]
    a = pools.vectors[folds[0]["train_a"]]

    def settings(m: int) -> list[TrainSettings]:
        return [dataclasses.replace(base, seed=1000 * (k // 3) + k % 3) for k in range(m)]

    def pool_b(k: int):
        return pools.vectors[folds[k % 3]["train_b"]]

    def stacked(m: int):
        def make():
            trainer = StackTrainer(settings(m), a, [pool_b(k) for k in range(m)], device)
            trainer.step(0)  # warm-up: first-call allocations

            def work():
                for i in range(steps):
                    trainer.step(i)

            return work

        return make

    def one_at_a_time(m: int):
        def make():
            trainers = [StackTrainer([s], a, [pool_b(k)], device) for k, s in enumerate(settings(m))]
            for trainer in trainers:
                trainer.step(0)

            def work():
                for trainer in trainers:
                    for i in range(steps):
                        trainer.step(i)

            return work

        return make

    out = []
    for m in counts:
        out.append(Candidate(network, m, "one at a time", one_at_a_time(m)))
        if m > 1:  # a stack of one is the model trained alone (StackTrainer's own path)
            out.append(Candidate(network, m, "stacked", stacked(m)))
    return out


def measure(candidates: list[Candidate], rounds: int, steps: int, device: torch.device) -> pd.DataFrame:
    """Every candidate once per round, in order; rows of model-steps per second."""
    works = [candidate.make() for candidate in candidates]
    rows = []
    for r in range(rounds):
        for candidate, work in zip(candidates, works, strict=True):
            sync(device)
            began = time.perf_counter()
            work()
            sync(device)
            seconds = time.perf_counter() - began
            rows.append(
                {"round": r, "network": candidate.network, "models": candidate.models, "way": candidate.way,
                 "seconds": seconds, "model_steps_per_s": candidate.models * steps / seconds}
            )  # fmt: skip
            print(f"round {r}: {candidate.network} x{candidate.models} {candidate.way}: {candidate.models * steps / seconds:.2f} model-steps/s", flush=True)
    return pd.DataFrame(rows)


def summary(table: pd.DataFrame) -> pd.DataFrame:
    """Median model-steps/s per network, model count and way; the speed-up of a stack over one at a time."""
    medians = table.groupby(["network", "models", "way"], sort=False)["model_steps_per_s"].agg(["median", "min", "max"]).reset_index()
    alone = medians[medians["way"] == "one at a time"].set_index(["network", "models"])["median"]
    medians["speedup_over_one_at_a_time"] = [row["median"] / alone.get((row["network"], row["models"]), float("nan")) for _, row in medians.iterrows()]
    return medians


def default_pools():
    mirror = Path(os.environ.get("COMPGEN_DATA_MIRROR") or ROOT.parent / "shared" / "data")
    atmo, _ = build_atmo({"atmo.csv": mirror / "atmo" / "atmo.csv"})
    return build_pools(atmo, "CNC", "NCCN", n_folds=3, seed=0)


def networks(n_elements: int) -> dict[str, TrainSettings]:
    atmo = defaults("atmo")
    job = {"augmented": True, "seed": 0, "log_every": atmo["log_every"], "checkpoint_every": atmo["checkpoint_every"]}
    laptop = {**atmo["model"], **job}
    return {"default": TrainSettings(**laptop), "paper": TrainSettings(**{**laptop, **paper_settings("atmo")["model"], "width": 2 * n_elements})}


def main(extra: Callable[[int, torch.device], list[Candidate]] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--default-models", type=int, nargs="*", default=[1, 3, 9, 18])
    parser.add_argument("--paper-models", type=int, nargs="*", default=[1, 3])
    parser.add_argument("--out", default=str(ROOT / "results" / "bench" / "atmo_stack.csv"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    pools = default_pools()
    nets = networks(len(pools.elements))
    candidates = stack_candidates("default", nets["default"], pools, args.default_models, args.steps, device)
    candidates += stack_candidates("paper", nets["paper"], pools, args.paper_models, args.steps, device)
    if extra is not None:
        candidates += extra(args.steps, device)
    table = measure(candidates, args.rounds, args.steps, device)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)
    print(f"{args.steps} steps per model per round, {args.rounds} rounds, {args.threads} threads, device {device}")
    print(summary(table).to_string(index=False, float_format=lambda v: f"{v:.3g}"))


if __name__ == "__main__":
    main()
