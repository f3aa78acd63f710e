"""Throughput of the elpasolite oracle and of sample evaluation on this machine.

    .venv/bin/python bench/elpasolite_throughput.py [--samples 1000000 10000000]

Needs results/elpasolite/space.parquet (snakemake elpasolite_space). Times
(1) fitting the oracle on the 21,112 DFT rows with A/B swaps and (2) scoring
all 1,974,024 compositions with it, then (3) validity + uniqueness + class
lookup + all metrics for N random samples, streamed into counts in batches of
100,000 as the sample job does. Writes results/bench/elpasolite_throughput.csv.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from compgen.elpasolite.metrics import generation_metrics, uniform_draw
from compgen.elpasolite.oracle import fit, predict_grid
from compgen.elpasolite.space import SPACE_SIZE, augmented_dft, count_valid
from compgen.elpasolite.study import read_class_table
from compgen.io import read_table

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, nargs="+", default=[1_000_000, 10_000_000])
    args = parser.parse_args()
    results = ROOT / "results"
    oracle = json.loads((results / "elpasolite" / "oracle.json").read_text())
    training = augmented_dft(read_table(results / "datasets" / "elpasolite_dft.parquet"))
    idx = training[list("ABCD")].to_numpy()

    rows = []
    began = time.perf_counter()
    alpha = fit(idx, training["e_form"].to_numpy(), oracle["sigma"], oracle["lambda"])
    rows.append({"task": f"fit oracle ({len(idx)} rows)", "items": len(idx), "seconds": time.perf_counter() - began})
    space = read_table(results / "elpasolite" / "space.parquet")
    began = time.perf_counter()
    grid = predict_grid(idx, alpha, oracle["sigma"])
    energies = grid[space["key"].to_numpy()]
    rows.append({"task": "score the whole space", "items": SPACE_SIZE, "seconds": time.perf_counter() - began})
    assert np.isfinite(energies).all()

    lookup = read_class_table(results / "elpasolite" / "class_table.npy")
    rng = np.random.default_rng(0)
    for n in args.samples:
        began = time.perf_counter()
        counts = count_valid(n, uniform_draw(rng, 100_000), "uniform draws")
        generation_metrics(counts, lookup, space, target=1)
        rows.append({"task": "evaluate random samples (class 1 metrics)", "items": n, "seconds": time.perf_counter() - began})
    table = pd.DataFrame(rows)
    table["items_per_second"] = table["items"] / table["seconds"]
    out = results / "bench" / "elpasolite_throughput.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))


if __name__ == "__main__":
    main()
