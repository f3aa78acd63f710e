"""Training of CrystalGAN's two cross-domain steps and of the plain noise GAN, run by `compgen.training`.

Step 1 (eqs 1-11) translates binary AH <-> BH; step 2 (eqs 15-26) translates
the feature-transferred ternaries AHB_g <-> BHA_g with the geometric
constraint (eqs 12-14) on what both generators write. Losses are the paper's:
non-saturating GAN terms, squared-error reconstruction of both round trips,
weights lambda_1..4, and lambda_5 / lambda_6 on the two sides of the distance
range. One update of every network per epoch on a batch of `batch` crystals
of each domain (35: all of them).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from torch.nn import functional as F

from compgen import training
from compgen.hydrides.data import Crystals, flatten, kinds, unflatten
from compgen.hydrides.geometry import FAR, constraint_terms, first_neighbour_distances, image_ranges
from compgen.hydrides.models import Discriminator, NoiseGenerator, Translator, feature_mask
from compgen.io import atomic_path, write_csv

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GANSettings:
    """One training job; the values come from `hydrides:` in the config and the job's wildcards."""

    step: int  # 1 or 2 for the cross-domain steps, 0 for the noise GAN
    hidden: int
    layers: int
    epochs: int
    batch: int
    lr: float
    beta1: float
    lambdas: tuple[float, float, float, float, float, float]  # lambda_1..lambda_6 (5, 6: the constraint)
    constraint: str  # 'none', 'intended', 'centred' (the authors' code) or 'printed' (eqs 12-13 as printed)
    d1: float
    d2: float
    margin: float  # Angstrom inside [d1, d2] that the 'intended' penalty aims for
    keep: str  # 'last' epoch's translators, or those of the epoch with the 'lowest_constraint' loss
    latent: int  # noise GAN only
    seed: int
    log_every: int
    checkpoint_every: int

    def __post_init__(self):
        object.__setattr__(self, "lambdas", tuple(self.lambdas))  # YAML and checkpoints give lists


def penalised_distances(crystals: Crystals, ranges: list[int] | None = None, max_atoms: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """First-neighbour distances (n x 54) and which count: H-H and metal-metal, in cells that are cells at all."""
    atom, kind, _ = kinds(crystals.atoms)
    lattice = crystals.lattice
    sound = torch.linalg.det(lattice.detach()).abs() > 1.0  # cubic Angstrom; a flatter cell has no distances to speak of
    safe = torch.where(sound[:, None, None], lattice, 10 * torch.eye(3, device=lattice.device, dtype=lattice.dtype))
    distances = first_neighbour_distances(safe, crystals.coords.flatten(1, 2), atom, kind, ranges, max_atoms)
    return distances, atom & sound[:, None] & (distances < FAR)


KEEP = ("last", "lowest_constraint")


class LowestConstraint(torch.nn.Module):
    """The translators' weights at the epoch whose constraint loss was lowest, as buffers (so checkpoints keep them).

    Updated without a host sync: the comparison and the copy are tensor
    operations, and the epoch is stored as a tensor. Epoch k's loss is measured
    on the outputs of the weights after k - 1 updates, so those are the weights
    kept for epoch k; the weights after the last update are never measured.
    """

    def __init__(self, nets: dict[str, torch.nn.Module]):
        super().__init__()
        self.names = list(nets)
        for name, net in nets.items():
            for key, value in net.state_dict().items():
                self.register_buffer(self._buffer(name, key), value.detach().clone())
        device = next(iter(nets.values())).parameters().__next__().device
        self.register_buffer("loss", torch.tensor(float("inf"), device=device))
        self.register_buffer("epoch", torch.tensor(0, device=device))

    @staticmethod
    def _buffer(name: str, key: str) -> str:
        return f"{name}__{key.replace('.', '__')}"

    @torch.no_grad()
    def offer(self, loss: torch.Tensor, epoch: int, nets: dict[str, torch.nn.Module]) -> None:
        """Keep `nets` if `loss`, measured on their outputs of epoch `epoch` (1-based), is the lowest so far."""
        better = loss.detach() < self.loss
        for name, net in nets.items():
            for key, value in net.state_dict().items():
                kept = getattr(self, self._buffer(name, key))
                kept.copy_(torch.where(better, value, kept))
        self.loss.copy_(torch.where(better, loss.detach(), self.loss))
        self.epoch.copy_(torch.where(better, torch.full_like(self.epoch, epoch), self.epoch))

    def weights(self, name: str, net: torch.nn.Module) -> dict[str, torch.Tensor]:
        return {key: getattr(self, self._buffer(name, key)).clone() for key in net.state_dict()}


def adam(params, s: GANSettings) -> torch.optim.Adam:
    return torch.optim.Adam(params, lr=s.lr, betas=(s.beta1, 0.999))


def _gan(logits: torch.Tensor, real: bool) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, 1.0 if real else 0.0))


