"""First-neighbour distances under periodic boundary conditions, in torch, and the geometric constraint.

Nouira et al. (eqs 12-14) keep the first-neighbour distances of H-H and
metal-metal pairs between d1 and d2; metal-H pairs are not penalised. Here
every atom's first-neighbour distance to an atom of its own kind (H to H,
metal to metal, any metal) is computed over periodic images, batched and
differentiable, so the penalty can train a generator (the authors computed it
with pymatgen on files written mid-training: no gradient reached the network).

An atom's own periodic images count as neighbours, as in pymatgen. The images
searched cover every shift that can come closer than the shortest lattice
vector (an upper bound of any first-neighbour distance): ceil(L_min / h_k) + 1
cells along lattice vector k, h_k the cell's height across it.
"""

from __future__ import annotations

import functools
import itertools
import math

import torch

# Beyond this many cells either way a cell is too degenerate to be a crystal; its
# distances are still computed, with the images this allows.
MAX_IMAGE_RANGE = 4
FAR = 1e6  # stands for "no neighbour of that kind" without making gradients infinite


def image_ranges(lattice: torch.Tensor) -> list[int]:
    """Cells to search either way along each lattice vector, for a batch of cells.

    With fractional differences wrapped into [-1/2, 1/2), an image t can lie
    within L_min (the shortest lattice vector, which bounds every first-
    neighbour distance) only if |t_k| < L_min / h_k + 1/2, h_k the cell's
    height across lattice vector k.
    """
    with torch.no_grad():
        volume = torch.linalg.det(lattice).abs()  # b
        cross = torch.stack([torch.linalg.cross(lattice[:, (k + 1) % 3], lattice[:, (k + 2) % 3], dim=-1) for k in range(3)], 1)
        heights = volume[:, None] / cross.norm(dim=-1).clamp_min(1e-12)
        shortest = lattice.norm(dim=-1).min(1).values[:, None]
        needed = torch.floor(shortest / heights.clamp_min(1e-12) + 0.5).max(0).values
    return [MAX_IMAGE_RANGE if not math.isfinite(v) else int(min(MAX_IMAGE_RANGE, v)) for v in needed.tolist()]


@functools.lru_cache(maxsize=8)
def image_shifts(ranges: tuple[int, ...], device=None, dtype=torch.float32) -> torch.Tensor:
    """All integer shifts within the ranges, the zero shift first; cached, so a trainer copies them to its device once.

    Callers share the cached tensor: never change it in place.
    """
    shifts = sorted(itertools.product(*(range(-r, r + 1) for r in ranges)), key=lambda s: (s != (0, 0, 0), s))
    return torch.tensor(shifts, device=device, dtype=dtype)


