"""Pooled Δ of a finished atmo study averaged the authors' way: over unique test C_B vectors of each fold.

    .venv/bin/python bench/atmo_unique_b.py                  # results/atmo/CNC__NCCN
    .venv/bin/python bench/atmo_unique_b.py results/atmo/C1CNCCN1__NCCN

The workflow averages Δ over every test C_B. The authors' evaluation
(CompAugCycleGAN, `AugCycleGan.predict_from_prior(unique=True)`) first removes
repeated composition vectors from each fold's test C_B and pools the folds'
lists. This reads `split.parquet` and `deltas.parquet` of one pair's study and
prints both means per method, so the two protocols can be put side by side
without retraining anything.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from compgen.atmo.data import AminePools, read_split

ROOT = Path(__file__).resolve().parents[1]


def unique_b_means(pools: AminePools, deltas: pd.DataFrame) -> pd.DataFrame:
    """Per method: n and mean Δ over all test C_B, and over each fold's unique test C_B vectors."""
    # The very same vector, as `seen_in_training` and the authors' torch.unique compare them.
    key = {pools.table.at[i, "identifier"]: pools.vectors[i].tobytes() for i in pools.rows("B").index}
    keyed = deltas.assign(vector=deltas["identifier"].map(key))
    # Seeds are averaged per C_B first, as the workflow's pooled mean weighs every seed alike.
    per_b = keyed.groupby(["method", "fold", "identifier", "vector"], sort=False)["delta"].mean().reset_index()
    unique = per_b.groupby(["method", "fold", "vector"], sort=False)["delta"].mean().reset_index()
    return pd.DataFrame(
        {
            "n_all": per_b.groupby("method", sort=False).size(),
            "mean_all": per_b.groupby("method", sort=False)["delta"].mean(),
            "n_unique": unique.groupby("method", sort=False).size(),
            "mean_unique": unique.groupby("method", sort=False)["delta"].mean(),
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", nargs="?", default=str(ROOT / "results" / "atmo" / "CNC__NCCN"), help="one pair's results folder")
    study = Path(parser.parse_args().study)
    table = unique_b_means(read_split(study / "split.parquet"), pd.read_parquet(study / "deltas.parquet"))
    print(f"{study}:")
    print(table.round(4).to_string())


if __name__ == "__main__":
    main()