def train_cross_domain(
    s: GANSettings, a: Crystals, b: Crystals, output, losses_output=None, stop_after: int | None = None, ranges: list[int] | None = None
) -> pd.DataFrame | None:
    """Train G_ab, G_ba, D_a, D_b on domains a and b; write the translators to `output`.

    `ranges`: the image cells the constraint searches, by default enough for
    every cell of a and b; step 2 passes those of the real binary crystals,
    since a step-1 translation may skew a cell and slow every epoch fivefold.
    """
    device = training.pick_device()
    torch.manual_seed(s.seed)
    rng = training.random_stream(s.seed, device)
    a, b = a.to(device), b.to(device)
    swap = s.step == 1  # step 1 moves the metal between blocks; step 2 keeps every block
    g_ab, g_ba = Translator(s.hidden, s.layers, swap).to(device), Translator(s.hidden, s.layers, swap).to(device)
    d_a, d_b = Discriminator(s.hidden, s.layers).to(device), Discriminator(s.hidden, s.layers).to(device)
    opt_g = adam([*g_ab.parameters(), *g_ba.parameters()], s)
    opt_d = adam([*d_a.parameters(), *d_b.parameters()], s)
    x_a, x_b = flatten(a), flatten(b)
    l1, l2, l3, l4, l5, l6 = s.lambdas
    # Image cells enough for the most skewed cell of the data, fixed for the run.
    ranges = ranges or image_ranges(torch.cat([a.lattice, b.lattice]))
    # Atom counts, like the cells, come from the data, so the step never reads one back from the GPU.
    max_atoms = max(int(kinds(crystals.atoms)[0].sum(1).max()) for crystals in (a, b))

    def translated_atoms(atoms: torch.Tensor) -> torch.Tensor:
        return atoms[:, [0, 2, 1]] if swap else atoms

    nets = {"g_ab": g_ab, "g_ba": g_ba}
    lowest = LowestConstraint(nets) if s.constraint != "none" and s.keep == "lowest_constraint" else None

    def step(epoch: int) -> dict[str, torch.Tensor]:
        rows_a = torch.randperm(len(a), generator=rng, device=device)[: s.batch]
        rows_b = torch.randperm(len(b), generator=rng, device=device)[: s.batch]
        xa, xb = x_a[rows_a], x_b[rows_b]
        atoms_a, atoms_b = a.atoms[rows_a], b.atoms[rows_b]
        atoms_ab, atoms_ba = translated_atoms(atoms_a), translated_atoms(atoms_b)
        fake_b = g_ab(xa, feature_mask(atoms_ab))
        fake_a = g_ba(xb, feature_mask(atoms_ba))
        rec_a = g_ba(fake_b, feature_mask(atoms_a))
        rec_b = g_ab(fake_a, feature_mask(atoms_b))
        for p in (*d_a.parameters(), *d_b.parameters()):
            p.requires_grad_(False)
        gan_b, gan_a = _gan(d_b(fake_b), True), _gan(d_a(fake_a), True)
        rec_loss_a, rec_loss_b = F.mse_loss(rec_a, xa), F.mse_loss(rec_b, xb)
        loss_g = l1 * gan_b + l2 * rec_loss_a + l3 * gan_a + l4 * rec_loss_b
        geo1 = geo2 = torch.zeros((), device=device)
        if s.constraint != "none":
            fakes = unflatten(torch.cat([fake_b, fake_a]), torch.cat([atoms_ab, atoms_ba]), [])
            distances, counted = penalised_distances(fakes, ranges, max_atoms)
            geo1, geo2 = (term.mean() for term in constraint_terms(distances, counted, s.d1, s.d2, s.constraint, s.margin))
            loss_g = loss_g + l5 * geo1 + l6 * geo2
            if lowest is not None:  # the loss was measured on these weights, before the update
                lowest.offer(geo1 + geo2, epoch + 1, nets)
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        for p in (*d_a.parameters(), *d_b.parameters()):
            p.requires_grad_(True)
        loss_d = (
            _gan(d_b(xb), True) + _gan(d_b(fake_b.detach()), False) + _gan(d_a(xa), True) + _gan(d_a(fake_a.detach()), False)
        )
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        return {"G": loss_g.detach(), "D": loss_d.detach(), "gan_b": gan_b.detach(), "gan_a": gan_a.detach(),
                "rec_a": rec_loss_a.detach(), "rec_b": rec_loss_b.detach(), "geo1": geo1.detach(), "geo2": geo2.detach()}  # fmt: skip

    def finish(losses: pd.DataFrame) -> None:
        if losses_output is not None:
            write_csv(losses, losses_output)
        state = {"settings": dataclasses.asdict(s), "g_ab": g_ab.state_dict(), "g_ba": g_ba.state_dict(), "epoch": s.epochs}
        if lowest is not None:
            state |= {name: lowest.weights(name, net) for name, net in nets.items()}
            state["epoch"] = int(lowest.epoch)
            log.info("step %d: keeping the translators of epoch %d, constraint loss %.4f (last epoch %.4f)", s.step, state["epoch"],
                     float(lowest.loss), float(losses["geo1"].iloc[-1] + losses["geo2"].iloc[-1]))  # fmt: skip
        with atomic_path(output) as tmp:
            torch.save(state, tmp)

    loop = training.LoopSettings(s.epochs, s.log_every, s.checkpoint_every, s.seed, label=f"step {s.step}", unit="epoch")
    stateful = {"g_ab": g_ab, "g_ba": g_ba, "d_a": d_a, "d_b": d_b, "opt_g": opt_g, "opt_d": opt_d, "rng": rng}
    if lowest is not None:
        stateful["lowest"] = lowest
    return training.run(loop, step, stateful, dataclasses.asdict(s), output, finish, stop_after)


