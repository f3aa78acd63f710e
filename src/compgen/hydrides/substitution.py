"""The non-learned baseline a chemist tries first: ordered substitution of the training crystals.

Every binary crystal of metal A gives one ternary by handing half of its metal
sites (rounded down) to metal B, and every crystal of metal B one by handing
half of its sites to A; H and the lattice stay. A cell with a single metal
atom is first doubled along its shortest lattice vector, so that it has two
metal sites to share. No training, no seed: the same 70 candidates every run.

Which sites change (`ordering`):
- 'separated' (the default): of all ways to choose the sites, the one whose
  nearest pair of like metals (A-A or B-B, over periodic images) is farthest
  apart, ties broken by the larger sum of every site's nearest like-metal
  distance and then by the first choice in row order. Like metals kept apart
  is the ordering an alloy chemist expects, as in the L1_0 and L1_2 orders of
  fcc alloys.
- 'rows': every second metal row (odd rows), whatever the geometry.
"""

from __future__ import annotations

import itertools

import numpy as np
import torch

from compgen.hydrides.data import BLOCK_ROWS, Crystals

ORDERINGS = ("separated", "rows")
# The separated ordering enumerates every choice: C(18, 9) = 48,620 at most, a few MB of booleans.


def doubled(lattice: np.ndarray, positions: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """The cell doubled along lattice vector `axis`: (lattice, Cartesian positions of the original then the copy)."""
    bigger = lattice.copy()
    bigger[axis] *= 2
    return bigger, np.concatenate([positions, positions + lattice[axis]])


def periodic_distances(lattice: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Minimum-image distances between sites over the 27 neighbouring cells (n x n; the diagonal is inf)."""
    frac = positions @ np.linalg.inv(lattice)
    diff = frac[None, :, :] - frac[:, None, :]
    diff -= np.round(diff)
    shifts = np.array(list(itertools.product((-1, 0, 1), repeat=3)), dtype=float)
    cartesian = (diff[:, :, None, :] + shifts[None, None]) @ lattice  # n x n x 27 x 3
    out = np.linalg.norm(cartesian, axis=-1).min(-1)
    np.fill_diagonal(out, np.inf)
    return out


def substituted_sites(lattice: np.ndarray, positions: np.ndarray, ordering: str) -> np.ndarray:
    """Which of the metal sites (n >= 2) take the other metal: a boolean of length n with n // 2 set."""
    n = len(positions)
    if ordering == "rows":
        return np.arange(n) % 2 == 1
    if ordering != "separated":
        raise ValueError(f"unknown substitution ordering {ordering!r}: one of {ORDERINGS}")
    distances = periodic_distances(lattice, positions)
    combos = np.array(list(itertools.combinations(range(n), n // 2)))
    choices = np.zeros((len(combos), n), dtype=bool)
    np.put_along_axis(choices, combos, True, axis=1)
    like = choices[:, :, None] == choices[:, None, :]  # ways x n x n
    like_distances = np.where(like, distances[None], np.inf)
    nearest_like = like_distances.min(-1)  # ways x n: each site's nearest like metal
    worst = nearest_like.min(-1)
    total = np.where(np.isfinite(nearest_like), nearest_like, 0.0).sum(-1)
    # the largest worst-case distance, then the largest total; argmax keeps the first of equals
    best_worst = worst >= worst.max() - 1e-9
    return choices[int(np.argmax(np.where(best_worst, total, -np.inf)))]


def substitute(crystals: Crystals, own: int, ordering: str) -> Crystals:
    """Ternaries from binary crystals whose metal sits in block `own` (1: A, 2: B): half the sites go to the other block."""
    other = 3 - own
    lattices, coords, atoms = [], [], []
    for i in range(len(crystals)):
        lattice = crystals.lattice[i].double().numpy()
        hydrogen = crystals.coords[i, 0][crystals.atoms[i, 0]].double().numpy()
        metal = crystals.coords[i, own][crystals.atoms[i, own]].double().numpy()
        if len(metal) == 1:
            axis = int(np.argmin(np.linalg.norm(lattice, axis=1)))
            _, hydrogen = doubled(lattice, hydrogen, axis)
            lattice, metal = doubled(lattice, metal, axis)
        if len(hydrogen) > BLOCK_ROWS:
            raise ValueError(f"{crystals.names[i]}: the doubled cell holds {len(hydrogen)} H, more than {BLOCK_ROWS}")
        moved = substituted_sites(lattice, metal, ordering)
        c = np.zeros((3, BLOCK_ROWS, 3))
        m = np.zeros((3, BLOCK_ROWS), dtype=bool)
        for block, rows in ((0, hydrogen), (own, metal[~moved]), (other, metal[moved])):
            c[block, : len(rows)], m[block, : len(rows)] = rows, True
        lattices.append(lattice)
        coords.append(c)
        atoms.append(m)
    return Crystals(
        torch.tensor(np.array(lattices), dtype=torch.float32), torch.tensor(np.array(coords), dtype=torch.float32),
        torch.tensor(np.array(atoms)), [f"substituted {name}" for name in crystals.names],
    )  # fmt: skip


def substitution_candidates(a: Crystals, b: Crystals, ordering: str) -> Crystals:
    """The baseline's 70 candidates: every crystal of metal A with half its sites B, then every crystal of B with half A."""
    return Crystals.concat(substitute(a, 1, ordering), substitute(b, 2, ordering))
