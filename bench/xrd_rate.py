"""XRD patterns per second on one core, by cell size: sizes the Materials Project subsample of the latent study.

Perovskite cells (5 sites) of the perov_5 dataset, and their supercells to reach the larger cells
MP holds (MP's median cell has about 10 sites; the extraction's default keeps up to 40).

    .venv/bin/python bench/xrd_rate.py results/datasets/perovskites.parquet --structures 60
"""

import argparse
import time

import pandas as pd

from compgen.datasets import structure_columns, structure_from_columns
from compgen.latent.xrd import XRDSettings, patterns
from compgen.training import use_threads

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("perovskites")
parser.add_argument("--structures", type=int, default=60)
parser.add_argument("--supercells", nargs="+", default=["1,1,1", "2,1,1", "2,2,1", "2,2,2"])
args = parser.parse_args()
use_threads(1)
table = pd.read_parquet(args.perovskites).sample(n=args.structures, random_state=0)
settings = XRDSettings(two_theta_min=10.0, two_theta_max=90.0, step=0.05, fwhm=0.2, wavelength="CuKa", symprec=0.1)
print("| sites | structures | patterns/s (1 core) | hours for 130,998 on 2 cores |")
print("|---|---|---|---|")
for scale in args.supercells:
    factors = [int(f) for f in scale.split(",")]
    rows = pd.DataFrame([{"material_id": i, **structure_columns(structure_from_columns(r).make_supercell(factors, in_place=False))}
                         for i, r in enumerate(table.to_dict("records"))])  # fmt: skip
    began = time.perf_counter()
    patterns(rows, settings, workers=1, chunk=len(rows))
    rate = len(rows) / (time.perf_counter() - began)
    print(f"| {rows['n_atoms'].iloc[0]} | {len(rows)} | {rate:.1f} | {130998 / rate / 2 / 3600:.1f} |")
