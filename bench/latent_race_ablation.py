"""The search race's space and strategies: evaluations to the pool's top 1% and seconds per proposal, on seeds the study never runs.

    .venv/bin/python bench/latent_race_ablation.py --projections 4 8 16 none --strategies gp rf tpe --seeds 100 120

Reads the study's perovskite latents (results/latent/perovskite_latents.parquet, from
`snakemake latent`) and runs, for every projection (principal components searched;
`none`: all 88 numbers), target and strategy, the runs of seeds [first, last) as the
study runs them (paired openings, the config's strategy settings). The seeds default to
100-119, apart from the study's 0-49, so no setting is chosen on the runs the study
reports. One process, one thread. Per-run rows go to results/bench/latent_race_ablation_runs.csv;
results/bench/latent_race_ablation.csv (also printed) gets, per setting, the censored mean
evaluations to the top set, the runs reaching it, the exact p against chance and the
seconds per proposal.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd

from compgen.config import defaults
from compgen.io import read_table
from compgen.latent.evaluate import chance_restricted_mean, p_fewer_than_chance, race_runs, top_set
from compgen.latent.search import race
from compgen.latent.study import search_pool, search_settings, search_target

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projections", nargs="+", default=["4", "8", "16", "none"])
    parser.add_argument("--strategies", nargs="+", default=["gp", "rf", "tpe"])
    parser.add_argument("--targets", nargs="+", default=["lowest_heat"])
    parser.add_argument("--seeds", type=int, nargs=2, default=[100, 120], metavar=("FIRST", "LAST"))
    parser.add_argument("--evaluations", type=int, default=100)
    args = parser.parse_args()
    cfg = defaults("latent")
    perovskites = read_table(ROOT / "results" / "latent" / "perovskite_latents.parquet")
    rows, frames = [], []
    for projection in args.projections:
        dims = None if projection == "none" else int(projection)
        for target_name in args.targets:
            target = search_target(cfg, target_name)
            points, values = search_pool(perovskites, target, dims)
            for strategy in args.strategies:
                began = time.perf_counter()
                runs = [race(points, values, strategy, args.evaluations, seed, search_settings(cfg), f"{strategy} seed {seed}").assign(seed=seed)
                        for seed in range(*args.seeds)]  # fmt: skip
                seconds = time.perf_counter() - began
                table = pd.concat(runs, ignore_index=True).assign(target=target_name, strategy=strategy)
                per_run = race_runs(table, {target_name: values}, cfg["search"]["top_fraction"], cfg["search"]["top_n"])
                _, top = top_set(values, cfg["search"]["top_fraction"])
                censored = per_run["evaluations_to_top"].to_numpy()
                frames.append(per_run.assign(projection=projection))
                rows.append({"projection": projection, "target": target_name, "strategy": strategy, "runs": len(per_run),
                             "evaluations_to_top_mean": censored.mean(), "chance": chance_restricted_mean(len(values), top, args.evaluations),
                             "reached": int((~per_run["censored"]).sum()), "p_vs_chance": p_fewer_than_chance(censored, len(values), top, args.evaluations),
                             "best_rank_median": per_run["best_rank"].median(), "seconds_per_proposal": seconds / (len(per_run) * args.evaluations),
                             "settings": json.dumps({k: cfg["search"][k] for k in ("initial_points", "tpe_candidates", "forest_trees")})})  # fmt: skip
    out = ROOT / "results" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    for name, table in (("latent_race_ablation_runs.csv", pd.concat(frames, ignore_index=True)), ("latent_race_ablation.csv", pd.DataFrame(rows))):
        table.to_csv(out / name, mode="a", header=not (out / name).exists(), index=False)
    print(pd.DataFrame(rows).drop(columns="settings").round(4).to_string(index=False))


if __name__ == "__main__":
    main()