def train_noise_gan(s: GANSettings, data: Crystals, output, losses_output=None, stop_after: int | None = None) -> pd.DataFrame | None:
    """The plain GAN of Table II: noise and an atom mask of the training data -> a crystal; no constraint."""
    device = training.pick_device()
    torch.manual_seed(s.seed)
    rng = training.random_stream(s.seed, device)
    data = data.to(device)
    generator, critic = NoiseGenerator(s.hidden, s.layers, s.latent).to(device), Discriminator(s.hidden, s.layers).to(device)
    opt_g, opt_d = adam(generator.parameters(), s), adam(critic.parameters(), s)
    x = flatten(data)

    def step(epoch: int) -> dict[str, torch.Tensor]:
        rows = torch.randperm(len(data), generator=rng, device=device)[: s.batch]
        z = torch.randn(len(rows), s.latent, generator=rng, device=device)
        atoms = data.atoms[rows]
        fake = generator(z, atoms, feature_mask(atoms))
        for p in critic.parameters():
            p.requires_grad_(False)
        loss_g = _gan(critic(fake), True)
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        for p in critic.parameters():
            p.requires_grad_(True)
        loss_d = _gan(critic(x[rows]), True) + _gan(critic(fake.detach()), False)
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        return {"G": loss_g.detach(), "D": loss_d.detach()}

    def finish(losses: pd.DataFrame) -> None:
        if losses_output is not None:
            write_csv(losses, losses_output)
        with atomic_path(output) as tmp:
            torch.save({"settings": dataclasses.asdict(s), "generator": generator.state_dict()}, tmp)

    loop = training.LoopSettings(s.epochs, s.log_every, s.checkpoint_every, s.seed, label="noise GAN", unit="epoch")
    stateful = {"generator": generator, "critic": critic, "opt_g": opt_g, "opt_d": opt_d, "rng": rng}
    return training.run(loop, step, stateful, dataclasses.asdict(s), output, finish, stop_after)


