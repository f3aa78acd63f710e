"""Crystals of the hydrides study as tensors, and back.

A crystal is the lattice (3 x 3, rows are the lattice vectors, Angstrom) and
three blocks of Cartesian positions, each padded to 18 rows: H, metal A,
metal B (the layout of Nouira et al.: a binary AH crystal leaves block B empty).
A mask says which rows are atoms. The mask, not the coordinates, decides: an
atom may sit at the origin (the only H of PdH-00 does), so a zero row inside a
block is an atom, not padding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from pymatgen.core import Lattice, Structure

BLOCK_ROWS = 18
BLOCKS = ("H", "A", "B")
N_FEATURES = 9 + 3 * BLOCK_ROWS * 3  # what the networks read and write
COORD_SCALE = 10.0  # Angstrom per network unit: keeps inputs near 1


@dataclass
class Crystals:
    """A batch: lattice (n x 3 x 3), coords (n x 3 blocks x 18 x 3), atoms (n x 3 x 18), names."""

    lattice: torch.Tensor
    coords: torch.Tensor
    atoms: torch.Tensor
    names: list[str]

    def __len__(self) -> int:
        return len(self.names)

    def to(self, device) -> Crystals:
        return Crystals(self.lattice.to(device), self.coords.to(device), self.atoms.to(device), self.names)

    def subset(self, rows) -> Crystals:
        rows = list(rows)
        return Crystals(self.lattice[rows], self.coords[rows], self.atoms[rows], [self.names[i] for i in rows])

    @classmethod
    def concat(cls, *batches: Crystals) -> Crystals:
        """One batch of several, in order."""
        return cls(
            torch.cat([c.lattice for c in batches]), torch.cat([c.coords for c in batches]), torch.cat([c.atoms for c in batches]),
            [name for c in batches for name in c.names],
        )

    def counts(self) -> np.ndarray:
        """Atoms per block: n x 3 (H, A, B)."""
        return self.atoms.sum(-1).cpu().numpy()


def crystals_from_table(table: pd.DataFrame, metals: tuple[str, str]) -> Crystals:
    """Rows of the `hydrides` dataset (lattice, species, frac_coords) as a batch; metals = (A, B)."""
    n = len(table)
    lattice = np.zeros((n, 3, 3))
    coords = np.zeros((n, 3, BLOCK_ROWS, 3))
    atoms = np.zeros((n, 3, BLOCK_ROWS), dtype=bool)
    symbols = {"H": 0, metals[0]: 1, metals[1]: 2}
    for i, row in enumerate(table.itertuples(index=False)):
        lattice[i] = np.asarray(row.lattice, dtype=float).reshape(3, 3)
        cartesian = np.stack(row.frac_coords).astype(float) @ lattice[i]
        filled = [0, 0, 0]
        for species, position in zip(row.species, cartesian, strict=True):
            if species not in symbols:
                raise ValueError(f"{row.identifier}: element {species} is neither H nor one of the metals {metals}")
            block = symbols[species]
            if filled[block] == BLOCK_ROWS:
                raise ValueError(f"{row.identifier}: more than {BLOCK_ROWS} {species} atoms")
            coords[i, block, filled[block]] = position
            atoms[i, block, filled[block]] = True
            filled[block] += 1
    return Crystals(torch.tensor(lattice, dtype=torch.float32), torch.tensor(coords, dtype=torch.float32), torch.tensor(atoms), list(table["identifier"]))


def flatten(crystals: Crystals) -> torch.Tensor:
    """The network's view: lattice and all three blocks, scaled, padding rows zeroed: n x 171."""
    coords = crystals.coords * crystals.atoms[..., None]
    return torch.cat([crystals.lattice.flatten(1), coords.flatten(1)], 1) / COORD_SCALE


def unflatten(x: torch.Tensor, atoms: torch.Tensor, names: list[str]) -> Crystals:
    """A network's output read back with the atom mask it must keep."""
    x = x * COORD_SCALE
    lattice = x[:, :9].reshape(-1, 3, 3)
    coords = x[:, 9:].reshape(-1, 3, BLOCK_ROWS, 3) * atoms[..., None]
    return Crystals(lattice, coords, atoms, names)


def kinds(atoms: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-row views for the constraint: (atom mask n x 54, kind n x 54: 0 for H and 1 for any metal, block n x 54)."""
    n = atoms.shape[0]
    block = torch.arange(3, device=atoms.device).repeat_interleave(BLOCK_ROWS).expand(n, -1)
    return atoms.reshape(n, -1), (block > 0).long(), block


def to_structure(lattice, coords, atoms, metals: tuple[str, str]) -> Structure:
    """One crystal (3 x 3, 3 x 18 x 3, 3 x 18) as a pymatgen Structure; coordinates stay unwrapped."""
    lattice, coords, atoms = (np.asarray(t.detach().cpu() if torch.is_tensor(t) else t) for t in (lattice, coords, atoms))
    species, positions = [], []
    for block, symbol in enumerate(("H", *metals)):
        rows = np.flatnonzero(atoms[block])
        species += [symbol] * len(rows)
        positions.append(coords[block, rows])
    return Structure(Lattice(lattice.astype(float)), species, np.concatenate(positions).astype(float), coords_are_cartesian=True)


def structures(crystals: Crystals, metals: tuple[str, str]) -> list[Structure]:
    return [to_structure(crystals.lattice[i], crystals.coords[i], crystals.atoms[i], metals) for i in range(len(crystals))]
