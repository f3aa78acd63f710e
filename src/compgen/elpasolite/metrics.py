"""Energy classes of the space and the paper's metrics (eqs 2-6) for generated samples.

Everything works on integer keys: a class table of 39^4 entries (-1 for
assignments that are not compositions of the space) turns a batch of
generated samples into classes by indexing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.spatial.distance import jensenshannon

from compgen.elpasolite.space import N_ELEMENTS, SampleCounts, enumerate_space, keys

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


def generation_metrics(samples: SampleCounts, lookup: np.ndarray, space: pd.DataFrame, target: int) -> dict:
    """Precision and coverage (right and neighbouring classes) and JS distance of a run's valid samples (eqs 2-6)."""
    classes = lookup[samples.key]
    n = samples.n_valid
    sizes = space["energy_class"].value_counts()
    near = neighbours(target)
    in_class = space.loc[space["energy_class"] == target, list("ABCD")].to_numpy()
    return {
        "n_samples": n,
        "n_unique": len(samples.key),
        "precision_right": float(samples.count[classes == target].sum() / n),
        "precision_neigh": float(samples.count[np.isin(classes, near)].sum() / n),
        "coverage_right": float((classes == target).sum() / sizes.get(target, 0)) if sizes.get(target, 0) else np.nan,
        "coverage_neigh": float(np.isin(classes, near).sum() / sum(sizes.get(c, 0) for c in near)),
        "js": js_distance(site_distributions(samples.indices()), site_distributions(in_class)),
    }


def uniform_draw(rng: np.random.Generator, batch: int):
    """Batches of uniformly random site assignments; the valid ones are uniform over the space."""
    return lambda: rng.integers(0, N_ELEMENTS, size=(batch, 4))


def prevalence_draw(training: np.ndarray, rng: np.random.Generator, batch: int):
    """Batches drawn site by site from p(Z|S) of the given training compositions (invalid ones are dropped by the caller)."""
    if len(training) == 0:
        raise ValueError("prevalence baseline: no training compositions in the target class")
    p = site_distributions(training)
    return lambda: np.stack([rng.choice(N_ELEMENTS, size=batch, p=p[s]) for s in range(4)], axis=1)


def discovery_curve(samples: SampleCounts, training_keys: np.ndarray, lookup: np.ndarray, target: int, points: int = 60) -> pd.DataFrame:
    """Along the run of valid samples (in generation order): cumulative novel discoveries in the
    target class, in its neighbours and elsewhere, repetitions and rediscoveries of training compositions.

    A composition is discovered at its first draw, so the first positions of the counts give every curve.
    """
    order = np.argsort(samples.first)
    first = samples.first[order]
    classes = lookup[samples.key[order]]
    known = np.isin(samples.key[order], training_keys)
    near = np.isin(classes, neighbours(target))
    kinds = {
        "novel_target": ~known & (classes == target),
        "novel_neighbours": ~known & near,
        "novel_other": ~known & (classes != target) & ~near,
        "rediscoveries": known,
    }
    generated = np.unique(np.geomspace(1, samples.n_valid, points).astype(np.int64))
    discovered = np.searchsorted(first, generated, side="left")  # distinct compositions among the first n draws
    curve = {"n_generated": generated}
    curve.update({name: np.concatenate([[0], np.cumsum(mask)])[discovered] for name, mask in kinds.items()})
    curve["repetitions"] = generated - discovered
    columns = ["n_generated", "novel_target", "novel_neighbours", "novel_other", "repetitions", "rediscoveries"]
    return pd.DataFrame(curve)[columns]
