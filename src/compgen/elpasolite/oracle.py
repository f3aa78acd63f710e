"""A rebuilt formation-energy oracle for the whole elpasolite space.

Faber et al. (PRL 117, 135502, 2016) scored the space with kernel ridge
regression on the (row, group) of each site; their predictions are not
public, so this rebuilds the model: a Laplacian kernel exp(-|x - x'|_1 / sigma)
on the 8-D (row, group) vector, trained on the DFT set augmented with every
A/B swap (the two sites are equivalent).

The kernel factorises over sites, K(x, x') = prod_s G[e_s, e'_s] with G a
39 x 39 table of element pairs, so predicting all 39^4 site assignments is
one (39^2 x n) @ (n x 39^2) product rather than 2 million kernel rows.

The kernel matrix is built and factorised with torch, whose x86 builds carry
MKL's LAPACK: the multi-threaded Cholesky of the OpenBLAS 0.3.30 that numpy
and scipy bundle dies with SIGSEGV on AMD EPYC machines (auto-detected
SkylakeX kernels) once the matrix passes about 16,000 rows, and the final fit
has 21,112. The torch path is also faster (`bench/oracle_fit.py`).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import torch
from scipy.spatial.distance import cdist

from compgen.elpasolite.space import ROW_GROUP, keys
from compgen.workflow import Progress

log = logging.getLogger(__name__)


def element_kernel(sigma: float) -> np.ndarray:
    """G[i, j] = exp(-(|row_i - row_j| + |group_i - group_j|) / sigma) for the 39 elements."""
    return np.exp(-cdist(ROW_GROUP, ROW_GROUP, "cityblock") / sigma)


def fit(indices: np.ndarray, energies: np.ndarray, sigma: float, lam: float) -> np.ndarray:
    """Kernel ridge weights alpha = (K + lam I)^-1 y by Cholesky, in float64 on the CPU."""
    features = torch.as_tensor(ROW_GROUP[indices].reshape(len(indices), 8), dtype=torch.float64)
    kernel = torch.cdist(features, features, p=1)
    kernel.div_(-sigma).exp_()
    kernel.diagonal().add_(lam)
    factor, info = torch.linalg.cholesky_ex(kernel)
    if info.item() != 0:
        raise ValueError(f"kernel matrix of {len(indices)} rows is not positive definite (sigma {sigma}, lambda {lam})")
    del kernel
    target = torch.as_tensor(np.asarray(energies, dtype=float)).reshape(-1, 1)
    return torch.cholesky_solve(target, factor).reshape(-1).numpy()


def predict_grid(indices: np.ndarray, alpha: np.ndarray, sigma: float) -> np.ndarray:
    """Predictions for every (A, B, C, D) in 39^4, flat in key order (invalid assignments included)."""
    g = element_kernel(sigma)
    a, b, c, d = (g[:, indices[:, s]] for s in range(4))  # each 39 x n
    left = (a * alpha)[:, None, :] * b[None, :, :]  # (a, b, j)
    right = c[:, None, :] * d[None, :, :]  # (c, d, j)
    n = len(alpha)
    return (left.reshape(-1, n) @ right.reshape(-1, n).T).reshape(-1)


def grouped_order(twins: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Row positions in a random order that keeps twins next to each other."""
    groups = np.unique(twins)
    rank = dict(zip(rng.permutation(groups), range(len(groups)), strict=True))
    return np.argsort([rank[t] for t in twins], kind="stable")


def split_by_twins(table: pd.DataFrame, fractions: tuple[float, float], seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(train, validation, test) row positions; a composition and its swap never straddle two parts."""
    rng = np.random.default_rng(seed)
    groups = rng.permutation(np.unique(table["twin"]))
    n_test, n_val = (int(round(f * len(groups))) for f in fractions)
    test_groups, val_groups = set(groups[:n_test]), set(groups[n_test : n_test + n_val])
    part = np.array([0 if t in test_groups else 1 if t in val_groups else 2 for t in table["twin"]])
    return np.flatnonzero(part == 2), np.flatnonzero(part == 1), np.flatnonzero(part == 0)


def first_rows(train: np.ndarray, twins: np.ndarray, n: int, seed: int) -> np.ndarray:
    """About n training rows taken twin group by twin group in a seeded order."""
    order = train[grouped_order(twins[train], np.random.default_rng(seed))]
    cut = np.searchsorted(np.cumsum(np.ones(len(order))), n)
    while 0 < cut < len(order) and twins[order[cut]] == twins[order[cut - 1]]:
        cut += 1  # keep the twin of the last row taken
    return order[:cut]


def errors(table: pd.DataFrame, rows: np.ndarray, grid: np.ndarray) -> tuple[float, float]:
    """MAE and RMSE of grid predictions on the given rows."""
    residual = grid[keys(table.loc[rows, list("ABCD")].to_numpy())] - table.loc[rows, "e_form"].to_numpy()
    return float(np.abs(residual).mean()), float(np.sqrt((residual**2).mean()))


def build_oracle(table: pd.DataFrame, cfg: dict) -> tuple[dict, pd.DataFrame, pd.DataFrame, np.ndarray]:
    """Choose sigma and lambda on a validation split, measure a learning curve, fit on everything.

    Returns (chosen hyperparameters, search table, learning curve, grid of
    predictions over 39^4 from the model fitted on all rows).
    """
    idx = table[list("ABCD")].to_numpy()
    y = table["e_form"].to_numpy()
    twins = table["twin"].to_numpy()
    train, val, test = split_by_twins(table, (cfg["test_fraction"], cfg["validation_fraction"]), cfg["seed"])
    search_rows = first_rows(train, twins, cfg["search_train_size"], cfg["seed"])
    sizes = [*cfg["learning_curve"], len(train) + len(val)]
    # The fits grow with the cube of their rows: the full-size ones dominate the ETA's later lines.
    progress = Progress("oracle fits", len(cfg["sigmas"]) * len(cfg["lambdas"]) + len(sizes) + 1, unit="fit")
    search = []
    for sigma in cfg["sigmas"]:
        for lam in cfg["lambdas"]:
            grid = predict_grid(idx[search_rows], fit(idx[search_rows], y[search_rows], sigma, lam), sigma)
            mae, rmse = errors(table, val, grid)
            search.append({"sigma": sigma, "lambda": lam, "n_train": len(search_rows), "val_mae": mae, "val_rmse": rmse})
            progress.advance(f"sigma {sigma:g} lambda {lam:g} on {len(search_rows)} rows: validation MAE {mae:.4f} eV/atom")
    search = pd.DataFrame(search)
    best = search.loc[search["val_mae"].idxmin()]
    sigma, lam = float(best["sigma"]), float(best["lambda"])
    log.info("chosen sigma %g, lambda %g", sigma, lam)

    curve = []
    for n in sizes:
        rows = first_rows(np.concatenate([train, val]), twins, n, cfg["seed"])
        mae, rmse = errors(table, test, predict_grid(idx[rows], fit(idx[rows], y[rows], sigma, lam), sigma))
        curve.append({"n_train": len(rows), "mae": mae, "rmse": rmse})
        progress.advance(f"learning curve: {len(rows)} training rows -> test MAE {mae:.4f}, RMSE {rmse:.4f} eV/atom")
    grid = predict_grid(idx, fit(idx, y, sigma, lam), sigma)
    progress.advance(f"final fit on all {len(y)} rows")
    return {"sigma": sigma, "lambda": lam, "n_test": len(test)}, search, pd.DataFrame(curve), grid
