"""Energy classes of the space and the paper's metrics (eqs 2-6) for generated samples.

Everything works on integer keys: a class table of 39^4 entries (-1 for
assignments that are not compositions of the space) turns a batch of
generated samples into classes by indexing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.spatial.distance import jensenshannon

from compgen.elpasolite.space import N_ELEMENTS, collect_valid, enumerate_space, keys, valid

N_CLASSES = 10


def class_edges(dft_energies: np.ndarray) -> np.ndarray:
    """Eleven edges of ten equal-width classes spanning the DFT range."""
    return np.linspace(dft_energies.min(), dft_energies.max(), N_CLASSES + 1)


def energy_class(energies: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Class 1 (most stable) to 10; values beyond either end fall into the end classes."""
    return np.clip(np.digitize(energies, edges[1:-1]) + 1, 1, N_CLASSES).astype(np.int8)


def label_space(grid: np.ndarray, dft: pd.DataFrame, edges: np.ndarray) -> pd.DataFrame:
    """Every composition with its energy: DFT where computed (or its A/B swap), the oracle elsewhere."""
    space = enumerate_space()
    space_keys = keys(space)
    energy = grid[space_keys].copy()
    source = np.full(len(space), "oracle", dtype=object)
    position = np.searchsorted(space_keys, keys(dft[list("ABCD")].to_numpy()))
    energy[position] = dft["e_form"].to_numpy()
    source[position] = dft["source"].to_numpy()
    table = pd.DataFrame(space, columns=list("ABCD")).astype(np.int8)
    table.insert(0, "key", space_keys)
    table["e_form"] = energy
    table["source"] = pd.Categorical(source, categories=["dft", "dft_ab_swap", "oracle"])
    table["energy_class"] = energy_class(energy, edges)
    return table


def class_table(space: pd.DataFrame) -> np.ndarray:
    """39^4 lookup from key to class; -1 where the key is not a composition of the space."""
    table = np.full(N_ELEMENTS**4, -1, dtype=np.int8)
    table[space["key"].to_numpy()] = space["energy_class"].to_numpy()
    return table


def site_distributions(indices: np.ndarray) -> np.ndarray:
    """p(Z|S): 4 x 39, the share of each element on each site."""
    counts = np.stack([np.bincount(indices[:, s], minlength=N_ELEMENTS) for s in range(4)]).astype(float)
    return counts / counts.sum(1, keepdims=True).clip(min=1)


def js_distance(p: np.ndarray, q: np.ndarray) -> float:
    """Eq. 6: Jensen-Shannon distance (base 2) of p(Z|S) and q(Z|S), averaged over the four sites."""
    return float(np.mean([jensenshannon(p[s], q[s], base=2) for s in range(4)]))


def neighbours(target: int) -> list[int]:
    return [c for c in (target - 1, target + 1) if 1 <= c <= N_CLASSES]


def generation_metrics(samples: np.ndarray, lookup: np.ndarray, space: pd.DataFrame, target: int) -> dict:
    """Precision and coverage (right and neighbouring classes) and JS distance of valid samples (eqs 2-6)."""
    samples = samples[valid(samples)]
    sample_keys = keys(samples)
    classes = lookup[sample_keys]
    unique_keys, first = np.unique(sample_keys, return_index=True)
    unique_classes = lookup[unique_keys]
    sizes = space["energy_class"].value_counts()
    near = neighbours(target)
    in_class = space.loc[space["energy_class"] == target, list("ABCD")].to_numpy()
    unique_samples = samples[first]
    return {
        "n_samples": len(samples),
        "n_unique": len(unique_keys),
        "precision_right": float(np.mean(classes == target)),
        "precision_neigh": float(np.isin(classes, near).mean()),
        "coverage_right": float((unique_classes == target).sum() / sizes.get(target, 0)) if sizes.get(target, 0) else np.nan,
        "coverage_neigh": float(np.isin(unique_classes, near).sum() / sum(sizes.get(c, 0) for c in near)),
        "js": js_distance(site_distributions(unique_samples), site_distributions(in_class)),
    }


def uniform_baseline(n: int, rng: np.random.Generator) -> np.ndarray:
    """n uniformly random compositions of the space."""
    return collect_valid(n, lambda: rng.integers(0, N_ELEMENTS, size=(2 * n, 4)), "uniform baseline")[0]


def prevalence_baseline(n: int, training: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """n compositions drawn site by site from p(Z|S) of the given training compositions, invalid ones redrawn."""
    if len(training) == 0:
        raise ValueError("prevalence baseline: no training compositions in the target class")
    p = site_distributions(training)

    def draw() -> np.ndarray:
        return np.stack([rng.choice(N_ELEMENTS, size=2 * n, p=p[s]) for s in range(4)], axis=1)

    return collect_valid(n, draw, "prevalence baseline")[0]


def discovery_curve(samples: np.ndarray, training_keys: np.ndarray, lookup: np.ndarray, target: int, points: int = 60) -> pd.DataFrame:
    """Along the run of valid samples (in generation order): cumulative novel discoveries in the
    target class, in its neighbours and elsewhere, repetitions and rediscoveries of training compositions."""
    sample_keys = keys(samples)
    first = np.zeros(len(sample_keys), dtype=bool)
    first[np.unique(sample_keys, return_index=True)[1]] = True
    known = np.isin(sample_keys, training_keys)
    classes = lookup[sample_keys]
    novel = first & ~known
    counts = {
        "novel_target": np.cumsum(novel & (classes == target)),
        "novel_neighbours": np.cumsum(novel & np.isin(classes, neighbours(target))),
        "novel_other": np.cumsum(novel & (classes != target) & ~np.isin(classes, neighbours(target))),
        "repetitions": np.cumsum(~first),
        "rediscoveries": np.cumsum(first & known),
    }
    at = np.unique(np.geomspace(1, len(sample_keys), points).astype(int)) - 1
    return pd.DataFrame({"n_generated": at + 1, **{k: v[at] for k, v in counts.items()}})