def load_translators(path: str | Path) -> tuple[Translator, Translator, GANSettings]:
    state = torch.load(path, map_location="cpu", weights_only=True)
    s = GANSettings(**state["settings"])
    nets = []
    for name in ("g_ab", "g_ba"):
        net = Translator(s.hidden, s.layers, swap=s.step == 1)
        net.load_state_dict(state[name])
        nets.append(net.eval())
    return nets[0], nets[1], s


def load_noise_generator(path: str | Path) -> tuple[NoiseGenerator, GANSettings]:
    state = torch.load(path, map_location="cpu", weights_only=True)
    s = GANSettings(**state["settings"])
    net = NoiseGenerator(s.hidden, s.layers, s.latent)
    net.load_state_dict(state["generator"])
    return net.eval(), s


@torch.no_grad()
def translate(net: Translator, crystals: Crystals, swap_atoms: bool) -> Crystals:
    atoms = crystals.atoms[:, [0, 2, 1]] if swap_atoms else crystals.atoms
    return unflatten(net(flatten(crystals), feature_mask(atoms)), atoms, crystals.names)


TRANSFERS = ("fill", "alternate")


def feature_transfer(g_ab: Translator, g_ba: Translator, a: Crystals, b: Crystals, mode: str) -> tuple[Crystals, Crystals]:
    """AHB_g and BHA_g (sec. III.B.2): each translated crystal's empty metal block takes the other side's.

    The i-th crystals of the two domains pair, as in the authors' code. 'fill'
    (the paper's procedure): crystal i of AH, translated to BH (H and B
    blocks), takes the whole A block of crystal i of BH translated to AH, and
    the other way round. AHB_g_i then has the H atoms of AH_i, as many A atoms
    as BH_i has metal atoms and as many B atoms as AH_i has; BHA_g_i has the H
    atoms of BH_i and the same metal counts. Since most pairs share a
    prototype, the two metal sublattices land on top of each other.

    'alternate' (not in the paper): a translated crystal keeps its own metal
    sites and every second one of them takes the other metal, placed where
    the other generator put its metal atom of that row (or on the site itself
    where it put none): a substitutional ternary with the metal count of its
    own side. A cell of one metal atom keeps 'fill', or it would stay binary.
    """
    if len(a) != len(b):
        raise ValueError(f"feature transfer pairs crystal i of each domain: {len(a)} and {len(b)} crystals")
    if mode not in TRANSFERS:
        raise ValueError(f"unknown feature transfer {mode!r}: one of {TRANSFERS}")
    a_to_b = translate(g_ab, a, swap_atoms=True)  # blocks H, -, B
    b_to_a = translate(g_ba, b, swap_atoms=True)  # blocks H, A, -

    def transfer(base: Crystals, donor: Crystals, own: int, empty: int) -> Crystals:
        coords, atoms = base.coords.clone(), base.atoms.clone()
        coords[:, empty], atoms[:, empty] = donor.coords[:, empty], donor.atoms[:, empty]
        if mode == "alternate":
            # Metal A always ends on the odd rows and metal B on the even ones, in both directions:
            # otherwise the atom masks alone would tell the two domains apart.
            moved_parity = 1 if own == 2 else 0
            rows = torch.arange(atoms.shape[-1], device=atoms.device) % 2 == moved_parity
            several = (base.atoms[:, own].sum(1) > 1)[:, None]  # a single metal atom cannot be split
            moved = base.atoms[:, own] & rows & several
            atoms[:, own] = base.atoms[:, own] & ~moved
            atoms[:, empty] = torch.where(several, moved, donor.atoms[:, empty])
            # where the other generator wrote no atom in that row, the other metal takes the site itself
            placed = torch.where(donor.atoms[:, empty, :, None], donor.coords[:, empty], base.coords[:, own])
            coords[:, empty] = torch.where(several[..., None], placed, coords[:, empty])
        names = [f"{x}+{y}" for x, y in zip(base.names, donor.names, strict=True)]
        return Crystals(base.lattice.clone(), coords, atoms, names)

    return transfer(a_to_b, b_to_a, own=2, empty=1), transfer(b_to_a, a_to_b, own=1, empty=2)
