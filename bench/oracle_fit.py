"""The oracle's kernel ridge fit: torch (MKL) against the scipy/OpenBLAS Cholesky it replaced.

    .venv/bin/python bench/oracle_fit.py [--sizes 4000 8000 12000] [--rounds 3]

Both sides build the same Laplacian kernel on random (row, group) rows and solve
(K + lambda I) alpha = y; they run interleaved, round by round, in one process
on 2 threads, so machine noise hits both alike. The scipy side stops at 12,000
rows: above about 16,000 its Cholesky crashes on AMD EPYC machines when
OPENBLAS_CORETYPE is unset (issue 8). `--full` also times the torch fit at the
real 21,112 rows. Prints a table and writes results/bench/oracle_fit.csv.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.linalg
import torch
from scipy.spatial.distance import cdist
from threadpoolctl import threadpool_info, threadpool_limits

from compgen.elpasolite.oracle import fit
from compgen.elpasolite.space import ROW_GROUP, enumerate_space
from compgen.io import write_csv

ROOT = Path(__file__).resolve().parents[1]
SIGMA, LAM = 16.0, 1e-2


def scipy_fit(indices: np.ndarray, energies: np.ndarray) -> np.ndarray:
    """The fit as it was before issue 8: scipy cdist, OpenBLAS Cholesky."""
    features = ROW_GROUP[indices].reshape(len(indices), 8).astype(float)
    kernel = cdist(features, features, "cityblock")
    np.exp(kernel / -SIGMA, out=kernel)
    kernel[np.diag_indices_from(kernel)] += LAM
    factor = scipy.linalg.cho_factor(kernel, overwrite_a=True, check_finite=False)
    return scipy.linalg.cho_solve(factor, energies, check_finite=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[4000, 8000, 12000])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--full", action="store_true", help="also time the torch fit on 21,112 rows")
    args = parser.parse_args()
    torch.set_num_threads(2)
    blas = ", ".join(f"{i['internal_api']} {i.get('architecture', '')}" for i in threadpool_info() if i["user_api"] == "blas")
    print(f"numpy/scipy BLAS: {blas}; torch: {torch.__config__.show().splitlines()[3].strip()}")
    rng = np.random.default_rng(0)
    space = enumerate_space()
    rows = []
    with threadpool_limits(2):
        for n in args.sizes:
            indices = space[rng.choice(len(space), n, replace=False)]
            energies = rng.normal(size=n)
            solvers = {"scipy_openblas": lambda x, y: scipy_fit(x, y), "torch": lambda x, y: fit(x, y, SIGMA, LAM)}
            for round_ in range(args.rounds):
                for name, solver in solvers.items():
                    began = time.perf_counter()
                    alpha = solver(indices, energies)
                    rows.append({"n": n, "round": round_, "solver": name, "seconds": time.perf_counter() - began, "alpha_norm": float(np.linalg.norm(alpha))})
        if args.full:
            n = 21_112
            indices = space[rng.choice(len(space), n, replace=False)]
            began = time.perf_counter()
            fit(indices, rng.normal(size=n), SIGMA, LAM)
            rows.append({"n": n, "round": 0, "solver": "torch", "seconds": time.perf_counter() - began, "alpha_norm": np.nan})
    table = pd.DataFrame(rows)
    write_csv(table, ROOT / "results" / "bench" / "oracle_fit.csv")
    print(table.pivot_table(index="n", columns="solver", values="seconds", aggfunc=["median", "min", "max"]).round(2).to_string())


if __name__ == "__main__":
    main()
