"""Δ evaluation of generated compositions against held-out real ones (eq. 9).

For a test C_B, candidates C'_B are generated from every C_A of its chemical
system; each method's Δ is the best (smallest) over its candidates:

- augcyc_sample: N_sample draws z_B ~ N(0, 1) per C_A
- augcyc_opt:    a grid of z_B over [-5, 5] per C_A
- cyclegan:      the deterministic translation of each C_A
- identity:      C'_B = C_A
- random:        one uniform random vector on C_B's support, normalised
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from compgen.atmo.models import CompositionGAN


def delta(generated: np.ndarray | torch.Tensor, target: np.ndarray | torch.Tensor):
    """Mean |x'_i - x_i| over the n elements present in the target; broadcasts over leading axes."""
    present = target > 0
    difference = abs(generated - target) * present
    return difference.sum(-1) / present.sum(-1)


def random_on_support(target: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A uniform random composition over the elements present in `target`, summing to 1."""
    vector = np.zeros_like(target)
    present = target > 0
    vector[present] = rng.uniform(size=present.sum())
    return vector / vector.sum()


def candidates_by_system(systems_a: pd.Series) -> dict[str, np.ndarray]:
    """Row positions of the C_A of each chemical system."""
    return {system: np.flatnonzero(systems_a.to_numpy() == system) for system in systems_a.unique()}


@torch.no_grad()
def best_delta_over_z(model: CompositionGAN, c_a: torch.Tensor, c_b: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Running minimum of Δ over z values: entry j is the best Δ using z[:j+1] for every C_A.

    c_a: candidates (m x n), c_b: one target (n), z: (k x latent) values tried per candidate.
    """
    m, k = c_a.shape[0], z.shape[0]
    generated = model.translate(c_a.repeat_interleave(k, dim=0), z.repeat(m, 1)).view(m, k, -1)
    per_z = delta(generated, c_b).min(dim=0).values  # best candidate for each z
    return per_z.cummin(dim=0).values


@torch.no_grad()
def generate(model: CompositionGAN, c_a: torch.Tensor, n_draws: int, generator: torch.Generator) -> torch.Tensor:
    """n_draws translations of every C_A, z_B ~ N(0, 1): shape (m, n_draws, n_elements)."""
    m = c_a.shape[0]
    z = torch.randn(m * n_draws, model.latent_dim, generator=generator).to(c_a.device) if model.augmented else None
    return model.translate(c_a.repeat_interleave(n_draws, dim=0), z).view(m, n_draws, -1)


def evaluate_fold(
    vectors: np.ndarray,
    table: pd.DataFrame,
    test_b: np.ndarray,
    augcyc: CompositionGAN | None,
    cyclegan: CompositionGAN | None,
    n_sample: int,
    n_sample_max: int,
    z_grid: np.ndarray,
    seed: int,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Δ of every method for each test C_B of one fold.

    Returns (long table of Δ, array test x n_sample_max of the running-best
    Δ_sample as the number of samples grows).
    """
    rng = np.random.default_rng(seed)
    z_gen = torch.Generator().manual_seed(seed)
    pool_a = table.index[table["pool"] == "A"].to_numpy()
    systems_a = table.loc[pool_a, "chemical_system"]
    by_system = candidates_by_system(systems_a)
    device = next(augcyc.parameters()).device if augcyc is not None else torch.device("cpu")
    grid = torch.as_tensor(z_grid, dtype=torch.float32, device=device).view(-1, 1)

    records, curves = [], []
    for i in test_b:
        system = table.at[i, "chemical_system"]
        candidates = pool_a[by_system[system]]
        target = vectors[i]
        c_a = torch.as_tensor(vectors[candidates], dtype=torch.float32, device=device)
        c_b = torch.as_tensor(target, dtype=torch.float32, device=device)
        found = {
            "identity": float(delta(vectors[candidates], target).min()),
            "random": float(delta(random_on_support(target, rng), target)),
        }
        if augcyc is not None:
            z = torch.randn(n_sample_max, 1, generator=z_gen).to(device)
            curve = best_delta_over_z(augcyc, c_a, c_b, z).cpu().numpy()
            curves.append(curve)
            found["augcyc_sample"] = float(curve[n_sample - 1])
            found["augcyc_opt"] = float(best_delta_over_z(augcyc, c_a, c_b, grid)[-1])
        if cyclegan is not None:
            found["cyclegan"] = float(delta(cyclegan.translate(c_a), c_b).min())
        for method, value in found.items():
            records.append(
                {"identifier": table.at[i, "identifier"], "chemical_system": system, "n_candidates": len(candidates), "method": method, "delta": value}
            )
    return pd.DataFrame(records), np.array(curves)


def summarise(deltas: pd.DataFrame) -> pd.DataFrame:
    """method, fold, n, mean, median, std: one row per fold and one pooled ('all')."""
    pooled = deltas.assign(fold="all")
    both = pd.concat([deltas.assign(fold=deltas["fold"].astype(str)), pooled], ignore_index=True)
    summary = both.groupby(["method", "fold"], sort=False)["delta"].agg(n="size", mean="mean", median="median", std="std")
    return summary.reset_index()
