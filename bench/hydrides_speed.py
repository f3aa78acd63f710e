"""Speed of the hydrides study: training epochs per second and CHGNet relaxations per second.

    .venv/bin/python bench/hydrides_speed.py [--epochs 200] [--relaxations 10] [--threads 1]

Trains step 1 (no constraint) and step 2 (with the geometric constraint) of
CrystalGAN at the paper's size on the real Pd-H / Ni-H crystals (from the data
mirror), then relaxes the first training crystals with CHGNet. Prints a table
and writes results/bench/hydrides_speed.csv.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

from compgen.config import defaults
from compgen.datasets import build_hydrides, structure_from_columns
from compgen.hydrides.geometry import image_ranges
from compgen.hydrides.relax import Relaxer
from compgen.hydrides.study import domains, gan_settings
from compgen.hydrides.train import feature_transfer, load_translators, train_cross_domain
from compgen.io import write_csv

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--relaxations", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    mirror = Path(os.environ.get("COMPGEN_DATA_MIRROR") or ROOT.parent / "shared" / "data") / "hydrides"
    dataset, _ = build_hydrides({f"{m}H_dataset.mat": mirror / f"{m}H_dataset.mat" for m in ("Pd", "Ni")})
    cfg = defaults("hydrides")
    cfg["training"]["epochs"] = args.epochs
    cfg["log_every"] = cfg["checkpoint_every"] = args.epochs
    a, b, _ = domains(dataset, cfg)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        began = time.perf_counter()
        train_cross_domain(gan_settings(cfg, 1, "none", 0), a, b, Path(tmp) / "step1.pt")
        rows.append({"what": "step 1 epochs", "count": args.epochs, "seconds": time.perf_counter() - began})
        x, y = feature_transfer(*load_translators(Path(tmp) / "step1.pt")[:2], a, b, cfg["transfer"])
        began = time.perf_counter()
        ranges = image_ranges(torch.cat([a.lattice, b.lattice]))  # as step2_job: the real cells' image range
        train_cross_domain(gan_settings(cfg, 2, "intended", 0), x, y, Path(tmp) / "step2.pt", ranges=ranges)
        rows.append({"what": "step 2 epochs (constraint)", "count": args.epochs, "seconds": time.perf_counter() - began})
    relaxer = Relaxer(cfg["relax"]["model"], cfg["relax"]["fmax"], cfg["relax"]["steps"], cfg["relax"]["max_seconds"])
    named = {row["identifier"]: structure_from_columns(row) for _, row in dataset.head(args.relaxations).iterrows()}
    began = time.perf_counter()
    relaxed = relaxer.relax_all(named, "bench")
    rows.append({"what": "CHGNet relaxations", "count": len(named), "seconds": time.perf_counter() - began, "mean_steps": relaxed["n_steps"].mean()})
    table = pd.DataFrame(rows)
    table["per_second"] = table["count"] / table["seconds"]
    table["threads"] = args.threads
    write_csv(table, ROOT / "results" / "bench" / "hydrides_speed.csv")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3g}"))


if __name__ == "__main__":
    main()