def first_neighbour_distances(
    lattice: torch.Tensor,
    coords: torch.Tensor,
    atom: torch.Tensor,
    kind: torch.Tensor,
    ranges: list[int] | None = None,
    max_atoms: int | None = None,
) -> torch.Tensor:
    """Distance from each atom to its nearest atom of the same kind, periodic images included.

    lattice: b x 3 x 3 (rows are lattice vectors, Angstrom); coords: b x n x 3
    Cartesian; atom: b x n bool (which rows are atoms); kind: b x n int (atoms
    of equal kind are neighbours). `ranges`: image cells searched along each
    lattice vector, by default enough for every cell of the batch (a trainer
    fixes them from its data: exact there, and no slower when a generator
    skews its cells). Returns b x n; FAR where a row is no atom or has no
    neighbour of its kind. Differentiable in lattice and coords. `max_atoms`:
    at least the most atoms of any crystal of the batch (a trainer passes its
    data's), which spares reading the count from the GPU every step.
    """
    b, n, _ = coords.shape
    # Work on the atoms only: sort each crystal's atom rows first and cut the padding.
    order = torch.argsort((~atom).to(torch.int8), dim=1, stable=True)
    m = min(max_atoms, n) if max_atoms else max(int(atom.sum(1).max()), 1)
    rows = order[:, :m]
    xyz = coords.gather(1, rows[..., None].expand(-1, -1, 3))
    present = atom.gather(1, rows)
    kind_m = kind.gather(1, rows)

    inverse, _ = torch.linalg.inv_ex(lattice)  # no singularity check: that check waits for the GPU
    frac = xyz @ inverse  # b x m x 3
    shifts = image_shifts(tuple(ranges or image_ranges(lattice)), coords.device, coords.dtype)  # s x 3, zero first
    with torch.no_grad():
        # Which neighbour and which image is nearest: found without a graph, since the minimum's
        # gradient flows through the chosen pair alone.
        diff = frac[:, None, :, :] - frac[:, :, None, :]  # j seen from i, fractional
        wrap = torch.round(diff)
        u = ((diff - wrap).flatten(1, 2) @ lattice)  # b x m*m x 3, the wrapped difference in Angstrom
        v = shifts @ lattice  # b x s x 3, the image offsets
        # |u + v|^2 = |u|^2 + 2 u.v + |v|^2: one batched product instead of a b x m x m x s x 3 tensor
        squared = (u.pow(2).sum(-1, keepdim=True) + 2 * u @ v.transpose(1, 2) + v.pow(2).sum(-1)[:, None, :]).view(b, m, m, -1)
        same = (kind_m[:, :, None] == kind_m[:, None, :]) & present[:, :, None] & present[:, None, :]
        itself = torch.eye(m, dtype=torch.bool, device=coords.device)[:, :, None] & (torch.arange(len(shifts), device=coords.device) == 0)
        squared = torch.where(same[..., None] & ~itself, squared, torch.full_like(squared, FAR**2))
        best = squared.flatten(2).argmin(-1)  # b x m, over (j, shift)
        found = squared.flatten(2).gather(-1, best[..., None]).squeeze(-1) < FAR**2
        j, shift = best // len(shifts), best % len(shifts)
    # The chosen pairs again, with gradients: b x m.
    partner = frac.gather(1, j[..., None].expand(-1, -1, 3))
    offset = partner - frac - wrap.gather(2, j[:, :, None, None].expand(-1, -1, 1, 3)).squeeze(2) + shifts[shift]
    nearest = (offset @ lattice).pow(2).sum(-1)
    # sqrt at a safe point: overlapping atoms get no infinite gradient
    nearest = torch.where(found & present, nearest.clamp_min(1e-12).sqrt(), torch.full_like(nearest, FAR))
    out = torch.full((b, n), FAR, dtype=coords.dtype, device=coords.device)
    return out.scatter(1, rows, nearest)


CONSTRAINT_FORMS = ("intended", "centred", "printed")


def constraint_terms(
    distances: torch.Tensor, counted: torch.Tensor, d1: float, d2: float, form: str = "intended", margin: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """(L_geo1, L_geo2) per crystal: the lower and the upper side of the range [d1, d2].

    'intended' (eqs 12-14 as meant): the mean over counted atoms of
    relu(d1 + margin - s)^2 and of relu(s - d2 + margin)^2; zero when every
    first-neighbour distance lies at least `margin` inside the range, growing
    with the squared distance outside. At margin 0 the gradient vanishes at d1
    and d2 themselves, so any opposing force parks distances just outside the
    range; a margin makes the penalty push them over the edge. Eq 13's printed
    minus sign would reward distances far from d2, so it is read as the upper
    bound it names.

    'centred' (the authors' code): the means of (s - d1)^2 and (d2 - s)^2,
    which together pull every distance toward the middle of the range and are
    never zero. `margin` does not apply.

    'printed' (eqs 12-13 as printed): min_i (d1 - s_i)^2 and -min_i (d2 - s_i)^2;
    the minimum inside the mean makes each term the squared gap between d and
    the closest s_i, and the minus sign pushes every distance away from d2.
    """
    if form in ("intended", "centred"):
        s = torch.where(counted, distances, torch.full_like(distances, (d1 + d2) / 2))
        n = counted.sum(1).clamp_min(1)
        if form == "intended":
            low, high = torch.relu(d1 + margin - s).pow(2), torch.relu(s - d2 + margin).pow(2)
        else:
            low, high = (s - d1).pow(2), (d2 - s).pow(2)
        return (low * counted).sum(1) / n, (high * counted).sum(1) / n
    if form == "printed":
        s = torch.where(counted, distances, torch.full_like(distances, FAR))
        return (d1 - s).pow(2).min(1).values, -(d2 - s).pow(2).min(1).values
    raise ValueError(f"unknown constraint form {form!r}: one of {CONSTRAINT_FORMS}")
