"""The networks of CrystalGAN (Nouira et al. 2018): every block an MLP of 5 hidden layers of 100 ReLU units.

A translator maps a crystal (lattice + three position blocks, flattened) to a
crystal of the other domain and keeps the atom mask it is handed. It writes a
new lattice and every site's fractional coordinates on it, each as a learned
correction to a fixed relabelling of its input (in step 1 the metal rows move
from one metal's block to the other's; in step 2 nothing moves). Positions are
the fractional coordinates times the new lattice, so a cell that shrinks or
shears carries its sites along, as the authors' networks do by applying one
map to every 3-vector; writing Cartesian positions apart from the lattice let
a PdH -> NiH translation shrink the cell to 0.71 of its volume while the H
sites stayed put. An untrained translator returns its input unchanged: a real
crystal rather than a degenerate cell, which the periodic distances of the
constraint need. This skip is not in the paper.
"""

from __future__ import annotations

import torch
from torch import nn

from compgen.hydrides.data import BLOCK_ROWS, N_FEATURES

SITES = 3 * BLOCK_ROWS


def mlp(n_in: int, n_out: int, hidden: int, layers: int) -> nn.Sequential:
    blocks: list[nn.Module] = []
    for i in range(layers):
        blocks += [nn.Linear(n_in if i == 0 else hidden, hidden), nn.ReLU()]
    return nn.Sequential(*blocks, nn.Linear(hidden if layers else n_in, n_out))


def swap_metal_blocks(x: torch.Tensor) -> torch.Tensor:
    """Flattened crystals with blocks A and B exchanged (the step-1 relabelling of the metal)."""
    lattice, blocks = x[:, :9], x[:, 9:].reshape(len(x), 3, BLOCK_ROWS * 3)
    return torch.cat([lattice, blocks[:, [0, 2, 1]].flatten(1)], 1)


class Translator(nn.Module):
    def __init__(self, hidden: int, layers: int, swap: bool):
        super().__init__()
        self.swap = swap
        self.net = mlp(N_FEATURES, N_FEATURES, hidden, layers)
        nn.init.zeros_(self.net[-1].weight)  # start at the relabelling itself
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """x: n x 171 flattened crystals; keep: n x 171 mask of the features the output may use."""
        base = swap_metal_blocks(x) if self.swap else x
        lattice = base[:, :9].reshape(-1, 3, 3)
        # inv_ex: a cycle's input is a generated cell, which must not crash the job by being singular
        frac = base[:, 9:].reshape(-1, SITES, 3) @ torch.linalg.inv_ex(lattice).inverse
        change = self.net(x)
        new_lattice = lattice + change[:, :9].reshape(-1, 3, 3)
        positions = (frac + change[:, 9:].reshape(-1, SITES, 3)) @ new_lattice
        return torch.cat([new_lattice.flatten(1), positions.flatten(1)], 1) * keep


class NoiseGenerator(nn.Module):
    """The plain GAN of Table II: Gaussian noise and the atom mask wanted -> a crystal."""

    def __init__(self, hidden: int, layers: int, latent: int):
        super().__init__()
        self.latent = latent
        self.net = mlp(latent + 3 * BLOCK_ROWS, N_FEATURES, hidden, layers)

    def forward(self, z: torch.Tensor, atoms: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([z, atoms.flatten(1).float()], 1)) * keep


class Discriminator(nn.Module):
    def __init__(self, hidden: int, layers: int):
        super().__init__()
        self.net = mlp(N_FEATURES, 1, hidden, layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(1)


def feature_mask(atoms: torch.Tensor) -> torch.Tensor:
    """n x 171: the lattice always, a block row's three coordinates where the row is an atom."""
    rows = atoms.flatten(1).float().repeat_interleave(3, dim=1)
    return torch.cat([torch.ones(len(atoms), 9, device=atoms.device), rows], 1)
