"""Good Pd-Ni-H candidates of CrystalGAN's step 2 for variants of its settings, several seeds.

    .venv/bin/python bench/hydrides_ablation.py default '{}' margin '{"constraint": {"margin": 0.1}}' --seeds 100 101 102
    .venv/bin/python bench/hydrides_ablation.py plain '{}' --variant crystalgan --seeds 100 101 102

Each NAME JSON pair lays JSON over the schema's `hydrides` defaults (`--base` JSON over
those first). For every variant and seed it trains step 1 (kept and reused for equal
step-1 settings), step 2 of `--variant` (crystalgan_geo by default) and judges the 70
candidates exactly as `snakemake hydrides` does, with the substitution baseline's structures
for the beyond_substitution column. The seeds default to 100-102, apart from the study's
0-4, so that no setting is chosen on the runs the study reports. Two jobs at a time, one
thread each. Rows go to results/bench/hydrides_ablation.csv (one per variant x seed) and
a table of means and seed spreads is printed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd

from compgen.config import defaults, overlay
from compgen.datasets import build_hydrides

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "results" / "bench" / "hydrides_ablation"


def dataset() -> pd.DataFrame:
    mirror = Path(os.environ.get("COMPGEN_DATA_MIRROR") or ROOT.parent / "shared" / "data") / "hydrides"
    rows, _ = build_hydrides({f"{m}H_dataset.mat": mirror / f"{m}H_dataset.mat" for m in ("Pd", "Ni")})
    return rows.sort_values("identifier").reset_index(drop=True)


def step1_path(cfg: dict, seed: int) -> Path:
    """Where step 1 of these settings and seed is kept: variants that differ only after step 1 share it."""
    from compgen.registry import hydrides_job_config

    step1_cfg = hydrides_job_config(cfg, "step1")
    return OUT / "step1" / f"{hashlib.sha256(json.dumps(step1_cfg, sort_keys=True).encode()).hexdigest()[:12]}_seed{seed}.pt"


def train_step1(cfg: dict, seed: int) -> None:
    import torch

    from compgen.hydrides.study import domains, gan_settings
    from compgen.hydrides.train import train_cross_domain
    from compgen.registry import hydrides_job_config

    torch.set_num_threads(1)
    path = step1_path(cfg, seed)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        a, b, _ = domains(dataset(), cfg)
        train_cross_domain(gan_settings(hydrides_job_config(cfg, "step1"), 1, "none", seed), a, b, path)


def run_one(name: str, cfg: dict, variant: str, seed: int) -> dict:
    import torch

    from compgen.hydrides.data import structures
    from compgen.hydrides.evaluate import judge_run
    from compgen.hydrides.geometry import image_ranges
    from compgen.hydrides.study import candidates_of, domains, gan_settings, transferred
    from compgen.hydrides.substitution import substitution_candidates
    from compgen.hydrides.train import train_cross_domain
    from compgen.registry import HYDRIDES_STEP2

    torch.set_num_threads(1)
    data = dataset()
    a, b, metals = domains(data, cfg)
    began = time.perf_counter()
    x, y = transferred(a, b, cfg, step1_path(cfg, seed))
    model = OUT / name / f"{variant}_seed{seed}.pt"
    model.parent.mkdir(parents=True, exist_ok=True)
    if variant == "step1_transfer":
        epoch = 0
    else:
        ranges = image_ranges(torch.cat([a.lattice, b.lattice]))
        train_cross_domain(gan_settings(cfg, 2, HYDRIDES_STEP2[variant], seed), x, y, model, ranges=ranges)
        epoch = torch.load(model, weights_only=True)["epoch"]
    trained = time.perf_counter() - began
    crystals = candidates_of(variant, seed, x, y, {(variant, seed): model})
    baseline = structures(substitution_candidates(a, b, cfg["substitution"]["ordering"]), metals)
    training = structures(a, metals) + structures(b, metals)
    table, _ = judge_run(crystals, metals, training, cfg["d1"], cfg["d2"], baseline)
    counts = {c: int(table[c].sum()) for c in ("ternary", "valid", "in_range", "good")}
    counts |= {c: int((table["good"] & table[c]).sum()) for c in ("prototype_novel", "beyond_substitution")}
    # every setting the run read, so a row stays readable when the schema's defaults change
    resolved = {k: cfg[k] for k in ("transfer", "lambdas", "constraint", "d1", "d2", "network", "training")}
    return {"name": name, "variant": variant, "seed": seed, "kept_epoch": epoch, "train_s": round(trained, 1), **counts, "resolved": json.dumps(resolved)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pairs", nargs="+", help="NAME JSON NAME JSON ...")
    parser.add_argument("--seeds", type=int, nargs="+", default=[100, 101, 102])
    parser.add_argument("--variant", default="crystalgan_geo")
    parser.add_argument("--base", default="{}", help="JSON laid over the defaults before each variant's")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    if len(args.pairs) % 2:
        parser.error("give NAME JSON pairs")
    base = overlay(defaults("hydrides"), json.loads(args.base))
    variants = list(zip(args.pairs[::2], args.pairs[1::2], strict=True))
    jobs = [(name, overlay(base, json.loads(text)), args.variant, seed) for name, text in variants for seed in args.seeds]
    # each step 1 once, before the variants that share it: no two jobs train the same file
    step1 = {str(step1_path(cfg, seed)): (cfg, seed) for _, cfg, _, seed in jobs}
    with ProcessPoolExecutor(args.jobs) as pool:
        list(pool.map(train_step1, *zip(*step1.values(), strict=True)))
        rows = list(pool.map(run_one, *zip(*jobs, strict=True)))
    table = pd.DataFrame(rows)
    table["settings"] = [json.dumps(json.loads(text)) for text in args.pairs[1::2] for _ in args.seeds]
    table["base"] = args.base
    csv = ROOT / "results" / "bench" / "hydrides_ablation.csv"
    csv.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(csv, mode="a", header=not csv.exists(), index=False)
    columns = ["valid", "in_range", "good", "prototype_novel", "beyond_substitution", "kept_epoch"]
    summary = table.groupby(["name", "variant"], sort=False)[columns].agg(["mean", "min", "max"]).round(1)
    print(summary.to_string())


if __name__ == "__main__":
    main()
